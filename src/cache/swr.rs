//! Strategy `swr`: stale-while-revalidate with a refresh lock.
//!
//! Each entry carries a soft expiry (`refresh_at`, `soft_ttl_ms` after the load) and a hard one
//! (the Redis `PX`, `ttl_ms`).
//! - Fresh: a hit.
//! - Past `refresh_at`: the stale value is served at once (`stale_serves`); the request that wins
//!   `SET lock:key token NX PX lock_ms` refreshes, the others count `lock_contention`.
//! - Absent (cold or hard-expired): the lock winner loads, stores and releases the lock with a
//!   compare-and-delete (a miss); losers count `lock_contention` and poll the cache with backoff
//!   for up to `lock_wait_ms`, serving the winner's value as a hit, so a herd of N cold readers
//!   costs one query. Past the bound a loser loads itself (fail-safe, a miss).
//! - A lock winner re-checks the cache before querying: another refresher may have just finished.
//!
//! The refresh of a stale entry runs on `tokio::spawn` when the strategy was given an owned
//! loader ([`Swr::with_refresh_loader`]). The trait only lends `get` its loader for the request's
//! duration, so without one the winning request refreshes inline and then serves the stale value
//! (still one refresh per lock; only the winner waits).
//!
//! Counts: `refreshes` = stale-entry refreshes that queried the database (cold loads are misses);
//! `refresh_latency_us` = their load + store time; `db_queries` = misses + refreshes + fallbacks.
//! Redis errors: a request with no value at hand when Redis fails (the first `GET`, the cold
//! lock, a waiter's poll, the winner's store or release) is answered by the loader and counts in
//! `redis_fallbacks`. A request that already has a stale value to serve stays a stale serve when
//! taking the lock or refreshing fails; those errors, like a background refresh's, only count
//! `redis_errors`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::common::{Attempt, fail_open, load, lock_token, note_redis_error, now_ms};
use super::envelope::{self, Envelope};
use super::redis_client::RedisClient;
use super::{Answer, BoxFuture, CacheMetrics, CacheStrategy, Loader, Served, ServedFrom};

/// Default bound on how long a cold-key lock loser waits for the winner's value.
pub const DEFAULT_LOCK_WAIT_MS: u64 = 1_000;

/// The part a background refresh needs to own.
#[derive(Debug)]
struct Shared {
    client: Arc<RedisClient>,
    key_prefix: String,
    soft_ttl_ms: u64,
    ttl_ms: u64,
    lock_ms: u64,
    lock_wait_ms: u64,
    metrics: CacheMetrics,
}

pub struct Swr {
    shared: Arc<Shared>,
    refresh_loader: Option<Arc<dyn Loader>>,
}

impl std::fmt::Debug for Swr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Swr")
            .field("shared", &self.shared)
            .field("background_refresh", &self.refresh_loader.is_some())
            .finish()
    }
}

impl Swr {
    /// `soft_ttl_ms` until a value is stale, `ttl_ms` until Redis drops it, `lock_ms` the refresh
    /// lock's expiry (a crashed refresher's lock frees itself).
    pub fn new(
        client: Arc<RedisClient>,
        key_prefix: impl Into<String>,
        soft_ttl_ms: u64,
        ttl_ms: u64,
        lock_ms: u64,
    ) -> Self {
        Swr {
            shared: Arc::new(Shared {
                client,
                key_prefix: key_prefix.into(),
                soft_ttl_ms: soft_ttl_ms.min(ttl_ms),
                ttl_ms,
                lock_ms,
                lock_wait_ms: DEFAULT_LOCK_WAIT_MS,
                metrics: CacheMetrics::default(),
            }),
            refresh_loader: None,
        }
    }

    /// Refresh stale entries in the background with this loader (see the module docs).
    pub fn with_refresh_loader(mut self, loader: Arc<dyn Loader>) -> Self {
        self.refresh_loader = Some(loader);
        self
    }

    /// How long a cold-key lock loser polls before loading itself. Set it at construction: once
    /// a background refresh shares the state, this is ignored.
    pub fn with_lock_wait_ms(mut self, lock_wait_ms: u64) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.lock_wait_ms = lock_wait_ms;
        }
        self
    }

    async fn attempt(&self, key: &str, loader: &dyn Loader) -> Attempt {
        let shared = &self.shared;
        let metrics = &shared.metrics;
        let redis_key = shared.redis_key(key);
        let entry = match shared.client.get(&redis_key).await {
            Err(error) => return fail_open(metrics, error, loader, key).await,
            Ok(bytes) => bytes.as_deref().and_then(envelope::decode),
        };
        match entry {
            Some(entry) if now_ms() < entry.refresh_at_ms => Ok(served(entry, ServedFrom::Hit)),
            Some(entry) => {
                self.refresh_stale(key, loader).await;
                Ok(served(entry, ServedFrom::Stale))
            }
            None => shared.cold(key, &redis_key, loader).await,
        }
    }

    /// Take the lock and refresh, in the background when we own a loader.
    async fn refresh_stale(&self, key: &str, loader: &dyn Loader) {
        let shared = &self.shared;
        let token = lock_token();
        match shared
            .client
            .set_nx_px(&shared.lock_key(key), &token, shared.lock_ms)
            .await
        {
            Ok(true) => match &self.refresh_loader {
                Some(owned) => {
                    let shared = Arc::clone(shared);
                    let owned = Arc::clone(owned);
                    let key = key.to_string();
                    tokio::spawn(async move { shared.refresh(&key, &token, &*owned).await });
                }
                None => shared.refresh(key, &token, loader).await,
            },
            Ok(false) => shared.metrics.count(&shared.metrics.lock_contention),
            // We still have the stale value to serve; the next reader retries the lock.
            Err(error) => note_redis_error(&shared.metrics, &error),
        }
    }
}

fn served(entry: Envelope, from: ServedFrom) -> Served {
    Served {
        value: entry.payload,
        from,
        loaded_at_ms: entry.loaded_at_ms,
    }
}

impl Shared {
    fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }

    fn lock_key(&self, key: &str) -> String {
        format!("{}lock:{key}", self.key_prefix)
    }

    async fn store(&self, redis_key: &str, loaded: &super::common::Loaded) -> bool {
        let stored = envelope::encode(
            loaded.loaded_at_ms,
            loaded.loaded_at_ms.saturating_add(self.soft_ttl_ms),
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

    async fn release(&self, key: &str, token: &[u8]) -> bool {
        match self
            .client
            .compare_and_delete(&self.lock_key(key), token)
            .await
        {
            Ok(_) => true,
            Err(error) => {
                note_redis_error(&self.metrics, &error);
                false
            }
        }
    }

    /// A stale entry's refresh, by the lock holder.
    async fn refresh(&self, key: &str, token: &[u8], loader: &dyn Loader) {
        let started = Instant::now();
        let redis_key = self.redis_key(key);
        match self.client.get(&redis_key).await {
            Ok(Some(bytes))
                if envelope::decode(&bytes).is_some_and(|e| now_ms() < e.refresh_at_ms) =>
            {
                // Someone refreshed between our read and our lock.
                self.release(key, token).await;
                return;
            }
            Ok(_) => {}
            Err(error) => note_redis_error(&self.metrics, &error),
        }
        self.metrics.count(&self.metrics.refreshes);
        // A failed load keeps serving the stale value until the hard TTL; nobody awaits it.
        if let Ok(loaded) = load(&self.metrics, loader, key, ServedFrom::Stale).await {
            self.store(&redis_key, &loaded).await;
            self.metrics
                .record_refresh_us(started.elapsed().as_micros() as u64);
        }
        self.release(key, token).await;
    }

    /// Absent entry: one loader per lock, everyone else waits for its value.
    async fn cold(&self, key: &str, redis_key: &str, loader: &dyn Loader) -> Attempt {
        let metrics = &self.metrics;
        let token = lock_token();
        let won = match self
            .client
            .set_nx_px(&self.lock_key(key), &token, self.lock_ms)
            .await
        {
            Ok(won) => won,
            Err(error) => return fail_open(metrics, error, loader, key).await,
        };
        if !won {
            metrics.count(&metrics.lock_contention);
            return self.wait_for_winner(key, redis_key, loader).await;
        }
        let mut redis_ok = true;
        match self.client.get(redis_key).await {
            Ok(Some(bytes)) => {
                if let Some(entry) = envelope::decode(&bytes) {
                    // The previous winner finished between our GET and our lock. A failed
                    // release only counts an error: the lock expires by itself.
                    self.release(key, &token).await;
                    return Ok(served(entry, ServedFrom::Hit));
                }
            }
            Ok(None) => {}
            Err(error) => {
                note_redis_error(metrics, &error);
                redis_ok = false;
            }
        }
        let loaded = load(metrics, loader, key, ServedFrom::Miss).await;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(failed) => {
                // Let the waiters stop waiting on us and try themselves.
                self.release(key, &token).await;
                return Err(failed);
            }
        };
        redis_ok &= self.store(redis_key, &loaded).await;
        redis_ok &= self.release(key, &token).await;
        Ok(Served {
            from: if redis_ok {
                ServedFrom::Miss
            } else {
                ServedFrom::RedisError
            },
            loaded_at_ms: loaded.loaded_at_ms,
            value: loaded.value,
        })
    }

    /// A lock loser: poll with backoff for the winner's value; past the bound, load ourselves.
    async fn wait_for_winner(&self, key: &str, redis_key: &str, loader: &dyn Loader) -> Attempt {
        let now = Instant::now();
        let deadline = now
            .checked_add(Duration::from_millis(self.lock_wait_ms))
            .unwrap_or(now);
        let mut backoff = Duration::from_millis(2);
        loop {
            tokio::time::sleep(backoff).await;
            match self.client.get(redis_key).await {
                Ok(Some(bytes)) => {
                    if let Some(entry) = envelope::decode(&bytes) {
                        return Ok(served(entry, ServedFrom::Hit));
                    }
                }
                Ok(None) => {}
                Err(error) => return fail_open(&self.metrics, error, loader, key).await,
            }
            if Instant::now() >= deadline {
                break;
            }
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
        let loaded = load(&self.metrics, loader, key, ServedFrom::Miss).await?;
        let from = if self.store(redis_key, &loaded).await {
            ServedFrom::Miss
        } else {
            ServedFrom::RedisError
        };
        Ok(Served {
            value: loaded.value,
            from,
            loaded_at_ms: loaded.loaded_at_ms,
        })
    }
}

impl CacheStrategy for Swr {
    fn name(&self) -> &'static str {
        super::Strategy::Swr.as_str()
    }

    fn serve<'a>(&'a self, key: &'a str, loader: &'a dyn Loader) -> BoxFuture<'a, Answer> {
        Box::pin(self.attempt(key, loader))
    }

    fn metrics(&self) -> &CacheMetrics {
        &self.shared.metrics
    }
}
