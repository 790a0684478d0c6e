//! Diagnosis end to end on the embedded PostgreSQL: a schema that provokes a rule for real, the
//! finding in text and JSON, `--fail-on` exit codes, and `--verbose` near-misses.

use pgdiag::diagnose::Severity;
use pgdiag::report::ExplainReport;

use crate::support::{database, fixture, pgdiag};

const BIG: &str = "
    CREATE TABLE events (id bigint PRIMARY KEY, account_id int NOT NULL, kind text NOT NULL);
    INSERT INTO events SELECT g, g % 5000, 'k' || (g % 7) FROM generate_series(1, 300000) g;
    CREATE TABLE kinds (name text PRIMARY KEY);
    INSERT INTO kinds SELECT 'k' || g FROM generate_series(0, 6) g;
    ANALYZE;
";

#[tokio::test]
async fn seq_scan_on_a_large_unindexed_table_is_found_and_gates() {
    let (url, _client) = database("diag", BIG).await;
    let sql = "SELECT * FROM events WHERE account_id = 42";
    let run = pgdiag(&["explain", "--dsn", &url, "--format", "json", "-c", sql]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: ExplainReport = serde_json::from_str(&run.stdout).unwrap();
    let st = &report.statements[0];
    let finding = st
        .findings
        .iter()
        .find(|f| f.rule == "seq-scan")
        .expect("seq-scan finding");
    assert_eq!(finding.relation.as_deref(), Some("public.events"));
    assert!(finding.share_at_stake > 0.4, "{finding:?}");
    assert!(finding.severity >= Severity::Warning);
    assert!(
        finding.expressions.iter().any(|e| e.contains("account_id")),
        "{finding:?}"
    );

    let run = pgdiag(&["explain", "--dsn", &url, "-c", sql]);
    assert!(run.stdout.contains("seq-scan · #"), "{}", run.stdout);
    assert!(
        run.stdout.contains("see: docs/rules/seq-scan.md"),
        "{}",
        run.stdout
    );

    let run = pgdiag(&["explain", "--dsn", &url, "--fail-on", "warning", "-c", sql]);
    assert_eq!(run.code, 1, "{}", run.all_output());

    // A small table is no finding, and --verbose says why.
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--fail-on",
        "notice",
        "--verbose",
        "-c",
        "SELECT * FROM kinds WHERE name = 'k3' OR name > 'k5'",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout.contains("Checked, not findings"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("small"), "{}", run.stdout);
}

#[test]
fn fail_on_works_offline_too() {
    // The worst finding here is a warning (nested-loop-amplification, 86% at stake).
    let plan = fixture("fixtures/plans/nested_loop_many_loops.json");
    let run = pgdiag(&[
        "explain",
        "--fail-on",
        "warning",
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    let run = pgdiag(&[
        "explain",
        "--fail-on",
        "critical",
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
}
