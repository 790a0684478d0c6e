//! Findings to index advice: read the plan's conditions ([`conditions`]) and derive candidate btree
//! indexes, with DDL, or a reason why none fits ([`candidates`]). Checking candidates against the
//! catalog lives in [`crate::pg::catalog`]. [`suggest`] runs the whole pipeline for `pgdiag suggest`:
//! plans, candidates merged across statements, proof ([`verify`]) and the [`report`].

pub mod candidates;
pub mod conditions;
pub mod report;
pub mod suggest;
pub mod verify;

pub use candidates::{Advice, Candidate, IndexColumn, NoSuggestion, candidates, merge};
pub use conditions::{
    Predicate, PredicateKind, SortKey, TableRef, Target, parse_condition, parse_sort_key, preclean,
};
