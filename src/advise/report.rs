//! The `suggest` report: what was planned, suggested, proven and applied, as one serializable
//! document. Its JSON form is a stable interface documented in docs/suggest-report.md; renderers
//! (text, DDL script) live in the `report` module, above this one.

use serde::{Deserialize, Serialize};

use super::candidates::FindingRule;
use crate::diagnose::RuleId;
use crate::pg::ServerInfo;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyInfo {
    pub mode: VerifyMode,
    /// `auto`, `hypo`, `build` or `none`.
    pub requested: String,
    pub runs: usize,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Planning {
    /// Executed with EXPLAIN ANALYZE in a rolled-back transaction.
    Analyze,
    /// `$n` without values: the generic plan, judged on estimated cost.
    Generic,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementError {
    pub message: String,
    pub sqlstate: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    Index,
    Matview,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub id: String,
    pub kind: SuggestionKind,
    pub status: SuggestionStatus,
    pub rejected_reason: Option<String>,
    pub reason: String,
    pub serves: Vec<usize>,
    pub ddl: Vec<String>,
    pub index: Option<IndexInfo>,
    pub matview: Option<MatviewInfo>,
    pub verification: Option<Verification>,
}

impl Suggestion {
    /// The index or view name, for tables and messages.
    pub fn name(&self) -> &str {
        if let Some(index) = &self.index {
            &index.name
        } else if let Some(mv) = &self.matview {
            &mv.name
        } else {
            &self.id
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexColumnInfo {
    pub name: String,
    pub desc: bool,
    pub nulls_first: bool,
    pub opclass: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexInfo {
    pub schema: Option<String>,
    pub table: String,
    pub name: String,
    pub method: String,
    pub columns: Vec<IndexColumnInfo>,
    pub include: Vec<String>,
    pub predicate: Option<String>,
    pub requires_extension: Option<String>,
    pub finding_rules: Vec<FindingRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewrittenStatement {
    pub statement: usize,
    pub sql: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub cost: Option<f64>,
    pub time_ms: Option<f64>,
    /// One line: the plan's scans, e.g. `Index Scan using reviews_product_id_idx on reviews`.
    pub plan: String,
}

impl Measure {
    /// Improvement of `after` over `self` in percent: on time when both have it, else on cost.
    pub fn improvement_pct(&self, after: &Measure) -> Option<f64> {
        let (before, after) = match (self.time_ms, after.time_ms) {
            (Some(b), Some(a)) => (b, a),
            _ => (self.cost?, after.cost?),
        };
        (before > 0.0).then(|| (before - after) / before * 100.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementVerification {
    pub statement: usize,
    pub before: Measure,
    pub after: Measure,
    pub used: bool,
    pub improvement_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub method: VerifyMode,
    pub per_statement: Vec<StatementVerification>,
    pub improvement_pct: Option<f64>,
    pub size_bytes: Option<i64>,
    pub build_ms: Option<f64>,
    /// Names of the suggestions already in place during this measurement (verification keeps the
    /// most effective first and judges each next one on what it adds); empty when measured alone.
    pub alongside: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoSuggestionEntry {
    pub statement: usize,
    pub node_id: Option<usize>,
    pub relation: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementComparison {
    pub statement: usize,
    pub before: Measure,
    pub after: Measure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    Created,
    AlreadyExisted,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedChange {
    pub id: String,
    pub kind: SuggestionKind,
    pub name: String,
    pub status: ChangeStatus,
    pub elapsed_ms: Option<f64>,
    pub size_bytes: Option<i64>,
    pub dropped_invalid: bool,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AfterApply {
    pub statement: usize,
    pub before: Measure,
    pub after: Measure,
    pub plan_change: Option<String>,
    /// The statement rewritten to read a materialized view that was created, measured too.
    pub rewritten: Option<Measure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplySection {
    pub changes: Vec<AppliedChange>,
    pub after: Vec<AfterApply>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(cost: Option<f64>, time_ms: Option<f64>) -> Measure {
        Measure {
            cost,
            time_ms,
            plan: String::new(),
        }
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
