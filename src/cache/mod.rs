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

/// Where a request's answer came from.
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

/// One answered request.
#[derive(Debug, Clone)]
pub struct Served {
    pub value: Vec<u8>,
    pub from: ServedFrom,
    /// When the served value was loaded from the database (ms since the Unix epoch): a read
    /// of a value loaded before the key's last write is a stale read.
    pub loaded_at_ms: u64,
}

/// A caching strategy.
pub trait CacheStrategy: Send + Sync {
    /// `none`, `cache-aside`, `swr` or `xfetch`.
    fn name(&self) -> &'static str;
    /// Answer one request for `key`, loading through `loader` when needed. Never fails because
    /// of Redis (fail-open); fails only when the database does.
    fn get<'a>(
        &'a self,
        key: &'a str,
        loader: &'a dyn Loader,
    ) -> BoxFuture<'a, Result<Served, LoadError>>;
    fn metrics(&self) -> &CacheMetrics;
}

/// Counters every strategy keeps. Exact: `hits + misses + stale_serves + database +
/// redis_fallbacks == requests`.
#[derive(Debug, Default)]
pub struct CacheMetrics {
    pub requests: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stale_serves: AtomicU64,
    /// Requests answered by the database because there is no cache (strategy `none`).
    pub database: AtomicU64,
    /// Requests answered by the database because Redis failed.
    pub redis_fallbacks: AtomicU64,
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
        MetricsSnapshot {
            requests: get(&self.requests),
            hits: get(&self.hits),
            misses: get(&self.misses),
            stale_serves: get(&self.stale_serves),
            database: get(&self.database),
            redis_fallbacks: get(&self.redis_fallbacks),
            refreshes: get(&self.refreshes),
            lock_contention: get(&self.lock_contention),
            db_queries: get(&self.db_queries),
            redis_errors: get(&self.redis_errors),
            refresh_p99_us: refresh.map(|r| r.0),
            refresh_max_us: refresh.map(|r| r.1),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    pub stale_serves: u64,
    pub database: u64,
    pub redis_fallbacks: u64,
    pub refreshes: u64,
    pub lock_contention: u64,
    pub db_queries: u64,
    pub redis_errors: u64,
    pub refresh_p99_us: Option<u64>,
    pub refresh_max_us: Option<u64>,
}

pub mod cache_aside;
mod common;
pub mod envelope;
pub mod none;
pub mod redis_client;
pub mod swr;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
