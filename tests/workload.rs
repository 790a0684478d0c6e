//! Workload mode through the binary: `suggest` and `explain` take their statements from what the
//! database ran (`--from-pg-stat-statements`, `--from-log`) instead of SQL files, on a generated
//! workload (many fast lookups, writes on one table, one slow statement repeated with different
//! values). The slow statement is normalized (`$1`), run with a value sampled from `pg_stats` (or
//! the one its log line shows), and gets its index; the suggestion is weighed per hour.

use pgdiag::embedded::EmbeddedPostgres;
use pgdiag::report::ExplainReport;
use pgdiag::suggest::report::{Basis, SuggestReport, SuggestionStatus};

use crate::support::{Run, database, pgdiag};

/// Loaded with tracking off, so the load itself is not part of the workload.
const SETUP: &str = "
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
    SET pg_stat_statements.track = 'none';
    CREATE TABLE events (id int PRIMARY KEY, account_id int NOT NULL, kind int NOT NULL,
                         pad text NOT NULL);
    INSERT INTO events SELECT g, g % 2000, g % 7, repeat('x', 60)
      FROM generate_series(1, 200000) g;
    ALTER TABLE events SET (parallel_workers = 0);
    CREATE INDEX events_kind_idx ON events (kind);
    CREATE INDEX events_kind_copy_idx ON events (kind);
    CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
    INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 2000) g;
    ANALYZE;
    RESET pg_stat_statements.track;
";
const SLOW: &str = "SELECT count(*), max(kind) FROM events WHERE account_id = $1";
const FAST: &str = "SELECT balance FROM accounts WHERE id = $1";
const WRITE: &str = "UPDATE accounts SET balance = balance + 1 WHERE id = $1";

/// The generated workload, run through `client`.
async fn run_workload(client: &tokio_postgres::Client) {
    for i in 0..300 {
        client.query(FAST, &[&(1 + i % 2000)]).await.unwrap();
    }
    for i in 0..30 {
        client.execute(WRITE, &[&(1 + i * 7 % 2000)]).await.unwrap();
    }
    for i in 0..6 {
        client.query(SLOW, &[&(i * 17)]).await.unwrap();
    }
}

fn suggest_json(args: &[&str]) -> (Run, SuggestReport) {
    let mut all = vec!["suggest", "--format", "json"];
    all.extend_from_slice(args);
    let run = pgdiag(&all);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a suggest report: {e}\n{}", run.all_output()));
    (run, report)
}

/// The slow statement gets its index on `events (account_id)`, weighed per hour, and the
/// workload section says what the kept suggestions save.
fn assert_advised(report: &SuggestReport, params_from: &str) {
    let workload = report.workload.as_ref().expect("a workload section");
    let slow = report
        .statements
        .iter()
        .find(|s| s.sql.contains("FROM events"))
        .unwrap_or_else(|| panic!("the slow statement is taken: {:#?}", report.statements));
    assert!(slow.sql.contains("$1"), "normalized: {}", slow.sql);
    let entry = workload
        .statements
        .iter()
        .find(|e| e.statement == slow.index)
        .expect("its workload entry");
    assert_eq!(entry.calls, 6);
    assert_eq!(entry.generic_reason, None, "{entry:?}");
    assert!(
        entry.params.iter().any(|p| p.contains(params_from)),
        "$1's value from {params_from}: {:?}",
        entry.params
    );
    assert!(slow.time_ms.is_some(), "executed with the value: {slow:?}");
    let kept = report
        .suggestions
        .iter()
        .find(|s| {
            s.status == SuggestionStatus::Kept
                && s.index().is_some_and(|i| {
                    i.table == "events"
                        && i.columns.first().map(|c| c.name.as_str()) == Some("account_id")
                })
        })
        .unwrap_or_else(|| panic!("events (account_id) kept: {:#?}", report.suggestions));
    assert!(kept.serves.contains(&slow.index));
    let weighed = kept
        .verification
        .as_ref()
        .and_then(|v| v.weighed.as_ref())
        .expect("weighed");
    assert_eq!(weighed.basis, Basis::PerHour);
    assert!(workload.window_s.is_some_and(|w| w > 0.0));
    assert!(
        workload.saves_per_hour_ms.is_some_and(|s| s > 0.0),
        "{workload:#?}"
    );
    assert!(
        entry.saves_per_hour_ms.is_some_and(|s| s > 0.0),
        "{entry:?}"
    );
    let alone = workload
        .suggestions
        .iter()
        .find(|s| s.id == kept.id)
        .expect("what the index saves per hour on its own");
    assert!(alone.saves_per_hour_ms > 0.0, "{alone:?}");
}

#[tokio::test]
async fn suggest_and_explain_take_the_statements_pg_stat_statements_recorded() {
    let (url, client) = database("workload_pgss", SETUP).await;
    run_workload(&client).await;

    let (_, report) = suggest_json(&["--from-pg-stat-statements", "--top", "5", "--dsn", &url]);
    let workload = report.workload.as_ref().unwrap();
    assert_eq!(workload.source, "pg_stat_statements");
    assert!(workload.statements.len() <= 5);
    // Ranked by total time: the slow statement first.
    assert!(
        report.statements[0].sql.contains("FROM events"),
        "{report:#?}"
    );
    assert_advised(&report, "events.account_id");

    // What to drop as well as what to create: the copy of an index is named, never dropped.
    let drops = report.drops.as_ref().expect("the indexes that can go");
    assert!(
        drops
            .findings
            .iter()
            .any(|f| f.kind.as_str() == "duplicate" && f.index.starts_with("events_kind")),
        "{drops:#?}"
    );
    assert!(
        drops.findings.iter().all(|f| f.table != "accounts"
            || f.kind.as_str() != "unused"
            || !f.index.ends_with("_pkey")),
        "a primary key is never proposed: {drops:#?}"
    );

    // Text: the workload block and the hourly saving.
    let text = pgdiag(&[
        "suggest",
        "--from-pg-stat-statements",
        "--top",
        "5",
        "--dsn",
        &url,
    ]);
    assert_eq!(text.code, 0, "{}", text.all_output());
    assert!(
        text.stdout.contains("Workload: pg_stat_statements"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("calls/h"), "{}", text.stdout);
    assert!(text.stdout.contains("per hour"), "{}", text.stdout);
    assert!(
        text.stdout.contains("Indexes that can go"),
        "{}",
        text.stdout
    );

    // explain: the same statements, each named with how often it runs.
    let run = pgdiag(&[
        "explain",
        "--from-pg-stat-statements",
        "--top",
        "3",
        "--dsn",
        &url,
        "--format",
        "json",
    ]);
    run.assert_no_panic();
    assert!(run.code == 0 || run.code == 1, "{}", run.all_output());
    let explained: ExplainReport = serde_json::from_str(&run.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["source"]["kind"], "workload", "{json:#}");
    assert!(explained.statements.len() <= 3 && !explained.statements.is_empty());
    let first = &json["statements"][0];
    assert!(
        first["source"].as_str().unwrap_or("").contains("calls/h"),
        "{first:#}"
    );
    assert!(
        first["sql"].as_str().unwrap_or("").contains("FROM events"),
        "{first:#}"
    );

    // Files and a workload do not mix.
    let both = pgdiag(&[
        "suggest",
        "-c",
        "SELECT 1",
        "--from-pg-stat-statements",
        "--dsn",
        &url,
    ]);
    assert_eq!(both.code, 2, "{}", both.all_output());
}

#[tokio::test]
async fn suggest_reads_the_same_advice_from_a_server_log() {
    let pg = EmbeddedPostgres::builder()
        .setting("log_min_duration_statement", "0")
        .start()
        .await
        .expect("a PostgreSQL that logs every statement");
    pg.create_database("shop").await.unwrap();
    let client = pg.connect("shop").await.unwrap();
    let setup = SETUP
        .replace("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;", "")
        .replace(
            "SET pg_stat_statements.track = 'none';",
            "SET log_min_duration_statement = -1;",
        )
        .replace(
            "RESET pg_stat_statements.track;",
            "RESET log_min_duration_statement;",
        );
    client.batch_execute(&setup).await.unwrap();
    run_workload(&client).await;

    let log = pg.log_path().display().to_string();
    let url = pg.url("shop");
    let (_, report) = suggest_json(&["--from-log", &log, "--top", "5", "--dsn", &url]);
    let workload = report.workload.as_ref().unwrap();
    assert_eq!(workload.source, "log");
    assert_eq!(workload.path.as_deref(), Some(log.as_str()));
    assert_advised(&report, "the value the log shows");

    // A file that is not there: a clear error, exit 2.
    let missing = pgdiag(&[
        "suggest",
        "--from-log",
        "/nonexistent/postgresql.log",
        "--dsn",
        &url,
    ]);
    missing.assert_no_panic();
    assert_eq!(missing.code, 2, "{}", missing.all_output());
    assert!(
        missing.stderr.contains("/nonexistent/postgresql.log"),
        "{}",
        missing.stderr
    );
    pg.stop().await.unwrap();
}
