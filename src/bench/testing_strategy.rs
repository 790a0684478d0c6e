//! Private stand-ins for the real strategies of `src/cache/`, used only by [`super::strategies`]
//! until the merge: no cache at all, and a minimal cache-aside (GET, on a miss load and SET PX).
//!
//! Values are stored as an 8-byte big-endian `loaded_at_ms` followed by the payload, so a hit
//! knows when its value was loaded. `loaded_at_ms` is taken *before* the query starts: a load
//! that began before a write committed is then never mistaken for a fresh one.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::strategies::CacheSettings;
use super::{BenchError, now_ms};
use crate::cache::{BoxFuture, CacheMetrics, CacheStrategy, LoadError, Loader, Served, ServedFrom};

/// Strategy `none`: every request goes to the database.
#[derive(Debug, Default)]
pub(crate) struct NoCache {
    metrics: CacheMetrics,
}

impl CacheStrategy for NoCache {
    fn name(&self) -> &'static str {
        "none"
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
        loader: &'a dyn Loader,
    ) -> BoxFuture<'a, Result<Served, LoadError>> {
        Box::pin(async move {
            self.metrics.count(&self.metrics.requests);
            let loaded_at_ms = now_ms();
            self.metrics.count(&self.metrics.db_queries);
            let value = loader.load(key).await?;
            self.metrics.count(&self.metrics.database);
            Ok(Served {
                value,
                from: ServedFrom::Database,
                loaded_at_ms,
            })
        })
    }

    fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }
}

/// Minimal cache-aside: no lock, so every reader that misses loads (the herd the real strategies
/// are measured against).
pub(crate) struct CacheAside {
    redis: ConnectionManager,
    ttl_ms: u64,
    prefix: String,
    metrics: CacheMetrics,
}

impl std::fmt::Debug for CacheAside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheAside")
            .field("ttl_ms", &self.ttl_ms)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl CacheAside {
    pub(crate) async fn connect(url: &str, settings: &CacheSettings) -> Result<Self, BenchError> {
        let redis = super::redis_admin::connection_manager(url).await?;
        Ok(CacheAside {
            redis,
            ttl_ms: settings.ttl_ms.max(1),
            prefix: settings.key_prefix.clone(),
            metrics: CacheMetrics::default(),
        })
    }

    async fn fetch(&self, redis_key: &str) -> redis::RedisResult<Option<Vec<u8>>> {
        let mut conn = self.redis.clone();
        redis::cmd("GET")
            .arg(redis_key)
            .query_async::<Option<Vec<u8>>>(&mut conn)
            .await
    }
}

fn split_envelope(bytes: &[u8]) -> Option<(u64, Vec<u8>)> {
    let stamp: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(stamp), bytes[8..].to_vec()))
}

impl CacheStrategy for CacheAside {
    fn name(&self) -> &'static str {
        "cache-aside"
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
        loader: &'a dyn Loader,
    ) -> BoxFuture<'a, Result<Served, LoadError>> {
        Box::pin(async move {
            let m = &self.metrics;
            m.count(&m.requests);
            let redis_key = super::strategies::redis_key(&self.prefix, key);
            let cached = tokio::time::timeout(Duration::from_secs(1), self.fetch(&redis_key)).await;
            let redis_ok = match cached {
                Ok(Ok(Some(bytes))) => {
                    if let Some((loaded_at_ms, value)) = split_envelope(&bytes) {
                        m.count(&m.hits);
                        return Ok(Served {
                            value,
                            from: ServedFrom::Hit,
                            loaded_at_ms,
                        });
                    }
                    true
                }
                Ok(Ok(None)) => true,
                Ok(Err(_)) | Err(_) => {
                    m.count(&m.redis_errors);
                    false
                }
            };
            let loaded_at_ms = now_ms();
            m.count(&m.db_queries);
            let value = loader.load(key).await?;
            if redis_ok {
                let mut envelope = Vec::with_capacity(8 + value.len());
                envelope.extend_from_slice(&loaded_at_ms.to_be_bytes());
                envelope.extend_from_slice(&value);
                let mut conn = self.redis.clone();
                let stored = redis::cmd("SET")
                    .arg(&redis_key)
                    .arg(envelope)
                    .arg("PX")
                    .arg(self.ttl_ms)
                    .query_async::<()>(&mut conn)
                    .await;
                if stored.is_err() {
                    m.count(&m.redis_errors);
                }
                m.count(&m.misses);
            } else {
                m.count(&m.redis_fallbacks);
            }
            Ok(Served {
                value,
                from: if redis_ok {
                    ServedFrom::Miss
                } else {
                    ServedFrom::RedisError
                },
                loaded_at_ms,
            })
        })
    }

    fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }
}
