//! The benchmark's own Redis connection: checking Redis is there, measuring memory, clearing the
//! benchmark's key prefix and deleting invalidated keys. Strategies use their own connections. It
//! is a `crate::cache::RedisClient`, so one node and a cluster work alike.

use std::sync::Arc;
use std::time::Duration;

use super::BenchError;
use crate::cache::{CacheError, RedisClient};

/// Bookkeeping may take longer than a cache request (a SCAN over many keys).
const ADMIN_OP_TIMEOUT: Duration = Duration::from_secs(5);

/// The benchmark's administrative Redis connection.
#[derive(Clone)]
pub struct RedisAdmin {
    client: Arc<RedisClient>,
}

impl std::fmt::Debug for RedisAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdmin")
            .field("target", &self.client.target())
            .finish_non_exhaustive()
    }
}

impl RedisAdmin {
    /// Connect (eagerly): an unreachable Redis is an error here, before any work starts.
    pub async fn connect(url: &str) -> Result<RedisAdmin, BenchError> {
        let client = RedisClient::connect_with_timeout(url, ADMIN_OP_TIMEOUT)
            .await
            .map_err(|e| redis_error(url, e))?;
        Ok(RedisAdmin {
            client: Arc::new(client),
        })
    }

    fn error(&self, e: CacheError) -> BenchError {
        BenchError::Redis {
            target: self.client.target().to_owned(),
            message: e.to_string(),
        }
    }

    /// `used_memory` from `INFO memory` (summed over a cluster's masters).
    pub async fn used_memory(&self) -> Result<u64, BenchError> {
        Ok(self
            .client
            .used_memory()
            .await
            .map_err(|e| self.error(e))?
            .unwrap_or(0))
    }

    /// `MEMORY USAGE key`: bytes the key and its value take, `None` when the key is absent.
    pub async fn memory_usage(&self, key: &str) -> Result<Option<u64>, BenchError> {
        self.client
            .memory_usage(key)
            .await
            .map_err(|e| self.error(e))
    }

    pub async fn del(&self, keys: &[String]) -> Result<u64, BenchError> {
        let mut deleted = 0;
        for key in keys {
            if self.client.del(key).await.map_err(|e| self.error(e))? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Delete every key under `prefix` (SCAN, so Redis is never blocked by KEYS).
    pub async fn clear_prefix(&self, prefix: &str) -> Result<u64, BenchError> {
        self.client
            .flush_prefix(prefix)
            .await
            .map_err(|e| self.error(e))
    }
}

/// A Redis error for `url`; the client's messages already leave the password out.
pub fn redis_error(url: &str, e: CacheError) -> BenchError {
    BenchError::Redis {
        target: crate::cache::redact_url(url),
        message: e.to_string(),
    }
}
