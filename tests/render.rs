//! Snapshot tests of every rendered output, from committed real plans (no database needed).

use pgdiag::commands::explain::offline_report;
use pgdiag::plan::parse_explain;
use pgdiag::report::{self, ExplainReport, Source, SourceKind, TextStyle};

use pgdiag::schema::Document;

use crate::support::{assert_matches_schema, fixture, pgdiag_command, run_with, schema_violations};

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

/// Every committed plan, read as `explain --plan` reads it, makes a document its schema accepts.
#[test]
fn every_saved_plan_makes_an_explain_document_its_schema_accepts() {
    let mut names: Vec<String> = std::fs::read_dir(fixture("fixtures/plans"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "README.md")
        .collect();
    names.sort();
    assert!(names.len() >= 40, "{names:?}");
    for name in &names {
        let mut out = Vec::new();
        report::render_json(&mut out, &report_for(name)).unwrap();
        let json = String::from_utf8(out).unwrap();
        let errors = schema_violations(Document::Explain, &json);
        assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
    }
}

/// The validation the integration tests rely on does reject what breaks a schema: a wrong type,
/// a missing field, another schema version, a value outside an enum, a property the schema
/// does not name.
#[test]
fn a_document_that_breaks_its_schema_is_rejected() {
    let report = report_for("seq_scan_filter.json");
    let valid = serde_json::to_value(&report).unwrap();
    assert_matches_schema(Document::Explain, &valid.to_string());
    assert!(!report.statements[0].findings.is_empty());

    let broken = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut value = valid.clone();
        change(&mut value);
        schema_violations(Document::Explain, &value.to_string())
    };
    let errors = broken(&|v| v["statements"][0]["nodes"][0]["id"] = "first".into());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("at /statements/0/nodes/0/id: "),
        "{errors:?}"
    );
    let errors = broken(&|v| {
        v["statements"][0]["nodes"][0]
            .as_object_mut()
            .unwrap()
            .remove("label");
    });
    assert!(
        errors[0].contains("\"label\" is a required property"),
        "{errors:?}"
    );
    let errors = broken(&|v| v["schema_version"] = 2.into());
    assert!(errors[0].starts_with("at /schema_version: "), "{errors:?}");
    let errors = broken(&|v| v["statements"][0]["findings"][0]["rule"] = "slow-query".into());
    assert!(
        errors[0].starts_with("at /statements/0/findings/0/rule: "),
        "{errors:?}"
    );
    let errors = broken(&|v| v["statements"][0]["summary"]["cost"] = 1.into());
    assert!(
        errors[0].starts_with("at /statements/0/summary: "),
        "{errors:?}"
    );
    let errors = broken(&|v| v["source"]["line"] = 1.into());
    assert!(errors[0].contains("'line' was unexpected"), "{errors:?}");
}

/// `pgdiag explain` run piped with `COLUMNS` set to `columns` (or unset).
fn explain_with_columns(plan: &str, columns: Option<&str>) -> String {
    let mut cmd = pgdiag_command();
    cmd.args(["explain", "--plan"]).arg(fixture(plan));
    if let Some(columns) = columns {
        cmd.env("COLUMNS", columns);
    }
    let run = run_with(cmd, None);
    assert_eq!(run.code, 0, "{}", run.all_output());
    run.stdout
}

/// Issue 14: the binary fits `COLUMNS`; piped without it, or with an unusable width (a pty
/// reporting 0×0), it fits the default width instead of 1-character columns.
#[test]
fn explain_fits_columns_and_falls_back_to_the_default_width() {
    let plan = "fixtures/plans/long_names.json";
    for columns in [80, 100, 160] {
        let out = explain_with_columns(plan, Some(&columns.to_string()));
        for line in out.lines().filter(|l| !l.contains("index: CREATE")) {
            assert!(line.chars().count() <= columns, "{columns}: {line}\n{out}");
        }
        assert!(
            out.contains("see: pgdiag rules index-filter-waste"),
            "{out}"
        );
    }
    let piped = explain_with_columns(plan, None);
    // The index DDL stays on one line, to copy whole; the rest fits.
    let widest = piped
        .lines()
        .filter(|l| !l.contains("index: CREATE"))
        .map(|l| l.chars().count())
        .max()
        .unwrap();
    assert!(widest <= report::text::DEFAULT_WIDTH as usize, "{piped}");
    assert!(widest > 100, "{piped}");
    for unusable in ["0", "5", "wide"] {
        assert_eq!(
            explain_with_columns(plan, Some(unusable)),
            piped,
            "{unusable}"
        );
    }
}

/// Issue 14: what a finding points to exists wherever the binary runs.
#[test]
fn findings_point_to_a_page_the_binary_prints() {
    let out = explain_with_columns("fixtures/plans/long_names.json", None);
    let see: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("see: "))
        .collect();
    assert!(!see.is_empty(), "{out}");
    for command in see {
        let args: Vec<&str> = command.split(' ').collect();
        assert_eq!(args[..2], ["pgdiag", "rules"], "{command}");
        let mut cmd = pgdiag_command();
        cmd.args(&args[1..]);
        let page = run_with(cmd, None);
        assert_eq!(page.code, 0, "{command}: {}", page.all_output());
        assert!(page.stdout.contains(args[2]), "{}", page.stdout);
    }
}
