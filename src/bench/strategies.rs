//! The one place the benchmark constructs cache strategies: `crate::cache` builds them, with the
//! benchmark's database loader for swr's background refreshes.

use std::sync::Arc;

use super::BenchError;
use super::redis_admin::redis_error;
use crate::cache::{CacheStrategy, Loader, RedisClient, Strategy, strategy_with_refresh_loader};

pub use crate::cache::CacheSettings;

/// The Redis client the strategies share, connected eagerly (an unreachable Redis fails here).
/// Later it reconnects by itself; until then the strategies fail open.
pub async fn connect(redis_url: &str) -> Result<Arc<RedisClient>, BenchError> {
    let client = RedisClient::connect(redis_url)
        .await
        .map_err(|e| redis_error(redis_url, e))?;
    Ok(Arc::new(client))
}

/// Construct strategy `name` on `client` (every strategy but `none` needs one); `loader` serves
/// background refreshes (swr), which outlive the request that triggered them. Touches no
/// network: a Redis that died since the client connected cannot keep a strategy from running.
pub fn build(
    name: Strategy,
    client: Option<Arc<RedisClient>>,
    settings: &CacheSettings,
    loader: Arc<dyn Loader>,
) -> Result<Arc<dyn CacheStrategy>, BenchError> {
    let client = if name == Strategy::None { None } else { client };
    strategy_with_refresh_loader(name, client, settings, loader).map_err(|e| BenchError::Redis {
        target: "the strategies' client".into(),
        message: e.to_string(),
    })
}

/// The Redis key under which a strategy caches `key`. The herd's expiry, the NOTIFY listener and
/// the memory sample all address values through this; it must match the strategies' layout.
pub fn redis_key(prefix: &str, key: &str) -> String {
    format!("{prefix}{key}")
}

/// `--strategies` checked against the known names, in the order given, without duplicates; all
/// of them when the list is empty.
pub fn parse_list(list: &[String]) -> Result<Vec<Strategy>, BenchError> {
    let mut names = Vec::new();
    for name in list.iter().flat_map(|s| s.split(',')).map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let strategy: Strategy = name
            .parse()
            .map_err(|_| BenchError::UnknownStrategy(name.to_owned()))?;
        names.push(strategy);
    }
    Ok(in_order(&names))
}

/// The strategies to run: `list` without duplicates, or all of them when it is empty.
pub fn in_order(list: &[Strategy]) -> Vec<Strategy> {
    let mut names: Vec<Strategy> = Vec::new();
    for &strategy in list {
        if !names.contains(&strategy) {
            names.push(strategy);
        }
    }
    if names.is_empty() {
        names = Strategy::ALL.to_vec();
    }
    names
}
