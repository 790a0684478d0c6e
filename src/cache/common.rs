//! What every strategy shares: the clock, counted loads and fail-open. A strategy returns each
//! request's outcome; recording it is `CacheStrategy::answer`'s job, not the strategy's.

use std::time::Instant;

use super::redis_client::CacheError;
use super::{Answer, CacheMetrics, Failed, Loader, Served, ServedFrom};
pub(crate) use crate::units::now_ms;

pub(crate) type Attempt = Answer;

/// A freshly loaded value and how long the load took.
pub(crate) struct Loaded {
    pub value: Vec<u8>,
    pub loaded_at_ms: u64,
    pub delta_ms: u64,
}

/// Call the loader once, counting it in `db_queries`; a failure is labelled `from`.
pub(crate) async fn load(
    metrics: &CacheMetrics,
    loader: &dyn Loader,
    key: &str,
    from: ServedFrom,
) -> Result<Loaded, Failed> {
    metrics.count(&metrics.db_queries);
    let started = Instant::now();
    match loader.load(key).await {
        Ok(value) => Ok(Loaded {
            value,
            loaded_at_ms: now_ms(),
            delta_ms: (started.elapsed().as_millis() as u64).max(1),
        }),
        Err(error) => Err(Failed { from, error }),
    }
}

/// Count a Redis error (the request's category is decided by the caller).
pub(crate) fn note_redis_error(metrics: &CacheMetrics, _error: &CacheError) {
    metrics.count(&metrics.redis_errors);
}

/// Redis failed before we had an answer: count the error and answer from the loader.
pub(crate) async fn fail_open(
    metrics: &CacheMetrics,
    error: CacheError,
    loader: &dyn Loader,
    key: &str,
) -> Attempt {
    note_redis_error(metrics, &error);
    let loaded = load(metrics, loader, key, ServedFrom::RedisError).await?;
    Ok(Served {
        value: loaded.value,
        from: ServedFrom::RedisError,
        loaded_at_ms: loaded.loaded_at_ms,
    })
}

/// A random lock token, so only the holder can release the lock.
pub(crate) fn lock_token() -> Vec<u8> {
    format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
    .into_bytes()
}
