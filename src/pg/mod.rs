//! Everything that talks to PostgreSQL: resolving connection settings and connecting (with TLS),
//! splitting SQL input into statements, the safe EXPLAIN runner, the rolled-back transaction,
//! catalog reads, HypoPG, LISTEN/NOTIFY, and quoting the names pgdiag writes into SQL.

pub mod activity;
pub mod admin;
pub mod catalog;
pub mod connect;
pub mod conninfo;
pub mod environment;
pub mod explain;
pub mod hypopg;
pub mod ident;
pub mod index_build;
pub mod indexes;
pub mod notify;
pub mod planner;
pub mod pool;
pub mod sample;
pub mod server_error;
pub mod stat_statements;
pub mod statements;
pub mod tx;

use std::time::Duration;

pub use connect::{ConnectionSettings, Dsn, DsnSource, Env, Overrides, ProcessEnv, TlsMode};
pub use explain::{ExplainOptions, ExplainOutput, ParamValue, Runner, ServerInfo};
pub use ident::{quote_ident, quote_qualified};
pub use pool::run_pooled;
pub use server_error::ServerError;
pub use statements::{
    CallsDirective, SideEffect, SplitError, SqlStatement, StatementKind, side_effects,
    split_statements,
};

/// Errors from talking to PostgreSQL. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connection settings that cannot be used.
    #[error("{0}")]
    Config(String),
    #[error("TLS: {0}")]
    Tls(String),
    /// The server could not be reached or refused us.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// `user@host:port/db (from --dsn)`.
        target: String,
        /// Why, in one line, with psql's hint.
        reason: String,
        /// The driver's error, not a `source()`: `reason` already says all of it once.
        error: tokio_postgres::Error,
    },
    /// The server rejected or failed a statement (syntax, unknown table, ...).
    #[error("{0}")]
    Server(Box<ServerError>),
    #[error("statement cancelled: it ran longer than the timeout of {}", humanize(*.0))]
    Timeout(Duration),
    #[error("statement cancelled on the server (interrupted)")]
    Interrupted,
    #[error("{0}")]
    NotExplainable(String),
    /// The statement calls functions whose effects survive the rollback; refused without
    /// `--allow-side-effects`.
    #[error(
        "refused: {} act{} outside the transaction, so {} would survive the rollback ({}); only `pgdiag explain --allow-side-effects` runs such a statement (`explain --no-analyze` shows its plan without running it)",
        side_effect_calls(.0),
        if .0.len() == 1 { "s" } else { "" },
        if .0.len() == 1 { "its effect" } else { "their effects" },
        side_effect_kinds(.0)
    )]
    SideEffects(Vec<SideEffect>),
    #[error(
        "the statement has {needed} parameter{} (${}) but {given} value{} given: pass --param VALUE for each, in order, or --params-json '[...]'",
        if *needed == 1 { "" } else { "s" },
        if *needed == 1 { "1".to_string() } else { format!("1..${needed}") },
        if *given == 1 { " was" } else { "s were" }
    )]
    ParamCount { needed: usize, given: usize },
    /// Anything else the client library reports (a dropped connection, a protocol error).
    #[error("{}", describe_client_error(.0))]
    Client(#[from] tokio_postgres::Error),
}

impl Error {
    /// The server asked for a password and none was known: a prompt can help.
    pub fn asks_for_password(&self) -> bool {
        match self {
            Error::Connect { error, .. } => {
                error.as_db_error().is_none()
                    && describe_client_error(error).contains("password missing")
            }
            _ => false,
        }
    }

    /// The SQLSTATE of a server-side error, when there is one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Server(e) => Some(&e.code),
            Error::Connect { error, .. } | Error::Client(error) => error.code().map(|c| c.code()),
            _ => None,
        }
    }
}

/// tokio-postgres errors read "db error: FATAL: ..." or "error connecting to server: ..."; show
/// the server's own message when there is one, and the I/O cause otherwise.
pub(crate) fn describe_client_error(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut msg = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

/// `setval()`, `pg_stat_reset()` and `dblink()`.
pub fn side_effect_calls(effects: &[SideEffect]) -> String {
    let calls: Vec<String> = effects
        .iter()
        .map(|e| format!("`{}()`", e.function))
        .collect();
    match calls.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The distinct kinds of effect, for messages: `sequence value; statistics reset`.
pub fn side_effect_kinds(effects: &[SideEffect]) -> String {
    let mut kinds: Vec<&str> = Vec::new();
    for e in effects {
        if !kinds.contains(&e.effect) {
            kinds.push(e.effect);
        }
    }
    kinds.join("; ")
}

pub(crate) fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
