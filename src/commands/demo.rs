//! `pgdiag demo`: start a throwaway PostgreSQL and Redis (or use --dsn / --redis-url), load the
//! seed with a progress bar, run the steps of `crate::demo` and print each as it finishes (or one
//! JSON document at the end), then remove the servers, or leave them running with --keep.
//!
//! Ctrl-C stops the current step (a running benchmark removes its Redis keys first) and the
//! servers are removed on the way out; their reapers cover a harder death.

use std::future::Future;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::bench::Stop;
use crate::cli::{DemoArgs, DemoFormat};
use crate::demo::{self, BeforeAfter, DemoConfig, DemoReport, SCHEMA_VERSION, Servers, render};
use crate::diagnose::DiagnoseConfig;
use crate::embedded::{EmbeddedPostgres, EmbeddedRedis};
use crate::pg::{ConnectionSettings, ProcessEnv, Runner};
use crate::seed;

use super::{Outcome, interrupted};

/// The database the embedded cluster loads the seed into.
const DEMO_DATABASE: &str = "pgdiag_demo";

/// The queries step 2 explains: the slow page and the listing with the heavy aggregate.
const DIAGNOSED: [&str; 2] = ["product_page", "category_listing"];

/// `width`: the terminal's (`None` when unknown: the text fits the default width).
pub async fn run(
    args: &DemoArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    width: Option<u16>,
) -> anyhow::Result<Outcome> {
    let width =
        crate::report::text::usable_width(width).unwrap_or(crate::report::text::DEFAULT_WIDTH);
    let (raise, stop) = Stop::new();
    let watcher = tokio::spawn(async move {
        interrupted().await;
        let _ = raise.send(true);
    });
    let result = match &args.output_file {
        None => run_until_stopped(args, out, err, &stop, width).await,
        Some(path) => {
            let mut file = super::ReportFile::create(path)?;
            let result = run_until_stopped(
                args,
                &mut file,
                err,
                &stop,
                crate::report::text::DEFAULT_WIDTH,
            )
            .await;
            file.finish()?;
            result
        }
    };
    watcher.abort();
    if stop.is_stopped() {
        writeln!(
            err,
            "pgdiag: interrupted; the demo's servers were stopped and removed"
        )?;
        return Ok(Outcome::Failed);
    }
    result
}

async fn run_until_stopped(
    args: &DemoArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    stop: &Stop,
    width: u16,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let text = args.format == DemoFormat::Text;
    // The page is written at the end: meanwhile the bars say what the demo is doing.
    let bars = args.format != DemoFormat::Json && super::progress_visible();
    let mut config = DemoConfig::for_scale(args.scale);
    if let Some(duration) = args.bench_duration {
        config.bench_duration = duration;
    }
    config.progress = bars;

    let starting = spinner(bars, "starting PostgreSQL and Redis");
    let servers = cancellable(stop, DemoServers::start(args)).await?;
    starting.finish_and_clear();
    let settings = ConnectionSettings::resolve(Some(&servers.postgres_url), &ProcessEnv)?;
    // A --dsn may carry a password: show where we are connected, never the DSN itself.
    let (postgres_shown, dsn_for_commands) = if servers.postgres.is_some() {
        (servers.postgres_url.clone(), servers.postgres_url.clone())
    } else {
        (settings.describe(), "\"$DATABASE_URL\"".to_string())
    };
    let redis_shown = crate::cache::redact_url(&servers.redis_url);
    if text {
        writeln!(
            out,
            "pgdiag demo: the seed story of \"The caching layer that made everything worse\", measured on this machine"
        )?;
        writeln!(
            out,
            "PostgreSQL {} ({}), Redis {} ({})",
            postgres_shown,
            servers.postgres_kind(),
            redis_shown,
            servers.redis_kind()
        )?;
    }

    // 1. The seed.
    let client = settings.connect().await?;
    if servers.postgres.is_none() {
        refuse_existing_tables(&client).await?;
    }
    let bar = if bars {
        ProgressBar::new(seed::steps().len() as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("loading the seed {bar:30} {pos}/{len} {msg} ({elapsed})")
    {
        bar.set_style(style);
    }
    let summary = cancellable(stop, async {
        seed::load(&client, args.scale, |p| {
            bar.set_length(p.total as u64);
            bar.set_position(p.completed as u64);
            bar.set_message(p.step);
        })
        .await
        .context("loading the seed")
    })
    .await?;
    bar.finish_and_clear();
    if text {
        render::heading(
            out,
            1,
            "The seed: a product catalogue, indexed by primary keys only",
        )?;
        render::seed(out, &summary)?;
        out.flush()?;
    }

    // 2. Where the time goes.
    let mut runner = Runner::connect(&settings).await?;
    let diagnose_config = DiagnoseConfig::default();
    let explaining = spinner(bars, "explaining the product page and the category listing");
    let diagnoses = cancellable(stop, async {
        let mut diagnoses = Vec::new();
        for name in DIAGNOSED {
            let sql = seed_query(name)?;
            let params = seed::query_params(sql);
            diagnoses.push(
                demo::diagnose_query(&mut runner, name, sql, &params, &diagnose_config).await?,
            );
        }
        Ok::<_, anyhow::Error>(diagnoses)
    })
    .await?;
    explaining.finish_and_clear();
    if text {
        render::heading(out, 2, "Explain before you cache: where the time goes")?;
        for d in &diagnoses {
            render::diagnosis(out, d)?;
        }
        out.flush()?;
    }

    // 3. The naive cache.
    let page_ms = diagnoses
        .iter()
        .find(|d| d.query == "product_page")
        .and_then(|d| d.execution_ms)
        .unwrap_or(0.0);
    let naive = demo::naive_cache(&settings, &servers.redis_url, &config, page_ms, stop).await?;
    if text {
        render::heading(
            out,
            3,
            "The naive cache: cache-aside on the whole product page",
        )?;
        render::naive_cache(out, &naive)?;
        out.flush()?;
    }

    // 4. pgdiag's suggestions, timed before and after.
    let timing = spinner(
        bars,
        "suggesting with HypoPG, applying, timing every query before and after",
    );
    let (apply, before_after) = cancellable(stop, async {
        let before = time_queries(&mut runner, &config, None).await?;
        let apply = demo::apply_suggestions(&mut runner, settings.describe()).await?;
        let after = time_queries(&mut runner, &config, Some(&apply)).await?;
        let before_after = before
            .into_iter()
            .zip(after)
            .map(|(before, after)| BeforeAfter {
                speedup: before.timing.execution_ms / after.timing.execution_ms.max(1e-6),
                query: before.query,
                before: before.timing,
                after: after.timing,
                after_sql_rewritten: after.rewritten,
                after_as_written: after.as_written,
            })
            .collect::<Vec<_>>();
        Ok::<_, anyhow::Error>((apply, before_after))
    })
    .await?;
    timing.finish_and_clear();
    if text {
        render::heading(out, 4, "pgdiag's own suggestions, before → after")?;
        render::apply(out, &apply, &before_after, width)?;
        out.flush()?;
    }

    // 5. Cache what deserves it.
    let swr = demo::swr_cache(&settings, &servers.redis_url, &config, stop).await?;
    if text {
        render::heading(
            out,
            5,
            "Cache what deserves it: swr on the recommendations only",
        )?;
        render::swr_cache(out, &swr)?;
        out.flush()?;
    }

    // 6. Which queries still deserve a cache: the cache-advice model on this run's figures.
    let cache_advice = cancellable(stop, async {
        demo::cache_verdicts(runner.client(), &naive, &apply, &before_after)
            .await
            .context("judging the queries for a cache")
    })
    .await?;
    if text {
        render::heading(out, 6, "The verdict: which queries still deserve a cache")?;
        render::cache_advice(out, &cache_advice)?;
        out.flush()?;
    }

    // 7. Summary.
    drop(runner);
    drop(client);
    let mut summary_rows = render::summary_rows(&diagnoses, &naive, &apply, &before_after, &swr);
    summary_rows.push(render::cache_advice_row(&cache_advice));
    let kept = args.keep && servers.embedded_any();
    // The next steps run on servers that outlive this run (kept, or the user's own): the
    // queries they name are written where they last as long, not read from a source checkout.
    let next_steps = if kept || !servers.embedded_any() {
        let dir = servers.queries_dir()?;
        render::next_steps(&dsn_for_commands, &dir)
    } else {
        Vec::new()
    };
    if text {
        render::heading(out, 7, "Summary")?;
        render::summary(
            out,
            &summary_rows,
            &next_steps,
            kept || !servers.embedded_any(),
            width,
        )?;
    }
    let report = DemoReport {
        schema_version: SCHEMA_VERSION,
        pgdiag_version: env!("CARGO_PKG_VERSION").to_owned(),
        scale: args.scale,
        servers: Servers {
            postgres_url: postgres_shown,
            redis_url: redis_shown,
            postgres: servers.postgres_kind().into(),
            redis: servers.redis_kind().into(),
            kept,
        },
        seed: summary,
        diagnosis: diagnoses,
        naive_cache: naive,
        suggestions: apply,
        before_after,
        swr_cache: swr,
        cache_advice,
        summary: summary_rows,
        next_steps,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    match args.format {
        DemoFormat::Text => {}
        DemoFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
        DemoFormat::Html => demo::html::render_demo(out, &report)?,
    }
    out.flush()?;

    if args.keep {
        let lines = servers.keep();
        // With JSON on stdout, the instructions go to stderr so the document stays parseable.
        if text {
            writeln!(out)?;
            for line in &lines {
                writeln!(out, "{line}")?;
            }
        } else {
            for line in &lines {
                writeln!(err, "{line}")?;
            }
        }
    } else {
        servers.stop().await;
        if text {
            writeln!(
                out,
                "\nThe throwaway servers are gone; `pgdiag demo --keep` leaves them running."
            )?;
        }
    }
    Ok(Outcome::Ok)
}

/// One seed query timed on one side of step 4.
struct Timed {
    query: String,
    timing: demo::Timing,
    rewritten: bool,
    as_written: Option<demo::Timing>,
}

/// Median EXPLAIN ANALYZE timings of every seed query; after the suggestions, a query the
/// suggestions rewrote (to read a materialized view) is timed in its rewritten form, and as
/// written too.
async fn time_queries(
    runner: &mut Runner,
    config: &DemoConfig,
    apply: Option<&demo::ApplyStep>,
) -> anyhow::Result<Vec<Timed>> {
    let mut timings = Vec::new();
    for (name, sql) in seed::queries() {
        let params = seed::query_params(sql);
        let rewritten = apply.and_then(|a| a.rewritten_sql(name));
        let timed = rewritten.unwrap_or(sql);
        let timing = demo::measure_query(runner, name, timed, &params, config.timing_runs).await?;
        let as_written = match rewritten {
            Some(_) => {
                Some(demo::measure_query(runner, name, sql, &params, config.timing_runs).await?)
            }
            None => None,
        };
        timings.push(Timed {
            query: name.to_string(),
            timing,
            rewritten: rewritten.is_some(),
            as_written,
        });
    }
    Ok(timings)
}

fn seed_query(name: &str) -> anyhow::Result<&'static str> {
    seed::query(name).ok_or_else(|| anyhow!("the seed has no query `{name}`"))
}

/// Runs `work` unless Ctrl-C comes first.
async fn cancellable<T>(
    stop: &Stop,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        result = work => result,
        () = stop.stopped() => Err(anyhow!("interrupted")),
    }
}

fn spinner(visible: bool, message: &'static str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        spinner.set_style(style);
    }
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

/// --dsn points at someone's database: never drop their tables.
async fn refuse_existing_tables(client: &tokio_postgres::Client) -> anyhow::Result<()> {
    let tables: Vec<String> = seed::TABLES.iter().map(|t| format!("public.{t}")).collect();
    let existing = crate::pg::admin::existing_relations(client, &tables).await?;
    if !existing.is_empty() {
        bail!(
            "the --dsn database already has {}: the demo loads its seed into an empty database \
             (create one, e.g. `createdb pgdiag_demo`, or run without --dsn)",
            existing.join(", ")
        );
    }
    Ok(())
}

/// The servers of a run: embedded ones are owned here (dropping them removes them).
struct DemoServers {
    postgres: Option<EmbeddedPostgres>,
    redis: Option<EmbeddedRedis>,
    postgres_url: String,
    redis_url: String,
}

impl DemoServers {
    async fn start(args: &DemoArgs) -> anyhow::Result<DemoServers> {
        let (postgres, postgres_url) = match &args.dsn {
            Some(dsn) => (None, dsn.expose().to_owned()),
            None => {
                let pg = EmbeddedPostgres::builder()
                    .start()
                    .await
                    .context("starting a throwaway PostgreSQL")?;
                pg.create_database(DEMO_DATABASE).await?;
                let url = pg.url(DEMO_DATABASE);
                (Some(pg), url)
            }
        };
        let (redis, redis_url) = match &args.redis_url {
            Some(url) => (None, url.expose().to_owned()),
            None => {
                // Blocking start (a fraction of a second): keep it off the async workers.
                let redis = tokio::task::spawn_blocking(|| EmbeddedRedis::builder().start())
                    .await
                    .context("starting a throwaway Redis")?
                    .context("starting a throwaway Redis")?;
                let url = redis.url();
                (Some(redis), url)
            }
        };
        Ok(DemoServers {
            postgres,
            redis,
            postgres_url,
            redis_url,
        })
    }

    fn postgres_kind(&self) -> &'static str {
        if self.postgres.is_some() {
            "embedded"
        } else {
            "external"
        }
    }

    fn redis_kind(&self) -> &'static str {
        if self.redis.is_some() {
            "embedded"
        } else {
            "external"
        }
    }

    /// A directory holding the demo's queries (`<stem>.sql`): beside a kept embedded
    /// PostgreSQL (removed with it), else a new directory under the temp dir that is left in
    /// place.
    fn queries_dir(&self) -> anyhow::Result<std::path::PathBuf> {
        let dir = match &self.postgres {
            Some(pg) => pg.root_dir().join("queries"),
            None => tempfile::Builder::new()
                .prefix("pgdiag-demo-queries-")
                .tempdir()
                .context("creating a directory for the demo's queries")?
                .keep(),
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (stem, sql) in crate::seed::queries() {
            let path = dir.join(format!("{stem}.sql"));
            std::fs::write(&path, sql).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(dir)
    }

    fn embedded_any(&self) -> bool {
        self.postgres.is_some() || self.redis.is_some()
    }

    /// Hand the embedded servers over to the user; returns what to tell them.
    fn keep(self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(pg) = self.postgres {
            let data_dir = pg.data_dir().to_path_buf();
            let bin_dir = pg.bin_dir().to_path_buf();
            let root = pg.keep();
            lines.push(format!("PostgreSQL left running: {}", self.postgres_url));
            let pg_ctl = format!(
                "{} -D {} stop",
                bin_dir.join("pg_ctl").display(),
                data_dir.display()
            );
            // As root the cluster runs as the postgres user, and pg_ctl refuses root.
            let pg_ctl = if nix::unistd::Uid::effective().is_root() {
                format!("su postgres -s /bin/sh -c '{pg_ctl}'")
            } else {
                pg_ctl
            };
            lines.push(format!("  stop it: {pg_ctl} && rm -rf {}", root.display()));
        }
        if let Some(redis) = self.redis {
            let port = redis.port();
            let root = redis.keep();
            lines.push(format!("Redis left running: {}", self.redis_url));
            lines.push(format!(
                "  stop it: redis-cli -p {port} shutdown nosave && rm -rf {}",
                root.display()
            ));
        }
        lines
    }

    async fn stop(self) {
        // Best effort: Drop and the reapers clean up whatever a failed stop leaves.
        if let Some(pg) = self.postgres {
            let _ = pg.stop().await;
        }
        if let Some(redis) = self.redis {
            let _ = tokio::task::spawn_blocking(move || redis.stop()).await;
        }
    }
}
