//! `pgdiag suggest`: read the statements, run the suggest pipeline ([`crate::suggest`]), render the
//! report, write the DDL (`--dry-run`, `--output`), and with `--apply` create what was kept after
//! the user confirmed, then show each statement's plan before and after.

use std::io::{IsTerminal, Write};

use anyhow::{Context, bail};

use crate::cli::{SuggestArgs, SuggestFormat, VerifyChoice};
use crate::input;
use crate::pg::{self, Runner};
use crate::report::suggest::{ScriptOptions, render_ddl, render_migration, render_text};
use crate::suggest::report::{Basis, SuggestReport};
use crate::suggest::{self, StatementInput, SuggestOptions, VerifyRequest};

use super::{Outcome, interrupted};

mod apply;

pub async fn run(
    args: &SuggestArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    width: Option<u16>,
) -> anyhow::Result<Outcome> {
    if args.format == SuggestFormat::Html && args.apply {
        bail!(
            "--format html shows what suggest proposes: it does not go with --apply (use text or json)"
        );
    }
    let config = args.diagnose.resolve_all()?;
    // Refuse before any work: applying needs a yes from someone.
    if args.apply && !args.yes && !std::io::stdin().is_terminal() {
        bail!(
            "--apply asks for confirmation on a terminal, and standard input is not one: review the plan with --dry-run, then run again with --apply --yes"
        );
    }
    let mut inputs = if args.workload.given() {
        Vec::new()
    } else {
        read_inputs(args)?
    };
    let mut options = SuggestOptions {
        verify: match args.verify {
            None => VerifyRequest::Auto,
            Some(VerifyChoice::Hypo) => VerifyRequest::Hypo,
            Some(VerifyChoice::Build) => VerifyRequest::Build,
            Some(VerifyChoice::None) => VerifyRequest::None,
        },
        min_improvement_pct: args
            .min_improvement
            .unwrap_or(config.suggest.min_improvement),
        size_weight: args.size_weight.unwrap_or(config.suggest.size_weight),
        timeout: args.timeout,
        runs: args.runs as usize,
        lock_timeout: args.lock_timeout,
        diagnose: config.diagnose.clone(),
        build_views: false,
        basis: Basis::Once,
    };
    if !(0.0..=100.0).contains(&options.min_improvement_pct) {
        bail!(
            "--min-improvement must be between 0 and 100 (percent), got {}",
            options.min_improvement_pct
        );
    }

    if !(options.size_weight.is_finite() && options.size_weight >= 0.0) {
        bail!(
            "--size-weight must be a number of 0 or more (0 leaves size out), got {}",
            options.size_weight
        );
    }

    let settings = super::connection_settings(&args.connection).await?;
    let mut runner = tokio::select! {
        r = Runner::connect(&settings) => r?,
        () = interrupted() => return Err(pg::Error::Interrupted.into()),
    };
    let server = runner.server_info(settings.describe());
    // Workload mode: the statements the database ran, each weighed by how often it runs.
    let mut workload_section = None;
    if args.workload.given() {
        let workload = super::read_workload(&args.workload, &settings, &runner).await?;
        let taken =
            suggest::workload::inputs(runner.client(), &workload, args.workload.top as usize, true)
                .await?;
        if taken.inputs.is_empty() {
            bail!(
                "the workload holds no statement to advise on ({} statement{}, {} left out: utility statements, hidden texts)",
                workload.statements.len(),
                if workload.statements.len() == 1 {
                    ""
                } else {
                    "s"
                },
                taken.section.skipped.len()
            );
        }
        inputs = taken.inputs;
        options.basis = taken.basis;
        workload_section = Some(taken.section);
    }

    let mut report =
        super::suggest_with_progress(&mut runner, &settings, server, &inputs, &options, err)
            .await?;
    if workload_section.is_some() {
        report.workload = workload_section;
        suggest::workload::conclude(&mut report);
        // What to drop as well as what to create.
        report.drops = Some(
            suggest::hygiene::examine(runner.client(), runner.server_version_num())
                .await
                .context("looking for indexes that can go")?,
        );
    }

    let mut failed = false;
    let workload_mode = report.workload.is_some();
    for statement in &report.statements {
        if let Some(e) = &statement.error {
            // A workload's statement the server cannot plan from its normalized text is expected
            // now and then (`$8 + $9`: two parameters of unknown type); the others go on.
            if workload_mode {
                writeln!(
                    err,
                    "pgdiag: warning: {}: cannot be planned from its normalized text: {}",
                    statement.source, e.message
                )?;
            } else {
                failed = true;
                writeln!(
                    err,
                    "pgdiag: {}:{}: {}",
                    statement.source, statement.line, e.message
                )?;
            }
        }
    }
    if workload_mode && report.statements.iter().all(|s| s.error.is_some()) {
        failed = true;
    }

    let script = ScriptOptions {
        with_matviews: args.with_matviews,
    };
    if let Some(path) = &args.output {
        let mut file = Vec::new();
        render_migration(&mut file, &report, script)?;
        std::fs::write(path, file).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.dry_run {
        render_ddl(out, &report, script)?;
        return Ok(outcome(&report, args, failed));
    }

    if args.apply {
        if args.format == SuggestFormat::Text {
            crate::report::write_target_line(out, &report.server.target, &report.server.version)?;
            render_text(out, &report, width)?;
            out.flush()?;
        }
        // A statement that could not be explained blocks nothing: an index can only change the
        // plans of reads, the others were judged on their own, and the report says which
        // statement nothing was checked against (exit 2 still says the input was not all read).
        let not_explained: Vec<String> = report
            .statements
            .iter()
            .filter(|s| s.error.is_some())
            .map(|s| format!("#{} ({}:{})", s.index, s.source, s.line))
            .collect();
        if !not_explained.is_empty() {
            writeln!(
                err,
                "pgdiag: applying what was kept for the other statements; not explained, so not taken into account: {}",
                not_explained.join(", ")
            )?;
        }
        let applied = apply::apply(&runner, &report, &inputs, args, err).await?;
        let apply_failed = applied.section.error.is_some();
        failed |= apply_failed;
        report.apply = Some(applied.section);
        if !apply_failed {
            // Every statement again; an index created now that makes one slower is dropped again.
            suggest::after_apply(
                &runner,
                &mut report,
                &inputs,
                &applied.before,
                args.runs.max(1) as usize,
                &apply::options(args),
                args.timeout,
            )
            .await?;
        }
        if let Some(section) = &mut report.apply {
            section.conclude(&report.statements);
        }
        match args.format {
            SuggestFormat::Text => {
                if let Some(section) = &report.apply {
                    writeln!(out)?;
                    crate::report::suggest::render_apply(out, section)?;
                }
            }
            SuggestFormat::Json => render_json(out, &report)?,
            SuggestFormat::Markdown => crate::report::markdown::render_suggest(out, &report)?,
            SuggestFormat::Html => unreachable!("refused before any work"),
        }
        super::write_step_summary(err, |w| crate::report::markdown::render_suggest(w, &report))?;
        return Ok(outcome(&report, args, failed));
    }

    match args.format {
        SuggestFormat::Text => {
            crate::report::write_target_line(out, &report.server.target, &report.server.version)?;
            render_text(out, &report, width)?
        }
        SuggestFormat::Json => render_json(out, &report)?,
        SuggestFormat::Markdown => crate::report::markdown::render_suggest(out, &report)?,
        SuggestFormat::Html => crate::report::html::render_suggest(out, &report)?,
    }
    super::write_step_summary(err, |w| crate::report::markdown::render_suggest(w, &report))?;
    Ok(outcome(&report, args, failed))
}

fn render_json(out: &mut impl Write, report: &SuggestReport) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    Ok(())
}

fn outcome(report: &SuggestReport, args: &SuggestArgs, failed: bool) -> Outcome {
    if failed {
        Outcome::Failed
    } else if args.fail_on_suggestions && report.actionable().next().is_some() {
        Outcome::GateFailed
    } else {
        Outcome::Ok
    }
}

/// Every statement of every input, with its `$n` values: a `-- pgdiag: params` comment first,
/// else --param / --params-json, else none (generic plan).
fn read_inputs(args: &SuggestArgs) -> anyhow::Result<Vec<StatementInput>> {
    let cli_params = input::cli_params(&args.param, args.params_json.as_deref())?;
    let sources = input::read(&args.files, args.command.as_deref())?;
    let inputs: Vec<StatementInput> = input::statements(&sources, cli_params.as_deref())?
        .into_iter()
        .map(|s| StatementInput {
            source: s.origin.to_string(),
            statement: s.statement,
            params: s.params,
            weight: 1.0,
        })
        .collect();
    if inputs.is_empty() {
        bail!("no SQL statement to advise on");
    }
    Ok(inputs)
}
