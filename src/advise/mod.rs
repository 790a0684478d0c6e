//! Findings (or, for plans without timings, estimated costs) to index advice: read the plan's
//! conditions ([`conditions`]) and derive candidate indexes — btree, expression, partial, INCLUDE,
//! GIN — with DDL, or a reason why none fits ([`candidates`]). Checking candidates against the
//! catalog lives in [`crate::pg::catalog`]; HypoPG verification and applying come with `suggest`.

pub mod candidates;
pub mod conditions;

pub use candidates::{
    Advice, COST_RULE, Candidate, IndexColumn, IndexKey, IndexMethod, NoSuggestion, candidates,
    candidates_by_cost, merge,
};
pub use conditions::{
    Constant, PATTERN_OPCLASS, Predicate, PredicateKind, SortKey, TableRef, Target,
    normalize_expression, parse_condition, parse_sort_key, preclean,
};
