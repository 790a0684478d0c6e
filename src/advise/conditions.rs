//! The plan's condition reader ([`crate::plan::conditions`]) as advice sees it, plus the one piece
//! of advice about conditions: the operator class a `LIKE 'prefix%'` needs.

pub use crate::plan::conditions::{
    Constant, Predicate, PredicateKind, SortKey, TableRef, Target, normalize_expression,
    parse_condition, parse_sort_key, preclean, referenced_columns,
};

/// The operator class a btree column needs for `LIKE 'prefix%'` (a
/// [`Predicate::prefix_pattern`]) under a non-C collation.
pub const PATTERN_OPCLASS: &str = "text_pattern_ops";
