//! `pg::tx::rolled_back` against a real server: the body's writes are gone afterwards whether it
//! returned `Ok`, returned `Err`, failed on the server, or was dropped half-way.

use std::time::Duration;

use pgdiag::pg::{self, tx::rolled_back};

use crate::support::database;

/// Rows of `t` as this very session sees them: inside a transaction left open, its own inserts
/// would still count, so zero means rolled back.
async fn rows(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn the_body_runs_in_a_transaction_that_is_always_rolled_back() {
    let (url, client) = database("tx_rolled_back", "CREATE TABLE t (a int)").await;

    let seen_inside = rolled_back(&client, async |c| {
        c.batch_execute("INSERT INTO t VALUES (1)").await?;
        Ok::<i64, pg::Error>(rows(c).await)
    })
    .await
    .expect("ok body");
    assert_eq!(seen_inside, 1);
    assert_eq!(rows(&client).await, 0, "rolled back after Ok");

    let err = rolled_back(&client, async |c| {
        c.batch_execute("INSERT INTO t VALUES (2)").await?;
        Err::<(), _>(pg::Error::Config("the body failed".into()))
    })
    .await
    .expect_err("err body");
    assert!(
        matches!(&err, pg::Error::Config(m) if m == "the body failed"),
        "{err}"
    );
    assert_eq!(rows(&client).await, 0, "rolled back after Err");

    let err = rolled_back(&client, async |c| {
        c.batch_execute("INSERT INTO t VALUES (3)").await?;
        c.batch_execute("SELECT 1 / 0").await?;
        Ok::<(), pg::Error>(())
    })
    .await
    .expect_err("division by zero");
    assert_eq!(err.sqlstate(), Some("22012"), "{err}");
    assert_eq!(rows(&client).await, 0, "rolled back after a server error");

    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        rolled_back(&client, async |c| {
            c.batch_execute("INSERT INTO t VALUES (4)").await?;
            std::future::pending::<()>().await;
            Ok::<(), pg::Error>(())
        }),
    )
    .await;
    assert!(dropped.is_err(), "the body never finishes");
    assert_eq!(rows(&client).await, 0, "rolled back when dropped half-way");

    // Not left inside a transaction: a plain write now commits, another session sees it.
    client
        .batch_execute("INSERT INTO t VALUES (5)")
        .await
        .expect("insert");
    let (other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("second session");
    tokio::spawn(connection);
    assert_eq!(rows(&other).await, 1);
}

#[tokio::test]
async fn committed_keeps_the_body_on_ok_and_undoes_it_on_err() {
    let (_url, client) = database("tx_committed", "CREATE TABLE t (a int)").await;
    pg::tx::committed(&client, async |c| {
        c.batch_execute("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)")
            .await
            .map_err(pg::Error::from)
    })
    .await
    .expect("ok body");
    assert_eq!(rows(&client).await, 2);
    let err = pg::tx::committed(&client, async |c| {
        c.batch_execute("INSERT INTO t VALUES (3)").await?;
        c.batch_execute("INSERT INTO nope VALUES (4)").await?;
        Ok::<(), pg::Error>(())
    })
    .await
    .expect_err("no such table");
    assert_eq!(err.sqlstate(), Some("42P01"), "{err}");
    assert_eq!(
        rows(&client).await,
        2,
        "neither insert of the failed body kept"
    );
}

#[tokio::test]
async fn read_only_refuses_writes_and_ends_like_rolled_back() {
    let (_url, client) = database("tx_read_only", "CREATE TABLE t (a int)").await;
    let err = pg::tx::rolled_back_read_only(&client, async |c| {
        c.batch_execute("INSERT INTO t VALUES (1)").await?;
        Ok::<(), pg::Error>(())
    })
    .await
    .expect_err("a write in a READ ONLY transaction");
    assert_eq!(err.sqlstate(), Some("25006"), "{err}");
    // Reads work, and the session is out of the transaction afterwards (a write now succeeds).
    let seen =
        pg::tx::rolled_back_read_only(&client, async |c| Ok::<i64, pg::Error>(rows(c).await))
            .await
            .expect("a read");
    assert_eq!(seen, 0);
    client
        .batch_execute("INSERT INTO t VALUES (2)")
        .await
        .expect("no transaction left open, read-only or not");
    assert_eq!(rows(&client).await, 1);
}
