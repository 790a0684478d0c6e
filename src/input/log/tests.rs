//! The log reader on logs a PostgreSQL 15 server wrote (`fixtures/logs/`, checked by hand) and on
//! the failures a user meets: no file, an empty file, a file that is no log.

use std::path::{Path, PathBuf};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/logs")
        .join(name)
}

fn read(name: &str) -> Workload {
    let mut calls = 0;
    let workload = read_log(&fixture(name), &mut |read, size| {
        calls += 1;
        assert!(read <= size, "{read} of {size}");
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(calls >= 1, "progress reported at the end");
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

fn params(values: &[Option<&str>]) -> Option<Vec<Option<String>>> {
    Some(values.iter().map(|v| v.map(str::to_owned)).collect())
}

fn source(workload: &Workload) -> (&str, u64, u64, u64) {
    match &workload.source {
        WorkloadSource::Log {
            format,
            lines,
            statement_lines,
            skipped,
            ..
        } => (format.as_str(), *lines, *statement_lines, *skipped),
        other => panic!("not a log source: {other:?}"),
    }
}

/// What the same workload (psql's simple protocol, then pgbench's extended protocol) gives in
/// each of the three formats one server wrote at once.
fn check_default_workload(workload: &Workload, format: &str) {
    let (found, _, executions, skipped) = source(workload);
    assert_eq!(found, format);
    // 6 simple statements (`select 1/0` failed: no duration), 6 executes, and 3 from the
    // session that changed the prefix.
    assert_eq!(executions, 15, "{format}");
    assert!(
        skipped > 10,
        "{format}: parse/bind, startup and the error are skipped ({skipped})"
    );

    // Constants replaced, the two runs with 7 and 42 one statement, their first values kept.
    let count = find(workload, "select count(*) from orders where customer = $1");
    // Three executes (pgbench, `$1` already) form their own group with psql's two: same text.
    assert_eq!(count.calls, 5, "{format}");
    // The default prefix (`%m [%p] `) names no database or user; csvlog and jsonlog do.
    let (database, user) = match format {
        "stderr" => (None, None),
        _ => (Some("x"), Some("postgres")),
    };
    assert_eq!(count.database.as_deref(), database, "{format}");
    assert_eq!(count.user.as_deref(), user, "{format}");
    assert_eq!(count.sample_params, params(&[Some("7")]));
    let total = 8.237 + 2.229 + 3.079 + 1.678 + 1.646;
    assert!(
        (count.total_ms - total).abs() < 1e-9,
        "{format}: {}",
        count.total_ms
    );
    assert_eq!(count.min_ms, Some(1.646));
    assert_eq!(count.max_ms, Some(8.237));
    assert!((count.mean_ms - total / 5.0).abs() < 1e-9);
    let stddev = count.stddev_ms.expect("a spread");
    assert!(stddev > 2.0 && stddev < 3.0, "{format}: {stddev}");

    // Extended protocol: parameters from the DETAIL; parse and bind lines not counted.
    let update = find(workload, "update orders set status = $2 where id = $1");
    assert_eq!(update.calls, 3, "{format}");
    assert_eq!(update.sample_params, params(&[Some("69"), Some("open")]));
    assert!((update.total_ms - (0.158 + 0.135 + 0.085)).abs() < 1e-9);

    // A statement over three lines, its comment dropped, its IN list collapsed.
    let multi = find(
        workload,
        "select * from orders where status = $1 and id in ($2 /*, ... */)",
    );
    assert_eq!(multi.calls, 1);
    assert_eq!(multi.sample_params, params(&[Some("open"), Some("1")]));
    assert!(
        multi
            .first_seen
            .as_deref()
            .is_some_and(|f| f.ends_with(":9")),
        "{format}: {:?}",
        multi.first_seen
    );

    // The window: first to last timestamp (16:51:24.027 to 16:51:44.012).
    let window = workload.window.expect("timestamps").as_secs_f64();
    assert!((window - 19.985).abs() < 1e-6, "{format}: {window}");
}

#[test]
fn reads_a_stderr_log_with_the_default_prefix() {
    let workload = read("stderr-default.log");
    check_default_workload(&workload, "stderr");
    assert_eq!(source(&workload).1, 49);
}

#[test]
fn reads_csvlog() {
    let workload = read("csvlog.csv");
    check_default_workload(&workload, "csvlog");
    let count = find(&workload, "select count(*) from orders where customer = $1");
    assert_eq!(count.queryid, Some(3702308629682317866));
}

#[test]
fn reads_jsonlog() {
    let workload = read("jsonlog.json");
    check_default_workload(&workload, "jsonlog");
}

#[test]
fn reads_database_and_user_from_a_key_value_prefix() {
    let workload = read("stderr-keyvalue.log");
    let count = find(&workload, "select count(*) from orders where customer = $1");
    assert_eq!(count.calls, 2);
    assert_eq!(count.database.as_deref(), Some("x"));
    assert_eq!(count.user.as_deref(), Some("postgres"));
    let sleep = find(&workload, "select pg_sleep($1)");
    assert_eq!(sleep.database.as_deref(), Some("postgres"));
    let multi = find(
        &workload,
        "select id, status from orders where customer = $1 and created > date $2 order by id limit $3",
    );
    assert_eq!(
        multi.sample_params,
        params(&[Some("8"), Some("2026-03-01"), Some("5")])
    );
    // `%t` has whole seconds: 16:51:44 to 16:51:46.
    assert_eq!(workload.window, Some(Duration::from_secs(2)));
}

#[test]
fn reads_auto_explain_text_plans() {
    let workload = read("auto_explain-text.log");
    let count = find(&workload, "select count(*) from orders where customer = $1");
    assert_eq!(count.calls, 1);
    assert_eq!(count.total_ms, 1.931);
    let plan = count.logged_plan.as_deref().expect("the plan");
    assert!(plan.starts_with("Aggregate  (cost=308.98"), "{plan}");
    assert!(plan.ends_with("Rows Removed by Filter: 19800"), "{plan}");
    let grouped = find(
        &workload,
        "select o.status, count(*) from orders o where o.created between $1 and $2 group by o.status",
    );
    assert_eq!(
        grouped.sample_params,
        params(&[Some("2026-02-01"), Some("2026-03-01")])
    );
    assert!(
        grouped
            .logged_plan
            .as_deref()
            .is_some_and(|p| p.starts_with("GroupAggregate"))
    );
}

#[test]
fn reads_auto_explain_json_plans_without_counting_an_execution_twice() {
    let workload = read("auto_explain-json.log");
    let count = find(&workload, "select count(*) from orders where customer = $1");
    // customer = 11 (plan only) and customer = 12 (plan and duration line): two executions.
    assert_eq!(count.calls, 2);
    assert_eq!(count.total_ms, 1.704 + 1.485);
    let plan: serde_json::Value =
        serde_json::from_str(count.logged_plan.as_deref().expect("the plan")).expect("JSON");
    assert_eq!(plan["Plan"]["Node Type"], "Aggregate");
    assert_eq!(
        plan["Query Text"],
        "select count(*) from orders where customer = 11;"
    );
}

#[test]
fn the_format_can_be_given() {
    let given = read_log_as(
        &fixture("jsonlog.json"),
        Some(LogFormat::Json),
        &mut |_, _| {},
    )
    .expect("jsonlog");
    assert_eq!(given, read("jsonlog.json"));
    // Read as the wrong format, nothing in it is a message.
    let err = read_log_as(
        &fixture("jsonlog.json"),
        Some(LogFormat::Csv),
        &mut |_, _| {},
    )
    .expect_err("not csvlog");
    assert!(
        err.to_string().contains("no csvlog message in 34 lines"),
        "{err}"
    );
}

#[test]
fn a_missing_file_an_empty_file_and_a_file_that_is_no_log_say_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope.log");
    let err = read_log(&missing, &mut |_, _| {}).expect_err("missing");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read {}: no such file or directory",
            missing.display()
        )
    );

    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "\n\n").expect("write");
    let err = read_log(&empty, &mut |_, _| {}).expect_err("empty");
    assert!(matches!(err, LogError::Empty { .. }), "{err}");
    assert!(err.to_string().contains("empty.log is empty"), "{err}");

    let sql = dir.path().join("q.sql");
    std::fs::write(&sql, "select 1;\nselect 2;\n").expect("write");
    let err = read_log(&sql, &mut |_, _| {}).expect_err("not a log");
    assert!(matches!(err, LogError::NotALog { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("q.sql is not a PostgreSQL server log (line 1 reads `select 1;`"),
        "{err}"
    );

    let binary = dir.path().join("data.bin");
    std::fs::write(&binary, b"\x00\x01\x02LOG:  ").expect("write");
    let err = read_log(&binary, &mut |_, _| {}).expect_err("binary");
    assert!(err.to_string().contains("NUL byte at offset 0"), "{err}");

    let err = read_log(dir.path(), &mut |_, _| {}).expect_err("a directory");
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn a_log_cut_short_and_stray_lines_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cut.csv");
    let text = std::fs::read_to_string(fixture("csvlog.csv")).expect("fixture");
    // Cut inside the quoted message of the multi-line statement (line 9).
    let cut = text.find("\tfrom orders").unwrap_or_else(|| {
        text.find("  from orders")
            .expect("the multi-line statement")
    });
    std::fs::write(&path, &text[..cut]).expect("write");
    let workload = read_log(&path, &mut |_, _| {}).expect("what came before");
    let count = find(&workload, "select count(*) from orders where customer = $1");
    assert_eq!(count.calls, 2);
}
