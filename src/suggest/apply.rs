//! Applying suggestions to a live database without hurting it: indexes are built
//! `CONCURRENTLY` under a `lock_timeout` (so a busy table makes us give up, not queue every writer
//! behind us), an INVALID index a failed build leaves is dropped again, materialized views are
//! created all-or-nothing in a transaction, and an advisory lock keeps two runs from racing.
//!
//! A failed change stops the run: later changes may depend on it (a rewritten query on a view),
//! and a database that refuses one lock is likely to refuse the next.

use std::fmt;
use std::time::{Duration, Instant};

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::report::ChangeStatus;
use crate::pg::{self, quote_ident, quote_qualified, split_statements};

/// The advisory-lock key every `pgdiag` apply takes. Fixed (FNV-1a of "pgdiag apply", top bit
/// cleared so it reads the same as a signed and an unsigned number in `pg_locks`) so that runs
/// from different machines against one database exclude each other.
pub const APPLY_LOCK_KEY: i64 = (fnv1a64(b"pgdiag apply") >> 1) as i64;

// `pg_locks` splits the key into two oids; a positive key keeps the holder lookup simple.
const _: () = assert!(APPLY_LOCK_KEY > 0);

const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// One change to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `ddl`: `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS "name" ON "schema"."table" (...)`,
    /// as [`crate::advise::Candidate::ddl`] makes it. `name` must be the index name in the DDL: it is how
    /// an existing or INVALID index is found.
    Index {
        schema: Option<String>,
        table: String,
        name: String,
        ddl: String,
    },
    /// Statements run in order in one transaction: `CREATE MATERIALIZED VIEW ...`,
    /// `CREATE UNIQUE INDEX ...`, `ANALYZE ...`. `name` is the view's name.
    Matview {
        schema: Option<String>,
        name: String,
        statements: Vec<String>,
    },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Index { name, .. } | Change::Matview { name, .. } => name,
        }
    }

    /// "index" or "materialized view", for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Index { .. } => "index",
            Change::Matview { .. } => "materialized view",
        }
    }

    /// The statements that will run, in order, for printing a plan of changes.
    pub fn statements(&self) -> Vec<&str> {
        match self {
            Change::Index { ddl, .. } => vec![ddl.as_str()],
            Change::Matview { statements, .. } => statements.iter().map(String::as_str).collect(),
        }
    }

    /// Refuse what could not be applied safely, before anything runs: several statements in one
    /// string would run in an implicit transaction (where `CONCURRENTLY` is refused) and a
    /// non-concurrent index build would lock the table against writes for the whole build.
    fn validate(&self) -> Result<(), ApplyError> {
        let invalid = |reason: String| ApplyError::InvalidChange {
            name: self.name().to_owned(),
            reason,
        };
        if self.name().is_empty() {
            return Err(invalid("the name is empty".into()));
        }
        match self {
            Change::Index { table, ddl, .. } => {
                if table.is_empty() {
                    return Err(invalid("the table name is empty".into()));
                }
                single_statement(ddl).map_err(invalid)?;
                let words = leading_words(ddl, 4);
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                let concurrent = words.starts_with(&["CREATE", "INDEX", "CONCURRENTLY"])
                    || words.starts_with(&["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"]);
                if !concurrent {
                    return Err(invalid(
                        "only CREATE [UNIQUE] INDEX CONCURRENTLY is applied to a live table".into(),
                    ));
                }
            }
            Change::Matview { statements, .. } => {
                if statements.is_empty() {
                    return Err(invalid("no statements".into()));
                }
                for statement in statements {
                    single_statement(statement).map_err(&invalid)?;
                    let first = leading_words(statement, 1);
                    let control = [
                        "BEGIN",
                        "START",
                        "COMMIT",
                        "END",
                        "ROLLBACK",
                        "ABORT",
                        "SAVEPOINT",
                        "RELEASE",
                        "PREPARE",
                    ];
                    if first.first().is_some_and(|w| control.contains(&w.as_str())) {
                        return Err(invalid(format!(
                            "transaction control would break all-or-nothing: {statement}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

fn single_statement(sql: &str) -> Result<(), String> {
    match split_statements(sql) {
        Ok(statements) if statements.len() == 1 => Ok(()),
        Ok(statements) => Err(format!(
            "expected one statement, found {}: {sql}",
            statements.len()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The first `n` words of `sql`, upper-cased, after leading whitespace and `--` comments.
fn leading_words(sql: &str, n: usize) -> Vec<String> {
    sql.lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .take(n)
        .map(str::to_ascii_uppercase)
        .collect()
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How long any one statement may wait for a lock before giving up. Short, so that a table
    /// another session holds makes us fail instead of queueing every later writer behind us.
    pub lock_timeout: Duration,
    /// A cap on each statement (an index build included); `None` leaves the session's own.
    pub statement_timeout: Option<Duration>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
        }
    }
}

/// Progress, for a progress bar. Every change gets one `Finished` (skipped ones too); only the
/// ones actually attempted get a `Started` before it.
#[derive(Debug, Clone, Copy)]
pub enum ApplyEvent<'a> {
    Started {
        position: usize,
        total: usize,
        change: &'a Change,
    },
    Finished {
        position: usize,
        total: usize,
        outcome: &'a ChangeOutcome,
    },
}

/// Why a change failed, told apart by SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// `lock_timeout` expired: another session holds a conflicting lock.
    LockTimeout,
    Deadlock,
    /// A unique index over duplicate data.
    UniqueViolation,
    /// `statement_timeout` expired or someone cancelled the statement.
    Cancelled,
    /// Something that is not the index (or view) already uses the name.
    NameTaken,
    Other,
}

/// A failed change: what went wrong, with the server's SQLSTATE when it came from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFailure {
    pub kind: FailureKind,
    pub sqlstate: Option<String>,
    pub message: String,
}

impl fmt::Display for ChangeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = match self.kind {
            FailureKind::LockTimeout => {
                " (another session holds a lock on the table; retry when it is idle or raise the lock timeout)"
            }
            FailureKind::Deadlock => " (retry when the table is less busy)",
            FailureKind::UniqueViolation => " (the data has duplicates)",
            FailureKind::Cancelled => " (statement timeout or cancelled)",
            FailureKind::NameTaken | FailureKind::Other => "",
        };
        write!(f, "{}{hint}", self.message)?;
        if let Some(code) = &self.sqlstate {
            write!(f, " [SQLSTATE {code}]")?;
        }
        Ok(())
    }
}

impl ChangeFailure {
    /// As [`ChangeFailure::from_pg`]; errors of the transaction helper wrap the client's.
    fn from_pg_error(err: &pg::Error) -> ChangeFailure {
        match err {
            pg::Error::Client(e) => ChangeFailure::from_pg(e),
            other => ChangeFailure {
                kind: FailureKind::Other,
                sqlstate: other.sqlstate().map(str::to_owned),
                message: other.to_string(),
            },
        }
    }

    fn from_pg(err: &tokio_postgres::Error) -> ChangeFailure {
        let Some(db) = err.as_db_error() else {
            return ChangeFailure {
                kind: FailureKind::Other,
                sqlstate: None,
                message: crate::pg::describe_client_error(err),
            };
        };
        let code = db.code();
        let kind = if code == &SqlState::LOCK_NOT_AVAILABLE {
            FailureKind::LockTimeout
        } else if code == &SqlState::T_R_DEADLOCK_DETECTED {
            FailureKind::Deadlock
        } else if code == &SqlState::UNIQUE_VIOLATION {
            FailureKind::UniqueViolation
        } else if code == &SqlState::QUERY_CANCELED {
            FailureKind::Cancelled
        } else {
            FailureKind::Other
        };
        let mut message = db.message().to_owned();
        if let Some(detail) = db.detail() {
            message.push_str(": ");
            message.push_str(detail);
        }
        ChangeFailure {
            kind,
            sqlstate: Some(code.code().to_owned()),
            message,
        }
    }

    fn name_taken(message: String) -> ChangeFailure {
        ChangeFailure {
            kind: FailureKind::NameTaken,
            sqlstate: None,
            message,
        }
    }
}

/// One change's result. `status` is the report's [`ChangeStatus`]: `Created` (built now),
/// `AlreadyExisted` (a valid index, or the view, of that name was there; nothing ran), `Failed`, or
/// `Skipped` (not attempted because an earlier change failed).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeOutcome {
    pub change: Change,
    pub status: ChangeStatus,
    pub elapsed_ms: f64,
    /// On-disk size afterwards: `pg_relation_size` of an index; `pg_total_relation_size` of a view
    /// (its unique index included).
    pub size_bytes: Option<i64>,
    /// An INVALID index of that name was dropped: `Created`, one an earlier run left when it died
    /// mid-build, dropped before building; `Failed`, the one this failed build left, dropped again.
    pub dropped_invalid: bool,
    /// Why it failed (`Failed` only).
    pub failure: Option<ChangeFailure>,
    /// `Failed` only: dropping the INVALID index the build left failed too, so it is still there.
    pub cleanup_error: Option<String>,
}

impl ChangeOutcome {
    fn new(change: &Change, done: Done, elapsed_ms: f64) -> ChangeOutcome {
        ChangeOutcome {
            change: change.clone(),
            status: done.status,
            elapsed_ms,
            size_bytes: done.size_bytes,
            dropped_invalid: done.dropped_invalid,
            failure: done.failure,
            cleanup_error: done.cleanup_error,
        }
    }
}

/// What applying one change did, before the change and its timing are attached.
struct Done {
    status: ChangeStatus,
    size_bytes: Option<i64>,
    dropped_invalid: bool,
    failure: Option<ChangeFailure>,
    cleanup_error: Option<String>,
}

impl Done {
    fn created(replaced_invalid: bool, size_bytes: Option<i64>) -> Done {
        Done {
            status: ChangeStatus::Created,
            size_bytes,
            dropped_invalid: replaced_invalid,
            failure: None,
            cleanup_error: None,
        }
    }

    fn already_existed(size_bytes: Option<i64>) -> Done {
        Done {
            status: ChangeStatus::AlreadyExisted,
            size_bytes,
            ..Done::skipped()
        }
    }

    fn failed(failure: ChangeFailure) -> Done {
        Done {
            status: ChangeStatus::Failed,
            failure: Some(failure),
            ..Done::skipped()
        }
    }

    fn skipped() -> Done {
        Done {
            status: ChangeStatus::Skipped,
            size_bytes: None,
            dropped_invalid: false,
            failure: None,
            cleanup_error: None,
        }
    }
}

/// The result of a run, one outcome per change in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyReport {
    pub outcomes: Vec<ChangeOutcome>,
}

impl ApplyReport {
    /// The change that failed (and stopped the run), if any.
    pub fn failure(&self) -> Option<&ChangeOutcome> {
        self.outcomes
            .iter()
            .find(|o| o.status == ChangeStatus::Failed)
    }

    pub fn is_success(&self) -> bool {
        self.failure().is_none()
    }
}

/// Why nothing was applied at all. A change that fails is not an error here: it is in the
/// [`ApplyReport`], with the others.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot apply {name}: {reason}")]
    InvalidChange { name: String, reason: String },
    #[error(
        "another pgdiag apply is running on this database{}; nothing was applied (run again when it has finished)",
        match .holder_pid { Some(pid) => format!(" (server process {pid})"), None => String::new() }
    )]
    AlreadyRunning { holder_pid: Option<i32> },
    #[error("{context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: pg::Error,
    },
}

fn db_error(context: &'static str) -> impl FnOnce(pg::Error) -> ApplyError {
    move |source| ApplyError::Database { context, source }
}

/// Apply `changes` in order on `client`'s session, stopping at the first failure.
///
/// The session must not be inside a transaction (`CONCURRENTLY` refuses to run in one). Its
/// `lock_timeout` and `statement_timeout` are restored afterwards, and the advisory lock released.
pub async fn apply(
    client: &Client,
    changes: &[Change],
    options: &ApplyOptions,
    on_event: &mut dyn FnMut(ApplyEvent<'_>),
) -> Result<ApplyReport, ApplyError> {
    for change in changes {
        change.validate()?;
    }
    let locked = pg::admin::try_advisory_lock(client, APPLY_LOCK_KEY)
        .await
        .map_err(db_error("taking the pgdiag apply advisory lock"))?;
    if !locked {
        return Err(ApplyError::AlreadyRunning {
            holder_pid: lock_holder(client).await,
        });
    }
    let result = apply_locked(client, changes, options, on_event).await;
    // Best effort: if the connection is gone, the session lock went with it.
    let _ = pg::admin::advisory_unlock(client, APPLY_LOCK_KEY).await;
    result
}

/// The server process holding the apply lock, for the error message.
async fn lock_holder(client: &Client) -> Option<i32> {
    pg::admin::advisory_lock_holder(client, APPLY_LOCK_KEY)
        .await
        .ok()?
}

async fn apply_locked(
    client: &Client,
    changes: &[Change],
    options: &ApplyOptions,
    on_event: &mut dyn FnMut(ApplyEvent<'_>),
) -> Result<ApplyReport, ApplyError> {
    let (saved_lock, saved_statement) = pg::admin::timeouts(client)
        .await
        .map_err(db_error("reading the session's timeouts"))?;
    let statement_timeout = match options.statement_timeout {
        Some(timeout) => format!("{}ms", timeout.as_millis().max(1)),
        None => saved_statement.clone(),
    };
    let lock_timeout = format!("{}ms", options.lock_timeout.as_millis().max(1));
    pg::admin::set_timeouts(client, &lock_timeout, &statement_timeout)
        .await
        .map_err(db_error("setting lock_timeout and statement_timeout"))?;

    let total = changes.len();
    let mut report = ApplyReport::default();
    let mut failed = false;
    for (position, change) in changes.iter().enumerate() {
        let outcome = if failed {
            ChangeOutcome::new(change, Done::skipped(), 0.0)
        } else {
            on_event(ApplyEvent::Started {
                position,
                total,
                change,
            });
            let started = Instant::now();
            let done = match change {
                Change::Index {
                    schema,
                    table,
                    name,
                    ddl,
                } => {
                    apply_index(
                        client,
                        &quote_qualified(schema.as_deref(), table),
                        name,
                        ddl,
                    )
                    .await
                }
                Change::Matview {
                    schema,
                    name,
                    statements,
                } => {
                    apply_matview(
                        client,
                        &quote_qualified(schema.as_deref(), name),
                        statements,
                    )
                    .await
                }
            };
            failed = done.status == ChangeStatus::Failed;
            ChangeOutcome::new(change, done, started.elapsed().as_secs_f64() * 1000.0)
        };
        report.outcomes.push(outcome);
        on_event(ApplyEvent::Finished {
            position,
            total,
            outcome: report.outcomes.last().expect("just pushed"),
        });
    }

    // Best effort, like the unlock: a broken connection takes its settings with it.
    let _ = pg::admin::set_timeouts(client, &saved_lock, &saved_statement).await;
    Ok(report)
}

/// What the catalog holds under an index's name, in its table's schema.
#[derive(Debug)]
enum Existing {
    Index {
        schema: String,
        on_table: bool,
        valid: bool,
        size_bytes: i64,
    },
    /// A table, view, sequence... of that name.
    OtherRelation { kind: String },
}

async fn existing_index(
    client: &Client,
    table: &str,
    name: &str,
) -> Result<Option<Existing>, pg::Error> {
    let found = pg::catalog::relation_beside(client, table, name).await?;
    Ok(found.map(|found| {
        if found.relkind == "i" {
            Existing::Index {
                schema: found.schema,
                on_table: found.on_table,
                valid: found.valid,
                size_bytes: found.size_bytes,
            }
        } else {
            Existing::OtherRelation {
                kind: found.relkind,
            }
        }
    }))
}

fn relkind_name(kind: &str) -> &'static str {
    match kind {
        "r" => "table",
        "p" => "partitioned table",
        "v" => "view",
        "m" => "materialized view",
        "S" => "sequence",
        "f" => "foreign table",
        "c" => "composite type",
        "I" => "partitioned index",
        "t" => "TOAST table",
        _ => "relation",
    }
}

/// Drops an INVALID index. It waits for every transaction holding a lock on the table (under the
/// same `lock_timeout`), so a long reader can make it fail: the error then says what to run later.
async fn drop_invalid(client: &Client, schema: &str, name: &str) -> Result<(), String> {
    let sql = format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {}",
        quote_qualified(Some(schema), name)
    );
    client.batch_execute(&sql).await.map_err(|e| {
        format!(
            "{}; drop it later with: {sql}",
            crate::pg::describe_client_error(&e)
        )
    })
}

async fn apply_index(client: &Client, table: &str, name: &str, ddl: &str) -> Done {
    let mut replaced_invalid = false;
    match existing_index(client, table, name).await {
        Err(e) => return Done::failed(ChangeFailure::from_pg_error(&e)),
        Ok(None) => {}
        Ok(Some(Existing::OtherRelation { kind })) => {
            let message = format!(
                "a {} named {} already exists in the table's schema",
                relkind_name(&kind),
                quote_ident(name)
            );
            return Done::failed(ChangeFailure::name_taken(message));
        }
        Ok(Some(Existing::Index {
            on_table: false, ..
        })) => {
            let message = format!(
                "an index named {} already exists on another table",
                quote_ident(name)
            );
            return Done::failed(ChangeFailure::name_taken(message));
        }
        Ok(Some(Existing::Index {
            valid: true,
            size_bytes,
            ..
        })) => return Done::already_existed(Some(size_bytes)),
        Ok(Some(Existing::Index { schema, .. })) => {
            // `IF NOT EXISTS` would skip it and leave an index the planner never uses.
            if let Err(message) = drop_invalid(client, &schema, name).await {
                let failure = ChangeFailure {
                    kind: FailureKind::Other,
                    sqlstate: None,
                    message: format!(
                        "an INVALID index {} from an earlier failed build could not be dropped: {message}",
                        quote_ident(name)
                    ),
                };
                return Done::failed(failure);
            }
            replaced_invalid = true;
        }
    }

    let build = client.batch_execute(ddl).await;
    let after = existing_index(client, table, name).await;
    match (build, after) {
        (
            Ok(()),
            Ok(Some(Existing::Index {
                valid: true,
                size_bytes,
                ..
            })),
        ) => Done::created(replaced_invalid, Some(size_bytes)),
        (Ok(()), Ok(_)) => {
            let failure = ChangeFailure {
                kind: FailureKind::Other,
                sqlstate: None,
                message: format!(
                    "the statement succeeded but no valid index {} is on the table (does the DDL name it so?)",
                    quote_ident(name)
                ),
            };
            Done::failed(failure)
        }
        (Ok(()), Err(e)) => Done::failed(ChangeFailure::from_pg_error(&e)),
        (Err(build_error), after) => {
            let failure = ChangeFailure::from_pg(&build_error);
            let (dropped_invalid, cleanup_error) = match after {
                Ok(Some(Existing::Index {
                    schema,
                    on_table: true,
                    valid: false,
                    ..
                })) => match drop_invalid(client, &schema, name).await {
                    Ok(()) => (true, None),
                    Err(message) => (false, Some(message)),
                },
                Ok(_) => (false, None),
                Err(e) => (
                    false,
                    Some(format!(
                        "could not check for an INVALID index left behind: {e}"
                    )),
                ),
            };
            Done {
                dropped_invalid,
                cleanup_error,
                ..Done::failed(failure)
            }
        }
    }
}

async fn apply_matview(client: &Client, qualified_name: &str, statements: &[String]) -> Done {
    match pg::catalog::relation_kind_and_total_size(client, qualified_name).await {
        Err(e) => return Done::failed(ChangeFailure::from_pg_error(&e)),
        Ok(Some((kind, size_bytes))) => {
            if kind == "m" {
                return Done::already_existed(Some(size_bytes));
            }
            let message = format!(
                "a {} named {qualified_name} already exists",
                relkind_name(&kind)
            );
            return Done::failed(ChangeFailure::name_taken(message));
        }
        Ok(None) => {}
    }

    // All or nothing: the first failing statement rolls the others back.
    let created = pg::tx::committed(client, async |client| {
        for statement in statements {
            client.batch_execute(statement).await?;
        }
        Ok::<(), pg::Error>(())
    })
    .await;
    if let Err(e) = created {
        return Done::failed(ChangeFailure::from_pg_error(&e));
    }
    let size = pg::catalog::total_relation_size(client, qualified_name)
        .await
        .ok()
        .flatten();
    Done::created(false, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(ddl: &str) -> Change {
        Change::Index {
            schema: None,
            table: "t".into(),
            name: "t_a_idx".into(),
            ddl: ddl.into(),
        }
    }

    #[test]
    fn the_lock_key_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors: the key must never change between releases.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn concurrent_single_index_builds_are_accepted() {
        assert!(
            index(r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "t_a_idx" ON "t" ("a")"#)
                .validate()
                .is_ok()
        );
        assert!(
            index("create unique index concurrently t_a_idx on t (a)")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn blocking_builds_and_several_statements_are_refused() {
        let blocking = index("CREATE INDEX t_a_idx ON t (a)").validate();
        assert!(
            matches!(&blocking, Err(ApplyError::InvalidChange { reason, .. }) if reason.contains("CONCURRENTLY")),
            "{blocking:?}"
        );
        let two = index("CREATE INDEX CONCURRENTLY a ON t (a); DROP TABLE t").validate();
        assert!(
            matches!(&two, Err(ApplyError::InvalidChange { reason, .. }) if reason.contains("found 2")),
            "{two:?}"
        );
    }

    #[test]
    fn matview_statements_may_not_control_the_transaction() {
        let change = Change::Matview {
            schema: None,
            name: "v".into(),
            statements: vec![
                "CREATE MATERIALIZED VIEW v AS SELECT 1 AS x".into(),
                "COMMIT".into(),
            ],
        };
        let result = change.validate();
        assert!(
            matches!(&result, Err(ApplyError::InvalidChange { reason, .. }) if reason.contains("transaction control")),
            "{result:?}"
        );
        let empty = Change::Matview {
            schema: None,
            name: "v".into(),
            statements: Vec::new(),
        };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn failures_tell_their_kind_and_sqlstate() {
        let failure = ChangeFailure {
            kind: FailureKind::LockTimeout,
            sqlstate: Some("55P03".into()),
            message: "canceling statement due to lock timeout".into(),
        };
        let text = failure.to_string();
        assert!(text.contains("another session holds a lock"), "{text}");
        assert!(text.ends_with("[SQLSTATE 55P03]"), "{text}");
    }
}
