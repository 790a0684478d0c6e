//! Throwaway PostgreSQL and Redis servers for the test suite and `pgdiag demo`.
//!
//! This module owns finding the server binaries, starting a private server in a temp dir on a free
//! loopback port, and making sure the server and its dir are gone afterwards, however our process
//! ends: `stop()` and `Drop` clean up in-process, and a per-server reaper process (see [`reaper`])
//! cleans up when we are killed or never drop the value (a test binary's `static`).
//!
//! It never uses a server someone else left running: every instance is initialised from scratch.

mod postgres;
pub mod reaper;
mod redis;

pub use postgres::{BINDIR_ENV, EmbeddedPostgres, EmbeddedPostgresBuilder, LIBDIR_ENV};
pub use redis::{EmbeddedRedis, EmbeddedRedisBuilder, EmbeddedRedisCluster};

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What can go wrong starting or stopping an embedded server.
///
/// Display messages are one line and do not repeat their `source`; print the chain (`{:#}` with
/// anyhow) to see the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found; install it with `{install_hint}` (scripts/test installs it)")]
    BinariesNotFound {
        what: &'static str,
        install_hint: &'static str,
    },
    #[error(
        "{dir} has no executable `{missing}`: give a PostgreSQL bin dir holding initdb, pg_ctl and postgres (PGDIAG_PG_BINDIR)"
    )]
    BinDirIncomplete { dir: String, missing: &'static str },
    #[error(
        "running as root, but initdb refuses root and there is no `postgres` system user to run \
         PostgreSQL as; create it: useradd --system postgres (apt-get install postgresql also creates it)"
    )]
    NoPostgresUser,
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {output_tail}")]
    CommandFailed {
        command: String,
        status: String,
        output_tail: String,
    },
    #[error("{what} did not start; log tail: {log_tail}")]
    StartTimeout { what: String, log_tail: String },
    #[error("could not connect to the embedded PostgreSQL")]
    Connect(#[from] tokio_postgres::Error),
    /// A statement on the embedded PostgreSQL failed (its version, creating a database).
    #[error("the embedded PostgreSQL: {0}")]
    Postgres(#[from] crate::pg::Error),
    #[error("invalid setting name {name:?}: use letters, digits, `_` and `.` only")]
    InvalidSetting { name: String },
    /// The process-wide shared server failed to start; every caller of `shared()` gets this, with
    /// the original error chain flattened into `message` (the original is not `Clone`).
    #[error("the shared embedded server failed to start: {message}")]
    SharedStartFailed { message: String },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The message with its whole source chain on one line.
    pub(crate) fn chain_message(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        message
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A loopback port that was free a moment ago. Someone may take it before the server binds it;
/// callers retry on that rare collision.
pub(crate) fn free_loopback_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding 127.0.0.1:0 to find a free port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("reading the address of a bound socket", e))?
        .port();
    Ok(port)
}

/// The last `lines` lines of a log file, joined with " | " so errors stay on one line.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => tail_lines(&text, lines),
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

pub(crate) fn tail_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = all.len().saturating_sub(lines);
    let tail = all[start..].join(" | ");
    if tail.is_empty() {
        "(empty)".to_string()
    } else {
        tail
    }
}

/// The first executable called `name` in `$PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `pid` is a running process. A zombie counts as gone: it has released everything and
/// only waits for its parent (here possibly a PID 1 that never reaps) to collect its status.
pub fn process_alive(pid: i32) -> bool {
    let exists = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok_or_eperm();
    if !exists {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name, which may itself
        // contain spaces or parentheses.
        Ok(stat) => stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next())
            .is_none_or(|state| state != "Z" && state != "X"),
        Err(_) => true,
    }
}

trait KillResultExt {
    fn is_ok_or_eperm(&self) -> bool;
}

impl KillResultExt for nix::Result<()> {
    /// EPERM means the process exists but belongs to someone else.
    fn is_ok_or_eperm(&self) -> bool {
        matches!(self, Ok(()) | Err(nix::errno::Errno::EPERM))
    }
}

/// Poll `done` every 50 ms until it returns true or `timeout` passes; returns whether it did.
pub(crate) fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `future` to completion on a private current-thread runtime in a fresh OS thread.
///
/// Servers are plain processes and outlive any runtime, but `block_on` panics when called from
/// inside a runtime (every `#[tokio::test]`), so the blocking entry points start on their own
/// thread.
pub(crate) fn block_on_private_runtime<T: Send + 'static>(
    future: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let thread = std::thread::Builder::new()
        .name("pgdiag-embedded-start".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io("building a runtime to start an embedded server", e))?;
            runtime.block_on(future)
        })
        .map_err(|e| Error::io("spawning a thread to start an embedded server", e))?;
    thread.join().unwrap_or_else(|_| {
        Err(Error::SharedStartFailed {
            message: "the start-up thread panicked".into(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_non_empty_lines() {
        assert_eq!(tail_lines("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(tail_lines("", 3), "(empty)");
    }

    #[test]
    fn missing_binaries_say_what_to_install() {
        let message = Error::BinariesNotFound {
            what: "PostgreSQL server binaries (initdb, pg_ctl, postgres)",
            install_hint: "apt-get install postgresql",
        }
        .to_string();
        assert!(
            message.contains("`apt-get install postgresql`"),
            "{message}"
        );
        assert!(message.contains("scripts/test"), "{message}");
        assert!(
            Error::NoPostgresUser
                .to_string()
                .contains("useradd --system postgres")
        );
    }

    #[test]
    fn chain_message_includes_the_cause() {
        let error = Error::io("writing pg_hba.conf", std::io::Error::other("disk full"));
        assert_eq!(error.chain_message(), "writing pg_hba.conf: disk full");
    }

    #[test]
    fn own_process_is_alive_and_a_bogus_pid_is_not() {
        assert!(process_alive(std::process::id() as i32));
        assert!(!process_alive(i32::MAX - 1));
    }
}
