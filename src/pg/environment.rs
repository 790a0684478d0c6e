//! What shapes plans besides the query itself, read from the catalog: planner settings and table
//! sizes. `baseline` records them and `check` compares them, so a cost change can be told apart
//! from a settings change or from data growth.

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

/// A relation's size as the catalog keeps it: estimates VACUUM and ANALYZE maintain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelationStats {
    /// `pg_class.reltuples`; -1 for a table never vacuumed or analysed (PostgreSQL 14+).
    pub reltuples: f64,
    /// `pg_class.relpages`.
    pub relpages: i64,
}

/// `reltuples` and `relpages` of each relation in `relations`, named `schema.table` as EXPLAIN
/// prints them or by a bare name resolved on the search path (a schema-qualified match first),
/// in one round trip. Names no relation matches are absent from the result.
pub async fn relation_stats(
    client: &Client,
    relations: &[String],
) -> Result<BTreeMap<String, RelationStats>, Error> {
    if relations.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows = client
        .query(
            "SELECT r.name, c.reltuples, c.relpages \
             FROM unnest($1::text[]) AS r(name) \
             CROSS JOIN LATERAL ( \
                 SELECT c.reltuples::float8 AS reltuples, c.relpages::int8 AS relpages \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname || '.' || c.relname = r.name \
                    OR (c.relname = r.name AND pg_table_is_visible(c.oid)) \
                 ORDER BY n.nspname || '.' || c.relname = r.name DESC \
                 LIMIT 1) c",
            &[&relations],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                row.get(0),
                RelationStats {
                    reltuples: row.get(1),
                    relpages: row.get(2),
                },
            )
        })
        .collect())
}
