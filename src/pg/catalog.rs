//! Catalog reads for index advice: the indexes a table already has, with their key columns (or
//! expressions), operator classes, directions, INCLUDE columns and predicate, and whether one of
//! them already serves a candidate.

use tokio_postgres::Client;

use super::Error;
use crate::advise::{Candidate, IndexColumn, IndexKey, IndexMethod, normalize_expression};

/// `pg_index.indoption` bits (see `INDOPTION_DESC` / `INDOPTION_NULLS_FIRST` in pg_index.h).
const INDOPTION_DESC: i16 = 0x0001;
const INDOPTION_NULLS_FIRST: i16 = 0x0002;

/// One key column of an existing index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingColumn {
    /// `None` for an expression column (`lower(email)`), which no plain-column candidate matches.
    pub name: Option<String>,
    /// For an expression column, the expression in [`normalize_expression`]'s form (`lower("email")`).
    pub expression: Option<String>,
    /// The operator class when it is not the type's default (`gin_trgm_ops`, `text_pattern_ops`).
    pub opclass: Option<String>,
    pub desc: bool,
    pub nulls_first: bool,
}

/// An index as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingIndex {
    pub name: String,
    /// Access method: `btree`, `hash`, `gin`...
    pub method: String,
    /// Key columns only: they give order and seeks.
    pub columns: Vec<ExistingColumn>,
    /// `INCLUDE` columns: stored, so they allow index-only scans, but neither sought nor ordered.
    pub include: Vec<String>,
    pub is_unique: bool,
    /// The WHERE of a partial index, as `pg_get_expr` prints it.
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
       ix.indoption::int2[],
       ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k.ord, true)
               FROM generate_series(1, ix.indnkeyatts::int) AS k(ord)
              ORDER BY k.ord),
       ARRAY(SELECT CASE WHEN opc.opcdefault THEN NULL ELSE opc.opcname::text END
               FROM unnest(ix.indclass::oid[]) WITH ORDINALITY AS c(opc_oid, ord)
               JOIN pg_opclass opc ON opc.oid = c.opc_oid
              ORDER BY c.ord),
       ARRAY(SELECT a.attname::text
               FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
              WHERE k.ord > ix.indnkeyatts
              ORDER BY k.ord)
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
            let definitions: Vec<Option<String>> = row.get(7);
            let opclasses: Vec<Option<String>> = row.get(8);
            let columns = names
                .into_iter()
                .enumerate()
                .map(|(i, name)| {
                    let option = options.get(i).copied().unwrap_or(0);
                    let expression = match name {
                        Some(_) => None,
                        None => definitions
                            .get(i)
                            .cloned()
                            .flatten()
                            .map(|d| normalize_expression(&d)),
                    };
                    ExistingColumn {
                        name,
                        expression,
                        opclass: opclasses.get(i).cloned().flatten(),
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
                include: row.get(9),
            }
        })
        .collect())
}

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

/// Schema and table, as a candidate names them.
type TableKey = (Option<String>, String);

/// Split candidates into those still worth suggesting and those an existing index already serves
/// ("already indexed", naming the index), reading each table's indexes once.
pub async fn split_covered(
    client: &Client,
    candidates: Vec<Candidate>,
) -> Result<(Vec<Candidate>, Vec<AlreadyIndexed>), Error> {
    let mut indexes: Vec<(TableKey, Vec<ExistingIndex>)> = Vec::new();
    let mut keep = Vec::new();
    let mut covered = Vec::new();
    for candidate in candidates {
        let table = (candidate.schema.clone(), candidate.table.clone());
        let position = match indexes.iter().position(|(t, _)| *t == table) {
            Some(position) => position,
            None => {
                let found =
                    existing_indexes(client, candidate.schema.as_deref(), &candidate.table).await?;
                indexes.push((table, found));
                indexes.len() - 1
            }
        };
        match covered_by(&candidate, &indexes[position].1) {
            Some(index) => covered.push(AlreadyIndexed {
                reason: format!(
                    "already indexed: {} on {} is served by the existing index {}",
                    candidate
                        .columns
                        .iter()
                        .map(|c| c.label())
                        .collect::<Vec<_>>()
                        .join(", "),
                    candidate.table,
                    index.name
                ),
                index: index.name.clone(),
                candidate,
            }),
            None => keep.push(candidate),
        }
    }
    Ok((keep, covered))
}

const COLUMN_COLLATION: &str = "
SELECT co.collname::text IN ('C', 'POSIX')
       OR (co.collname = 'default'
           AND (SELECT d.datcollate IN ('C', 'POSIX') AND d.datlocprovider = 'c'
                  FROM pg_database d WHERE d.datname = current_database()))
  FROM pg_attribute a
  JOIN pg_class t ON t.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_collation co ON co.oid = a.attcollation
 WHERE t.relname = $1
   AND (n.nspname = $2 OR ($2 IS NULL AND pg_table_is_visible(t.oid)))
   AND a.attname = $3
   AND NOT a.attisdropped";

/// Whether `column` compares bytewise (collation `C` or `POSIX`, its own or the database's).
/// `None` when the column has no collation (not a text type) or does not exist.
pub async fn column_is_c_collated(
    client: &Client,
    schema: Option<&str>,
    table: &str,
    column: &str,
) -> Result<Option<bool>, Error> {
    let row = client
        .query_opt(COLUMN_COLLATION, &[&table, &schema, &column])
        .await?;
    Ok(row.and_then(|r| r.get::<_, Option<bool>>(0)))
}

/// Drop `text_pattern_ops` from the candidate's plain-column keys whose collation is C: there the
/// default operator class already serves `LIKE 'prefix%'`, and the index then serves ordinary
/// comparisons and ORDER BY too.
pub async fn drop_needless_pattern_opclass(
    client: &Client,
    candidate: &mut Candidate,
) -> Result<(), Error> {
    for column in &mut candidate.columns {
        if column.opclass.as_deref() != Some(crate::advise::PATTERN_OPCLASS) {
            continue;
        }
        let Some(name) = column.name() else { continue };
        let c = column_is_c_collated(client, candidate.schema.as_deref(), &candidate.table, name)
            .await?;
        if c == Some(true) {
            column.opclass = None;
        }
    }
    Ok(())
}

/// Same column or expression and an operator class that serves the candidate's operators. For GIN,
/// the default `jsonb_ops` supports everything `jsonb_path_ops` does (`@>`).
fn same_key(candidate: &IndexColumn, existing: &ExistingColumn, gin: bool) -> bool {
    let key = match &candidate.key {
        IndexKey::Column(name) => existing.name.as_deref() == Some(name.as_str()),
        IndexKey::Expression(text) => {
            existing.name.is_none() && existing.expression.as_deref() == Some(text.as_str())
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
        lower.columns[0].expression = Some(normalize_expression("lower((email)::text)"));
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
