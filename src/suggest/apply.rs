//! Applying suggestions to a live database without hurting it and without claiming what did not
//! happen: indexes are built `CONCURRENTLY` (writes go on), watched from a second session that
//! tells a wait for a lock on the table (bounded by `lock_timeout`) from the wait for older
//! transactions to end (bounded by its own `build_wait`), names the sessions blocking it and
//! cancels the build when a bound is reached. A name another object already holds is compared by
//! definition first: the same valid index is reported as already there, anything else makes the
//! index go in under a free name. An INVALID index a failed build leaves is dropped again, or
//! reported with the statement that drops it; the next run finds it (same name, same definition)
//! and drops it before building. Materialized views are created all-or-nothing in a transaction,
//! and an advisory lock keeps two runs from racing.
//!
//! A failed change stops the run: later changes may depend on it (a rewritten query on a view),
//! and a database that refuses one lock is likely to refuse the next.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::report::{BlockingSession, BuildWait, ChangeStatus, WaitKind};
use crate::pg::index_build::{self, IndexShape, NamedRelation};
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
    /// `ddl`: `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] "name" ON "schema"."table" ...`,
    /// as [`crate::advise::Candidate::ddl`] makes it. `name` must be the index name in the DDL: it
    /// is how an existing or INVALID index is found. It runs without `IF NOT EXISTS` (a name taken
    /// meanwhile makes it fail rather than pass unbuilt), under a free name when `name` is taken.
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
                IndexDdl::parse(ddl, self.name()).map_err(invalid)?;
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

/// PostgreSQL keeps the first 63 bytes of an identifier (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// How many `_1`, `_2`... suffixes are tried for a name another object holds.
const MAX_NAME_SUFFIX: usize = 20;

/// `name` as PostgreSQL stores it: cut to 63 bytes on a character boundary.
fn stored_name(name: &str) -> String {
    let mut cut = name.len().min(MAX_IDENTIFIER_BYTES);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name[..cut].to_owned()
}

/// `name_<n>`, the name cut (on a character boundary) so that the whole fits in 63 bytes.
fn suffixed_name(name: &str, n: usize) -> String {
    let suffix = format!("_{n}");
    let mut cut = name.len().min(MAX_IDENTIFIER_BYTES - suffix.len());
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &name[..cut])
}

/// An index build as `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON [ONLY] table
/// <body>`, taken apart so that it can run under another name and be tried on a copy of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexDdl {
    unique: bool,
    only: bool,
    /// The table as the DDL writes it.
    target: String,
    /// Everything after the table: `USING gin (...) INCLUDE (...) WHERE ...`.
    body: String,
}

impl IndexDdl {
    /// Take `ddl` apart; `name` must be the index name it gives (quoted or not).
    fn parse(ddl: &str, name: &str) -> Result<IndexDdl, String> {
        let not_concurrent =
            || "only CREATE [UNIQUE] INDEX CONCURRENTLY is applied to a live table".to_owned();
        let mut words = Words::new(ddl);
        let keyword = |words: &mut Words<'_>, expected: &str| -> bool {
            let at = words.at;
            match words.next_word() {
                Some((_, word)) if word.eq_ignore_ascii_case(expected) => true,
                _ => {
                    words.at = at;
                    false
                }
            }
        };
        if !keyword(&mut words, "CREATE") {
            return Err(not_concurrent());
        }
        let unique = keyword(&mut words, "UNIQUE");
        if !keyword(&mut words, "INDEX") || !keyword(&mut words, "CONCURRENTLY") {
            return Err(not_concurrent());
        }
        if keyword(&mut words, "IF")
            && !(keyword(&mut words, "NOT") && keyword(&mut words, "EXISTS"))
        {
            return Err(format!("cannot read the index DDL: {ddl}"));
        }
        let Some((raw, given)) = words.next_word() else {
            return Err(format!("the index DDL names no index: {ddl}"));
        };
        if given.eq_ignore_ascii_case("ON") && !raw.starts_with('"') {
            return Err(format!("the index DDL names no index: {ddl}"));
        }
        if stored_name(&given) != stored_name(name) {
            return Err(format!(
                "the DDL names the index {}, not {}",
                quote_ident(&given),
                quote_ident(name)
            ));
        }
        if !keyword(&mut words, "ON") {
            return Err(format!("cannot read the index DDL: {ddl}"));
        }
        let only = keyword(&mut words, "ONLY");
        words.skip_space();
        let target_start = words.at;
        if words.next_word().is_none() {
            return Err(format!("the index DDL names no table: {ddl}"));
        }
        while words.rest().starts_with('.') {
            words.at += 1;
            if words.next_word().is_none() {
                return Err(format!("cannot read the table in the index DDL: {ddl}"));
            }
        }
        let target = ddl[target_start..words.at].to_owned();
        let body = words
            .rest()
            .trim()
            .trim_end_matches(';')
            .trim_end()
            .to_owned();
        if body.is_empty() {
            return Err(format!("the index DDL has no columns: {ddl}"));
        }
        Ok(IndexDdl {
            unique,
            only,
            target,
            body,
        })
    }

    /// The statement that builds it as `name`: no `IF NOT EXISTS`, so a name taken since it was
    /// checked fails instead of passing for a build.
    fn render(&self, name: &str) -> String {
        format!(
            "CREATE {}INDEX CONCURRENTLY {} ON {}{} {}",
            if self.unique { "UNIQUE " } else { "" },
            quote_ident(name),
            if self.only { "ONLY " } else { "" },
            self.target,
            self.body
        )
    }
}

/// Identifiers and keywords of a DDL statement, one at a time.
struct Words<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Words<'a> {
        Words { text, at: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    /// Past whitespace and `--` comments.
    fn skip_space(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.at += rest.len() - trimmed.len();
            if trimmed.starts_with("--") {
                self.at += trimmed.find('\n').unwrap_or(trimmed.len());
            } else {
                return;
            }
        }
    }

    /// The next word as written and as PostgreSQL reads it (quoted: unescaped; bare: lower-case).
    fn next_word(&mut self) -> Option<(&'a str, String)> {
        self.skip_space();
        let rest = self.rest();
        let start = self.at;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if quoted[i + 1..].starts_with('"') {
                        value.push('"');
                        chars.next();
                    } else {
                        self.at += i + 2;
                        return Some((&self.text[start..self.at], value));
                    }
                } else {
                    value.push(c);
                }
            }
            return None;
        }
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(rest.len());
        if len == 0 {
            return None;
        }
        self.at += len;
        Some((&rest[..len], rest[..len].to_lowercase()))
    }
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How long any one statement may wait for a lock before giving up. Short, so that a table
    /// another session holds makes us fail instead of queueing every later writer behind us.
    pub lock_timeout: Duration,
    /// A cap on each statement (an index build included); zero: none; `None` leaves the
    /// session's own (which a [`crate::pg::Runner`] set to its statements' timeout).
    pub statement_timeout: Option<Duration>,
    /// How long an index build may wait, in all, for transactions older than it to end (its
    /// table's writers, then every older snapshot of the database): a wait the table's lock does
    /// not explain, that one long report or idle transaction anywhere causes.
    pub build_wait: Duration,
}

/// The default of `--build-wait`.
pub const DEFAULT_BUILD_WAIT: Duration = Duration::from_secs(180);

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: None,
            build_wait: DEFAULT_BUILD_WAIT,
        }
    }
}

/// Progress, for a progress bar. Every change gets one `Finished` (skipped ones too); only the
/// ones actually attempted get a `Started` before it, and `Waiting` in between when its build (or
/// a drop) has waited a second for one kind of wait, once per kind and statement.
#[derive(Debug, Clone, Copy)]
pub enum ApplyEvent<'a> {
    Started {
        position: usize,
        total: usize,
        change: &'a Change,
    },
    Waiting {
        position: usize,
        total: usize,
        change: &'a Change,
        /// The wait so far.
        wait: &'a BuildWait,
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
    /// The build waited `build_wait` for older transactions to end.
    SnapshotTimeout,
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
            FailureKind::SnapshotTimeout => {
                " (transactions older than the build were still open; retry when they have ended or raise --build-wait)"
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
/// `AlreadyExisted` (a valid index with the same definition, or the view, was there; nothing ran),
/// `Failed`, or `Skipped` (not attempted because an earlier change failed).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeOutcome {
    pub change: Change,
    pub status: ChangeStatus,
    /// The name the object has in the database: the change's own, or the free one it was built
    /// under because another object held that name (or under which the same index was found).
    pub name: String,
    /// Why `name` is not the change's: what held the change's name.
    pub note: Option<String>,
    /// What the build (and a drop) waited for, by kind, when it waited.
    pub waits: Vec<BuildWait>,
    /// `Failed` only: the statement that drops the INVALID index left behind, when it could not be
    /// dropped (the next run drops it before building).
    pub invalid_left: Option<String>,
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
            name: done.name.unwrap_or_else(|| change.name().to_owned()),
            note: done.note,
            waits: done.waits,
            invalid_left: done.invalid_left,
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
    /// The name in the database when it is not the change's.
    name: Option<String>,
    note: Option<String>,
    waits: Vec<BuildWait>,
    invalid_left: Option<String>,
}

impl Done {
    fn created(replaced_invalid: bool, size_bytes: Option<i64>) -> Done {
        Done {
            status: ChangeStatus::Created,
            size_bytes,
            dropped_invalid: replaced_invalid,
            ..Done::skipped()
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
            name: None,
            note: None,
            waits: Vec::new(),
            invalid_left: None,
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
    /// The second session that watches index builds could not be opened.
    #[error("opening a second session to watch the index builds: {0}")]
    Watcher(#[source] pg::Error),
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

/// Apply `changes` in order on `client`'s session, stopping at the first failure. `watcher` is a
/// second session on the same database (as the same user, so that it may cancel the build): it
/// watches each index build, tells a lock wait from a wait for older transactions, names who
/// blocks it, and cancels it when its bound is reached.
///
/// The session must not be inside a transaction (`CONCURRENTLY` refuses to run in one). Its
/// `lock_timeout` and `statement_timeout` are restored afterwards, and the advisory lock released.
pub async fn apply(
    client: &Client,
    watcher: &Client,
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
    let result = apply_locked(client, watcher, changes, options, on_event).await;
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
    watcher: &Client,
    changes: &[Change],
    options: &ApplyOptions,
    on_event: &mut dyn FnMut(ApplyEvent<'_>),
) -> Result<ApplyReport, ApplyError> {
    let (saved_lock, saved_statement) = pg::admin::timeouts(client)
        .await
        .map_err(db_error("reading the session's timeouts"))?;
    let statement_timeout = match options.statement_timeout {
        Some(timeout) if timeout.is_zero() => "0".to_owned(),
        Some(timeout) => format!("{}ms", timeout.as_millis()),
        None => saved_statement.clone(),
    };
    let lock_timeout = format!("{}ms", options.lock_timeout.as_millis().max(1));
    pg::admin::set_timeouts(client, &lock_timeout, &statement_timeout)
        .await
        .map_err(db_error("setting lock_timeout and statement_timeout"))?;
    let session = Session {
        client,
        watcher,
        pid: index_build::backend_pid(client)
            .await
            .map_err(db_error("reading the session's server process"))?,
        lock_timeout,
        options,
    };

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
                    let mut waiting = |wait: &BuildWait| {
                        on_event(ApplyEvent::Waiting {
                            position,
                            total,
                            change,
                            wait,
                        })
                    };
                    apply_index(
                        &session,
                        &mut waiting,
                        schema.as_deref(),
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

/// The two sessions of a run and its bounds.
struct Session<'a> {
    client: &'a Client,
    watcher: &'a Client,
    /// `client`'s server process: what the watcher watches and may cancel.
    pid: i32,
    /// `lock_timeout` as set on `client` for the run, to set again after a watched statement.
    lock_timeout: String,
    options: &'a ApplyOptions,
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
        "i" => "index",
        "I" => "partitioned index",
        "t" => "TOAST table",
        _ => "relation",
    }
}

/// How long a watched statement may wait: for one lock (`lock`), and for older transactions in
/// all (`snapshot`).
#[derive(Debug, Clone, Copy)]
struct Bounds {
    lock: Duration,
    snapshot: Duration,
}

impl Bounds {
    fn of(&self, kind: WaitKind) -> Duration {
        match kind {
            WaitKind::Lock => self.lock,
            WaitKind::Snapshot => self.snapshot,
        }
    }
}

/// A lock wait on a transaction (`virtualxid`, `transactionid`) is a wait for that transaction to
/// end; any other (`relation`, ...) is a wait for a lock.
fn wait_kind(locktype: &str) -> WaitKind {
    match locktype {
        "virtualxid" | "transactionid" => WaitKind::Snapshot,
        _ => WaitKind::Lock,
    }
}

/// A statement's text for a message: on one line, its first 160 characters, and never when it
/// mentions a password (`ALTER ROLE ... PASSWORD`, a dblink connection string).
fn describe_query(query: &str) -> String {
    if query.to_lowercase().contains("password") {
        return "(statement not shown: it mentions a password)".to_owned();
    }
    let one_line = query.split_whitespace().collect::<Vec<_>>().join(" ");
    const MAX: usize = 160;
    match one_line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// The sessions kept per kind of wait, at most (the first seen).
const MAX_BLOCKERS: usize = 10;

/// How long a wait lasts before it is announced ([`ApplyEvent::Waiting`]).
const ANNOUNCE_AFTER: Duration = Duration::from_secs(1);

/// One kind of wait, as the watcher saw it.
#[derive(Debug, Default)]
struct Tally {
    seen: bool,
    announced: bool,
    waited: Duration,
    phase: Option<String>,
    blockers: BTreeMap<i32, BlockingSession>,
}

impl Tally {
    fn as_wait(&self, kind: WaitKind, limit: Duration, gave_up: bool) -> BuildWait {
        BuildWait {
            kind,
            waited_ms: self.waited.as_secs_f64() * 1000.0,
            limit_ms: limit.as_secs_f64() * 1000.0,
            gave_up,
            phase: self.phase.clone(),
            blockers: self.blockers.values().cloned().collect(),
        }
    }
}

/// What a watched statement did.
#[derive(Debug)]
struct Watched {
    result: Result<(), tokio_postgres::Error>,
    /// The watcher cancelled it: this wait reached its bound.
    gave_up: Option<WaitKind>,
    /// The kind of the last wait seen.
    last_wait: Option<WaitKind>,
    waits: Vec<BuildWait>,
}

impl Watched {
    /// Why it failed: the wait that reached its bound, or the server's error (a `lock_timeout`
    /// the server raised itself, as a backstop, told apart by the last wait seen).
    fn failure(&self, error: &tokio_postgres::Error) -> ChangeFailure {
        let mut failure = ChangeFailure::from_pg(error);
        if let Some(kind) = self.gave_up {
            let wait = self.waits.iter().find(|w| w.kind == kind);
            failure.kind = match kind {
                WaitKind::Lock => FailureKind::LockTimeout,
                WaitKind::Snapshot => FailureKind::SnapshotTimeout,
            };
            failure.message = match wait {
                Some(wait) => format!("gave up: {wait}"),
                None => format!("gave up waiting for {}", kind.describe()),
            };
        } else if failure.kind == FailureKind::LockTimeout {
            // The session's own lock_timeout, the backstop: the last wait seen says which.
            if self.last_wait == Some(WaitKind::Snapshot) {
                failure.kind = FailureKind::SnapshotTimeout;
            }
            let last = self
                .last_wait
                .and_then(|k| self.waits.iter().find(|w| w.kind == k));
            if let Some(wait) = last {
                failure.message = format!("{}: {wait}", failure.message);
            }
        }
        failure
    }
}

/// Run `sql` on the session while the watcher looks at it every few tens of milliseconds: what it
/// waits for (`pg_locks`), its phase (`pg_stat_progress_create_index`) and who blocks it
/// (`pg_blocking_pids`, `pg_stat_activity`). A single lock wait longer than `bounds.lock`, or
/// waits for older transactions longer than `bounds.snapshot` in all, get the statement cancelled
/// (`pg_cancel_backend`). The session's own `lock_timeout` is a backstop above both bounds, should
/// the watcher fail; it is set back to the run's afterwards.
async fn watched(
    session: &Session<'_>,
    waiting: &mut dyn FnMut(&BuildWait),
    sql: &str,
    bounds: Bounds,
) -> Watched {
    let backstop = bounds.lock.max(bounds.snapshot) + Duration::from_secs(1);
    let _ =
        index_build::set_lock_timeout(session.client, &format!("{}ms", backstop.as_millis())).await;
    let interval = (bounds.lock.min(bounds.snapshot) / 5)
        .clamp(Duration::from_millis(20), Duration::from_millis(250));

    let done = Cell::new(false);
    let finished = tokio::sync::Notify::new();
    let run = async {
        let result = index_build::run_ddl(session.client, sql).await;
        done.set(true);
        finished.notify_one();
        result
    };
    let mut tallies: [Tally; 2] = Default::default();
    let mut gave_up = None;
    let mut last_wait = None;
    let watch = async {
        let mut last = Instant::now();
        let mut broken = false;
        while !done.get() {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = finished.notified() => break,
            }
            if done.get() || broken || gave_up.is_some() {
                continue;
            }
            let now = Instant::now();
            let since_last = now - last;
            last = now;
            let state = match index_build::build_state(session.watcher, session.pid).await {
                Ok(Some(state)) => state,
                Ok(None) => continue,
                Err(_) => {
                    // The backstop bounds the waits from now on.
                    broken = true;
                    continue;
                }
            };
            let Some(locktype) = state.waiting_for.as_deref() else {
                continue;
            };
            let kind = wait_kind(locktype);
            last_wait = Some(kind);
            let current = state
                .wait_ms
                .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0))
                .unwrap_or(since_last);
            let tally = match kind {
                WaitKind::Lock => &mut tallies[0],
                WaitKind::Snapshot => &mut tallies[1],
            };
            tally.seen = true;
            tally.waited += since_last.min(current);
            if state.phase.is_some() {
                tally.phase = state.phase.clone();
            }
            if state.blocking.contains(&0) {
                // `pg_blocking_pids` names a prepared transaction 0: it has no session.
                tally.blockers.entry(0).or_insert_with(|| BlockingSession {
                    pid: 0,
                    state: Some("prepared transaction (see pg_prepared_xacts)".to_owned()),
                    transaction_age_ms: None,
                    query: None,
                });
            }
            if !state.blocking.is_empty() {
                if let Ok(found) = index_build::sessions(session.watcher, &state.blocking).await {
                    for s in found {
                        if tally.blockers.len() < MAX_BLOCKERS
                            || tally.blockers.contains_key(&s.pid)
                        {
                            tally.blockers.insert(
                                s.pid,
                                BlockingSession {
                                    pid: s.pid,
                                    state: s.state,
                                    transaction_age_ms: s.transaction_age_ms,
                                    query: s.query.as_deref().map(describe_query),
                                },
                            );
                        }
                    }
                }
            }
            if !tally.announced && tally.waited >= ANNOUNCE_AFTER {
                tally.announced = true;
                waiting(&tally.as_wait(kind, bounds.of(kind), false));
            }
            let over = match kind {
                WaitKind::Lock => current >= bounds.lock,
                WaitKind::Snapshot => tally.waited >= bounds.snapshot,
            };
            if over {
                if let Ok(true) = index_build::cancel_backend(session.watcher, session.pid).await {
                    gave_up = Some(kind);
                }
            }
        }
    };
    let (result, ()) = tokio::join!(run, watch);
    let _ = index_build::set_lock_timeout(session.client, &session.lock_timeout).await;

    // A cancel that came too late to stop it does not make a success a failure.
    let gave_up = gave_up.filter(|_| result.is_err());
    let waits = [WaitKind::Lock, WaitKind::Snapshot]
        .into_iter()
        .zip(tallies)
        .filter(|(_, tally)| tally.seen)
        .map(|(kind, tally)| tally.as_wait(kind, bounds.of(kind), gave_up == Some(kind)))
        .collect();
    Watched {
        result,
        gave_up,
        last_wait,
        waits,
    }
}

/// Drops an INVALID index, watched like a build (`DROP INDEX CONCURRENTLY` waits for the
/// transactions using the table too), each wait bounded by `limit`. On failure: the message, with
/// the statement to run later, and the statement.
async fn drop_invalid(
    session: &Session<'_>,
    waiting: &mut dyn FnMut(&BuildWait),
    schema: &str,
    name: &str,
    limit: Duration,
    waits: &mut Vec<BuildWait>,
) -> Result<(), (String, String)> {
    let sql = pg::admin::drop_index_concurrently_sql(Some(schema), name);
    let bounds = Bounds {
        lock: session.options.lock_timeout.min(limit),
        snapshot: limit,
    };
    let dropped = watched(session, waiting, &sql, bounds).await;
    waits.extend(dropped.waits.iter().cloned());
    match &dropped.result {
        Ok(()) => Ok(()),
        Err(e) => Err((
            format!("{}; drop it later with: {sql}", dropped.failure(e)),
            sql,
        )),
    }
}

/// What a name holds, as far as building the index under it goes.
enum NameHolder {
    Free,
    /// The very index wanted, valid.
    SameValid {
        size_bytes: i64,
    },
    /// The very index wanted, INVALID: a failed build's leftover, to drop before building.
    SameInvalid {
        schema: String,
    },
    /// The very index wanted, being built by another session right now.
    SameBeingBuilt {
        pid: i32,
    },
    /// Something else: why the name cannot be used.
    Other(String),
}

/// What holds `name` beside `table`; `wanted` is the shape of the index to build, found on first
/// need (a probe on a temporary copy of the table).
async fn holder(
    session: &Session<'_>,
    table: &str,
    name: &str,
    ddl: &IndexDdl,
    wanted: &mut Option<IndexShape>,
) -> Result<NameHolder, ChangeFailure> {
    let found = index_build::relation_named(session.client, table, name)
        .await
        .map_err(|e| ChangeFailure::from_pg_error(&e))?;
    let Some(NamedRelation {
        schema,
        relkind,
        index,
    }) = found
    else {
        return Ok(NameHolder::Free);
    };
    let name = quote_ident(name);
    let Some(index) = index else {
        return Ok(NameHolder::Other(format!(
            "a {} is named {name}",
            relkind_name(&relkind)
        )));
    };
    if !index.on_table {
        return Ok(NameHolder::Other(format!(
            "an index on {} is named {name}",
            index.table
        )));
    }
    if wanted.is_none() {
        let shape = index_build::probe_index_shape(session.client, table, ddl.unique, &ddl.body)
            .await
            .map_err(|e| {
                let mut failure = ChangeFailure::from_pg_error(&e);
                failure.kind = FailureKind::NameTaken;
                failure.message = format!(
                    "an index named {name} exists and its definition could not be compared with the one to build: {}",
                    failure.message
                );
                failure
            })?;
        *wanted = Some(shape);
    }
    if wanted.as_ref() != Some(&index.shape) {
        return Ok(NameHolder::Other(format!(
            "an index with another definition is named {name} ({})",
            index.definition
        )));
    }
    Ok(match (index.valid, index.built_by) {
        (true, _) => NameHolder::SameValid {
            size_bytes: index.size_bytes,
        },
        (false, Some(pid)) => NameHolder::SameBeingBuilt { pid },
        (false, None) => NameHolder::SameInvalid { schema },
    })
}

async fn apply_index(
    session: &Session<'_>,
    waiting: &mut dyn FnMut(&BuildWait),
    schema: Option<&str>,
    table: &str,
    name: &str,
    ddl: &str,
) -> Done {
    let ddl = match IndexDdl::parse(ddl, name) {
        Ok(ddl) => ddl,
        Err(message) => {
            return Done::failed(ChangeFailure {
                kind: FailureKind::Other,
                sqlstate: None,
                message,
            });
        }
    };
    let requested = stored_name(name);
    let mut wanted = None;
    let mut taken: Vec<String> = Vec::new();
    let mut waits = Vec::new();
    let mut replaced_invalid = false;
    let mut chosen = None;
    for attempt in 0..=MAX_NAME_SUFFIX {
        let candidate = if attempt == 0 {
            requested.clone()
        } else {
            suffixed_name(&requested, attempt)
        };
        let found = match holder(session, table, &candidate, &ddl, &mut wanted).await {
            Ok(found) => found,
            Err(failure) => return Done::failed(failure),
        };
        let note = (!taken.is_empty()).then(|| taken.join("; "));
        match found {
            NameHolder::Free => {
                chosen = Some((candidate, note));
                break;
            }
            NameHolder::Other(why) => taken.push(why),
            NameHolder::SameValid { size_bytes } => {
                let done = Done::already_existed(Some(size_bytes));
                return Done {
                    name: Some(candidate),
                    note,
                    ..done
                };
            }
            NameHolder::SameBeingBuilt { pid } => {
                let failure = ChangeFailure {
                    kind: FailureKind::NameTaken,
                    sqlstate: None,
                    message: format!(
                        "the same index {} is being built by another session (server process {pid}) right now",
                        quote_ident(&candidate)
                    ),
                };
                return Done {
                    name: Some(candidate),
                    note,
                    ..Done::failed(failure)
                };
            }
            NameHolder::SameInvalid { schema } => {
                // A failed build's leftover (this index, this name): `CREATE INDEX` would fail on
                // the name, and the planner never uses it. It is dropped, then built again.
                let limit = session.options.build_wait;
                if let Err((message, sql)) =
                    drop_invalid(session, waiting, &schema, &candidate, limit, &mut waits).await
                {
                    let failure = ChangeFailure {
                        kind: FailureKind::Other,
                        sqlstate: None,
                        message: format!(
                            "an INVALID index {} from an earlier failed build could not be dropped: {message}",
                            quote_ident(&candidate)
                        ),
                    };
                    return Done {
                        name: Some(candidate),
                        note,
                        waits,
                        invalid_left: Some(sql),
                        ..Done::failed(failure)
                    };
                }
                replaced_invalid = true;
                chosen = Some((candidate, note));
                break;
            }
        }
    }
    let Some((chosen, note)) = chosen else {
        let failure = ChangeFailure::name_taken(format!(
            "no free name for the index: {} (tried up to {})",
            taken.join("; "),
            quote_ident(&suffixed_name(&requested, MAX_NAME_SUFFIX))
        ));
        return Done::failed(failure);
    };
    let note = note.map(|why| format!("{why}: built as {}", quote_ident(&chosen)));
    let renamed = |done: Done| Done {
        name: Some(chosen.clone()),
        note: note.clone(),
        ..done
    };

    let bounds = Bounds {
        lock: session.options.lock_timeout,
        snapshot: session.options.build_wait,
    };
    let build = watched(session, waiting, &ddl.render(&chosen), bounds).await;
    waits.extend(build.waits.iter().cloned());
    let after = index_build::relation_named(session.client, table, &chosen).await;
    let done = match (&build.result, after) {
        (
            Ok(()),
            Ok(Some(NamedRelation {
                index: Some(index), ..
            })),
        ) if index.on_table && index.valid => {
            Done::created(replaced_invalid, Some(index.size_bytes))
        }
        (Ok(()), Ok(_)) => Done::failed(ChangeFailure {
            kind: FailureKind::Other,
            sqlstate: None,
            message: format!(
                "the statement succeeded but no valid index {} is on the table",
                quote_ident(&chosen)
            ),
        }),
        (Ok(()), Err(e)) => Done::failed(ChangeFailure::from_pg_error(&e)),
        (Err(build_error), after) => {
            let failure = build.failure(build_error);
            let duplicate = build_error.code() == Some(&SqlState::DUPLICATE_TABLE);
            let mut done = Done::failed(failure);
            match after {
                // Only what this build left: the name free before it ran, taken meanwhile by
                // someone else's object, is theirs.
                Ok(Some(NamedRelation {
                    schema,
                    index: Some(index),
                    ..
                })) if !duplicate && index.on_table && !index.valid && index.built_by.is_none() => {
                    let limit = session.options.lock_timeout;
                    match drop_invalid(session, waiting, &schema, &chosen, limit, &mut waits).await
                    {
                        Ok(()) => done.dropped_invalid = true,
                        Err((message, sql)) => {
                            done.cleanup_error = Some(format!(
                                "{message} (the next --apply that builds this index drops it first)"
                            ));
                            done.invalid_left = Some(sql);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    done.cleanup_error = Some(format!(
                        "could not check for an INVALID index left behind: {e}; if {} is there and INVALID, drop it with: {}",
                        quote_ident(&chosen),
                        pg::admin::drop_index_concurrently_sql(schema, &chosen)
                    ));
                }
            }
            done
        }
    };
    Done {
        waits,
        ..renamed(done)
    }
}

async fn apply_matview(client: &Client, qualified_name: &str, statements: &[String]) -> Done {
    match pg::catalog::relation_kind_and_total_size(client, qualified_name).await {
        Err(e) => return Done::failed(ChangeFailure::from_pg_error(&e)),
        Ok(Some((kind, size_bytes))) => {
            if kind == "m" {
                return match same_view(client, qualified_name, statements).await {
                    Ok(true) => Done::already_existed(Some(size_bytes)),
                    // Statements rewritten to read the view name it: it is not built elsewhere.
                    Ok(false) => Done::failed(ChangeFailure::name_taken(format!(
                        "a materialized view with another query is named {qualified_name} (drop or rename it, then apply again)"
                    ))),
                    Err(e) => Done::failed(ChangeFailure::from_pg_error(&e)),
                };
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

/// Whether the materialized view `qualified_name` holds the query the change's first statement
/// (`CREATE MATERIALIZED VIEW [IF NOT EXISTS] <name> AS <query>`) would give it, both deparsed by
/// the server (`pg_get_viewdef`).
async fn same_view(
    client: &Client,
    qualified_name: &str,
    statements: &[String],
) -> Result<bool, pg::Error> {
    let Some(Some(existing)) = pg::catalog::matview_definition(client, qualified_name).await?
    else {
        return Ok(false);
    };
    let Some(query) = statements.first().and_then(|create| {
        [
            "CREATE MATERIALIZED VIEW IF NOT EXISTS ",
            "CREATE MATERIALIZED VIEW ",
        ]
        .iter()
        .find_map(|prefix| create.strip_prefix(prefix))
        .and_then(|rest| rest.strip_prefix(qualified_name))
        .and_then(|rest| rest.trim_start().strip_prefix("AS "))
    }) else {
        return Ok(false);
    };
    Ok(pg::catalog::deparsed_view_query(client, query).await? == existing)
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
    fn index_ddl_is_taken_apart_and_rendered_under_another_name() {
        let ddl = IndexDdl::parse(
            r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "My ""Idx""" ON "My Schema"."Order Items" USING gin ("note" gin_trgm_ops) WHERE ("x" > 1)"#,
            r#"My "Idx""#,
        )
        .unwrap();
        assert_eq!(ddl.target, r#""My Schema"."Order Items""#);
        assert_eq!(
            ddl.body,
            r#"USING gin ("note" gin_trgm_ops) WHERE ("x" > 1)"#
        );
        assert!(!ddl.unique && !ddl.only);
        assert_eq!(
            ddl.render("My Idx_1"),
            r#"CREATE INDEX CONCURRENTLY "My Idx_1" ON "My Schema"."Order Items" USING gin ("note" gin_trgm_ops) WHERE ("x" > 1)"#
        );

        let bare = IndexDdl::parse(
            "create unique index concurrently T_A_Idx on only s.t(a);",
            "t_a_idx",
        )
        .unwrap();
        assert!(bare.unique && bare.only);
        assert_eq!(bare.target, "s.t");
        assert_eq!(bare.body, "(a)");
        assert_eq!(
            bare.render("t_a_idx"),
            r#"CREATE UNIQUE INDEX CONCURRENTLY "t_a_idx" ON ONLY s.t (a)"#
        );

        let other = IndexDdl::parse(r#"CREATE INDEX CONCURRENTLY "b" ON t (a)"#, "a").unwrap_err();
        assert!(other.contains(r#"names the index "b", not "a""#), "{other}");
        assert!(IndexDdl::parse("CREATE INDEX CONCURRENTLY ON t (a)", "a").is_err());
        assert!(IndexDdl::parse(r#"CREATE INDEX CONCURRENTLY "a" ON t"#, "a").is_err());
    }

    #[test]
    fn free_names_fit_in_63_bytes_on_a_character_boundary() {
        assert_eq!(suffixed_name("t_a_idx", 2), "t_a_idx_2");
        let long = "é".repeat(40);
        assert_eq!(stored_name(&long).len(), 62);
        let suffixed = suffixed_name(&stored_name(&long), 12);
        assert!(
            suffixed.len() <= 63 && suffixed.ends_with("é_12"),
            "{suffixed}"
        );
        let ascii = "a".repeat(63);
        assert_eq!(suffixed_name(&ascii, 1), format!("{}_1", "a".repeat(61)));
    }

    #[test]
    fn blocking_queries_are_shown_short_on_one_line_and_never_with_a_password() {
        assert_eq!(
            describe_query("SELECT *\n  FROM t\n WHERE a = 1"),
            "SELECT * FROM t WHERE a = 1"
        );
        assert_eq!(
            describe_query("ALTER ROLE app PASSWORD 'hunter2'"),
            "(statement not shown: it mentions a password)"
        );
        assert!(
            !describe_query("SELECT dblink_connect('host=x Password=s3cret')").contains("s3cret")
        );
        let long = describe_query(&format!("SELECT {}", "x, ".repeat(200)));
        assert_eq!(long.chars().count(), 161);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn transaction_waits_are_snapshot_waits_and_the_rest_lock_waits() {
        assert_eq!(wait_kind("virtualxid"), WaitKind::Snapshot);
        assert_eq!(wait_kind("transactionid"), WaitKind::Snapshot);
        assert_eq!(wait_kind("relation"), WaitKind::Lock);
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
