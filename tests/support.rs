//! Shared test helpers: the per-binary embedded PostgreSQL, fresh databases, and running the
//! `pgdiag` binary hermetically (no PG* variables from the developer's shell leak in).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use pgdiag::embedded::EmbeddedPostgres;

/// The cluster shared by every test of this binary. Fails the test (never skips) when it cannot
/// start, with the error telling what to install.
pub fn pg() -> &'static EmbeddedPostgres {
    match EmbeddedPostgres::shared() {
        Ok(pg) => pg,
        Err(e) => panic!(
            "embedded PostgreSQL could not start: {e}\n(run scripts/test, which installs what is missing)"
        ),
    }
}

/// A fresh database on the shared cluster, set up with `setup` SQL; returns its URL.
pub async fn database(prefix: &str, setup: &str) -> (String, tokio_postgres::Client) {
    let pg = pg();
    let name = pg
        .fresh_database(prefix)
        .await
        .expect("create test database");
    let client = pg.connect(&name).await.expect("connect to test database");
    if !setup.is_empty() {
        client.batch_execute(setup).await.expect("test setup SQL");
    }
    (pg.url(&name), client)
}

/// Result of one `pgdiag` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// No Rust panic, whatever the exit code: bad input must never crash the tool.
    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked"),
            "pgdiag panicked:\n{}",
            self.stderr
        );
    }
}

/// A `pgdiag` command with a clean environment: no PG*, DATABASE_URL or NO_COLOR from outside.
pub fn pgdiag_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgdiag"));
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("PG") || key_str == "DATABASE_URL" || key_str == "NO_COLOR" {
            cmd.env_remove(&key);
        }
    }
    // Point libpq defaults somewhere that cannot accidentally be a real server.
    cmd.env("PGHOST", "/nonexistent-pgdiag-test-socket-dir");
    cmd.env("HOME", std::env::temp_dir());
    cmd
}

pub fn run_with(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn pgdiag");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input)
            .expect("write stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait for pgdiag");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Run `pgdiag ARGS...` hermetically.
pub fn pgdiag(args: &[&str]) -> Run {
    let mut cmd = pgdiag_command();
    cmd.args(args);
    run_with(cmd, None)
}

/// A file in a fresh temp dir that lives as long as the returned guard.
pub fn temp_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write temp file");
    (dir, path)
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}
