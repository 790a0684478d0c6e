//! Renderers for what pgdiag found. The report model is format-independent; every renderer
//! writes to `impl io::Write` so each output can be snapshot-tested.

pub mod cache_advice;
pub mod check_text;
mod color;
pub mod github;
pub mod indexes;
pub mod junit;
pub mod markdown;
pub mod model;
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

/// The report as pretty-printed JSON (the documented schema, docs/json-report.md).
pub fn render_json(w: &mut impl Write, report: &ExplainReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, report)?;
    writeln!(w)
}
