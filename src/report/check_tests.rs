//! Tests of the `pgdiag check` renderers (text, JUnit, GitHub) on a hand-built report that has
//! one query of every status and an environment change, and of the plan-shape alignment.

use super::check_text::{self, DiffOp, align};
use super::text::TextStyle;
use super::{github, junit};
use crate::gate::{
    CHECK_SCHEMA_VERSION, Change, ChangeKind, CheckReport, CheckSummary, EnvironmentDiff,
    QueryResult, QueryStatus, SettingChange,
};

fn lines(shape: &[&str]) -> Vec<String> {
    shape.iter().map(|s| (*s).to_owned()).collect()
}

fn query(id: &str, line: usize, status: QueryStatus) -> QueryResult {
    let file = id.split('#').next().unwrap().to_owned();
    QueryResult {
        id: id.to_owned(),
        file,
        line,
        status,
        regressions: Vec::new(),
        improvements: Vec::new(),
        advisories: Vec::new(),
        notes: Vec::new(),
        baseline_shape: Vec::new(),
        current_shape: Vec::new(),
        baseline_cost: None,
        current_cost: None,
        current_plan: None,
    }
}

fn change(kind: ChangeKind, message: &str) -> Change {
    Change::new(kind, message.to_owned())
}

/// One query of each status: a regression (new seq scan, lost index, shape change), an
/// improvement, an unchanged, a new, a missing and an ignored query; work_mem and the major
/// version changed since the baseline.
fn sample_report() -> CheckReport {
    let mut regressed = query("queries/reviews.sql#1", 3, QueryStatus::Regressed);
    regressed.regressions = vec![
        change(
            ChangeKind::NewSeqScan,
            "new Seq Scan on public.reviews (1,200,000 rows)",
        ),
        change(
            ChangeKind::IndexNoLongerUsed,
            "index public.reviews_product_id no longer used",
        ),
        change(ChangeKind::ShapeChanged, "Nested Loop became Hash Join"),
    ];
    regressed.notes =
        vec!["cost 845.20 → 31,204.50 (+3,592.0%), advisory: the environment differs".to_owned()];
    regressed.baseline_shape = lines(&[
        "Aggregate",
        "  Nested Loop",
        "    Index Scan using products_pkey on public.products",
        "    Index Scan using reviews_product_id on public.reviews",
    ]);
    regressed.current_shape = lines(&[
        "Aggregate",
        "  Hash Join",
        "    Seq Scan on public.reviews",
        "    Hash",
        "      Index Scan using products_pkey on public.products",
    ]);
    regressed.baseline_cost = Some(845.2);
    regressed.current_cost = Some(31204.5);

    let mut improved = query("queries/search.sql#1", 1, QueryStatus::Improved);
    improved.improvements = vec![
        change(ChangeKind::SeqScanGone, "Seq Scan on public.products gone"),
        change(
            ChangeKind::IndexNewlyUsed,
            "index public.products_name_trgm now used",
        ),
    ];
    improved.baseline_shape = lines(&["Seq Scan on public.products"]);
    improved.current_shape = lines(&[
        "Bitmap Heap Scan on public.products",
        "  Bitmap Index Scan using products_name_trgm",
    ]);

    let mut unchanged = query("queries/search.sql#2", 9, QueryStatus::Unchanged);
    unchanged.baseline_shape = lines(&["Index Scan using products_pkey on public.products"]);
    unchanged.current_shape = unchanged.baseline_shape.clone();

    let mut new = query("queries/orders.sql#1", 1, QueryStatus::New);
    new.current_shape = lines(&["Index Scan using orders_customer_id on public.orders"]);

    let mut missing = query("queries/legacy.sql#2", 14, QueryStatus::Missing);
    missing.baseline_shape = lines(&["Seq Scan on public.audit_log"]);

    let ignored = query("legacy/report.sql#1", 1, QueryStatus::Ignored);

    CheckReport {
        schema_version: CHECK_SCHEMA_VERSION,
        pgdiag_version: "0.1.0".to_owned(),
        environment: EnvironmentDiff {
            major_version_mismatch: Some((15, 16)),
            settings_changed: vec![
                SettingChange {
                    name: "jit".to_owned(),
                    baseline: None,
                    current: Some("off".to_owned()),
                },
                SettingChange {
                    name: "work_mem".to_owned(),
                    baseline: Some("4MB".to_owned()),
                    current: Some("64kB".to_owned()),
                },
            ],
            cost_advisory: true,
        },
        queries: vec![regressed, improved, unchanged, missing, ignored, new],
        summary: CheckSummary {
            total: 6,
            regressed: 1,
            improved: 1,
            unchanged: 1,
            new: 1,
            missing: 1,
            ignored: 1,
        },
        notes: Vec::new(),
    }
}

/// Data grew: one query's cost followed it (an advisory, unchanged), another's went beyond it (a
/// regression that also carries an advisory), and the report has a note of its own.
fn growth_report() -> CheckReport {
    let mut advised = query("queries/orders.sql#1", 2, QueryStatus::Unchanged);
    advised.advisories = vec![change(
        ChangeKind::CostGrowthWithData,
        "cost +95% from 1000.00 to 1950.00, in line with data growth: public.orders 300,000 → 600,000 rows (×2.0)",
    )];
    let mut regressed = query("queries/totals.sql#1", 5, QueryStatus::Regressed);
    regressed.regressions = vec![change(
        ChangeKind::CostIncrease,
        "cost +400% from 1000.00 to 5000.00 (threshold +10%), more than data growth explains: rows grew ×2.0 at most (public.orders 300,000 → 600,000 rows)",
    )];
    regressed.advisories = vec![change(
        ChangeKind::CostGrowthWithData,
        "an advisory beside it",
    )];
    regressed.baseline_shape = lines(&["Seq Scan on public.orders"]);
    regressed.current_shape = lines(&["Seq Scan on public.orders"]);
    CheckReport {
        schema_version: CHECK_SCHEMA_VERSION,
        pgdiag_version: "0.1.0".to_owned(),
        environment: EnvironmentDiff::default(),
        queries: vec![advised, regressed],
        summary: CheckSummary {
            total: 2,
            regressed: 1,
            unchanged: 1,
            ..CheckSummary::default()
        },
        notes: vec!["a note on the whole check".to_owned()],
    }
}

fn plain() -> TextStyle {
    TextStyle {
        color: false,
        width: None,
        verbose: false,
    }
}

fn text(report: &CheckReport, style: TextStyle) -> String {
    let mut out = Vec::new();
    check_text::render(&mut out, report, style).unwrap();
    String::from_utf8(out).unwrap()
}

fn junit_xml(report: &CheckReport) -> String {
    let mut out = Vec::new();
    junit::render(&mut out, report).unwrap();
    String::from_utf8(out).unwrap()
}

fn github_commands(report: &CheckReport) -> String {
    let mut out = Vec::new();
    github::render(&mut out, report).unwrap();
    String::from_utf8(out).unwrap()
}

// --- snapshots -------------------------------------------------------------------------------

#[test]
fn check_text_snapshot() {
    insta::assert_snapshot!(text(&sample_report(), plain()));
}

#[test]
fn check_text_narrow_verbose_snapshot() {
    let style = TextStyle {
        color: false,
        width: Some(60),
        verbose: true,
    };
    insta::assert_snapshot!(text(&sample_report(), style));
}

#[test]
fn check_junit_snapshot() {
    insta::assert_snapshot!(junit_xml(&sample_report()));
}

#[test]
fn check_github_snapshot() {
    insta::assert_snapshot!(github_commands(&sample_report()));
}

fn markdown(report: &CheckReport) -> String {
    let mut out = Vec::new();
    super::markdown::render_check(&mut out, report).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn check_markdown_snapshot() {
    insta::assert_snapshot!(markdown(&sample_report()));
}

#[test]
fn check_markdown_growth_and_a_clean_run() {
    let text = markdown(&growth_report());
    assert!(
        text.starts_with("### ❌ pgdiag check: FAIL: 1 regression in 1 query\n"),
        "{text}"
    );
    assert!(
        text.contains("#### Advisories (do not fail the gate)"),
        "{text}"
    );
    assert!(
        text.contains("> **Note:** a note on the whole check"),
        "{text}"
    );
    // Same shape on both sides: no plan diff.
    assert!(!text.contains("```diff"), "{text}");

    let mut clean = growth_report();
    clean.queries.retain(|q| q.status != QueryStatus::Regressed);
    clean.summary.regressed = 0;
    let text = markdown(&clean);
    assert!(
        text.starts_with("### ✅ pgdiag check: OK: no regressions\n"),
        "{text}"
    );
}

#[test]
fn check_growth_advisories_snapshot() {
    let report = growth_report();
    insta::assert_snapshot!(format!(
        "{}\n--- junit\n{}\n--- github\n{}",
        text(&report, plain()),
        junit_xml(&report),
        github_commands(&report)
    ));
}

// --- text ------------------------------------------------------------------------------------

#[test]
fn text_paints_regressions_red_only_with_colour() {
    let report = sample_report();
    let coloured = text(
        &report,
        TextStyle {
            color: true,
            ..plain()
        },
    );
    assert!(coloured.contains("\x1b[31m  ✗ new Seq Scan on public.reviews"));
    assert!(!text(&report, plain()).contains('\x1b'));
}

#[test]
fn text_ends_with_the_verdict() {
    let report = sample_report();
    assert!(
        text(&report, plain()).ends_with("\nFAIL: 3 regressions in 1 query\n"),
        "{}",
        text(&report, plain())
    );

    let mut clean = sample_report();
    clean.queries.retain(|q| q.status != QueryStatus::Regressed);
    clean.summary.regressed = 0;
    clean.summary.total -= 1;
    assert!(text(&clean, plain()).ends_with("\nOK: no regressions\n"));
}

#[test]
fn narrow_plan_diff_fits_the_width() {
    let out = text(
        &sample_report(),
        TextStyle {
            width: Some(60),
            ..plain()
        },
    );
    let plan_rows: Vec<&str> = out.lines().filter(|l| l.contains(" │ ")).collect();
    assert!(!plan_rows.is_empty());
    for row in plan_rows {
        assert!(row.chars().count() <= 60, "too wide: {row:?}");
    }
    assert!(out.contains('…'));
}

// --- JUnit -----------------------------------------------------------------------------------

#[test]
fn junit_structure() {
    let report = sample_report();
    let xml = junit_xml(&report);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    assert_eq!(xml.matches("<testcase ").count(), report.queries.len());
    assert_eq!(xml.matches("<testsuites ").count(), 1);
    assert_eq!(xml.matches("</testsuites>").count(), 1);
    assert_eq!(xml.matches("<testsuite ").count(), 1);
    assert_eq!(xml.matches("</testsuite>").count(), 1);
    // Every non-self-closing test case is closed.
    let self_closed = xml
        .lines()
        .filter(|l| l.trim_start().starts_with("<testcase ") && l.ends_with("/>"))
        .count();
    assert_eq!(
        xml.matches("<testcase ").count(),
        xml.matches("</testcase>").count() + self_closed
    );
    let suite = xml.lines().find(|l| l.contains("<testsuite ")).unwrap();
    assert!(suite.contains(r#"tests="6""#), "{suite}");
    assert!(suite.contains(r#"failures="1""#), "{suite}");
    assert!(suite.contains(r#"skipped="2""#), "{suite}");
    assert!(suite.contains(r#"errors="0""#), "{suite}");
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert_eq!(xml.matches("<skipped ").count(), 2);
    assert!(xml.contains(r#"<property name="work_mem" value="4MB → 64kB"/>"#));
    assert!(xml.contains(
        r#"<testcase classname="queries/reviews.sql" name="queries/reviews.sql#1" file="queries/reviews.sql" line="3">"#
    ));
}

#[test]
fn junit_escapes_markup_and_strips_control_characters() {
    let mut report = sample_report();
    let regressed = &mut report.queries[0];
    regressed.regressions[0].message = "a <b> & \"c\" 'd'\u{1}\u{1b}[31m\u{FFFF}e\tf".to_owned();
    regressed.file = "q<&>.sql".to_owned();
    let xml = junit_xml(&report);

    let escaped = "a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;[31me";
    assert!(
        xml.contains(&format!(
            r#"<failure message="{escaped}&#9;f" type="regression">"#
        )),
        "{xml}"
    );
    assert!(xml.contains(&format!("{escaped}\tf")), "body: {xml}");
    assert!(xml.contains(r#"file="q&lt;&amp;&gt;.sql""#));
    assert!(!xml.contains('\u{1}'));
    assert!(!xml.contains('\u{1b}'));
    assert!(!xml.contains('\u{FFFF}'));
}

#[test]
fn xml_escape_functions() {
    assert_eq!(junit::escape("<&>\"'"), "&lt;&amp;&gt;&quot;&apos;");
    assert_eq!(junit::escape("a\u{0}b\u{8}c\u{B}d\u{C}e\u{1F}f"), "abcdef");
    assert_eq!(
        junit::escape("keep\ttab\nnewline\rcr"),
        "keep\ttab\nnewline\rcr"
    );
    assert_eq!(junit::escape("x\u{FFFE}\u{FFFF}y→😀"), "xy→😀");
    assert_eq!(junit::escape_attr("a\nb\tc\rd"), "a&#10;b&#9;c&#13;d");
}

// --- GitHub ----------------------------------------------------------------------------------

#[test]
fn github_escaping() {
    assert_eq!(
        github::escape_data("100% done\r\nnext"),
        "100%25 done%0D%0Anext"
    );
    assert_eq!(github::escape_data("a:b,c"), "a:b,c");
    assert_eq!(
        github::escape_property("dir:x,y/50%.sql\n"),
        "dir%3Ax%2Cy/50%25.sql%0A"
    );
}

#[test]
fn github_annotations_escape_file_and_message() {
    let mut report = sample_report();
    let regressed = &mut report.queries[0];
    regressed.file = "C:/sql/a,b.sql".to_owned();
    regressed.regressions.truncate(1);
    regressed.regressions[0].message = "cost up 50%\nsee plan".to_owned();
    let out = github_commands(&report);
    let error = out.lines().find(|l| l.starts_with("::error ")).unwrap();
    assert!(
        error.starts_with(
            "::error file=C%3A/sql/a%2Cb.sql,line=3,title=pgdiag%3A new seq scan::\
             cost up 50%25%0Asee plan%0A%0A  baseline "
        ),
        "{error}"
    );
    // The plan diff follows, one row per `%0A`.
    assert!(
        error.contains(
            "%0A~     Index Scan using reviews_product_id on public.reviews │     Hash%0A"
        ),
        "{error}"
    );
    assert_eq!(error.matches("%0A").count(), 2 + 6);
    // Every command is one line; the verdict is a plain line at the end.
    assert!(
        out.lines()
            .all(|l| l.starts_with("::") || l.starts_with("FAIL"))
    );
    assert_eq!(out.lines().last(), Some("FAIL: 1 regression in 1 query"));
}

// --- alignment -------------------------------------------------------------------------------

fn ops(baseline: &[&str], current: &[&str]) -> Vec<(char, String, String)> {
    let (b, c) = (lines(baseline), lines(current));
    align(&b, &c)
        .into_iter()
        .map(|r| {
            (
                r.op.marker(),
                r.baseline.unwrap_or("").to_owned(),
                r.current.unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn row(marker: char, baseline: &str, current: &str) -> (char, String, String) {
    (marker, baseline.to_owned(), current.to_owned())
}

#[test]
fn align_equal() {
    assert_eq!(
        ops(&["a", "b"], &["a", "b"]),
        vec![row('=', "a", "a"), row('=', "b", "b")]
    );
    assert!(ops(&[], &[]).is_empty());
}

#[test]
fn align_insert() {
    assert_eq!(
        ops(&["a", "c"], &["a", "b", "c"]),
        vec![row('=', "a", "a"), row('+', "", "b"), row('=', "c", "c")]
    );
    assert_eq!(ops(&[], &["a"]), vec![row('+', "", "a")]);
}

#[test]
fn align_delete() {
    assert_eq!(
        ops(&["a", "b", "c"], &["a", "c"]),
        vec![row('=', "a", "a"), row('-', "b", ""), row('=', "c", "c")]
    );
    assert_eq!(ops(&["a"], &[]), vec![row('-', "a", "")]);
}

#[test]
fn align_change() {
    assert_eq!(
        ops(&["a", "b", "c"], &["a", "x", "c"]),
        vec![row('=', "a", "a"), row('~', "b", "x"), row('=', "c", "c")]
    );
    // Two removed, one added: one change, one removal.
    assert_eq!(
        ops(&["a", "b", "c", "d"], &["a", "x", "d"]),
        vec![
            row('=', "a", "a"),
            row('~', "b", "x"),
            row('-', "c", ""),
            row('=', "d", "d")
        ]
    );
}

#[test]
fn align_keeps_the_longest_common_subsequence() {
    let rows = ops(&["a", "b", "c", "d"], &["b", "d", "a"]);
    let equal = rows.iter().filter(|r| r.0 == '=').count();
    assert_eq!(equal, 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.0 != '~' || r.1 != r.2));
    let ops_only: Vec<DiffOp> = align(&lines(&["x"]), &lines(&["y"]))
        .iter()
        .map(|r| r.op)
        .collect();
    assert_eq!(ops_only, vec![DiffOp::Changed]);
}

#[test]
fn tiny_width_and_empty_shapes_do_not_panic() {
    let mut report = sample_report();
    // A query that no longer plans has no current shape: every baseline line shows as removed.
    report.queries[0].current_shape.clear();
    let out = text(
        &report,
        TextStyle {
            width: Some(5),
            ..plain()
        },
    );
    // Columns never shrink below a readable minimum, even if the line overflows.
    assert!(out.contains("\n    - Aggrega… │\n"), "{out}");
    assert!(out.contains("\n    -   Neste… │\n"), "{out}");
}

/// A regression with its two values, an advisory timing on a regressed and on an unchanged query.
fn report_with_values_and_advisories() -> CheckReport {
    use crate::gate::Timing;
    let timing = |median_ms: f64, min_ms: f64, max_ms: f64| Timing {
        runs: 5,
        median_ms,
        min_ms,
        max_ms,
    };
    let slower = Change {
        baseline_timing: Some(timing(12.1, 11.8, 12.6)),
        current_timing: Some(timing(30.2, 29.0, 31.5)),
        ..change(
            ChangeKind::TimingIncrease,
            "time 12.10 ms (11.80–12.60, 5 runs) → 30.20 ms (29.00–31.50, 5 runs), +149.6%",
        )
        .values("12.10 ms", "30.20 ms")
    };
    let mut regressed = query("a.sql#1", 1, QueryStatus::Regressed);
    regressed.regressions = vec![
        change(
            ChangeKind::NewSeqScan,
            "new Seq Scan on public.orders (300,000 rows)",
        )
        .values("no Seq Scan", "Seq Scan on public.orders (300,000 rows)"),
    ];
    regressed.advisories = vec![slower.clone()];
    let mut unchanged = query("a.sql#2", 3, QueryStatus::Unchanged);
    unchanged.advisories = vec![slower];
    unchanged.notes = vec!["new finding planning-time (warning) seen in 1 of 3 runs, within the noise margin (±50%): not counted".to_owned()];
    CheckReport {
        schema_version: CHECK_SCHEMA_VERSION,
        pgdiag_version: "0.1.0".to_owned(),
        environment: EnvironmentDiff::default(),
        queries: vec![regressed, unchanged],
        notes: Vec::new(),
        summary: CheckSummary {
            total: 2,
            regressed: 1,
            unchanged: 1,
            ..CheckSummary::default()
        },
    }
}

#[test]
fn regressions_name_their_values_and_advisories_are_shown_apart() {
    let report = report_with_values_and_advisories();
    let plain_text = text(&report, plain());
    assert!(
        plain_text.contains(
            "  ✗ new Seq Scan on public.orders (300,000 rows)\n      new seq scan: no Seq Scan → Seq Scan on public.orders (300,000 rows)\n"
        ),
        "{plain_text}"
    );
    assert!(
        plain_text.contains("  ! time 12.10 ms (11.80–12.60, 5 runs) → 30.20 ms (29.00–31.50, 5 runs), +149.6% (advisory)"),
        "{plain_text}"
    );
    assert!(
        plain_text.contains("advisory  a.sql#2 (a.sql:3): time 12.10 ms"),
        "{plain_text}"
    );
    // The advisory does not count as a regression.
    assert!(
        plain_text.ends_with("FAIL: 1 regression in 1 query\n"),
        "{plain_text}"
    );

    let github = github_commands(&report);
    assert_eq!(
        github
            .lines()
            .filter(
                |l| l.starts_with("::notice") && l.contains("execution time increase (advisory)")
            )
            .count(),
        2,
        "{github}"
    );
    // Verbose output lists unchanged queries with the reason a measured change was not counted.
    let verbose = text(
        &report,
        TextStyle {
            verbose: true,
            ..plain()
        },
    );
    assert!(
        verbose.contains("unchanged a.sql#2 (a.sql:3)\n    note: new finding planning-time (warning) seen in 1 of 3 runs"),
        "{verbose}"
    );
    let junit = junit_xml(&report);
    assert!(junit.contains("advisory: time 12.10 ms"), "{junit}");
    assert!(junit.contains(r#"failures="1""#), "{junit}");
}
