//! The catalog read of index hygiene: every index of the user's schemas with what judging it
//! needs — its definition column by column (expressions, operator classes, collations, order,
//! INCLUDE, predicate), what it backs (primary key, UNIQUE, EXCLUSION, foreign keys referencing
//! it, replica identity), whether it is valid or being built right now, its size and scans, and
//! its table's writes — and the window the statistics cover (the database's last reset).

use tokio_postgres::{Client, Row};

use super::Error;

/// `pg_index.indoption` bits (see `INDOPTION_DESC` / `INDOPTION_NULLS_FIRST` in pg_index.h).
pub const INDOPTION_DESC: i16 = 0x0001;
pub const INDOPTION_NULLS_FIRST: i16 = 0x0002;

/// A constraint an index backs: its own table's PRIMARY KEY, UNIQUE or EXCLUSION constraint, or
/// a FOREIGN KEY of some table that references the key this (unique) index enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackedConstraint {
    /// `p`, `u`, `x` or `f` (`pg_constraint.contype`).
    pub kind: char,
    pub name: String,
    /// The table the constraint is declared on (`"orders"`, `"shop"."orders"`: regclass text).
    pub table: String,
}

/// One index as the catalog and the statistics describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexFacts {
    pub oid: i64,
    pub schema: String,
    pub table: String,
    pub name: String,
    /// Access method: `btree`, `hash`, `gin`...
    pub method: String,
    /// `pg_get_indexdef(oid)`: the whole definition, compared again just before a drop.
    pub definition: String,
    /// Key columns as `pg_get_indexdef(oid, k, true)` prints them (a column name or an expression).
    pub keys: Vec<String>,
    /// Operator class oid of each key column.
    pub opclasses: Vec<i64>,
    /// Collation oid of each key column (0 for a type without collation).
    pub collations: Vec<i64>,
    /// `indoption` of each key column (DESC, NULLS FIRST bits).
    pub options: Vec<i16>,
    /// INCLUDE columns.
    pub include: Vec<String>,
    /// The WHERE of a partial index, as `pg_get_expr` prints it.
    pub predicate: Option<String>,
    pub is_unique: bool,
    /// `UNIQUE NULLS NOT DISTINCT` (PostgreSQL 15+).
    pub nulls_not_distinct: bool,
    pub is_primary: bool,
    pub is_exclusion: bool,
    pub is_replica_identity: bool,
    pub is_valid: bool,
    pub is_ready: bool,
    /// A partitioned table's index (no storage) or a partition's index attached to one: neither
    /// can be dropped on its own, concurrently.
    pub is_partition_index: bool,
    /// A CREATE INDEX / REINDEX is working on it now (`pg_stat_progress_create_index`), or may
    /// be: a build by another role, whose table this role cannot see, counts for every index.
    pub being_built: bool,
    pub constraints: Vec<BackedConstraint>,
    pub size_bytes: i64,
    /// `pg_stat_user_indexes.idx_scan`.
    pub scans: i64,
    /// Seconds since the last scan (`last_idx_scan`, PostgreSQL 16+).
    pub last_scan_age_secs: Option<f64>,
    /// Seconds since the transaction that last wrote the index's catalog row (its creation, a
    /// REINDEX or a rename) committed: known only with `track_commit_timestamp = on`.
    pub created_age_secs: Option<f64>,
    pub table_size_bytes: i64,
    /// Rows inserted into the table since the statistics reset; each one writes every index.
    pub table_inserts: i64,
    /// Updates since the reset that were not HOT: each one writes every index.
    pub table_non_hot_updates: i64,
    pub table_deletes: i64,
}

/// What the statistics cover, for the whole database.
#[derive(Debug, Clone, PartialEq)]
pub struct StatisticsWindow {
    /// Seconds since `pg_stat_database.stats_reset`; `None` when never reset.
    pub reset_age_secs: Option<f64>,
    /// `track_counts`: without it no scan is counted at all.
    pub track_counts: bool,
    /// `track_commit_timestamp`: whether an index's creation time can be known.
    pub track_commit_timestamp: bool,
    /// Standbys streaming from this server now: scans there are not counted here.
    pub standbys: i64,
    /// Whether this server is itself a standby (its counts are its own reads only).
    pub in_recovery: bool,
}

const INDEXES: &str = "
SELECT c.oid::int8,
       n.nspname::text,
       t.relname::text,
       c.relname::text,
       am.amname::text,
       pg_get_indexdef(c.oid),
       ARRAY(SELECT pg_get_indexdef(c.oid, k, true)
               FROM generate_series(1, ix.indnkeyatts::int) AS k ORDER BY k),
       ix.indclass::oid[]::int8[],
       ix.indcollation::oid[]::int8[],
       ix.indoption::int2[],
       ARRAY(SELECT pg_get_indexdef(c.oid, k, true)
               FROM generate_series(ix.indnkeyatts::int + 1, ix.indnatts::int) AS k ORDER BY k),
       pg_get_expr(ix.indpred, ix.indrelid),
       ix.indisunique,
       ix.indisprimary,
       ix.indisexclusion,
       ix.indisreplident,
       ix.indisvalid,
       ix.indisready,
       (c.relkind = 'I' OR c.relispartition),
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND (p.index_relid = c.oid OR (p.relid = ix.indrelid AND p.index_relid = 0)
                       -- another role's build, whose columns this role cannot see
                       OR p.relid IS NULL)),
       ARRAY(SELECT con.contype::text FROM pg_constraint con
              WHERE con.conindid = c.oid AND con.contype IN ('p', 'u', 'x', 'f')
              ORDER BY con.contype, con.conname),
       ARRAY(SELECT con.conname::text FROM pg_constraint con
              WHERE con.conindid = c.oid AND con.contype IN ('p', 'u', 'x', 'f')
              ORDER BY con.contype, con.conname),
       ARRAY(SELECT con.conrelid::regclass::text FROM pg_constraint con
              WHERE con.conindid = c.oid AND con.contype IN ('p', 'u', 'x', 'f')
              ORDER BY con.contype, con.conname),
       pg_relation_size(c.oid),
       coalesce(s.idx_scan, 0),
       {LAST_SCAN},
       CASE WHEN current_setting('track_commit_timestamp')::bool
            THEN extract(epoch FROM now() - pg_xact_commit_timestamp(c.xmin))::float8 END,
       pg_relation_size(t.oid),
       coalesce(ts.n_tup_ins, 0),
       coalesce(ts.n_tup_upd - ts.n_tup_hot_upd, 0),
       coalesce(ts.n_tup_del, 0),
       {NULLS_NOT_DISTINCT}
  FROM pg_index ix
  JOIN pg_class c ON c.oid = ix.indexrelid
  JOIN pg_class t ON t.oid = ix.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_am am ON am.oid = c.relam
  LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = c.oid
  LEFT JOIN pg_stat_all_tables ts ON ts.relid = t.oid
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
   AND n.nspname NOT LIKE 'pg\\_temp\\_%'
   AND ($1::text IS NULL OR (n.nspname = $1 AND c.relname = $2))
 ORDER BY n.nspname, t.relname, c.relname";

fn indexes_sql(server_version_num: i32) -> String {
    let last_scan = if server_version_num >= 160000 {
        "extract(epoch FROM now() - s.last_idx_scan)::float8"
    } else {
        "NULL::float8"
    };
    let nulls_not_distinct = if server_version_num >= 150000 {
        "ix.indnullsnotdistinct"
    } else {
        "false"
    };
    INDEXES
        .replace("{LAST_SCAN}", last_scan)
        .replace("{NULLS_NOT_DISTINCT}", nulls_not_distinct)
}

/// Every index of the user's schemas (not `pg_catalog`, `information_schema`, TOAST or temporary
/// schemas), ordered by schema, table and name. `server_version_num` chooses the columns the
/// statistics views have (`last_idx_scan` from PostgreSQL 16).
pub async fn user_indexes(
    client: &Client,
    server_version_num: i32,
) -> Result<Vec<IndexFacts>, Error> {
    let none: Option<&str> = None;
    let rows = client
        .query(&indexes_sql(server_version_num), &[&none, &none])
        .await?;
    Ok(rows.iter().map(index_facts).collect())
}

/// One index by schema and name, as [`user_indexes`] reads it; `None` when it no longer exists.
pub async fn index_by_name(
    client: &Client,
    server_version_num: i32,
    schema: &str,
    name: &str,
) -> Result<Option<IndexFacts>, Error> {
    let rows = client
        .query(
            &indexes_sql(server_version_num),
            &[&Some(schema), &Some(name)],
        )
        .await?;
    Ok(rows.first().map(index_facts))
}

fn index_facts(row: &Row) -> IndexFacts {
    let kinds: Vec<String> = row.get(20);
    let names: Vec<String> = row.get(21);
    let tables: Vec<String> = row.get(22);
    let constraints = kinds
        .iter()
        .zip(names)
        .zip(tables)
        .map(|((kind, name), table)| BackedConstraint {
            kind: kind.chars().next().unwrap_or('?'),
            name,
            table,
        })
        .collect();
    IndexFacts {
        oid: row.get(0),
        schema: row.get(1),
        table: row.get(2),
        name: row.get(3),
        method: row.get(4),
        definition: row.get(5),
        keys: row.get(6),
        opclasses: row.get(7),
        collations: row.get(8),
        options: row.get(9),
        include: row.get(10),
        predicate: row.get(11),
        is_unique: row.get(12),
        is_primary: row.get(13),
        is_exclusion: row.get(14),
        is_replica_identity: row.get(15),
        is_valid: row.get(16),
        is_ready: row.get(17),
        is_partition_index: row.get(18),
        being_built: row.get(19),
        constraints,
        size_bytes: row.get(23),
        scans: row.get(24),
        last_scan_age_secs: row.get(25),
        created_age_secs: row.get(26),
        table_size_bytes: row.get(27),
        table_inserts: row.get(28),
        table_non_hot_updates: row.get(29),
        table_deletes: row.get(30),
        nulls_not_distinct: row.get(31),
    }
}

/// The database's statistics window: its last reset, whether scans are counted at all, and
/// whether other servers' scans are missing from these counts.
pub async fn statistics_window(client: &Client) -> Result<StatisticsWindow, Error> {
    let row = client
        .query_one(
            "SELECT (SELECT extract(epoch FROM now() - d.stats_reset)::float8
                       FROM pg_stat_database d WHERE d.datname = current_database()),
                    current_setting('track_counts')::bool,
                    current_setting('track_commit_timestamp')::bool,
                    (SELECT count(*) FROM pg_stat_replication)::int8,
                    pg_is_in_recovery()",
            &[],
        )
        .await?;
    Ok(StatisticsWindow {
        reset_age_secs: row.get(0),
        track_counts: row.get(1),
        track_commit_timestamp: row.get(2),
        standbys: row.get(3),
        in_recovery: row.get(4),
    })
}
