//! Catalog reads: resolving a relation name the user typed, and for index advice the indexes a
//! table already has, with their key columns (or expressions), operator classes, directions,
//! INCLUDE columns and predicate, and the size facts of its columns' types (which bound what an
//! INCLUDE may carry); for applying and proving suggestions, what already holds a
//! name (an index and whether it is valid, a materialized view and its query) and sizes; for
//! diagnosis, the foreign keys between a statement's tables that no index serves and how current
//! their statistics are.

use tokio_postgres::Client;

use super::Error;

/// `pg_index.indoption` bits (see `INDOPTION_DESC` / `INDOPTION_NULLS_FIRST` in pg_index.h).
const INDOPTION_DESC: i16 = 0x0001;
const INDOPTION_NULLS_FIRST: i16 = 0x0002;

/// One key column of an existing index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingColumn {
    /// `None` for an expression column (`lower(email)`), which no plain-column candidate matches.
    pub name: Option<String>,
    /// For an expression column, the expression as `pg_get_indexdef` prints it (`lower(email)`).
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
                        None => definitions.get(i).cloned().flatten(),
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

/// What bounds a column's stored size: its type as the catalog describes it. Advice decides from
/// these which columns an index may carry in `INCLUDE` without risking rows over btree's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnType {
    pub name: String,
    /// The type as a user writes it, modifier included (`character varying(40)`, `jsonb`).
    pub display: String,
    /// The base type's name in `pg_type` (`varchar`, `bpchar`, `numeric`, `text`), through a
    /// domain to the type it is built on.
    pub base: String,
    /// `pg_type.typlen`: the size in bytes of a fixed-width type; -1 for a varlena, -2 for a
    /// C string.
    pub attlen: i16,
    /// The type modifier (`varchar(n)`: n + 4; `numeric(p, s)`: ((p << 16) | s) + 4); -1 for none.
    /// A domain's own modifier when the column has none.
    pub atttypmod: i32,
}

/// A query over the live columns of the table named `$1` (in schema `$2`, or the one visible on
/// the search path when `$2` is null), in column order: `a` the attribute, `t` its table, `n` the
/// schema, `ty` its type and `b` the base type (through a domain); `$joins` adds relations.
macro_rules! table_columns_query {
    ($select:literal, $joins:literal) => {
        concat!(
            $select,
            "
  FROM pg_attribute a
  JOIN pg_class t ON t.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_type ty ON ty.oid = a.atttypid
  JOIN pg_type b ON b.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END",
            $joins,
            "
 WHERE t.relname = $1
   AND (n.nspname = $2 OR ($2 IS NULL AND pg_table_is_visible(t.oid)))
   AND a.attnum > 0
   AND NOT a.attisdropped
 ORDER BY a.attnum"
        )
    };
}

const COLUMN_TYPES: &str = table_columns_query!(
    "
SELECT a.attname::text,
       format_type(a.atttypid, a.atttypmod),
       b.typname::text,
       b.typlen,
       CASE WHEN a.atttypmod < 0 AND ty.typtype = 'd' THEN ty.typtypmod ELSE a.atttypmod END",
    ""
);

/// Every column of `table` (in `schema`, or the one visible on the search path when `None`) with
/// its type's size facts, in one query; empty when there is no such table.
pub async fn column_types(
    client: &Client,
    schema: Option<&str>,
    table: &str,
) -> Result<Vec<ColumnType>, Error> {
    let rows = client.query(COLUMN_TYPES, &[&table, &schema]).await?;
    Ok(rows
        .iter()
        .map(|row| ColumnType {
            name: row.get(0),
            display: row.get(1),
            base: row.get(2),
            attlen: row.get(3),
            atttypmod: row.get(4),
        })
        .collect())
}

/// What the size of a btree over a column depends on: its type's storage and its statistics
/// (`pg_stats`, absent for a table never analyzed). Read by [`column_stats`] for
/// `advise::index_size`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnStats {
    pub name: String,
    /// The base type's name (through a domain): `int4`, `numeric`, `text`.
    pub base: String,
    /// `pg_type.typlen`: bytes of a fixed-width type, -1 for a varlena.
    pub typlen: i16,
    /// `pg_type.typalign`: `c`, `s`, `i` or `d`.
    pub typalign: String,
    /// `pg_type.typcategory`: `A` array, `C` composite, `R` range, ...
    pub typcategory: String,
    /// `pg_stats.avg_width`: the average stored width of its non-null values.
    pub avg_width: Option<i32>,
    /// `pg_stats.n_distinct`: distinct values, or minus their share of the rows when negative.
    pub n_distinct: Option<f64>,
    /// `pg_stats.null_frac` (0 when unknown).
    pub null_frac: f64,
}

const COLUMN_STATS: &str = table_columns_query!(
    "
SELECT a.attname::text, b.typname::text, ty.typlen, ty.typalign::text, b.typcategory::text,
       s.avg_width, s.n_distinct::float8, coalesce(s.null_frac, 0)::float8",
    "
  LEFT JOIN pg_stats s
    ON s.schemaname = n.nspname AND s.tablename = t.relname AND s.attname = a.attname
   AND NOT s.inherited"
);

/// Every column of `table` with its storage and statistics facts ([`ColumnStats`]), in one query;
/// empty when there is no such table.
pub async fn column_stats(
    client: &Client,
    schema: Option<&str>,
    table: &str,
) -> Result<Vec<ColumnStats>, Error> {
    let rows = client.query(COLUMN_STATS, &[&table, &schema]).await?;
    Ok(rows
        .iter()
        .map(|row| ColumnStats {
            name: row.get(0),
            base: row.get(1),
            typlen: row.get(2),
            typalign: row.get(3),
            typcategory: row.get(4),
            avg_width: row.get(5),
            n_distinct: row.get(6),
            null_frac: row.get(7),
        })
        .collect())
}

/// A table's write and read counters since the statistics were reset (`pg_stat_user_tables`):
/// what an index's maintenance cost is weighed from. `None` fields are counters the server did not
/// give.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TableActivity {
    pub inserted: i64,
    pub updated: i64,
    /// Updates that wrote no index entry (heap-only tuples).
    pub hot_updated: i64,
    pub deleted: i64,
    /// Rows the table holds now (`n_live_tup`).
    pub live: i64,
    /// Scans of the table started: `seq_scan + idx_scan`.
    pub scans: i64,
}

/// [`TableActivity`] of `table`; `None` when the table is not in `pg_stat_user_tables`.
pub async fn table_activity(
    client: &Client,
    schema: Option<&str>,
    table: &str,
) -> Result<Option<TableActivity>, Error> {
    let row = client
        .query_opt(
            "SELECT coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_hot_upd, 0),
                    coalesce(s.n_tup_del, 0), coalesce(s.n_live_tup, 0),
                    coalesce(s.seq_scan, 0) + coalesce(s.idx_scan, 0)
               FROM pg_stat_user_tables s
              WHERE s.relname = $1
                AND (s.schemaname = $2 OR ($2 IS NULL AND pg_table_is_visible(s.relid)))
              LIMIT 1",
            &[&table, &schema],
        )
        .await?;
    Ok(row.map(|r| TableActivity {
        inserted: r.get(0),
        updated: r.get(1),
        hot_updated: r.get(2),
        deleted: r.get(3),
        live: r.get(4),
        scans: r.get(5),
    }))
}

/// A relation's schema and name as the catalog spells them, kept apart so that a dot in either
/// survives quoting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationName {
    pub schema: String,
    pub name: String,
}

impl RelationName {
    /// `"schema"."name"`, for SQL.
    pub fn quoted(&self) -> String {
        super::quote_qualified(Some(&self.schema), &self.name)
    }
}

impl std::fmt::Display for RelationName {
    /// The quoted form: unambiguous in messages too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.quoted())
    }
}

const RESOLVE_RELATION: &str = "
SELECT n.nspname::text, c.relname::text
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = to_regclass($1::text)";

/// The relation `name` designates, read by the server as a query reads a table name: `pricing`
/// (on the search path, folded to lower case), `app.pricing`, `"Odd.Name"`, `"a""b"`. `None` when
/// there is no such relation; an error when `name` is not a valid name.
pub async fn resolve_relation(client: &Client, name: &str) -> Result<Option<RelationName>, Error> {
    let row = client.query_opt(RESOLVE_RELATION, &[&name]).await?;
    Ok(row.map(|row| RelationName {
        schema: row.get(0),
        name: row.get(1),
    }))
}

/// A relation found by name in a table's schema ([`relation_beside`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationBeside {
    pub schema: String,
    /// `pg_class.relkind`: `i` for an index.
    pub relkind: String,
    /// An index on that very table.
    pub on_table: bool,
    /// `pg_index.indisvalid` (false for anything but an index).
    pub valid: bool,
    /// `pg_relation_size` of an index; 0 for anything else.
    pub size_bytes: i64,
}

/// The relation named `name` in the schema of `table` (as SQL reads a table name), if any: where
/// an index built on `table` under that name would go.
pub async fn relation_beside(
    client: &Client,
    table: &str,
    name: &str,
) -> Result<Option<RelationBeside>, Error> {
    let row = client
        .query_opt(
            "SELECT n.nspname::text, c.relkind::text, \
                    COALESCE(x.indrelid = t.oid, false), COALESCE(x.indisvalid, false), \
                    CASE WHEN x.indexrelid IS NULL THEN 0 ELSE pg_relation_size(c.oid) END \
             FROM pg_class t \
             JOIN pg_class c ON c.relnamespace = t.relnamespace AND c.relname = $2 \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_index x ON x.indexrelid = c.oid \
             WHERE t.oid = to_regclass($1)",
            &[&table, &name],
        )
        .await?;
    Ok(row.map(|row| RelationBeside {
        schema: row.get(0),
        relkind: row.get(1),
        on_table: row.get(2),
        valid: row.get(3),
        size_bytes: row.get(4),
    }))
}

/// `relkind` and `pg_total_relation_size` of the relation `name` (as SQL reads it), if it exists.
pub async fn relation_kind_and_total_size(
    client: &Client,
    name: &str,
) -> Result<Option<(String, i64)>, Error> {
    let row = client
        .query_opt(
            "SELECT c.relkind::text, pg_total_relation_size(c.oid) FROM pg_class c \
             WHERE c.oid = to_regclass($1)",
            &[&name],
        )
        .await?;
    Ok(row.map(|row| (row.get(0), row.get(1))))
}

/// `pg_relation_size` of the relation `name` (as SQL reads it); `None` when there is none.
pub async fn relation_size(client: &Client, name: &str) -> Result<Option<i64>, Error> {
    let row = client
        .query_one("SELECT pg_relation_size(to_regclass($1))", &[&name])
        .await?;
    Ok(row.get(0))
}

/// `pg_total_relation_size` (indexes and TOAST included) of the relation `name` (as SQL reads
/// it); `None` when there is none.
pub async fn total_relation_size(client: &Client, name: &str) -> Result<Option<i64>, Error> {
    let row = client
        .query_one("SELECT pg_total_relation_size(to_regclass($1))", &[&name])
        .await?;
    Ok(row.get(0))
}

/// For the relation `name` (as SQL reads it), if it exists: `Some(definition)` when it is a
/// materialized view (`pg_get_viewdef`), `None` when it is something else.
pub async fn matview_definition(
    client: &Client,
    name: &str,
) -> Result<Option<Option<String>>, Error> {
    let row = client
        .query_opt(
            "SELECT c.relkind = 'm', CASE WHEN c.relkind = 'm' THEN pg_get_viewdef(c.oid) END \
             FROM pg_class c WHERE c.oid = to_regclass($1::text)",
            &[&name],
        )
        .await?;
    Ok(row.map(|row| {
        let is_matview: bool = row.get(0);
        is_matview.then(|| row.get(1))
    }))
}

/// A query as PostgreSQL deparses a view of it (`pg_get_viewdef`), to compare with an existing
/// view's: through a temporary view, dropped again.
pub async fn deparsed_view_query(client: &Client, query: &str) -> Result<String, Error> {
    client
        .batch_execute(&format!(
            "DROP VIEW IF EXISTS pg_temp.pgdiag_matview_probe; CREATE TEMP VIEW pgdiag_matview_probe AS {query}"
        ))
        .await?;
    let deparsed: String = client
        .query_one(
            "SELECT pg_get_viewdef('pg_temp.pgdiag_matview_probe'::regclass)",
            &[],
        )
        .await?
        .get(0);
    client
        .batch_execute("DROP VIEW pg_temp.pgdiag_matview_probe")
        .await?;
    Ok(deparsed)
}

/// A foreign key whose referencing columns lead no valid index: PostgreSQL's own checks (a
/// `DELETE` or key `UPDATE` on the referenced table) and every join through it must read the
/// referencing table to find the rows that point at a given key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The constraint's name (`order_items_order_id_fkey`).
    pub name: String,
    /// The referencing table and its columns, in the constraint's order.
    pub table: RelationName,
    pub columns: Vec<String>,
    /// The referenced table and its columns, pairwise with `columns`.
    pub referenced: RelationName,
    pub referenced_columns: Vec<String>,
}

// An index covers a foreign key when its leading key columns are the key's columns, in any order
// (what the checks' equality lookups can use): valid, not partial, btree or hash.
const UNINDEXED_FOREIGN_KEYS: &str = "
WITH rels AS (
  SELECT to_regclass(name) AS oid FROM unnest($1::text[]) AS name
)
SELECT c.conname::text,
       rn.nspname::text, r.relname::text,
       ARRAY(SELECT a.attname::text
               FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
              ORDER BY k.ord),
       fn.nspname::text, f.relname::text,
       ARRAY(SELECT a.attname::text
               FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
              ORDER BY k.ord)
  FROM pg_constraint c
  JOIN pg_class r ON r.oid = c.conrelid
  JOIN pg_namespace rn ON rn.oid = r.relnamespace
  JOIN pg_class f ON f.oid = c.confrelid
  JOIN pg_namespace fn ON fn.oid = f.relnamespace
 WHERE c.contype = 'f'
   AND c.conrelid IN (SELECT oid FROM rels)
   AND c.confrelid IN (SELECT oid FROM rels)
   AND NOT EXISTS (
         SELECT 1
           FROM pg_index i
           JOIN pg_class ic ON ic.oid = i.indexrelid
           JOIN pg_am am ON am.oid = ic.relam
          WHERE i.indrelid = c.conrelid
            AND i.indisvalid
            AND i.indpred IS NULL
            AND am.amname IN ('btree', 'hash')
            AND i.indnkeyatts >= cardinality(c.conkey)
            AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
            AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)
 ORDER BY rn.nspname, r.relname, c.conname";

/// The unindexed foreign keys ([`unindexed_foreign_keys`]) between the tables `explain` reads.
pub async fn unindexed_foreign_keys_of_plan(
    client: &Client,
    explain: &crate::plan::Explain,
) -> Result<Vec<ForeignKey>, Error> {
    let mut relations: Vec<String> = Vec::new();
    for node in explain.plan.preorder() {
        if let Some(name) = node.relation_name.as_deref() {
            let quoted = super::quote_qualified(node.schema.as_deref(), name);
            if !relations.contains(&quoted) {
                relations.push(quoted);
            }
        }
    }
    unindexed_foreign_keys(client, &relations).await
}

/// The foreign keys between `relations` (names as SQL reads them: `orders`, `app.orders`,
/// `"Odd"`; unknown names are ignored) whose referencing columns lead no valid index: both the
/// referencing and the referenced table are among `relations`, so a statement reading them can
/// join through the key.
pub async fn unindexed_foreign_keys(
    client: &Client,
    relations: &[String],
) -> Result<Vec<ForeignKey>, Error> {
    if relations.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client.query(UNINDEXED_FOREIGN_KEYS, &[&relations]).await?;
    Ok(rows
        .iter()
        .map(|row| ForeignKey {
            name: row.get(0),
            table: RelationName {
                schema: row.get(1),
                name: row.get(2),
            },
            columns: row.get(3),
            referenced: RelationName {
                schema: row.get(4),
                name: row.get(5),
            },
            referenced_columns: row.get(6),
        })
        .collect())
}

/// What the catalog says of a table's statistics, for telling stale or missing statistics (which
/// ANALYZE fixes) from current ones (which it does not).
#[derive(Debug, Clone, PartialEq)]
pub struct TableStatistics {
    pub table: RelationName,
    /// Column statistics exist (`pg_stats` has rows for the table): ANALYZE ran at some point,
    /// even if the activity counters were reset since.
    pub has_statistics: bool,
    /// When ANALYZE last ran on it, by hand or by autovacuum (`pg_stat_user_tables`), as text.
    pub last_analyzed: Option<String>,
    /// Rows inserted, updated or deleted since the last ANALYZE (`n_mod_since_analyze`).
    pub modified_since_analyze: i64,
    /// The row count the planner works from (`pg_class.reltuples`; negative when never
    /// analysed or vacuumed, PostgreSQL 14+).
    pub reltuples: f64,
}

/// Rows changed since the last ANALYZE beyond which autovacuum analyses a table again with the
/// default settings: `autovacuum_analyze_threshold` (50) + `autovacuum_analyze_scale_factor` (0.1)
/// × its rows. The same bound says the statistics are stale.
pub const STALE_BASE_ROWS: f64 = 50.0;
pub const STALE_SHARE: f64 = 0.1;

impl TableStatistics {
    /// Why ANALYZE would change the planner's estimates for this table, or `None` when its
    /// statistics are current: never analysed, or more rows changed since than autovacuum lets
    /// pass with its default settings.
    pub fn stale(&self) -> Option<String> {
        // An analysed empty table has no column statistics either, but a time of analysis.
        if !self.has_statistics && self.last_analyzed.is_none() {
            return Some("it has no statistics (never analyzed)".to_owned());
        }
        let rows = self.reltuples.max(0.0);
        let changed = self.modified_since_analyze as f64;
        if changed > STALE_BASE_ROWS + STALE_SHARE * rows {
            return Some(format!(
                "{} rows changed since its last ANALYZE{}, against about {} rows in its statistics",
                crate::units::fmt_count(changed),
                self.last_analyzed
                    .as_deref()
                    .map(|at| format!(" ({at})"))
                    .unwrap_or_default(),
                crate::units::fmt_count(rows)
            ));
        }
        None
    }
}

const TABLE_STATISTICS: &str = "
WITH rels AS (
  SELECT DISTINCT to_regclass(name) AS oid FROM unnest($1::text[]) AS name
)
SELECT n.nspname::text, c.relname::text,
       EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname),
       to_char(GREATEST(s.last_analyze, s.last_autoanalyze) AT TIME ZONE 'UTC',
               'YYYY-MM-DD HH24:MI:SS \"UTC\"'),
       COALESCE(s.n_mod_since_analyze, 0)::int8,
       c.reltuples::float8
  FROM rels
  JOIN pg_class c ON c.oid = rels.oid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
 ORDER BY n.nspname, c.relname";

/// The statistics facts ([`TableStatistics`]) of the tables `explain` reads.
pub async fn table_statistics_of_plan(
    client: &Client,
    explain: &crate::plan::Explain,
) -> Result<Vec<TableStatistics>, Error> {
    let mut relations: Vec<String> = Vec::new();
    for node in explain.plan.preorder() {
        if let Some(name) = node.relation_name.as_deref() {
            let quoted = super::quote_qualified(node.schema.as_deref(), name);
            if !relations.contains(&quoted) {
                relations.push(quoted);
            }
        }
    }
    if relations.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client.query(TABLE_STATISTICS, &[&relations]).await?;
    Ok(rows
        .iter()
        .map(|row| TableStatistics {
            table: RelationName {
                schema: row.get(0),
                name: row.get(1),
            },
            has_statistics: row.get(2),
            last_analyzed: row.get(3),
            modified_since_analyze: row.get(4),
            reltuples: row.get(5),
        })
        .collect())
}
