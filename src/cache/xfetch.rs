//! Strategy `xfetch`: probabilistic early recomputation (Vattani, Chierichetti, Lowenstein,
//! "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015).
//!
//! The envelope stores the value's expiry (`refresh_at_ms` = load time + `ttl_ms`, the instant
//! Redis drops the key) and `delta`, how long the load took. A reader recomputes early when
//! `now - delta * beta * ln(r) >= expiry`, with `r` uniform in (0, 1]: the closer the expiry and
//! the costlier the recompute, the likelier. `beta > 1` favours earlier recomputation.
//!
//! The early recompute is done by the reader that drew it, synchronously, and it serves the new
//! value. Counts: a present entry is a `hit` whether or not the reader recomputed; an early
//! recompute also counts `refreshes` and `db_queries` (and `refresh_latency_us`). `misses` are
//! only absent (or expired, or undecodable) entries, handled as cache-aside. So
//! `db_queries = misses + refreshes + redis_fallbacks`, and a well-tuned run has no misses after
//! warm-up. A failed early recompute serves the cached value, which is still valid. A Redis
//! error anywhere in a request makes it a `redis_fallbacks`.

use std::sync::Arc;
use std::time::Instant;

use super::common::{Attempt, Loaded, fail_open, load, note_redis_error, now_ms};
use super::envelope;
use super::redis_client::RedisClient;
use super::{Answer, BoxFuture, CacheMetrics, CacheStrategy, Loader, Served, ServedFrom};

pub const DEFAULT_BETA: f64 = 1.0;

#[derive(Debug)]
pub struct XFetch {
    client: Arc<RedisClient>,
    key_prefix: String,
    ttl_ms: u64,
    beta: f64,
    metrics: CacheMetrics,
}

impl XFetch {
    pub fn new(
        client: Arc<RedisClient>,
        key_prefix: impl Into<String>,
        ttl_ms: u64,
        beta: f64,
    ) -> Self {
        XFetch {
            client,
            key_prefix: key_prefix.into(),
            ttl_ms,
            beta: if beta.is_finite() && beta >= 0.0 {
                beta
            } else {
                DEFAULT_BETA
            },
            metrics: CacheMetrics::default(),
        }
    }

    /// Whether a reader at `now_ms` should recompute a value expiring at `expiry_ms` whose
    /// recompute took `delta_ms`, given a draw `r` in (0, 1].
    pub fn should_recompute(now_ms: u64, expiry_ms: u64, delta_ms: u64, beta: f64, r: f64) -> bool {
        let head_start_ms = delta_ms as f64 * beta * -r.ln();
        now_ms as f64 + head_start_ms >= expiry_ms as f64
    }

    /// Store; false (and a counted error) when Redis failed.
    async fn store(&self, redis_key: &str, loaded: &Loaded) -> bool {
        let stored = envelope::encode(
            loaded.loaded_at_ms,
            loaded.loaded_at_ms.saturating_add(self.ttl_ms),
            loaded.delta_ms,
            &loaded.value,
        );
        match self.client.set_px(redis_key, &stored, self.ttl_ms).await {
            Ok(()) => true,
            Err(error) => {
                note_redis_error(&self.metrics, &error);
                false
            }
        }
    }

    async fn attempt(&self, key: &str, loader: &dyn Loader) -> Attempt {
        let redis_key = format!("{}{key}", self.key_prefix);
        let entry = match self.client.get(&redis_key).await {
            Err(error) => return fail_open(&self.metrics, error, loader, key).await,
            Ok(bytes) => bytes.as_deref().and_then(envelope::decode),
        };
        let now = now_ms();
        let early = match entry {
            Some(entry) if now < entry.refresh_at_ms => {
                // 1 - [0, 1) is (0, 1]: ln stays finite.
                let r = 1.0 - rand::random::<f64>();
                let cached = Served {
                    value: entry.payload,
                    from: ServedFrom::Hit,
                    loaded_at_ms: entry.loaded_at_ms,
                };
                if !Self::should_recompute(now, entry.refresh_at_ms, entry.delta_ms, self.beta, r) {
                    return Ok(cached);
                }
                Some(cached)
            }
            _ => None,
        };
        let Some(cached) = early else {
            let loaded = load(&self.metrics, loader, key, ServedFrom::Miss).await?;
            return Ok(self
                .store_and_serve(&redis_key, loaded, ServedFrom::Miss)
                .await);
        };
        self.metrics.count(&self.metrics.refreshes);
        let started = Instant::now();
        match load(&self.metrics, loader, key, ServedFrom::Hit).await {
            Ok(loaded) => {
                let served = self
                    .store_and_serve(&redis_key, loaded, ServedFrom::Hit)
                    .await;
                self.metrics
                    .record_refresh_us(started.elapsed().as_micros() as u64);
                Ok(served)
            }
            // The cached value is still valid: a failed early recompute costs the reader nothing.
            Err(_) => Ok(cached),
        }
    }

    async fn store_and_serve(&self, redis_key: &str, loaded: Loaded, from: ServedFrom) -> Served {
        let stored = self.store(redis_key, &loaded).await;
        Served {
            from: if stored { from } else { ServedFrom::RedisError },
            loaded_at_ms: loaded.loaded_at_ms,
            value: loaded.value,
        }
    }
}

impl CacheStrategy for XFetch {
    fn name(&self) -> &'static str {
        super::Strategy::Xfetch.as_str()
    }

    fn serve<'a>(&'a self, key: &'a str, loader: &'a dyn Loader) -> BoxFuture<'a, Answer> {
        Box::pin(self.attempt(key, loader))
    }

    fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::XFetch;

    #[test]
    fn recompute_probability_follows_the_formula() {
        // Far from expiry, a cheap value is never recomputed, whatever the draw.
        assert!(!XFetch::should_recompute(0, 60_000, 10, 1.0, 1e-9));
        // At or past expiry, always.
        assert!(XFetch::should_recompute(60_000, 60_000, 10, 1.0, 1.0));
        // r = 1 means no head start: only at expiry.
        assert!(!XFetch::should_recompute(59_999, 60_000, 10_000, 1.0, 1.0));
        // delta * beta * -ln(r) = 100 * 2 * ln(e) = 200 ms head start.
        let r = (-1.0f64).exp();
        assert!(XFetch::should_recompute(59_800, 60_000, 100, 2.0, r));
        assert!(!XFetch::should_recompute(59_790, 60_000, 100, 2.0, r));
        // beta = 0 turns it off.
        assert!(!XFetch::should_recompute(59_999, 60_000, 10_000, 0.0, 1e-9));
    }
}
