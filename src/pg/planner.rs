//! Plans taken inside a transaction the caller owns (verification builds or simulates indexes in
//! one transaction and compares plans before and after), and generic plans for statements with
//! `$n` and no values.
//!
//! Every EXPLAIN here runs inside a savepoint that is rolled back, so an `EXPLAIN ANALYZE` of DML
//! leaves nothing behind even before the caller's final ROLLBACK, and a failing statement does not
//! abort the caller's transaction.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::explain::{JsonText, document_from_text, explain_document};
use super::{Error, ParamValue};
use crate::plan::{Explain, RawPlan};

/// First server version with `EXPLAIN (GENERIC_PLAN)`.
const GENERIC_PLAN_VERSION: i32 = 160000;

/// Session-unique names for the prepared statements of generic plans.
static PREPARED: AtomicUsize = AtomicUsize::new(0);

/// `EXPLAIN [ANALYZE] (VERBOSE, FORMAT JSON) sql` with `params` bound, in a rolled-back savepoint.
pub async fn explain_in_transaction(
    client: &Client,
    sql: &str,
    params: &[ParamValue],
    analyze: bool,
) -> Result<Explain, Error> {
    let options = if analyze {
        "ANALYZE, VERBOSE, BUFFERS, FORMAT JSON"
    } else {
        "VERBOSE, FORMAT JSON"
    };
    let sent = format!("EXPLAIN ({options}) {sql}");
    client.batch_execute("SAVEPOINT pgdiag_explain").await?;
    let result = async {
        let bound: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = client.query(&sent, &bound).await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::Config("EXPLAIN returned no rows".into()))?;
        document(explain_document(row)?)
    }
    .await;
    client
        .batch_execute("ROLLBACK TO SAVEPOINT pgdiag_explain; RELEASE SAVEPOINT pgdiag_explain")
        .await?;
    result
}

/// The generic plan of a statement with `$n` placeholders and no values: what a prepared statement
/// runs once the plan cache switches to a generic plan, and what ORMs and pg_stat_statements give.
/// `EXPLAIN (GENERIC_PLAN)` on PostgreSQL 16+, else `PREPARE` under
/// `plan_cache_mode = force_generic_plan` and `EXPLAIN EXECUTE` with NULLs (the values do not
/// matter to a generic plan). Runs in a rolled-back savepoint of the caller's transaction.
pub async fn explain_generic(
    client: &Client,
    sql: &str,
    server_version_num: i32,
) -> Result<Explain, Error> {
    let text = generic_document(client, sql, server_version_num, "VERBOSE, FORMAT JSON")
        .await
        .map_err(|failed| Error::Client(failed.error))?;
    document(generic_raw(text)?)
}

/// A generic plan's document as [`generic_document`] returned it, checked to be JSON.
pub fn generic_raw(text: Option<String>) -> Result<RawPlan, Error> {
    document_from_text(text.ok_or_else(|| Error::Config("EXPLAIN returned no plan".into()))?)
}

/// A generic plan's command that the server refused: the command sent, and the byte offset where
/// the user's statement starts in it (its length when the command does not contain it), so the
/// error's position can be mapped back to the statement.
#[derive(Debug)]
pub struct GenericFailure {
    pub error: tokio_postgres::Error,
    pub sent: String,
    pub statement_offset: usize,
}

/// Whether this server has `EXPLAIN (GENERIC_PLAN)` (PostgreSQL 16+); before it the generic plan
/// comes from a prepared statement.
pub fn has_generic_plan_option(server_version_num: i32) -> bool {
    server_version_num >= GENERIC_PLAN_VERSION
}

/// The EXPLAIN document's text of `sql`'s generic plan (`None` when the server sent no row),
/// explained with `options` (e.g. `VERBOSE, FORMAT JSON`; never ANALYZE: nothing is executed), as
/// [`explain_generic`] plans it; [`generic_raw`] checks it. Runs in a rolled-back savepoint of the
/// caller's transaction.
pub async fn generic_document(
    client: &Client,
    sql: &str,
    server_version_num: i32,
    options: &str,
) -> Result<Option<String>, GenericFailure> {
    let other = |error| GenericFailure {
        error,
        sent: String::new(),
        statement_offset: 0,
    };
    client
        .batch_execute("SAVEPOINT pgdiag_generic")
        .await
        .map_err(other)?;
    let result = if has_generic_plan_option(server_version_num) {
        generic_plan_option(client, sql, options).await
    } else {
        prepared_generic(client, sql, options).await
    };
    client
        .batch_execute("ROLLBACK TO SAVEPOINT pgdiag_generic; RELEASE SAVEPOINT pgdiag_generic")
        .await
        .map_err(other)?;
    result
}

fn failure(sent: &str, sql: &str) -> impl FnOnce(tokio_postgres::Error) -> GenericFailure {
    let sent = sent.to_string();
    let statement_offset = if sent.ends_with(sql) {
        sent.len() - sql.len()
    } else {
        sent.len()
    };
    move |error| GenericFailure {
        error,
        sent,
        statement_offset,
    }
}

async fn generic_plan_option(
    client: &Client,
    sql: &str,
    options: &str,
) -> Result<Option<String>, GenericFailure> {
    let sent = format!("EXPLAIN (GENERIC_PLAN, {options}) {sql}");
    // The simple query protocol: `$n` stay placeholders of the statement, not of the EXPLAIN.
    let messages = client
        .simple_query(&sent)
        .await
        .map_err(failure(&sent, sql))?;
    let text = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    });
    Ok(text)
}

async fn prepared_generic(
    client: &Client,
    sql: &str,
    options: &str,
) -> Result<Option<String>, GenericFailure> {
    let name = format!(
        "pgdiag_generic_{}_{}",
        std::process::id(),
        PREPARED.fetch_add(1, Ordering::Relaxed)
    );
    // Prepared statements are not transactional: deallocate whatever happens.
    client
        .batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .map_err(failure("", sql))?;
    let parameters = client
        .prepare(sql)
        .await
        .map_err(failure(sql, sql))?
        .params()
        .len();
    let prepare = format!("PREPARE {name} AS {sql}");
    client
        .batch_execute(&prepare)
        .await
        .map_err(failure(&prepare, sql))?;
    let nulls = vec!["NULL"; parameters].join(", ");
    let explain = format!("EXPLAIN ({options}) EXECUTE {name}({nulls})");
    let explained = client.query_one(&explain, &[]).await;
    if explained.is_err() {
        client
            .batch_execute("ROLLBACK TO SAVEPOINT pgdiag_generic")
            .await
            .map_err(failure("", sql))?;
    }
    client
        .batch_execute(&format!("DEALLOCATE {name}"))
        .await
        .map_err(failure("", sql))?;
    let row = explained.map_err(failure(&explain, sql))?;
    let JsonText(text) = row.try_get(0).map_err(failure(&explain, sql))?;
    Ok(Some(text))
}

/// The plan of an EXPLAIN JSON document (any depth).
fn document(raw: RawPlan) -> Result<Explain, Error> {
    raw.explains()
        .map_err(|e| Error::Config(format!("unreadable EXPLAIN output: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Config("EXPLAIN returned no plan".into()))
}

/// `reltuples` of a table: negative (PostgreSQL 14+) when it was never vacuumed or analyzed, zero
/// when empty or (before 14) never analyzed. `None` when the table is not found.
pub async fn reltuples(
    client: &Client,
    schema: Option<&str>,
    table: &str,
) -> Result<Option<f64>, Error> {
    let row = client
        .query_opt(
            "SELECT c.reltuples::float8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname = $1 AND (n.nspname = $2 OR ($2 IS NULL AND pg_table_is_visible(c.oid)))
              LIMIT 1",
            &[&table, &schema],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// The planner's estimate of the rows of `table` (in `schema`) that `predicate` keeps: what a
/// partial index over that predicate would hold. Planned only (plain EXPLAIN, in a rolled-back
/// savepoint of the caller's transaction), nothing runs.
pub async fn estimated_rows(
    client: &Client,
    schema: Option<&str>,
    table: &str,
    predicate: &str,
) -> Result<Option<f64>, Error> {
    let sql = format!(
        "SELECT 1 FROM {} WHERE {predicate}",
        super::quote_qualified(schema, table)
    );
    let explain = explain_in_transaction(client, &sql, &[], false).await?;
    Ok(explain.plan.plan_rows)
}
