//! Findings to index advice: read the plan's conditions ([`conditions`]) and derive candidate btree
//! indexes, with DDL, or a reason why none fits ([`candidates`]). Checking candidates against the
//! catalog lives in [`crate::pg::catalog`]; applying changes safely lives in [`apply`]; the
//! single-column baseline pgdiag is benchmarked against in [`single_column`]; HypoPG verification
//! comes with `suggest`.

pub mod apply;
pub mod candidates;
pub mod conditions;
pub mod single_column;

pub use apply::{
    APPLY_LOCK_KEY, ApplyError, ApplyEvent, ApplyOptions, ApplyReport, Change, ChangeFailure,
    ChangeOutcome, ChangeStatus, FailureKind, apply,
};
pub use candidates::{Advice, Candidate, IndexColumn, NoSuggestion, candidates, merge};
pub use conditions::{
    Predicate, PredicateKind, SortKey, TableRef, Target, parse_condition, parse_sort_key, preclean,
};
pub use single_column::single_column_advice;
