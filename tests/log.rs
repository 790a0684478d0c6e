//! Server logs written by a real PostgreSQL (`log_min_duration_statement = 0`, the logging
//! collector writing stderr, csvlog and jsonlog at once) read into a workload: a generated
//! workload's slow statement is one normalized group with its call count and the largest total,
//! the fast ones are grouped by their normalized text, parameters and constants are sampled. The
//! csvlog and jsonlog layouts of every supported major (14–18) are read the same way.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pgdiag::embedded::EmbeddedPostgres;
use pgdiag::input::{
    LogError, LogFormat, OrderBy, Workload, WorkloadSource, WorkloadStatement, read_log,
    read_log_as,
};

use crate::support::{MAJORS, server_dirs};

/// A cluster logging every statement's duration to `log/pg.{log,csv,json}` in its data directory.
async fn logging_cluster(major: Option<u32>) -> EmbeddedPostgres {
    let mut builder = EmbeddedPostgres::builder();
    let mut destinations = "stderr,csvlog".to_owned();
    if let Some(major) = major {
        let (bin, lib) = server_dirs(major).unwrap_or_else(|e| panic!("{e}"));
        builder = builder.bin_dir(bin);
        if let Some(lib) = lib {
            builder = builder.library_dir(lib);
        }
        if major >= 15 {
            destinations.push_str(",jsonlog");
        }
    } else {
        destinations.push_str(",jsonlog");
    }
    builder
        .setting("log_min_duration_statement", "0")
        .setting("logging_collector", "on")
        .setting("log_destination", destinations)
        .setting("log_directory", "log")
        .setting("log_filename", "pg.log")
        .setting("log_line_prefix", "%m [%p] %q%u@%d ")
        .start()
        .await
        .unwrap_or_else(|e| panic!("embedded PostgreSQL {major:?} did not start: {e}"))
}

fn log_file(postgres: &EmbeddedPostgres, format: LogFormat) -> PathBuf {
    let name = match format {
        LogFormat::Stderr => "pg.log",
        LogFormat::Csv => "pg.csv",
        LogFormat::Json => "pg.json",
    };
    postgres.data_dir().join("log").join(name)
}

/// Waits until the collector has written `marker` to the file (it writes asynchronously).
fn wait_for(path: &Path, marker: &str) {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(marker) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} never logged {marker}: {}",
            path.display(),
            text.lines().rev().take(5).collect::<Vec<_>>().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read(path: &Path) -> Workload {
    let mut last = (0, 0);
    let workload = read_log(path, &mut |read, size| last = (read, size))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(last.0, last.1, "progress ends at the file's size");
    workload
}

fn find<'a>(workload: &'a Workload, query: &str) -> &'a WorkloadStatement {
    workload
        .statements
        .iter()
        .find(|s| s.query == query)
        .unwrap_or_else(|| {
            let all: Vec<&str> = workload
                .statements
                .iter()
                .map(|s| s.query.as_str())
                .collect();
            panic!("no statement {query:?} among {all:#?}")
        })
}

const FAST: usize = 200;
const SLOW: usize = 5;
const PREPARED: usize = 30;
const INSERTS: usize = 50;
const SLOW_QUERY: &str = "SELECT pg_sleep($1), grp FROM items WHERE id = $2";
const FAST_QUERY: &str = "SELECT * FROM items WHERE id = $1";
const PREPARED_QUERY: &str = "SELECT grp FROM items WHERE id = $1 AND grp >= $2";
const INSERT_QUERY: &str = "INSERT INTO items (id, grp) VALUES ($1, $2)";

/// Many fast statements with different constants, one slow one run several times, a prepared
/// statement run with parameters (extended protocol), writes; then a marker.
async fn run_workload(postgres: &EmbeddedPostgres, fast: usize) -> &'static str {
    let client = postgres.connect("postgres").await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, grp int NOT NULL);
             INSERT INTO items SELECT g, g % 10 FROM generate_series(1, 1000) g;",
        )
        .await
        .expect("schema");
    for i in 0..fast {
        client
            .simple_query(&format!("SELECT * FROM items WHERE id = {i}"))
            .await
            .expect("fast");
    }
    for i in 0..SLOW {
        client
            .simple_query(&format!(
                "SELECT pg_sleep(0.1), grp FROM items WHERE id = {}",
                i + 1
            ))
            .await
            .expect("slow");
    }
    for i in 0..PREPARED {
        client
            .query(
                "SELECT grp FROM items WHERE id = $1 AND grp >= 0",
                &[&(i as i32 + 7)],
            )
            .await
            .expect("prepared");
    }
    for i in 0..INSERTS {
        client
            .simple_query(&format!(
                "INSERT INTO items (id, grp) VALUES ({}, {})",
                10_000 + i,
                i % 3
            ))
            .await
            .expect("insert");
    }
    client
        .simple_query("SELECT 'pgdiag-log-test-end'")
        .await
        .expect("marker");
    "pgdiag-log-test-end"
}

/// `params_logged`: whether the parameters must have been logged (every major logged them in
/// runs by hand, but one run on the version matrix had an execution without its `DETAIL`).
fn check(workload: &Workload, format: &str, fast: usize, params_logged: bool) {
    match &workload.source {
        WorkloadSource::Log {
            format: found,
            statement_lines,
            ..
        } => {
            assert_eq!(found, format);
            assert!(
                *statement_lines as usize >= fast + SLOW + PREPARED + INSERTS,
                "{format}: {statement_lines} executions"
            );
        }
        other => panic!("{other:?}"),
    }
    let slow = find(workload, SLOW_QUERY);
    assert_eq!(slow.calls, SLOW as u64, "{format}");
    assert!(
        slow.min_ms.is_some_and(|ms| ms >= 100.0),
        "{format}: {slow:?}"
    );
    assert_eq!(
        slow.sample_params,
        Some(vec![Some("0.1".to_owned()), Some("1".to_owned())]),
        "{format}"
    );
    assert_eq!(slow.database.as_deref(), Some("postgres"), "{format}");
    assert_eq!(slow.user.as_deref(), Some("postgres"), "{format}");
    let top = workload.ranked(OrderBy::TotalTime, Some(1), 0);
    assert_eq!(
        top[0].query, SLOW_QUERY,
        "{format}: the slow one costs most"
    );

    let fast_group = find(workload, FAST_QUERY);
    assert_eq!(fast_group.calls, fast as u64, "{format}");
    assert_eq!(
        fast_group.sample_params,
        Some(vec![Some("0".to_owned())]),
        "{format}"
    );
    let prepared = find(workload, PREPARED_QUERY);
    assert_eq!(
        prepared.calls, PREPARED as u64,
        "{format}: executes, not parse or bind"
    );
    // The parameter from DETAIL (of the first execution that logged one), then the constant.
    let sample = prepared.sample_params.as_deref().expect("sampled");
    assert_eq!(sample.len(), 2, "{format}: {sample:?}");
    assert_eq!(sample[1].as_deref(), Some("0"), "{format}");
    let value: Option<i32> = sample[0].as_deref().map(|v| v.parse().expect("a number"));
    assert!(
        value.is_none_or(|v| (7..7 + PREPARED as i32).contains(&v)),
        "{format}: {value:?}"
    );
    if params_logged {
        assert!(value.is_some(), "{format}: parameters logged");
    }
    let inserts = find(workload, INSERT_QUERY);
    assert_eq!(inserts.calls, INSERTS as u64, "{format}");
    assert!(workload.window.is_some(), "{format}: timestamps read");
}

#[tokio::test]
async fn reads_the_logs_a_server_writes_in_each_format() {
    let postgres = logging_cluster(None).await;
    let marker = run_workload(&postgres, FAST).await;
    for (format, name) in [
        (LogFormat::Stderr, "stderr"),
        (LogFormat::Csv, "csvlog"),
        (LogFormat::Json, "jsonlog"),
    ] {
        let path = log_file(&postgres, format);
        wait_for(&path, marker);
        let workload = read(&path);
        check(&workload, name, FAST, true);
        // Read as the format it is, the result is the same.
        let given = read_log_as(&path, Some(format), &mut |_, _| {}).expect("the same log");
        assert_eq!(given, workload);
    }
}

#[tokio::test]
async fn reads_csvlog_and_jsonlog_of_every_major() {
    for major in MAJORS {
        let postgres = logging_cluster(Some(major)).await;
        let marker = run_workload(&postgres, 20).await;
        let mut formats = vec![(LogFormat::Csv, "csvlog")];
        if major >= 15 {
            formats.push((LogFormat::Json, "jsonlog"));
        }
        for (format, name) in formats {
            let path = log_file(&postgres, format);
            wait_for(&path, marker);
            check(&read(&path), name, 20, false);
        }
    }
}

#[test]
fn a_missing_an_empty_and_a_non_log_file_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("postgresql.log");
    let err = read_log(&missing, &mut |_, _| {}).expect_err("missing");
    assert!(matches!(err, LogError::Unreadable { .. }));
    assert!(
        err.to_string().contains("no such file or directory"),
        "{err}"
    );

    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").expect("write");
    let err = read_log(&empty, &mut |_, _| {}).expect_err("empty");
    assert_eq!(
        err.to_string(),
        format!("{} is empty: there is no log to read", empty.display())
    );

    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let err = read_log(&readme, &mut |_, _| {}).expect_err("not a log");
    assert!(matches!(err, LogError::NotALog { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("Cargo.toml is not a PostgreSQL server log"),
        "{err}"
    );
}
