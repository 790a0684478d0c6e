//! `pgdiag bench`: resolve the arguments (PostgreSQL from --dsn / DATABASE_URL / PG*, Redis from
//! --redis-url / REDIS_URL / a throwaway server), run the benchmark and render the report.

use std::io::Write;

use anyhow::Context;

use crate::bench::{self, BenchConfig, Invalidation, Scenario, Stop, report};
use crate::cache::RedisUrl;
use crate::cli::{BenchArgs, BenchFormat, BenchScenario, InvalidateMode};
use crate::embedded::EmbeddedRedis;
use crate::input;

use super::{Outcome, interrupted};

/// `width`: the terminal's (`None` when unknown: the text fits the default width).
pub async fn run(
    args: &BenchArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    width: Option<u16>,
) -> anyhow::Result<Outcome> {
    let query = input::read_arg(&args.query)?;
    // Created before the run, so a path that cannot be written fails at once, not after it.
    let output = args
        .output_file
        .as_deref()
        .map(super::ReportFile::create)
        .transpose()?;
    let connection = super::connection_settings(&args.connection).await?;
    let explicit_redis = args.redis_url.clone().or_else(|| {
        std::env::var("REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(RedisUrl::from)
    });
    // A throwaway Redis lives as long as this value: until the report is written.
    let (redis_url, _embedded) = match explicit_redis {
        Some(url) => (url, None),
        None => {
            let redis = EmbeddedRedis::builder()
                .start()
                .context("no --redis-url or REDIS_URL, and a throwaway Redis could not start")?;
            (redis.url().into(), Some(redis))
        }
    };
    let mut config = BenchConfig::new(query, connection, redis_url);
    config.scenario = match args.scenario {
        BenchScenario::Steady => Scenario::Steady,
        BenchScenario::Herd => Scenario::Herd,
        BenchScenario::Writes => Scenario::Writes,
    };
    if !args.strategies.is_empty() {
        config.strategies = bench::strategies::parse_list(&args.strategies)?;
    }
    config.clients = args.clients.max(1);
    config.duration = args.duration;
    config.warmup = args.warmup;
    config.keys = args.keys;
    config.keys_from = args.keys_from.clone();
    config.zipf = args.zipf;
    config.ttl = args.ttl;
    config.soft_ttl = args.soft_ttl;
    config.pool = args.pool;
    config.seed = args.seed;
    config.expiries = args.expiries;
    config.hot_keys = args.hot_keys;
    config.write = args.write.clone();
    config.write_rate = args.write_rate;
    config.invalidation = match (
        args.invalidate,
        &args.invalidate_table,
        &args.invalidate_key_column,
    ) {
        (InvalidateMode::Notify, Some(table), Some(column)) => Invalidation::Notify {
            table: table.clone(),
            key_column: column.clone(),
        },
        _ => Invalidation::None,
    };
    config.progress = super::progress_visible();

    let (raise, stop) = Stop::new();
    // Whatever signal `interrupted` resolves on, the run stops the same way: the requests in
    // flight finish, the trigger and the Redis keys are removed, and what ran is reported.
    let watcher = tokio::spawn(async move {
        interrupted().await;
        let _ = raise.send(true);
    });
    let result = bench::run_partial(&config, stop).await;
    watcher.abort();
    let report = result?;
    match output {
        Some(mut file) => {
            render(&mut file, &report, args.format, None)?;
            file.finish()?;
        }
        None => render(out, &report, args.format, width)?,
    }
    if let Some(path) = &args.metrics_out {
        let mut file = super::ReportFile::create(path)?;
        report::render_prometheus(&mut file, &report)?;
        file.finish()?;
    }
    if report.interrupted {
        writeln!(
            err,
            "pgdiag: interrupted; the report covers what ran before the stop; the invalidation trigger and the run's Redis keys were removed"
        )?;
    }
    let redis_errors = report.redis_errors();
    if redis_errors > 0 {
        writeln!(
            err,
            "pgdiag: Redis failed during the run ({redis_errors} errors): the affected strategies answered from the database; their figures are not a healthy cache's"
        )?;
    }
    // 0: a complete report; 2: printed, but interrupted or measured through Redis faults.
    Ok(if report.complete {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

/// The report in `format`; text in `width` columns (the default width when unknown).
fn render(
    out: &mut impl Write,
    report: &bench::BenchReport,
    format: BenchFormat,
    width: Option<u16>,
) -> std::io::Result<()> {
    match format {
        BenchFormat::Text => {
            let columns = crate::report::text::usable_width(width)
                .unwrap_or(crate::report::text::DEFAULT_WIDTH);
            report::render_text_in(out, report, usize::from(columns))
        }
        BenchFormat::Json => report::render_json(out, report),
        BenchFormat::Html => crate::report::html::render_bench(out, report),
    }
}
