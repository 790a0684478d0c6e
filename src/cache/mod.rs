//! The Redis cache layer `pgdiag bench` measures: strategies behind one trait (none, cache-aside,
//! stale-while-revalidate with a refresh lock, probabilistic early recomputation), their metrics,
//! and a Redis client that speaks to one node or a cluster and fails open when Redis is down.
//!
//! Values are stored in a compact envelope (see `envelope.rs`) that carries the time the value was
//! loaded, so the bench can tell stale reads from fresh ones without decoding the payload.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A boxed future, for the object-safe traits below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The database side of the cache: computes the value for a key (runs the query with `$1` = key).
pub trait Loader: Send + Sync {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, LoadError>>;
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("loading {key} from the database failed: {message}")]
pub struct LoadError {
    pub key: String,
    pub message: String,
}

/// Where a request's answer came from: every request ends in exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServedFrom {
    /// Fresh value from Redis.
    Hit,
    /// Not cached (or expired): loaded from the database by this request.
    Miss,
    /// A value past its soft expiry, served at once while a refresh runs.
    Stale,
    /// No cache at all (strategy `none`): the database answered.
    Database,
    /// Redis failed; the database answered (fail-open).
    RedisError,
}

impl ServedFrom {
    /// Every outcome, in the order counters list them.
    pub const ALL: [ServedFrom; 5] = [
        ServedFrom::Hit,
        ServedFrom::Miss,
        ServedFrom::Stale,
        ServedFrom::Database,
        ServedFrom::RedisError,
    ];

    fn index(self) -> usize {
        match self {
            ServedFrom::Hit => 0,
            ServedFrom::Miss => 1,
            ServedFrom::Stale => 2,
            ServedFrom::Database => 3,
            ServedFrom::RedisError => 4,
        }
    }
}

/// One answered request.
#[derive(Debug, Clone)]
pub struct Served {
    pub value: Vec<u8>,
    pub from: ServedFrom,
    /// When the served value was loaded from the database (ms since the Unix epoch): a read
    /// of a value loaded before the key's last write is a stale read.
    pub loaded_at_ms: u64,
}

/// A request the database failed, with the outcome it is counted in: where its answer would
/// have come from (a miss whose load failed is still a miss; the failure is counted apart).
#[derive(Debug, Clone)]
pub struct Failed {
    pub from: ServedFrom,
    pub error: LoadError,
}

impl Failed {
    pub fn new(from: ServedFrom, error: LoadError) -> Self {
        Failed { from, error }
    }
}

/// How one request ended: its answer, or the database's failure; either way one outcome.
pub type Answer = Result<Served, Failed>;

/// The outcome of an [`Answer`].
pub fn outcome(answer: &Answer) -> ServedFrom {
    match answer {
        Ok(served) => served.from,
        Err(failed) => failed.from,
    }
}

/// A caching strategy. Implementations answer requests ([`CacheStrategy::serve`]) and return
/// each one's outcome; they never count requests or outcomes themselves: the provided
/// [`CacheStrategy::answer`] records the one outcome, once, in the strategy's [`Outcomes`].
pub trait CacheStrategy: Send + Sync {
    /// `none`, `cache-aside`, `swr` or `xfetch`.
    fn name(&self) -> &'static str;
    /// Answer one request for `key`, loading through `loader` when needed, without recording
    /// it. Never fails because of Redis (fail-open); fails only when the database does.
    fn serve<'a>(&'a self, key: &'a str, loader: &'a dyn Loader) -> BoxFuture<'a, Answer>;
    fn metrics(&self) -> &CacheMetrics;

    /// Answer one request and record its outcome in [`CacheMetrics::outcomes`].
    fn answer<'a>(&'a self, key: &'a str, loader: &'a dyn Loader) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let answer = self.serve(key, loader).await;
            self.metrics().outcomes.record(outcome(&answer));
            answer
        })
    }

    /// [`CacheStrategy::answer`], with only the database's error on failure.
    fn get<'a>(
        &'a self,
        key: &'a str,
        loader: &'a dyn Loader,
    ) -> BoxFuture<'a, Result<Served, LoadError>> {
        Box::pin(async move { self.answer(key, loader).await.map_err(|f| f.error) })
    }
}

/// Requests by outcome, as plain numbers. There is no separate request counter: `requests()` is
/// the sum of the outcomes, so `hits + misses + stale_serves + database + redis_fallbacks ==
/// requests` holds by construction and every rate is at most 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    pub hits: u64,
    pub misses: u64,
    pub stale_serves: u64,
    pub database: u64,
    pub redis_fallbacks: u64,
}

impl OutcomeCounts {
    fn from_array(counts: [u64; 5]) -> Self {
        OutcomeCounts {
            hits: counts[0],
            misses: counts[1],
            stale_serves: counts[2],
            database: counts[3],
            redis_fallbacks: counts[4],
        }
    }

    fn as_array(&self) -> [u64; 5] {
        [
            self.hits,
            self.misses,
            self.stale_serves,
            self.database,
            self.redis_fallbacks,
        ]
    }

    /// Count one request that ended in `from`.
    pub fn record(&mut self, from: ServedFrom) {
        let mut counts = self.as_array();
        counts[from.index()] += 1;
        *self = Self::from_array(counts);
    }

    /// Every request recorded: the sum of the outcomes.
    pub fn requests(&self) -> u64 {
        self.as_array().iter().sum()
    }

    pub fn add(&mut self, other: &OutcomeCounts) {
        let mut counts = self.as_array();
        for (count, more) in counts.iter_mut().zip(other.as_array()) {
            *count += more;
        }
        *self = Self::from_array(counts);
    }

    /// The share of requests that ended in `from` (0 when there were none): at most 1.
    pub fn rate(&self, from: ServedFrom) -> f64 {
        match self.requests() {
            0 => 0.0,
            requests => self.as_array()[from.index()] as f64 / requests as f64,
        }
    }
}

/// The one recorder of request outcomes, shared by concurrent requests: one atomic per outcome
/// and nothing else, so a count read at any moment (even while requests are in flight) balances.
#[derive(Debug, Default)]
pub struct Outcomes([AtomicU64; 5]);

impl Outcomes {
    pub fn record(&self, from: ServedFrom) {
        self.0[from.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> OutcomeCounts {
        OutcomeCounts::from_array(std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
    }
}

/// Counters every strategy keeps: the outcome of every request (recorded by
/// [`CacheStrategy::answer`]) and the events the strategy counts itself.
#[derive(Debug, Default)]
pub struct CacheMetrics {
    pub outcomes: Outcomes,
    /// Background or early recomputations started (swr, xfetch).
    pub refreshes: AtomicU64,
    /// Times a request wanted the refresh lock and another holder had it.
    pub lock_contention: AtomicU64,
    /// Loader calls, whatever triggered them.
    pub db_queries: AtomicU64,
    pub redis_errors: AtomicU64,
    /// Refresh (load + store) latency in microseconds.
    pub refresh_latency_us: Mutex<Option<hdrhistogram::Histogram<u64>>>,
}

impl CacheMetrics {
    pub fn count(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_refresh_us(&self, us: u64) {
        if let Ok(mut guard) = self.refresh_latency_us.lock() {
            let histogram = guard.get_or_insert_with(|| {
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("valid histogram bounds")
            });
            let _ = histogram.record(us.max(1));
        }
    }

    /// A plain copy of the counters.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let refresh = self
            .refresh_latency_us
            .lock()
            .ok()
            .and_then(|h| h.as_ref().map(|h| (h.value_at_quantile(0.99), h.max())));
        let mut snapshot = MetricsSnapshot {
            refreshes: get(&self.refreshes),
            lock_contention: get(&self.lock_contention),
            db_queries: get(&self.db_queries),
            redis_errors: get(&self.redis_errors),
            refresh_p99_us: refresh.map(|r| r.0),
            refresh_max_us: refresh.map(|r| r.1),
            ..MetricsSnapshot::default()
        };
        snapshot.set_outcomes(self.outcomes.counts());
        snapshot
    }
}

/// The counters as numbers. The outcome fields and `requests` are only ever set together
/// ([`MetricsSnapshot::set_outcomes`]), so `requests` is their sum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MetricsSnapshot {
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    pub stale_serves: u64,
    /// Requests answered by the database because there is no cache (strategy `none`).
    pub database: u64,
    /// Requests answered by the database because Redis failed.
    pub redis_fallbacks: u64,
    pub refreshes: u64,
    pub lock_contention: u64,
    pub db_queries: u64,
    pub redis_errors: u64,
    pub refresh_p99_us: Option<u64>,
    pub refresh_max_us: Option<u64>,
}

impl MetricsSnapshot {
    /// The outcome counters.
    pub fn outcomes(&self) -> OutcomeCounts {
        OutcomeCounts {
            hits: self.hits,
            misses: self.misses,
            stale_serves: self.stale_serves,
            database: self.database,
            redis_fallbacks: self.redis_fallbacks,
        }
    }

    /// Replace the outcome counters, and `requests` with their sum.
    pub fn set_outcomes(&mut self, outcomes: OutcomeCounts) {
        self.requests = outcomes.requests();
        self.hits = outcomes.hits;
        self.misses = outcomes.misses;
        self.stale_serves = outcomes.stale_serves;
        self.database = outcomes.database;
        self.redis_fallbacks = outcomes.redis_fallbacks;
    }
}

pub mod advice;
pub mod advising;
pub mod cache_aside;
mod common;
pub mod envelope;
pub mod none;
pub mod redis_client;
pub mod swr;
pub mod verification;
pub mod xfetch;

pub use cache_aside::CacheAside;
pub use none::NoCache;
pub use redis_client::{CacheError, RedisClient, RedisUrl, redact_url};
pub use swr::Swr;
pub use xfetch::XFetch;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The strategies [`strategy`] builds: the one list, with the names flags, reports and metrics
/// labels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Every request goes to the database (the baseline).
    None,
    CacheAside,
    /// Stale-while-revalidate.
    Swr,
    /// Probabilistic early expiration.
    Xfetch,
}

impl Strategy {
    /// Every strategy, in the order the benchmark runs them by default.
    pub const ALL: [Strategy; 4] = [
        Strategy::None,
        Strategy::CacheAside,
        Strategy::Swr,
        Strategy::Xfetch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::CacheAside => "cache-aside",
            Strategy::Swr => "swr",
            Strategy::Xfetch => "xfetch",
        }
    }

    /// `none, cache-aside, swr, xfetch`, for messages.
    pub fn names() -> String {
        Strategy::ALL.map(Strategy::as_str).join(", ")
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = CacheError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| CacheError::UnknownStrategy {
                name: name.to_owned(),
            })
    }
}

/// Cache settings shared by the strategies (from a config file or flags; every field optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Hard TTL: how long Redis keeps a value (`PX`). Default 60 s.
    pub ttl_ms: u64,
    /// swr: when a value turns stale and is refreshed in the background. Default 45 s.
    pub soft_ttl_ms: u64,
    /// swr: the refresh lock's expiry. Default 5 s.
    pub lock_ms: u64,
    /// swr: how long a cold-key lock loser waits for the winner before loading itself. Default 1 s.
    pub lock_wait_ms: u64,
    /// xfetch: > 1 recomputes earlier, < 1 later. Default 1.0.
    pub xfetch_beta: f64,
    /// Prefix of every key a strategy writes (locks included). Default `pgdiag:bench:`.
    pub key_prefix: String,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            ttl_ms: 60_000,
            soft_ttl_ms: 45_000,
            lock_ms: 5_000,
            lock_wait_ms: swr::DEFAULT_LOCK_WAIT_MS,
            xfetch_beta: xfetch::DEFAULT_BETA,
            key_prefix: "pgdiag:bench:".to_string(),
        }
    }
}

/// Build a strategy. Every strategy but `none` needs `client`.
/// `swr` built here refreshes stale values inline in the request that wins the refresh lock; see
/// [`strategy_with_refresh_loader`] for background refreshes.
pub fn strategy(
    name: Strategy,
    client: Option<Arc<RedisClient>>,
    settings: &CacheSettings,
) -> Result<Arc<dyn CacheStrategy>, CacheError> {
    build_strategy(name, client, settings, None)
}

/// Like [`strategy`], but `swr` refreshes stale values on a background task with
/// `refresh_loader`. The trait lends `get` its loader only for the request's duration, so a
/// detached refresh needs an owned one; pass the same loader the requests use.
pub fn strategy_with_refresh_loader(
    name: Strategy,
    client: Option<Arc<RedisClient>>,
    settings: &CacheSettings,
    refresh_loader: Arc<dyn Loader>,
) -> Result<Arc<dyn CacheStrategy>, CacheError> {
    build_strategy(name, client, settings, Some(refresh_loader))
}

fn build_strategy(
    name: Strategy,
    client: Option<Arc<RedisClient>>,
    settings: &CacheSettings,
    refresh_loader: Option<Arc<dyn Loader>>,
) -> Result<Arc<dyn CacheStrategy>, CacheError> {
    let need_client = || {
        client.clone().ok_or_else(|| CacheError::MissingClient {
            name: name.to_string(),
        })
    };
    let prefix = settings.key_prefix.clone();
    Ok(match name {
        Strategy::None => Arc::new(NoCache::new()),
        Strategy::CacheAside => Arc::new(CacheAside::new(need_client()?, prefix, settings.ttl_ms)),
        Strategy::Swr => {
            let swr = Swr::new(
                need_client()?,
                prefix,
                settings.soft_ttl_ms,
                settings.ttl_ms,
                settings.lock_ms,
            )
            .with_lock_wait_ms(settings.lock_wait_ms);
            match refresh_loader {
                Some(loader) => Arc::new(swr.with_refresh_loader(loader)),
                None => Arc::new(swr),
            }
        }
        Strategy::Xfetch => Arc::new(XFetch::new(
            need_client()?,
            prefix,
            settings.ttl_ms,
            settings.xfetch_beta,
        )),
    })
}

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn the_recorder_counts_each_request_once_and_requests_are_the_sum() {
        let outcomes = Outcomes::default();
        let sequence = [
            ServedFrom::Hit,
            ServedFrom::Hit,
            ServedFrom::Miss,
            ServedFrom::Stale,
            ServedFrom::Database,
            ServedFrom::RedisError,
            ServedFrom::RedisError,
        ];
        for from in sequence {
            outcomes.record(from);
        }
        let counts = outcomes.counts();
        assert_eq!(
            counts,
            OutcomeCounts {
                hits: 2,
                misses: 1,
                stale_serves: 1,
                database: 1,
                redis_fallbacks: 2,
            }
        );
        assert_eq!(counts.requests(), 7);
        let rates: f64 = ServedFrom::ALL.iter().map(|&f| counts.rate(f)).sum();
        assert!((rates - 1.0).abs() < 1e-12, "{rates}");
        assert_eq!(counts.rate(ServedFrom::Hit), 2.0 / 7.0);
        assert_eq!(OutcomeCounts::default().rate(ServedFrom::Hit), 0.0);

        // Plain counts merge, and a snapshot's requests is always the sum it holds.
        let mut local = OutcomeCounts::default();
        local.record(ServedFrom::Miss);
        local.add(&counts);
        assert_eq!((local.requests(), local.misses), (8, 2));
        let mut snapshot = MetricsSnapshot::default();
        snapshot.set_outcomes(local);
        assert_eq!(snapshot.requests, 8);
        assert_eq!(snapshot.outcomes(), local);
    }

    #[test]
    fn concurrent_recording_balances_at_every_read() {
        let outcomes = std::sync::Arc::new(Outcomes::default());
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let outcomes = outcomes.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        outcomes.record(ServedFrom::ALL[(i + t) % 5]);
                    }
                })
            })
            .collect();
        // Reads while writers run: every read balances and no rate exceeds 1.
        for _ in 0..1_000 {
            let counts = outcomes.counts();
            let sum: u64 = [
                counts.hits,
                counts.misses,
                counts.stale_serves,
                counts.database,
                counts.redis_fallbacks,
            ]
            .iter()
            .sum();
            assert_eq!(sum, counts.requests());
            assert!(ServedFrom::ALL.iter().all(|&f| counts.rate(f) <= 1.0));
        }
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(outcomes.counts().requests(), 40_000);
        assert_eq!(outcomes.counts().hits, 8_000);
    }

    #[test]
    fn settings_default_when_absent() {
        let settings: CacheSettings = serde_json::from_str(r#"{"ttl_ms": 1000}"#).unwrap();
        assert_eq!(settings.ttl_ms, 1000);
        assert_eq!(settings.soft_ttl_ms, 45_000);
        assert_eq!(settings.lock_ms, 5_000);
        assert_eq!(settings.xfetch_beta, 1.0);
        assert_eq!(settings.key_prefix, "pgdiag:bench:");
    }

    #[test]
    fn strategies_build_by_name() {
        let settings = CacheSettings::default();
        assert_eq!(
            strategy(Strategy::None, None, &settings).unwrap().name(),
            "none"
        );
        let Err(error) = strategy(Strategy::Swr, None, &settings) else {
            panic!("swr without a client must fail")
        };
        assert!(matches!(error, CacheError::MissingClient { .. }), "{error}");
        for s in Strategy::ALL {
            assert_eq!(s.as_str().parse::<Strategy>().unwrap(), s);
        }
        let error = "lru".parse::<Strategy>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown cache strategy \"lru\"; expected one of none, cache-aside, swr, xfetch"
        );
    }
}
