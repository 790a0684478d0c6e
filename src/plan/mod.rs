//! The plan stage: EXPLAIN output in, typed plan tree and per-node figures out.
//!
//! Pure by design (no I/O, no database, no printing) so that everything here is testable from saved
//! plans alone. [`parse_explain`] finds and loads plans in pasted or saved text (JSON, psql output,
//! auto_explain logs; text-format EXPLAIN through the private `text` module, into the same tree),
//! [`model`] holds the typed tree, and [`analyze`] derives exclusive times, row totals, estimate
//! factors and exclusive buffers; its module docs state the rules.
//! [`deep`] keeps every walk safe at any depth; [`RawPlan`] carries a document as text.
//! [`conditions`] is the one reader of the condition text nodes carry (filters, join conditions,
//! sort keys), for diagnosis and advice alike. [`names`] shows the planner's own aliases
//! (`lineitem_1`) as the table names people wrote; [`rounding`] says what a row count summed
//! from the server's rounded per-loop figures can be. [`nodes`] keeps a plan's nodes as the reports
//! serialize and draw them ([`NodeReport`], [`PlanNodes`]); [`diff`] tells which nodes changed
//! between two plans.

pub mod analysis;
pub mod conditions;
pub mod deep;
pub mod diff;
pub mod model;
pub mod names;
pub mod node_type;
pub mod nodes;
pub mod parse;
pub mod raw;
pub mod rounding;
pub mod synthetic;
mod text;

pub use analysis::{Analysis, EstimateDirection, NodeMetrics, analyze};
pub use model::{Buffers, Explain, Jit, JitTiming, PlanNode, Plans, Trigger, Worker};
pub use names::PeopleNames;
pub use node_type::NodeType;
pub use nodes::{MAX_KEPT_NODES, NodeReport, PlanNodes, node_reports};
pub use parse::{ParseError, parse_explain, parse_explain_document, parse_explain_value};
pub use raw::RawPlan;
pub use rounding::{LoopRows, RemovedShare};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod text_tests;
