//! The one place the benchmark constructs cache strategies.
//!
//! MERGE POINT: until `src/cache/` provides the real strategies, [`build`] uses the private
//! minimal ones in `testing_strategy.rs` (`none`, `cache-aside`) and reports `swr` and `xfetch`
//! as unavailable, and [`CacheSettings`] mirrors `crate::cache::CacheSettings`. At the merge,
//! replace the body of `build` with `crate::cache::strategy(name, Some(redis), settings)` (after
//! `RedisClient::connect(redis_url)`), re-export `crate::cache::CacheSettings` here instead of the
//! struct below, and delete `testing_strategy.rs`.

use std::sync::Arc;

use super::BenchError;
use super::testing_strategy;
use crate::cache::CacheStrategy;

/// Every strategy name, in the order the benchmark runs them by default.
pub const ALL: [&str; 4] = ["none", "cache-aside", "swr", "xfetch"];

/// How a strategy caches (mirrors `crate::cache::CacheSettings`; see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// Hard expiry of a cached value.
    pub ttl_ms: u64,
    /// After this age a value is stale: served while one request refreshes it (swr).
    pub soft_ttl_ms: u64,
    /// How long a refresh lock is held at most.
    pub lock_ms: u64,
    /// XFetch's beta (1.0 is the paper's default; larger refreshes earlier).
    pub xfetch_beta: f64,
    /// Prepended to every key in Redis; the benchmark clears everything under it.
    pub key_prefix: String,
}

/// Construct strategy `name` talking to Redis at `redis_url`.
pub async fn build(
    name: &str,
    redis_url: &str,
    settings: &CacheSettings,
) -> Result<Arc<dyn CacheStrategy>, BenchError> {
    match name {
        "none" => Ok(Arc::new(testing_strategy::NoCache::default())),
        "cache-aside" => Ok(Arc::new(
            testing_strategy::CacheAside::connect(redis_url, settings).await?,
        )),
        "swr" | "xfetch" => Err(BenchError::StrategyUnavailable(name.to_owned())),
        other => Err(BenchError::UnknownStrategy(other.to_owned())),
    }
}

/// The Redis key under which a strategy caches `key`. The herd's expiry, the NOTIFY listener and
/// the memory sample all address values through this; it must match the strategies' layout.
pub fn redis_key(prefix: &str, key: &str) -> String {
    format!("{prefix}{key}")
}

/// `--strategies` checked against the known names, in the order given, without duplicates.
pub fn parse_list(list: &[String]) -> Result<Vec<String>, BenchError> {
    let mut names: Vec<String> = Vec::new();
    for name in list.iter().flat_map(|s| s.split(',')).map(str::trim) {
        if name.is_empty() {
            continue;
        }
        if !ALL.contains(&name) {
            return Err(BenchError::UnknownStrategy(name.to_owned()));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if names.is_empty() {
        names = ALL.iter().map(|s| (*s).to_owned()).collect();
    }
    Ok(names)
}
