//! `pgdiag explain` end to end against the embedded PostgreSQL: safety (rollback), statement
//! handling, parameters, timeouts, cancellation, and a clear exit-2 error for each kind of bad
//! input.

use std::process::Command;
use std::time::{Duration, Instant};

use pgdiag::report::{ErrorKind, ExplainReport, SourceKind};

use crate::support::{database, fixture, pgdiag, pgdiag_command, run_with, temp_file};

const SHOP: &str = "
    CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric NOT NULL);
    INSERT INTO products SELECT g, 'product ' || g, g * 1.5 FROM generate_series(1, 2000) g;
    CREATE TABLE reviews (id bigint PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
    INSERT INTO reviews SELECT g, g % 2000 + 1, g % 5 + 1 FROM generate_series(1, 50000) g;
    CREATE TABLE audit (id serial PRIMARY KEY, note text);
    CREATE FUNCTION write_audit(n text) RETURNS int LANGUAGE sql AS
      $$ INSERT INTO audit (note) VALUES (n) RETURNING id $$;
    ANALYZE;
";

fn json_report(stdout: &str) -> ExplainReport {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("invalid JSON report ({e}):\n{stdout}"))
}

/// A fingerprint of every table's contents, to prove nothing changed.
async fn fingerprint(client: &tokio_postgres::Client) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for table in ["products", "reviews", "audit"] {
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t"
                ),
                &[],
            )
            .await
            .unwrap();
        out.push((table.to_owned(), row.get(0), row.get(1)));
    }
    out
}

#[tokio::test]
async fn explains_a_select_with_timings_and_tree() {
    let (url, _client) = database("select", SHOP).await;
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "-c",
        "SELECT p.name, avg(r.rating) FROM products p JOIN reviews r ON r.product_id = p.id WHERE p.id < 50 GROUP BY p.name ORDER BY 2 DESC",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout.contains("Seq Scan on public.reviews"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Execution"), "{}", run.stdout);
    // All 50,000 reviews read to keep the 2.5% of 49 products: a join-full-scan finding.
    assert!(run.stdout.contains("join-full-scan · #"), "{}", run.stdout);
    // Not a terminal: no colour codes.
    assert!(!run.stdout.contains('\x1b'), "{}", run.stdout);
    // Without a finding (the join keeps most reviews), the report says where the time goes.
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "-c",
        "SELECT p.name, r.rating FROM products p JOIN reviews r ON r.product_id = p.id WHERE p.id < 1500",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(run.stdout.contains("Where the time goes"), "{}", run.stdout);

    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        "-c",
        "SELECT count(*) FROM reviews WHERE rating = 5",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = json_report(&run.stdout);
    assert_eq!(report.schema_version, 1);
    let server = report.server.as_ref().unwrap();
    assert!(server.version_num >= 120000);
    assert!(server.target.starts_with("postgres@127.0.0.1:"));
    let st = &report.statements[0];
    assert!(st.analyzed);
    assert!(st.error.is_none());
    let summary = st.summary.as_ref().unwrap();
    let execution = summary.execution_time_ms.unwrap();
    assert!(execution > 0.0);
    let exclusive_sum: f64 = st
        .nodes
        .iter()
        .filter_map(|n| n.metrics.exclusive_time_ms)
        .sum();
    assert!(
        exclusive_sum <= execution * 1.05 + 0.5,
        "{exclusive_sum} vs {execution}"
    );
    let scan = st
        .nodes
        .iter()
        .find(|n| n.metrics.relation.as_deref() == Some("public.reviews"))
        .expect("a scan of reviews");
    assert!(
        scan.details.iter().any(|d| d.starts_with("Filter: ")),
        "{:?}",
        scan.details
    );
    // The raw EXPLAIN document is kept for other tools.
    assert!(st.plan.as_ref().unwrap().to_value().unwrap()[0]["Plan"]["Node Type"].is_string());
}

#[tokio::test]
async fn dml_is_rolled_back_and_changes_nothing() {
    let (url, client) = database("dml", SHOP).await;
    let before = fingerprint(&client).await;
    let sql = "
        INSERT INTO products SELECT g, 'new', 1 FROM generate_series(10001, 10100) g;
        UPDATE products SET price = price * 2 WHERE id <= 1000;
        DELETE FROM reviews WHERE rating = 1;
        WITH gone AS (DELETE FROM reviews WHERE product_id = 7 RETURNING *)
          INSERT INTO audit (note) SELECT 'deleted ' || id FROM gone;
        SELECT write_audit('from a function');
        MERGE INTO products p USING (SELECT 1 AS id) s ON p.id = s.id
          WHEN MATCHED THEN DELETE;
    ";
    let (_dir, path) = temp_file("dml.sql", sql.as_bytes());
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        path.to_str().unwrap(),
    ]);
    // The SELECT of a writing function runs READ ONLY (it writes nothing itself): its hidden
    // write fails instead of running; the rest is executed and rolled back.
    assert_eq!(run.code, 2, "{}", run.all_output());
    let report = json_report(&run.stdout);
    assert_eq!(report.statements.len(), 6);
    let hidden = &report.statements[4];
    let error = hidden.error.as_ref().expect("the hidden write fails");
    assert_eq!(error.sqlstate.as_deref(), Some("25006"), "{error:?}");
    let executed: Vec<_> = report.statements.iter().filter(|s| s.index != 5).collect();
    for st in &executed {
        assert!(st.analyzed, "statement {} was executed", st.index);
    }
    for st in &executed {
        assert!(
            st.rolled_back,
            "statement {} should be reported as rolled back",
            st.index
        );
    }
    let writes: Vec<bool> = executed.iter().map(|s| s.writes).collect();
    assert_eq!(writes, [true, true, true, true, true]);
    // The statements really ran (EXPLAIN ANALYZE): the UPDATE touched 1,000 rows...
    let update = &report.statements[1];
    let scanned: f64 = update
        .nodes
        .iter()
        .skip(1)
        .map(|n| n.metrics.actual_rows_total.unwrap_or(0.0))
        .fold(0.0, f64::max);
    assert_eq!(scanned, 1000.0);
    // ...and yet nothing changed.
    assert_eq!(fingerprint(&client).await, before);

    // Allowed to run read-write, the function's write runs too, and is rolled back as well.
    let run = pgdiag(&[
        "explain",
        "--allow-side-effects",
        "--dsn",
        &url,
        "--format",
        "json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = json_report(&run.stdout);
    assert!(
        report
            .statements
            .iter()
            .all(|s| s.analyzed && s.rolled_back)
    );
    assert!(report.statements.iter().all(|s| s.side_effects.is_empty()));
    assert_eq!(fingerprint(&client).await, before);
}

#[tokio::test]
async fn several_statements_each_reported_and_unexplainable_ones_refused() {
    let (url, client) = database("multi", SHOP).await;
    let sql = "SELECT count(*) FROM products;\nCREATE INDEX reviews_product_id ON reviews (product_id);\nVACUUM reviews;\n\nSELECT 1;";
    let (_dir, path) = temp_file("multi.sql", sql.as_bytes());
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    let report = json_report(&run.stdout);
    assert_eq!(report.statements.len(), 4);
    assert!(report.statements[0].error.is_none());
    let refused = report.statements[1].error.as_ref().unwrap();
    assert_eq!(refused.kind, ErrorKind::NotExplainable);
    assert!(
        refused
            .message
            .contains("`CREATE INDEX` cannot be explained"),
        "{}",
        refused.message
    );
    assert_eq!(
        report.statements[2].error.as_ref().unwrap().kind,
        ErrorKind::NotExplainable
    );
    assert_eq!(report.statements[3].line, Some(5));
    assert!(report.statements[3].error.is_none());
    assert!(
        run.stderr
            .contains("multi.sql:2: `CREATE INDEX` cannot be explained"),
        "{}",
        run.stderr
    );
    // The refused DDL was never sent.
    let indexes: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'reviews_product_id'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, 0);
}

#[tokio::test]
async fn parameters_bind_in_text_format_and_count_is_checked() {
    let (url, _client) = database("params", SHOP).await;
    let sql = "SELECT * FROM reviews WHERE product_id = $1 AND rating >= $2";
    let run = pgdiag(&[
        "explain", "--dsn", &url, "--format", "json", "-c", sql, "--param", "42", "--param", "4",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = json_report(&run.stdout);
    assert_eq!(report.statements[0].parameters, 2);
    let scan = &report.statements[0].nodes.last().unwrap();
    assert!(
        scan.details.iter().any(|d| d.contains("42")),
        "{:?}",
        scan.details
    );

    let run = pgdiag(&["explain", "--dsn", &url, "-c", sql, "--param", "42"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("the statement has 2 parameters ($1..$2) but 1 value was given"),
        "{}",
        run.stderr
    );
    let run = pgdiag(&["explain", "--dsn", &url, "-c", sql]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("but 0 values were given"),
        "{}",
        run.stderr
    );

    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "-c",
        sql,
        "--params-json",
        r#"[null, "5"]"#,
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());

    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "-c",
        sql,
        "--params-json",
        "{\"a\": 1}",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--params-json must be a JSON array"),
        "{}",
        run.stderr
    );

    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "-c",
        sql,
        "--param",
        "forty-two",
        "--param",
        "1",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("invalid input syntax for type integer"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn no_analyze_gives_the_estimated_plan_without_executing() {
    let (url, client) = database("noanalyze", SHOP).await;
    let before = fingerprint(&client).await;
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--no-analyze",
        "--format",
        "json",
        "-c",
        "DELETE FROM reviews WHERE rating = 3",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = json_report(&run.stdout);
    let st = &report.statements[0];
    assert!(!st.analyzed);
    assert!(!st.rolled_back);
    assert!(st.summary.as_ref().unwrap().execution_time_ms.is_none());
    assert!(
        st.nodes
            .iter()
            .all(|n| n.metrics.exclusive_time_ms.is_none())
    );
    assert!(st.nodes[0].total_cost.unwrap() > 0.0);
    assert_eq!(fingerprint(&client).await, before);

    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--no-analyze",
        "-c",
        "SELECT * FROM products WHERE id = 3",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout.contains("estimated plan (not executed)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Index Scan using products_pkey on public.products"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn syntax_errors_are_shown_like_psql_with_a_caret() {
    let (url, _client) = database("syntax", SHOP).await;
    let sql = "SELECT 1;\n\nSELECT id,\n       name\n  FROM products\n WHER id = 1;\n";
    let (_dir, path) = temp_file("broken.sql", sql.as_bytes());
    let run = pgdiag(&["explain", "--dsn", &url, path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    run.assert_no_panic();
    // file:line:column of the offending token, then psql's message, LINE excerpt and caret.
    assert!(
        run.stderr
            .contains("broken.sql:6:7: ERROR:  syntax error at or near \"id\" (SQLSTATE 42601)"),
        "{}",
        run.stderr
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("LINE 6:"))
        .expect("LINE 6 excerpt");
    assert_eq!(lines[at], "LINE 6:  WHER id = 1");
    let caret = lines[at + 1].find('^').unwrap();
    assert_eq!(&lines[at][caret..caret + 2], "id");
    // The statement before it was still explained.
    assert!(run.stdout.contains("Statement 1 of 2"), "{}", run.stdout);
}

#[tokio::test]
async fn unknown_table_and_column_errors_carry_hint_and_sqlstate() {
    let (url, _client) = database("unknown", SHOP).await;
    let run = pgdiag(&["explain", "--dsn", &url, "-c", "SELECT * FROM nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("relation \"nope\" does not exist (SQLSTATE 42P01)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("LINE 1: SELECT * FROM nope\n                      ^"),
        "{}",
        run.stderr
    );

    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        "-c",
        "SELECT nme FROM products",
    ]);
    assert_eq!(run.code, 2);
    let report = json_report(&run.stdout);
    let error = report.statements[0].error.as_ref().unwrap();
    assert_eq!(error.kind, ErrorKind::Server);
    assert_eq!(error.sqlstate.as_deref(), Some("42703"));
    assert_eq!((error.line, error.column), (Some(1), Some(8)));
    assert!(
        error.hint.as_deref().unwrap_or("").contains("name"),
        "{error:?}"
    );
    assert!(
        run.stderr.contains("HINT:  Perhaps you meant"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn statement_timeout_is_enforced_and_reported() {
    let (url, _client) = database("timeout", "").await;
    let started = Instant::now();
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--timeout",
        "300ms",
        "-c",
        "SELECT pg_sleep(20)",
    ]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr.contains("ran longer than the timeout of 300ms"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// Backends (other than ours) currently running the test's `cancel_me` query.
async fn active_cancel_me(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%cancel_me%' \
             AND state = 'active' AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn ctrl_c_cancels_the_query_on_the_server_and_exits_2() {
    let (url, client) = database("cancel", "").await;
    let mut cmd = pgdiag_command();
    cmd.args([
        "explain",
        "--dsn",
        &url,
        "-c",
        "SELECT pg_sleep(60) AS cancel_me",
    ]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait until the server runs it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let running = active_cancel_me(&client).await;
        if running > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the query never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(stderr.contains("cancelled on the server"), "{stderr}");
    // And the server is no longer running it.
    let running = active_cancel_me(&client).await;
    assert_eq!(running, 0);
}

#[test]
fn bad_files_get_one_clear_error_and_exit_2() {
    let missing = pgdiag(&[
        "explain",
        "--dsn",
        "postgresql://u@127.0.0.1:1/x",
        "/nonexistent/query.sql",
    ]);
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr.trim(),
        "pgdiag: error: cannot read /nonexistent/query.sql: no such file or directory"
    );

    let (_d1, empty) = temp_file("empty.sql", b"  \n-- just a comment\n");
    let run = pgdiag(&[
        "explain",
        "--dsn",
        "postgresql://u@127.0.0.1:1/x",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no SQL statement found"),
        "{}",
        run.stderr
    );

    let (_d2, binary) = temp_file(
        "garbage.sql",
        &[0x7f, b'E', b'L', b'F', 0, 0, 0xff, 0xfe, 0x01],
    );
    let run = pgdiag(&[
        "explain",
        "--dsn",
        "postgresql://u@127.0.0.1:1/x",
        binary.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is not a text file"), "{}", run.stderr);

    let (_d3, latin1) = temp_file("latin1.sql", b"SELECT '\xe9t\xe9'");
    let run = pgdiag(&[
        "explain",
        "--dsn",
        "postgresql://u@127.0.0.1:1/x",
        latin1.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is not UTF-8 text"), "{}", run.stderr);

    let dir = tempfile::tempdir().unwrap();
    let run = pgdiag(&[
        "explain",
        "--dsn",
        "postgresql://u@127.0.0.1:1/x",
        dir.path().to_str().unwrap(),
    ]);
    // A directory is read for its .sql files; one without any is an error that names it.
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        format!(
            "pgdiag: error: no .sql files found under {}",
            dir.path().display()
        )
    );

    for run in [&missing, &run] {
        run.assert_no_panic();
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    }
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let run = pgdiag(&["explain"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("required"), "{}", run.stderr);
    let run = pgdiag(&["explain", "--timeout", "soon", "-c", "SELECT 1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid duration"), "{}", run.stderr);
    let run = pgdiag(&["explain", "--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("--no-analyze"));
    let run = pgdiag(&["--version"]);
    assert_eq!(run.code, 0);
}

#[test]
fn stdin_input_is_read_with_dash() {
    let mut cmd = pgdiag_command();
    cmd.args(["explain", "--dsn", "postgresql://u@127.0.0.1:1/x", "-"]);
    let run = run_with(cmd, Some(b"-- nothing here\n"));
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("<stdin>: no SQL statement found"),
        "{}",
        run.stderr
    );
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let run = pgdiag(&[
        "explain",
        "--dsn",
        "postgresql://someone@127.0.0.1:1/shop?connect_timeout=3",
        "-c",
        "SELECT 1",
    ]);
    assert_eq!(run.code, 2);
    run.assert_no_panic();
    assert!(
        run.stderr
            .starts_with("pgdiag: error: cannot connect to someone@127.0.0.1:1/shop (from --dsn): connection refused"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("refused"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn wrong_password_is_refused_and_no_password_is_ever_printed() {
    let (url, client) = database("auth", "").await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let port = crate::support::pg().port();
    client
        .batch_execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shop_reader') THEN CREATE ROLE shop_reader LOGIN PASSWORD 'Right-Pa55word'; END IF; END $$")
        .await
        .unwrap();
    let wrong = format!("postgresql://shop_reader:Wr0ng-Pa55word@127.0.0.1:{port}/{db}");
    let run = pgdiag(&["explain", "--dsn", &wrong, "-c", "SELECT 1"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("password authentication failed for user \"shop_reader\""),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("SQLSTATE 28P01"), "{}", run.stderr);
    assert!(!run.all_output().contains("Wr0ng-Pa55word"));

    // The right password through PGPASSWORD, key=value DSN: works, and never shows.
    let mut cmd = pgdiag_command();
    cmd.env("PGPASSWORD", "Right-Pa55word");
    cmd.args([
        "explain",
        "--format",
        "json",
        "--dsn",
        &format!("host=127.0.0.1 port={port} user=shop_reader dbname={db}"),
        "-c",
        "SELECT 1",
    ]);
    let run = run_with(cmd, None);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(!run.all_output().contains("Right-Pa55word"));

    // Errors that echo connection strings must not leak it either.
    let run = pgdiag(&[
        "explain",
        "--dsn",
        "postgresql://u:Leak-Me-Not@127.0.0.1:notaport/x",
        "-c",
        "SELECT 1",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        !run.all_output().contains("Leak-Me-Not"),
        "{}",
        run.all_output()
    );
}

#[tokio::test]
async fn libpq_environment_and_database_url_are_honoured() {
    let (url, _client) = database("env", SHOP).await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let port = crate::support::pg().port().to_string();

    let mut cmd = pgdiag_command();
    cmd.envs([
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", &port),
        ("PGUSER", "postgres"),
        ("PGDATABASE", &db),
    ]);
    cmd.args(["explain", "-c", "SELECT count(*) FROM products"]);
    let run = run_with(cmd, None);
    assert_eq!(run.code, 0, "{}", run.all_output());

    let mut cmd = pgdiag_command();
    cmd.env("DATABASE_URL", &url);
    cmd.args(["explain", "-c", "SELECT count(*) FROM products"]);
    let run = run_with(cmd, None);
    assert_eq!(run.code, 0, "{}", run.all_output());

    // --dsn wins over a broken DATABASE_URL.
    let mut cmd = pgdiag_command();
    cmd.env("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing");
    cmd.args([
        "explain",
        "--dsn",
        &url,
        "-c",
        "SELECT p.name, r.rating FROM products p JOIN reviews r ON r.product_id = p.id WHERE p.id < 1500",
    ]);
    let run = run_with(cmd, None);
    assert_eq!(run.code, 0, "{}", run.all_output());
}

#[test]
fn offline_plan_analysis_needs_no_database() {
    for name in [
        "fixtures/plans/nested_loop_many_loops.json",
        "fixtures/plans/auto_explain.log",
        "fixtures/plans/psql_aligned.txt",
        "fixtures/plans/text_parallel_hash_join.txt",
        "fixtures/plans/text_auto_explain.log",
    ] {
        let run = pgdiag(&["explain", "--plan", fixture(name).to_str().unwrap()]);
        assert_eq!(run.code, 0, "{name}: {}", run.all_output());
        assert!(run.stdout.contains("Statement 1"), "{name}: {}", run.stdout);
    }
    let run = pgdiag(&[
        "explain",
        "--format",
        "json",
        "--plan",
        fixture("fixtures/plans/auto_explain.log").to_str().unwrap(),
    ]);
    let report = json_report(&run.stdout);
    assert!(report.server.is_none());
    assert!(report.statements.len() >= 2);
    assert!(
        report.statements.iter().all(|s| s.sql.is_some()),
        "auto_explain carries the query text"
    );

    let mut cmd = pgdiag_command();
    cmd.args(["explain", "--plan", "-"]);
    let saved = std::fs::read(fixture("fixtures/plans/cte.json")).unwrap();
    let run = run_with(cmd, Some(&saved));
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(run.stdout.contains("CTE Scan"), "{}", run.stdout);

    let (_d, bad) = temp_file("bad.json", b"[{\"Plan\": {\"Node Type\": \"Seq Scan\",}]");
    let run = pgdiag(&["explain", "--plan", bad.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    run.assert_no_panic();
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // A text plan that cannot be read names its line.
    let (_d, bad_text) = temp_file(
        "bad.txt",
        b"EXPLAIN\n  ->  Seq Scan on t  (cost=0.00..1.00 rows=1 width=4)\n",
    );
    let run = pgdiag(&["explain", "--plan", bad_text.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    run.assert_no_panic();
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    let (_d, not_plan) = temp_file("notplan.json", b"{\"hello\": \"world\"}");
    let run = pgdiag(&["explain", "--plan", not_plan.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    run.assert_no_panic();
}

#[test]
fn color_follows_no_color_and_the_flag() {
    let plan = fixture("fixtures/plans/seq_scan_filter.json");
    let run = pgdiag(&[
        "explain",
        "--color",
        "always",
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert!(run.stdout.contains("\x1b["), "{}", run.stdout);
    let mut cmd = pgdiag_command();
    cmd.env("NO_COLOR", "1");
    cmd.args(["explain", "--plan", plan.to_str().unwrap()]);
    let run = run_with(cmd, None);
    assert!(!run.stdout.contains("\x1b["));

    // CLICOLOR_FORCE colours a pipe; NO_COLOR still wins over it; --color never over both.
    let forced = |extra: &[(&str, &str)], flags: &[&str]| {
        let mut cmd = pgdiag_command();
        cmd.env("CLICOLOR_FORCE", "1");
        for (key, value) in extra {
            cmd.env(key, value);
        }
        cmd.args(["explain", "--plan", plan.to_str().unwrap()]);
        cmd.args(flags);
        run_with(cmd, None)
    };
    let run = forced(&[], &[]);
    assert!(
        run.stdout.contains("\x1b["),
        "CLICOLOR_FORCE: {}",
        run.stdout
    );
    let run = forced(&[("NO_COLOR", "1")], &[]);
    assert!(!run.stdout.contains("\x1b["), "NO_COLOR: {}", run.stdout);
    let run = forced(&[], &["--color", "never"]);
    assert!(
        !run.stdout.contains("\x1b["),
        "--color never: {}",
        run.stdout
    );
}

/// `--color` is one flag every command takes, before or after the command's name.
#[test]
fn every_command_takes_color() {
    let plan = fixture("fixtures/plans/seq_scan_filter.json");
    let plan = plan.to_str().unwrap();
    let run = pgdiag(&["--color", "never", "explain", "--plan", plan]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    for args in [
        &["suggest", "--color", "never", "--help"][..],
        &["bench", "--color", "always", "--help"],
        &["demo", "--color", "auto", "--help"],
        &["check", "--color", "never", "--help"],
        &["baseline", "--color", "never", "--help"],
        &["top", "--color", "never", "--help"],
        &["indexes", "--color", "never", "--help"],
        &["rules", "--color", "never"],
    ] {
        let run = pgdiag(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.all_output());
    }
    let run = pgdiag(&["rules", "--color", "sometimes"]);
    assert_eq!(run.code, 2, "{}", run.all_output());
}

/// On a real terminal (a pty from `script`), auto colours, unless TERM is dumb: then neither
/// colour nor any other escape sequence (no progress spinner) is written.
#[test]
fn a_dumb_terminal_gets_no_escape_sequences() {
    let plan = fixture("fixtures/plans/seq_scan_filter.json");
    let on_a_pty = |term: &str| {
        let mut cmd = Command::new("script");
        let line = format!(
            "{} explain --plan {}",
            env!("CARGO_BIN_EXE_pgdiag"),
            plan.to_str().unwrap()
        );
        cmd.args(["-qec", &line, "/dev/null"]);
        cmd.env_remove("NO_COLOR");
        cmd.env_remove("CLICOLOR");
        cmd.env_remove("CLICOLOR_FORCE");
        cmd.env("TERM", term);
        cmd.env("COLUMNS", "120");
        cmd.env("CI", "true");
        run_with(cmd, None)
    };
    let run = on_a_pty("xterm-256color");
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout.contains("\x1b["),
        "a colour terminal: {}",
        run.stdout
    );
    // Under CI too (anstream takes `CI` for a colour terminal): dumb wins.
    let run = on_a_pty("dumb");
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(run.stdout.contains("Seq Scan"), "{}", run.stdout);
    assert!(!run.stdout.contains('\x1b'), "TERM=dumb: {:?}", run.stdout);
}

/// The project's own query files carry `-- pgdiag: params` comments; explain honours them, as
/// suggest and baseline do, file by file or for a whole directory.
#[tokio::test]
async fn seed_queries_explain_with_their_params_comments_one_file_or_the_directory() {
    let (url, _client) = database(
        "seedq",
        &format!("{}\nANALYZE;", include_str!("../fixtures/seed/schema.sql")),
    )
    .await;
    let product_page = fixture("fixtures/seed/queries/product_page.sql");
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        product_page.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = json_report(&run.stdout);
    assert_eq!(report.source.kind, SourceKind::SqlFile);
    assert_eq!(
        report.source.path.as_deref(),
        product_page.to_str(),
        "one file: the report names it"
    );
    assert_eq!(report.statements.len(), 1);
    assert_eq!(report.statements[0].parameters, 1);
    assert_eq!(report.statements[0].source, None);

    let queries = fixture("fixtures/seed/queries");
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        queries.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = json_report(&run.stdout);
    assert_eq!(
        report.source.path, None,
        "several files: each statement names its own"
    );
    let seen: Vec<(usize, String, Option<usize>, usize)> = report
        .statements
        .iter()
        .map(|s| {
            let source = s.source.as_deref().unwrap();
            let name = std::path::Path::new(source).file_name().unwrap();
            (
                s.index,
                name.to_string_lossy().into_owned(),
                s.line,
                s.parameters,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, "category_listing.sql".into(), Some(2), 1),
            (2, "product_page.sql".into(), Some(2), 1),
            (3, "recommendations.sql".into(), Some(2), 1),
        ]
    );

    let run = pgdiag(&["explain", "--dsn", &url, queries.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let title = format!("Statement 2 of 3 · {}:2", product_page.display());
    assert!(run.stdout.contains(&title), "{title}\n{}", run.stdout);
}

#[tokio::test]
async fn several_files_and_directories_in_the_order_given() {
    let (url, _client) = database("severalf", SHOP).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("more")).unwrap();
    let first = dir.path().join("z_first.sql");
    std::fs::write(&first, "SELECT count(*) FROM reviews").unwrap();
    std::fs::write(
        dir.path().join("more/b.sql"),
        "SELECT count(*) FROM products;\nSELECT * FROM no_such_table",
    )
    .unwrap();
    std::fs::write(dir.path().join("more/a.sql"), "SELECT 1").unwrap();
    let more = dir.path().join("more");
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        first.to_str().unwrap(),
        more.to_str().unwrap(),
    ]);
    // The unknown table fails its statement (exit 2); every other statement is explained.
    assert_eq!(run.code, 2, "{}", run.all_output());
    let report = json_report(&run.stdout);
    let order: Vec<(usize, String, Option<usize>, bool)> = report
        .statements
        .iter()
        .map(|s| {
            let source = s.source.as_deref().unwrap();
            let name = source.strip_prefix(&format!("{}/", dir.path().display()));
            (s.index, name.unwrap().to_owned(), s.line, s.error.is_none())
        })
        .collect();
    assert_eq!(
        order,
        [
            (1, "z_first.sql".into(), Some(1), true),
            (2, "more/a.sql".into(), Some(1), true),
            (3, "more/b.sql".into(), Some(1), true),
            (4, "more/b.sql".into(), Some(2), false),
        ]
    );
    // The failing statement is located in its own file.
    let location = format!("{}:2:", more.join("b.sql").display());
    assert!(run.stderr.contains(&location), "{location}\n{}", run.stderr);
}

/// A statement's `-- pgdiag: params` comment gives its values; `--param` those of the statements
/// without one.
#[tokio::test]
async fn params_comments_first_then_the_command_line() {
    let (url, _client) = database("paramsc", SHOP).await;
    let (_dir, path) = temp_file(
        "two.sql",
        b"-- pgdiag: params 42\nSELECT * FROM reviews WHERE product_id = $1;\nSELECT * FROM reviews WHERE product_id = $1",
    );
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        path.to_str().unwrap(),
        "--param",
        "7",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = json_report(&run.stdout);
    let bound = |i: usize, value: &str| {
        report.statements[i]
            .nodes
            .iter()
            .flat_map(|n| &n.details)
            .any(|d| d.contains(&format!("product_id = {value}")))
    };
    assert!(bound(0, "42"), "{:?}", report.statements[0].nodes);
    assert!(bound(1, "7"), "{:?}", report.statements[1].nodes);
    assert_eq!(report.statements[1].parameters, 1);

    // Without --param the statement without a comment has no value: the usual clear error.
    let run = pgdiag(&["explain", "--dsn", &url, path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr
            .contains("two.sql:3: the statement has 1 parameter ($1) but 0 values were given"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn stdin_and_inline_sql_honour_params_comments() {
    let (url, _client) = database("stdinc", SHOP).await;
    let sql = "-- pgdiag: params 42\nSELECT * FROM reviews WHERE product_id = $1";
    let mut cmd = pgdiag_command();
    cmd.args(["explain", "--dsn", &url, "--format", "json", "-"]);
    let run = run_with(cmd, Some(sql.as_bytes()));
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = json_report(&run.stdout);
    assert_eq!(report.source.kind, SourceKind::Stdin);
    assert_eq!(report.statements[0].parameters, 1);
    assert_eq!(report.statements[0].line, Some(2));

    // (`--command=`: a value starting with `--` would otherwise read as an option.)
    let inline = format!("--command={sql}");
    let run = pgdiag(&["explain", "--dsn", &url, "--format", "json", &inline]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = json_report(&run.stdout);
    assert_eq!(report.source.kind, SourceKind::Command);
    assert_eq!(report.statements[0].parameters, 1);
    assert_eq!(report.statements[0].source, None);
}
