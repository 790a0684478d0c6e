//! The CI gate end to end on the embedded PostgreSQL: take a baseline, break the plan by dropping
//! an index, and check that `pgdiag check` fails naming the query, the lost index and the new
//! sequential scan — in every output format — then recovers, accepts changes, and reports planner
//! setting drift.

use std::path::Path;

use pgdiag::gate::{Baseline, ChangeKind, CheckReport, QueryStatus};
use pgdiag::schema::Document;
use serde::Deserialize;

use crate::support::{Run, assert_matches_schema, database, pgdiag_command, run_with};

const SCHEMA: &str = "
    CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO products SELECT g, 'p' || g FROM generate_series(1, 5000) g;
    CREATE TABLE reviews (id bigint PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
    INSERT INTO reviews SELECT g, g % 5000 + 1, g % 5 + 1 FROM generate_series(1, 200000) g;
    CREATE INDEX reviews_product_id ON reviews (product_id);
    ANALYZE;
";

/// The query files a team would commit: one with a parameter directive, one with two statements.
fn write_queries(dir: &Path) {
    std::fs::create_dir_all(dir.join("pages")).unwrap();
    std::fs::write(
        dir.join("pages/product.sql"),
        "-- the product page\n-- pgdiag: params 42\nSELECT count(*), avg(rating) FROM reviews WHERE product_id = $1;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("listing.sql"),
        "SELECT id, name FROM products ORDER BY id LIMIT 20;\n\nSELECT * FROM products WHERE id = 7;\n",
    )
    .unwrap();
    std::fs::write(dir.join("README.md"), "not a query file").unwrap();
}

/// `pgdiag ARGS` run from `cwd` (so recorded paths are relative, as in a repository).
fn pgdiag_in(cwd: &Path, envs: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = pgdiag_command();
    cmd.current_dir(cwd).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run_with(cmd, None)
}

fn check_json(cwd: &Path, url: &str, envs: &[(&str, &str)]) -> (i32, CheckReport) {
    let run = pgdiag_in(cwd, envs, &["check", "--dsn", url, "--format", "json"]);
    run.assert_no_panic();
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("invalid check report ({e}):\n{}", run.all_output()));
    (run.code, report)
}

#[derive(Debug, Deserialize)]
struct Testsuites {
    #[serde(rename = "@tests")]
    tests: usize,
    #[serde(rename = "@failures")]
    failures: usize,
    testsuite: Vec<Testsuite>,
}

#[derive(Debug, Deserialize)]
struct Testsuite {
    #[serde(rename = "@name")]
    name: String,
    testcase: Vec<Testcase>,
}

#[derive(Debug, Deserialize)]
struct Testcase {
    #[serde(rename = "@name")]
    name: String,
    #[serde(rename = "@classname")]
    classname: String,
    failure: Option<Failure>,
}

#[derive(Debug, Deserialize)]
struct Failure {
    #[serde(rename = "@message")]
    message: String,
}

#[tokio::test]
async fn dropping_an_index_fails_the_gate_and_recreating_it_passes() {
    let (url, client) = database("gate", SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    write_queries(repo.path());

    let run = pgdiag_in(repo.path(), &[], &["baseline", ".", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout.contains("recorded 3 queries from 2 files"),
        "{}",
        run.stdout
    );
    let text = std::fs::read_to_string(repo.path().join("pgdiag-baseline.json")).unwrap();
    assert!(text.ends_with("}\n"));
    assert_matches_schema(Document::Baseline, &text);
    let baseline: Baseline = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = baseline.queries.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(
        ids,
        ["listing.sql#1", "listing.sql#2", "pages/product.sql#1"]
    );
    let product = &baseline.queries[2];
    assert_eq!(product.params, [Some("42".to_string())]);
    assert!(
        product
            .plan
            .as_ref()
            .unwrap()
            .indexes
            .contains(&"reviews_product_id".to_string())
    );
    assert!(
        baseline.settings.contains_key("work_mem")
            && baseline.settings.contains_key("enable_seqscan")
    );

    // Unchanged database: the gate passes.
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 0, "{report:?}");
    assert_eq!(report.summary.regressed, 0);
    assert_eq!(report.summary.total, 3);

    // The regression: the index is gone, the product page now scans reviews.
    client
        .batch_execute("DROP INDEX reviews_product_id")
        .await
        .unwrap();
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 1);
    let product = report
        .queries
        .iter()
        .find(|q| q.id == "pages/product.sql#1")
        .unwrap();
    assert_eq!(product.status, QueryStatus::Regressed);
    let kinds: Vec<ChangeKind> = product.regressions.iter().map(|c| c.kind).collect();
    assert!(kinds.contains(&ChangeKind::IndexNoLongerUsed), "{kinds:?}");
    assert!(kinds.contains(&ChangeKind::NewSeqScan), "{kinds:?}");
    let messages: Vec<&str> = product
        .regressions
        .iter()
        .map(|c| c.message.as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("reviews_product_id")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("public.reviews")),
        "{messages:?}"
    );
    assert_eq!(report.summary.regressed, 1);

    // Text: names the query and shows the plan diff.
    let run = pgdiag_in(repo.path(), &[], &["check", "--dsn", &url]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert!(run.stdout.contains("pages/product.sql#1"), "{}", run.stdout);
    assert!(run.stdout.contains("reviews_product_id"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Seq Scan on public.reviews"),
        "{}",
        run.stdout
    );

    // JUnit: the shape CI dashboards read.
    let run = pgdiag_in(
        repo.path(),
        &[],
        &["check", "--dsn", &url, "--format", "junit"],
    );
    assert_eq!(run.code, 1);
    let junit: Testsuites = quick_xml::de::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("invalid JUnit ({e}):\n{}", run.stdout));
    assert_eq!((junit.tests, junit.failures), (3, 1));
    assert_eq!(junit.testsuite.len(), 1);
    assert!(!junit.testsuite[0].name.is_empty());
    let failed: Vec<&Testcase> = junit.testsuite[0]
        .testcase
        .iter()
        .filter(|t| t.failure.is_some())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].name, "pages/product.sql#1");
    assert_eq!(failed[0].classname, "pages/product.sql");
    assert!(!failed[0].failure.as_ref().unwrap().message.is_empty());

    // GitHub annotations, chosen automatically on GitHub Actions, point at the query file's line.
    let run = pgdiag_in(
        repo.path(),
        &[("GITHUB_ACTIONS", "true")],
        &["check", "--dsn", &url],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("::error file=pages/product.sql,line=3")),
        "{}",
        run.stdout
    );

    // Markdown for a pull-request comment; under GitHub Actions the job summary gets it too,
    // appended to what the job wrote before.
    let summary = repo.path().join("step_summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let run = pgdiag_in(
        repo.path(),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
        &["check", "--dsn", &url, "--format", "markdown"],
    );
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert!(
        run.stdout
            .starts_with("### ❌ pgdiag check: FAIL: 3 regressions in 1 query"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("| new seq scan |"), "{}", run.stdout);
    assert!(run.stdout.contains("```diff"), "{}", run.stdout);
    let written = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(written, format!("earlier step\n{}\n", run.stdout));

    // Fixed again: the gate passes.
    client
        .batch_execute("CREATE INDEX reviews_product_id ON reviews (product_id)")
        .await
        .unwrap();
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 0, "{report:?}");
}

#[tokio::test]
async fn planner_setting_drift_is_reported_and_update_accepts_changes() {
    let (url, client) = database("gatedrift", SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    write_queries(repo.path());
    let run = pgdiag_in(
        repo.path(),
        &[],
        &[
            "baseline",
            "pages",
            "listing.sql",
            "--dsn",
            &url,
            "--out",
            "base.json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());

    // A different random_page_cost for pgdiag's session: reported, and costs become advisory.
    let envs = [("PGOPTIONS", "-c random_page_cost=1.5")];
    let run = pgdiag_in(
        repo.path(),
        &envs,
        &[
            "check",
            "--dsn",
            &url,
            "--baseline",
            "base.json",
            "--format",
            "json",
        ],
    );
    run.assert_no_panic();
    let report: CheckReport = serde_json::from_str(&run.stdout).unwrap();
    let changed: Vec<&str> = report
        .environment
        .settings_changed
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(changed, ["random_page_cost"]);
    assert!(report.environment.cost_advisory);
    let run = pgdiag_in(
        repo.path(),
        &envs,
        &["check", "--dsn", &url, "--baseline", "base.json"],
    );
    assert!(run.stdout.contains("random_page_cost"), "{}", run.stdout);

    // An accepted change: drop the index, update the baseline, and the gate passes again.
    client
        .batch_execute("DROP INDEX reviews_product_id")
        .await
        .unwrap();
    let run = pgdiag_in(
        repo.path(),
        &[],
        &["check", "--dsn", &url, "--baseline", "base.json"],
    );
    assert_eq!(run.code, 1, "{}", run.all_output());
    let run = pgdiag_in(
        repo.path(),
        &[],
        &[
            "check",
            "--dsn",
            &url,
            "--baseline",
            "base.json",
            "--update",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stderr.contains("accepted: 1 regressed"),
        "{}",
        run.stderr
    );
    let run = pgdiag_in(
        repo.path(),
        &[],
        &["check", "--dsn", &url, "--baseline", "base.json"],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
}

#[tokio::test]
async fn bad_baselines_and_inputs_exit_2_with_a_clear_message() {
    let (url, _client) = database("gatebad", SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    write_queries(repo.path());

    let run = pgdiag_in(repo.path(), &[], &["check", "--dsn", &url, "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("cannot read baseline pgdiag-baseline.json: no such file"),
        "{}",
        run.stderr
    );

    std::fs::write(
        repo.path().join("pgdiag-baseline.json"),
        "{\"schema_version\": 1, \"queries\": [",
    )
    .unwrap();
    let run = pgdiag_in(repo.path(), &[], &["check", "--dsn", &url, "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("pgdiag-baseline.json is not a valid baseline"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    std::fs::write(
        repo.path().join("pgdiag-baseline.json"),
        "{\"schema_version\": 99}",
    )
    .unwrap();
    let run = pgdiag_in(repo.path(), &[], &["check", "--dsn", &url, "."]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("schema version 99"), "{}", run.stderr);

    let run = pgdiag_in(repo.path(), &[], &["baseline", "nowhere", "--dsn", &url]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot read nowhere"), "{}", run.stderr);

    let empty = tempfile::tempdir().unwrap();
    let run = pgdiag_in(empty.path(), &[], &["baseline", ".", "--dsn", &url]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no .sql files found"), "{}", run.stderr);

    // Queries are recorded by file name, which standard input does not have.
    let run = pgdiag_in(repo.path(), &[], &["baseline", "-", "--dsn", &url]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "standard input (-) cannot be read here: a baseline names each query by its file"
        ),
        "{}",
        run.stderr
    );

    // A query without its parameter values is recorded with a clear error, not a crash.
    std::fs::write(
        repo.path().join("noparams.sql"),
        "SELECT * FROM reviews WHERE product_id = $1",
    )
    .unwrap();
    let run = pgdiag_in(
        repo.path(),
        &[],
        &[
            "baseline",
            "noparams.sql",
            "--dsn",
            &url,
            "--out",
            "np.json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    let baseline: Baseline =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join("np.json")).unwrap())
            .unwrap();
    assert!(
        baseline.queries[0]
            .error
            .as_deref()
            .unwrap()
            .contains("-- pgdiag: params"),
        "{:?}",
        baseline.queries[0]
    );
}

#[tokio::test]
async fn analyze_baselines_record_timings_and_findings_and_toml_ignores_queries() {
    let (url, client) = database("gateanalyze", SCHEMA).await;
    client
        .batch_execute("DROP INDEX reviews_product_id")
        .await
        .unwrap();
    let repo = tempfile::tempdir().unwrap();
    write_queries(repo.path());
    let run = pgdiag_in(
        repo.path(),
        &[],
        &["baseline", ".", "--dsn", &url, "--analyze", "--runs", "3"],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(run.stdout.contains("EXPLAIN ANALYZE × 3"), "{}", run.stdout);
    let text = std::fs::read_to_string(repo.path().join("pgdiag-baseline.json")).unwrap();
    assert_matches_schema(Document::Baseline, &text);
    let baseline: Baseline = serde_json::from_str(&text).unwrap();
    let product = baseline
        .queries
        .iter()
        .find(|q| q.id == "pages/product.sql#1")
        .unwrap();
    let plan = product.plan.as_ref().unwrap();
    let timing = plan.timing.as_ref().expect("timing with --analyze");
    assert_eq!(timing.runs, 3);
    assert!(timing.min_ms <= timing.median_ms && timing.median_ms <= timing.max_ms);
    assert!(
        plan.findings.iter().any(|f| f.rule == "seq-scan"),
        "{:?}",
        plan.findings
    );

    // Checking an analysed baseline analyses again, and finds the same plans.
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 0, "{report:?}");

    // pgdiag.toml: the product page is ignored, so an unrelated change there cannot fail the gate.
    std::fs::write(
        repo.path().join("pgdiag.toml"),
        "[check]\nignore = [\"pages/*\"]\n",
    )
    .unwrap();
    client
        .batch_execute("CREATE INDEX reviews_product_id ON reviews (product_id)")
        .await
        .unwrap();
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 0, "{report:?}");
    let product = report
        .queries
        .iter()
        .find(|q| q.id == "pages/product.sql#1")
        .unwrap();
    assert_eq!(product.status, QueryStatus::Ignored);
    assert_eq!(report.summary.ignored, 1);
}

/// 300k orders; `amount` has no index, so `ORDER BY amount DESC LIMIT 10` is a top-N sort of the
/// whole table (the issue's query), and the customer lookup and the key range use indexes.
const NOISE_SCHEMA: &str = "
    CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric NOT NULL,
                         note text NOT NULL);
    INSERT INTO orders
    SELECT g, (g::bigint * 7919) % 50000, (g % 1000) / 10.0, md5(g::text)
    FROM generate_series(1, 300000) g;
    CREATE INDEX orders_customer_id ON orders (customer_id);
    CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL);
    INSERT INTO tags SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
    DO $$ BEGIN
      FOR i IN 1..5 LOOP
        EXECUTE format('CREATE TABLE j%s (id int PRIMARY KEY, ref int NOT NULL)', i);
        EXECUTE format('INSERT INTO j%s SELECT g, g FROM generate_series(1, 1000) g', i);
      END LOOP;
    END $$;
    ANALYZE;
";

/// Four queries: the top-N sort, an index lookup, a query whose small top-N sort (of `tags`) is a
/// few percent of its time next to a count over `orders` (near the rule's 5% threshold), and a
/// five-table join whose planning time (a few ms, more under load) is near the planning-time
/// rule's thresholds.
fn write_noise_queries(dir: &Path) {
    std::fs::write(
        dir.join("orders.sql"),
        "SELECT id, amount FROM orders ORDER BY amount DESC LIMIT 10;\n\n\
         SELECT * FROM orders WHERE customer_id = 42;\n\n\
         SELECT * FROM (SELECT id, label FROM tags ORDER BY label LIMIT 5) t\n\
         CROSS JOIN (SELECT count(*) FROM orders WHERE note LIKE '%ab%') c;\n\n\
         SELECT * FROM j1 JOIN j2 ON j2.id = j1.ref JOIN j3 ON j3.id = j2.ref\n\
         JOIN j4 ON j4.id = j3.ref JOIN j5 ON j5.id = j4.ref WHERE j1.id = 7;\n",
    )
    .unwrap();
}

/// Narrow tables that stay below `min_parallel_table_scan_size` when doubled, so growing them
/// cannot change a plan's shape by going parallel: the test is about costs.
const GROWTH_SCHEMA: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, region text NOT NULL);
    INSERT INTO customers SELECT g, (ARRAY['north','south','east','west'])[g % 4 + 1]
        FROM generate_series(1, 2000) g;
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total int NOT NULL);
    INSERT INTO orders SELECT g, g % 2000 + 1, g % 997 FROM generate_series(1, 60000) g;
    ANALYZE;
";

fn write_growth_queries(dir: &Path, page_size: u32) {
    std::fs::write(
        dir.join("totals.sql"),
        "SELECT customer_id, sum(total) FROM orders GROUP BY customer_id;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("regions.sql"),
        "SELECT c.region, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("page.sql"),
        format!("SELECT id, total FROM orders ORDER BY id LIMIT {page_size};\n"),
    )
    .unwrap();
}

/// Keeps the machine busy while it lives: clients running CPU-heavy queries on other databases of
/// the same cluster, and a spinning thread; stopped and joined on drop.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    spinner: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    async fn start(clients: usize) -> Load {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (_, client) = database("gatenoiseload", "").await;
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    client
                        .simple_query(
                            "SELECT count(*) FROM generate_series(1, 1000000) g WHERE g % 7 = 0",
                        )
                        .await
                        .expect("load query");
                }
            }));
        }
        let spinning = stop.clone();
        let spinner = std::thread::spawn(move || {
            let mut x = 0u64;
            while !spinning.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        });
        Load {
            stop,
            tasks,
            spinner: Some(spinner),
        }
    }

    async fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            task.await.expect("load task");
        }
        if let Some(spinner) = self.spinner.take() {
            spinner.join().expect("spinner");
        }
    }
}

/// Issue 18: unchanged input, unchanged verdict. Baselines in both modes, then checks of the same
/// queries on the same data while the machine is loaded: no check may fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_unchanged_input_passes_every_check_on_a_busy_machine() {
    let (url, _client) = database("gatenoise", NOISE_SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    write_noise_queries(repo.path());
    let load = Load::start(2).await;

    for (mode, extra) in [
        ("plan", &[][..]),
        ("analyze", &["--analyze", "--runs", "3"][..]),
    ] {
        let out = format!("base-{mode}.json");
        let mut args = vec!["baseline", "orders.sql", "--dsn", &url, "--out", &out];
        args.extend_from_slice(extra);
        let run = pgdiag_in(repo.path(), &[], &args);
        assert_eq!(run.code, 0, "{}", run.all_output());
        for attempt in 1..=5 {
            let run = pgdiag_in(
                repo.path(),
                &[],
                &[
                    "check",
                    "--baseline",
                    &out,
                    "--dsn",
                    &url,
                    "--format",
                    "json",
                ],
            );
            run.assert_no_panic();
            let report: CheckReport = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("invalid check report ({e}):\n{}", run.all_output()));
            let regressions: Vec<_> = report
                .queries
                .iter()
                .flat_map(|q| q.regressions.iter().map(move |c| (&q.id, &c.message)))
                .collect();
            assert_eq!(
                (run.code, regressions.len()),
                (0, 0),
                "{mode} check {attempt} failed on unchanged input: {regressions:?}"
            );
            assert_eq!(report.summary.total, 4);
        }
    }
    load.stop().await;
}

/// The hysteresis does not hide a real change: once the index that delivered the order is gone,
/// the top-N sort is new in every run, and the gate fails naming it (and the lost index).
#[tokio::test]
async fn issue_18_a_real_new_finding_still_fails_the_gate() {
    let (url, client) = database(
        "gatenoisereal",
        &format!("{NOISE_SCHEMA} CREATE INDEX orders_amount ON orders (amount);"),
    )
    .await;
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("top.sql"),
        "SELECT id, amount FROM orders ORDER BY amount DESC LIMIT 10;\n",
    )
    .unwrap();
    // One process per query (for pgdiag's sessions): the sort and the scan are the whole of its
    // time in every run.
    let name: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" SET max_parallel_workers_per_gather = 0"
        ))
        .await
        .unwrap();
    let run = pgdiag_in(
        repo.path(),
        &[],
        &[
            "baseline",
            "top.sql",
            "--dsn",
            &url,
            "--analyze",
            "--runs",
            "3",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all_output());

    client
        .batch_execute("DROP INDEX orders_amount")
        .await
        .unwrap();
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 1, "{report:?}");
    let query = &report.queries[0];
    assert_eq!(query.status, QueryStatus::Regressed);
    let finding = query
        .regressions
        .iter()
        .find(|c| c.kind == ChangeKind::NewFinding)
        .unwrap_or_else(|| panic!("no new finding: {query:?}"));
    assert!(
        finding.message.starts_with("new finding unindexed-sort (")
            && finding.message.contains("top-N sort of public.orders"),
        "{}",
        finding.message
    );
    assert_eq!(finding.baseline.as_deref(), Some("absent"));
    assert!(
        query
            .regressions
            .iter()
            .any(|c| c.kind == ChangeKind::IndexNoLongerUsed
                && c.baseline.as_deref() == Some("orders_amount used")),
        "{query:?}"
    );
}

#[tokio::test]
async fn check_runs_needs_an_analysed_baseline() {
    let (url, _client) = database("gatenoiseruns", SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    write_queries(repo.path());
    let run = pgdiag_in(repo.path(), &[], &["baseline", ".", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let run = pgdiag_in(repo.path(), &[], &["check", "--dsn", &url, "--runs", "3"]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr
            .contains("--runs needs a baseline recorded with --analyze"),
        "{}",
        run.stderr
    );
}

/// Issue 18: doubling the fixture data without touching a query is not a regression (the cost
/// followed the rows, and the report says so), while a query edit that multiplies the cost with
/// the same plan shape still fails the gate.
#[tokio::test]
async fn data_growth_is_advisory_and_a_query_edit_still_fails() {
    let (url, client) = database("gategrowth", GROWTH_SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    write_growth_queries(repo.path(), 20);

    let run = pgdiag_in(repo.path(), &[], &["baseline", ".", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let file = repo.path().join("pgdiag-baseline.json");
    let recorded = std::fs::read_to_string(&file).unwrap();
    let baseline: Baseline = serde_json::from_str(&recorded).unwrap();
    assert_eq!(baseline.schema_version, 2);
    let sizes: Vec<(&str, Option<u64>)> = baseline
        .relations
        .iter()
        .map(|(name, size)| (name.as_str(), size.rows))
        .collect();
    assert_eq!(
        sizes,
        [
            ("public.customers", Some(2_000)),
            ("public.orders", Some(60_000))
        ]
    );
    let regions = baseline
        .queries
        .iter()
        .find(|q| q.id == "regions.sql#1")
        .unwrap();
    assert_eq!(
        regions.plan.as_ref().unwrap().relations,
        ["public.customers", "public.orders"]
    );

    // Re-recording unchanged data after a VACUUM ANALYZE writes the same file.
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    let run = pgdiag_in(repo.path(), &[], &["baseline", ".", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), recorded);

    // Twice the rows in both tables, no query touched.
    client
        .batch_execute(
            "INSERT INTO customers SELECT g, (ARRAY['north','south','east','west'])[g % 4 + 1]
                 FROM generate_series(2001, 4000) g;
             INSERT INTO orders SELECT g, g % 4000 + 1, g % 997 FROM generate_series(60001, 120000) g;
             ANALYZE;",
        )
        .await
        .unwrap();
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.summary.regressed, 0);
    for id in ["totals.sql#1", "regions.sql#1"] {
        let query = report.queries.iter().find(|q| q.id == id).unwrap();
        assert_eq!(query.status, QueryStatus::Unchanged, "{query:#?}");
        assert_eq!(query.advisories.len(), 1, "{query:#?}");
        let advisory = &query.advisories[0];
        assert_eq!(advisory.kind, ChangeKind::CostGrowthWithData);
        assert!(
            advisory.message.contains(
                "in line with data growth: public.orders 60,000 → 120,000 rows (×2.0)"
            ) || advisory.message.contains(
                "in line with data growth: public.customers 2,000 → 4,000 rows (×2.0), public.orders 60,000 → 120,000 rows (×2.0)"
            ),
            "{}",
            advisory.message
        );
    }
    // The first page reads 20 rows however large the table: its cost did not move.
    let page = report
        .queries
        .iter()
        .find(|q| q.id == "page.sql#1")
        .unwrap();
    assert!(page.advisories.is_empty(), "{page:#?}");
    let run = pgdiag_in(repo.path(), &[], &["check", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout
            .contains("advisory  totals.sql#1 (totals.sql:1): cost +"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("OK: no regressions"), "{}", run.stdout);

    // Configured to fail on data growth, the same check fails.
    std::fs::write(
        repo.path().join("pgdiag.toml"),
        "[check]\ndata_growth = \"fail\"\n",
    )
    .unwrap();
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 1, "{report:#?}");
    assert_eq!(report.summary.regressed, 2);
    std::fs::remove_file(repo.path().join("pgdiag.toml")).unwrap();

    // A code change on the grown data: a page of 20,000 rows instead of 20, same plan shape.
    write_growth_queries(repo.path(), 20_000);
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 1, "{report:#?}");
    let page = report
        .queries
        .iter()
        .find(|q| q.id == "page.sql#1")
        .unwrap();
    assert_eq!(page.status, QueryStatus::Regressed);
    assert_eq!(page.baseline_shape, page.current_shape);
    assert_eq!(page.regressions.len(), 1, "{page:#?}");
    assert_eq!(page.regressions[0].kind, ChangeKind::CostIncrease);
    assert!(
        page.regressions[0].message.ends_with(
            "more than data growth explains: rows grew ×2.0 at most (public.orders 60,000 → 120,000 rows)"
        ),
        "{}",
        page.regressions[0].message
    );

    // Accepting the grown data records the new sizes: the same data is then unchanged.
    write_growth_queries(repo.path(), 20);
    let run = pgdiag_in(repo.path(), &[], &["check", "--dsn", &url, "--update"]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.summary.unchanged, 3, "{report:#?}");
    assert!(report.queries.iter().all(|q| q.advisories.is_empty()));
}

/// A baseline written before table sizes were recorded still checks, and says once that it
/// cannot tell data growth from a change of code.
#[tokio::test]
async fn a_version_1_baseline_checks_and_asks_to_be_re_recorded() {
    let (url, _client) = database("gategrowthv1", GROWTH_SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    write_growth_queries(repo.path(), 20);
    let run = pgdiag_in(repo.path(), &[], &["baseline", ".", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());

    // What pgdiag 0.1 wrote: schema version 1, no sizes, no relations per plan.
    let file = repo.path().join("pgdiag-baseline.json");
    let mut v1: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    v1["schema_version"] = 1.into();
    v1.as_object_mut().unwrap().remove("relations");
    for query in v1["queries"].as_array_mut().unwrap() {
        query["plan"].as_object_mut().unwrap().remove("relations");
    }
    let v1 = serde_json::to_string_pretty(&v1).unwrap();
    // The version 1 file is a valid baseline by the schema, as it is for the reader.
    assert_matches_schema(Document::Baseline, &v1);
    std::fs::write(&file, v1).unwrap();

    let (code, report) = check_json(repo.path(), &url, &[]);
    assert_eq!(code, 0, "{report:#?}");
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(
        report.notes[0].contains("re-record it with `pgdiag check --update`"),
        "{:?}",
        report.notes
    );
    let run = pgdiag_in(repo.path(), &[], &["check", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert_eq!(
        run.stdout
            .matches("the baseline has no table sizes")
            .count(),
        1,
        "{}",
        run.stdout
    );

    // `check --update` rewrites it as version 2, with sizes.
    let run = pgdiag_in(repo.path(), &[], &["check", "--dsn", &url, "--update"]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let text = std::fs::read_to_string(&file).unwrap();
    assert_matches_schema(Document::Baseline, &text);
    let baseline: Baseline = serde_json::from_str(&text).unwrap();
    assert_eq!(baseline.schema_version, 2);
    assert_eq!(baseline.relations.len(), 2);
    let (_, report) = check_json(repo.path(), &url, &[]);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}
