//! The `suggest` report: what was planned, suggested, proven and applied, as one serializable
//! document. Its JSON form is a stable interface documented in docs/suggest-report.md; renderers
//! (text, DDL script) live in the `report` module, above this one.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::advise::candidates::{FindingRule, order_suffix};
pub use crate::advise::row_size::OmittedInclude;
use crate::diagnose::RuleId;
use crate::pg::ServerInfo;
use crate::plan::PlanNodes;

pub const SCHEMA_VERSION: u32 = 1;

/// What `pgdiag suggest --format json` prints: the statements planned, the indexes and
/// materialized views suggested for them with the proof of each (kept, rejected or unverified),
/// the statements that got none and why, and with `--apply` what was built and measured after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SuggestReport {
    pub schema_version: u32,
    pub pgdiag_version: String,
    pub server: ServerInfo,
    pub verify: VerifyInfo,
    pub min_improvement_pct: f64,
    pub statements: Vec<StatementEntry>,
    pub suggestions: Vec<Suggestion>,
    pub no_suggestions: Vec<NoSuggestionEntry>,
    pub combined: Vec<StatementComparison>,
    pub notes: Vec<String>,
    pub apply: Option<ApplySection>,
    /// Workload mode (`--from-pg-stat-statements`, `--from-log`): where the statements came from,
    /// how often each runs, and the database time the kept suggestions save per hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadSection>,
    /// Workload mode: the indexes that can go (unused, duplicate, redundant, INVALID), as
    /// `pgdiag indexes` finds them. `--apply` never drops them; `pgdiag indexes --drop` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drops: Option<crate::advise::hygiene::HygieneAdvice>,
}

/// What a workload gave `suggest` (or `explain`), and what the kept suggestions save over it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkloadSection {
    /// `pg_stat_statements`, `log`, or `files` (query files with expected call rates, for
    /// `cache-advice`).
    pub source: String,
    /// The log file read, for a log.
    #[serde(default)]
    pub path: Option<String>,
    /// How long the workload's figures cover, in seconds (since the statistics were reset, or a
    /// log's first to last timestamp); null when unknown.
    pub window_s: Option<f64>,
    /// What the statements' weights are per: `per_hour`, or `calls` without a window.
    pub basis: Basis,
    /// Statements in the workload, and their execution time in all (ms).
    pub statements_in_workload: usize,
    pub database_time_ms: f64,
    /// The statements taken (the first `--top` by total time), in the report's numbering.
    pub statements: Vec<WorkloadEntry>,
    /// Statements of the workload left out, with why (utility statements, unreadable text).
    pub skipped: Vec<WorkloadSkip>,
    /// The database time (ms) the kept suggestions save per hour over the statements taken, from
    /// each statement's calls per hour × its mean time × the share the kept suggestions take off
    /// it (`combined`: measured times, else planned costs); null without a window or a proof.
    pub saves_per_hour_ms: Option<f64>,
    /// The same as a share (%) of the whole workload's database time.
    pub saves_share_pct: Option<f64>,
    /// Each kept suggestion alone: the database time (ms) it saves per hour over the statements
    /// it serves, from its own proof (calls per hour × mean time × the share it takes off each).
    #[serde(default)]
    pub suggestions: Vec<WorkloadSaving>,
}

/// What one kept suggestion saves per hour ([`WorkloadSection::suggestions`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkloadSaving {
    /// The suggestion's id.
    pub id: String,
    pub saves_per_hour_ms: f64,
}

/// One statement taken from a workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkloadEntry {
    /// Its number in `statements`.
    pub statement: usize,
    pub queryid: Option<i64>,
    pub calls: u64,
    pub calls_per_hour: Option<f64>,
    pub mean_ms: f64,
    pub total_ms: f64,
    /// Its share (%) of the workload's database time.
    pub share_pct: f64,
    /// Where its `$n` values came from: the log's own values, or each sampled from `pg_stats`
    /// (`$1: orders.status, its most common value`); empty without parameters.
    pub params: Vec<String>,
    /// Why it was planned generically although it has parameters; null otherwise.
    pub generic_reason: Option<String>,
    /// Where it was first seen in a log (`postgresql.log:1234`), or where a query file holds it
    /// (`queries.sql:3`).
    pub first_seen: Option<String>,
    /// What the kept suggestions save on it per hour (ms); null when not known.
    pub saves_per_hour_ms: Option<f64>,
}

/// A workload statement left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkloadSkip {
    pub query: String,
    pub reason: String,
}

impl SuggestReport {
    pub fn kept(&self) -> impl Iterator<Item = &Suggestion> {
        self.suggestions
            .iter()
            .filter(|s| s.status == SuggestionStatus::Kept)
    }

    /// What `--dry-run`, `--output` and `--apply` act on: kept suggestions, and unverified ones
    /// when there was no way to verify them (the user chose to go without proof).
    pub fn actionable(&self) -> impl Iterator<Item = &Suggestion> {
        self.suggestions.iter().filter(|s| {
            s.status == SuggestionStatus::Kept || s.status == SuggestionStatus::Unverified
        })
    }

    pub fn statement(&self, index: usize) -> Option<&StatementEntry> {
        self.statements.iter().find(|s| s.index == index)
    }
}

/// How a suggestion is proven: HypoPG (planned cost), a real build (timed), or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMode {
    Hypo,
    Build,
    None,
}

impl VerifyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyMode::Hypo => "hypo",
            VerifyMode::Build => "build",
            VerifyMode::None => "none",
        }
    }
}

/// How suggestions were verified in this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VerifyInfo {
    pub mode: VerifyMode,
    /// `auto`, `hypo`, `build` or `none`.
    pub requested: String,
    pub runs: usize,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Planning {
    /// Executed with EXPLAIN ANALYZE in a rolled-back transaction.
    Analyze,
    /// `$n` without values: the generic plan, judged on estimated cost.
    Generic,
    /// EXPLAIN ANALYZE ran longer than `--timeout` and was cancelled: the plain EXPLAIN plan (same
    /// values, not executed), diagnosed and judged on estimated cost; its notes say the timeout.
    EstimatedAfterTimeout,
    Failed,
}

impl Planning {
    /// Judged on the planner's estimates, not on measured time.
    pub fn is_estimated(self) -> bool {
        matches!(self, Planning::Generic | Planning::EstimatedAfterTimeout)
    }
}

/// Why a statement could not be planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatementError {
    pub message: String,
    pub sqlstate: Option<String>,
}

/// One statement of the input: where it is, how it was planned, and its error if it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatementEntry {
    pub index: usize,
    pub source: String,
    pub line: usize,
    pub sql: String,
    pub planning: Planning,
    pub parameters: usize,
    pub cost: Option<f64>,
    pub time_ms: Option<f64>,
    /// One line: the plan's table and index accesses (`Seq Scan on reviews, ...`).
    pub plan: String,
    pub findings: Vec<RuleId>,
    pub notes: Vec<String>,
    pub error: Option<StatementError>,
}

/// What a suggestion creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    Index,
    Matview,
}

impl SuggestionKind {
    /// As in the JSON: `index`, `matview`.
    pub fn as_str(self) -> &'static str {
        match self {
            SuggestionKind::Index => "index",
            SuggestionKind::Matview => "matview",
        }
    }
}

/// Whether the proof kept the suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionStatus {
    Kept,
    Rejected,
    Unverified,
}

impl SuggestionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SuggestionStatus::Kept => "kept",
            SuggestionStatus::Rejected => "rejected",
            SuggestionStatus::Unverified => "unverified",
        }
    }
}

/// One suggestion. In JSON its object is told by `kind` and carried in the field of that name
/// (`index` or `matview`, the other null), as docs/suggest-report.md documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(into = "SuggestionJson", try_from = "SuggestionJson")]
pub struct Suggestion {
    pub id: String,
    pub status: SuggestionStatus,
    pub rejected_reason: Option<String>,
    pub reason: String,
    pub serves: Vec<usize>,
    pub ddl: Vec<String>,
    /// What it creates, with the data of its kind.
    pub object: SuggestedObject,
    pub verification: Option<Verification>,
}

/// What a suggestion creates. A new kind of suggestion is a variant here (with its
/// [`SuggestionKind`] and its field in the JSON), its synthesis in `advise`, its proof in the
/// pipeline and its [`super::Change`].
#[derive(Debug, Clone, PartialEq)]
pub enum SuggestedObject {
    Index(IndexInfo),
    Matview(MatviewInfo),
}

impl SuggestedObject {
    pub fn kind(&self) -> SuggestionKind {
        match self {
            SuggestedObject::Index(_) => SuggestionKind::Index,
            SuggestedObject::Matview(_) => SuggestionKind::Matview,
        }
    }

    /// The index or view name.
    pub fn name(&self) -> &str {
        match self {
            SuggestedObject::Index(index) => &index.name,
            SuggestedObject::Matview(view) => &view.name,
        }
    }

    /// The table it serves: the indexed table, or the table a view aggregates.
    pub fn table(&self) -> &str {
        match self {
            SuggestedObject::Index(index) => &index.table,
            SuggestedObject::Matview(view) => &view.base_table,
        }
    }

    /// Its keys as a DBA writes them: `product_id`, `score DESC`, `x NULLS FIRST` for an index
    /// (direction and NULLS order only where they differ from the default); a view's unique key.
    pub fn key_columns(&self) -> Vec<String> {
        match self {
            SuggestedObject::Index(index) => index
                .columns
                .iter()
                .map(|c| format!("{}{}", c.name, order_suffix(c.desc, c.nulls_first)))
                .collect(),
            SuggestedObject::Matview(view) => view.key_columns.clone(),
        }
    }
}

impl Suggestion {
    pub fn kind(&self) -> SuggestionKind {
        self.object.kind()
    }

    /// The index or view name, for tables and messages.
    pub fn name(&self) -> &str {
        self.object.name()
    }

    pub fn index(&self) -> Option<&IndexInfo> {
        match &self.object {
            SuggestedObject::Index(index) => Some(index),
            _ => None,
        }
    }

    pub fn matview(&self) -> Option<&MatviewInfo> {
        match &self.object {
            SuggestedObject::Matview(view) => Some(view),
            _ => None,
        }
    }

    pub fn matview_mut(&mut self) -> Option<&mut MatviewInfo> {
        match &mut self.object {
            SuggestedObject::Matview(view) => Some(view),
            _ => None,
        }
    }
}

/// [`Suggestion`] as the JSON has it: `kind`, then one field per kind, null but for its own
/// (the schema says so too, as `TryFrom` below requires it).
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(extend("oneOf" = [
    {
        "properties": {
            "kind": { "const": "index" },
            "index": { "type": "object" },
            "matview": { "type": "null" }
        }
    },
    {
        "properties": {
            "kind": { "const": "matview" },
            "index": { "type": "null" },
            "matview": { "type": "object" }
        }
    }
]))]
struct SuggestionJson {
    id: String,
    kind: SuggestionKind,
    status: SuggestionStatus,
    rejected_reason: Option<String>,
    reason: String,
    serves: Vec<usize>,
    ddl: Vec<String>,
    index: Option<IndexInfo>,
    matview: Option<MatviewInfo>,
    verification: Option<Verification>,
}

impl From<Suggestion> for SuggestionJson {
    fn from(s: Suggestion) -> Self {
        let kind = s.kind();
        let (index, matview) = match s.object {
            SuggestedObject::Index(index) => (Some(index), None),
            SuggestedObject::Matview(view) => (None, Some(view)),
        };
        SuggestionJson {
            id: s.id,
            kind,
            status: s.status,
            rejected_reason: s.rejected_reason,
            reason: s.reason,
            serves: s.serves,
            ddl: s.ddl,
            index,
            matview,
            verification: s.verification,
        }
    }
}

impl TryFrom<SuggestionJson> for Suggestion {
    type Error = String;

    fn try_from(s: SuggestionJson) -> Result<Self, String> {
        let object = match (s.kind, s.index, s.matview) {
            (SuggestionKind::Index, Some(index), None) => SuggestedObject::Index(index),
            (SuggestionKind::Matview, None, Some(view)) => SuggestedObject::Matview(view),
            (kind, ..) => {
                return Err(format!(
                    "suggestion {}: kind {} wants its own object, and only that one",
                    s.id,
                    kind.as_str()
                ));
            }
        };
        Ok(Suggestion {
            id: s.id,
            status: s.status,
            rejected_reason: s.rejected_reason,
            reason: s.reason,
            serves: s.serves,
            ddl: s.ddl,
            object,
            verification: s.verification,
        })
    }
}

/// One key column of a suggested index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IndexColumnInfo {
    pub name: String,
    pub desc: bool,
    pub nulls_first: bool,
    pub opclass: Option<String>,
}

/// A suggested index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IndexInfo {
    pub schema: Option<String>,
    pub table: String,
    pub name: String,
    pub method: String,
    pub columns: Vec<IndexColumnInfo>,
    pub include: Vec<String>,
    /// Columns an index-only scan would need that INCLUDE leaves out, each with its reason
    /// (a type without a size bound could make inserts fail). Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_omitted: Vec<OmittedInclude>,
    pub predicate: Option<String>,
    pub requires_extension: Option<String>,
    pub finding_rules: Vec<FindingRule>,
}

/// A statement rewritten to read a suggested materialized view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RewrittenStatement {
    pub statement: usize,
    pub sql: String,
}

/// A suggested materialized view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MatviewInfo {
    pub schema: Option<String>,
    pub name: String,
    pub base_table: String,
    pub key_columns: Vec<String>,
    pub create_sql: String,
    pub unique_index_sql: String,
    pub refresh_sql: String,
    pub rewritten: Vec<RewrittenStatement>,
    pub results_match: Option<bool>,
}

/// One side of a before/after comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Measure {
    pub cost: Option<f64>,
    /// The median execution time of the runs.
    pub time_ms: Option<f64>,
    /// The fastest and the slowest of the runs: the spread a difference is judged against
    /// ([`super::noise`]).
    #[serde(default)]
    pub time_min_ms: Option<f64>,
    #[serde(default)]
    pub time_max_ms: Option<f64>,
    /// How many EXPLAIN ANALYZE runs the times come from (none for a planned cost).
    #[serde(default)]
    pub runs: Option<usize>,
    /// One line: the plan's scans, e.g. `Index Scan using reviews_product_id_idx on reviews`.
    pub plan: String,
    /// The plan's nodes (those of the last run when timed), for drawing the plans before and
    /// after side by side: at most 500 nodes, only their count beyond. Absent when the side was
    /// not planned as such (a materialized view's rewrite, a figure carried over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_nodes: Option<PlanNodes>,
}

impl Measure {
    /// A single measured time (one run): its own spread.
    pub fn timed(cost: Option<f64>, time_ms: Option<f64>, plan: String) -> Measure {
        Measure {
            cost,
            time_ms,
            time_min_ms: time_ms,
            time_max_ms: time_ms,
            runs: time_ms.map(|_| 1),
            plan,
            plan_nodes: None,
        }
    }

    /// The time with its spread, `12.1 ms (11.8–12.6, 5 runs)`, or the cost, `cost 25.9`.
    pub fn figure(&self) -> String {
        match self.time_ms {
            Some(t) => format!("{} ms{}", number(t), self.spread()),
            None => match self.cost {
                Some(c) => format!("cost {}", number(c)),
                None => "?".into(),
            },
        }
    }

    /// ` (11.8–12.6, 5 runs)`, ` (1 run)`, or nothing when the runs are not known.
    pub fn spread(&self) -> String {
        match (self.time_min_ms, self.time_max_ms, self.runs) {
            (_, _, Some(1)) => " (1 run)".into(),
            (Some(lo), Some(hi), Some(runs)) => {
                format!(" ({}–{}, {runs} runs)", number(lo), number(hi))
            }
            (_, _, Some(runs)) => format!(" ({runs} runs)"),
            _ => String::new(),
        }
    }

    /// Improvement of `after` over `self` in percent: on time when both have it, else on cost.
    pub fn improvement_pct(&self, after: &Measure) -> Option<f64> {
        let (before, after) = match (self.time_ms, after.time_ms) {
            (Some(b), Some(a)) => (b, a),
            _ => (self.cost?, after.cost?),
        };
        (before > 0.0).then(|| (before - after) / before * 100.0)
    }
}

/// `1234.5` → `1235`, `12.345` → `12.3`, `0.0123` → `0.012`: enough digits to compare.
pub fn number(value: f64) -> String {
    let abs = value.abs();
    if abs >= 100.0 {
        format!("{value:.0}")
    } else if abs >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// One statement the suggestion serves, measured without and with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatementVerification {
    pub statement: usize,
    pub before: Measure,
    pub after: Measure,
    pub used: bool,
    pub improvement_pct: Option<f64>,
}

/// How a suggestion was proven, and what it showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verification {
    pub method: VerifyMode,
    pub per_statement: Vec<StatementVerification>,
    pub improvement_pct: Option<f64>,
    pub size_bytes: Option<i64>,
    pub build_ms: Option<f64>,
    /// Names of the suggestions already in place during this measurement (verification keeps the
    /// most effective first and judges each next one on what it adds); empty when measured alone.
    pub alongside: Vec<String>,
    /// pgdiag's estimate of the index's size once built, from the table's statistics
    /// ([`crate::advise::index_size`]); null when it could not be made (an expression key, a
    /// column never analyzed, not a btree).
    #[serde(default)]
    pub estimated_size_bytes: Option<i64>,
    /// Statements it does not serve whose plan it changed and made slower beyond noise
    /// ([`super::noise`]): harm, which rejects it. (A served statement made slower is in
    /// `per_statement`.)
    #[serde(default)]
    pub harms: Vec<StatementVerification>,
    /// What selection weighed: gain, harm, size and upkeep.
    #[serde(default)]
    pub weighed: Option<Weighed>,
    /// The kept suggestion it was rejected beside, competing for the same statements: what it is
    /// the runner-up of when that one is dropped again after `--apply`. Not in the JSON (the
    /// rejected reason names it).
    #[serde(skip)]
    pub lost_to: Option<String>,
}

impl Verification {
    /// The size selection weighs: the built size, else pgdiag's estimate, else HypoPG's.
    pub fn weighed_size(&self) -> Option<i64> {
        if self.method == VerifyMode::Build {
            self.size_bytes.or(self.estimated_size_bytes)
        } else {
            self.estimated_size_bytes.or(self.size_bytes)
        }
    }
}

/// What a workload's figures are per ([`Weighed::basis`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Each statement given counted once: one run of them.
    #[default]
    Once,
    /// Each statement times its calls per hour (workload mode).
    PerHour,
    /// Each statement times its calls (workload mode, the time span unknown).
    Calls,
}

impl Basis {
    /// `per run of the statements`, `per hour`, `over the workload's calls`.
    pub fn phrase(self) -> &'static str {
        match self {
            Basis::Once => "per run of the statements",
            Basis::PerHour => "per hour",
            Basis::Calls => "over the workload's calls",
        }
    }
}

/// The net benefit of a suggestion over the statements given (each counted once, as one run of
/// the workload), as selection weighed it ([`super::benefit`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Weighed {
    /// `ms` (measured times) or `cost` (planned costs).
    pub unit: String,
    /// What the figures are per: `once` (each statement given counted once: one run of them),
    /// `per_hour` (workload mode: each statement times its calls per hour), `calls` (workload mode
    /// without a time span: each statement times its calls).
    #[serde(default)]
    pub basis: Basis,
    /// Time or cost saved, summed over the statements whose plan it changed and made cheaper.
    pub saved: f64,
    /// Time or cost lost, summed over the statements it made slower beyond noise.
    pub lost: f64,
    /// Index upkeep per run of the statements: the index entries its table's writes add per read
    /// of the table, times the statements reading it, times the cost of one entry.
    pub upkeep: f64,
    /// Index entries the table's writes made per read of it, since the statistics were reset
    /// (`pg_stat_user_tables`); null when the server did not say.
    pub entries_per_read: Option<f64>,
    /// The index entries its table's writes would add per run of the statements (per hour in
    /// workload mode): `entries_per_read` × the reads of the table; null when the writes are
    /// unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_entries: Option<f64>,
    /// `saved - lost - upkeep`.
    pub net: f64,
    /// `net` as a share (%) of the time or cost of every statement given: what orders
    /// suggestions against each other.
    pub net_share_pct: f64,
    /// The size weighed (the built size, else the estimate).
    pub size_bytes: Option<i64>,
    /// `net` as a share (%) of the workload as it stood when this suggestion was judged (beside
    /// the ones kept before it): what must pay for `size_share_pct`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saves_now_pct: Option<f64>,
    /// The size as a share (%) of the data the statements read (their tables with indexes and
    /// TOAST, before anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_share_pct: Option<f64>,
}

/// A statement (or one of its plan nodes) that got no suggestion, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NoSuggestionEntry {
    pub statement: usize,
    pub node_id: Option<usize>,
    pub relation: Option<String>,
    pub reason: String,
}

/// One statement measured before and after all the kept suggestions together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatementComparison {
    pub statement: usize,
    pub before: Measure,
    pub after: Measure,
    /// What the comparison shows, by the noise rule ([`super::noise`]).
    #[serde(default)]
    pub verdict: Verdict,
}

/// What a before/after comparison shows once noise is set aside ([`super::noise::verdict`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The plan did not change: whatever the times did, nothing is claimed.
    #[default]
    SamePlan,
    /// The plan changed and the difference is within noise.
    WithinNoise,
    /// The plan changed and it is faster beyond noise.
    Faster,
    /// The plan changed and it is slower beyond noise.
    Slower,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::SamePlan => "same_plan",
            Verdict::WithinNoise => "within_noise",
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
        }
    }
}

/// What applying did to one change: the status [`super::apply()`] reports and `apply.changes[]`
/// records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Built now.
    Created,
    /// A valid index with the same definition (or the view) was already there under the entry's
    /// name; nothing ran.
    AlreadyExisted,
    Failed,
    /// Not attempted: an earlier change failed, the user did not confirm, or it was left out.
    Skipped,
    /// Created by this run, then dropped again: it made a statement slower beyond noise (the
    /// entry's message names the statement and the numbers).
    Reverted,
}

impl ChangeStatus {
    /// As in the JSON: `created`, `already_existed`, `failed`, `skipped`, `reverted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::Created => "created",
            ChangeStatus::AlreadyExisted => "already_existed",
            ChangeStatus::Failed => "failed",
            ChangeStatus::Skipped => "skipped",
            ChangeStatus::Reverted => "reverted",
        }
    }

    /// The change exists on the database now (whether this run created it or not).
    pub fn in_place(self) -> bool {
        matches!(self, ChangeStatus::Created | ChangeStatus::AlreadyExisted)
    }
}

/// One suggestion in `apply.changes[]`: what applying it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeEntry {
    pub id: String,
    pub kind: SuggestionKind,
    /// The name the object has in the database: the suggestion's, or the free one it was built
    /// under when another object held that name (then `suggested_name` is the suggestion's).
    pub name: String,
    pub status: ChangeStatus,
    pub elapsed_ms: Option<f64>,
    pub size_bytes: Option<i64>,
    pub dropped_invalid: bool,
    pub message: Option<String>,
    /// The suggestion's name, when the object is in the database under another one (`name`).
    #[serde(default)]
    pub suggested_name: Option<String>,
    /// What the build waited for, when it waited: a lock on the table, or older transactions.
    #[serde(default)]
    pub waits: Vec<BuildWait>,
    /// The statement to run to drop an INVALID index a failed build left and could not drop (the
    /// next `--apply` that builds the same index drops it first).
    #[serde(default)]
    pub invalid_left: Option<String>,
}

/// What an index build (or the drop of an INVALID index) waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitKind {
    /// A lock on the table another session holds (bounded by `--lock-timeout`).
    Lock,
    /// Transactions older than the build to end: the table's writers before the build and before
    /// its validation, then every transaction of the database with an older snapshot (bounded by
    /// `--build-wait`).
    Snapshot,
}

impl WaitKind {
    /// As in the JSON: `lock`, `snapshot`.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitKind::Lock => "lock",
            WaitKind::Snapshot => "snapshot",
        }
    }

    /// What was waited for, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            WaitKind::Lock => "a lock on the table",
            WaitKind::Snapshot => "older transactions to end",
        }
    }

    /// The option that bounds it.
    pub fn option(self) -> &'static str {
        match self {
            WaitKind::Lock => "--lock-timeout",
            WaitKind::Snapshot => "--build-wait",
        }
    }
}

/// One kind of wait of a build: how long in all, against which bound, in which phase, and the
/// sessions seen blocking it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BuildWait {
    pub kind: WaitKind,
    /// Time spent waiting (sampled every few tens of milliseconds).
    pub waited_ms: f64,
    /// The bound: a single lock wait may last `limit_ms`, all snapshot waits together too.
    pub limit_ms: f64,
    /// The build was cancelled because this wait reached its bound.
    pub gave_up: bool,
    /// `pg_stat_progress_create_index.phase` when last seen waiting (`waiting for old snapshots`);
    /// null for a drop.
    pub phase: Option<String>,
    /// The sessions seen blocking it, each as last seen.
    pub blockers: Vec<BlockingSession>,
}

/// A session that blocked a build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BlockingSession {
    pub pid: i32,
    /// `pg_stat_activity.state`: `active`, `idle in transaction`...
    pub state: Option<String>,
    /// How long its transaction had been open.
    pub transaction_age_ms: Option<f64>,
    /// The start of its statement, on one line; hidden when it mentions a password.
    pub query: Option<String>,
}

/// `850 ms`, `3.0 s`: a wait, for messages.
fn fmt_wait(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// `waited 3.0 s for older transactions to end (--build-wait 3.0 s; phase: waiting for old
/// snapshots); blocked by pid 4242 (idle in transaction, transaction open 12.5 s): BEGIN; ...`
impl fmt::Display for BuildWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "waited {} for {} ({} {}",
            fmt_wait(self.waited_ms),
            self.kind.describe(),
            self.kind.option(),
            fmt_wait(self.limit_ms)
        )?;
        if let Some(phase) = &self.phase {
            write!(f, "; phase: {phase}")?;
        }
        write!(f, ")")?;
        for (i, blocker) in self.blockers.iter().enumerate() {
            write!(
                f,
                "{}{blocker}",
                if i == 0 { "; blocked by " } else { "; " }
            )?;
        }
        Ok(())
    }
}

/// `pid 4242 (idle in transaction, transaction open 12.5 s): SELECT count(*) FROM t`
impl fmt::Display for BlockingSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.pid)?;
        let mut facts = Vec::new();
        if let Some(state) = &self.state {
            facts.push(state.clone());
        }
        if let Some(age) = self.transaction_age_ms {
            facts.push(format!("transaction open {}", fmt_wait(age)));
        }
        if !facts.is_empty() {
            write!(f, " ({})", facts.join(", "))?;
        }
        if let Some(query) = &self.query {
            write!(f, ": {query}")?;
        }
        Ok(())
    }
}

/// A statement measured again after `--apply` created the kept suggestions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AfterApply {
    pub statement: usize,
    pub before: Measure,
    pub after: Measure,
    pub plan_change: Option<String>,
    /// The statement rewritten to read a materialized view that was created, measured too.
    pub rewritten: Option<Measure>,
    /// What `before` → `after` shows by the noise rule ([`super::noise`]).
    #[serde(default)]
    pub verdict: Verdict,
}

/// The message of a change the user declined at `--apply`'s prompt.
pub const NOT_CONFIRMED: &str = "not confirmed";

/// What `--apply` did as a whole, in one word ([`ApplySection::status`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyStatus {
    /// Every chosen change is in place (created, or already there); some may have been reverted
    /// afterwards for making a statement slower (their change says so).
    #[default]
    Applied,
    /// Nothing to create: no suggestion was kept (or only views, without `--with-matviews`).
    NothingToApply,
    /// The user did not confirm: nothing was created.
    NotConfirmed,
    /// Applying stopped at a failure (`error`); `changes` says what was created before it.
    Failed,
}

impl ApplyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyStatus::Applied => "applied",
            ApplyStatus::NothingToApply => "nothing_to_apply",
            ApplyStatus::NotConfirmed => "not_confirmed",
            ApplyStatus::Failed => "failed",
        }
    }
}

/// A statement of the input that `--apply` could not take into account as the others: not
/// explained at all, or judged only on the planner's estimates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatementLeftOut {
    pub statement: usize,
    /// `failed` or `estimated_after_timeout`, as its `planning`.
    pub planning: Planning,
    pub reason: String,
}

/// What `--apply` did: each change, and every statement measured after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApplySection {
    /// What was done as a whole; `reason` says it in words, with the counts.
    #[serde(default)]
    pub status: ApplyStatus,
    #[serde(default)]
    pub reason: String,
    pub changes: Vec<ChangeEntry>,
    pub after: Vec<AfterApply>,
    pub error: Option<String>,
    /// Statements not explained (nothing was judged for them, no change was checked against
    /// them: the others were applied without them) and statements judged on estimates only
    /// (they ran longer than `--timeout`: before and after are planned costs).
    #[serde(default)]
    pub statements_left_out: Vec<StatementLeftOut>,
}

impl ApplySection {
    /// Set `status`, `reason` and `statements_left_out` from the changes, the error and the
    /// statements: once applying (and the measuring after it) is over.
    pub fn conclude(&mut self, statements: &[StatementEntry]) {
        self.statements_left_out = statements
            .iter()
            .filter_map(|s| {
                let reason = match s.planning {
                    Planning::Failed => format!(
                        "not explained ({}): nothing was judged for it and no change was checked against it",
                        s.error.as_ref().map_or("no plan", |e| e.message.as_str())
                    ),
                    Planning::EstimatedAfterTimeout => format!(
                        "{}; measured before and after by planned cost only",
                        s.notes.first().map_or("judged on estimates", String::as_str)
                    ),
                    _ => return None,
                };
                Some(StatementLeftOut {
                    statement: s.index,
                    planning: s.planning,
                    reason,
                })
            })
            .collect();
        let count =
            |status: ChangeStatus| self.changes.iter().filter(|c| c.status == status).count();
        let (created, existed, reverted, skipped) = (
            count(ChangeStatus::Created),
            count(ChangeStatus::AlreadyExisted),
            count(ChangeStatus::Reverted),
            count(ChangeStatus::Skipped),
        );
        let in_place = format!(
            "{created} created, {existed} already existed{}",
            if reverted > 0 {
                format!(", {reverted} reverted (made a statement slower)")
            } else {
                String::new()
            }
        );
        let skipped_reasons = || {
            let mut reasons: Vec<&str> = self
                .changes
                .iter()
                .filter(|c| c.status == ChangeStatus::Skipped)
                .filter_map(|c| c.message.as_deref())
                .collect();
            reasons.dedup();
            reasons.join("; ")
        };
        let (status, mut reason) = if let Some(error) = &self.error {
            (ApplyStatus::Failed, format!("{error} ({in_place})"))
        } else if created + existed + reverted == 0 {
            if self
                .changes
                .iter()
                .any(|c| c.message.as_deref() == Some(NOT_CONFIRMED))
            {
                (
                    ApplyStatus::NotConfirmed,
                    "not confirmed: nothing was created".to_owned(),
                )
            } else if skipped > 0 {
                (
                    ApplyStatus::NothingToApply,
                    format!("nothing created: {}", skipped_reasons()),
                )
            } else {
                (
                    ApplyStatus::NothingToApply,
                    "no suggestion was kept".to_owned(),
                )
            }
        } else {
            let mut reason = in_place;
            if skipped > 0 {
                reason.push_str(&format!(", {skipped} skipped ({})", skipped_reasons()));
            }
            (ApplyStatus::Applied, reason)
        };
        let list = |planning: Planning| {
            self.statements_left_out
                .iter()
                .filter(|s| s.planning == planning)
                .map(|s| format!("#{}", s.statement))
                .collect::<Vec<_>>()
        };
        let failed = list(Planning::Failed);
        if !failed.is_empty() {
            reason.push_str(&format!("; not explained, left out: {}", failed.join(", ")));
        }
        let estimated = list(Planning::EstimatedAfterTimeout);
        if !estimated.is_empty() {
            reason.push_str(&format!(
                "; judged on estimates (ran past --timeout): {}",
                estimated.join(", ")
            ));
        }
        self.status = status;
        self.reason = reason;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(cost: Option<f64>, time_ms: Option<f64>) -> Measure {
        Measure {
            cost,
            time_ms,
            ..Measure::default()
        }
    }

    fn index_suggestion() -> Suggestion {
        Suggestion {
            id: "s1".into(),
            status: SuggestionStatus::Kept,
            rejected_reason: None,
            reason: "Seq Scan on t".into(),
            serves: vec![1],
            ddl: vec![
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_a_idx\" ON \"t\" (\"a\")".into(),
            ],
            object: SuggestedObject::Index(IndexInfo {
                schema: None,
                table: "t".into(),
                name: "t_a_idx".into(),
                method: "btree".into(),
                columns: Vec::new(),
                include: Vec::new(),
                include_omitted: Vec::new(),
                predicate: None,
                requires_extension: None,
                finding_rules: vec![FindingRule::Rule(crate::diagnose::RuleId::SeqScan)],
            }),
            verification: None,
        }
    }

    #[test]
    fn a_suggestion_serializes_with_its_kind_and_one_object_field_per_kind() {
        let suggestion = index_suggestion();
        let json = serde_json::to_string(&suggestion).unwrap();
        let keys: Vec<String> =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json)
                .unwrap()
                .keys()
                .cloned()
                .collect();
        // The documented order (docs/suggest-report.md), checked on the text: a parsed map sorts
        // its keys.
        let positions: Vec<usize> = [
            "\"id\"",
            "\"kind\":\"index\"",
            "\"status\"",
            "\"rejected_reason\"",
            "\"reason\"",
            "\"serves\"",
            "\"ddl\"",
            "\"index\":{",
            "\"matview\":null",
            "\"verification\"",
        ]
        .iter()
        .map(|key| {
            json.find(key)
                .unwrap_or_else(|| panic!("{key} missing: {json}"))
        })
        .collect();
        assert!(positions.is_sorted(), "{json}");
        assert_eq!(keys.len(), 10, "{json}");
        let back: Suggestion = serde_json::from_str(&json).unwrap();
        assert_eq!(back, suggestion);
    }

    #[test]
    fn a_suggestion_whose_object_does_not_match_its_kind_is_refused() {
        let json = serde_json::to_string(&index_suggestion())
            .unwrap()
            .replace("\"kind\":\"index\"", "\"kind\":\"matview\"");
        let error = serde_json::from_str::<Suggestion>(&json).unwrap_err();
        assert!(error.to_string().contains("kind matview"), "{error}");
    }

    #[test]
    fn improvement_prefers_time_and_falls_back_to_cost() {
        let before = measure(Some(100.0), Some(20.0));
        let after = measure(Some(50.0), Some(5.0));
        assert_eq!(before.improvement_pct(&after), Some(75.0));
        let before = measure(Some(100.0), None);
        assert_eq!(before.improvement_pct(&after), Some(50.0));
        let zero = measure(Some(0.0), None);
        assert_eq!(zero.improvement_pct(&after), None);
        let worse = measure(Some(40.0), None);
        assert_eq!(worse.improvement_pct(&after), Some(-25.0));
    }
}
