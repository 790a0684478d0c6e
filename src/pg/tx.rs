//! Transactions around a closure. Work whose effects must never outlive it (EXPLAIN ANALYZE of a
//! write, an index built to measure it, a trial `CREATE EXTENSION`) runs inside [`rolled_back`];
//! changes that must land together or not at all run inside [`committed`]. These are the one
//! place that opens and ends a transaction, so no early return can leave one open.

use futures_util::FutureExt;
use tokio_postgres::Client;

use super::Error;

/// Run `body` inside a transaction that is always rolled back: when `body` returns `Ok`, when it
/// returns `Err`, and when the returned future is dropped half-way (a Ctrl-C `select!`, a
/// timeout): then `ROLLBACK` is queued on the connection without waiting, as tokio-postgres does
/// for a dropped `Transaction`, and the server runs it after whatever statement is in flight.
///
/// `body` gets the same client; it must not end the transaction itself. The client must not be
/// inside a transaction already (this one would end it). When `body` fails, its error is returned
/// and a failing `ROLLBACK` is not reported (an aborted transaction rolls back anyway); when `body`
/// succeeds, a failing `ROLLBACK` is the error.
pub async fn rolled_back<T, E>(
    client: &Client,
    body: impl AsyncFnOnce(&Client) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<Error>,
{
    in_transaction(client, body, "BEGIN", false).await
}

/// [`rolled_back`], in a `READ ONLY` transaction: for statements that should write nothing, so
/// that a function with a hidden write fails loudly instead of writing (and nextval/setval, which
/// PostgreSQL refuses there too).
pub async fn rolled_back_read_only<T, E>(
    client: &Client,
    body: impl AsyncFnOnce(&Client) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<Error>,
{
    in_transaction(client, body, "BEGIN READ ONLY", false).await
}

/// Run `body` inside a transaction that is committed when it returns `Ok`, and rolled back when it
/// returns `Err` or its future is dropped half-way (as [`rolled_back`] does). A failing `COMMIT`
/// is the error (the server has rolled back then).
pub async fn committed<T, E>(
    client: &Client,
    body: impl AsyncFnOnce(&Client) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<Error>,
{
    in_transaction(client, body, "BEGIN", true).await
}

async fn in_transaction<T, E>(
    client: &Client,
    body: impl AsyncFnOnce(&Client) -> Result<T, E>,
    begin: &str,
    commit: bool,
) -> Result<T, E>
where
    E: From<Error>,
{
    client
        .batch_execute(begin)
        .await
        .map_err(|e| E::from(Error::from(e)))?;
    let mut guard = RollbackOnDrop {
        client,
        armed: true,
    };
    let result = body(client).await;
    if !commit && result.is_ok() {
        // Queued, not awaited: the connection runs requests in order, so nothing sent after this
        // can see the transaction, and a lost connection rolls it back too. Waiting for the reply
        // would cost every EXPLAIN a round trip (and a task wake-up) for nothing.
        guard.armed = false;
        let _ = client.batch_execute("ROLLBACK").now_or_never();
        return result;
    }
    let end = if commit && result.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    let ended = client.batch_execute(end).await;
    guard.armed = false;
    let value = result?;
    ended.map_err(|e| E::from(Error::from(e)))?;
    Ok(value)
}

/// Sends `ROLLBACK` when the future is dropped before the transaction ended.
struct RollbackOnDrop<'a> {
    client: &'a Client,
    armed: bool,
}

impl Drop for RollbackOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            // The first poll of a query writes it to the connection's queue; the reply is
            // discarded. Nothing can be awaited in `drop`.
            let _ = self.client.batch_execute("ROLLBACK").now_or_never();
        }
    }
}
