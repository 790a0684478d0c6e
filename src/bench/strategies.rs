//! The one place the benchmark constructs cache strategies: `crate::cache` builds them, with the
//! benchmark's database loader for swr's background refreshes.

use std::sync::Arc;

use super::BenchError;
use super::redis_admin::redis_error;
use crate::cache::{CacheStrategy, Loader, RedisClient, strategy_with_refresh_loader};

pub use crate::cache::CacheSettings;

/// Every strategy name, in the order the benchmark runs them by default.
pub const ALL: [&str; 4] = ["none", "cache-aside", "swr", "xfetch"];

/// Construct strategy `name` talking to Redis at `redis_url`; `loader` serves background
/// refreshes (swr), which outlive the request that triggered them.
pub async fn build(
    name: &str,
    redis_url: &str,
    settings: &CacheSettings,
    loader: Arc<dyn Loader>,
) -> Result<Arc<dyn CacheStrategy>, BenchError> {
    if !ALL.contains(&name) {
        return Err(BenchError::UnknownStrategy(name.to_owned()));
    }
    let client = if name == "none" {
        None
    } else {
        let client = RedisClient::connect(redis_url)
            .await
            .map_err(|e| redis_error(redis_url, e))?;
        Some(Arc::new(client))
    };
    strategy_with_refresh_loader(name, client, settings, loader)
        .map_err(|e| redis_error(redis_url, e))
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
