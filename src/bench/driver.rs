//! Runs the requested strategies one after another on the same key sequence, clearing the cache
//! prefix between them, and assembles the [`BenchReport`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::BenchError;
use super::invalidate::{self, Listener, NotifyTrigger};
use super::keys::{ZipfSampler, load_keys};
use super::loader::{DEFAULT_POOL_SIZE, PgLoader};
use super::redis_admin::RedisAdmin;
use super::report::{
    BenchReport, HerdResult, HerdRound, Latency, Parameters, RedisBytes, SCHEMA_VERSION, Staleness,
    StrategyResult, Timeline,
};
use super::scenarios::{self, HerdTimeline, SteadyOutcome, Workload, WritePlan};
use super::stop::Stop;
use super::strategies::{self, CacheSettings};
use super::timeline::latency_buckets;
use crate::cache::{RedisClient, Strategy};
use crate::pg::{ConnectionSettings, StatementKind, split_statements};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Steady,
    Herd,
    Writes,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Herd => "herd",
            Scenario::Writes => "writes",
        }
    }
}

/// How the `writes` scenario keeps the cache fresh besides the TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    None,
    /// A trigger on `table` notifies `key_column`; a listener deletes the key in Redis.
    Notify {
        table: String,
        key_column: String,
    },
}

/// Everything a run needs, resolved (no environment lookups past this point).
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub query: String,
    pub connection: ConnectionSettings,
    /// Prints redacted (`Debug` included); derefs to the raw URL for connecting.
    pub redis_url: crate::cache::RedisUrl,
    pub scenario: Scenario,
    /// Run in this order; duplicates run once, an empty list runs them all.
    pub strategies: Vec<Strategy>,
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub keys: usize,
    pub keys_from: Option<String>,
    pub zipf: f64,
    pub ttl: Duration,
    pub soft_ttl: Duration,
    pub pool: usize,
    pub seed: u64,
    pub expiries: usize,
    pub hot_keys: usize,
    pub write: Option<String>,
    pub write_rate: f64,
    pub invalidation: Invalidation,
    /// Reads per second over all clients, Poisson-spaced; `None`: as fast as they go.
    pub read_rate: Option<f64>,
    /// Every Redis key of the run starts with this; unique per run by default.
    pub key_prefix: String,
    pub progress: bool,
}

impl BenchConfig {
    /// The defaults of `pgdiag bench`.
    pub fn new(
        query: impl Into<String>,
        connection: ConnectionSettings,
        redis_url: impl Into<crate::cache::RedisUrl>,
    ) -> Self {
        BenchConfig {
            query: query.into(),
            connection,
            redis_url: redis_url.into(),
            scenario: Scenario::Steady,
            strategies: Strategy::ALL.to_vec(),
            clients: 32,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            keys: 1000,
            keys_from: None,
            zipf: 1.0,
            ttl: Duration::from_secs(60),
            soft_ttl: Duration::from_secs(45),
            pool: DEFAULT_POOL_SIZE,
            seed: 42,
            expiries: 3,
            hot_keys: 1,
            write: None,
            write_rate: 10.0,
            invalidation: Invalidation::None,
            read_rate: None,
            key_prefix: format!(
                "pgdiag:bench:{}:{}:",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
            progress: false,
        }
    }

    fn cache_settings(&self) -> CacheSettings {
        CacheSettings {
            ttl_ms: self.ttl.as_millis().try_into().unwrap_or(u64::MAX),
            soft_ttl_ms: self.soft_ttl.as_millis().try_into().unwrap_or(u64::MAX),
            key_prefix: self.key_prefix.clone(),
            ..CacheSettings::default()
        }
    }

    fn parameters(&self, query: &str, keys: usize) -> Parameters {
        let writes = self.scenario == Scenario::Writes;
        Parameters {
            query: query.to_owned(),
            clients: self.clients,
            duration_ms: self.duration.as_millis().try_into().unwrap_or(u64::MAX),
            warmup_ms: self.warmup.as_millis().try_into().unwrap_or(u64::MAX),
            keys,
            zipf: self.zipf,
            ttl_ms: self.ttl.as_millis().try_into().unwrap_or(u64::MAX),
            soft_ttl_ms: self.soft_ttl.as_millis().try_into().unwrap_or(u64::MAX),
            pool: self.pool,
            seed: self.seed,
            expiries: self.expiries,
            hot_keys: self.hot_keys,
            write: self.write.clone().filter(|_| writes),
            write_rate: writes.then_some(self.write_rate),
            invalidate: match (&self.invalidation, writes) {
                (Invalidation::Notify { .. }, true) => "notify".into(),
                _ => "none".into(),
            },
        }
    }
}

/// How long a stopped run may take to finish the requests in flight and report them before it
/// is cut short (then the strategy under way is left out of the report).
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Run the benchmark. On a stop (`stop`: Ctrl-C, SIGTERM, SIGHUP) returns
/// [`BenchError::Interrupted`] after removing the invalidation trigger and the run's Redis keys;
/// [`run_partial`] returns the report of what ran instead.
pub async fn run(config: &BenchConfig, stop: Stop) -> Result<BenchReport, BenchError> {
    let report = run_partial(config, stop).await?;
    if report.interrupted {
        return Err(BenchError::Interrupted);
    }
    Ok(report)
}

/// Run the benchmark; a stop ends it early with the report of the strategies that ran
/// (`interrupted` set). Cleanup (the invalidation trigger, the run's Redis keys) runs however it
/// ends. A Redis that fails mid-run never ends it: every strategy still runs, answering from the
/// database and counting the errors (the report is then not `complete`).
pub async fn run_partial(config: &BenchConfig, stop: Stop) -> Result<BenchReport, BenchError> {
    let names = strategies::in_order(&config.strategies);
    // Refuse a write before touching Redis or the database.
    super::loader::require_read_only(&config.query, "the benchmarked query")?;
    super::loader::require_key_parameter(&config.query)?;
    let admin = RedisAdmin::connect(&config.redis_url).await?;
    // One client for every strategy, connected now: a Redis that is not there at the start is an
    // error here, while one that goes away later costs the strategies errors they count (the
    // client reconnects by itself), never the run.
    let cache_client = if names.iter().any(|&name| name != Strategy::None) {
        Some(strategies::connect(&config.redis_url).await?)
    } else {
        None
    };
    let loader = Arc::new(PgLoader::connect(&config.connection, &config.query, config.pool).await?);
    let key_client = config.connection.connect().await?;
    // Before this run creates its own: triggers of earlier runs whose owner is gone.
    let leftovers = invalidate::remove_leftovers(&key_client).await?;
    let keys = Arc::new(load_keys(&key_client, config.keys_from.as_deref(), config.keys).await?);
    drop(key_client);
    let sampler = Arc::new(ZipfSampler::new(keys.len(), config.zipf));

    let trigger = match (&config.invalidation, config.scenario) {
        (Invalidation::Notify { table, key_column }, Scenario::Writes) => {
            Some(NotifyTrigger::create(&config.connection, table, key_column).await?)
        }
        _ => None,
    };
    let mut results = Vec::with_capacity(names.len());
    let body = run_strategies(
        config,
        &names,
        &admin,
        cache_client.as_ref(),
        &loader,
        &keys,
        &sampler,
        &stop,
        trigger.is_some(),
        &mut results,
    );
    let cut_short = async {
        stop.stopped().await;
        tokio::time::sleep(STOP_GRACE).await;
    };
    let result = tokio::select! {
        result = body => result,
        () = cut_short => Ok(()),
    };
    // Cleanup runs whatever happened above; its own failure is reported only when the run
    // itself succeeded.
    let dropped = match trigger {
        Some(trigger) => trigger.remove().await,
        None => Ok(()),
    };
    let _ = admin.clear_prefix(&config.key_prefix).await;
    result?;
    dropped?;
    let interrupted = stop.is_stopped();
    let mut report = BenchReport {
        schema_version: SCHEMA_VERSION,
        pgdiag_version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: config.scenario.name().to_owned(),
        parameters: config.parameters(loader.query(), keys.len()),
        strategies: results,
        interrupted,
        complete: false,
        leftovers,
    };
    report.complete = !interrupted && report.redis_errors() == 0;
    Ok(report)
}

/// The strategy's timeline: the steady phase's requests, the herd's after them, and the
/// background queries (refreshes) started since the end of the warm-up.
fn timeline(steady: &SteadyOutcome, herd: HerdTimeline, background: &[Instant]) -> Timeline {
    let mut recorder = steady.timeline.clone();
    recorder.merge(&herd.recorder);
    for &at in background {
        if let Some(offset) = at.checked_duration_since(steady.origin) {
            recorder.background_call(offset);
        }
    }
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    recorder.finish(
        herd.from.map(ms),
        herd.expiries.into_iter().map(ms).collect(),
    )
}

/// Run each strategy in turn, pushing its result as soon as it is done: when a stop cuts the run
/// short, `results` keeps the strategies that finished.
#[allow(clippy::too_many_arguments)]
async fn run_strategies(
    config: &BenchConfig,
    names: &[Strategy],
    admin: &RedisAdmin,
    cache_client: Option<&Arc<RedisClient>>,
    loader: &Arc<PgLoader>,
    keys: &Arc<Vec<String>>,
    sampler: &Arc<ZipfSampler>,
    stop: &Stop,
    notify: bool,
    results: &mut Vec<StrategyResult>,
) -> Result<(), BenchError> {
    let progress = if config.progress {
        let bar = ProgressBar::new(names.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let _listener = if notify {
        Some(Listener::start(&config.connection, admin.clone(), config.key_prefix.clone()).await?)
    } else {
        None
    };
    for &name in names {
        if stop.is_stopped() {
            break;
        }
        progress.set_message(format!("{name} · {}", config.scenario.name()));
        // Redis trouble mid-run is the strategies' business (they fail open and count it), so the
        // benchmark's own Redis bookkeeping is best-effort.
        let _ = admin.clear_prefix(&config.key_prefix).await;
        let memory_before = admin.used_memory().await.ok();
        let strategy = strategies::build(
            name,
            cache_client.cloned(),
            &config.cache_settings(),
            loader.clone(),
        )?;
        let work = Workload {
            strategy,
            loader: loader.clone(),
            keys: keys.clone(),
            sampler: sampler.clone(),
            seed: config.seed,
            stop: stop.clone(),
            read_rate: config.read_rate,
        };
        let writes = match (config.scenario, &config.write) {
            (Scenario::Writes, Some(sql)) => Some(prepare_write(config, sql).await?),
            (Scenario::Writes, None) => {
                return Err(BenchError::Query(
                    "the writes scenario needs --write SQL".into(),
                ));
            }
            _ => None,
        };
        let steady = scenarios::steady(
            &work,
            config.clients,
            config.warmup,
            config.duration,
            writes,
        )
        .await?;
        let latency = Latency::from_us(&steady.latency_us);
        let mut herd_timeline = HerdTimeline::new(steady.timeline.width_ms());
        let herd = if config.scenario == Scenario::Herd && !steady.interrupted {
            let rounds = scenarios::herd(
                &work,
                admin,
                &config.key_prefix,
                config.clients,
                config.hot_keys,
                config.expiries,
                steady.origin,
                &mut herd_timeline,
            )
            .await?;
            Some(HerdResult {
                steady_p50_ms: latency.p50_ms,
                rounds: rounds
                    .iter()
                    .map(|r| {
                        let l = Latency::from_us(&r.latency_us);
                        HerdRound {
                            keys_expired: r.keys_expired,
                            db_calls: r.loader_calls,
                            db_calls_per_key: r.loader_calls as f64 / r.keys_expired.max(1) as f64,
                            p99_ms: l.p99_ms,
                            max_ms: l.max_ms,
                        }
                    })
                    .collect(),
            })
        } else {
            None
        };
        let sample_key_bytes = admin
            .memory_usage(&strategies::redis_key(&config.key_prefix, &keys[0]))
            .await
            .ok()
            .flatten();
        let memory_after = admin.used_memory().await.ok();
        let staleness = steady.staleness.as_ref().map(|s| Staleness {
            writes: s.writes,
            stale_reads: s.stale_reads,
            max_ms: s.staleness_ms.max() as f64,
            p99_ms: s.staleness_ms.value_at_quantile(0.99) as f64,
            unresolved_writes: s.unresolved_writes,
            per_write: s.per_write.clone(),
        });
        let timeline = timeline(&steady, herd_timeline, &loader.take_background_log());
        let seconds = steady.elapsed.as_secs_f64().max(1e-9);
        results.push(
            StrategyResult {
                strategy: name.to_string(),
                requests: steady.counters.requests,
                throughput_rps: steady.counters.requests as f64 / seconds,
                latency,
                counters: steady.counters.clone(),
                hit_rate: 0.0,
                miss_rate: 0.0,
                stale_rate: 0.0,
                fallback_rate: 0.0,
                db_calls: steady.loader_calls,
                errors: steady.errors,
                redis: RedisBytes {
                    used_memory_delta: memory_before
                        .zip(memory_after)
                        .map(|(before, after)| after as i64 - before as i64),
                    sample_key_bytes,
                },
                herd,
                staleness,
                interrupted: stop.is_stopped(),
                latency_histogram: latency_buckets(&steady.latency_us),
                timeline: Some(timeline),
            }
            .with_rates(),
        );
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(())
}

/// The `--write` statement prepared on its own connection; it must be one data-modifying
/// statement.
async fn prepare_write(config: &BenchConfig, sql: &str) -> Result<WritePlan, BenchError> {
    let statements =
        split_statements(sql).map_err(|e| BenchError::Query(format!("--write: {e}")))?;
    let [statement] = statements.as_slice() else {
        return Err(BenchError::Query(
            "--write: expected exactly one statement".into(),
        ));
    };
    if !matches!(
        statement.kind,
        StatementKind::Explainable { writes: true, .. }
    ) {
        return Err(BenchError::Query(
            "--write: expected an INSERT, UPDATE, DELETE or MERGE with $1 = the key".into(),
        ));
    }
    let client = config.connection.connect().await?;
    let prepared = client
        .prepare(&statement.text)
        .await
        .map_err(|e| BenchError::Query(format!("--write: {}", crate::pg::Error::from(e))))?;
    Ok(WritePlan {
        client,
        statement: prepared,
        rate_per_second: config.write_rate,
    })
}
