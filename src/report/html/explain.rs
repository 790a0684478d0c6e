//! `pgdiag explain --format html`: each statement with its SQL, timings, the plan as a flame graph
//! and a tree, and its findings drawn on their nodes and listed with evidence and advice.

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::plan::{PlanView, render_findings, render_plan};
use super::{Esc, page_end, page_start};
use crate::report::model::{ExplainReport, StatementReport};
use crate::units::{fmt_ms, fmt_pct};

/// The whole explain report as one page.
pub fn render_explain(w: &mut impl Write, report: &ExplainReport) -> io::Result<()> {
    let mut meta = format!("pgdiag {}", report.pgdiag_version);
    if let Some(path) = &report.source.path {
        meta.push_str(&format!(" · {path}"));
    }
    if let Some(server) = &report.server {
        meta.push_str(&format!(
            " · PostgreSQL {} · {}",
            server.version, server.target
        ));
    }
    let findings: usize = report.statements.iter().map(|s| s.findings.len()).sum();
    meta.push_str(&format!(
        " · {} statement{}, {findings} finding{}",
        report.statements.len(),
        plural(report.statements.len()),
        plural(findings)
    ));
    page_start(w, "pgdiag explain", &meta)?;
    if report.statements.len() > 1 {
        writeln!(w, "<nav class=\"toc\"><ol>")?;
        for s in &report.statements {
            writeln!(
                w,
                "<li><a href=\"#s{}\">{}</a></li>",
                s.index,
                Esc(&statement_title(report, s))
            )?;
        }
        writeln!(w, "</ol></nav>")?;
    }
    for statement in &report.statements {
        render_statement(w, report, statement)?;
    }
    page_end(w)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn statement_title(report: &ExplainReport, s: &StatementReport) -> String {
    let mut title = format!("Statement {}", s.index);
    if let Some(line) = s.line {
        title.push_str(&format!(" · {}", report.location(s, line)));
    } else if let Some(source) = &s.source {
        title.push_str(&format!(" · {source}"));
    }
    title
}

/// One statement: heading, SQL, facts, then its plan and findings (or its error).
pub fn render_statement(
    w: &mut impl Write,
    report: &ExplainReport,
    s: &StatementReport,
) -> io::Result<()> {
    let key = format!("s{}", s.index);
    writeln!(
        w,
        "<section class=\"statement\" id=\"{key}\"><h2>{}</h2>",
        Esc(&statement_title(report, s))
    )?;
    if let Some(sql) = &s.sql {
        writeln!(w, "<pre class=\"sql\">{}</pre>", Esc(sql))?;
    }
    if let Some(error) = &s.error {
        write!(w, "<p class=\"error\">error: {}", Esc(&error.message))?;
        if let Some(code) = &error.sqlstate {
            write!(w, " (SQLSTATE {})", Esc(code))?;
        }
        writeln!(w, "</p>")?;
        for (label, text) in [("detail", &error.detail), ("hint", &error.hint)] {
            if let Some(text) = text {
                writeln!(w, "<p class=\"note\">{label}: {}</p>", Esc(text))?;
            }
        }
        return writeln!(w, "</section>");
    }
    let mut facts = Vec::new();
    if let Some(summary) = &s.summary {
        if let Some(p) = summary.planning_time_ms {
            facts.push(("Planning", format!("{} ms", fmt_ms(p))));
        }
        if let Some(e) = summary.execution_time_ms {
            facts.push(("Execution", format!("{} ms", fmt_ms(e))));
        }
        if summary.triggers_time_ms > 0.0 {
            facts.push((
                "Triggers",
                format!("{} ms", fmt_ms(summary.triggers_time_ms)),
            ));
        }
        if let Some(jit) = &summary.jit {
            let mut words = jit
                .total_ms
                .map(|t| format!("{} ms", fmt_ms(t)))
                .unwrap_or_default();
            if let Some(share) = jit.share_of_execution {
                words.push_str(&format!(" ({} of execution)", fmt_pct(share)));
            }
            facts.push(("JIT", words));
        }
        for (name, value) in &summary.settings {
            facts.push(("Setting", format!("{name} = {value}")));
        }
    }
    facts.push(("Nodes", s.nodes.len().to_string()));
    write!(w, "<div class=\"facts\">")?;
    for (label, value) in &facts {
        write!(w, "<span>{label} <b>{}</b></span>", Esc(value))?;
    }
    writeln!(w, "</div>")?;
    let mut notes = Vec::new();
    if !s.analyzed {
        notes.push(
            "Not executed: the planner's estimates only (no actual rows or times).".to_owned(),
        );
    }
    if s.generic_plan {
        notes.push("Generic plan: planned without parameter values, valid for any.".to_owned());
    }
    if s.writes && s.rolled_back {
        notes.push("The statement writes; what it wrote was rolled back.".to_owned());
    }
    for effect in &s.side_effects {
        notes.push(format!(
            "{} was called: {} (not undone by the rollback)",
            effect.function, effect.effect
        ));
    }
    for note in notes {
        writeln!(w, "<p class=\"note\">{}</p>", Esc(&note))?;
    }
    if !s.nodes.is_empty() {
        let changed = BTreeSet::new();
        render_plan(
            w,
            &PlanView {
                key: &key,
                nodes: &s.nodes,
                findings: &s.findings,
                changed: &changed,
                analyzed: s.analyzed,
            },
        )?;
    }
    render_findings(w, &key, &s.findings)?;
    writeln!(w, "</section>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::html::plan::LISTED_FINDINGS;
    use crate::report::model::{Source, SourceKind};

    fn report_of(name: &str) -> ExplainReport {
        let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        report_of_text(name, &text)
    }

    fn report_of_text(name: &str, text: &str) -> ExplainReport {
        let mut report = ExplainReport::new(
            Source {
                kind: SourceKind::PlanFile,
                path: Some(name.to_owned()),
            },
            None,
        );
        for (i, explain) in crate::plan::parse_explain(text).unwrap().iter().enumerate() {
            let analysis = crate::plan::analyze(explain);
            report.statements.push(StatementReport::explained(
                i + 1,
                None,
                None,
                explain,
                &analysis,
                None,
                &Default::default(),
            ));
        }
        report
    }

    fn section(report: &ExplainReport) -> String {
        let mut out = Vec::new();
        render_statement(&mut out, report, &report.statements[0]).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_statement_section_holds_its_flame_graph_tree_and_findings() {
        let html = section(&report_of("index_filter_waste.json"));
        insta::assert_snapshot!(html);
    }

    #[test]
    fn a_plan_that_was_not_executed_is_drawn_by_cost_and_says_so() {
        let html = section(&report_of("estimated_only.json"));
        assert!(html.contains("not executed: width = estimated total cost"));
        assert!(html.contains("Not executed: the planner"));
        // Bars have the neutral fill, not a heat colour.
        assert!(html.contains("fill=\"hsl(210,25%,84%)\""));
        assert!(!html.contains("class=\"scale\""));
    }

    #[test]
    fn the_page_is_one_file_with_its_style_and_script_inline() {
        let report = report_of("join_chain.json");
        let mut out = Vec::new();
        render_explain(&mut out, &report).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<style>") && page.contains("<script>"));
        assert!(!page.contains("src=") && !page.contains("<link"));
        assert!(page.trim_end().ends_with("</html>"));
        // One bar per node of this small plan, each in the tree as well.
        let nodes = report.statements[0].nodes.len();
        assert_eq!(page.matches("<g class=\"fg-node").count(), nodes);
        assert_eq!(
            page.matches("<li class=\"").count() - report.statements[0].findings.len(),
            nodes
        );
    }

    /// Bytes per node a large plan's page may take, all included.
    const LARGE_BYTES_PER_NODE: usize = 1_000;

    fn large_page(name: &str, plan: &str) -> (ExplainReport, String) {
        let report = report_of_text(name, plan);
        let mut out = Vec::new();
        render_explain(&mut out, &report).unwrap();
        (report, String::from_utf8(out).unwrap())
    }

    /// The island of a large plan's node details, parsed as the page's script parses it.
    fn island(page: &str, key: &str) -> Vec<serde_json::Value> {
        let start = format!("id=\"nodes-{key}\">");
        let from = page.find(&start).unwrap() + start.len();
        let to = from + page[from..].find("</script>").unwrap();
        serde_json::from_str(&page[from..to]).unwrap()
    }

    #[test]
    fn a_10000_node_plan_renders_to_a_page_of_bounded_size() {
        use crate::plan::synthetic::{deep_plan, wide_plan};
        // deep_plan(levels) has 2 × levels - 1 nodes.
        for (name, plan) in [("wide", wide_plan(10_000)), ("deep", deep_plan(5_001))] {
            let (report, page) = large_page(name, &plan);
            let s = &report.statements[0];
            let nodes = s.nodes.len();
            assert!(nodes >= 10_000, "{name}: {nodes} nodes");
            assert!(
                page.len() <= nodes * LARGE_BYTES_PER_NODE,
                "{name}: {} bytes for {nodes} nodes ({} a node)",
                page.len(),
                page.len() / nodes
            );
            // Every node has its row in the tree and its details in the island, not under the row.
            assert_eq!(
                page.matches("<li class=\"").count() - s.findings.len().min(100),
                nodes
            );
            assert_eq!(page.matches("<div class=\"row\"").count(), nodes);
            assert!(!page.contains("<details>"));
            assert!(page.contains("A large plan: 10,00"));
            let data = island(&page, "s1");
            assert_eq!(data.len(), nodes);
            for (entry, node) in data.iter().zip(&s.nodes) {
                assert_eq!(entry[0], node.metrics.id);
            }
            // The findings past the first hundred are counted by rule.
            if s.findings.len() > LISTED_FINDINGS {
                let list = &page[page.find("<ol class=\"findings\">").unwrap()..];
                let list = &list[..list.find("</ol>").unwrap()];
                assert_eq!(
                    list.matches("<li class=\"finding ").count(),
                    LISTED_FINDINGS
                );
                assert!(page.contains(&format!(
                    "{} more findings, by rule",
                    crate::units::fmt_count((s.findings.len() - LISTED_FINDINGS) as f64)
                )));
            }
            // Narrow bars are merged or left out, and the page says how many.
            let bars = page.matches("<g class=\"fg-node").count();
            assert!(bars < nodes, "{name}: {bars} bars");
            assert!(page.contains(&format!(
                "{} of {} nodes drawn;",
                crate::units::fmt_count(bars as f64),
                crate::units::fmt_count(nodes as f64)
            )));
        }
    }

    #[test]
    fn a_large_plans_details_are_data_no_text_can_break_out_of() {
        use crate::plan::synthetic::wide_plan;
        let plan = wide_plan(1_200).replace("\"table_1\"", "\"table_1</script><b>&amp;\"");
        let (report, page) = large_page("wide", &plan);
        assert!(!page.contains("</script><b>"));
        let data = island(&page, "s1");
        assert_eq!(data.len(), report.statements[0].nodes.len());
        let titles: Vec<&str> = data.iter().map(|d| d[1].as_str().unwrap()).collect();
        assert!(
            titles
                .iter()
                .any(|t| t.contains("table_1</script><b>&amp;")),
            "no title names the odd table"
        );
        // The island holds what the static details would: the rows of the details table.
        let node = &report.statements[0].nodes[0];
        let mut static_detail = Vec::new();
        super::super::plan::render_detail(&mut static_detail, node, "s1-n0", &[], true).unwrap();
        let static_detail = String::from_utf8(static_detail).unwrap();
        for row in data[0][2].as_array().unwrap() {
            let label = row[0].as_str().unwrap();
            let value = row[1].as_str().unwrap();
            assert!(
                static_detail.contains(&format!("<th>{}</th><td>{}</td>", Esc(label), Esc(value))),
                "{label}: {value} in {static_detail}"
            );
        }
    }

    #[test]
    fn a_plan_of_a_thousand_nodes_is_still_written_out_in_full() {
        use crate::plan::synthetic::deep_plan;
        let (report, page) = large_page("deep", &deep_plan(500));
        let nodes = report.statements[0].nodes.len();
        assert_eq!(nodes, 999);
        assert_eq!(page.matches("<details><summary>").count(), nodes);
        assert!(
            !page.contains("class=\"plan-data\"") && !page.contains("class=\"note large-plan\"")
        );
    }
}
