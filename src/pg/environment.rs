//! What shapes plans besides the query itself, read from the catalog: planner settings and table
//! sizes. `baseline` records them and `check` compares them, so a cost change can be told apart
//! from a settings change.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::Error;

/// Every `enable_*` setting and the ones named in `others`, with their current values.
pub async fn planner_settings(
    client: &Client,
    others: &[&str],
) -> Result<BTreeMap<String, String>, Error> {
    let names: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    let rows = client
        .query(
            "SELECT name, current_setting(name) FROM pg_settings \
             WHERE name LIKE 'enable\\_%' OR name = ANY($1) ORDER BY name",
            &[&names],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// `pg_class.reltuples` of a relation named `schema.table` as EXPLAIN prints it, or by a bare
/// name resolved on the search path. `None` when no such relation exists.
pub async fn reltuples_by_name(client: &Client, relation: &str) -> Result<Option<f64>, Error> {
    let found = client
        .query_opt(
            "SELECT c.reltuples::float8 FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname || '.' || c.relname = $1 \
                OR (c.relname = $1 AND pg_table_is_visible(c.oid)) \
             LIMIT 1",
            &[&relation],
        )
        .await?;
    Ok(found.map(|row| row.get(0)))
}
