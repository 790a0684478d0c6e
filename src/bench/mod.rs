//! `pgdiag bench`: the load driver that measures a query with no cache and behind each cache
//! strategy of [`crate::cache`], under three scenarios (steady load, a thundering herd after
//! expiry, and writes with stale-read tracking), and the report it produces.
//!
//! This module owns the PostgreSQL-backed loader (a bounded connection pool), the key set and its
//! zipf sampler, the scenarios, the LISTEN/NOTIFY invalidation, and the renderers. The strategies
//! themselves live in `src/cache/`; the one place that constructs them is [`strategies::build`].

pub mod driver;
pub mod invalidate;
pub mod keys;
pub mod loader;
pub mod redis_admin;
pub mod report;
pub mod scenarios;
pub mod stop;
pub mod strategies;
pub mod timeline;
pub mod verify;

pub use driver::{BenchConfig, Invalidation, Scenario, run, run_partial};
pub use keys::ZipfSampler;
pub use loader::{PgLoader, decode_rows, encode_rows};
pub use report::BenchReport;
pub use stop::Stop;

/// What can stop a benchmark. Messages are one line; they never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Query(String),
    #[error(transparent)]
    Postgres(#[from] crate::pg::Error),
    #[error("cannot use Redis at {target}: {message}")]
    Redis { target: String, message: String },
    #[error("unknown strategy `{0}` (use {names})", names = crate::cache::Strategy::names())]
    UnknownStrategy(String),
    #[error("invalidation trigger: {0}")]
    Invalidation(String),
    #[error("interrupted")]
    Interrupted,
}

pub use crate::units::now_ms;
