//! Strategy `none`: no cache; every request is a database query. The baseline the others are
//! measured against. Counts `requests`, `database` and `db_queries` (always equal).

use super::common::{finish, load};
use super::{BoxFuture, CacheMetrics, CacheStrategy, LoadError, Loader, Served, ServedFrom};

#[derive(Debug, Default)]
pub struct NoCache {
    metrics: CacheMetrics,
}

impl NoCache {
    pub fn new() -> Self {
        Self::default()
    }
}

impl CacheStrategy for NoCache {
    fn name(&self) -> &'static str {
        super::Strategy::None.as_str()
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
        loader: &'a dyn Loader,
    ) -> BoxFuture<'a, Result<Served, LoadError>> {
        Box::pin(async move {
            self.metrics.count(&self.metrics.requests);
            let attempt = load(&self.metrics, loader, key, ServedFrom::Database)
                .await
                .map(|loaded| Served {
                    value: loaded.value,
                    from: ServedFrom::Database,
                    loaded_at_ms: loaded.loaded_at_ms,
                });
            finish(&self.metrics, attempt)
        })
    }

    fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }
}
