//! Findings (or, for plans without timings, estimated costs) to advice: read the plan's conditions
//! ([`conditions`]) and derive candidate indexes — btree, expression, partial, INCLUDE, GIN — with
//! DDL, or a reason why none fits ([`candidates`](mod@candidates)); materialized views for heavy aggregates
//! ([`matview`]) and their proof on the database ([`matview_proof`]). Checking candidates against
//! the catalog lives in [`crate::pg::catalog`]; applying changes safely lives in [`apply`](mod@apply); the
//! single-column baseline pgdiag is benchmarked against in [`single_column`].
//! [`suggest`] runs the whole pipeline for `pgdiag suggest`: plans, candidates merged across
//! statements, proof ([`verify`]) and the [`report`].

pub mod apply;
pub mod candidates;
pub mod conditions;
pub mod existing;
pub mod matview;
pub mod matview_proof;
pub mod report;
pub mod single_column;
pub mod suggest;
pub mod verify;

pub use apply::{
    APPLY_LOCK_KEY, ApplyError, ApplyEvent, ApplyOptions, ApplyReport, Change, ChangeFailure,
    ChangeOutcome, ChangeStatus, FailureKind, apply,
};
pub use candidates::{
    Advice, Candidate, FindingRule, IndexColumn, IndexKey, IndexMethod, NoSuggestion, candidates,
    candidates_by_cost, merge,
};
pub use conditions::{
    Constant, PATTERN_OPCLASS, Predicate, PredicateKind, SortKey, TableRef, Target,
    normalize_expression, parse_condition, parse_sort_key, preclean,
};
pub use matview::{MatviewAdvice, MatviewSuggestion, matview_suggestions, unique_view_names};
pub use matview_proof::{MatviewProof, check_existing_view, verify_matview};
pub use single_column::single_column_advice;
