//! The report document: what `pgdiag explain` found, independent of how it is rendered. Its JSON
//! form is a public, versioned interface (docs/json-report.md): add fields freely, but renaming or
//! removing one means bumping [`SCHEMA_VERSION`].

use std::collections::BTreeMap;

pub use crate::pg::ServerInfo;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnose::{Check, DiagnoseConfig, Finding, diagnose_with};
pub use crate::plan::NodeReport;
use crate::plan::{Analysis, Explain, RawPlan, node_reports};

/// Version of the JSON report schema.
pub const SCHEMA_VERSION: u32 = 1;

/// What `pgdiag explain --format json` prints: where the statements came from, the server they
/// ran on, and for each statement its plan's nodes, the findings of the diagnosis rules, the
/// nodes they examined and did not flag, and the plan as PostgreSQL produced it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct ExplainReport {
    pub schema_version: u32,
    pub pgdiag_version: String,
    pub source: Source,
    /// The server the statements ran on; absent for offline analysis (`--plan`).
    pub server: Option<ServerInfo>,
    pub statements: Vec<StatementReport>,
}

impl ExplainReport {
    /// Where a line of a statement is: `query.sql:3`, in the statement's own source when the
    /// input had several.
    pub fn location(&self, statement: &StatementReport, line: usize) -> String {
        match &statement.source {
            Some(name) => format!("{name}:{line}"),
            None => self.source.location(line),
        }
    }

    pub fn new(source: Source, server: Option<ServerInfo>) -> Self {
        ExplainReport {
            schema_version: SCHEMA_VERSION,
            pgdiag_version: env!("CARGO_PKG_VERSION").to_owned(),
            source,
            server,
            statements: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A SQL file given as argument.
    SqlFile,
    /// SQL read from standard input.
    Stdin,
    /// SQL given with `-c`.
    Command,
    /// A saved EXPLAIN JSON or auto_explain log (`--plan`).
    PlanFile,
    /// Statements of a workload (`--from-pg-stat-statements`, `--from-log`); `path` is the log.
    Workload,
}

/// Where the statements came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
pub struct Source {
    pub kind: SourceKind,
    /// The file's path as given, for files.
    pub path: Option<String>,
}

impl Source {
    /// How to name a location in this source: `query.sql:3`, `<stdin>:3`, `<command>:1`.
    /// (With several sources, a statement names its own: see [`ExplainReport::location`].)
    pub fn location(&self, line: usize) -> String {
        let name = match (&self.kind, &self.path) {
            (_, Some(p)) => p.as_str(),
            (SourceKind::Stdin, None) => "<stdin>",
            _ => "<command>",
        };
        format!("{name}:{line}")
    }
}

/// One statement of the input (or one plan of a saved file) and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct StatementReport {
    /// 1-based position in the input.
    pub index: usize,
    /// The file the statement comes from (or `<stdin>`), when the input had several sources;
    /// absent otherwise, the report's `source` saying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// 1-based line where the statement starts, for SQL input.
    pub line: Option<usize>,
    /// The statement text (for saved plans: auto_explain's `Query Text`, when present).
    pub sql: Option<String>,
    /// Whether the statement was executed (EXPLAIN ANALYZE) — false with `--no-analyze` and for
    /// saved plans without actual figures.
    pub analyzed: bool,
    /// The statement was executed inside a transaction that was then rolled back (every analysed
    /// statement is).
    pub rolled_back: bool,
    /// The statement is DML or has a data-modifying CTE; what it wrote was undone.
    pub writes: bool,
    /// Functions the statement called whose effects survive the rollback (run only with
    /// `--allow-side-effects`): what may not have been undone. Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub side_effects: Vec<SideEffectReport>,
    /// Number of `$n` parameters bound.
    pub parameters: usize,
    /// Present when the statement was explained.
    pub summary: Option<PlanSummary>,
    /// The plan's nodes, depth-first (a parent before its children).
    pub nodes: Vec<NodeReport>,
    /// What the diagnosis rules found, most time at stake first.
    #[serde(default)]
    pub findings: Vec<FindingReport>,
    /// Nodes the rules examined and did not flag, with the reason.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// The EXPLAIN JSON document exactly as PostgreSQL produced it (for pev2, explain.depesz...).
    pub plan: Option<RawPlan>,
    /// Present when the statement could not be explained.
    pub error: Option<ErrorReport>,
    /// `$n` without values, planned generically (`EXPLAIN (GENERIC_PLAN)` on PostgreSQL 16+, a
    /// prepared statement's generic plan before): estimated, valid for any values. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generic_plan: bool,
}

/// A finding as the report shows it: the diagnosis, plus the index `suggest` would propose for
/// its node when there is one (computed by the command, which knows the catalog).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct FindingReport {
    #[serde(flatten)]
    pub finding: Finding,
    /// The `CREATE INDEX` statement `suggest` proposes for this finding's node, as it prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_index: Option<String>,
}

impl From<Finding> for FindingReport {
    fn from(finding: Finding) -> Self {
        FindingReport {
            finding,
            suggested_index: None,
        }
    }
}

impl std::ops::Deref for FindingReport {
    type Target = Finding;

    fn deref(&self) -> &Finding {
        &self.finding
    }
}

/// Whole-plan figures of an explained statement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct PlanSummary {
    pub planning_time_ms: Option<f64>,
    pub execution_time_ms: Option<f64>,
    /// Execution time, or the root node's time when the plan has no execution time.
    pub total_time_ms: Option<f64>,
    pub jit: Option<JitSummary>,
    /// Time spent in triggers (AFTER triggers of DML, foreign key checks).
    pub triggers_time_ms: f64,
    /// Non-default planner settings EXPLAIN reported (`SETTINGS`).
    pub settings: BTreeMap<String, String>,
}

/// JIT compilation, when the plan used it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct JitSummary {
    pub functions: Option<u64>,
    pub total_ms: Option<f64>,
    /// JIT time as a share (0..1) of execution time.
    pub share_of_execution: Option<f64>,
    /// The node whose time held the compile time (`jit_ms` on it), which was taken out of its
    /// exclusive and inclusive times; `None` when no node could hold it.
    #[serde(default)]
    pub node_id: Option<usize>,
    /// Compile time taken out of that node (inlining + optimization + emission, per process).
    #[serde(default)]
    pub taken_out_ms: Option<f64>,
}

/// A function called by an executed statement whose effect a rollback does not undo.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
pub struct SideEffectReport {
    /// As written, lower-cased unless quoted: `setval`, `pg_catalog.pg_stat_reset`.
    pub function: String,
    /// What survives: `sequence value (never rolled back)`, `statistics reset`, ...
    pub effect: String,
}

impl From<&crate::pg::SideEffect> for SideEffectReport {
    fn from(e: &crate::pg::SideEffect) -> Self {
        SideEffectReport {
            function: e.function.clone(),
            effect: e.effect.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// PostgreSQL rejected or failed the statement (syntax, unknown relation, ...).
    Server,
    /// DDL, utility or transaction control: EXPLAIN does not accept it.
    NotExplainable,
    /// The statement ran past `--timeout`.
    Timeout,
    /// Wrong number of `$n` parameter values.
    Parameters,
    /// Interrupted (Ctrl-C, SIGTERM or SIGHUP); cancelled on the server.
    Interrupted,
    /// Calls functions whose effects survive the rollback; refused without
    /// `--allow-side-effects`.
    SideEffects,
    /// Anything else (connection lost, unreadable plan).
    Other,
}

/// Why a statement could not be explained, with PostgreSQL's SQLSTATE, detail and hint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
pub struct ErrorReport {
    pub kind: ErrorKind,
    pub message: String,
    pub sqlstate: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// Where in the input the server pointed, 1-based.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl ErrorReport {
    pub fn from_pg(err: &crate::pg::Error) -> Self {
        use crate::pg::Error as E;
        let kind = match err {
            E::Server(_) => ErrorKind::Server,
            E::NotExplainable(_) => ErrorKind::NotExplainable,
            E::Timeout(_) => ErrorKind::Timeout,
            E::ParamCount { .. } => ErrorKind::Parameters,
            E::Interrupted => ErrorKind::Interrupted,
            E::SideEffects(_) => ErrorKind::SideEffects,
            _ => ErrorKind::Other,
        };
        match err {
            E::Server(s) => ErrorReport {
                kind,
                message: s.message.clone(),
                sqlstate: Some(s.code.clone()),
                detail: s.detail.clone(),
                hint: s.hint.clone(),
                line: s.line,
                column: s.column,
            },
            other => ErrorReport {
                kind,
                message: other.to_string(),
                sqlstate: other.sqlstate().map(str::to_owned),
                detail: None,
                hint: None,
                line: None,
                column: None,
            },
        }
    }
}

impl StatementReport {
    /// A statement that could not be explained.
    pub fn failed(
        index: usize,
        line: Option<usize>,
        sql: Option<String>,
        error: ErrorReport,
    ) -> Self {
        StatementReport {
            index,
            source: None,
            line,
            sql,
            analyzed: false,
            rolled_back: false,
            side_effects: Vec::new(),
            writes: false,
            parameters: 0,
            summary: None,
            nodes: Vec::new(),
            findings: Vec::new(),
            checks: Vec::new(),
            plan: None,
            error: Some(error),
            generic_plan: false,
        }
    }

    /// A statement whose plan was analysed.
    pub fn explained(
        index: usize,
        line: Option<usize>,
        sql: Option<String>,
        explain: &Explain,
        analysis: &Analysis,
        raw_plan: Option<RawPlan>,
        diagnose_config: &DiagnoseConfig,
    ) -> Self {
        let nodes = node_reports(explain, analysis);
        let diagnosis = diagnose_with(explain, analysis, diagnose_config);
        let jit = explain.jit.as_ref().map(|j| JitSummary {
            functions: Some(j.functions),
            total_ms: analysis.jit_total_ms,
            share_of_execution: analysis.jit_share_of_total,
            node_id: analysis.jit_node,
            taken_out_ms: analysis
                .jit_node
                .and_then(|id| analysis.nodes.get(id))
                .and_then(|node| node.jit_ms),
        });
        StatementReport {
            index,
            source: None,
            line,
            sql: sql.or_else(|| explain.query_text.clone()),
            analyzed: analysis.analyzed,
            rolled_back: false,
            side_effects: Vec::new(),
            writes: false,
            parameters: 0,
            summary: Some(PlanSummary {
                planning_time_ms: analysis.planning_time_ms,
                execution_time_ms: analysis.execution_time_ms,
                total_time_ms: analysis.total_time_ms,
                jit,
                triggers_time_ms: analysis.triggers_time_ms,
                settings: explain.settings.clone(),
            }),
            nodes,
            findings: diagnosis
                .findings
                .into_iter()
                .map(FindingReport::from)
                .collect(),
            checks: diagnosis.checks,
            plan: raw_plan,
            error: None,
            generic_plan: false,
        }
    }
}
