//! Diagnosis end to end on the embedded PostgreSQL: a schema that provokes a rule for real, the
//! finding in text and JSON, `--fail-on` exit codes, and `--verbose` near-misses.

use pgdiag::diagnose::Severity;
use pgdiag::report::ExplainReport;

use crate::support::{database, fixture, pgdiag, pgdiag_command, run_with, temp_file};

const BIG: &str = "
    CREATE TABLE events (id bigint PRIMARY KEY, account_id int NOT NULL, kind text NOT NULL);
    INSERT INTO events SELECT g, g % 5000, 'k' || (g % 7) FROM generate_series(1, 1000000) g;
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
        run.stdout.contains("see: pgdiag rules seq-scan"),
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

fn findings_of(stdout: &str) -> Vec<String> {
    let report: ExplainReport = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("invalid JSON report ({e}):\n{stdout}"));
    report.statements[0]
        .findings
        .iter()
        .map(|f| f.rule.to_string())
        .collect()
}

#[tokio::test]
async fn small_work_mem_spills_and_low_jit_thresholds_show_jit_overhead() {
    let (url, _client) = database("diagmem", BIG).await;
    // PGOPTIONS reaches the server like libpq's: these settings hold for pgdiag's session only.
    let mut cmd = pgdiag_command();
    cmd.env(
        "PGOPTIONS",
        "-c work_mem=64kB -c max_parallel_workers_per_gather=0",
    );
    cmd.args([
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        "-c",
        "SELECT * FROM events ORDER BY kind, account_id",
    ]);
    let run = run_with(cmd, None);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let rules = findings_of(&run.stdout);
    assert!(rules.contains(&"disk-spill".to_string()), "{rules:?}");
    assert!(rules.contains(&"unindexed-sort".to_string()), "{rules:?}");

    let mut cmd = pgdiag_command();
    cmd.env(
        "PGOPTIONS",
        "-c jit=on -c jit_above_cost=0 -c jit_inline_above_cost=0 -c jit_optimize_above_cost=0 -c max_parallel_workers_per_gather=0",
    );
    cmd.args(["explain", "--dsn", &url, "--format", "json", "-c", "SELECT kind, count(*), sum(account_id * 2 + 1) FROM kinds k JOIN events e ON e.kind = k.name WHERE e.id < 20000 GROUP BY kind"]);
    let run = run_with(cmd, None);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: ExplainReport = serde_json::from_str(&run.stdout).unwrap();
    let summary = report.statements[0].summary.as_ref().unwrap();
    assert!(
        summary.jit.is_some(),
        "JIT did not run: {:?}",
        summary.settings
    );
    let rules = findings_of(&run.stdout);
    assert!(rules.contains(&"jit-overhead".to_string()), "{rules:?}");
}

#[tokio::test]
async fn pgdiag_toml_and_flags_change_thresholds_and_disable_rules() {
    let (url, _client) = database("diagconf", BIG).await;
    let sql = "SELECT * FROM events WHERE account_id = 42";
    // Raise the "large table" bar above the table's size: no seq-scan finding, and -v says why.
    let (_dir, config) = temp_file(
        "pgdiag.toml",
        b"[diagnose.thresholds]\nseq_scan_min_rows = 5000000\n",
    );
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
        "-c",
        sql,
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(!findings_of(&run.stdout).contains(&"seq-scan".to_string()));

    // The flag wins over the file.
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--config",
        config.to_str().unwrap(),
        "--threshold",
        "seq_scan_min_rows=1000",
        "--format",
        "json",
        "-c",
        sql,
    ]);
    assert!(findings_of(&run.stdout).contains(&"seq-scan".to_string()));

    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--disable-rule",
        "seq-scan",
        "--format",
        "json",
        "-c",
        sql,
    ]);
    assert!(!findings_of(&run.stdout).contains(&"seq-scan".to_string()));

    // Bad settings are usage errors: exit 2, one clear line.
    let (_dir2, bad) = temp_file("pgdiag.toml", b"[diagnose.thresholds]\nseq_scan_rows = 1\n");
    let run = pgdiag(&[
        "explain",
        "--config",
        bad.to_str().unwrap(),
        "--plan",
        fixture("fixtures/plans/jit.json").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown field `seq_scan_rows`"),
        "{}",
        run.stderr
    );
    let run = pgdiag(&[
        "explain",
        "--disable-rule",
        "no-such-rule",
        "--plan",
        fixture("fixtures/plans/jit.json").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    // clap refuses it and lists the rule ids.
    assert!(
        run.stderr
            .contains("invalid value 'no-such-rule' for '--disable-rule <RULE>'")
            && run.stderr.contains("seq-scan"),
        "{}",
        run.stderr
    );
}

/// Customers, their orders and the orders' items, each joined to the next through a foreign key
/// with no index on its referencing side (only the primary keys are indexed).
const FK_CHAIN: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 2000) g;
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id),
                         created_at timestamptz NOT NULL);
    INSERT INTO orders SELECT g, 1 + g % 2000, now() - g * interval '1 minute'
      FROM generate_series(1, 20000) g;
    CREATE TABLE order_items (id bigint PRIMARY KEY, order_id int NOT NULL REFERENCES orders (id),
                              sku text NOT NULL, qty int NOT NULL);
    INSERT INTO order_items SELECT g, 1 + g % 20000, 'sku' || g % 1000, 1 + g % 5
      FROM generate_series(1, 200000) g;
    ANALYZE;
";

fn join_findings<'a>(report: &'a ExplainReport, rule: &str) -> Vec<&'a pgdiag::diagnose::Finding> {
    report.statements[0]
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| &f.finding)
        .collect()
}

#[tokio::test]
async fn a_join_through_an_unindexed_foreign_key_is_found_and_the_key_named() {
    let (url, client) = database("diagfk", FK_CHAIN).await;
    let explain = |sql: &str| {
        let run = pgdiag(&["explain", "--dsn", &url, "--format", "json", "-c", sql]);
        assert_eq!(run.code, 0, "{}", run.all_output());
        serde_json::from_str::<ExplainReport>(&run.stdout).unwrap()
    };

    // The big table is the probe side of a hash join that keeps one customer's few items.
    let probe = "SELECT o.id, o.created_at, oi.sku, oi.qty FROM orders o \
                 JOIN order_items oi ON oi.order_id = o.id WHERE o.customer_id = 77";
    let report = explain(probe);
    let found = join_findings(&report, "join-full-scan");
    let items = found
        .iter()
        .find(|f| f.relation.as_deref() == Some("public.order_items"))
        .unwrap_or_else(|| panic!("no join-full-scan on order_items: {found:?}"));
    assert!(
        items.summary.contains(
            "foreign key order_items_order_id_fkey (order_id) → public.orders (id) has no index on order_items"
        ),
        "{}",
        items.summary
    );
    assert!(items.time_at_stake_ms > 0.0, "{items:?}");
    assert!(
        items
            .advice
            .contains(r#"index the join key of public.order_items ("order_id")"#),
        "{}",
        items.advice
    );
    assert_eq!(items.expressions, ["(oi.order_id = o.id)"]);
    // The join finding names the key: no second, low-severity finding on the same scan.
    assert!(join_findings(&report, "unindexed-foreign-key").is_empty());

    // A three-table chain: every large table read in full is found (orders through customers'
    // key, order_items through orders').
    let chain = "SELECT c.name, o.id, oi.sku FROM customers c \
                 JOIN orders o ON o.customer_id = c.id \
                 JOIN order_items oi ON oi.order_id = o.id WHERE c.name = 'c77'";
    let report = explain(chain);
    let mut relations: Vec<&str> = join_findings(&report, "join-full-scan")
        .iter()
        .map(|f| f.relation.as_deref().unwrap())
        .collect();
    relations.sort();
    assert_eq!(
        relations,
        ["public.order_items", "public.orders"],
        "{report:?}"
    );
    for f in join_findings(&report, "join-full-scan") {
        assert!(f.summary.contains("has no index on"), "{}", f.summary);
    }

    // A join that needs every item: no join finding, but the unindexed key is named, low.
    let report = explain(
        "SELECT count(*) FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.customer_id > 10",
    );
    assert!(
        join_findings(&report, "join-full-scan").is_empty(),
        "{report:?}"
    );
    let fk = join_findings(&report, "unindexed-foreign-key");
    assert_eq!(fk.len(), 1, "{report:?}");
    assert_eq!(fk[0].severity, Severity::Info);
    assert_eq!(fk[0].relation.as_deref(), Some("public.order_items"));

    // Indexed (a composite whose leading column is the key's counts too), the key is no longer
    // named, and the planner fetches the items through the index: no join finding left there.
    client
        .batch_execute("CREATE INDEX ON order_items (order_id, sku); ANALYZE order_items;")
        .await
        .unwrap();
    let report = explain(probe);
    assert!(
        !join_findings(&report, "join-full-scan")
            .iter()
            .any(|f| f.relation.as_deref() == Some("public.order_items")),
        "{report:?}"
    );
    let keys = pgdiag::pg::catalog::unindexed_foreign_keys(
        &client,
        &["order_items".into(), "orders".into(), "customers".into()],
    )
    .await
    .unwrap();
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["orders_customer_id_fkey"]);
}

#[tokio::test]
async fn a_multi_column_foreign_key_is_covered_by_an_index_on_its_columns_in_any_order() {
    let (_url, client) = database(
        "diagfk2",
        "CREATE TABLE parent (a int, b int, PRIMARY KEY (a, b));
         CREATE TABLE child (id int PRIMARY KEY, a int, b int, FOREIGN KEY (a, b) REFERENCES parent);
         CREATE TABLE other (id int PRIMARY KEY, a int, b int, CONSTRAINT other_ab FOREIGN KEY (a, b) REFERENCES parent);
         CREATE INDEX ON child (b, a, id);
         CREATE INDEX ON other (a);",
    )
    .await;
    let keys = pgdiag::pg::catalog::unindexed_foreign_keys(
        &client,
        &["parent".into(), "child".into(), "other".into()],
    )
    .await
    .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert_eq!(key.name, "other_ab");
    assert_eq!(
        (key.table.schema.as_str(), key.table.name.as_str()),
        ("public", "other")
    );
    assert_eq!(key.columns, ["a", "b"]);
    assert_eq!(key.referenced.name, "parent");
    assert_eq!(key.referenced_columns, ["a", "b"]);
}
