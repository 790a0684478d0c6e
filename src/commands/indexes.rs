//! `pgdiag indexes`: read and judge every index ([`crate::suggest::hygiene`]), render the
//! findings, and with `--drop` drop them after the user confirmed (or `--yes`).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;

use crate::advise::hygiene::{HygieneFinding, HygieneKind};
use crate::cli::{IndexesArgs, OutputFormat};
use crate::pg::{self, ConnectionSettings, ProcessEnv, Runner};
use crate::report::indexes::{render_json, render_text};
use crate::suggest::hygiene::{DropStatus, IndexesReport, drop_findings, examine};
use crate::units::fmt_bytes;

use super::{Outcome, interrupted, stop_signal};

pub async fn run(
    args: &IndexesArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    width: Option<u16>,
) -> anyhow::Result<Outcome> {
    if args.format == OutputFormat::Html {
        return Err(super::html_unavailable("indexes"));
    }
    // Refuse before any work: dropping needs a yes from someone.
    if args.drop && !args.yes && !std::io::stdin().is_terminal() {
        bail!(
            "--drop asks for confirmation on a terminal, and standard input is not one: review the findings without --drop, then run again with --drop --yes"
        );
    }
    let kinds: Vec<HygieneKind> = if args.only.is_empty() {
        HygieneKind::ALL.to_vec()
    } else {
        HygieneKind::ALL
            .into_iter()
            .filter(|k| args.only.contains(k))
            .collect()
    };
    let settings = ConnectionSettings::resolve(args.connection.dsn.as_deref(), &ProcessEnv)?;
    let runner = tokio::select! {
        r = Runner::connect(&settings) => r?,
        () = interrupted() => return Err(pg::Error::Interrupted.into()),
    };
    let server = runner.server_info(settings.describe());
    let advice = tokio::select! {
        a = examine(runner.client(), runner.server_version_num()) => a?,
        () = interrupted() => return Err(pg::Error::Interrupted.into()),
    };
    let mut report = IndexesReport::new(server, advice, &kinds);

    if args.drop {
        report.drops = Some(if report.findings.is_empty() {
            writeln!(err, "pgdiag: nothing to drop")?;
            Vec::new()
        } else {
            drop_confirmed(&runner, &report, args, err).await?
        });
    }

    match args.format {
        OutputFormat::Text => render_text(out, &report, width)?,
        OutputFormat::Json => render_json(out, &report)?,
        OutputFormat::Html => return Err(super::html_unavailable("indexes")),
    }
    let failed = report
        .drops
        .iter()
        .flatten()
        .any(|d| d.status == DropStatus::Failed);
    Ok(if failed || stop_signal().is_some() {
        Outcome::Failed
    } else if args.fail_on_findings && !report.findings.is_empty() && report.drops.is_none() {
        Outcome::GateFailed
    } else {
        Outcome::Ok
    })
}

/// Show the drops, ask (unless `--yes`), and drop.
async fn drop_confirmed(
    runner: &Runner,
    report: &IndexesReport,
    args: &IndexesArgs,
    err: &mut impl Write,
) -> anyhow::Result<Vec<crate::suggest::hygiene::DropResult>> {
    let findings: Vec<&HygieneFinding> = report.findings.iter().collect();
    writeln!(err, "Plan of changes:")?;
    for f in &findings {
        writeln!(
            err,
            "  {} ({}, {}): {}",
            f.index,
            f.kind,
            fmt_bytes(f.size_bytes),
            f.drop_sql
        )?;
    }
    if !args.yes {
        write!(
            err,
            "Drop these {} index(es), {}? [y/N] ",
            findings.len(),
            fmt_bytes(report.reclaimable_bytes)
        )?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            writeln!(err, "pgdiag: not confirmed: nothing dropped")?;
            return Ok(findings
                .iter()
                .map(|f| crate::suggest::hygiene::DropResult {
                    kind: f.kind,
                    schema: f.schema.clone(),
                    index: f.index.clone(),
                    status: DropStatus::Skipped,
                    size_bytes: f.size_bytes,
                    message: Some("not confirmed".into()),
                })
                .collect());
        }
    }
    let total = findings.len();
    let mut on_drop = |position: usize, f: &HygieneFinding| {
        let _ = writeln!(
            err,
            "pgdiag: [{}/{total}] dropping {}.{}",
            position + 1,
            f.schema,
            f.index
        );
    };
    let stop = || stop_signal().is_some();
    Ok(drop_findings(
        runner.client(),
        runner.server_version_num(),
        &findings,
        args.lock_timeout,
        &stop,
        &mut on_drop,
    )
    .await?)
}
