//! `pgdiag cache-advice`: a workload's statements (`pg_stat_statements`, a log, or query files
//! with expected call rates), pgdiag's suggestions on them, and the facts a cache depends on,
//! judged into one verdict per statement. Changes nothing: the suggestions are proved in
//! rolled-back transactions, as `suggest` proves them; `--verify` benchmarks the cached ones
//! (reads only, unless `--allow-writes`).

use std::io::Write;

use anyhow::{Context, bail};

use crate::bench::{self, Stop, verify::VerifyOptions};
use crate::cache::RedisUrl;
use crate::cache::advice::Verdict;
use crate::cache::advising;
use crate::cache::verification::Verification;
use crate::cli::{CacheAdviceArgs, CacheAdviceFormat, VerifyChoice, WorkloadArgs};
use crate::embedded::EmbeddedRedis;
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
    let output = args
        .output
        .as_deref()
        .map(super::ReportFile::create)
        .transpose()?;
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
        verify: match args.prove {
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
    let mut advice = advising::advise_workload(runner.client(), &suggest_report, &advice_settings)
        .await
        .context("reading the tables' activity")?;
    let outcome = if args.verify {
        verify(args, &settings, &mut advice, err).await?
    } else {
        Outcome::Ok
    };
    match output {
        Some(mut file) => {
            emit(&mut file, &advice, args.format, None)?;
            file.finish()?;
        }
        None => emit(out, &advice, args.format, width)?,
    }
    Ok(outcome)
}

/// `--verify`: benchmark every statement advised to be cached (`bench::verify`), one after
/// another, on Redis from --redis-url / REDIS_URL or a throwaway one. Failed (exit 2) when a
/// measurement could not be taken; a disagreement is reported, not failed.
async fn verify(
    args: &CacheAdviceArgs,
    settings: &pg::ConnectionSettings,
    advice: &mut advising::CacheAdviceReport,
    err: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let cached = advice
        .statements
        .iter()
        .filter(|s| matches!(s.advice, Verdict::Cache(_)))
        .count();
    if cached == 0 {
        writeln!(
            err,
            "pgdiag: --verify: no statement is advised to be cached: nothing to benchmark"
        )?;
        return Ok(Outcome::Ok);
    }
    let explicit = args.redis_url.clone().or_else(|| {
        std::env::var("REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(RedisUrl::from)
    });
    // A throwaway Redis lives as long as this value: until every statement is measured.
    let (redis_url, _embedded) = match explicit {
        Some(url) => (url, None),
        None => {
            let redis = EmbeddedRedis::builder().start().context(
                "--verify: no --redis-url or REDIS_URL, and a throwaway Redis could not start",
            )?;
            (redis.url().into(), Some(redis))
        }
    };
    let mut options = VerifyOptions::new(settings.clone(), redis_url);
    options.duration = args.verify_duration.max(std::time::Duration::from_secs(1));
    options.read_rate = args.verify_rate;
    options.allow_writes = args.allow_writes;
    let (raise, stop) = Stop::new();
    let watcher = tokio::spawn(async move {
        interrupted().await;
        let _ = raise.send(true);
    });
    let mut failed = 0;
    for statement in &mut advice.statements {
        if !matches!(statement.advice, Verdict::Cache(_)) {
            continue;
        }
        if super::progress_visible() {
            writeln!(
                err,
                "pgdiag: verifying #{} ({} s of load)…",
                statement.statement,
                options.duration.as_secs_f64()
            )?;
        }
        let verification = if stop.is_stopped() {
            Verification::NotMeasured {
                reason: "interrupted before its benchmark".into(),
            }
        } else {
            bench::verify::verify(statement, &options, stop.clone()).await
        };
        if let Verification::NotMeasured { reason } = &verification {
            failed += 1;
            writeln!(
                err,
                "pgdiag: #{} not verified: {reason}",
                statement.statement
            )?;
        }
        statement.verification = Some(verification);
    }
    watcher.abort();
    Ok(if failed > 0 {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
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
