//! `pgdiag top` through the binary, on real `pg_stat_statements`: a generated workload (many fast
//! lookups, one slow statement repeated, writes on one table) ranked by each measure, with
//! `--min-calls` and `--limit`; the setup steps when the extension is missing in the database or
//! the library is not preloaded; and the view's columns on every supported major.
//!
//! `pg_stat_statements` is cluster-wide and so is its reset: tests never reset it on the shared
//! cluster, they rank their own fresh database's statements (the default: the one connected to).

use pgdiag::embedded::EmbeddedPostgres;
use pgdiag::report::top::TopReport;

use crate::support::{Run, database, database_on, pgdiag};

/// Loaded with tracking off, so the load itself is not part of the workload.
const SETUP: &str = "
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
    SET pg_stat_statements.track = 'none';
    CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL);
    INSERT INTO big SELECT g, g % 1000, repeat('x', 40) FROM generate_series(1, 200000) g;
    ALTER TABLE big SET (parallel_workers = 0);
    CREATE TABLE small (id int PRIMARY KEY, v int NOT NULL);
    INSERT INTO small SELECT g, g FROM generate_series(1, 1000) g;
    ANALYZE;
    RESET pg_stat_statements.track;
";
const SLOW: &str = "SELECT count(*) FROM big WHERE v = $1";
const FAST: &str = "SELECT v FROM small WHERE id = $1";
const WRITE: &str = "UPDATE small SET v = -v WHERE id = $1";
const SLOW_CALLS: i32 = 8;
const FAST_CALLS: i32 = 400;
const WRITE_CALLS: i32 = 60;

/// A fresh database with the generated workload run in it; its URL.
async fn workload(prefix: &str) -> String {
    let (url, client) = database(prefix, SETUP).await;
    for i in 0..FAST_CALLS {
        client.query(FAST, &[&(1 + i % 1000)]).await.unwrap();
    }
    for i in 0..WRITE_CALLS {
        client.execute(WRITE, &[&(1 + i * 7 % 1000)]).await.unwrap();
    }
    for i in 0..SLOW_CALLS {
        client.query(SLOW, &[&(i * 13)]).await.unwrap();
    }
    url
}

fn top(url: &str, extra: &[&str]) -> (Run, TopReport) {
    let mut args = vec!["top", "--dsn", url, "--format", "json"];
    args.extend_from_slice(extra);
    let run = pgdiag(&args);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a top report: {e}\n{}", run.stdout));
    (run, report)
}

fn db_name(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn ranks_the_slow_statement_first_and_the_fast_one_by_calls() {
    let url = workload("top_rank").await;
    let name = db_name(&url);

    let (_, report) = top(&url, &[]);
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.database.as_deref(), Some(name.as_str()));
    assert!(
        report
            .statements
            .iter()
            .all(|s| s.database.as_deref() == Some(name.as_str())),
        "only the database connected to: {report:?}"
    );
    let first = &report.statements[0];
    assert_eq!(first.query, SLOW, "{report:#?}");
    assert_eq!(first.calls, SLOW_CALLS as u64);
    assert_eq!(first.rows, Some(SLOW_CALLS as u64), "one row per count(*)");
    assert!(first.share > 0.5 && first.share <= 1.0, "{}", first.share);
    assert!(first.shared_blks_hit.unwrap() + first.shared_blks_read.unwrap() > 0);
    assert!(report.window_seconds.is_some() && report.stats_reset.is_some());
    assert!(report.totals.calls >= (SLOW_CALLS + FAST_CALLS + WRITE_CALLS) as u64);

    let (_, by_calls) = top(&url, &["--order-by", "calls"]);
    assert_eq!(by_calls.statements[0].query, FAST);
    assert_eq!(by_calls.statements[0].calls, FAST_CALLS as u64);
    assert_eq!(by_calls.statements[1].query, WRITE);
    assert_eq!(by_calls.order_by, "calls");

    let (_, by_mean) = top(&url, &["--order-by", "mean-time", "--min-calls", "50"]);
    let queries: Vec<&str> = by_mean
        .statements
        .iter()
        .map(|s| s.query.as_str())
        .collect();
    assert!(
        !queries.contains(&SLOW) && queries.contains(&FAST) && queries.contains(&WRITE),
        "--min-calls 50 leaves out the slow one (8 calls): {queries:?}"
    );
    assert!(by_mean.statements.iter().all(|s| s.calls >= 50));

    let (_, by_io) = top(&url, &["--order-by", "io", "--limit", "1"]);
    assert_eq!(by_io.statements.len(), 1);
    assert_eq!(
        by_io.statements[0].query, SLOW,
        "the seq scans read the most blocks"
    );

    // Text: the target line, the window, the slow statement's text on one line.
    let text = pgdiag(&["top", "--dsn", &url, "--limit", "3"]);
    assert_eq!(text.code, 0, "{}", text.all_output());
    let first_line = text.stdout.lines().next().unwrap();
    assert!(
        first_line.starts_with("pgdiag top: postgres@")
            && first_line.ends_with(&format!("database {name}"))
            && first_line.contains("(PostgreSQL "),
        "{first_line}"
    );
    assert!(text.stdout.contains("statistics since "), "{}", text.stdout);
    assert!(text.stdout.contains(SLOW), "{}", text.stdout);
    let rows = text.stdout.lines().filter(|l| l.starts_with("│ ")).count();
    assert_eq!(rows, 4, "header and 3 statements:\n{}", text.stdout);
}

#[tokio::test]
async fn another_database_and_every_database() {
    let url = workload("top_other").await;
    let name = db_name(&url);
    // Connected to another database with the extension, --database picks this one's statements.
    let (other_url, _) = database("top_lookout", "CREATE EXTENSION pg_stat_statements").await;
    let (_, report) = top(&other_url, &["--database", &name]);
    assert_eq!(report.statements[0].query, SLOW);
    assert!(
        report
            .statements
            .iter()
            .all(|s| s.database.as_deref() == Some(name.as_str()))
    );
    let (_, all) = top(&other_url, &["--all-databases", "--limit", "0"]);
    assert_eq!(all.database, None);
    assert!(
        all.statements
            .iter()
            .any(|s| s.database.as_deref() == Some(name.as_str()) && s.query == SLOW)
    );
    assert!(all.totals.statements >= report.totals.statements);

    let missing = pgdiag(&["top", "--dsn", &other_url, "--database", "no_such_db_here"]);
    missing.assert_no_panic();
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("no database named \"no_such_db_here\""),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn missing_extension_says_create_extension() {
    let (url, _) = database("top_noext", "").await;
    let run = pgdiag(&["top", "--dsn", &url]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr.contains("not installed in database")
            && run.stderr.contains("CREATE EXTENSION pg_stat_statements;"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[tokio::test]
async fn a_server_without_the_preload_says_how_to_preload() {
    // A cluster of its own: the shared one preloads the library.
    let postgres = EmbeddedPostgres::builder()
        .setting("shared_preload_libraries", "")
        .start()
        .await
        .expect("start a cluster without pg_stat_statements preloaded");
    let name = postgres.fresh_database("top_nopreload").await.unwrap();
    let client = postgres.connect(&name).await.unwrap();
    // The extension can be created without the library preloaded; the view then refuses.
    client
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    let run = pgdiag(&["top", "--dsn", &postgres.url(&name)]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    for step in [
        "shared_preload_libraries = 'pg_stat_statements'",
        "ALTER SYSTEM SET shared_preload_libraries",
        "restart PostgreSQL",
        "CREATE EXTENSION pg_stat_statements;",
    ] {
        assert!(run.stderr.contains(step), "no `{step}` in:\n{}", run.stderr);
    }
    drop(client);
    postgres.stop().await.unwrap();
}

/// The view's columns of each major (`*_exec_time`, `toplevel`, `pg_stat_statements_info`, 17's
/// renamed block times) are read.
async fn reads_the_view(major: u32) {
    let (url, client) = database_on(major, "top_major", SETUP).await;
    for i in 0..3 {
        client.query(SLOW, &[&i]).await.unwrap();
    }
    let (_, report) = top(&url, &["--order-by", "calls"]);
    let slow = report
        .statements
        .iter()
        .find(|s| s.query == SLOW)
        .unwrap_or_else(|| panic!("PostgreSQL {major}: {report:#?}"));
    assert_eq!(slow.calls, 3);
    assert!(slow.total_ms > 0.0 && slow.mean_ms > 0.0);
    assert!(
        report.stats_reset.is_some(),
        "14+ has pg_stat_statements_info"
    );
    assert_eq!(report.server.version_num / 10000, major as i32);
}

macro_rules! majors {
    ($($test:ident => $major:literal),* $(,)?) => {$(
        #[tokio::test]
        async fn $test() {
            reads_the_view($major).await;
        }
    )*};
}

majors!(
    reads_the_view_pg14 => 14,
    reads_the_view_pg15 => 15,
    reads_the_view_pg16 => 16,
    reads_the_view_pg17 => 17,
    reads_the_view_pg18 => 18,
);
