//! The CI gate: plan baselines a team commits, and the comparison that tells a regression (a new
//! sequential scan, a lost index, a shape change, a cost jump, a new finding, a query that now
//! fails) from an improvement. The comparison ([`compare()`]) and the plan records
//! ([`record_plan`]) are pure; [`recorder`] plans the queries through [`crate::pg`] and
//! [`file`](mod@file) reads and writes the baseline file.
//!
//! The baseline file is stable, diff-friendly JSON: keys in a fixed order, queries sorted by id,
//! plan shapes as one line per node, table sizes rounded, no timings unless asked for.

pub mod compare;
pub mod diff;
pub mod file;
pub mod growth;
pub mod noise;
pub mod record;
pub mod recorder;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnose::{RuleId, Severity};
use crate::plan::PlanNodes;

pub use compare::{compare, compare_with};
pub use file::{BaselineFileError, describe, load_baseline, write_baseline};
pub use noise::{FindingRuns, QueryRuns, RunEvidence};
pub use record::record_plan;
pub use recorder::{
    QueryFile, RecordError, RecordOptions, Recorded, read_query_files, record, record_runs,
};

/// Version of the baseline file format. Version 2 added the table sizes (`relations`); version 1
/// files still load, without them.
pub const BASELINE_SCHEMA_VERSION: u32 = 2;
/// The oldest baseline file format this pgdiag reads.
pub const OLDEST_BASELINE_SCHEMA_VERSION: u32 = 1;
/// Version of the `check --format json` report.
pub const CHECK_SCHEMA_VERSION: u32 = 1;

/// The baseline file `pgdiag check --update` writes and `pgdiag check` compares against: every
/// query's plan, and the environment that shaped the plans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub schema_version: u32,
    pub pgdiag_version: String,
    pub server: ServerVersion,
    /// Planner settings that shape plans (work_mem, random_page_cost, enable_*, jit, ...).
    pub settings: BTreeMap<String, String>,
    /// Present when plans were recorded with `--analyze` (timings, findings).
    pub analyze: Option<AnalyzeRuns>,
    /// The size of every relation a recorded plan reads, by `schema.table`, rounded (see
    /// [`growth`]) so re-recording unchanged data does not rewrite it. Empty in a version 1 file.
    #[serde(default)]
    pub relations: RelationSizes,
    /// Sorted by `id`.
    pub queries: Vec<QueryBaseline>,
}

impl Baseline {
    /// Whether this baseline recorded table sizes (version 2 on); without them a cost increase
    /// cannot be told from data growth.
    pub fn has_relation_sizes(&self) -> bool {
        self.schema_version >= 2
    }
}

/// Relation sizes by `schema.table`.
pub type RelationSizes = BTreeMap<String, RelationSize>;

/// A relation's size from `pg_class`, rounded to two significant digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationSize {
    /// `reltuples`; null when unknown (never vacuumed or analysed).
    pub rows: Option<u64>,
    /// `relpages`, the fallback when the row count is unknown.
    pub pages: u64,
}

/// The server the plans were recorded on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerVersion {
    /// `server_version`, e.g. `15.18 (Debian 15.18-0+deb12u1)`.
    pub version: String,
    /// `server_version_num`, e.g. `150018`; the major version is `version_num / 10000`.
    pub version_num: i32,
}

impl ServerVersion {
    pub fn major(&self) -> i32 {
        self.version_num / 10000
    }
}

/// How the plans were executed when recorded with `--analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRuns {
    /// EXPLAIN ANALYZE runs per query; timings are their median.
    pub runs: u32,
}

/// One statement of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryBaseline {
    /// `<file>#<statement>`, e.g. `queries/product.sql#1`: stable as long as statements keep
    /// their order in the file.
    pub id: String,
    /// The file as given (relative paths stay relative, so the baseline works on any checkout).
    pub file: String,
    /// 1-based statement index in the file, and the line it starts on.
    pub statement: usize,
    pub line: usize,
    /// The statement text, so a reviewer sees what the plan belongs to.
    pub sql: String,
    /// `$n` values from a `-- pgdiag: params ...` comment (null = SQL NULL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Option<String>>,
    /// The plan, when the statement could be planned.
    pub plan: Option<PlanRecord>,
    /// Why it could not be planned (the server's message), otherwise null.
    pub error: Option<String>,
}

/// What a plan looks like, without the noise that changes run to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRecord {
    /// One line per node, depth-first, indented two spaces per level: node type, join type,
    /// relation, index — e.g. `"  Index Scan using reviews_product_id on public.reviews"`. No costs
    /// or row counts, so only a real change of plan changes it.
    pub shape: Vec<String>,
    /// Relations read by a sequential scan (sorted, unique, `schema.table`).
    pub seq_scans: Vec<String>,
    /// Indexes used (sorted, unique).
    pub indexes: Vec<String>,
    /// Every relation the plan reads, by any kind of scan (sorted, unique, `schema.table`): the
    /// tables whose growth can explain a cost increase. Empty in a version 1 file.
    #[serde(default)]
    pub relations: Vec<String>,
    /// Planner's total cost of the root node.
    pub total_cost: f64,
    /// Planner's row estimate of the root node.
    pub planned_rows: f64,
    /// Findings of the diagnosis rules (recorded with `--analyze`; estimated plans have none).
    #[serde(default)]
    pub findings: Vec<FindingRecord>,
    /// Median of the `--analyze` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
}

/// A diagnosis finding recorded with an analysed plan: its rule, severity, relation and summary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingRecord {
    pub rule: RuleId,
    pub severity: Severity,
    pub relation: Option<String>,
    pub summary: String,
}

/// The execution times of a query's `--analyze` runs: how many, their median and their range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    pub runs: u32,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

/// `[check]` in pgdiag.toml: thresholds, ignored queries, per-query overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckConfig {
    /// Total cost may grow by this many percent before it is a regression.
    pub cost_increase_pct: f64,
    /// A new sequential scan is a regression on tables with at least this many rows
    /// (`pg_class.reltuples`).
    pub seq_scan_min_rows: f64,
    /// A new finding at or above this severity is a regression (findings need `--analyze`).
    pub fail_on_finding: Severity,
    /// Whether a change of plan shape alone (same indexes, no new seq scan, cost within the
    /// threshold) is a regression.
    pub shape_change_is_regression: bool,
    /// What a cost increase in proportion to the growth of the tables a query reads (same plan
    /// shape) does to the verdict.
    pub data_growth: DataGrowth,
    /// Query ids or file globs (`*` and `?`) not to check, e.g. `legacy/*.sql` or `a.sql#2`.
    pub ignore: Vec<String>,
    /// Per-query overrides, keyed by query id.
    pub queries: BTreeMap<String, QueryOverride>,
    /// Hysteresis for findings (with `--analyze`): a finding absent from the baseline counts as
    /// new only when every run sees it with thresholds `1 + finding_margin` times harder; one in
    /// the baseline counts as resolved only when no run sees it with thresholds
    /// `1 + finding_margin` times easier. 0 turns the margin off (every run must still agree).
    pub finding_margin: f64,
    /// What a significant execution-time increase does: `advisory` (reported, exit 0) or `fail`.
    pub timing: TimingVerdict,
    /// The median execution time must grow by more than this many percent...
    pub timing_increase_pct: f64,
    /// ...and by more than this many milliseconds to be significant (besides the two runs'
    /// ranges not overlapping and the growth exceeding both ranges' widths).
    pub timing_noise_floor_ms: f64,
}

/// `[check] timing`: whether a significant execution-time increase fails the gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimingVerdict {
    /// Reported as an advisory; the gate passes. Shared CI runners are noisy: a neighbour's job
    /// can double a query's time without any change to the query or the data.
    #[default]
    Advisory,
    /// A regression: for dedicated, quiet runners.
    Fail,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            cost_increase_pct: 10.0,
            seq_scan_min_rows: 10_000.0,
            fail_on_finding: Severity::Warning,
            shape_change_is_regression: true,
            data_growth: DataGrowth::Advisory,
            ignore: Vec::new(),
            queries: BTreeMap::new(),
            finding_margin: 0.5,
            timing: TimingVerdict::Advisory,
            timing_increase_pct: 50.0,
            timing_noise_floor_ms: 1.0,
        }
    }
}

/// `[check] data_growth`: how a cost increase explained by data growth counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataGrowth {
    /// Reported in the query's `advisories`; the gate passes.
    #[default]
    Advisory,
    /// A regression like any cost increase.
    Fail,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryOverride {
    pub cost_increase_pct: Option<f64>,
    pub seq_scan_min_rows: Option<f64>,
    pub shape_change_is_regression: Option<bool>,
    pub ignore: bool,
}

/// What `pgdiag check --format json` prints: each query's plan compared with the baseline's
/// (regressed, improved, unchanged, new or missing, with the changes that decided it), the
/// differences of environment, and the counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckReport {
    pub schema_version: u32,
    pub pgdiag_version: String,
    pub environment: EnvironmentDiff,
    /// In baseline order, then queries new since the baseline.
    pub queries: Vec<QueryResult>,
    pub summary: CheckSummary,
    /// About the whole check, said once (e.g. a baseline without table sizes).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl CheckReport {
    /// Exit 1 when this is true.
    pub fn has_regressions(&self) -> bool {
        self.summary.regressed > 0
    }

    /// Keeps the current plan's nodes ([`QueryResult::current_plan`]) of each query that
    /// regressed or improved or whose plan shape changed, from a recording's plans by query id.
    pub fn keep_current_plans(&mut self, plans: &BTreeMap<String, PlanNodes>) {
        for query in &mut self.queries {
            let drawn = matches!(query.status, QueryStatus::Regressed | QueryStatus::Improved)
                || query.baseline_shape != query.current_shape;
            query.current_plan = plans.get(&query.id).filter(|_| drawn).cloned();
        }
    }
}

/// Differences between the baseline's environment and the current one. Any of them makes cost
/// comparison advisory: costs depend on settings and on the server version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentDiff {
    /// `(baseline, current)` major versions when they differ.
    pub major_version_mismatch: Option<(i32, i32)>,
    pub settings_changed: Vec<SettingChange>,
    /// True when cost increases are reported but do not count as regressions.
    pub cost_advisory: bool,
}

/// A planner setting whose value differs between the baseline and the current server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettingChange {
    pub name: String,
    /// None when the setting is absent on that side.
    pub baseline: Option<String>,
    pub current: Option<String>,
}

/// What the comparison concluded for one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryStatus {
    /// At least one regression.
    Regressed,
    /// Improvements and no regression.
    Improved,
    Unchanged,
    /// Not in the baseline (run `check --update` to record it).
    New,
    /// In the baseline, no longer in the checked files.
    Missing,
    /// Ignored by configuration.
    Ignored,
}

/// One query compared with its baseline: its status and the changes that decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueryResult {
    pub id: String,
    pub file: String,
    pub line: usize,
    pub status: QueryStatus,
    pub regressions: Vec<Change>,
    pub improvements: Vec<Change>,
    /// Significant changes that do not fail the gate (an execution-time increase while
    /// `[check] timing = "advisory"`, a cost increase in line with data growth).
    #[serde(default)]
    pub advisories: Vec<Change>,
    /// Things worth knowing that are neither (advisory cost changes, for instance).
    pub notes: Vec<String>,
    pub baseline_shape: Vec<String>,
    pub current_shape: Vec<String>,
    pub baseline_cost: Option<f64>,
    pub current_cost: Option<f64>,
    /// The current plan's nodes (the median run's with `--analyze`), kept for a query that
    /// regressed or improved or whose shape changed, to be drawn beside the baseline's shape: at
    /// most 500 nodes, only their count beyond. Absent otherwise (the baseline file keeps
    /// shapes, not nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_plan: Option<PlanNodes>,
}

/// One regression, improvement or advisory, with a message that names what changed, and the
/// signal's value on each side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// The signal that changed.
    pub kind: ChangeKind,
    /// e.g. `new Seq Scan on public.reviews (1,200,000 rows)`.
    pub message: String,
    /// The signal's value in the baseline and now, e.g. `Index Scan using reviews_product_id` →
    /// `Seq Scan (1,200,000 rows)`, `100.00` → `135.00`. Null where a side has nothing to show.
    #[serde(default)]
    pub baseline: Option<String>,
    #[serde(default)]
    pub current: Option<String>,
    /// For timing-based changes: both sides' run distributions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_timing: Option<Timing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_timing: Option<Timing>,
}

impl Change {
    /// A change with its message only.
    pub fn new(kind: ChangeKind, message: String) -> Change {
        Change {
            kind,
            message,
            baseline: None,
            current: None,
            baseline_timing: None,
            current_timing: None,
        }
    }

    /// The values on both sides.
    pub fn values(mut self, baseline: impl Into<String>, current: impl Into<String>) -> Change {
        self.baseline = Some(baseline.into());
        self.current = Some(current.into());
        self
    }
}

/// What changed in a query's plan: a regression, or an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    // Regressions.
    NewSeqScan,
    IndexNoLongerUsed,
    ShapeChanged,
    CostIncrease,
    NewFinding,
    NewlyFailing,
    /// Execution time up beyond the noise (an advisory unless `[check] timing = "fail"`).
    TimingIncrease,
    /// A cost increase in proportion to the tables' growth, plan shape unchanged: advisory by
    /// default (`[check] data_growth`).
    CostGrowthWithData,
    // Improvements.
    SeqScanGone,
    IndexNewlyUsed,
    CostDecrease,
    FindingResolved,
    NowSucceeds,
}

/// How many queries ended in each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckSummary {
    pub total: usize,
    pub regressed: usize,
    pub improved: usize,
    pub unchanged: usize,
    pub new: usize,
    pub missing: usize,
    pub ignored: usize,
}
