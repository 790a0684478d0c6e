//! Every supported PostgreSQL major (14 to 18): each gets its own throwaway cluster, shared by
//! that major's tests, and the same checks: EXPLAIN ANALYZE with buffers and that version's JSON
//! (17's SERIALIZE and MEMORY, 18's "Index Searches"), the same findings for a seq scan and a sort,
//! generic plans (`EXPLAIN (GENERIC_PLAN)` on 16+, a prepared statement's before), a baseline that
//! its own check passes, and `suggest --verify build` (HypoPG only where it is installed: Debian's
//! 15). The binaries of the other majors come from scripts/fetch-postgres (see tests/support.rs).

use pgdiag::gate::CheckReport;
use pgdiag::report::ExplainReport;
use pgdiag::suggest::report::{Planning, SuggestReport, SuggestionStatus};

use crate::support::{Run, database_on, pg_major, pgdiag, pgdiag_command, run_with, temp_file};

/// Small on purpose (one cluster per major, every test makes its own database): large enough for
/// the seq-scan rule's 10,000 rows, small enough to load in a blink and never go parallel.
const SCHEMA: &str = "
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount int NOT NULL,
                         note text NOT NULL);
    INSERT INTO orders SELECT g, g % 2000, g % 97, 'n' || g FROM generate_series(1, 30000) g;
    ANALYZE;
";
const SEQ_SCAN: &str = "SELECT * FROM orders WHERE customer_id = 7";
const SORT: &str = "SELECT * FROM orders ORDER BY amount, note LIMIT 5";
const GENERIC: &str = "SELECT * FROM orders WHERE customer_id = $1";

fn explain_json(url: &str, extra: &[&str], sql: &str) -> (Run, Option<ExplainReport>) {
    let mut args = vec!["explain", "--dsn", url, "--format", "json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-c", sql]);
    let run = pgdiag(&args);
    run.assert_no_panic();
    let report = serde_json::from_str(&run.stdout).ok();
    (run, report)
}

/// The statement's findings, sorted; without planning-time, which a loaded machine's cold catalog
/// cache can raise on any version (it compares planning with execution time).
fn rules(report: &ExplainReport) -> Vec<String> {
    let mut rules: Vec<String> = report.statements[0]
        .findings
        .iter()
        .map(|f| f.rule.to_string())
        .filter(|rule| rule != "planning-time")
        .collect();
    rules.sort();
    rules
}

/// EXPLAIN ANALYZE runs and its JSON parses live; and the richest EXPLAIN document the version
/// produces (every option it has) parses offline.
async fn explain_live_and_offline(major: u32) {
    let (url, client) = database_on(major, &format!("v{major}_explain"), SCHEMA).await;
    let (run, report) = explain_json(&url, &[], "SELECT * FROM orders WHERE id = 42");
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let report = report.expect("an explain report");
    let server = report.server.as_ref().expect("server info");
    assert_eq!(server.version_num / 10000, major as i32, "{server:?}");
    let statement = &report.statements[0];
    assert!(statement.analyzed && statement.rolled_back, "{statement:?}");
    let plan = statement
        .plan
        .as_ref()
        .expect("the raw plan")
        .as_str()
        .to_string();
    assert!(plan.contains("Shared Hit Blocks"), "{plan}");
    assert!(plan.contains("Index Scan"), "{plan}");
    // 18 counts the index's descents; earlier versions have no such field.
    assert_eq!(plan.contains("Index Searches"), major >= 18, "{plan}");

    let mut options = vec!["ANALYZE", "VERBOSE", "BUFFERS", "SETTINGS", "WAL"];
    if major >= 17 {
        options.extend(["SERIALIZE", "MEMORY"]);
    }
    let sent = format!("EXPLAIN ({}, FORMAT JSON) {SORT}", options.join(", "));
    let row = client.query_one(&sent, &[]).await.unwrap();
    let document: serde_json::Value = row.get(0);
    let text = document.to_string();
    assert_eq!(text.contains("Serialization"), major >= 17, "{text}");
    let (_dir, path) = temp_file("plan.json", text.as_bytes());
    let run = pgdiag(&[
        "explain",
        "--format",
        "json",
        "--plan",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let report: ExplainReport = serde_json::from_str(&run.stdout).unwrap();
    assert!(report.statements[0].analyzed);
    assert_eq!(rules(&report), ["unindexed-sort"], "PostgreSQL {major}");

    // Plain EXPLAIN ANALYZE, as a user pastes it: 18 shows buffers without being asked.
    let row = client
        .query_one(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {SEQ_SCAN}"), &[])
        .await
        .unwrap();
    let text = row.get::<_, serde_json::Value>(0).to_string();
    assert_eq!(text.contains("Shared Hit Blocks"), major >= 18, "{text}");
    let (_dir, path) = temp_file("plain.json", text.as_bytes());
    let run = pgdiag(&[
        "explain",
        "--format",
        "json",
        "--plan",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let report: ExplainReport = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rules(&report), ["seq-scan"], "PostgreSQL {major}");
}

/// The same findings on every version for a selective seq scan and a sort fed by a scan.
async fn same_findings(major: u32) {
    let (url, _client) = database_on(major, &format!("v{major}_diag"), SCHEMA).await;
    let (run, report) = explain_json(&url, &[], SEQ_SCAN);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let report = report.unwrap();
    assert_eq!(rules(&report), ["seq-scan"], "PostgreSQL {major}");
    let finding = report.statements[0]
        .findings
        .iter()
        .find(|f| f.rule == "seq-scan")
        .unwrap();
    assert_eq!(finding.relation.as_deref(), Some("public.orders"));
    assert!(
        finding
            .suggested_index
            .as_deref()
            .is_some_and(|ddl| ddl.contains("customer_id")),
        "{finding:?}"
    );

    let (run, report) = explain_json(&url, &[], SORT);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    assert_eq!(
        rules(&report.unwrap()),
        ["unindexed-sort"],
        "PostgreSQL {major}"
    );
}

/// `$n` without values: `--no-analyze` gives the generic plan (GENERIC_PLAN on 16+, a prepared
/// statement's generic plan before, which shows as its plan_cache_mode setting), ANALYZE says
/// values are needed, and `suggest` plans it generically.
async fn generic_plans(major: u32) {
    let (url, _client) = database_on(major, &format!("v{major}_generic"), SCHEMA).await;
    let (run, report) = explain_json(&url, &["--no-analyze"], GENERIC);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let statement = &report.unwrap().statements[0];
    assert!(
        statement.generic_plan && !statement.analyzed,
        "{statement:?}"
    );
    assert_eq!(
        statement.nodes[0].metrics.relation.as_deref(),
        Some("public.orders")
    );
    let settings = &statement.summary.as_ref().unwrap().settings;
    assert_eq!(
        settings.contains_key("plan_cache_mode"),
        major < 16,
        "PostgreSQL {major}: {settings:?}"
    );
    let text = pgdiag(&["explain", "--dsn", &url, "--no-analyze", "-c", GENERIC]);
    assert_eq!(text.code, 0, "{}", text.all_output());
    assert!(text.stdout.contains("generic plan"), "{}", text.stdout);

    // ANALYZE needs values: exit 2, saying how to give them or plan without them.
    let run = pgdiag(&["explain", "--dsn", &url, "-c", GENERIC]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr.contains("--param") && run.stderr.contains("--no-analyze"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("ERROR"), "{}", run.stderr);

    // A `$n` nothing gives a type: no plan on any version, and the error says to cast it.
    let (run, report) = explain_json(
        &url,
        &["--no-analyze"],
        "SELECT count(*) FROM orders WHERE $1 IS NULL",
    );
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(run.stderr.contains("$1::int"), "{}", run.stderr);
    let error = report.unwrap().statements[0].error.clone().unwrap();
    assert_eq!(error.sqlstate.as_deref(), Some("42P18"));
    assert!(
        error.hint.as_deref().is_some_and(|h| h.contains("cast")),
        "{error:?}"
    );

    // suggest plans it generically too, and proves the index on generic plans inside the build's
    // transaction (GENERIC_PLAN in a savepoint on 16+).
    let run = pgdiag(&[
        "suggest", "--dsn", &url, "--format", "json", "--verify", "build", "--runs", "1", "-c",
        GENERIC,
    ]);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let report: SuggestReport = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report.statements[0].planning, Planning::Generic);
    let kept: Vec<_> = report.kept().collect();
    assert_eq!(kept.len(), 1, "PostgreSQL {major}: {}", run.stdout);
    assert!(
        kept[0].ddl.iter().any(|d| d.contains("customer_id")),
        "{}",
        run.stdout
    );
}

/// A baseline recorded on this version passes its own check.
async fn baseline_round_trip(major: u32) {
    let (url, _client) = database_on(major, &format!("v{major}_gate"), SCHEMA).await;
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("queries.sql"),
        format!(
            "{SEQ_SCAN};\n\n{SORT};\n\n-- pgdiag: params 42\nSELECT * FROM orders WHERE id = $1;\n"
        ),
    )
    .unwrap();
    let in_repo = |args: &[&str]| {
        let mut cmd = pgdiag_command();
        cmd.current_dir(repo.path()).args(args);
        let run = run_with(cmd, None);
        run.assert_no_panic();
        run
    };
    let run = in_repo(&["baseline", ".", "--dsn", &url]);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let run = in_repo(&["check", "--dsn", &url, "--format", "json"]);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let report: CheckReport = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report.queries.len(), 3, "{}", run.stdout);
    assert!(!report.has_regressions(), "{}", run.stdout);
    assert!(report.environment.major_version_mismatch.is_none());
}

/// `--verify build` proves an index on every version; `--verify hypo` works where HypoPG is
/// installed and says clearly what to do where it is not.
async fn suggest_verify_build(major: u32) {
    let (url, client) = database_on(major, &format!("v{major}_suggest"), SCHEMA).await;
    let run = pgdiag(&[
        "suggest", "--dsn", &url, "--format", "json", "--verify", "build", "--runs", "1", "-c",
        SEQ_SCAN,
    ]);
    assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
    let report: SuggestReport = serde_json::from_str(&run.stdout).unwrap();
    let kept: Vec<_> = report.kept().collect();
    assert_eq!(kept.len(), 1, "PostgreSQL {major}: {}", run.stdout);
    assert_eq!(kept[0].status, SuggestionStatus::Kept);
    let index = kept[0].index().unwrap();
    assert_eq!(index.table, "orders");
    let proof = &kept[0].verification.as_ref().unwrap().per_statement[0];
    assert!(proof.used, "{proof:?}");
    // The build was rolled back.
    let indexes: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'orders' AND indexname <> 'orders_pkey'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, 0);

    let hypopg = client
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'",
            &[],
        )
        .await
        .unwrap()
        .is_some();
    let run = pgdiag(&[
        "suggest", "--dsn", &url, "--format", "json", "--verify", "hypo", "-c", SEQ_SCAN,
    ]);
    run.assert_no_panic();
    if hypopg {
        assert_eq!(run.code, 0, "PostgreSQL {major}: {}", run.all_output());
        let report: SuggestReport = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report.kept().count(), 1, "{}", run.stdout);
    } else {
        assert_eq!(run.code, 2, "PostgreSQL {major}: {}", run.all_output());
        assert!(
            run.stderr.contains("hypopg") && run.stderr.contains("--verify build"),
            "{}",
            run.stderr
        );
    }
}

/// Each major's tests, in a module named after it (`versions::pg16::generic_plans`).
macro_rules! majors {
    ($($module:ident => $major:literal),* $(,)?) => {$(
        mod $module {
            #[tokio::test]
            async fn explain_live_and_offline() {
                super::explain_live_and_offline($major).await;
            }

            #[tokio::test]
            async fn same_findings() {
                super::same_findings($major).await;
            }

            #[tokio::test]
            async fn generic_plans() {
                super::generic_plans($major).await;
            }

            #[tokio::test]
            async fn baseline_round_trip() {
                super::baseline_round_trip($major).await;
            }

            #[tokio::test]
            async fn suggest_verify_build() {
                super::suggest_verify_build($major).await;
            }
        }
    )*};
}

majors!(pg14 => 14, pg15 => 15, pg16 => 16, pg17 => 17, pg18 => 18);

/// Every tested major has a cluster of that major (no entry silently falls back to another); a
/// build's own library dir reaches its server's processes, never this one.
#[test]
fn every_major_runs_its_own_version() {
    let ours = std::env::var_os("LD_LIBRARY_PATH").unwrap_or_default();
    for major in crate::support::MAJORS {
        let postgres = pg_major(major);
        assert_eq!(postgres.major_version(), major);
        if let Some(lib) = postgres.library_dir() {
            assert!(
                !std::env::split_paths(&ours).any(|dir| dir == lib),
                "{} leaked into LD_LIBRARY_PATH",
                lib.display()
            );
        }
    }
}
