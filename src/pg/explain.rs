//! The safe EXPLAIN runner.
//!
//! `EXPLAIN ANALYZE` executes the statement. Every statement therefore runs inside a transaction
//! that is always rolled back, under the session's `statement_timeout`, so INSERT/UPDATE/DELETE/MERGE,
//! data-modifying CTEs and functions that write change nothing. Statements EXPLAIN does not accept
//! (DDL, utility, transaction control) are refused before anything is sent. So are statements that
//! call functions acting outside the transaction (`setval`, `pg_terminate_backend`, ...: see
//! [`super::statements::side_effects`]) unless the runner allows them, and a statement that writes
//! nothing runs in a `READ ONLY` transaction, where a hidden write fails instead of running.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Format, FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{CancelToken, Client};

use super::connect::ConnectionSettings;
use super::planner;
use super::server_error::ServerError;
use super::statements::{SideEffect, SqlStatement, StatementKind, side_effects};
use super::{Error, describe_client_error};
use crate::plan::RawPlan;

/// The server a report ran on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
pub struct ServerInfo {
    /// `server_version`, e.g. `15.18 (Debian 15.18-0+deb12u1)`.
    pub version: String,
    /// `server_version_num`, e.g. `150018`.
    pub version_num: i32,
    /// `user@host:port/dbname` (never a password).
    pub target: String,
}

/// A `$n` parameter value. Values travel in text format, exactly as psql's `\bind` sends them,
/// so the server parses `42` as an integer for an integer column and `'2024-01-01'` as a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Null,
    Text(String),
}

impl ParamValue {
    /// Values from a JSON array: strings and numbers and booleans as their text, null as NULL,
    /// arrays and objects as their JSON text (for json/jsonb parameters).
    pub fn from_json_array(text: &str) -> Result<Vec<ParamValue>, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("--params-json is not JSON: {e}"))?;
        let serde_json::Value::Array(items) = value else {
            return Err("--params-json must be a JSON array, e.g. '[42, \"abc\", null]'".into());
        };
        Ok(items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::Null => ParamValue::Null,
                serde_json::Value::String(s) => ParamValue::Text(s),
                other => ParamValue::Text(other.to_string()),
            })
            .collect())
    }
}

impl ToSql for ParamValue {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            ParamValue::Null => Ok(IsNull::Yes),
            ParamValue::Text(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // The server parses the text with the parameter type's input function.
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// How to explain.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// Execute the statement (`ANALYZE`); false gives the estimated plan only.
    pub analyze: bool,
    /// `statement_timeout` for the statement; zero disables it.
    pub timeout: Duration,
    pub params: Vec<ParamValue>,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        ExplainOptions {
            analyze: true,
            timeout: Duration::from_secs(60),
            params: Vec::new(),
        }
    }
}

/// The EXPLAIN JSON document the server returned for one statement.
#[derive(Debug, Clone)]
pub struct ExplainOutput {
    /// The EXPLAIN document (psql's `FORMAT JSON` output), as the server sent it.
    pub document: RawPlan,
    /// The exact command sent, `EXPLAIN (...) <statement>`.
    pub sent: String,
    /// The statement was executed (ANALYZE), inside a transaction that was rolled back.
    pub rolled_back: bool,
    /// The statement is DML (or a data-modifying CTE): what it wrote was undone by the rollback.
    pub writes: bool,
    /// Functions it called whose effects survive the rollback (only with
    /// [`Runner::allow_side_effects`]; refused otherwise): "rolled back" is then not the whole
    /// story.
    pub side_effects: Vec<SideEffect>,
}

/// One connection that explains statements, one transaction per statement.
pub struct Runner {
    client: Client,
    cancel: CancelToken,
    /// For cancel requests: built once, not per statement (a rustls config is not free).
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    settings: ConnectionSettings,
    /// The session's `statement_timeout` as last set by us; set again only when it changes,
    /// which saves a round trip per statement.
    session_timeout: Option<Duration>,
    server_version_num: i32,
    server_version: String,
    /// Run statements that call functions acting outside the transaction, and statements that
    /// write nothing in a read-write transaction (see [`Runner::allow_side_effects`]).
    allow_side_effects: bool,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("target", &self.settings.describe())
            .field("server_version", &self.server_version)
            .finish()
    }
}

impl Runner {
    pub async fn connect(settings: &ConnectionSettings) -> Result<Runner, Error> {
        let client = settings.connect().await?;
        let (server_version, server_version_num) = super::admin::server_version(&client).await?;
        let cancel = client.cancel_token();
        Ok(Runner {
            client,
            cancel,
            tls: settings.tls_connector()?,
            session_timeout: None,
            settings: settings.clone(),
            server_version_num,
            server_version,
            allow_side_effects: false,
        })
    }

    /// By default a statement that calls a function whose effect survives the rollback
    /// ([`side_effects`]: `setval`, `pg_terminate_backend`, `pg_stat_reset`, ...) is refused
    /// before anything is sent, and a statement that writes nothing runs in a `READ ONLY`
    /// transaction (a function with a hidden write then fails). `allow` runs both, read-write
    /// and still rolled back; the output lists the side effects that may have survived.
    pub fn allow_side_effects(&mut self, allow: bool) {
        self.allow_side_effects = allow;
    }

    /// What a report says of the server this runner is connected to; `target` is
    /// [`ConnectionSettings::describe`]'s `user@host:port/dbname`.
    pub fn server_info(&self, target: String) -> ServerInfo {
        ServerInfo {
            version: self.server_version.clone(),
            version_num: self.server_version_num,
            target,
        }
    }

    /// e.g. `150018`.
    pub fn server_version_num(&self) -> i32 {
        self.server_version_num
    }

    /// e.g. `15.18 (Debian 15.18-0+deb12u1)`.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// The settings it connected with: for another session on the same database.
    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The EXPLAIN options list for this server and mode.
    fn explain_prefix(&self, analyze: bool) -> String {
        let mut opts = Vec::new();
        if analyze {
            opts.push("ANALYZE");
        }
        // VERBOSE adds the schema of each relation and per-worker figures that the analysis
        // uses; BUFFERS without ANALYZE (planning buffers) needs PostgreSQL 13.
        opts.push("VERBOSE");
        if analyze || self.server_version_num >= 130000 {
            opts.push("BUFFERS");
        }
        if self.server_version_num >= 120000 {
            opts.push("SETTINGS");
        }
        if analyze && self.server_version_num >= 130000 {
            opts.push("WAL");
        }
        opts.push("FORMAT JSON");
        format!("EXPLAIN ({}) ", opts.join(", "))
    }

    /// Explain one statement; `interrupt` resolving (Ctrl-C) cancels it on the server.
    pub async fn explain(
        &mut self,
        statement: &SqlStatement,
        options: &ExplainOptions,
        interrupt: impl Future<Output = ()>,
    ) -> Result<ExplainOutput, Error> {
        let writes = explainable_writes(statement)?;
        // Only an executed statement has effects; a plan alone changes nothing.
        let side_effects = if options.analyze {
            side_effects(&statement.text)
        } else {
            Vec::new()
        };
        if !side_effects.is_empty() && !self.allow_side_effects {
            return Err(Error::SideEffects(side_effects));
        }
        let read_only = !self.allow_side_effects && (!writes || !options.analyze);
        let prefix = self.explain_prefix(options.analyze);
        let sent = format!("{prefix}{}", statement.text);
        let cancel = self.cancel.clone();
        let tls = self.tls.clone();
        if self.session_timeout != Some(options.timeout) {
            self.client
                .batch_execute(&format!(
                    "SET statement_timeout = {}",
                    options.timeout.as_millis()
                ))
                .await?;
            self.session_timeout = Some(options.timeout);
        }

        let document = {
            let run = run_in_rolled_back_transaction(
                &self.client,
                &sent,
                prefix.len(),
                statement,
                options,
                read_only,
            );
            tokio::pin!(run);
            tokio::select! {
                r = &mut run => r?,
                () = interrupt => {
                    // Ask the server to stop the query, then let the transaction unwind (its
                    // rollback) before reporting; a stuck server must not hang us forever.
                    let _ = cancel.cancel_query(tls).await;
                    let _ = tokio::time::timeout(Duration::from_secs(5), &mut run).await;
                    return Err(Error::Interrupted);
                }
            }
        };
        Ok(ExplainOutput {
            document,
            sent,
            rolled_back: options.analyze,
            writes,
            side_effects,
        })
    }

    /// The generic plan of a statement with `$n` and no values (`explain --no-analyze` without
    /// values): `EXPLAIN (GENERIC_PLAN)` on PostgreSQL 16+, a prepared statement's generic plan
    /// before ([`planner::generic_document`]). Nothing is executed; it runs in a rolled-back
    /// transaction under `timeout`, and `interrupt` cancels it on the server as for
    /// [`explain`](Self::explain).
    pub async fn explain_generic(
        &mut self,
        statement: &SqlStatement,
        timeout: Duration,
        interrupt: impl Future<Output = ()>,
    ) -> Result<ExplainOutput, Error> {
        let writes = explainable_writes(statement)?;
        // As the plain estimated plan asks, with GENERIC_PLAN (the prepared path's EXPLAIN
        // EXECUTE takes the same list).
        let prefix = self.explain_prefix(false);
        let options = prefix
            .strip_prefix("EXPLAIN (")
            .and_then(|rest| rest.trim_end().strip_suffix(')'))
            .unwrap_or("VERBOSE, FORMAT JSON")
            .to_string();
        let version = self.server_version_num;
        let sent = if planner::has_generic_plan_option(version) {
            format!("EXPLAIN (GENERIC_PLAN, {options}) {}", statement.text)
        } else {
            format!(
                "PREPARE pgdiag_generic AS {}; EXPLAIN ({options}) EXECUTE pgdiag_generic",
                statement.text
            )
        };
        if self.session_timeout != Some(timeout) {
            self.client
                .batch_execute(&format!("SET statement_timeout = {}", timeout.as_millis()))
                .await?;
            self.session_timeout = Some(timeout);
        }
        let cancel = self.cancel.clone();
        let tls = self.tls.clone();
        let run = super::tx::rolled_back(&self.client, async |client| {
            planner::generic_document(client, &statement.text, version, &options)
                .await
                .map_err(|failed| match failed.error.as_db_error() {
                    Some(db) if db.code() == &SqlState::QUERY_CANCELED && !timeout.is_zero() => {
                        Error::Timeout(timeout)
                    }
                    Some(db) => Error::Server(Box::new(ServerError::from_db_error(
                        db,
                        &failed.sent,
                        failed.statement_offset,
                        statement.line,
                        statement.column,
                    ))),
                    None => Error::Client(failed.error),
                })
        });
        tokio::pin!(run);
        let document = tokio::select! {
            r = &mut run => r?,
            () = interrupt => {
                let _ = cancel.cancel_query(tls).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), &mut run).await;
                return Err(Error::Interrupted);
            }
        };
        Ok(ExplainOutput {
            document: planner::generic_raw(document)?,
            sent,
            rolled_back: false,
            writes,
            // Planned, never executed.
            side_effects: Vec::new(),
        })
    }
}

/// Whether `statement` writes, or why EXPLAIN cannot take it.
fn explainable_writes(statement: &SqlStatement) -> Result<bool, Error> {
    match &statement.kind {
        StatementKind::NotExplainable { command } => Err(Error::NotExplainable(format!(
            "`{command}` cannot be explained: EXPLAIN accepts SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES, TABLE and EXECUTE (statement {} at line {})",
            statement.index, statement.line
        ))),
        StatementKind::Explainable { writes, .. } => Ok(*writes),
    }
}

async fn run_in_rolled_back_transaction(
    client: &Client,
    sent: &str,
    prefix_len: usize,
    statement: &SqlStatement,
    options: &ExplainOptions,
    read_only: bool,
) -> Result<RawPlan, Error> {
    let server_error = |e: tokio_postgres::Error| match e.as_db_error() {
        Some(db) if db.code() == &SqlState::QUERY_CANCELED && !options.timeout.is_zero() => {
            Error::Timeout(options.timeout)
        }
        Some(db) => {
            let mut error =
                ServerError::from_db_error(db, sent, prefix_len, statement.line, statement.column);
            if read_only && db.code() == &SqlState::READ_ONLY_SQL_TRANSACTION {
                error.hint = Some(READ_ONLY_HINT.to_owned());
            }
            Error::Server(Box::new(error))
        }
        None => Error::Client(e),
    };
    let body = async |client: &Client| {
        let prepared = client.prepare(sent).await.map_err(server_error)?;
        let needed = prepared.params().len();
        if needed != options.params.len() {
            return Err(Error::ParamCount {
                needed,
                given: options.params.len(),
            });
        }
        let params: Vec<&(dyn ToSql + Sync)> = options
            .params
            .iter()
            .map(|p| p as &(dyn ToSql + Sync))
            .collect();
        client.query(&prepared, &params).await.map_err(server_error)
    };
    let rows = if read_only {
        super::tx::rolled_back_read_only(client, body).await?
    } else {
        super::tx::rolled_back(client, body).await?
    };
    let row = rows
        .first()
        .ok_or_else(|| Error::Config("EXPLAIN returned no rows".into()))?;
    explain_document(row)
}

/// The EXPLAIN document of `EXPLAIN (FORMAT JSON)`'s one row, kept as text: a plan of any depth
/// loads, where the driver's JSON decoding stops at 128 nested values (a 61-table join).
pub(crate) fn explain_document(row: &tokio_postgres::Row) -> Result<RawPlan, Error> {
    let JsonText(text) = row.try_get(0).map_err(|e| {
        Error::Config(format!(
            "unexpected EXPLAIN result: {}",
            describe_client_error(&e)
        ))
    })?;
    document_from_text(text)
}

/// An EXPLAIN document's text, checked to be JSON.
pub(crate) fn document_from_text(text: String) -> Result<RawPlan, Error> {
    RawPlan::from_text(text)
        .map_err(|e| Error::Config(format!("EXPLAIN returned invalid JSON: {e}")))
}

/// A `json`, `jsonb` or text column's JSON text, undecoded.
pub(crate) struct JsonText(pub(crate) String);

impl<'a> FromSql<'a> for JsonText {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        // Binary jsonb is a version byte (1) and the text.
        let raw = match *ty {
            Type::JSONB => match raw.split_first() {
                Some((1, text)) => text,
                _ => return Err("unsupported jsonb format version".into()),
            },
            _ => raw,
        };
        Ok(JsonText(std::str::from_utf8(raw)?.to_owned()))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::JSON | Type::JSONB | Type::TEXT | Type::VARCHAR | Type::UNKNOWN
        )
    }
}

/// Why a statement that writes nothing failed with "cannot execute ... in a read-only transaction".
const READ_ONLY_HINT: &str = "pgdiag runs a statement without INSERT, UPDATE, DELETE or MERGE in a READ ONLY transaction; this one writes through a function it calls. Pass --allow-side-effects to run it read-write (still rolled back) if you know what that function does.";

/// The statement's parameters, bound as the EXPLAIN runner binds them ([`ParamValue`]'s text
/// format), after checking their count against what the server expects.
pub async fn query_with_params(
    client: &Client,
    sql: &str,
    params: &[ParamValue],
) -> Result<Vec<tokio_postgres::Row>, Error> {
    let statement = client.prepare(sql).await?;
    if statement.params().len() != params.len() {
        return Err(Error::ParamCount {
            needed: statement.params().len(),
            given: params.len(),
        });
    }
    let bound: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    Ok(client.query(&statement, &bound).await?)
}
