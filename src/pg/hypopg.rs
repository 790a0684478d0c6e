//! HypoPG: hypothetical indexes the planner sees in this session only, so a candidate's effect on
//! the plan is known without building it. Used inside a transaction that is rolled back (the
//! extension itself may be created there, leaving no trace).

use tokio_postgres::Client;

use super::Error;

/// A hypothetical index: its oid and the name EXPLAIN prints for it (`<13543>btree_reviews_product_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HypoIndex {
    pub oid: u32,
    pub name: String,
}

/// Why HypoPG cannot be used here, or `None` when it can: the extension must be installed on the
/// server and creatable by this user (tried in a transaction that is rolled back).
pub async fn unavailable_reason(client: &Client) -> Result<Option<String>, Error> {
    let available = client
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'",
            &[],
        )
        .await?
        .is_some();
    if !available {
        return Ok(Some(
            "the hypopg extension is not installed on the server".into(),
        ));
    }
    let created = super::tx::rolled_back(client, async |client| {
        Ok::<_, Error>(
            client
                .batch_execute("CREATE EXTENSION IF NOT EXISTS hypopg")
                .await,
        )
    })
    .await?;
    Ok(created.err().map(|e| {
        format!(
            "CREATE EXTENSION hypopg failed: {}",
            super::describe_client_error(&e)
        )
    }))
}

/// `CREATE EXTENSION IF NOT EXISTS hypopg`, inside the caller's transaction.
pub async fn ensure_extension(client: &Client) -> Result<(), Error> {
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        .await?;
    Ok(())
}

/// `hypopg_create_index(ddl)`: `ddl` is a plain `CREATE INDEX` (no CONCURRENTLY, no IF NOT EXISTS).
pub async fn create_index(client: &Client, ddl: &str) -> Result<HypoIndex, Error> {
    let row = client
        .query_one(
            "SELECT indexrelid, indexname::text FROM hypopg_create_index($1)",
            &[&ddl],
        )
        .await?;
    Ok(HypoIndex {
        oid: row.get(0),
        name: row.get(1),
    })
}

/// HypoPG's estimate of the index's size.
pub async fn relation_size(client: &Client, index: &HypoIndex) -> Result<i64, Error> {
    let row = client
        .query_one("SELECT hypopg_relation_size($1)", &[&index.oid])
        .await?;
    Ok(row.get(0))
}

/// Forget one hypothetical index.
pub async fn drop_index(client: &Client, oid: u32) -> Result<(), Error> {
    client
        .execute("SELECT hypopg_drop_index($1)", &[&oid])
        .await?;
    Ok(())
}

/// Forget every hypothetical index of the session.
pub async fn reset(client: &Client) -> Result<(), Error> {
    client.batch_execute("SELECT hypopg_reset()").await?;
    Ok(())
}
