//! Statements pgdiag sends on its own behalf, outside EXPLAIN and index advice: which server this
//! is, a session setting, creating a database, running a trusted script (the seed), counting a
//! table's rows, and which of some tables exist.

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
