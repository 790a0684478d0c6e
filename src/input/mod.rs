//! SQL input, read the same way by every command: files, directories (every `.sql` file below
//! them, sorted), `-` for standard input and `-c SQL`; text decoded strictly (UTF-8, no NUL byte);
//! split into statements by the one splitter ([`crate::pg::split_statements`]), each with the `$n`
//! values of its `-- pgdiag: params` comment or, failing that, of `--param` / `--params-json`,
//! and, for `cache-advice`, its expected call rate (`-- pgdiag: calls=120/min`, `--calls`;
//! [`rates`]).
//!
//! No command reads SQL any other way, so `explain`, `suggest`, `baseline`, `check` and `bench`
//! accept the same inputs and report unreadable ones with the same words.

pub mod log;
mod paths;
pub mod rates;
mod text;
pub mod workload;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::pg::{ParamValue, SplitError, SqlStatement, split_statements};

pub use log::{LogError, LogFormat, read_log, read_log_as};
pub use paths::expand;
pub use rates::{CallRate, calls_per_hour};
pub use text::{read_file, read_stdin};
pub use workload::{OrderBy, Workload, WorkloadSource, WorkloadStatement};

/// Why input could not be read. Every message names the file (or `<stdin>`, `-c`).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A file or directory that cannot be opened: `cannot read q.sql: no such file or directory`.
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("cannot read standard input: {0}")]
    Stdin(std::io::Error),
    #[error(
        "{name} is not a text file (NUL byte at offset {offset}); expected SQL or EXPLAIN JSON"
    )]
    Binary { name: String, offset: usize },
    #[error(
        "{name} is not UTF-8 text (invalid byte at offset {offset}); expected SQL or EXPLAIN JSON"
    )]
    NotUtf8 { name: String, offset: usize },
    /// The paths given (directories without a `.sql` file below them) hold nothing to read.
    #[error("no .sql files found under {0}")]
    NoSqlFiles(String),
    /// A source holds no statement: `q.sql: no SQL statement found (...)`.
    #[error("{name}: {reason}")]
    Empty { name: String, reason: SplitError },
    /// `-` given to a command that needs file names (`baseline`, `check`).
    #[error("standard input (-) cannot be read here: {0}")]
    StdinRefused(&'static str),
    /// `--params-json` that is not a JSON array.
    #[error("{0}")]
    Params(String),
    /// A statement's expected call rate (`-- pgdiag: calls=...`, `--calls`) that is missing or
    /// unreadable: `q.sql:3: ...`.
    #[error("{at}: {reason}")]
    CallRate { at: String, reason: String },
}

/// Where a piece of SQL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file, its path as given (or as found below a directory that was given).
    File(PathBuf),
    /// `-`.
    Stdin,
    /// `-c SQL`.
    Command,
    /// A statement of a workload (`pg_stat_statements`, a log), as reports name it:
    /// `pg_stat_statements (queryid 42)`, `postgresql.log:1234`.
    Workload(String),
}

impl Origin {
    /// `-` is standard input; anything else a path.
    pub fn from_arg(arg: &Path) -> Origin {
        if arg == Path::new("-") {
            Origin::Stdin
        } else {
            Origin::File(arg.to_path_buf())
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::File(path) => Some(path),
            Origin::Stdin | Origin::Command | Origin::Workload(_) => None,
        }
    }
}

/// How messages and reports name a source: the path as given, `<stdin>` or `-c`.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Stdin => f.write_str("<stdin>"),
            Origin::Command => f.write_str("-c"),
            Origin::Workload(label) => f.write_str(label),
        }
    }
}

/// One input's text.
#[derive(Debug, Clone)]
pub struct Source {
    pub origin: Origin,
    pub text: String,
}

impl Source {
    /// The statements of this source (the first is statement 1, at its own line).
    pub fn statements(&self) -> Result<Vec<SqlStatement>, InputError> {
        split_statements(&self.text).map_err(|reason| InputError::Empty {
            name: self.origin.to_string(),
            reason,
        })
    }
}

/// One statement of the input, with its source and its `$n` values.
#[derive(Debug, Clone)]
pub struct Statement {
    pub origin: Origin,
    pub statement: SqlStatement,
    /// The statement's own `-- pgdiag: params` values, else the command line's; `None` when
    /// neither gives any.
    pub params: Option<Vec<ParamValue>>,
}

/// Read the inputs of a command line: `-c SQL` first, then each path in the order given
/// (`-` for standard input, directories expanded by [`expand`]).
pub fn read(paths: &[PathBuf], command: Option<&str>) -> Result<Vec<Source>, InputError> {
    let mut sources = Vec::new();
    if let Some(sql) = command {
        sources.push(Source {
            origin: Origin::Command,
            text: sql.strip_prefix('\u{feff}').unwrap_or(sql).to_owned(),
        });
    }
    if !paths.is_empty() {
        for origin in expand(paths)? {
            let text = match &origin {
                Origin::File(path) => read_file(path)?,
                _ => read_stdin()?,
            };
            sources.push(Source { origin, text });
        }
    }
    Ok(sources)
}

/// The text of one path argument, `-` for standard input (for commands that take one query).
pub fn read_arg(arg: &Path) -> Result<String, InputError> {
    match Origin::from_arg(arg) {
        Origin::File(path) => read_file(&path),
        _ => read_stdin(),
    }
}

/// Every statement of every source, in order. A statement's `-- pgdiag: params` comment gives
/// its `$n` values; statements without one take `cli_params` (`--param`, `--params-json`).
pub fn statements(
    sources: &[Source],
    cli_params: Option<&[ParamValue]>,
) -> Result<Vec<Statement>, InputError> {
    let mut all = Vec::new();
    for source in sources {
        for statement in source.statements()? {
            let params = match &statement.params {
                Some(values) => Some(comment_params(values)),
                None => cli_params.map(<[ParamValue]>::to_vec),
            };
            all.push(Statement {
                origin: source.origin.clone(),
                statement,
                params,
            });
        }
    }
    Ok(all)
}

/// `$n` values of a `-- pgdiag: params` comment (`null` is SQL NULL).
pub fn comment_params(values: &[Option<String>]) -> Vec<ParamValue> {
    values
        .iter()
        .map(|v| match v {
            Some(text) => ParamValue::Text(text.clone()),
            None => ParamValue::Null,
        })
        .collect()
}

/// `$n` values from the command line: `--params-json` when given, else the `--param` values
/// in order; `None` when neither is given.
pub fn cli_params(
    param: &[String],
    params_json: Option<&str>,
) -> Result<Option<Vec<ParamValue>>, InputError> {
    match params_json {
        Some(json) => ParamValue::from_json_array(json)
            .map(Some)
            .map_err(InputError::Params),
        None if !param.is_empty() => {
            Ok(Some(param.iter().cloned().map(ParamValue::Text).collect()))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
