//! Statements pgdiag sends on its own behalf, outside EXPLAIN and index advice: which server this
//! is, a session setting, creating a database, running a trusted script (the seed), counting a
//! table's rows, which of some tables exist, creating an extension, and what applying changes
//! needs around them (the advisory lock, the session's timeouts, dropping again an index it created
//! that made a statement slower).

use std::time::Duration;

use tokio_postgres::Client;

use super::{Error, quote_ident, quote_qualified};

/// The server's version: `server_version` (`15.18 (Debian 15.18-0+deb12u1)`) and
/// `server_version_num` (`150018`).
pub async fn server_version(client: &Client) -> Result<(String, i32), Error> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// `set_config(name, value, false)`: a setting for the rest of the session (custom `a.b` names
/// included, which `SET` would need quoted).
pub async fn set_session_setting(client: &Client, name: &str, value: &str) -> Result<(), Error> {
    client
        .execute("SELECT set_config($1, $2, false)", &[&name, &value])
        .await?;
    Ok(())
}

/// Run a script pgdiag ships (several statements, no parameters), as psql would.
pub async fn run_script(client: &Client, sql: &str) -> Result<(), Error> {
    client.batch_execute(sql).await?;
    Ok(())
}

/// `count(*)` of a table.
pub async fn count_rows(client: &Client, schema: Option<&str>, table: &str) -> Result<i64, Error> {
    let row = client
        .query_one(
            &format!("SELECT count(*) FROM {}", quote_qualified(schema, table)),
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// `CREATE DATABASE name`.
pub async fn create_database(client: &Client, name: &str) -> Result<(), Error> {
    client
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
        .await?;
    Ok(())
}

/// Those of `names` (as SQL reads a table name: `public.products`) that name an existing
/// relation, in the order given.
pub async fn existing_relations(client: &Client, names: &[String]) -> Result<Vec<String>, Error> {
    let rows = client
        .query(
            "SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) \
             WHERE to_regclass(t) IS NOT NULL ORDER BY i",
            &[&names],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// `CREATE EXTENSION IF NOT EXISTS "name"`: the statement, as suggestions print it and
/// [`create_extension`] runs it.
pub fn create_extension_sql(name: &str) -> String {
    format!("CREATE EXTENSION IF NOT EXISTS {}", quote_ident(name))
}

/// Create an extension unless it exists ([`create_extension_sql`]).
pub async fn create_extension(client: &Client, name: &str) -> Result<(), Error> {
    client.batch_execute(&create_extension_sql(name)).await?;
    Ok(())
}

/// `DROP INDEX CONCURRENTLY IF EXISTS "schema"."name"`: the statement, as messages print it and
/// [`drop_index_concurrently`] runs it.
pub fn drop_index_concurrently_sql(schema: Option<&str>, name: &str) -> String {
    format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {}",
        quote_qualified(schema, name)
    )
}

/// Drop an index without blocking the table's readers and writers ([`drop_index_concurrently_sql`];
/// outside a transaction, it waits for the transactions using the table, under the session's
/// `lock_timeout`).
pub async fn drop_index_concurrently(
    client: &Client,
    schema: Option<&str>,
    name: &str,
) -> Result<(), Error> {
    client
        .batch_execute(&drop_index_concurrently_sql(schema, name))
        .await?;
    Ok(())
}

/// `pg_try_advisory_lock(key)`: whether this session now holds the session-level lock.
pub async fn try_advisory_lock(client: &Client, key: i64) -> Result<bool, Error> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .await?;
    Ok(row.get(0))
}

/// `pg_advisory_unlock(key)`.
pub async fn advisory_unlock(client: &Client, key: i64) -> Result<(), Error> {
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&key])
        .await?;
    Ok(())
}

/// The server process holding the session-level advisory lock `key` (a positive key: `pg_locks`
/// splits it into two oids) in the current database.
pub async fn advisory_lock_holder(client: &Client, key: i64) -> Result<Option<i32>, Error> {
    let row = client
        .query_opt(
            "SELECT pid FROM pg_locks \
             WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid \
             LIMIT 1",
            &[&key],
        )
        .await?;
    Ok(row.and_then(|row| row.get(0)))
}

/// The session's `lock_timeout` and `statement_timeout`, as `SHOW` prints them (`0`, `5s`).
pub async fn timeouts(client: &Client) -> Result<(String, String), Error> {
    let row = client
        .query_one(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Set `lock_timeout` and `statement_timeout` for the rest of the session, in one statement.
pub async fn set_timeouts(
    client: &Client,
    lock_timeout: &str,
    statement_timeout: &str,
) -> Result<(), Error> {
    client
        .execute(
            "SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)",
            &[&lock_timeout, &statement_timeout],
        )
        .await?;
    Ok(())
}

/// `SET LOCAL [lock_timeout = ms;] statement_timeout = ms`: timeouts for the rest of the caller's
/// transaction only (zero: none).
pub async fn set_local_timeouts(
    client: &Client,
    lock_timeout: Option<Duration>,
    statement_timeout: Duration,
) -> Result<(), Error> {
    let mut sql = String::new();
    if let Some(lock_timeout) = lock_timeout {
        sql.push_str(&format!(
            "SET LOCAL lock_timeout = {}; ",
            lock_timeout.as_millis()
        ));
    }
    sql.push_str(&format!(
        "SET LOCAL statement_timeout = {}",
        statement_timeout.as_millis()
    ));
    client.batch_execute(&sql).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::create_extension_sql;

    #[test]
    fn extension_names_are_quoted() {
        assert_eq!(
            create_extension_sql("pg_trgm"),
            r#"CREATE EXTENSION IF NOT EXISTS "pg_trgm""#
        );
        assert_eq!(
            create_extension_sql(r#"a"; DROP TABLE t; --"#),
            r#"CREATE EXTENSION IF NOT EXISTS "a""; DROP TABLE t; --""#
        );
    }
}
