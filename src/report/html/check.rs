//! `pgdiag check --format html`: the gate's verdict on one page; each query's changes, and for a
//! query whose plan changed, the baseline and current plan shapes side by side with the changed
//! lines marked, then the two plans drawn ([`super::diff`]): the baseline's from its shape lines
//! (the baseline file keeps shapes, not nodes' figures), the current one from its nodes.

use std::io::{self, Write};

use super::diff::{DiffSide, SidePlan, plan_diff, render_plan_diff};
use super::{Esc, page_end, page_start};
use crate::gate::diff::{DiffOp, align};
use crate::gate::{Change, CheckReport, QueryResult, QueryStatus};
use crate::report::check_text::kind_label;

fn status_words(status: QueryStatus) -> (&'static str, &'static str) {
    match status {
        QueryStatus::Regressed => ("regressed", "sev-critical"),
        QueryStatus::Improved => ("improved", "ok"),
        QueryStatus::Unchanged => ("unchanged", "sev-info"),
        QueryStatus::New => ("new", "sev-info"),
        QueryStatus::Missing => ("missing", "sev-notice"),
        QueryStatus::Ignored => ("ignored", "sev-info"),
    }
}

/// The whole check report as one page.
pub fn render_check(w: &mut impl Write, report: &CheckReport) -> io::Result<()> {
    let s = &report.summary;
    let meta = format!(
        "pgdiag {} · {} queries: {} regressed, {} improved, {} unchanged, {} new, {} missing, {} ignored",
        report.pgdiag_version,
        s.total,
        s.regressed,
        s.improved,
        s.unchanged,
        s.new,
        s.missing,
        s.ignored
    );
    page_start(w, "pgdiag check", &meta)?;
    let verdict = if report.has_regressions() {
        "<p class=\"verdict error\"><b>The gate fails:</b> a query regressed.</p>"
    } else {
        "<p class=\"verdict\"><b>The gate passes.</b></p>"
    };
    writeln!(w, "<section class=\"block\">{verdict}")?;
    let env = &report.environment;
    if let Some((baseline, current)) = env.major_version_mismatch {
        writeln!(
            w,
            "<p class=\"note\">PostgreSQL {baseline} in the baseline, {current} now.</p>"
        )?;
    }
    for change in &env.settings_changed {
        writeln!(
            w,
            "<p class=\"note\">setting {}: {} → {}</p>",
            Esc(&change.name),
            Esc(change.baseline.as_deref().unwrap_or("(unset)")),
            Esc(change.current.as_deref().unwrap_or("(unset)"))
        )?;
    }
    if env.cost_advisory {
        writeln!(
            w,
            "<p class=\"note\">Cost changes are advisory: the environment differs.</p>"
        )?;
    }
    for note in &report.notes {
        writeln!(w, "<p class=\"note\">{}</p>", Esc(note))?;
    }
    writeln!(w, "</section>")?;
    // Regressions first, then the rest in the report's order.
    let ordered = report
        .queries
        .iter()
        .filter(|q| q.status == QueryStatus::Regressed)
        .chain(
            report
                .queries
                .iter()
                .filter(|q| q.status != QueryStatus::Regressed),
        );
    for (i, query) in ordered.enumerate() {
        render_query(w, i + 1, query)?;
    }
    page_end(w)
}

fn render_query(w: &mut impl Write, number: usize, query: &QueryResult) -> io::Result<()> {
    let (status, class) = status_words(query.status);
    writeln!(
        w,
        "<section class=\"block query {status}\" id=\"q{number}\"><h2><span class=\"badge {class}\">{status}</span> {} <span class=\"note\">{}:{}</span></h2>",
        Esc(&query.id),
        Esc(&query.file),
        query.line
    )?;
    let groups: [(&str, &str, &[Change]); 3] = [
        ("regression", "✗", &query.regressions),
        ("improvement", "✓", &query.improvements),
        ("advisory", "!", &query.advisories),
    ];
    let any = groups.iter().any(|(_, _, changes)| !changes.is_empty());
    if any {
        writeln!(w, "<ul class=\"changes\">")?;
        for (kind, marker, changes) in groups {
            for change in changes {
                write!(
                    w,
                    "<li class=\"{kind}\">{marker} <b>{}</b>: {}",
                    Esc(kind_label(change.kind)),
                    Esc(&change.message)
                )?;
                if change.baseline.is_some() || change.current.is_some() {
                    write!(
                        w,
                        " <span class=\"note\">({} → {})</span>",
                        Esc(change.baseline.as_deref().unwrap_or("–")),
                        Esc(change.current.as_deref().unwrap_or("–"))
                    )?;
                }
                writeln!(w, "</li>")?;
            }
        }
        writeln!(w, "</ul>")?;
    }
    for note in &query.notes {
        writeln!(w, "<p class=\"note\">note: {}</p>", Esc(note))?;
    }
    let changed_shape = query.baseline_shape != query.current_shape;
    if changed_shape && (!query.baseline_shape.is_empty() || !query.current_shape.is_empty()) {
        render_shapes(w, query)?;
    }
    render_plans(w, number, query)?;
    writeln!(w, "</section>")
}

/// The baseline's plan (its shape) and the current one (its nodes when kept, else its shape)
/// drawn side by side on the cost scale, the changed nodes marked.
fn render_plans(w: &mut impl Write, number: usize, query: &QueryResult) -> io::Result<()> {
    let Some(plan) = &query.current_plan else {
        return Ok(());
    };
    if query.baseline_shape.is_empty() || query.current_shape.is_empty() {
        return Ok(());
    }
    let cost = |c: Option<f64>| {
        c.map(|c| format!("cost {}", crate::units::fmt_count(c)))
            .unwrap_or_default()
    };
    let (baseline_figure, current_figure) = (cost(query.baseline_cost), cost(query.current_cost));
    let before = DiffSide {
        label: "baseline",
        figure: &baseline_figure,
        plan: SidePlan::Shape(&query.baseline_shape),
        cost: query.baseline_cost,
    };
    // The nodes line up with the shape lines (one per node, both in preorder) when kept.
    let current = if plan.kept() && plan.nodes.len() == query.current_shape.len() {
        SidePlan::Nodes {
            nodes: &plan.nodes,
            analyzed: plan.analyzed,
        }
    } else {
        SidePlan::Shape(&query.current_shape)
    };
    let after = DiffSide {
        label: "current",
        figure: &current_figure,
        plan: current,
        cost: query.current_cost,
    };
    let diff = plan_diff(
        &before,
        &after,
        Some((&query.baseline_shape, &query.current_shape)),
    );
    writeln!(
        w,
        "<details class=\"plans\" open><summary>Plans: baseline and current{}</summary>",
        if diff.is_empty() { ", the same" } else { "" }
    )?;
    render_plan_diff(w, &format!("q{number}p"), &before, &after, &diff)?;
    writeln!(w, "</details>")
}

/// The two plans side by side, one row per node line, changed rows marked.
fn render_shapes(w: &mut impl Write, query: &QueryResult) -> io::Result<()> {
    let cost = |c: Option<f64>| c.map(|c| format!(" (cost {})", crate::units::fmt_count(c)));
    writeln!(
        w,
        "<table class=\"shapes\"><thead><tr><th></th><th>baseline{}</th><th>current{}</th></tr></thead><tbody>",
        Esc(&cost(query.baseline_cost).unwrap_or_default()),
        Esc(&cost(query.current_cost).unwrap_or_default())
    )?;
    for row in align(&query.baseline_shape, &query.current_shape) {
        let class = match row.op {
            DiffOp::Equal => "same",
            DiffOp::Changed => "changed",
            DiffOp::Removed => "removed",
            DiffOp::Added => "added",
        };
        writeln!(
            w,
            "<tr class=\"{class}\"><td class=\"op\">{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            row.op.marker(),
            Esc(row.baseline.unwrap_or("")),
            Esc(row.current.unwrap_or(""))
        )?;
    }
    writeln!(w, "</tbody></table>")
}
