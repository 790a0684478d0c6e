//! The HTML reports in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `scripts/test`) driven over the DevTools protocol. Each report comes from a real `pgdiag` run
//! on the throwaway PostgreSQL; the page must load from `file://` without a console error or an
//! uncaught exception, its DOM must hold the expected nodes and findings, selecting a node must
//! show its details, and a screenshot is saved under `target/html-screenshots/`. No Chromium is
//! a failure, never a skip.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headless_chrome::protocol::cdp::Log::LogEntryLevel;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::protocol::cdp::Runtime::ConsoleAPICalledEventTypeOption;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::{Browser, LaunchOptions, Tab};
use pgdiag::report::ExplainReport;

use crate::support::{database, pgdiag, temp_file};

/// Chromium's binary: `$PGDIAG_CHROMIUM`, else `chromium` (Debian) or `chromium-browser` on PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("PGDIAG_CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Chromium not found: the HTML report tests need a headless browser. Install Debian's \
         package (apt-get install chromium; scripts/test does) or set PGDIAG_CHROMIUM"
    );
}

/// A page loaded in a fresh headless Chromium, with every console error and uncaught exception
/// it raised.
struct Page {
    // Kept for the tab's lifetime; dropping it ends the browser process.
    _browser: Browser,
    _profile: tempfile::TempDir,
    tab: Arc<Tab>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Page {
    fn open(file: &Path) -> Page {
        let profile = tempfile::tempdir().expect("profile dir");
        // Without these Chromium waits on network look-ups this machine cannot make.
        let flags: Vec<&OsStr> = [
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        let options = LaunchOptions::default_builder()
            .path(Some(chromium()))
            .headless(true)
            .sandbox(false)
            .user_data_dir(Some(profile.path().to_path_buf()))
            .window_size(Some((1400, 1000)))
            .idle_browser_timeout(Duration::from_secs(300))
            .args(flags)
            .build()
            .expect("browser options");
        let browser = Browser::new(options).expect("start headless Chromium");
        let tab = browser.new_tab().expect("open a tab");
        tab.set_default_timeout(Duration::from_secs(60));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&errors);
        tab.add_event_listener(Arc::new(move |event: &Event| {
            let error = match event {
                Event::RuntimeExceptionThrown(e) => {
                    let details = &e.params.exception_details;
                    let description = details
                        .exception
                        .as_ref()
                        .and_then(|x| x.description.clone())
                        .unwrap_or_default();
                    Some(format!(
                        "uncaught exception: {} {description}",
                        details.text
                    ))
                }
                Event::RuntimeConsoleAPICalled(e)
                    if matches!(
                        e.params.Type,
                        ConsoleAPICalledEventTypeOption::Error
                            | ConsoleAPICalledEventTypeOption::Assert
                    ) =>
                {
                    Some(format!("console.error: {:?}", e.params.args))
                }
                Event::LogEntryAdded(e) if e.params.entry.level == LogEntryLevel::Error => {
                    Some(format!("console: {}", e.params.entry.text))
                }
                _ => None,
            };
            if let Some(error) = error {
                sink.lock().unwrap().push(error);
            }
        }))
        .expect("listen to the console");
        tab.enable_runtime().expect("Runtime.enable");
        tab.enable_log().expect("Log.enable");
        let url = format!("file://{}", file.display());
        tab.navigate_to(&url)
            .and_then(|t| t.wait_until_navigated())
            .unwrap_or_else(|e| panic!("load {url}: {e}"));
        Page {
            _browser: browser,
            _profile: profile,
            tab,
            errors,
        }
    }

    /// A JavaScript expression's value, as JSON.
    fn eval(&self, expression: &str) -> serde_json::Value {
        self.tab
            .evaluate(expression, false)
            .unwrap_or_else(|e| panic!("evaluate {expression}: {e}"))
            .value
            .unwrap_or(serde_json::Value::Null)
    }

    fn count(&self, selector: &str) -> u64 {
        self.eval(&format!(
            "document.querySelectorAll({}).length",
            serde_json::to_string(selector).unwrap()
        ))
        .as_u64()
        .unwrap()
    }

    fn text(&self, selector: &str) -> String {
        self.eval(&format!(
            "(document.querySelector({}) || {{}}).textContent || ''",
            serde_json::to_string(selector).unwrap()
        ))
        .as_str()
        .unwrap()
        .to_owned()
    }

    fn click(&self, selector: &str) {
        self.tab
            .find_element(selector)
            .unwrap_or_else(|e| panic!("no {selector}: {e}"))
            .click()
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
    }

    /// Fails the test on any console error or uncaught exception so far.
    fn assert_no_errors(&self) {
        let errors = self.errors.lock().unwrap();
        assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    }

    /// A full-page screenshot under `target/html-screenshots/NAME.png`.
    fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .tab
            .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
            .expect("screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/html-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

/// A table whose name holds every character HTML cares about, and a filter the planner cannot
/// serve from an index.
const ODD: &str = r#"
    CREATE TABLE "odd <b>&amp; 'name'" (id int PRIMARY KEY, note text NOT NULL, n int NOT NULL);
    INSERT INTO "odd <b>&amp; 'name'"
      SELECT g, 'note ' || g, g % 1000 FROM generate_series(1, 60000) g;
    CREATE TABLE other (id int PRIMARY KEY, odd_n int NOT NULL);
    INSERT INTO other SELECT g, g % 1000 FROM generate_series(1, 2000) g;
    ANALYZE;
"#;

const STATEMENTS: &str = r#"-- </script><script>window.injected = 1</script>
SELECT count(*) FROM "odd <b>&amp; 'name'" WHERE n = 7 AND note <> '<i>&"';

SELECT o.id, t.note FROM other o JOIN "odd <b>&amp; 'name'" t ON t.n = o.odd_n WHERE o.id < 3;
"#;

#[tokio::test]
async fn explain_report_loads_in_chromium_with_its_plans_and_findings() {
    let (url, _client) = database("html_explain", ODD).await;
    let (dir, sql) = temp_file("odd.sql", STATEMENTS.as_bytes());
    let sql = sql.to_str().unwrap();
    let json = pgdiag(&["explain", "--dsn", &url, "--format", "json", sql]);
    assert_eq!(json.code, 0, "{}", json.all_output());
    let report: ExplainReport = serde_json::from_str(&json.stdout).expect("JSON report");
    let page_path = dir.path().join("explain.html");
    let page_arg = page_path.to_str().unwrap();
    let html = pgdiag(&[
        "explain", "--dsn", &url, "--format", "html", "--output", page_arg, sql,
    ]);
    assert_eq!(html.code, 0, "{}", html.all_output());
    assert!(
        html.stdout.is_empty(),
        "--output: nothing on stdout\n{}",
        html.stdout
    );
    let source = std::fs::read_to_string(&page_path).expect("the page was written");
    // Self-contained: nothing fetched from anywhere.
    for outside in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!source.contains(outside), "the page loads {outside}");
    }
    // The user's text never becomes markup.
    assert!(source.contains("odd &lt;b&gt;&amp;amp; &#39;name&#39;"));
    assert!(!source.contains("<script>window.injected"));

    let page = tokio::task::spawn_blocking(move || {
        let page = Page::open(&page_path);
        (page, dir)
    })
    .await
    .unwrap();
    let (page, _dir) = page;
    page.assert_no_errors();
    assert_eq!(page.eval("typeof window.injected"), "undefined");
    assert_eq!(page.count("section.statement"), 2);

    for statement in &report.statements {
        let key = format!("s{}", statement.index);
        // Every node in the tree; in the flame graph every node whose bar is wide enough.
        assert_eq!(
            page.count(&format!("#{key} ol.tree > li")),
            statement.nodes.len() as u64
        );
        let bars = page.count(&format!("#{key} svg.flame .fg-node"));
        assert!(bars >= 1 && bars <= statement.nodes.len() as u64, "{bars}");
        // Each listed finding is drawn on its node, in the picture and in the tree. (Which
        // findings a statement has can differ between two runs, timings decide some: the page is
        // checked against itself here, and against the JSON run for the first statement below.)
        let unmarked = page.eval(&format!(
            "Array.from(document.querySelectorAll('#{key} ol.findings > li')).map(li => li.dataset.node)\
             .filter(n => !document.querySelector('svg.flame g.finding[data-node=\"' + n + '\"]')\
               || !document.querySelector('ol.tree li.finding[data-node=\"' + n + '\"]')).length"
        ));
        assert_eq!(unmarked, 0);
        let listed = page.count(&format!("#{key} ol.findings > li"));
        let outlined = page.count(&format!("#{key} ol.tree > li.finding"));
        assert!(outlined <= listed && (listed == 0) == (outlined == 0));
    }
    // The sequential scan that reads 60,000 rows for 60 is a finding in every run.
    let first = &report.statements[0];
    for finding in &first.findings {
        let node = format!("[data-node=\"s1-n{}\"]", finding.node_id);
        assert_eq!(page.count(&format!("svg.flame g.finding{node}")), 1);
        assert_eq!(page.count(&format!("ol.tree li.finding{node}")), 1);
        assert!(page.text("#s1 ol.findings").contains(finding.rule.as_str()));
    }
    // The relation's name reads as written, in the picture's labels and the tree.
    assert!(
        page.text("#s1 ol.tree").contains("odd <b>&amp; 'name'"),
        "{}",
        page.text("#s1 ol.tree")
    );
    assert!(
        !first.findings.is_empty(),
        "the filter on 60,000 rows is a finding: {:?}",
        first.nodes
    );

    // Selecting the finding's node in the picture shows its details in the panel.
    let finding = &first.findings[0];
    let bar = format!("svg.flame g[data-node=\"s1-n{}\"]", finding.node_id);
    let panel_before = page.text("#panel-s1");
    assert!(panel_before.contains("Select a node"), "{panel_before}");
    page.click(&bar);
    let node = &first.nodes[finding.node_id];
    let panel = page.text("#panel-s1");
    assert!(
        panel.contains("estimate error") || panel.contains("rows"),
        "{panel}"
    );
    assert!(panel.contains(&node.metrics.label), "{panel}");
    assert!(panel.contains(finding.rule.as_str()), "{panel}");
    assert_eq!(page.count(&format!("{bar}.selected")), 1);
    // And in the tree: the root's row.
    page.click("#s1 ol.tree > li:first-child > details > summary");
    let panel = page.text("#panel-s1");
    assert!(panel.contains(&first.nodes[0].metrics.label), "{panel}");
    assert_eq!(page.count("#s1 ol.tree > li.selected"), 1);
    page.assert_no_errors();
    let shot = page.screenshot("explain");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}

#[test]
fn html_is_refused_where_there_is_no_page_yet() {
    let run = pgdiag(&["top", "--format", "html", "--dsn", "postgres://nowhere/x"]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    // top has no page: its --format offers text and json only.
    assert!(
        run.stderr
            .contains("invalid value 'html' for '--format <FORMAT>'"),
        "{}",
        run.stderr
    );
}

const GATE_SCHEMA: &str = "
    CREATE TABLE reviews (id bigint PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
    INSERT INTO reviews SELECT g, g % 5000 + 1, g % 5 + 1 FROM generate_series(1, 100000) g;
    CREATE INDEX reviews_product_id ON reviews (product_id);
    ANALYZE;
";

#[tokio::test]
async fn check_report_shows_the_regressed_plan_beside_its_baseline() {
    let (url, client) = database("html_check", GATE_SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("product.sql"),
        "-- pgdiag: params 42\nSELECT count(*), avg(rating) FROM reviews WHERE product_id = $1;\n",
    )
    .unwrap();
    let in_repo = |args: &[&str]| {
        let mut cmd = crate::support::pgdiag_command();
        cmd.current_dir(repo.path()).args(args);
        crate::support::run_with(cmd, None)
    };
    let run = in_repo(&["baseline", ".", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    client
        .batch_execute("DROP INDEX reviews_product_id")
        .await
        .unwrap();
    let run = in_repo(&["check", "--dsn", &url, "--format", "html"]);
    assert_eq!(run.code, 1, "the regression fails the gate\n{}", run.stderr);
    // --output writes the same page to a file, nothing to stdout, the exit code unchanged.
    let written = in_repo(&[
        "check",
        "--dsn",
        &url,
        "--format",
        "html",
        "--output",
        "written.html",
    ]);
    assert_eq!(written.code, 1, "{}", written.stderr);
    assert!(written.stdout.is_empty(), "{}", written.stdout);
    let file = std::fs::read_to_string(repo.path().join("written.html")).unwrap();
    assert!(file.starts_with("<!DOCTYPE html>") && file.contains("class=\"block query regressed"));
    let page_path = repo.path().join("check.html");
    std::fs::write(&page_path, &run.stdout).unwrap();

    let page = tokio::task::spawn_blocking(move || Page::open(&page_path))
        .await
        .unwrap();
    page.assert_no_errors();
    assert!(page.text(".verdict").contains("The gate fails"));
    assert_eq!(page.count("section.query.regressed"), 1);
    let query = page.text("section.query.regressed");
    assert!(query.contains("product.sql#1"), "{query}");
    assert!(query.contains("index no longer used"), "{query}");
    assert!(query.contains("reviews_product_id"), "{query}");
    // Side by side: the baseline's index scan against the current sequential scan, marked.
    assert!(page.count("section.query.regressed table.shapes tbody tr") >= 1);
    let marked = page.count(
        "section.query.regressed table.shapes tr.changed, section.query.regressed table.shapes tr.removed, section.query.regressed table.shapes tr.added",
    );
    assert!(marked >= 1, "{}", page.text("table.shapes"));
    assert!(page.text("table.shapes").contains("Seq Scan"));
    page.screenshot("check");
}

const SUGGEST_SCHEMA: &str = "
    CREATE TABLE reviews (id bigint PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
    INSERT INTO reviews SELECT g, 1 + g % 2000, 1 + g % 5 FROM generate_series(1, 200000) g;
    ALTER TABLE reviews SET (parallel_workers = 0);
";

#[tokio::test]
async fn suggest_report_shows_each_suggestion_with_its_ddl_and_proof() {
    let (url, client) = database("html_suggest", SUGGEST_SCHEMA).await;
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    let (dir, sql) = temp_file(
        "q.sql",
        b"SELECT avg(rating) FROM reviews WHERE product_id = 42;\n",
    );
    let run = pgdiag(&[
        "suggest",
        "--dsn",
        &url,
        "--format",
        "html",
        sql.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let page_path = dir.path().join("suggest.html");
    std::fs::write(&page_path, &run.stdout).unwrap();
    let page = tokio::task::spawn_blocking(move || (Page::open(&page_path), dir))
        .await
        .unwrap()
        .0;
    page.assert_no_errors();
    assert_eq!(page.count("section.suggestion.kept"), 1);
    let kept = page.text("section.suggestion.kept");
    assert!(kept.contains("reviews"), "{kept}");
    assert!(
        page.text("section.suggestion.kept pre.ddl")
            .contains("CREATE INDEX")
    );
    assert!(
        page.text("section.suggestion.kept .proof")
            .contains("verified by")
    );
    // Before and after side by side: the sequential scan replaced, the row marked changed.
    let changed = page.text("section.suggestion.kept table.proof tr.changed");
    assert!(changed.contains("Seq Scan"), "{changed}");
    assert!(changed.contains("Index"), "{changed}");
    page.screenshot("suggest");
}

#[test]
fn explain_output_writes_every_format_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let plan = crate::support::fixture("fixtures/plans/join_chain.json");
    for (format, starts) in [
        ("text", "Statement 1"),
        ("json", "{"),
        ("html", "<!DOCTYPE html>"),
    ] {
        let path = dir.path().join(format!("report.{format}"));
        let run = pgdiag(&[
            "explain",
            "--plan",
            plan.to_str().unwrap(),
            "--format",
            format,
            "--output",
            path.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.all_output());
        assert!(run.stdout.is_empty(), "{format}: {}", run.stdout);
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.starts_with(starts), "{format}: {written}");
        assert!(
            !written.contains('\x1b'),
            "{format}: no colour codes in a file"
        );
    }
    let run = pgdiag(&[
        "explain",
        "--plan",
        plan.to_str().unwrap(),
        "--output",
        "/nonexistent-dir/report.html",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("cannot write /nonexistent-dir/report.html"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn demo_page_tells_the_whole_story_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let page_path = dir.path().join("demo.html");
    let run = pgdiag(&[
        "demo",
        "--scale",
        "0.02",
        "--bench-duration",
        "300ms",
        "--format",
        "html",
        "--output",
        page_path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(run.stdout.is_empty(), "--output: {}", run.stdout);
    let source = std::fs::read_to_string(&page_path).expect("the page was written");
    for outside in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!source.contains(outside), "the page loads {outside}");
    }
    let page = tokio::task::spawn_blocking(move || Page::open(&page_path))
        .await
        .unwrap();
    page.assert_no_errors();
    // The six steps, in the order of the story.
    let steps =
        page.eval("Array.from(document.querySelectorAll('section.step')).map(s => s.id).join(' ')");
    assert_eq!(
        steps,
        "seed diagnosis naive-cache suggestions swr-cache cache-advice summary"
    );
    // Step 6: one verdict card per query of the story, each with its reasons.
    assert_eq!(page.count("#cache-advice article.ca-card"), 3);
    // Steps 3 and 5 drawn with the bench charts: a latency curve per strategy.
    assert!(page.count("#naive-cache svg") >= 3);
    // Step 2: the two slow queries drawn, each with its findings on its nodes (at this scale, as
    // tests/demo.rs checks, the product page's seq scan and the listing's heavy aggregate).
    assert_eq!(page.count("#diagnosis section.statement"), 2);
    assert_eq!(page.count("#diagnosis svg.flame"), 2);
    assert!(page.count("#diagnosis ol.findings > li") >= 2);
    assert!(page.text("#diagnosis").contains("seq-scan"));
    let unmarked = page.eval(
        "Array.from(document.querySelectorAll('#diagnosis ol.findings > li')).map(li => li.dataset.node)\
         .filter(n => !document.querySelector('#diagnosis svg.flame g.finding[data-node=\"' + n + '\"]')).length",
    );
    assert_eq!(unmarked, 0);
    // Step 4: every query timed before and after, as bars and as two plans side by side.
    assert_eq!(page.count("#suggestions svg.timing-bars rect.before"), 3);
    assert_eq!(page.count("#suggestions svg.timing-bars rect.after"), 3);
    assert_eq!(page.count("#suggestions section.before-after"), 3);
    assert_eq!(page.count("#suggestions section.before-after svg.flame"), 6);
    assert!(page.text("#suggestions").contains("CREATE"));
    // Steps 3 and 5: the benchmarks' strategies.
    assert!(page.text("#naive-cache").contains("cache-aside"));
    assert!(page.text("#swr-cache").contains("swr"));
    assert!(page.count("#summary table.summary tbody tr") >= 5);
    // Selecting a node of the product page's plan shows it in the panel.
    page.click("#diag-product_page ol.tree > li:first-child > details > summary");
    let panel = page.text("#panel-d0");
    assert!(panel.contains("rows"), "{panel}");
    page.assert_no_errors();
    page.screenshot("demo");
}

const BENCH_SETUP: &str = "
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE pricing (product_id int PRIMARY KEY REFERENCES products, price numeric NOT NULL);
INSERT INTO products SELECT g, 'product <' || g || '>' FROM generate_series(1, 200) g;
INSERT INTO pricing SELECT g, 10 FROM generate_series(1, 200) g;
";

/// A query that takes 20 ms, so every reader of a herd misses before the first load returns.
const BENCH_SLOW_QUERY: &str = "SELECT p.id, p.name FROM products p \
     CROSS JOIN LATERAL pg_sleep(0.02) AS s WHERE p.id = $1 AND p.name <> '</script>'";

const BENCH_QUERY: &str = "SELECT p.id, p.name, pr.price FROM products p \
     JOIN pricing pr ON pr.product_id = p.id WHERE p.id = $1";

/// `pgdiag bench` with `args` on the query in `dir`, to `--output` `page` (or stdout) in
/// `format`.
async fn run_bench(
    url: &str,
    query: &Path,
    format: &str,
    page: Option<&Path>,
    args: &[&str],
) -> crate::support::Run {
    let redis = match pgdiag::embedded::EmbeddedRedis::shared() {
        Ok(redis) => redis.url(),
        Err(e) => panic!("embedded Redis could not start: {e}"),
    };
    let mut all: Vec<String> = [
        "bench",
        query.to_str().unwrap(),
        "--dsn",
        url,
        "--redis-url",
        &redis,
        "--format",
        format,
        "--keys",
        "20",
        "--pool",
        "4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(page) = page {
        all.extend(["--output".to_owned(), page.to_str().unwrap().to_owned()]);
    }
    all.extend(args.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        pgdiag(&args)
    })
    .await
    .unwrap()
}

/// The page as written: self-contained. A copy is kept beside the screenshots as `NAME.html`.
fn read_bench_page(path: &Path, name: &str) -> String {
    let source = std::fs::read_to_string(path).expect("the page was written");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/html-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}.html")), &source).expect("keep the page");
    for outside in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!source.contains(outside), "the page loads {outside}");
    }
    source
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_herd_page_shows_latency_curves_and_the_expiry_spikes() {
    let (url, _client) = database("html_bench_herd", BENCH_SETUP).await;
    let (dir, query) = temp_file("slow.sql", BENCH_SLOW_QUERY.as_bytes());
    let args = [
        "--scenario",
        "herd",
        "--strategies",
        "none,cache-aside,swr",
        "--duration",
        "600ms",
        "--warmup",
        "200ms",
        "--clients",
        "12",
        "--expiries",
        "2",
    ];
    // The JSON of the same run is validated against the committed schema (support::run_with).
    let json = run_bench(&url, &query, "json", None, &args).await;
    json.assert_no_panic();
    assert_eq!(json.code, 0, "{}", json.all_output());
    let report: pgdiag::bench::BenchReport = serde_json::from_str(&json.stdout).expect("JSON");
    for s in &report.strategies {
        let timeline = s.timeline.as_ref().expect("a timeline");
        assert_eq!(timeline.expiries_at_ms.len(), 2, "{}", s.strategy);
        assert!(timeline.herd_from_ms.is_some());
        assert!(!s.latency_histogram.is_empty());
        let histogram: u64 = s.latency_histogram.iter().map(|b| b.count).sum();
        assert_eq!(histogram, s.latency.samples, "{}", s.strategy);
    }

    let page_path = dir.path().join("bench herd.html");
    let html = run_bench(&url, &query, "html", Some(&page_path), &args).await;
    html.assert_no_panic();
    assert_eq!(html.code, 0, "{}", html.all_output());
    assert!(
        html.stdout.is_empty(),
        "--output: nothing on stdout\n{}",
        html.stdout
    );
    let source = read_bench_page(&page_path, "bench-herd");
    assert!(source.contains("&#39;&lt;/script&gt;&#39;"));

    let (page, _dir) = tokio::task::spawn_blocking(move || (Page::open(&page_path), dir))
        .await
        .unwrap();
    page.assert_no_errors();
    assert_eq!(page.count("section.bench"), 1);
    assert_eq!(page.count("table.bench-summary:not(.herd) tbody tr"), 3);
    // One CDF and one histogram line per strategy, each with its p50 and p99 marked.
    for name in ["none", "cache-aside", "swr"] {
        let of = |what: &str| page.count(&format!("svg.chart {what}[data-strategy=\"{name}\"]"));
        assert_eq!(of("path.cdf-line"), 1, "{name}");
        assert_eq!(of("path.hist-line"), 1, "{name}");
        assert_eq!(of("circle.mark.p50") + of("circle.mark.p99"), 2, "{name}");
        assert_eq!(of("g.strategy-name"), 1, "{name}");
    }
    assert_eq!(page.count("svg.cdf path.cdf-line"), 3);
    // Each strategy's timeline marks both expiries in both panels; cache-aside's herd is a
    // spike of database calls over its steady buckets (all hits after the warm-up).
    let spike = page.eval(
        r#"(() => {
            const svg = document.querySelector('svg.timeline g.strategy-name[data-strategy="cache-aside"]').closest('svg');
            const width = Number(svg.querySelector('g.strategy-name').dataset.bucketMs);
            const from = Number(svg.querySelector('rect.herd-phase').dataset.fromMs);
            const values = svg.querySelector('path.series.db-calls').dataset.values.split(' ').map(Number);
            const k = Math.floor(from / width);
            const steady = values.slice(0, k).sort((a, b) => a - b);
            return JSON.stringify({
                expiries: svg.querySelectorAll('line.expiry').length,
                median: steady.length ? steady[Math.floor(steady.length / 2)] : 0,
                steady: steady.length,
                herd: Math.max(...values.slice(k)),
            });
        })()"#,
    );
    let spike: serde_json::Value =
        serde_json::from_str(spike.as_str().expect("a JSON string")).expect("JSON");
    assert_eq!(spike["expiries"], 4, "{spike}");
    assert!(spike["steady"].as_u64().unwrap() >= 10, "{spike}");
    let herd = spike["herd"].as_f64().unwrap();
    assert!(
        herd >= 2.0 && herd > spike["median"].as_f64().unwrap(),
        "{spike}"
    );
    assert_eq!(page.count("svg.timeline"), 3);
    assert_eq!(page.count("svg.timeline line.expiry"), 3 * 4);
    assert_eq!(page.count("table.bench-summary.herd tbody tr"), 3 * 2);
    page.assert_no_errors();
    let shot = page.screenshot("bench-herd");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_writes_page_plots_the_staleness_of_every_write() {
    let (url, _client) = database("html_bench_writes", BENCH_SETUP).await;
    let (dir, query) = temp_file("price.sql", BENCH_QUERY.as_bytes());
    let page_path = dir.path().join("writes.html");
    let run = run_bench(
        &url,
        &query,
        "html",
        Some(&page_path),
        &[
            "--scenario",
            "writes",
            "--strategies",
            "cache-aside,swr",
            "--write",
            "UPDATE pricing SET price = price + 0.01 WHERE product_id = $1",
            "--write-rate",
            "30",
            "--duration",
            "800ms",
            "--warmup",
            "200ms",
            "--clients",
            "4",
        ],
    )
    .await;
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    read_bench_page(&page_path, "bench-writes");
    let (page, _dir) = tokio::task::spawn_blocking(move || (Page::open(&page_path), dir))
        .await
        .unwrap();
    page.assert_no_errors();
    assert_eq!(page.count("svg.cdf path.cdf-line"), 2);
    assert_eq!(page.count("svg.staleness"), 1);
    for name in ["cache-aside", "swr"] {
        let listed = page.eval(&format!(
            "Number(document.querySelector('svg.staleness g.writes[data-strategy=\"{name}\"]').dataset.count)"
        ));
        let dots = page.count(&format!(
            "svg.staleness g.writes[data-strategy=\"{name}\"] circle"
        ));
        assert_eq!(listed.as_u64(), Some(dots), "{name}");
        assert!(dots >= 5, "{name}: {dots} writes plotted");
    }
    // The table says the same as the text table: the staleness columns are there.
    assert!(
        page.text("table.bench-summary thead")
            .contains("staleness max/p99 ms")
    );
    assert_eq!(page.count("svg.timeline"), 2);
    assert_eq!(page.count("svg.timeline line.expiry"), 0);
    page.assert_no_errors();
    let shot = page.screenshot("bench-writes");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}

#[test]
fn bench_output_to_an_unwritable_path_fails_before_running() {
    let (dir, query) = temp_file("q.sql", b"SELECT 1 WHERE $1::text IS NOT NULL");
    let page = dir.path().join("no such dir/bench.html");
    let run = pgdiag(&[
        "bench",
        query.to_str().unwrap(),
        "--dsn",
        "postgres://nowhere.invalid/x",
        "--format",
        "html",
        "--output",
        page.to_str().unwrap(),
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(run.stderr.contains("cannot write"), "{}", run.stderr);
    assert!(run.stderr.contains("bench.html"), "{}", run.stderr);
}

const CACHE_SCHEMA: &str = "
    CREATE TABLE products (id int PRIMARY KEY, category_id int NOT NULL);
    INSERT INTO products SELECT g, g % 20 FROM generate_series(1, 2000) g;
    CREATE TABLE reviews (id int PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL,
                          created_at timestamptz NOT NULL);
    INSERT INTO reviews SELECT g, 1 + g % 2000, g % 5, now() - (g % 100) * interval '1 hour'
      FROM generate_series(1, 60000) g;
    ANALYZE;
";

#[tokio::test]
async fn cache_advice_page_shows_one_verdict_per_statement() {
    let (url, client) = database("html_cache_advice", CACHE_SCHEMA).await;
    // The load is not the tables' write rate.
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    // Flushed once the session is idle, after that statement: only then reset.
    client.batch_execute("SELECT 1").await.unwrap();
    client
        .batch_execute("SELECT pg_stat_reset()")
        .await
        .unwrap();
    let (dir, sql) = temp_file(
        "shop.sql",
        b"-- pgdiag: calls=20/s\n\
          SELECT p.category_id, count(*), avg(r.rating) FROM reviews r \
          JOIN products p ON p.id = r.product_id WHERE '<b>' <> '</pre>' GROUP BY p.category_id;\n\
          -- pgdiag: calls=1/s\n\
          SELECT count(*) FROM reviews WHERE created_at > now() - interval '1 day';\n\
          -- pgdiag: params 42\n\
          SELECT id, rating FROM reviews WHERE product_id = $1;\n",
    );
    let page_path = dir.path().join("cache-advice.html");
    let run = pgdiag(&[
        "cache-advice",
        sql.to_str().unwrap(),
        "--calls",
        "10/min",
        "--dsn",
        &url,
        "--prove",
        "none",
        "--max-staleness",
        "5m",
        "--format",
        "html",
        "--output",
        page_path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout.is_empty(),
        "the page went to --output: {}",
        run.stdout
    );
    let page = tokio::task::spawn_blocking(move || (Page::open(&page_path), dir))
        .await
        .unwrap()
        .0;
    page.assert_no_errors();
    assert_eq!(page.count("section.cache-advice article.ca-card"), 3);
    assert_eq!(page.count("article.ca-card h3 .badge"), 3);
    // The aggregate over tables nobody writes: cached, with its plan and its bar.
    let cached = page.text("article.ca-card[data-verdict='ca-cache']");
    assert!(
        cached.contains("shop.sql:2"),
        "{}",
        page.text("section.cache-advice")
    );
    for shown in [
        "strategy",
        "soft TTL",
        "hard TTL",
        "invalidation",
        "expected hit rate",
        "database time saved",
        "staleness exposure",
        "72,000",
    ] {
        assert!(cached.contains(shown), "{shown} missing: {cached}");
    }
    assert_eq!(
        page.count("article.ca-card[data-verdict='ca-cache'] svg.ca-bar"),
        1
    );
    // Its SQL shown as text, never as markup.
    assert!(cached.contains("'<b>' <> '</pre>'"), "{cached}");
    assert_eq!(page.count("article.ca-card pre b"), 0);
    // now(): never cached, with the reason.
    let dependent = page.text("article.ca-card#ca2");
    assert!(dependent.contains("don't cache"), "{dependent}");
    assert!(dependent.contains("caller-dependent"), "{dependent}");
    assert!(dependent.contains("now()"), "{dependent}");
    // The lookup took --calls.
    assert!(page.text("article.ca-card#ca3").contains("600"));
    let shot = page.screenshot("cache-advice");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}

/// The root bar's width in the flame graph under `scope` (a plan side: `before`, `current`...),
/// as a share of the graph's width.
fn root_width(page: &Page, scope: &str) -> f64 {
    let at = |selector: String| serde_json::to_string(&selector).unwrap();
    page.eval(&format!(
        "Number(document.querySelector({}).getAttribute('width')) / document.querySelector({}).viewBox.baseVal.width",
        at(format!("{scope} svg.flame g.fg-node rect")),
        at(format!("{scope} svg.flame"))
    ))
    .as_f64()
    .unwrap()
}

#[tokio::test]
async fn suggest_report_draws_each_served_statements_plan_before_and_after() {
    let (url, client) = database("html_suggest_plans", SUGGEST_SCHEMA).await;
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    let (dir, sql) = temp_file(
        "q.sql",
        b"SELECT avg(rating) FROM reviews WHERE product_id = 42;\n",
    );
    let sql = sql.to_str().unwrap();
    // The document keeps both plans' nodes (validated against its schema by the run).
    let run = pgdiag(&["suggest", "--dsn", &url, "--format", "json", sql]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: pgdiag::suggest::report::SuggestReport = serde_json::from_str(&run.stdout).unwrap();
    let proof = &report.suggestions[0]
        .verification
        .as_ref()
        .unwrap()
        .per_statement[0];
    let before = proof.before.plan_nodes.as_ref().expect("before's nodes");
    let after = proof.after.plan_nodes.as_ref().expect("after's nodes");
    assert_eq!(before.node_count, before.nodes.len());
    assert!(
        before.nodes.iter().any(|n| n.metrics.label == "Seq Scan"
            && n.metrics.relation.as_deref() == Some("public.reviews")),
        "{before:?}"
    );
    assert!(
        after.nodes.iter().any(|n| n.metrics.index_name.is_some()),
        "{after:?}"
    );

    let run = pgdiag(&["suggest", "--dsn", &url, "--format", "html", sql]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let page_path = dir.path().join("suggest-plans.html");
    std::fs::write(&page_path, &run.stdout).unwrap();
    let page = tokio::task::spawn_blocking(move || (Page::open(&page_path), dir))
        .await
        .unwrap()
        .0;
    page.assert_no_errors();
    let scope = "section.suggestion.kept .plan-diff";
    assert_eq!(page.count(scope), 1);
    // Two plans, each a flame graph and a tree.
    assert_eq!(page.count(&format!("{scope} svg.flame")), 2);
    assert_eq!(page.count(&format!("{scope} ol.tree")), 2);
    // The changed nodes carry the mark on both sides, and are listed.
    assert!(page.count(&format!("{scope} .diff-side.before svg .fg-node.changed")) >= 1);
    assert!(page.count(&format!("{scope} .diff-side.after svg .fg-node.changed")) >= 1);
    assert!(page.count(&format!("{scope} .diff-side.after ol.tree li.changed")) >= 1);
    let changes = page.text(&format!("{scope} ol.plan-changes"));
    assert!(changes.contains("Seq Scan on public.reviews"), "{changes}");
    assert!(changes.contains("Index"), "{changes}");
    // One scale (planned cost here, as HypoPG verifies): the plan after is the narrower.
    let (wide, narrow) = (
        root_width(&page, &format!("{scope} .diff-side.before")),
        root_width(&page, &format!("{scope} .diff-side.after")),
    );
    assert_eq!(wide, 1.0);
    assert!(narrow < 0.5, "{narrow} < {wide}");
    // Selecting a change shows its node's details in its side's panel.
    page.click(&format!("{scope} ol.plan-changes li.ch-replaced"));
    let panel = page.text(&format!("{scope} .diff-side.before aside.panel"));
    assert!(panel.contains("Seq Scan"), "{panel}");
    page.assert_no_errors();
    let shot = page.screenshot("suggest-plans");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}

#[tokio::test]
async fn check_report_draws_the_baseline_plan_beside_the_current_one() {
    let (url, client) = database("html_check_plans", GATE_SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("product.sql"),
        "-- pgdiag: params 42\nSELECT count(*), avg(rating) FROM reviews WHERE product_id = $1;\n",
    )
    .unwrap();
    let in_repo = |args: &[&str]| {
        let mut cmd = crate::support::pgdiag_command();
        cmd.current_dir(repo.path()).args(args);
        crate::support::run_with(cmd, None)
    };
    let run = in_repo(&["baseline", ".", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    client
        .batch_execute("DROP INDEX reviews_product_id")
        .await
        .unwrap();
    // The document keeps the regressed query's current plan (validated against its schema).
    let run = in_repo(&["check", "--dsn", &url, "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    let report: pgdiag::gate::CheckReport = serde_json::from_str(&run.stdout).unwrap();
    let plan = report.queries[0]
        .current_plan
        .as_ref()
        .expect("current plan");
    assert_eq!(plan.nodes.len(), report.queries[0].current_shape.len());
    assert!(
        plan.nodes
            .iter()
            .any(|n| n.metrics.label.contains("Seq Scan"))
    );

    let run = in_repo(&["check", "--dsn", &url, "--format", "html"]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    let page_path = repo.path().join("check-plans.html");
    std::fs::write(&page_path, &run.stdout).unwrap();
    let page = tokio::task::spawn_blocking(move || Page::open(&page_path))
        .await
        .unwrap();
    page.assert_no_errors();
    let scope = "section.query.regressed .plan-diff";
    assert_eq!(page.count(scope), 1);
    assert_eq!(page.count(&format!("{scope} svg.flame")), 2);
    // The baseline drawn from its shape lines, the current plan from its nodes.
    assert!(page.count(&format!("{scope} .diff-side.baseline ol.shape-tree li")) >= 2);
    assert!(page.count(&format!("{scope} .diff-side.current ol.tree details")) >= 2);
    // The regression marked: the lost index scan on one side, the sequential scan on the other.
    assert!(
        page.count(&format!(
            "{scope} .diff-side.baseline ol.shape-tree li.changed"
        )) >= 1
    );
    assert!(page.count(&format!("{scope} .diff-side.current svg .fg-node.changed")) >= 1);
    let changes = page.text(&format!("{scope} ol.plan-changes"));
    assert!(changes.contains("reviews_product_id"), "{changes}");
    assert!(changes.contains("Seq Scan"), "{changes}");
    // One cost scale: the current plan, costlier without its index, is the wider.
    let (baseline, current) = (
        root_width(&page, &format!("{scope} .diff-side.baseline")),
        root_width(&page, &format!("{scope} .diff-side.current")),
    );
    assert_eq!(current, 1.0);
    assert!(baseline < 0.5, "{baseline} < {current}");
    page.assert_no_errors();
    let shot = page.screenshot("check-plans");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}

/// A 10,000-node plan's page loads in Chromium with every node in its tree, a bounded flame graph
/// and the details of any node on selection (from the page's data, not written under each row).
/// The load time is printed, not asserted: it depends on the machine.
#[tokio::test]
async fn a_10000_node_plan_loads_in_chromium() {
    let plan = pgdiag::plan::synthetic::wide_plan(10_000);
    let (dir, plan_path) = temp_file("wide.json", plan.as_bytes());
    let page_path = dir.path().join("wide.html");
    let run = pgdiag(&[
        "explain",
        "--plan",
        plan_path.to_str().unwrap(),
        "--format",
        "html",
        "--output",
        page_path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let bytes = std::fs::metadata(&page_path).unwrap().len();
    // A bounded size per node (the unit tests hold the renderer to 1,000 bytes a node).
    assert!(bytes < 10_000 * 1_000, "{bytes} bytes");

    let started = std::time::Instant::now();
    let (page, _dir) = tokio::task::spawn_blocking(move || (Page::open(&page_path), dir))
        .await
        .unwrap();
    let opened = started.elapsed();
    page.assert_no_errors();
    // From the page's own clock: navigation start to the end of its load event, and first paint.
    let load_ms = page.eval(
        "(() => { const t = performance.getEntriesByType('navigation')[0]; \
         return Math.round(t.loadEventEnd - t.startTime); })()",
    );
    let paint_ms = page.eval(
        "(() => { const p = performance.getEntriesByType('paint')\
         .find(e => e.name === 'first-contentful-paint'); return p ? Math.round(p.startTime) : null; })()",
    );
    eprintln!(
        "10,000-node plan: page {bytes} bytes; Chromium load event after {load_ms} ms, first \
         contentful paint {paint_ms} ms (browser start to page loaded {} ms)",
        opened.as_millis()
    );
    assert!(load_ms.as_u64().is_some_and(|ms| ms > 0), "{load_ms}");

    assert_eq!(page.count("section.statement"), 1);
    assert_eq!(page.count("#s1 ol.tree > li"), 10_000);
    assert!(
        page.text("#s1 .facts").contains("Nodes 10000"),
        "{}",
        page.text("#s1 .facts")
    );
    assert!(page.text("#s1 .large-plan").contains("10,000 nodes"));
    // Narrow bars are merged or left out; the page says how many are drawn.
    let bars = page.count("#s1 svg.flame .fg-node");
    assert!(bars > 100 && bars < 10_000, "{bars}");
    let note = page.text("#s1 .flame-note");
    assert!(
        note.starts_with(&format!(
            "{} of 10,000 nodes drawn",
            pgdiag::units::fmt_count(bars as f64)
        )),
        "{note}"
    );
    // The findings past the first hundred are grouped by rule, each group naming its nodes.
    assert_eq!(page.count("#s1 ol.findings > li"), 100);
    assert!(page.count("#s1 ul.finding-groups > li") >= 1);

    // A row far down the tree: its details come from the page's data.
    let row = "#s1 ol.tree > li[data-node=\"s1-n9990\"] > .row";
    page.eval(&format!(
        "document.querySelector({}).scrollIntoView()",
        serde_json::to_string(row).unwrap()
    ));
    page.click(row);
    let panel = page.text("#panel-s1");
    assert!(panel.contains("#9990 (path"), "{panel}");
    assert!(panel.contains("rows"), "{panel}");
    assert_eq!(page.count("#s1 li.selected[data-node=\"s1-n9990\"]"), 1);
    // A node a finding group names selects it too.
    page.click("#s1 ul.finding-groups a.node-ref");
    assert_ne!(page.text("#panel-s1"), panel);
    page.assert_no_errors();
    page.eval("window.scrollTo(0, 0)");
    page.screenshot("explain-10000-nodes");
}
