//! `cache-advice --verify`: one benchmark per statement advised to be cached, on the advised
//! configuration (strategy, soft and hard TTL, invalidation on write), against the workload's
//! read and write rates scaled to the machine, and the model's prediction for that run beside
//! what it measured.
//!
//! Scaling. The workload reads each of its keys `r` times and writes it `w` times a second; the
//! advice's TTL is `T`. What a cache gives depends only on `r·T` and `w·T` (reads and writes of a
//! key per TTL), so a run `s` times faster (reads `s·r`, writes `s·w`, TTLs `T/s`) has the same hit
//! rate and stale share in seconds instead of hours. The run reads at a rate the machine bears
//! (`--verify-rate`, lowered so the misses cost at most a quarter of a core), over as many keys as
//! make its TTL about a fifth of the run (enough renewal cycles to count) and keep a key's reads
//! during one load rare (the model has no herd); `s` follows from them.
//!
//! Writes change data: the run writes (an `UPDATE` rewriting the key's rows unchanged) and
//! installs the invalidation trigger only with `--allow-writes`; without it the run only reads,
//! the prediction is made for no writes, and staleness is not verified.

use std::time::Duration;

use super::driver::{BenchConfig, Invalidation, Scenario};
use super::keys::{ZipfSampler, load_keys};
use super::stop::Stop;
use crate::cache::advice::{CachePlan, Verdict};
use crate::cache::advising::StatementAdvice;
use crate::cache::verification::{
    Agreement, BenchSetup, Conditions, Measurement, Pair, TailCheck, Verification,
    hit_rate_tolerance, predict, stale_share_tolerance,
};
use crate::cache::{RedisUrl, Strategy};
use crate::pg::{self, ConnectionSettings};

/// How the verification benchmarks run.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub connection: ConnectionSettings,
    pub redis_url: RedisUrl,
    /// Measured time per statement (after a warm-up of up to as long).
    pub duration: Duration,
    /// Reads per second to aim for (lowered for expensive statements).
    pub read_rate: f64,
    pub clients: usize,
    /// At most this many distinct keys.
    pub max_keys: usize,
    /// Zipf exponent the keys are drawn with; 0 (uniform) is what the advice assumes.
    pub zipf: f64,
    /// Write to the database (the keys' rows, and a NOTIFY trigger for invalidation).
    pub allow_writes: bool,
    pub seed: u64,
}

impl VerifyOptions {
    pub fn new(connection: ConnectionSettings, redis_url: RedisUrl) -> VerifyOptions {
        VerifyOptions {
            connection,
            redis_url,
            duration: Duration::from_secs(10),
            read_rate: 200.0,
            clients: 16,
            max_keys: 1000,
            zipf: 0.0,
            allow_writes: false,
            seed: 42,
        }
    }
}

/// A share of a core the misses of a run may cost the database.
const DB_BUDGET: f64 = 0.25;
/// At most this many reads of one key during one load (the model has no herd).
const MAX_READS_PER_LOAD: f64 = 0.05;
/// Writes per second a run does at most.
const MAX_WRITE_RATE: f64 = 500.0;

/// The workload's rates per key, as the advice reckons them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyRates {
    /// Distinct keys.
    pub keys: f64,
    /// Reads per key per second.
    pub reads: f64,
    /// Writes per key per second (a write to another table the statement reads counts for every
    /// key).
    pub writes: f64,
}

impl KeyRates {
    pub fn of(statement: &StatementAdvice) -> KeyRates {
        let keys = if statement.key.parts.is_empty() {
            1.0
        } else {
            statement
                .distinct_keys
                .unwrap_or(statement.calls_per_hour)
                .max(1.0)
        };
        let keyed_table = statement.key.parts.iter().find_map(|p| p.table.clone());
        let (keyed, shared) = statement
            .tables
            .iter()
            .fold((0.0, 0.0), |(keyed, shared), t| {
                if Some(&t.table) == keyed_table.as_ref() {
                    (keyed + t.writes_per_hour, shared)
                } else {
                    (keyed, shared + t.writes_per_hour)
                }
            });
        KeyRates {
            keys,
            reads: statement.calls_per_hour / keys / 3600.0,
            writes: (keyed + shared * keys) / keys / 3600.0,
        }
    }
}

/// The layout of a run before its keys are loaded: the read rate and how many keys to ask for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    pub read_rate: f64,
    pub keys: usize,
}

/// How fast to read and over how many keys, for a statement taking `query_ms`, expected to hit
/// `hit_rate`, whose entries serve `reads_per_life` reads of their key in the workload (reads per
/// key × the entry's mean lifetime: the TTL, or shorter when writes delete it). `delete_lag_s`:
/// how long after a write its key may still be deleted again (the NOTIFY listener's second
/// delete): a read in that time refills an entry that is then dropped, a miss the workload, read
/// far slower, hardly sees.
pub fn layout(
    options: &VerifyOptions,
    max_keys: usize,
    query_ms: f64,
    hit_rate: f64,
    reads_per_life: f64,
    delete_lag_s: f64,
) -> Layout {
    let query_s = (query_ms / 1000.0).max(1e-6);
    let miss = (1.0 - hit_rate).clamp(0.01, 1.0);
    let mut read_rate = options.read_rate.min(DB_BUDGET / (miss * query_s)).max(5.0);
    let target_life = (options.duration.as_secs_f64() / 5.0).max(0.2);
    let for_life = read_rate * target_life / reads_per_life.max(1e-9);
    // Reads of one key during a load (or a delete's lag) kept rare: the model has neither.
    let busy_s = query_s + delete_lag_s;
    let for_herd = read_rate * busy_s / MAX_READS_PER_LOAD;
    // Whole keys, enough for both (a hair over a whole number is that number).
    let keys = (for_life.max(for_herd) - 1e-6)
        .ceil()
        .clamp(1.0, max_keys.max(1) as f64);
    if for_herd > keys {
        // Too few keys to spread over: read slower instead.
        read_rate = (keys * MAX_READS_PER_LOAD / busy_s).max(1.0);
    }
    Layout {
        read_rate,
        keys: keys as usize,
    }
}

/// The run's rates and TTLs once it has `keys` keys: each read `read_rate / keys` times a second,
/// that many times the workload's, so TTLs shrink and writes grow by that factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaled {
    pub scale: f64,
    pub read_rate: f64,
    pub write_rate: f64,
    pub soft_ttl_s: f64,
    pub hard_ttl_s: f64,
}

pub fn scale(rates: &KeyRates, plan: &CachePlan, read_rate: f64, keys: usize) -> Scaled {
    let keys = keys.max(1) as f64;
    let mut read_rate = read_rate;
    let mut scale = read_rate / keys / rates.reads.max(1e-12);
    // TTLs under 50 ms would be mostly a load's time: read slower instead.
    let shortest = 0.05;
    if plan.hard_ttl_s / scale < shortest {
        scale = plan.hard_ttl_s / shortest;
        read_rate = scale * rates.reads * keys;
    }
    let soft = if plan.strategy == Strategy::Swr {
        plan.soft_ttl_s
    } else {
        plan.hard_ttl_s
    };
    Scaled {
        scale,
        read_rate,
        write_rate: rates.writes * scale * keys,
        soft_ttl_s: soft / scale,
        hard_ttl_s: plan.hard_ttl_s / scale,
    }
}

/// Verify one statement's advice: [`Verification::NotMeasured`] with the reason when the
/// benchmark cannot run or fails.
pub async fn verify(
    statement: &StatementAdvice,
    options: &VerifyOptions,
    stop: Stop,
) -> Verification {
    match measure(statement, options, stop).await {
        Ok(measurement) => Verification::Measured(Box::new(measurement)),
        Err(reason) => Verification::NotMeasured { reason },
    }
}

async fn measure(
    statement: &StatementAdvice,
    options: &VerifyOptions,
    stop: Stop,
) -> Result<Measurement, String> {
    let Verdict::Cache(plan) = &statement.advice else {
        return Err("not advised to be cached".into());
    };
    let (table, column) = match statement.key.parts.as_slice() {
        [part] if pg::sample::param_count(&statement.query) == 1 => {
            match (&part.table, &part.column) {
                (Some(table), Some(column)) => (
                    table.clone(),
                    column.rsplit('.').next().unwrap_or(column).to_owned(),
                ),
                _ => {
                    return Err(
                        "its key ($1) is compared with no known column: the benchmark cannot pick key values"
                            .into(),
                    );
                }
            }
        }
        [] => {
            return Err("it has no parameter: the benchmark reads one key ($1) per request".into());
        }
        parts => {
            return Err(format!(
                "its key has {} parameters: the benchmark binds only $1",
                parts.len()
            ));
        }
    };
    let rates = KeyRates::of(statement);
    let writes_run = rates.writes > 0.0 && options.allow_writes;
    let invalidate = writes_run && plan.invalidate.is_some();
    // An entry's mean life in the workload: its TTL, or until a write deletes it.
    let life = if invalidate {
        (1.0 - (-rates.writes * plan.hard_ttl_s).exp()) / rates.writes
    } else {
        plan.hard_ttl_s
    };
    let delete_lag = if invalidate {
        super::invalidate::SECOND_DELETE_AFTER.as_secs_f64()
    } else {
        0.0
    };
    let wanted = layout(
        options,
        options.max_keys,
        statement.mean_ms,
        plan.expected_hit_rate,
        rates.reads * life,
        delete_lag,
    );
    let keys_sql =
        pg::activity::key_values_query(&table, &column, wanted.keys).ok_or_else(|| {
            format!("{table}.{column} cannot be named in SQL as written: no key values to read")
        })?;
    let client = options
        .connection
        .connect()
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let keys = load_keys(&client, Some(&keys_sql), wanted.keys)
        .await
        .map_err(|e| format!("reading the keys of {table}.{column}: {e}"))?
        .len();
    drop(client);
    // Fewer keys than asked for: laid out again over those.
    let read_rate = if keys < wanted.keys {
        layout(
            options,
            keys,
            statement.mean_ms,
            plan.expected_hit_rate,
            rates.reads * life,
            delete_lag,
        )
        .read_rate
    } else {
        wanted.read_rate
    };
    let scaled = scale(&rates, plan, read_rate, keys);

    let mut notes = Vec::new();
    let mut write = None;
    let mut write_rate = 0.0;
    if scaled.write_rate > 0.0 {
        if writes_run {
            write = pg::activity::touch_key_statement(&table, &column);
            write_rate = scaled.write_rate.min(MAX_WRITE_RATE);
            if write_rate < scaled.write_rate {
                notes.push(format!(
                    "writes capped at {MAX_WRITE_RATE}/s (the scaled workload asks {:.0}/s); predicted for the rate run",
                    scaled.write_rate
                ));
            }
        } else {
            notes.push(
                "staleness not verified: the benchmark wrote nothing (writing needs --allow-writes), so the hit rate is predicted without writes"
                    .into(),
            );
        }
    }
    let writes_run = write.is_some();
    let invalidate = invalidate && writes_run;
    let duration = options.duration;
    // Long enough for the entries to reach their steady state: an entry's life and a read.
    let settle = (life + 1.0 / rates.reads.max(1e-12)) / scaled.scale;
    let warmup =
        Duration::from_secs_f64((1.5 * settle).clamp(1.0, duration.as_secs_f64().max(1.0)));
    let mut config = BenchConfig::new(
        statement.query.clone(),
        options.connection.clone(),
        options.redis_url.clone(),
    );
    config.scenario = if writes_run {
        Scenario::Writes
    } else {
        Scenario::Steady
    };
    config.strategies = vec![plan.strategy];
    config.clients = options.clients.max(1);
    config.duration = duration;
    config.warmup = warmup;
    config.keys = keys;
    config.keys_from = Some(keys_sql);
    config.zipf = options.zipf;
    config.ttl = Duration::from_secs_f64(scaled.hard_ttl_s);
    config.soft_ttl = Duration::from_secs_f64(scaled.soft_ttl_s);
    config.pool = config.pool.min(options.clients.max(1));
    config.seed = options.seed;
    config.write.clone_from(&write);
    config.write_rate = write_rate.max(0.001);
    config.invalidation = match (&plan.invalidate, invalidate) {
        (Some(i), true) => Invalidation::Notify {
            table: i.table.clone(),
            key_column: i.key_column.clone(),
        },
        _ => Invalidation::None,
    };
    config.read_rate = Some(scaled.read_rate);
    let report = super::run(&config, stop)
        .await
        .map_err(|e| format!("the benchmark failed: {e}"))?;
    let Some(result) = report.strategies.first() else {
        return Err("the benchmark ran no strategy".into());
    };
    let reads = result.requests;
    if reads == 0 {
        return Err("the benchmark completed no read".into());
    }
    let served = result.counters.hits + result.counters.stale_serves;
    let measured_hit_rate = served as f64 / reads as f64;
    let seconds = duration.as_secs_f64().max(1e-9);
    let writes = result.staleness.as_ref().map_or(0, |s| s.writes);
    let sampler = ZipfSampler::new(keys, options.zipf);
    let conditions = Conditions {
        strategy: plan.strategy,
        read_rate: result.throughput_rps,
        write_rate: writes as f64 / seconds,
        probabilities: (0..sampler.len()).map(|k| sampler.probability(k)).collect(),
        soft_ttl_s: scaled.soft_ttl_s,
        hard_ttl_s: scaled.hard_ttl_s,
        invalidate,
    };
    let prediction = predict(&conditions);
    if result.throughput_rps < 0.9 * scaled.read_rate {
        notes.push(format!(
            "the machine read {:.0}/s of the {:.0}/s asked; predicted for the rate reached",
            result.throughput_rps, scaled.read_rate
        ));
    }
    if result.counters.redis_fallbacks > 0 || result.errors > 0 {
        notes.push(format!(
            "{} reads answered from the database after a Redis error, {} failed",
            result.counters.redis_fallbacks, result.errors
        ));
    }
    if plan.strategy == Strategy::Swr {
        notes.push(
            "the advice reckons swr's hit rate as cache-aside's with the hard TTL (a lower bound); the prediction adds the renewals between the soft and the hard TTL"
                .into(),
        );
    }
    let hit_rate = Agreement::new(
        prediction.hit_rate,
        measured_hit_rate,
        hit_rate_tolerance(prediction.hit_rate, reads),
    );
    let (stale_share, stale_reads_per_hour) = match &result.staleness {
        Some(staleness) => {
            let measured = staleness.stale_reads as f64 / reads as f64;
            // A run of stale reads is at most one entry's reads.
            let run = 1.0 + conditions.read_rate / keys as f64 * scaled.hard_ttl_s;
            (
                Some(Agreement::new(
                    prediction.stale_share,
                    measured,
                    stale_share_tolerance(prediction.stale_share, reads, run),
                )),
                Some(Pair {
                    predicted: prediction.stale_share * statement.calls_per_hour,
                    measured: measured * statement.calls_per_hour,
                }),
            )
        }
        None => (None, None),
    };
    let agrees = hit_rate.agrees && stale_share.is_none_or(|s| s.agrees);
    Ok(Measurement {
        scale: scaled.scale,
        bench: BenchSetup {
            strategy: plan.strategy,
            keys,
            zipf: options.zipf,
            clients: config.clients,
            read_rate_per_s: scaled.read_rate,
            measured_read_rate_per_s: result.throughput_rps,
            reads,
            write_rate_per_s: write_rate,
            writes,
            write,
            soft_ttl_s: scaled.soft_ttl_s,
            hard_ttl_s: scaled.hard_ttl_s,
            invalidate,
            warmup_s: warmup.as_secs_f64(),
            duration_s: duration.as_secs_f64(),
        },
        advised_hit_rate: plan.expected_hit_rate,
        hit_rate,
        stale_share,
        stale_reads_per_hour,
        p99: TailCheck::new(
            prediction.hit_rate,
            statement.mean_ms,
            result.latency.p99_ms,
        ),
        agrees,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::advice::{CacheKey, KeyPart, TableActivity};

    fn statement() -> StatementAdvice {
        StatementAdvice {
            statement: 1,
            source: None,
            query: "SELECT avg(rating) FROM reviews WHERE product_id = $1".into(),
            calls_per_hour: 36_000.0,
            mean_ms: 2.0,
            db_ms_per_hour: 72_000.0,
            tables: vec![TableActivity {
                table: "reviews".into(),
                writes_per_hour: 100.0,
                rows: 20_000.0,
            }],
            key: CacheKey {
                parts: vec![KeyPart {
                    parameter: 1,
                    column: Some("reviews.product_id".into()),
                    table: Some("reviews".into()),
                }],
            },
            distinct_keys: Some(1000.0),
            advice: Verdict::DontCache {
                reason: crate::cache::advice::DontCache::CheapAndRare,
                detail: String::new(),
            },
            verification: None,
        }
    }

    fn plan(strategy: Strategy, soft: f64, hard: f64) -> CachePlan {
        CachePlan {
            strategy,
            soft_ttl_s: soft,
            hard_ttl_s: hard,
            invalidate: None,
            expected_hit_rate: 0.855,
            db_ms_saved_per_hour: 0.0,
            stale_reads_per_hour: 0.0,
            reasons: Vec::new(),
        }
    }

    fn options() -> VerifyOptions {
        VerifyOptions::new(
            ConnectionSettings::resolve(Some("postgresql://localhost/x"), &crate::pg::ProcessEnv)
                .unwrap(),
            RedisUrl::from("redis://localhost".to_owned()),
        )
    }

    #[test]
    fn scaling_keeps_reads_and_writes_per_ttl() {
        let s = statement();
        let rates = KeyRates::of(&s);
        assert!((rates.reads - 0.01).abs() < 1e-12, "{rates:?}");
        assert!((rates.writes - 0.1 / 3600.0).abs() < 1e-12);
        let p = plan(Strategy::Swr, 450.0, 600.0);
        // 6 reads per key per TTL; 200 reads/s over keys that make the TTL ~2 s.
        let l = layout(
            &options(),
            1000,
            s.mean_ms,
            p.expected_hit_rate,
            rates.reads * 600.0,
            0.0,
        );
        assert_eq!(l.read_rate, 200.0);
        assert_eq!(l.keys, 67);
        let scaled = scale(&rates, &p, l.read_rate, l.keys);
        let per_key = scaled.read_rate / l.keys as f64;
        assert!(
            (per_key * scaled.hard_ttl_s - 6.0).abs() < 1e-9,
            "{scaled:?}"
        );
        assert!(
            (scaled.write_rate / l.keys as f64 * scaled.hard_ttl_s - rates.writes * 600.0).abs()
                < 1e-9
        );
        assert!((scaled.soft_ttl_s / scaled.hard_ttl_s - 0.75).abs() < 1e-9);
        // cache-aside: one TTL.
        let aside = scale(&rates, &plan(Strategy::CacheAside, 600.0, 600.0), 200.0, 67);
        assert_eq!(aside.soft_ttl_s, aside.hard_ttl_s);
    }

    #[test]
    fn an_expensive_statement_is_read_slower_and_a_hot_key_spread_over_more_keys() {
        // 100 ms a miss, 15% misses: at most a quarter of a core → ~16.7 reads/s, over 34 keys
        // (16.7/s × 100 ms / 0.05).
        let l = layout(&options(), 1000, 100.0, 0.85, 6.0, 0.0);
        assert!((l.read_rate - 0.25 / 0.015).abs() < 1e-9, "{l:?}");
        assert_eq!(l.keys, 34, "{l:?}");
        // Reads of a key during one load kept rare: 200/s × 20 ms / 0.05 = 80 keys at least.
        let l = layout(&options(), 1000, 20.0, 0.99, 1_000.0, 0.0);
        assert_eq!(l.keys, 80, "{l:?}");
        // And during the 50 ms a delete may follow a write: 200/s × 52 ms / 0.05 = 208 keys.
        let l = layout(&options(), 1000, 2.0, 0.7, 2.0, 0.05);
        assert_eq!(l.keys, 208, "{l:?}");
        // Never more keys than allowed: then slower reads.
        let l = layout(&options(), 100, 2.0, 0.7, 2.0, 0.05);
        assert_eq!(l.keys, 100, "{l:?}");
        assert!((l.read_rate - 100.0 * 0.05 / 0.052).abs() < 1e-9, "{l:?}");
        let l = layout(&options(), 1000, 0.1, 0.5, 0.001, 0.0);
        assert_eq!(l.keys, 1000);
    }
}
