//! Snapshot tests of every rendered output, from committed real plans (no database needed).

use pgdiag::commands::explain::offline_report;
use pgdiag::plan::parse_explain;
use pgdiag::report::{self, ExplainReport, Source, SourceKind, TextStyle};

use crate::support::fixture;

fn report_for(name: &str) -> ExplainReport {
    let path = format!("fixtures/plans/{name}");
    let text = std::fs::read_to_string(fixture(&path)).unwrap();
    let explains = parse_explain(&text).unwrap();
    offline_report(
        Source {
            kind: SourceKind::PlanFile,
            path: Some(path),
        },
        &explains,
        &Default::default(),
    )
}

fn text(name: &str, color: bool) -> String {
    let mut out = Vec::new();
    report::text::render(
        &mut out,
        &report_for(name),
        TextStyle {
            color,
            width: None,
            verbose: false,
        },
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn text_nested_loop_many_loops() {
    insta::assert_snapshot!(text("nested_loop_many_loops.json", false));
}

#[test]
fn text_cte() {
    insta::assert_snapshot!(text("cte.json", false));
}

#[test]
fn text_parallel_seq_scan() {
    insta::assert_snapshot!(text("parallel_seq_scan.json", false));
}

#[test]
fn text_estimated_only() {
    insta::assert_snapshot!(text("estimated_only.json", false));
}

#[test]
fn text_jit() {
    insta::assert_snapshot!(text("jit.json", false));
}

#[test]
fn text_findings_for_an_external_sort() {
    insta::assert_snapshot!(text("sort_external.json", false));
}

#[test]
fn text_verbose_lists_what_was_checked() {
    let mut out = Vec::new();
    let style = TextStyle {
        color: false,
        width: None,
        verbose: true,
    };
    report::text::render(&mut out, &report_for("parallel_seq_scan.json"), style).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn text_auto_explain_log_with_two_entries() {
    insta::assert_snapshot!(text("auto_explain.log", false));
}

/// `explain --plan` on psql's default text-format output (EXPLAIN (ANALYZE, BUFFERS) as pasted
/// from psql): the same report a JSON plan gives.
#[test]
fn text_from_psql_text_format() {
    insta::assert_snapshot!(text("text_parallel_hash_join.txt", false));
}

#[test]
fn text_with_color_marks_hot_nodes() {
    let colored = text("nested_loop_many_loops.json", true);
    // The 86% node is "hot" (>40%): red.
    assert!(
        colored.contains("\u{1b}[31m")
            || colored.contains("\u{1b}[38;5;9m")
            || colored.contains("\u{1b}[1;31m"),
        "{colored}"
    );
}

#[test]
fn json_report_schema() {
    let report = report_for("sort_external.json");
    let mut value = serde_json::to_value(&report).unwrap();
    // The raw plan is PostgreSQL's own document; the snapshot pins our schema around it.
    value["statements"][0]["plan"] = serde_json::json!("<raw EXPLAIN JSON>");
    value["pgdiag_version"] = serde_json::json!("[version]");
    insta::assert_json_snapshot!(value);
    // And it round-trips into the public types.
    let mut out = Vec::new();
    report::render_json(&mut out, &report).unwrap();
    let back: ExplainReport = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, report);
}
