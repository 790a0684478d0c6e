//! `pgdiag check`: re-plan every query, compare with the committed baseline, and report in the
//! format the CI wants. Exit 0 no regression, 1 regressions, 2 the check could not be done.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;

use crate::cli::{CheckArgs, CheckFormat};
use crate::gate::{
    RecordOptions, Recorded, compare_with, describe, load_baseline, read_query_files, record_runs,
    write_baseline,
};

use crate::report::{self, TextStyle};

use super::{Outcome, interrupted, record_progress};

pub async fn run(
    args: &CheckArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    style: TextStyle,
) -> anyhow::Result<Outcome> {
    let Some(path) = &args.output_file else {
        return run_to(args, out, err, style).await;
    };
    let mut file = super::ReportFile::create(path)?;
    let outcome = run_to(args, &mut file, err, style.in_a_file()).await;
    file.finish()?;
    outcome
}

async fn run_to(
    args: &CheckArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    style: TextStyle,
) -> anyhow::Result<Outcome> {
    let config = args.diagnose.resolve_all()?;
    let baseline = match load_baseline(&args.baseline) {
        Ok(b) => Some(b),
        // `check --update` with no baseline yet creates it.
        Err(_) if args.update && !args.baseline.exists() => None,
        Err(e) => return Err(e.into()),
    };
    let paths: Vec<PathBuf> = if !args.paths.is_empty() {
        args.paths.clone()
    } else {
        let Some(baseline) = &baseline else {
            return Err(anyhow!("give the .sql files or directories to check"));
        };
        // The files the baseline knows; those deleted since show up as missing queries.
        let files: BTreeSet<&str> = baseline.queries.iter().map(|q| q.file.as_str()).collect();
        files
            .into_iter()
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .collect()
    };
    let files = if paths.is_empty() {
        Vec::new()
    } else {
        read_query_files(&paths)?
    };
    // Compare like with like: analyse when the baseline was recorded with --analyze.
    let baseline_runs = baseline.as_ref().and_then(|b| b.analyze).map(|a| a.runs);
    let analyze_runs = match (args.runs, baseline_runs) {
        (Some(_), None) => {
            return Err(anyhow!(
                "--runs needs a baseline recorded with --analyze ({} holds estimated plans only, and \
                 check compares like with like); record one with `pgdiag baseline --analyze`",
                args.baseline.display()
            ));
        }
        (runs, baseline_runs) => runs.or(baseline_runs),
    };
    let settings = super::connection_settings(&args.connection).await?;
    let options = RecordOptions {
        analyze_runs,
        jobs: args.run.jobs,
        timeout: args.run.timeout,
        diagnose: config.diagnose,
        finding_margin: config.check.finding_margin,
        previous_sizes: baseline
            .as_ref()
            .map(|b| b.relations.clone())
            .unwrap_or_default(),
    };
    let progress = record_progress(&files, &options);
    let recorded = record_runs(&settings, &files, &options, interrupted, &|| {
        progress.inc(1)
    })
    .await;
    progress.finish_and_clear();
    let Recorded {
        baseline: current,
        relation_rows,
        runs,
        plans,
    } = recorded?;

    if args.update {
        write_baseline(&args.baseline, &current)?;
        if let Some(old) = &baseline {
            let report = compare_with(old, &current, &relation_rows, &runs, &config.check);
            let s = &report.summary;
            writeln!(
                err,
                "accepted: {} regressed, {} improved, {} new, {} removed",
                s.regressed, s.improved, s.new, s.missing
            )?;
        }
        writeln!(out, "{}", describe(&current, &args.baseline))?;
        return Ok(Outcome::Ok);
    }
    let baseline = baseline.expect("checked above: without --update a baseline is loaded");
    let mut report = compare_with(&baseline, &current, &relation_rows, &runs, &config.check);
    report.keep_current_plans(&plans);
    let format = args.format.unwrap_or_else(|| {
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            CheckFormat::Github
        } else {
            CheckFormat::Text
        }
    });
    match format {
        CheckFormat::Text => {
            report::write_target_line(out, &settings.describe(), &current.server.version)?;
            report::check_text::render(out, &report, style)?
        }
        CheckFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
        CheckFormat::Junit => report::junit::render(out, &report)?,
        CheckFormat::Github => report::github::render(out, &report)?,
        CheckFormat::Markdown => report::markdown::render_check(out, &report)?,
        CheckFormat::Html => report::html::render_check(out, &report)?,
    }
    super::write_step_summary(err, |w| report::markdown::render_check(w, &report))?;
    Ok(if report.has_regressions() {
        Outcome::GateFailed
    } else {
        Outcome::Ok
    })
}
