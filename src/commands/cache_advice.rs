//! `pgdiag cache-advice`: a workload's statements (`pg_stat_statements`, a log, or query files
//! with expected call rates), pgdiag's suggestions on them, and the facts a cache depends on,
//! judged into one verdict per statement. Changes nothing: the suggestions are
//! proved in rolled-back transactions, as `suggest` proves them.

use std::io::Write;

use anyhow::{Context, bail};

use crate::cache::advising;
use crate::cli::{CacheAdviceArgs, CacheAdviceFormat, VerifyChoice, WorkloadArgs};
use crate::input;
use crate::pg::{self, Runner};
use crate::report;
use crate::suggest::{self, SuggestOptions, VerifyRequest};

use super::{Outcome, interrupted};

pub async fn run(
    args: &CacheAdviceArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    width: Option<u16>,
) -> anyhow::Result<Outcome> {
    if !(0.0..=100.0).contains(&args.min_hit_rate) {
        bail!(
            "--min-hit-rate is a percentage between 0 and 100, got {}",
            args.min_hit_rate
        );
    }
    // Query files: every statement with its expected rate, or an error naming where, before
    // connecting.
    let mut rated = Vec::new();
    if !args.files.is_empty() {
        let sources = input::read(&args.files, None)?;
        for statement in input::statements(&sources, None)? {
            let calls_per_hour = input::calls_per_hour(&statement, args.calls)?;
            rated.push((statement, calls_per_hour));
        }
    }
    let settings = super::connection_settings(&args.connection).await?;
    let mut runner = tokio::select! {
        r = Runner::connect(&settings) => r?,
        () = interrupted() => return Err(pg::Error::Interrupted.into()),
    };
    let server = runner.server_info(settings.describe());
    let from_files = !args.files.is_empty();
    let taken = if from_files {
        suggest::workload::from_files(runner.client(), rated).await?
    } else {
        let workload_args = WorkloadArgs {
            from_pg_stat_statements: args.from_pg_stat_statements,
            from_log: args.from_log.clone(),
            top: args.top,
        };
        let workload = super::read_workload(&workload_args, &settings, &runner).await?;
        suggest::workload::inputs(runner.client(), &workload, args.top as usize, true).await?
    };
    if taken.inputs.is_empty() {
        bail!(
            "the workload holds no statement to advise on ({} left out: utility statements, hidden texts)",
            taken.section.skipped.len()
        );
    }
    let options = SuggestOptions {
        verify: match args.verify {
            None => VerifyRequest::Auto,
            Some(VerifyChoice::Hypo) => VerifyRequest::Hypo,
            Some(VerifyChoice::Build) => VerifyRequest::Build,
            Some(VerifyChoice::None) => VerifyRequest::None,
        },
        timeout: args.timeout,
        basis: taken.basis,
        ..SuggestOptions::default()
    };
    let mut suggest_report =
        super::suggest_with_progress(&mut runner, &settings, server, &taken.inputs, &options, err)
            .await?;
    suggest_report.workload = Some(taken.section);
    if from_files {
        suggest::workload::measured(&mut suggest_report);
    }
    suggest::workload::conclude(&mut suggest_report);
    for statement in &suggest_report.statements {
        if let Some(e) = &statement.error {
            writeln!(
                err,
                "pgdiag: warning: {}: cannot be planned from its normalized text: {}",
                statement.source, e.message
            )?;
        }
    }
    let advice_settings =
        advising::settings(args.max_staleness, args.fast_enough, args.min_hit_rate);
    let advice = advising::advise_workload(runner.client(), &suggest_report, &advice_settings)
        .await
        .context("reading the tables' activity")?;
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let mut file = std::io::BufWriter::new(file);
            // A file is no terminal: the text at the default width.
            emit(&mut file, &advice, args.format, None)?;
            file.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => emit(out, &advice, args.format, width)?,
    }
    Ok(Outcome::Ok)
}

fn emit(
    out: &mut impl Write,
    advice: &advising::CacheAdviceReport,
    format: CacheAdviceFormat,
    width: Option<u16>,
) -> anyhow::Result<()> {
    match format {
        CacheAdviceFormat::Text => report::cache_advice::render_text(out, advice, width)?,
        CacheAdviceFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, advice)?;
            writeln!(out)?;
        }
        CacheAdviceFormat::Html => report::html::cache_advice::render_cache_advice(out, advice)?,
    }
    Ok(())
}
