//! Strategy `cache-aside`: `GET`; on a miss load and `SET key v PX ttl`. No herd protection, on
//! purpose: it is the seed's first attempt, and the herd test shows what that costs.
//!
//! Counts: `hits` (a value in Redis), `misses` (absent or undecodable: loaded and stored),
//! `redis_fallbacks` (any Redis error or timeout in the request; answered by the loader),
//! `db_queries` (= misses + fallbacks).

use std::sync::Arc;

use super::common::{Attempt, fail_open, load, note_redis_error};
use super::envelope;
use super::redis_client::RedisClient;
use super::{Answer, BoxFuture, CacheMetrics, CacheStrategy, Loader, Served, ServedFrom};

#[derive(Debug)]
pub struct CacheAside {
    client: Arc<RedisClient>,
    key_prefix: String,
    ttl_ms: u64,
    metrics: CacheMetrics,
}

impl CacheAside {
    pub fn new(client: Arc<RedisClient>, key_prefix: impl Into<String>, ttl_ms: u64) -> Self {
        CacheAside {
            client,
            key_prefix: key_prefix.into(),
            ttl_ms,
            metrics: CacheMetrics::default(),
        }
    }

    async fn attempt(&self, key: &str, loader: &dyn Loader) -> Attempt {
        let redis_key = format!("{}{key}", self.key_prefix);
        match self.client.get(&redis_key).await {
            Err(error) => return fail_open(&self.metrics, error, loader, key).await,
            Ok(Some(bytes)) => {
                if let Some(entry) = envelope::decode(&bytes) {
                    return Ok(Served {
                        value: entry.payload,
                        from: ServedFrom::Hit,
                        loaded_at_ms: entry.loaded_at_ms,
                    });
                }
                // Not our envelope: a miss; the SET below overwrites it.
            }
            Ok(None) => {}
        }
        let loaded = load(&self.metrics, loader, key, ServedFrom::Miss).await?;
        let stored = envelope::encode(
            loaded.loaded_at_ms,
            loaded.loaded_at_ms.saturating_add(self.ttl_ms),
            loaded.delta_ms,
            &loaded.value,
        );
        let from = match self.client.set_px(&redis_key, &stored, self.ttl_ms).await {
            Ok(()) => ServedFrom::Miss,
            Err(error) => {
                note_redis_error(&self.metrics, &error);
                ServedFrom::RedisError
            }
        };
        Ok(Served {
            value: loaded.value,
            from,
            loaded_at_ms: loaded.loaded_at_ms,
        })
    }
}

impl CacheStrategy for CacheAside {
    fn name(&self) -> &'static str {
        super::Strategy::CacheAside.as_str()
    }

    fn serve<'a>(&'a self, key: &'a str, loader: &'a dyn Loader) -> BoxFuture<'a, Answer> {
        Box::pin(self.attempt(key, loader))
    }

    fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }
}
