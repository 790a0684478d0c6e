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

use super::explain::{document_from_text, explain_document};
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
    client.batch_execute("SAVEPOINT pgdiag_generic").await?;
    let result = if server_version_num >= GENERIC_PLAN_VERSION {
        generic_plan_option(client, sql).await
    } else {
        prepared_generic(client, sql).await
    };
    client
        .batch_execute("ROLLBACK TO SAVEPOINT pgdiag_generic; RELEASE SAVEPOINT pgdiag_generic")
        .await?;
    result
}

async fn generic_plan_option(client: &Client, sql: &str) -> Result<Explain, Error> {
    // The simple query protocol: `$n` stay placeholders of the statement, not of the EXPLAIN.
    let messages = client
        .simple_query(&format!(
            "EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) {sql}"
        ))
        .await?;
    let text = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    });
    let text = text.ok_or_else(|| Error::Config("EXPLAIN returned no plan".into()))?;
    document(document_from_text(text)?)
}

async fn prepared_generic(client: &Client, sql: &str) -> Result<Explain, Error> {
    let name = format!(
        "pgdiag_generic_{}_{}",
        std::process::id(),
        PREPARED.fetch_add(1, Ordering::Relaxed)
    );
    // Prepared statements are not transactional: deallocate whatever happens.
    client
        .batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await?;
    let parameters = client.prepare(sql).await?.params().len();
    client
        .batch_execute(&format!("PREPARE {name} AS {sql}"))
        .await?;
    let nulls = vec!["NULL"; parameters].join(", ");
    let explained = client
        .query_one(
            &format!("EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {name}({nulls})"),
            &[],
        )
        .await;
    if explained.is_err() {
        client
            .batch_execute("ROLLBACK TO SAVEPOINT pgdiag_generic")
            .await?;
    }
    client.batch_execute(&format!("DEALLOCATE {name}")).await?;
    let row = explained?;
    document(explain_document(&row)?)
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
