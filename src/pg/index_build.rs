//! What building an index on a live table needs besides the `CREATE INDEX CONCURRENTLY` itself:
//! what already holds the name it is to get (and, for an index, its definition in a form two
//! indexes can be compared by), the definition the server would give the index about to be built
//! (from a throwaway copy in a rolled-back transaction), and, from a second session, what the build
//! is waiting for and who is blocking it, and cancelling it when it has waited too long.

use tokio_postgres::{Client, Row};

use super::{Error, quote_qualified};

/// An index's definition as the server normalizes it, independent of its name and its table's
/// name: two indexes with equal shapes index the same thing the same way (access method,
/// uniqueness, key columns or expressions with their operator classes, collations and order,
/// INCLUDE columns, predicate, storage options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexShape {
    pub method: String,
    pub unique: bool,
    /// `indnkeyatts`: how many of `columns` are keys (the rest are INCLUDE columns).
    pub key_count: i32,
    /// Each column or expression, as `pg_get_indexdef(index, n, true)` prints it.
    pub columns: Vec<String>,
    /// `indclass`, `indcollation` and `indoption` as text: oids and flags, per key column.
    pub opclasses: String,
    pub collations: String,
    pub options: String,
    pub predicate: Option<String>,
    /// `indnullsnotdistinct` (PostgreSQL 15+; `None` before).
    pub nulls_not_distinct: Option<String>,
    pub reloptions: Option<String>,
}

/// The shape of the index with oid `$1`, then its validity, table, full definition and size.
const INDEX_FACTS: &str = "
SELECT am.amname::text,
       x.indisunique,
       x.indnkeyatts::int,
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
               FROM generate_series(1, x.indnatts::int) AS k ORDER BY k),
       x.indclass::text,
       x.indcollation::text,
       x.indoption::text,
       pg_get_expr(x.indpred, x.indrelid, true),
       to_jsonb(x) ->> 'indnullsnotdistinct',
       c.reloptions::text,
       x.indisvalid,
       x.indrelid::regclass::text,
       pg_get_indexdef(x.indexrelid),
       pg_relation_size(x.indexrelid),
       (SELECT p.pid FROM pg_stat_progress_create_index p WHERE p.index_relid = x.indexrelid LIMIT 1),
       x.indrelid
  FROM pg_index x
  JOIN pg_class c ON c.oid = x.indexrelid
  JOIN pg_am am ON am.oid = c.relam
 WHERE x.indexrelid = $1";

fn shape_of(row: &Row) -> IndexShape {
    IndexShape {
        method: row.get(0),
        unique: row.get(1),
        key_count: row.get(2),
        columns: row.get(3),
        opclasses: row.get(4),
        collations: row.get(5),
        options: row.get(6),
        predicate: row.get(7),
        nulls_not_distinct: row.get(8),
        reloptions: row.get(9),
    }
}

/// An index found under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedIndex {
    pub shape: IndexShape,
    /// It is on the table the new index is for.
    pub on_table: bool,
    /// The table it is on, as SQL reads it.
    pub table: String,
    pub valid: bool,
    /// `pg_get_indexdef`: for messages.
    pub definition: String,
    pub size_bytes: i64,
    /// A session building it right now (`pg_stat_progress_create_index`), when one is.
    pub built_by: Option<i32>,
}

/// What holds a name in a table's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRelation {
    pub schema: String,
    /// `pg_class.relkind`: `i` for an index, `r` a table, ...
    pub relkind: String,
    /// Set for an index.
    pub index: Option<NamedIndex>,
}

/// The relation called `name` in the schema of `table` (as SQL reads a table name), any kind, if
/// there is one: where an index built on `table` under that name would go. For an index, its
/// shape and facts too.
pub async fn relation_named(
    client: &Client,
    table: &str,
    name: &str,
) -> Result<Option<NamedRelation>, Error> {
    let Some(row) = client
        .query_opt(
            "SELECT n.nspname::text, c.relkind::text, c.oid, t.oid \
               FROM pg_class t \
               JOIN pg_class c ON c.relnamespace = t.relnamespace AND c.relname = $2 \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE t.oid = to_regclass($1)",
            &[&table, &name],
        )
        .await?
    else {
        return Ok(None);
    };
    let (schema, relkind, oid, table_oid): (String, String, u32, u32) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let index = if relkind == "i" || relkind == "I" {
        client
            .query_opt(INDEX_FACTS, &[&oid])
            .await?
            .map(|row| NamedIndex {
                shape: shape_of(&row),
                valid: row.get(10),
                table: row.get(11),
                definition: row.get(12),
                size_bytes: row.get(13),
                built_by: row.get(14),
                on_table: row.get::<_, u32>(15) == table_oid,
            })
    } else {
        None
    };
    Ok(Some(NamedRelation {
        schema,
        relkind,
        index,
    }))
}

/// The shape the server gives `CREATE [UNIQUE] INDEX ... ON table <body>` (`body`: `USING ...
/// (...) INCLUDE (...) WHERE ...`, as the DDL writes it after the table), found by creating it on an
/// empty temporary copy of the table's columns (`LIKE`: same names, types and collations) in a
/// transaction that is rolled back: nothing is built on the table and nothing stays.
pub async fn probe_index_shape(
    client: &Client,
    table: &str,
    unique: bool,
    body: &str,
) -> Result<IndexShape, Error> {
    let probe_table = quote_qualified(Some("pg_temp"), "pgdiag_index_probe");
    let setup = format!(
        "CREATE TEMPORARY TABLE {probe_table} (LIKE {table}); \
         CREATE {}INDEX \"pgdiag_index_probe_idx\" ON {probe_table} {body}",
        if unique { "UNIQUE " } else { "" }
    );
    super::tx::rolled_back(client, async |client| {
        client.batch_execute(&setup).await?;
        let row = client
            .query_one(
                &INDEX_FACTS.replace("$1", "to_regclass('pg_temp.pgdiag_index_probe_idx')"),
                &[],
            )
            .await?;
        Ok::<_, Error>(shape_of(&row))
    })
    .await
}

/// `pg_backend_pid()`: the server process of `client`'s session.
pub async fn backend_pid(client: &Client) -> Result<i32, Error> {
    Ok(client
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get(0))
}

/// Set `lock_timeout` for the rest of the session (`0`, `5s`, `1500ms`).
pub async fn set_lock_timeout(client: &Client, value: &str) -> Result<(), Error> {
    client
        .execute("SELECT set_config('lock_timeout', $1, false)", &[&value])
        .await?;
    Ok(())
}

/// Run one DDL statement pgdiag built (`CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`).
pub async fn run_ddl(client: &Client, ddl: &str) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(ddl).await
}

/// What a session is doing, seen from another one.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildState {
    /// `pg_stat_progress_create_index.phase` (`waiting for old snapshots`, `building index`...),
    /// when it is building an index.
    pub phase: Option<String>,
    /// `pg_locks.locktype` of the lock it is waiting for (`relation`, `virtualxid`...), if any.
    pub waiting_for: Option<String>,
    /// How long the current wait has lasted (`pg_locks.waitstart`), in milliseconds.
    pub wait_ms: Option<f64>,
    /// `pg_blocking_pids`, and the transaction it waits for as the progress view names it.
    pub blocking: Vec<i32>,
}

/// What the session `pid` is waiting for, and who blocks it; `None` when there is no such session.
pub async fn build_state(client: &Client, pid: i32) -> Result<Option<BuildState>, Error> {
    let row = client
        .query_opt(
            "WITH w AS (SELECT l.locktype, \
                               EXTRACT(epoch FROM clock_timestamp() - l.waitstart)::float8 * 1000 AS ms \
                          FROM pg_locks l WHERE l.pid = $1 AND NOT l.granted LIMIT 1), \
                  p AS (SELECT phase, current_locker_pid FROM pg_stat_progress_create_index \
                         WHERE pid = $1) \
             SELECT (SELECT phase FROM p), w.locktype, w.ms, \
                    CASE WHEN w.locktype IS NULL THEN '{}'::int[] \
                         ELSE ARRAY(SELECT DISTINCT b FROM unnest(pg_blocking_pids($1) \
                                    || (SELECT ARRAY[current_locker_pid::int] FROM p \
                                         WHERE current_locker_pid <> 0)) AS b ORDER BY b) END \
               FROM pg_stat_activity a LEFT JOIN w ON true WHERE a.pid = $1",
            &[&pid],
        )
        .await?;
    Ok(row.map(|row| BuildState {
        phase: row.get(0),
        waiting_for: row.get(1),
        wait_ms: row.get(2),
        blocking: row.get(3),
    }))
}

/// Another session, as `pg_stat_activity` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub pid: i32,
    /// `active`, `idle in transaction`, ...
    pub state: Option<String>,
    /// How long its transaction has been open, in milliseconds.
    pub transaction_age_ms: Option<f64>,
    /// Its current or last statement (the start of it: at most 1,000 characters).
    pub query: Option<String>,
}

/// The sessions `pids` that still exist, in pid order.
pub async fn sessions(client: &Client, pids: &[i32]) -> Result<Vec<Session>, Error> {
    let rows = client
        .query(
            "SELECT pid, state, \
                    EXTRACT(epoch FROM clock_timestamp() - xact_start)::float8 * 1000, \
                    left(query, 1000) \
               FROM pg_stat_activity WHERE pid = ANY($1) ORDER BY pid",
            &[&pids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Session {
            pid: row.get(0),
            state: row.get(1),
            transaction_age_ms: row.get(2),
            query: row.get(3),
        })
        .collect())
}

/// `pg_cancel_backend(pid)`: cancel the statement session `pid` runs; whether the signal was sent.
pub async fn cancel_backend(client: &Client, pid: i32) -> Result<bool, Error> {
    Ok(client
        .query_one("SELECT pg_cancel_backend($1)", &[&pid])
        .await?
        .get(0))
}
