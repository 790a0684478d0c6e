//! Catalog reads for index advice: the indexes a table already has, with their key columns and
//! directions, and whether one of them already serves a candidate.

use tokio_postgres::Client;

use super::Error;
use crate::advise::Candidate;

/// `pg_index.indoption` bits (see `INDOPTION_DESC` / `INDOPTION_NULLS_FIRST` in pg_index.h).
const INDOPTION_DESC: i16 = 0x0001;
const INDOPTION_NULLS_FIRST: i16 = 0x0002;

/// One key column of an existing index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingColumn {
    /// `None` for an expression column (`lower(email)`), which no plain-column candidate matches.
    pub name: Option<String>,
    pub desc: bool,
    pub nulls_first: bool,
}

/// An index as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingIndex {
    pub name: String,
    /// Access method: `btree`, `hash`, `gin`...
    pub method: String,
    /// Key columns only (INCLUDE columns are left out: they give no order and no seek).
    pub columns: Vec<ExistingColumn>,
    pub is_unique: bool,
    /// The WHERE of a partial index.
    pub predicate: Option<String>,
    /// False for an index a failed `CREATE INDEX CONCURRENTLY` left behind.
    pub is_valid: bool,
}

const EXISTING_INDEXES: &str = "
SELECT i.relname::text,
       am.amname::text,
       ix.indisunique,
       ix.indisvalid,
       pg_get_expr(ix.indpred, ix.indrelid),
       ARRAY(SELECT a.attname::text
               FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
              WHERE k.ord <= ix.indnkeyatts
              ORDER BY k.ord),
       ix.indoption::int2[]
  FROM pg_index ix
  JOIN pg_class i ON i.oid = ix.indexrelid
  JOIN pg_class t ON t.oid = ix.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_am am ON am.oid = i.relam
 WHERE t.relname = $1
   AND (n.nspname = $2 OR ($2 IS NULL AND pg_table_is_visible(t.oid)))
 ORDER BY i.relname";

/// The indexes on `table` (in `schema`, or the one visible on the search path when `None`).
pub async fn existing_indexes(
    client: &Client,
    schema: Option<&str>,
    table: &str,
) -> Result<Vec<ExistingIndex>, Error> {
    let rows = client.query(EXISTING_INDEXES, &[&table, &schema]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let names: Vec<Option<String>> = row.get(5);
            let options: Vec<i16> = row.get(6);
            let columns = names
                .into_iter()
                .enumerate()
                .map(|(i, name)| {
                    let option = options.get(i).copied().unwrap_or(0);
                    ExistingColumn {
                        name,
                        desc: option & INDOPTION_DESC != 0,
                        nulls_first: option & INDOPTION_NULLS_FIRST != 0,
                    }
                })
                .collect();
            ExistingIndex {
                name: row.get(0),
                method: row.get(1),
                is_unique: row.get(2),
                is_valid: row.get(3),
                predicate: row.get(4),
                columns,
            }
        })
        .collect())
}

/// The existing index that already serves `candidate`: a valid, non-partial btree whose leading key
/// columns are the candidate's, in the same directions or all exactly reversed (a backward scan
/// delivers the reverse order).
pub fn covered_by<'a>(
    candidate: &Candidate,
    existing: &'a [ExistingIndex],
) -> Option<&'a ExistingIndex> {
    existing.iter().find(|index| {
        index.is_valid
            && index.predicate.is_none()
            && index.method == "btree"
            && index.columns.len() >= candidate.columns.len()
            && [false, true].iter().any(|&reversed| {
                candidate.columns.iter().zip(&index.columns).all(|(c, e)| {
                    e.name.as_deref() == Some(c.name.as_str())
                        && (c.desc != e.desc) == reversed
                        && (c.nulls_first != e.nulls_first) == reversed
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::IndexColumn;

    fn index(columns: Vec<(&str, bool, bool)>) -> ExistingIndex {
        ExistingIndex {
            name: "i".into(),
            method: "btree".into(),
            columns: columns
                .into_iter()
                .map(|(n, desc, nulls_first)| ExistingColumn {
                    name: Some(n.into()),
                    desc,
                    nulls_first,
                })
                .collect(),
            is_unique: false,
            predicate: None,
            is_valid: true,
        }
    }

    fn candidate(columns: Vec<IndexColumn>) -> Candidate {
        Candidate {
            schema: None,
            table: "t".into(),
            columns,
            reason: String::new(),
            finding_rules: Vec::new(),
        }
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
}
