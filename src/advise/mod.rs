//! Pure advice: plans and findings in, candidate DDL out, no database and no I/O (unit tested from
//! EXPLAIN JSON alone). Read the plan's conditions ([`conditions`]), derive candidate indexes —
//! btree, expression, partial, INCLUDE, GIN — with DDL, or a reason why none fits
//! ([`candidates`](mod@candidates)), tell whether an existing index (catalog rows read by
//! [`crate::pg::catalog`]) already serves one ([`existing`]), and synthesize materialized views for
//! heavy aggregates with the statements rewritten to read them ([`matview`]). [`row_size`] keeps
//! INCLUDE to columns of bounded size, so a covering index never makes an insert fail.
//! [`hygiene`] judges the indexes a database already has: which can go (invalid, duplicate,
//! prefix-redundant, unused) and why.
//!
//! Everything that talks to the database — planning, verifying, proving views, applying — is the
//! suggest pipeline, `src/suggest/`, one layer up.

pub mod candidates;
pub mod conditions;
pub mod existing;
pub mod hygiene;
pub mod index_size;
pub mod matview;
pub mod row_size;
pub mod statement;

pub use candidates::{
    Advice, Candidate, FindingRule, IndexColumn, IndexKey, IndexMethod, NoSuggestion, candidates,
    candidates_by_cost, merge,
};
pub use conditions::{
    Constant, PATTERN_OPCLASS, Predicate, PredicateKind, SortKey, TableRef, Target,
    normalize_expression, parse_condition, parse_sort_key, preclean,
};
pub use matview::{
    MatviewAdvice, MatviewSuggestion, matview_suggestions, share_views, unique_view_names,
};
pub use row_size::{OmittedInclude, bound_include, drop_useless_include};
