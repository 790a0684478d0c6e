//! The three scenarios, each run against one strategy: steady load (optionally with a writer and
//! stale-read tracking, the `writes` scenario) and the thundering herd after expiry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Barrier;
use tokio_postgres::{Client, Statement};

use super::keys::ZipfSampler;
use super::loader::PgLoader;
use super::redis_admin::RedisAdmin;
use super::report::WriteStaleness;
use super::stop::Stop;
use super::timeline::{MAX_WRITES_LISTED, TimelineRecorder, bucket_width_ms, sample_writes};
use super::{BenchError, now_ms};
use crate::cache::{CacheStrategy, MetricsSnapshot, OutcomeCounts, outcome};
use crate::pg::ParamValue;

/// A latency histogram in microseconds (1 µs to 1 h, 3 significant digits).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// What every scenario needs: the strategy under test, the loader, and the keys.
#[derive(Clone)]
pub struct Workload {
    pub strategy: Arc<dyn CacheStrategy>,
    pub loader: Arc<PgLoader>,
    pub keys: Arc<Vec<String>>,
    pub sampler: Arc<ZipfSampler>,
    /// Client `i` draws keys from `seed + i`, so every strategy sees the same key sequence.
    pub seed: u64,
    pub stop: Stop,
    /// Reads per second over all clients, started at Poisson-spaced instants (each client paces
    /// its share); `None`: every client reads as fast as it can (a closed loop).
    pub read_rate: Option<f64>,
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("strategy", &self.strategy.name())
            .field("keys", &self.keys.len())
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// A steady run's measurements, after the warm-up.
#[derive(Debug)]
pub struct SteadyOutcome {
    pub latency_us: Histogram<u64>,
    /// The outcome of every request started after the warm-up, recorded by the reader that made
    /// it when it ended (so `counters.requests` is their sum, whatever was in flight when the
    /// warm-up ended); the strategy's event counters (refreshes, lock contention, DB queries,
    /// Redis errors) at the end minus at the end of the warm-up.
    pub counters: MetricsSnapshot,
    /// Queries the measured requests ran themselves (counted per request, so exact) plus those
    /// the strategy ran in the background after the warm-up (a refresh in flight at its end may
    /// fall on either side).
    pub loader_calls: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub staleness: Option<StalenessOutcome>,
    /// Stopped (Ctrl-C, SIGTERM, SIGHUP) before the end: the figures cover the time until then.
    pub interrupted: bool,
    /// The end of the warm-up: the origin of the timeline.
    pub origin: Instant,
    /// The measured requests over time (the readers' recordings merged).
    pub timeline: TimelineRecorder,
}

/// The writer of the `writes` scenario: a prepared `--write` statement on its own connection.
#[derive(Debug)]
pub struct WritePlan {
    pub client: Client,
    pub statement: Statement,
    pub rate_per_second: f64,
}

/// Counters `after - before`; the refresh histogram figures are the cumulative ones of `after`
/// (a histogram cannot be subtracted from a snapshot).
pub fn counters_delta(before: &MetricsSnapshot, after: &MetricsSnapshot) -> MetricsSnapshot {
    let a = after.outcomes();
    let b = before.outcomes();
    let mut delta = MetricsSnapshot {
        refreshes: after.refreshes.saturating_sub(before.refreshes),
        lock_contention: after.lock_contention.saturating_sub(before.lock_contention),
        db_queries: after.db_queries.saturating_sub(before.db_queries),
        redis_errors: after.redis_errors.saturating_sub(before.redis_errors),
        refresh_p99_us: after.refresh_p99_us,
        refresh_max_us: after.refresh_max_us,
        ..MetricsSnapshot::default()
    };
    delta.set_outcomes(OutcomeCounts {
        hits: a.hits.saturating_sub(b.hits),
        misses: a.misses.saturating_sub(b.misses),
        stale_serves: a.stale_serves.saturating_sub(b.stale_serves),
        database: a.database.saturating_sub(b.database),
        redis_fallbacks: a.redis_fallbacks.saturating_sub(b.redis_fallbacks),
    });
    delta
}

/// `clients` concurrent readers for `warmup + duration`; latencies and counters after the
/// warm-up. With `writes`, a writer runs after the warm-up and every read is checked for
/// staleness.
pub async fn steady(
    work: &Workload,
    clients: usize,
    warmup: Duration,
    duration: Duration,
    writes: Option<WritePlan>,
) -> Result<SteadyOutcome, BenchError> {
    let start = Instant::now();
    let warm_end = later(start, warmup);
    let end = later(warm_end, duration);
    // The same instant on the wall clock, which commits and loads are stamped with.
    let origin_ms = now_ms()
        + warm_end
            .saturating_duration_since(Instant::now())
            .as_millis() as u64;
    let tracker = writes
        .as_ref()
        .map(|_| Arc::new(WriteTracker::new(origin_ms)));
    let width_ms = bucket_width_ms(duration);
    // Background queries of an earlier strategy or of the warm-up are not this run's.
    let _ = work.loader.take_background_log();

    // The baseline of the event counters (the outcomes are recorded by the readers themselves).
    // With no warm-up it is taken before any request starts, so the events are exact too;
    // otherwise events of requests in flight at the snapshot fall on one side or the other.
    let baseline = if warmup.is_zero() {
        let snapshot = (
            work.strategy.metrics().snapshot(),
            work.loader.background_calls(),
        );
        tokio::spawn(async move { snapshot })
    } else {
        let strategy = work.strategy.clone();
        let loader = work.loader.clone();
        let stop = work.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(warm_end.into()) => {}
                () = stop.stopped() => {}
            }
            (strategy.metrics().snapshot(), loader.background_calls())
        })
    };

    let writer = match (writes, &tracker) {
        (Some(plan), Some(tracker)) => Some(tokio::spawn(write_loop(
            work.clone(),
            plan,
            tracker.clone(),
            warm_end,
            end,
        ))),
        _ => None,
    };

    let readers: Vec<_> = (0..clients)
        .map(|i| {
            let work = work.clone();
            let tracker = tracker.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(work.seed.wrapping_add(i as u64));
                let mut pace = work.read_rate.map(|rate| {
                    Pacer::new(
                        rate / clients.max(1) as f64,
                        work.seed ^ 0x5041_4345 ^ i as u64,
                    )
                });
                let mut latency = latency_histogram();
                let mut errors = 0u64;
                let mut outcomes = OutcomeCounts::default();
                let mut db_calls = 0u64;
                let mut timeline = TimelineRecorder::new(width_ms);
                while !work.stop.is_stopped() && Instant::now() < end {
                    if let Some(pace) = &mut pace {
                        let due = pace.next(start);
                        if due >= end {
                            break;
                        }
                        tokio::select! {
                            () = tokio::time::sleep_until(due.into()) => {}
                            () = work.stop.stopped() => break,
                        }
                    }
                    let key = &work.keys[work.sampler.sample(&mut rng)];
                    let started = Instant::now();
                    let (answer, calls) =
                        PgLoader::counting(work.strategy.answer(key, work.loader.as_ref())).await;
                    if started < warm_end {
                        continue;
                    }
                    // The one place a measured request is counted: once, with its outcome and
                    // the queries it ran.
                    let us = started.elapsed().as_micros() as u64;
                    let from = outcome(&answer);
                    outcomes.record(from);
                    db_calls += calls;
                    timeline.request(started - warm_end, from, answer.is_err(), calls, us);
                    match answer {
                        Ok(served) => {
                            let _ = latency.record(us.max(1));
                            if let Some(tracker) = &tracker {
                                tracker.observe(key, served.loaded_at_ms);
                            }
                        }
                        Err(_) => errors += 1,
                    }
                }
                (latency, errors, outcomes, db_calls, timeline)
            })
        })
        .collect();

    let mut latency_us = latency_histogram();
    let mut errors = 0;
    let mut outcomes = OutcomeCounts::default();
    let mut request_calls = 0;
    let mut timeline = TimelineRecorder::new(width_ms);
    for reader in readers {
        let (histogram, reader_errors, reader_outcomes, reader_calls, reader_timeline) = reader
            .await
            .map_err(|e| BenchError::Query(format!("a reader task failed: {e}")))?;
        let _ = latency_us.add(&histogram);
        errors += reader_errors;
        outcomes.add(&reader_outcomes);
        request_calls += reader_calls;
        timeline.merge(&reader_timeline);
    }
    let elapsed = warm_end.elapsed();
    let write_result = match writer {
        Some(handle) => Some(
            handle
                .await
                .map_err(|e| BenchError::Query(format!("the writer task failed: {e}")))?,
        ),
        None => None,
    };
    let interrupted = work.stop.is_stopped();
    let writes_done = write_result.transpose()?;
    let (before, background_before) = baseline
        .await
        .map_err(|e| BenchError::Query(format!("the warm-up snapshot failed: {e}")))?;
    let after = work.strategy.metrics().snapshot();
    let staleness = match (tracker, writes_done) {
        (Some(tracker), Some(writes)) => Some(tracker.finish(now_ms(), writes)),
        _ => None,
    };
    let mut counters = counters_delta(&before, &after);
    counters.set_outcomes(outcomes);
    Ok(SteadyOutcome {
        latency_us,
        counters,
        // The measured requests' own queries, exact, and the background ones (refreshes) run
        // after the warm-up.
        loader_calls: request_calls
            + work
                .loader
                .background_calls()
                .saturating_sub(background_before),
        errors,
        elapsed,
        staleness,
        interrupted,
        origin: warm_end,
        timeline,
    })
}

/// Start instants of one paced client: a Poisson process of `rate` per second (exponential
/// gaps), so that the clients together make the Poisson arrivals the cache model assumes. A
/// client that falls behind (a slow miss) starts its late reads at once, keeping the rate.
struct Pacer {
    rate: f64,
    rng: StdRng,
    offset: Duration,
}

impl Pacer {
    fn new(rate: f64, seed: u64) -> Pacer {
        Pacer {
            rate: rate.max(1e-6),
            rng: StdRng::seed_from_u64(seed),
            offset: Duration::ZERO,
        }
    }

    fn next(&mut self, start: Instant) -> Instant {
        let u: f64 = rand::RngExt::random(&mut self.rng);
        let gap = -(1.0 - u).ln() / self.rate;
        self.offset += Duration::try_from_secs_f64(gap).unwrap_or(Duration::from_secs(3600));
        later(start, self.offset)
    }
}

/// `t + d`, or a century after `t` when that is past what an `Instant` holds: a duration too long
/// to ever end must not panic.
fn later(t: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    t.checked_add(d)
        .or_else(|| t.checked_add(CENTURY))
        .unwrap_or(t)
}

/// Update random keys (drawn like the reads, so hot keys are written most) at the plan's rate,
/// recording each commit time.
async fn write_loop(
    work: Workload,
    plan: WritePlan,
    tracker: Arc<WriteTracker>,
    start: Instant,
    end: Instant,
) -> Result<u64, BenchError> {
    tokio::time::sleep_until(start.into()).await;
    let mut rng = StdRng::seed_from_u64(work.seed ^ 0x5752_4954_4552);
    let period = Duration::from_secs_f64(1.0 / plan.rate_per_second.max(0.001));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut writes = 0;
    loop {
        ticks.tick().await;
        if work.stop.is_stopped() || Instant::now() >= end {
            return Ok(writes);
        }
        let key = &work.keys[work.sampler.sample(&mut rng)];
        plan.client
            .execute(&plan.statement, &[&ParamValue::Text(key.clone())])
            .await
            .map_err(|e| {
                BenchError::Query(format!("--write failed: {}", crate::pg::Error::from(e)))
            })?;
        // Taken after the commit returns; loads stamp `loaded_at_ms` before their query starts, so
        // a load stamped at or after this instant saw the write.
        tracker.committed(key, now_ms());
        writes += 1;
    }
}

/// Staleness of the `writes` scenario.
#[derive(Debug)]
pub struct StalenessOutcome {
    pub writes: u64,
    pub stale_reads: u64,
    /// Per write, ms from its commit to the first fresh read of its key.
    pub staleness_ms: Histogram<u64>,
    /// Writes whose key was never read fresh before the end: counted with `end - commit`, a lower
    /// bound.
    pub unresolved_writes: u64,
    /// Every write, in commit order, at most [`MAX_WRITES_LISTED`] (evenly sampled).
    pub per_write: Vec<WriteStaleness>,
}

#[derive(Debug, Default)]
struct KeyWrites {
    last_commit_ms: u64,
    /// Commit times of writes not yet followed by a fresh read.
    pending: Vec<u64>,
}

/// Per key, the latest commit and the writes waiting for their first fresh read.
#[derive(Debug)]
pub struct WriteTracker {
    keys: Mutex<HashMap<String, KeyWrites>>,
    stale_reads: AtomicU64,
    /// The staleness histogram, and each write (commit time, staleness) as it resolves.
    staleness_ms: Mutex<(Histogram<u64>, Vec<WriteStaleness>)>,
    /// Wall-clock ms of the end of the warm-up: write times are reported from it.
    origin_ms: u64,
}

impl Default for WriteTracker {
    fn default() -> Self {
        WriteTracker::new(0)
    }
}

impl WriteTracker {
    /// A tracker whose writes are reported in ms after `origin_ms` (wall clock).
    pub fn new(origin_ms: u64) -> Self {
        WriteTracker {
            keys: Mutex::default(),
            stale_reads: AtomicU64::new(0),
            staleness_ms: Mutex::new((
                Histogram::new_with_bounds(1, 86_400_000, 3).expect("valid histogram bounds"),
                Vec::new(),
            )),
            origin_ms,
        }
    }

    pub fn committed(&self, key: &str, commit_ms: u64) {
        if let Ok(mut keys) = self.keys.lock() {
            let entry = keys.entry(key.to_owned()).or_default();
            entry.last_commit_ms = entry.last_commit_ms.max(commit_ms);
            entry.pending.push(commit_ms);
        }
    }

    /// A read of `key` served a value loaded at `loaded_at_ms`: stale when loaded before the
    /// key's last commit; fresh for every write committed at or before it.
    pub fn observe(&self, key: &str, loaded_at_ms: u64) {
        let Ok(mut keys) = self.keys.lock() else {
            return;
        };
        let Some(entry) = keys.get_mut(key) else {
            return;
        };
        if loaded_at_ms < entry.last_commit_ms {
            self.stale_reads.fetch_add(1, Ordering::Relaxed);
        }
        if entry.pending.iter().any(|&c| c <= loaded_at_ms) {
            let now = now_ms();
            let mut resolved = Vec::new();
            entry.pending.retain(|&c| {
                let fresh = c <= loaded_at_ms;
                if fresh {
                    resolved.push((c, now.saturating_sub(c)));
                }
                !fresh
            });
            drop(keys);
            self.record(&resolved, true);
        }
    }

    /// Writes `(commit ms, staleness ms)`, resolved by a fresh read or not.
    fn record(&self, writes: &[(u64, u64)], resolved: bool) {
        if let Ok(mut recorded) = self.staleness_ms.lock() {
            let (histogram, list) = &mut *recorded;
            for &(commit_ms, ms) in writes {
                let _ = histogram.record(ms.max(1));
                list.push(WriteStaleness {
                    at_ms: commit_ms.saturating_sub(self.origin_ms),
                    staleness_ms: ms as f64,
                    resolved,
                });
            }
        }
    }

    pub fn finish(&self, end_ms: u64, writes: u64) -> StalenessOutcome {
        let unresolved: Vec<(u64, u64)> = self
            .keys
            .lock()
            .map(|keys| {
                keys.values()
                    .flat_map(|k| k.pending.iter().map(|&c| (c, end_ms.saturating_sub(c))))
                    .collect()
            })
            .unwrap_or_default();
        self.record(&unresolved, false);
        let (staleness_ms, per_write) = self
            .staleness_ms
            .lock()
            .map(|mut recorded| (recorded.0.clone(), std::mem::take(&mut recorded.1)))
            .unwrap_or_else(|_| (latency_histogram(), Vec::new()));
        StalenessOutcome {
            writes,
            stale_reads: self.stale_reads.load(Ordering::Relaxed),
            staleness_ms,
            unresolved_writes: unresolved.len() as u64,
            per_write: sample_writes(per_write, MAX_WRITES_LISTED),
        }
    }
}

/// What the herd rounds add to a strategy's timeline: their requests (on the steady phase's
/// origin and bucket width), when they began and each expiry instant.
#[derive(Debug)]
pub struct HerdTimeline {
    pub recorder: TimelineRecorder,
    pub from: Option<Duration>,
    pub expiries: Vec<Duration>,
}

impl HerdTimeline {
    pub fn new(width_ms: u64) -> Self {
        HerdTimeline {
            recorder: TimelineRecorder::new(width_ms),
            from: None,
            expiries: Vec::new(),
        }
    }
}

/// One expiry of the herd scenario.
#[derive(Debug)]
pub struct HerdOutcome {
    pub keys_expired: usize,
    pub loader_calls: u64,
    pub latency_us: Histogram<u64>,
}

/// Wait this long after the readers return before counting loader calls, so refreshes they
/// started in the background are counted with their expiry.
const HERD_SETTLE: Duration = Duration::from_millis(200);

/// `rounds` times: warm the `hot_keys` hottest keys, delete them all at once in Redis, and
/// release `clients` readers on them together (reader `i` reads hot key `i % hot_keys`). A stop
/// ends it after the round under way: the rounds done are returned.
#[allow(clippy::too_many_arguments)]
pub async fn herd(
    work: &Workload,
    admin: &RedisAdmin,
    prefix: &str,
    clients: usize,
    hot_keys: usize,
    rounds: usize,
    origin: Instant,
    timeline: &mut HerdTimeline,
) -> Result<Vec<HerdOutcome>, BenchError> {
    timeline.from = Some(Instant::now().saturating_duration_since(origin));
    let hot: Arc<Vec<String>> = Arc::new(work.keys.iter().take(hot_keys.max(1)).cloned().collect());
    let redis_keys: Vec<String> = hot
        .iter()
        .map(|k| super::strategies::redis_key(prefix, k))
        .collect();
    let mut outcomes = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        for key in hot.iter() {
            let started = Instant::now();
            let (answer, calls) =
                PgLoader::counting(work.strategy.answer(key, work.loader.as_ref())).await;
            timeline.recorder.request(
                started.saturating_duration_since(origin),
                outcome(&answer),
                answer.is_err(),
                calls,
                started.elapsed().as_micros() as u64,
            );
        }
        tokio::time::sleep(HERD_SETTLE).await;
        if work.stop.is_stopped() {
            break;
        }
        // Redis being down here is the strategies' business (they fail open): the round still
        // runs and their counters show it.
        let _ = admin.del(&redis_keys).await;
        timeline
            .expiries
            .push(Instant::now().saturating_duration_since(origin));
        let calls_before = work.loader.calls();
        let barrier = Arc::new(Barrier::new(clients.max(1)));
        let readers: Vec<_> = (0..clients.max(1))
            .map(|i| {
                let work = work.clone();
                let hot = hot.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let key = &hot[i % hot.len()];
                    barrier.wait().await;
                    let started = Instant::now();
                    let (answer, calls) =
                        PgLoader::counting(work.strategy.answer(key, work.loader.as_ref())).await;
                    (
                        started,
                        outcome(&answer),
                        answer.is_err(),
                        calls,
                        started.elapsed(),
                    )
                })
            })
            .collect();
        let mut latency_us = latency_histogram();
        for reader in readers {
            let (started, from, failed, calls, took) = reader
                .await
                .map_err(|e| BenchError::Query(format!("a herd reader failed: {e}")))?;
            let us = took.as_micros() as u64;
            let _ = latency_us.record(us.max(1));
            timeline.recorder.request(
                started.saturating_duration_since(origin),
                from,
                failed,
                calls,
                us,
            );
        }
        tokio::time::sleep(HERD_SETTLE).await;
        outcomes.push(HerdOutcome {
            keys_expired: hot.len(),
            loader_calls: work.loader.calls() - calls_before,
            latency_us,
        });
    }
    Ok(outcomes)
}
