//! Strategy `none`: no cache; every request is a database query. The baseline the others are
//! measured against. Every request is a `database` outcome and one of `db_queries`.

use super::common::load;
use super::{Answer, BoxFuture, CacheMetrics, CacheStrategy, Loader, Served, ServedFrom};

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

    fn serve<'a>(&'a self, key: &'a str, loader: &'a dyn Loader) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            load(&self.metrics, loader, key, ServedFrom::Database)
                .await
                .map(|loaded| Served {
                    value: loaded.value,
                    from: ServedFrom::Database,
                    loaded_at_ms: loaded.loaded_at_ms,
                })
        })
    }

    fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }
}
