//! Inputs users really give: plans of any depth (a 200-table join live, 1,000- and 10,000-level
//! saved plans), files with a byte-order mark, durations such as `1m30s`, and out-of-range numbers
//! refused at the command line without a panic.

use pgdiag::plan::synthetic::deep_plan;
use pgdiag::report::ExplainReport;

use crate::support::{database, pgdiag, temp_file};

const TABLES: usize = 200;

/// `TABLES` small tables t0..t199, each row pointing at the next table's row.
fn chain_setup() -> String {
    let mut sql = String::new();
    for i in 0..TABLES {
        sql.push_str(&format!(
            "CREATE TABLE t{i} (id int PRIMARY KEY, next_id int NOT NULL, v int NOT NULL);\n\
             INSERT INTO t{i} SELECT g, g, g % 7 FROM generate_series(1, 20) g;\n"
        ));
    }
    sql.push_str("ANALYZE;\n");
    sql
}

/// One statement joining every table of [`chain_setup`], explicit JOINs in a chain
/// (`join_collapse_limit`, `from_collapse_limit` and GEQO at their defaults).
fn chain_join() -> String {
    let mut sql = String::from("SELECT count(*) FROM t0");
    for i in 1..TABLES {
        sql.push_str(&format!(" JOIN t{i} ON t{i}.id = t{}.next_id", i - 1));
    }
    sql.push_str(" WHERE t0.v = 3");
    sql
}

fn json_report(stdout: &str) -> ExplainReport {
    // The report nests the plan as deep as the plan goes: read it without a nesting limit.
    pgdiag::plan::deep::from_str(stdout)
        .unwrap_or_else(|e| panic!("invalid JSON report ({e}):\n{stdout:.2000}"))
}

#[tokio::test]
async fn a_200_table_join_is_explained_and_suggested_live() {
    let (url, _client) = database("join200", &chain_setup()).await;
    let sql = chain_join();

    let run = pgdiag(&["explain", "--dsn", &url, "--format", "json", "-c", &sql]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json_report(&run.stdout);
    let statement = &report.statements[0];
    assert!(statement.error.is_none(), "{:?}", statement.error);
    // One scan per table, and a join chain about as deep as the number of tables.
    let scans = statement
        .nodes
        .iter()
        .filter(|n| n.metrics.relation.is_some())
        .count();
    assert_eq!(scans, TABLES);
    let depth = statement
        .nodes
        .iter()
        .map(|n| n.metrics.depth)
        .max()
        .unwrap();
    assert!(depth >= TABLES - 1, "depth {depth}");
    let plan = statement.plan.as_ref().unwrap();
    assert_eq!(
        plan.explains().unwrap()[0].plan.preorder().len(),
        statement.nodes.len()
    );

    let text = pgdiag(&["explain", "--dsn", &url, "-c", &sql]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("[depth "), "{}", text.stdout);

    let suggest = pgdiag(&["suggest", "--dsn", &url, "-c", &sql]);
    assert_eq!(suggest.code, 0, "{}", suggest.all_output());
    assert!(
        suggest.stdout.contains("1 of 1 statement planned"),
        "{}",
        suggest.stdout
    );
    let json = pgdiag(&["suggest", "--dsn", &url, "--format", "json", "-c", &sql]);
    assert_eq!(json.code, 0, "{}", json.all_output());
    let _: serde_json::Value = pgdiag::plan::deep::from_str(&json.stdout).unwrap();
}

#[test]
fn deep_saved_plans_are_explained_offline() {
    let (_dir, path) = temp_file("deep1000.json", deep_plan(1_000).as_bytes());
    let path = path.to_str().unwrap();
    let run = pgdiag(&["explain", "--plan", path, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = json_report(&run.stdout);
    let statement = &report.statements[0];
    assert_eq!(statement.nodes.len(), 1_999);
    assert_eq!(
        statement.nodes.iter().map(|n| n.metrics.depth).max(),
        Some(999)
    );
    let text = pgdiag(&["explain", "--plan", path]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("Seq Scan on t0"),
        "{:.2000}",
        text.stdout
    );

    // 10,000 levels: 20,000 nested JSON values.
    let (_dir, path) = temp_file("deep10000.json", deep_plan(10_000).as_bytes());
    let run = pgdiag(&["explain", "--plan", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("[depth 9999]"), "{:.2000}", run.stdout);
}

#[tokio::test]
async fn a_file_with_a_byte_order_mark_is_explained() {
    let (url, _client) = database("bom", "CREATE TABLE t (id int PRIMARY KEY);").await;
    let (_dir, path) = temp_file(
        "bom.sql",
        "\u{feff}SELECT * FROM t WHERE id = 1;\n".as_bytes(),
    );
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--timeout",
        "1m30s",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(run.stdout.contains("Index"), "{}", run.stdout);
    let (_dir, plan) = temp_file("bom.json", format!("\u{feff}{}", deep_plan(3)).as_bytes());
    let run = pgdiag(&["explain", "--plan", plan.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all_output());
}

#[test]
fn out_of_range_numbers_are_refused_without_a_panic() {
    let (_dir, path) = temp_file("q.sql", b"SELECT 1");
    let path = path.to_str().unwrap();
    for (args, says) in [
        (
            vec!["explain", "--timeout", "99999999999999999999", path],
            "too long",
        ),
        (
            vec!["explain", "--timeout", "1m30x", path],
            "invalid duration",
        ),
        (
            vec!["bench", "--duration", "999999999999h", path],
            "too long",
        ),
        (vec!["bench", "--clients", "0", path], "--clients"),
        (vec!["check", "--jobs", "0", path], "--jobs"),
        (vec!["baseline", "--jobs", "0", path], "--jobs"),
        (vec!["bench", "--keys", "0", path], "--keys"),
        (vec!["suggest", "--runs", "0", path], "--runs"),
    ] {
        let run = pgdiag(&args);
        run.assert_no_panic();
        assert_eq!(run.code, 2, "{args:?}: {}", run.all_output());
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}
