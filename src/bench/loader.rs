//! [`PgLoader`]: the database side of the cache. Runs the user's SELECT with `$1` = the key on a
//! bounded pool of connections and serializes the rows compactly.
//!
//! The query runs as a plain read, never in a rolled-back transaction: `bench` measures a read
//! workload, so it refuses anything but SELECT / WITH ... SELECT up front.

use std::cell::Cell;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_util::future::try_join_all;
use tokio::sync::Semaphore;
use tokio_postgres::{Client, Statement};

use super::BenchError;
use crate::cache::{BoxFuture, LoadError, Loader};
use crate::pg::{ConnectionSettings, ParamValue, StatementKind, split_statements};

tokio::task_local! {
    /// Queries run for the request the current task is answering (see [`PgLoader::counting`]).
    static REQUEST_CALLS: Cell<u64>;
}

/// Connections opened when the user does not say (`--pool`).
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The single read-only statement of `sql`, or why it cannot be benchmarked. `what` names the
/// input in messages (`QUERY.sql`, `--keys-from`).
pub fn require_read_only(sql: &str, what: &str) -> Result<String, BenchError> {
    let statements =
        split_statements(sql).map_err(|e| BenchError::Query(format!("{what}: {e}")))?;
    let [statement] = statements.as_slice() else {
        return Err(BenchError::Query(format!(
            "{what}: expected one SELECT statement, found {}",
            statements.len()
        )));
    };
    let first_word = statement
        .text
        .split(|c: char| c.is_whitespace() || c == '(')
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_ascii_uppercase();
    let reads_only = matches!(
        statement.kind,
        StatementKind::Explainable { writes: false, .. }
    ) && matches!(first_word.as_str(), "SELECT" | "WITH");
    if !reads_only {
        return Err(BenchError::Query(format!(
            "{what}: bench runs a read workload and accepts only SELECT or WITH ... SELECT, not `{first_word}`"
        )));
    }
    Ok(statement.text.clone())
}

/// The benchmarked query reads one key: it must use `$1`, the key, and no other parameter.
/// Without `$1` every key would run the same statement and cache the same result, so the hit
/// rate, the herd and the staleness measured would say nothing about a real cache.
pub fn require_key_parameter(sql: &str) -> Result<(), BenchError> {
    match crate::pg::sample::param_count(sql) {
        1 => Ok(()),
        0 => Err(BenchError::Query(
            "the benchmarked query has no $1: bench runs it once per key with $1 = the key (text), \
             e.g. `SELECT ... FROM products WHERE id = $1::int`; without it every key would cache \
             the same result"
                .into(),
        )),
        n => Err(BenchError::Query(format!(
            "the benchmarked query has {n} parameters; bench binds only $1 (the key)"
        ))),
    }
}

/// A pooled connection with the query prepared on it.
struct Pooled {
    client: Client,
    statement: Statement,
}

/// Runs the query for a key on one of at most `pool_size` connections; waiters queue on a
/// semaphore, so 200 readers share 16 connections rather than opening 200.
pub struct PgLoader {
    idle: Mutex<Vec<Pooled>>,
    permits: Semaphore,
    pool_size: usize,
    calls: AtomicU64,
    /// Of `calls`, those run outside [`PgLoader::counting`]: work a strategy does on its own
    /// (a background refresh), not for the request being answered.
    background_calls: AtomicU64,
    /// When each background call started (rare: refreshes), for the report's timeline; at most
    /// [`BACKGROUND_LOG_LIMIT`] until [`PgLoader::take_background_log`] empties it.
    background_log: Mutex<Vec<Instant>>,
    query: String,
}

/// Background calls remembered between two [`PgLoader::take_background_log`].
pub const BACKGROUND_LOG_LIMIT: usize = 1_000_000;

impl std::fmt::Debug for PgLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLoader")
            .field("pool_size", &self.pool_size)
            .field("calls", &self.calls())
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl PgLoader {
    /// Check `sql` is one read-only statement, open `pool_size` connections and prepare it on each.
    ///
    /// Each row is sent back as the text form of every column: the query is wrapped as
    /// `SELECT c1::text, ... FROM (query) AS pgdiag_bench(c1, ...)`, so the server does the text
    /// conversion and the encoding needs no per-type code.
    pub async fn connect(
        settings: &ConnectionSettings,
        sql: &str,
        pool_size: usize,
    ) -> Result<PgLoader, BenchError> {
        let query = require_read_only(sql, "the benchmarked query")?;
        let pool_size = pool_size.max(1);
        let clients = try_join_all((0..pool_size).map(|_| settings.connect())).await?;
        let described = clients[0]
            .prepare(&query)
            .await
            .map_err(|e| BenchError::Postgres(e.into()))?;
        if described.params().len() != 1 {
            require_key_parameter(&query)?;
            return Err(BenchError::Query(format!(
                "the benchmarked query has {} parameters; bench binds only $1 (the key)",
                described.params().len()
            )));
        }
        let columns = described.columns().len();
        let wrapped = wrap_as_text(&query, columns);
        let statements = try_join_all(clients.iter().map(|c| c.prepare(&wrapped)))
            .await
            .map_err(|e| BenchError::Postgres(e.into()))?;
        let idle = clients
            .into_iter()
            .zip(statements)
            .map(|(client, statement)| Pooled { client, statement })
            .collect();
        Ok(PgLoader {
            idle: Mutex::new(idle),
            permits: Semaphore::new(pool_size),
            pool_size,
            calls: AtomicU64::new(0),
            background_calls: AtomicU64::new(0),
            background_log: Mutex::new(Vec::new()),
            query,
        })
    }

    /// Queries run so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Queries run outside [`PgLoader::counting`] so far.
    pub fn background_calls(&self) -> u64 {
        self.background_calls.load(Ordering::Relaxed)
    }

    /// The start of every background call since the last time this was called (at most
    /// [`BACKGROUND_LOG_LIMIT`]), emptying the log.
    pub fn take_background_log(&self) -> Vec<Instant> {
        self.background_log
            .lock()
            .map(|mut log| std::mem::take(&mut *log))
            .unwrap_or_default()
    }

    /// Run `request` (one request's answer) and count the queries it runs itself, in its own task:
    /// a reader adds them to its figures only when it measures that request, so a request in flight
    /// at the end of the warm-up can never put its query on the measured side.
    pub async fn counting<F: Future>(request: F) -> (F::Output, u64) {
        REQUEST_CALLS
            .scope(Cell::new(0), async {
                let output = request.await;
                (output, REQUEST_CALLS.with(Cell::get))
            })
            .await
    }

    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// The statement as the user wrote it (without a trailing semicolon).
    pub fn query(&self) -> &str {
        &self.query
    }

    async fn run(&self, key: &str) -> Result<Vec<u8>, String> {
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        // A permit guarantees an idle connection: there are as many permits as connections.
        let pooled = self
            .idle
            .lock()
            .map_err(|_| "connection pool poisoned".to_string())?
            .pop()
            .ok_or("no idle connection although a permit was held")?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        if REQUEST_CALLS
            .try_with(|calls| calls.set(calls.get() + 1))
            .is_err()
        {
            self.background_calls.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut log) = self.background_log.lock() {
                if log.len() < BACKGROUND_LOG_LIMIT {
                    log.push(Instant::now());
                }
            }
        }
        let param = ParamValue::Text(key.to_owned());
        let result = pooled.client.query(&pooled.statement, &[&param]).await;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(pooled);
        }
        let rows = result.map_err(|e| crate::pg::Error::from(e).to_string())?;
        let texts: Vec<Vec<Option<&str>>> = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.get::<_, Option<&str>>(i))
                    .collect()
            })
            .collect();
        Ok(encode_rows(&texts))
    }
}

impl Loader for PgLoader {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, LoadError>> {
        Box::pin(async move {
            self.run(key).await.map_err(|message| LoadError {
                key: key.to_owned(),
                message,
            })
        })
    }
}

fn wrap_as_text(query: &str, columns: usize) -> String {
    let names: Vec<String> = (1..=columns).map(|i| format!("c{i}")).collect();
    let select: Vec<String> = names.iter().map(|n| format!("{n}::text")).collect();
    // The newline keeps a trailing `-- comment` in the user's query from swallowing the `)`.
    format!(
        "SELECT {} FROM (\n{query}\n) AS pgdiag_bench({})",
        if select.is_empty() {
            "1".to_string()
        } else {
            select.join(", ")
        },
        names.join(", ")
    )
}

/// Rows as bytes: `u32` row count, `u16` column count, then per value a `u32` length
/// (`u32::MAX` for NULL) and the text bytes. All integers big-endian.
pub fn encode_rows(rows: &[Vec<Option<&str>>]) -> Vec<u8> {
    let columns = rows.first().map_or(0, Vec::len);
    let size: usize = rows
        .iter()
        .flatten()
        .map(|v| 4 + v.map_or(0, str::len))
        .sum();
    let mut out = Vec::with_capacity(6 + size);
    out.extend_from_slice(&(rows.len() as u32).to_be_bytes());
    out.extend_from_slice(&(columns as u16).to_be_bytes());
    for value in rows.iter().flatten() {
        match value {
            Some(text) => {
                out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
        }
    }
    out
}

/// The inverse of [`encode_rows`]; `None` when the bytes are not such an encoding.
pub fn decode_rows(bytes: &[u8]) -> Option<Vec<Vec<Option<String>>>> {
    fn take<'b>(bytes: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Some(head)
    }
    let mut rest = bytes;
    let rows = u32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?);
    let columns = u16::from_be_bytes(take(&mut rest, 2)?.try_into().ok()?);
    let mut out = Vec::new();
    for _ in 0..rows {
        let mut row = Vec::with_capacity(usize::from(columns));
        for _ in 0..columns {
            let len = u32::from_be_bytes(take(&mut rest, 4)?.try_into().ok()?);
            if len == u32::MAX {
                row.push(None);
            } else {
                let text = take(&mut rest, len as usize)?;
                row.push(Some(String::from_utf8(text.to_vec()).ok()?));
            }
        }
        out.push(row);
    }
    rest.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_with_nulls_and_empty_strings() {
        let rows = vec![
            vec![Some("1"), None, Some("")],
            vec![Some("é"), Some("x"), None],
        ];
        let bytes = encode_rows(&rows);
        assert_eq!(bytes.len(), 6 + 6 * 4 + 1 + 2 + 1);
        let decoded = decode_rows(&bytes).unwrap();
        assert_eq!(
            decoded[0],
            vec![Some("1".into()), None, Some(String::new())]
        );
        assert_eq!(decoded[1][0].as_deref(), Some("é"));
        assert_eq!(decode_rows(&encode_rows(&[])).unwrap().len(), 0);
        assert!(decode_rows(&bytes[..bytes.len() - 1]).is_none());
    }

    #[test]
    fn only_reads_are_benchmarked() {
        assert!(require_read_only("SELECT * FROM t WHERE id = $1;", "q").is_ok());
        assert!(require_key_parameter("SELECT * FROM t WHERE id = $1::int").is_ok());
        assert!(require_key_parameter("SELECT * FROM t WHERE name = '$1'").is_err());
        assert!(require_key_parameter("SELECT count(*) FROM t").is_err());
        assert!(require_key_parameter("SELECT * FROM t WHERE a = $1 AND b = $2").is_err());
        assert!(require_read_only("with x as (select 1) select * from x", "q").is_ok());
        for bad in [
            "UPDATE t SET a = 1",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "SELECT 1; SELECT 2",
            "CREATE TABLE t (a int)",
            "-- nothing",
        ] {
            assert!(require_read_only(bad, "q").is_err(), "{bad}");
        }
    }

    #[test]
    fn wrapping_survives_a_trailing_comment() {
        let wrapped = wrap_as_text("SELECT a, a FROM t -- note", 2);
        assert!(wrapped.contains("-- note\n)"), "{wrapped}");
        assert!(wrapped.starts_with("SELECT c1::text, c2::text FROM"));
    }
}
