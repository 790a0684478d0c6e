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
