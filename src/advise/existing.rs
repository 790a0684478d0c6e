//! What the indexes a table already has mean for a candidate: whether one of them already serves
//! it (same keys in the same or fully reversed order, same operator classes, same predicate, its
//! INCLUDE columns stored). Pure: the catalog rows come from [`crate::pg::catalog`].

use super::{Candidate, IndexColumn, IndexKey, IndexMethod, normalize_expression};
use crate::pg::catalog::{ExistingColumn, ExistingIndex};

/// The existing index that already serves `candidate`, if any. It must be valid, of the same access
/// method, and partial with the same predicate exactly when the candidate is partial (a partial
/// index serves only queries implying its predicate; a full one would not give a partial
/// candidate's size advantage). For btree, its leading key columns are the candidate's (same column
/// or expression, same operator class), in the same directions or all exactly reversed (a backward
/// scan delivers the reverse order); for GIN, each candidate key is one of its keys. The candidate's
/// INCLUDE columns must be stored in it, as keys or INCLUDE.
pub fn covered_by<'a>(
    candidate: &Candidate,
    existing: &'a [ExistingIndex],
) -> Option<&'a ExistingIndex> {
    let wanted_predicate = candidate.predicate.as_deref().map(normalize_expression);
    existing.iter().find(|index| {
        index.is_valid
            && index.method == candidate.method.as_str()
            && index.predicate.as_deref().map(normalize_expression) == wanted_predicate
            && candidate.include.iter().all(|c| {
                index.include.contains(c)
                    || index.columns.iter().any(|e| e.name.as_ref() == Some(c))
            })
            && match candidate.method {
                IndexMethod::Btree => {
                    index.columns.len() >= candidate.columns.len()
                        && [false, true].iter().any(|&reversed| {
                            candidate.columns.iter().zip(&index.columns).all(|(c, e)| {
                                same_key(c, e, false)
                                    && (c.desc != e.desc) == reversed
                                    && (c.nulls_first != e.nulls_first) == reversed
                            })
                        })
                }
                IndexMethod::Gin => candidate
                    .columns
                    .iter()
                    .all(|c| index.columns.iter().any(|e| same_key(c, e, true))),
            }
    })
}

/// A candidate an existing index already serves, and the reason to show for not suggesting it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlreadyIndexed {
    pub candidate: Candidate,
    pub index: String,
    pub reason: String,
}

/// Same column or expression and an operator class that serves the candidate's operators. For GIN,
/// the default `jsonb_ops` supports everything `jsonb_path_ops` does (`@>`).
fn same_key(candidate: &IndexColumn, existing: &ExistingColumn, gin: bool) -> bool {
    let key = match &candidate.key {
        IndexKey::Column(name) => existing.name.as_deref() == Some(name.as_str()),
        IndexKey::Expression(text) => {
            existing.name.is_none()
                && existing
                    .expression
                    .as_deref()
                    .map(normalize_expression)
                    .as_deref()
                    == Some(text.as_str())
        }
    };
    let opclass = candidate.opclass == existing.opclass
        || (gin
            && candidate.opclass.as_deref() == Some("jsonb_path_ops")
            && existing.opclass.is_none());
    key && opclass
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(columns: Vec<(&str, bool, bool)>) -> ExistingIndex {
        ExistingIndex {
            name: "i".into(),
            method: "btree".into(),
            columns: columns
                .into_iter()
                .map(|(n, desc, nulls_first)| ExistingColumn {
                    name: Some(n.into()),
                    expression: None,
                    opclass: None,
                    desc,
                    nulls_first,
                })
                .collect(),
            include: Vec::new(),
            is_unique: false,
            predicate: None,
            is_valid: true,
        }
    }

    fn candidate(columns: Vec<IndexColumn>) -> Candidate {
        Candidate::btree(None, "t", columns)
    }

    #[test]
    fn prefix_in_same_or_reversed_direction_covers() {
        let existing = [index(vec![("a", false, false), ("b", true, true)])];
        let same = candidate(vec![IndexColumn::asc("a"), IndexColumn::desc("b")]);
        let reversed = candidate(vec![IndexColumn::desc("a"), IndexColumn::asc("b")]);
        let prefix = candidate(vec![IndexColumn::asc("a")]);
        let mixed = candidate(vec![IndexColumn::asc("a"), IndexColumn::asc("b")]);
        let not_leading = candidate(vec![IndexColumn::asc("b")]);
        assert!(covered_by(&same, &existing).is_some());
        assert!(covered_by(&reversed, &existing).is_some());
        assert!(covered_by(&prefix, &existing).is_some());
        assert!(covered_by(&mixed, &existing).is_none());
        assert!(covered_by(&not_leading, &existing).is_none());
    }

    #[test]
    fn invalid_partial_and_expression_indexes_do_not_cover() {
        let wanted = candidate(vec![IndexColumn::asc("a")]);
        let mut invalid = index(vec![("a", false, false)]);
        invalid.is_valid = false;
        let mut partial = index(vec![("a", false, false)]);
        partial.predicate = Some("(a > 0)".into());
        let mut expression = index(vec![("a", false, false)]);
        expression.columns[0].name = None;
        assert!(covered_by(&wanted, &[invalid, partial, expression]).is_none());
    }

    #[test]
    fn expression_partial_gin_and_include_coverage() {
        let mut lower = index(vec![("x", false, false)]);
        lower.columns[0].name = None;
        lower.columns[0].expression = Some("lower((email)::text)".into());
        let wanted = candidate(vec![IndexColumn::expression(normalize_expression(
            "lower((u.email)::text)",
        ))]);
        assert_eq!(
            covered_by(&wanted, std::slice::from_ref(&lower)).map(|i| i.name.as_str()),
            Some("i")
        );
        let other = candidate(vec![IndexColumn::expression(r#"upper("email")"#)]);
        assert!(covered_by(&other, std::slice::from_ref(&lower)).is_none());

        let mut partial_index = index(vec![("a", false, false)]);
        partial_index.predicate = Some("(status = 'pending'::text)".into());
        let mut partial = candidate(vec![IndexColumn::asc("a")]);
        partial.predicate = Some(normalize_expression("(t.status = 'pending'::text)"));
        assert!(covered_by(&partial, std::slice::from_ref(&partial_index)).is_some());
        partial.predicate = Some(normalize_expression("(status = 'done'::text)"));
        assert!(covered_by(&partial, std::slice::from_ref(&partial_index)).is_none());
        // A full index does not stand in for a partial candidate, nor the reverse.
        assert!(covered_by(&partial, &[index(vec![("a", false, false)])]).is_none());

        let mut gin_index = index(vec![("doc", false, false)]);
        gin_index.method = "gin".into();
        let mut gin = candidate(vec![IndexColumn::asc("doc").with_opclass("jsonb_path_ops")]);
        gin.method = IndexMethod::Gin;
        assert!(covered_by(&gin, std::slice::from_ref(&gin_index)).is_some());
        let btree_doc = candidate(vec![IndexColumn::asc("doc")]);
        assert!(covered_by(&btree_doc, std::slice::from_ref(&gin_index)).is_none());
        gin.columns[0].opclass = Some("gin_trgm_ops".into());
        assert!(covered_by(&gin, &[gin_index]).is_none());

        let mut with_include = index(vec![("a", false, false)]);
        with_include.include = vec!["b".into()];
        let mut wants_b = candidate(vec![IndexColumn::asc("a")]);
        wants_b.include = vec!["b".into()];
        assert!(covered_by(&wants_b, std::slice::from_ref(&with_include)).is_some());
        wants_b.include = vec!["c".into()];
        assert!(covered_by(&wants_b, &[with_include]).is_none());
    }
}
