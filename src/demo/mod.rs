//! `pgdiag demo`: the seed story replayed with real measurements. This module owns the steps after
//! the servers are up (diagnosis, the cache benchmarks, pgdiag's own suggestions applied, the before/after
//! timings), the report document they fill (`--format json`, docs/demo-report.md) and its text
//! rendering. Starting and keeping the servers, progress bars and Ctrl-C live in
//! `commands::demo`.
//!
//! Every figure in the report is measured on this run; nothing is quoted from the article.

pub mod advice;
pub mod apply;
pub mod cache;
pub mod diagnosis;
pub mod html;
pub mod render;

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bench::report::StrategyResult;
use crate::cache::Strategy;
use crate::diagnose::{Finding, RuleId};
use crate::plan::NodeReport;
use crate::seed::SeedSummary;

pub use advice::{CacheAdviceStep, cache_verdicts};
pub use apply::{
    AppliedSuggestion, ApplyStep, Proof, QueryProof, RejectedSuggestion, apply_suggestions,
};
pub use cache::{naive_cache, swr_cache};
pub use diagnosis::{diagnose_query, measure_query};

/// Version of the `--format json` document; bumped when a field is renamed, removed or changes
/// meaning (fields may be added within a version).
pub const SCHEMA_VERSION: u32 = 1;

/// What can stop the demo.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Postgres(#[from] crate::pg::Error),
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
    #[error("suggestions: {0}")]
    Suggest(#[from] crate::suggest::SuggestError),
    #[error("suggestions: {0}")]
    AfterApply(#[from] crate::suggest::AfterApplyError),
    #[error("query {query}: {message}")]
    Plan { query: String, message: String },
    #[error("the benchmark of step {step} returned no result for strategy `{strategy}`")]
    MissingStrategy {
        step: &'static str,
        strategy: Strategy,
    },
}

/// How hard the demo pushes: sizes and durations derived from the scale, so a small scale (the
/// integration test) finishes in seconds and scale 1.0 still tells the story clearly.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    pub scale: f64,
    /// Measured phase of each steady or writes benchmark (warm-up is a third of it).
    pub bench_duration: Duration,
    /// Concurrent readers of the steady and writes benchmarks.
    pub clients: usize,
    /// Readers released together on an expired key in the herd benchmarks.
    pub herd_clients: usize,
    /// Expiry rounds of each herd benchmark.
    pub expiries: usize,
    /// Distinct product ids the benchmarks read (1..=keys, zipf-distributed like the reviews).
    pub keys: usize,
    /// Fewer for the product page: each miss costs a full page query, and the cache must fill
    /// during the warm-up for the steady phase to show hits.
    pub page_keys: usize,
    /// Database connections of each benchmark's loader.
    pub pool: usize,
    /// EXPLAIN ANALYZE runs per query and side of the before/after (the median is kept).
    pub timing_runs: usize,
    /// Price updates per second in the stale-price benchmark.
    pub write_rate: f64,
    /// Show the benchmarks' progress bars (on stderr).
    pub progress: bool,
}

impl DemoConfig {
    /// The defaults for `scale`: below 0.25 short benchmarks and more herd readers (the queries are
    /// fast there, so more readers make sure the herd really overlaps).
    pub fn for_scale(scale: f64) -> DemoConfig {
        let small = scale < 0.25;
        DemoConfig {
            scale,
            bench_duration: if small {
                Duration::from_millis(1200)
            } else {
                Duration::from_secs(3)
            },
            clients: 8,
            herd_clients: if small { 32 } else { 16 },
            expiries: 2,
            keys: 20,
            page_keys: 8,
            pool: 8,
            timing_runs: if small { 5 } else { 3 },
            write_rate: 10.0,
            progress: false,
        }
    }

    pub fn warmup(&self) -> Duration {
        self.bench_duration / 3
    }
}

/// What `pgdiag demo --format json` prints: one section per step of the seed story (load,
/// diagnosis, naive cache, suggestions, before and after, `swr` cache, cache verdicts, summary),
/// every claim a measured number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DemoReport {
    pub schema_version: u32,
    pub pgdiag_version: String,
    pub scale: f64,
    pub servers: Servers,
    /// Step 1: what was loaded.
    pub seed: SeedSummary,
    /// Step 2: the product page and the category listing explained, findings ranked by time.
    pub diagnosis: Vec<QueryDiagnosis>,
    /// Step 3: the naive cache-aside layer on the product page.
    pub naive_cache: NaiveCacheStep,
    /// Step 4: pgdiag's suggestions, and every query timed before and after them.
    pub suggestions: ApplyStep,
    pub before_after: Vec<BeforeAfter>,
    /// Step 5: no cache vs `swr` on the recommendations query only.
    pub swr_cache: SwrCacheStep,
    /// Step 6: which queries still deserve a cache, judged by the cache-advice model on this
    /// run's measurements (stated call rates, step 3's price updates, step 4's times).
    pub cache_advice: CacheAdviceStep,
    /// Step 7: the short version.
    pub summary: Vec<SummaryRow>,
    pub next_steps: Vec<NextStep>,
    pub elapsed_ms: f64,
}

/// Where the demo ran. URLs never hold a password (the embedded servers have none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Servers {
    pub postgres_url: String,
    pub redis_url: String,
    /// `embedded` (started for the run) or `external` (--dsn / --redis-url).
    pub postgres: String,
    pub redis: String,
    /// `--keep`: the embedded servers were left running.
    pub kept: bool,
}

/// One query explained with EXPLAIN ANALYZE (rolled back), as `pgdiag explain` would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueryDiagnosis {
    /// The file stem in fixtures/seed/queries/.
    pub query: String,
    pub params: Vec<String>,
    pub planning_ms: Option<f64>,
    pub execution_ms: Option<f64>,
    pub jit_ms: Option<f64>,
    /// Node labels of the plan (`Parallel Seq Scan on public.reviews`, `Sort`, ...) in preorder,
    /// so a reader can check what the plan did without the raw plan.
    pub plan_nodes: Vec<String>,
    /// The diagnosis findings, most time at stake first.
    pub findings: Vec<Finding>,
    /// The plan's nodes as `pgdiag explain --format json` reports them (depth-first, a parent
    /// before its children): what the HTML page draws.
    #[serde(default)]
    pub nodes: Vec<NodeReport>,
}

impl QueryDiagnosis {
    /// Whether a finding of `rule` concerns `relation` (unqualified name, e.g. `reviews`).
    pub fn has_finding(&self, rule: RuleId, relation: Option<&str>) -> bool {
        self.findings.iter().any(|f| {
            f.rule == rule
                && relation.is_none_or(|want| {
                    f.relation
                        .as_deref()
                        .is_some_and(|r| r == want || r.ends_with(&format!(".{want}")))
                })
        })
    }
}

/// EXPLAIN ANALYZE medians of one query (after one unmeasured warm-up run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Timing {
    pub runs: usize,
    pub execution_ms: f64,
    /// The fastest and the slowest execution of the runs: the spread a difference is judged
    /// against.
    #[serde(default)]
    pub execution_min_ms: Option<f64>,
    #[serde(default)]
    pub execution_max_ms: Option<f64>,
    pub planning_ms: f64,
    /// One line: the scan nodes of the plan (`Seq Scan on public.reviews`).
    pub plan: String,
    /// The plan of the last measured run, its nodes as `pgdiag explain --format json` reports
    /// them: what the HTML page draws before and after.
    #[serde(default)]
    pub nodes: Vec<NodeReport>,
}

/// One query timed before and after step 4's suggestions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BeforeAfter {
    pub query: String,
    pub before: Timing,
    pub after: Timing,
    /// The SQL timed after: the query itself, or its rewrite to read a materialized view.
    pub after_sql_rewritten: bool,
    /// When `after` timed the rewrite: the query as written, timed after the suggestions too (it
    /// gets the new indexes but not the view).
    pub after_as_written: Option<Timing>,
    /// `before.execution_ms / after.execution_ms`; claimed only where the plan changed and the
    /// difference is beyond noise (docs/suggest-report.md), see `verdict`.
    pub speedup: f64,
}

/// Step 3: what the team of the article built first, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NaiveCacheStep {
    pub query: String,
    pub clients: usize,
    pub herd_clients: usize,
    /// Steady load: `none` then `cache-aside` (bench `strategies[]` entries, docs/bench-report.md).
    pub steady: Vec<StrategyResult>,
    /// Herd: the hottest key expires at once under `herd_clients` readers (cache-aside).
    pub herd: StrategyResult,
    /// Price updates while readers hit the cache (cache-aside, TTL only).
    pub stale_prices: StrategyResult,
    pub write: String,
    pub ttl_ms: u64,
    /// Claims, copied out of the results above.
    pub hit_p50_ms: f64,
    pub no_cache_p50_ms: f64,
    pub herd_db_calls_per_expiry: Vec<u64>,
    pub stale_reads: u64,
    pub staleness_max_ms: f64,
}

/// Step 5: the cache kept for what deserves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SwrCacheStep {
    pub query: String,
    pub clients: usize,
    pub herd_clients: usize,
    /// Steady load: `none` then `swr`.
    pub steady: Vec<StrategyResult>,
    /// Herd on the hottest key, `swr`.
    pub herd: StrategyResult,
    pub soft_ttl_ms: u64,
    pub ttl_ms: u64,
    /// Claims, copied out of the results above.
    pub no_cache_p50_ms: f64,
    pub swr_p50_ms: f64,
    pub hit_rate: f64,
    pub miss_rate: f64,
    pub stale_rate: f64,
    pub refresh_p99_ms: Option<f64>,
    pub herd_db_calls_per_expiry: Vec<u64>,
}

/// One line of the closing table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SummaryRow {
    pub step: String,
    pub what: String,
    pub measured: String,
}

/// A command to try next, pointed at the demo's database, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NextStep {
    pub command: String,
    pub why: String,
}

/// The strategy named `name` in a bench result list.
pub(crate) fn strategy<'a>(
    results: &'a [StrategyResult],
    name: Strategy,
    step: &'static str,
) -> Result<&'a StrategyResult, Error> {
    results
        .iter()
        .find(|r| r.strategy == name.as_str())
        .ok_or(Error::MissingStrategy {
            step,
            strategy: name,
        })
}

/// The middle value (the mean of the two middle ones for an even count); 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    crate::units::median(values).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn small_scales_get_short_benchmarks() {
        let small = DemoConfig::for_scale(0.02);
        let full = DemoConfig::for_scale(1.0);
        assert!(small.bench_duration < full.bench_duration);
        assert!(small.herd_clients > 1 && full.herd_clients > 1);
        assert_eq!(full.warmup(), Duration::from_secs(1));
    }
}
