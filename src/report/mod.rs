//! Renderers for what pgdiag found. The report model is format-independent; every renderer
//! writes to `impl io::Write` so each output can be snapshot-tested.

pub mod cache_advice;
pub mod check_text;
mod color;
pub mod github;
pub mod html;
pub mod indexes;
pub mod junit;
pub mod markdown;
pub mod model;
mod plan_table;
pub mod suggest;
pub mod text;
pub mod top;

#[cfg(test)]
mod check_tests;

use std::io::{self, Write};

pub use model::{
    ErrorKind, ErrorReport, ExplainReport, FindingReport, NodeReport, PlanSummary, SCHEMA_VERSION,
    ServerInfo, SideEffectReport, Source, SourceKind, StatementReport,
};
pub use text::TextStyle;

/// What a report ran against: `user@host:port/db (PostgreSQL 15.4 ...)`; never a password.
pub fn describe_target(target: &str, server_version: &str) -> String {
    format!("{target} (PostgreSQL {server_version})")
}

/// The first line of every text report that ran against a server: `target: ` and
/// [`describe_target`].
pub fn write_target_line(w: &mut impl Write, target: &str, server_version: &str) -> io::Result<()> {
    writeln!(w, "target: {}", describe_target(target, server_version))
}

/// The report as pretty-printed JSON (the documented schema, docs/json-report.md).
pub fn render_json(w: &mut impl Write, report: &ExplainReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, report)?;
    writeln!(w)
}
