//! Findings to advice: read the plan's conditions ([`conditions`]) and derive candidate btree
//! indexes, with DDL, or a reason why none fits ([`candidates`](mod@candidates)); materialized
//! views for heavy aggregates ([`matview`]) and their proof on the database ([`matview_proof`]).
//! Checking candidates against the catalog lives in [`crate::pg::catalog`]; HypoPG verification
//! and applying come with `suggest`.

pub mod candidates;
pub mod conditions;
pub mod matview;
pub mod matview_proof;

pub use candidates::{Advice, Candidate, IndexColumn, NoSuggestion, candidates, merge};
pub use conditions::{
    Predicate, PredicateKind, SortKey, TableRef, Target, parse_condition, parse_sort_key, preclean,
};
pub use matview::{MatviewAdvice, MatviewSuggestion, matview_suggestions, unique_view_names};
pub use matview_proof::{MatviewProof, check_existing_view, verify_matview};
