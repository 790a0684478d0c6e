//! `pgdiag suggest --format html`: the statements, then each suggestion with its DDL, its proof
//! (how it was verified, what each statement it serves gained) and each served statement's plan
//! before and after side by side, a changed plan marked: one line of its scans per side, then the
//! two plans drawn from the nodes each measure kept ([`super::diff`]), the changed nodes marked.

use std::io::{self, Write};

use super::diff::{DiffSide, SidePlan, plan_diff, render_plan_diff};
use super::{Esc, page_end, page_start};
use crate::suggest::report::{
    Measure, StatementVerification, SuggestReport, Suggestion, SuggestionStatus,
};
use crate::units::fmt_bytes;

/// The whole suggest report as one page.
pub fn render_suggest(w: &mut impl Write, report: &SuggestReport) -> io::Result<()> {
    let kept = report
        .suggestions
        .iter()
        .filter(|s| s.status == SuggestionStatus::Kept)
        .count();
    let meta = format!(
        "pgdiag {} · PostgreSQL {} · {} · {} statements, {} suggestions ({kept} kept) · verified by {}",
        report.pgdiag_version,
        report.server.version,
        report.server.target,
        report.statements.len(),
        report.suggestions.len(),
        report.verify.mode.as_str()
    );
    page_start(w, "pgdiag suggest", &meta)?;
    writeln!(
        w,
        "<section class=\"block\"><h2>Statements</h2><ol class=\"statements\">"
    )?;
    for s in &report.statements {
        write!(
            w,
            "<li id=\"st{}\"><span class=\"note\">{}:{}</span><pre class=\"sql\">{}</pre><span class=\"note\">{}</span>",
            s.index,
            Esc(&s.source),
            s.line,
            Esc(&s.sql),
            Esc(&s.plan)
        )?;
        if let Some(error) = &s.error {
            write!(w, "<p class=\"error\">{}</p>", Esc(&error.message))?;
        }
        writeln!(w, "</li>")?;
    }
    writeln!(w, "</ol></section>")?;
    for (i, suggestion) in report.suggestions.iter().enumerate() {
        render_suggestion(w, i + 1, suggestion)?;
    }
    for entry in &report.no_suggestions {
        writeln!(
            w,
            "<p class=\"note\">Statement {}: no suggestion — {}</p>",
            entry.statement,
            Esc(&entry.reason)
        )?;
    }
    for note in &report.notes {
        writeln!(w, "<p class=\"note\">{}</p>", Esc(note))?;
    }
    page_end(w)
}

fn render_suggestion(w: &mut impl Write, number: usize, s: &Suggestion) -> io::Result<()> {
    let class = match s.status {
        SuggestionStatus::Kept => "ok",
        SuggestionStatus::Rejected => "sev-critical",
        SuggestionStatus::Unverified => "sev-notice",
    };
    writeln!(
        w,
        "<section class=\"block suggestion {}\" id=\"{}\"><h2><span class=\"badge {class}\">{}</span> {} <code>{}</code> on {} ({})</h2>",
        s.status.as_str(),
        Esc(&s.id),
        s.status.as_str(),
        s.kind().as_str(),
        Esc(s.object.name()),
        Esc(s.object.table()),
        Esc(&s.object.key_columns().join(", "))
    )?;
    writeln!(w, "<p>{}</p>", Esc(&s.reason))?;
    if let Some(reason) = &s.rejected_reason {
        writeln!(w, "<p class=\"error\">rejected: {}</p>", Esc(reason))?;
    }
    writeln!(w, "<pre class=\"ddl\">{}</pre>", Esc(&s.ddl.join("\n")))?;
    let Some(v) = &s.verification else {
        return writeln!(w, "<p class=\"note\">Not verified.</p></section>");
    };
    let mut proof = format!("Proof: verified by {}", v.method.as_str());
    if let Some(pct) = v.improvement_pct {
        proof.push_str(&format!(
            ", {pct:.1}% better over the statements it serves (time, else cost)"
        ));
    }
    if let Some(size) = v.weighed_size() {
        proof.push_str(&format!(", size {}", fmt_bytes(size)));
    }
    if let Some(build) = v.build_ms {
        proof.push_str(&format!(", built in {} ms", crate::units::fmt_ms(build)));
    }
    if !v.alongside.is_empty() {
        proof.push_str(&format!(", measured alongside {}", v.alongside.join(", ")));
    }
    writeln!(w, "<p class=\"proof\">{}</p>", Esc(&proof))?;
    writeln!(
        w,
        "<table class=\"shapes proof\"><thead><tr><th></th><th>before</th><th>after</th></tr></thead><tbody>"
    )?;
    for (kind, rows) in [("serves", &v.per_statement), ("harms", &v.harms)] {
        for row in rows {
            render_comparison(w, kind, row)?;
        }
    }
    writeln!(w, "</tbody></table>")?;
    for (j, (kind, row)) in [("serves", &v.per_statement), ("harms", &v.harms)]
        .into_iter()
        .flat_map(|(kind, rows)| rows.iter().map(move |row| (kind, row)))
        .enumerate()
    {
        render_plans(w, &format!("p{number}x{}", j + 1), kind, row)?;
    }
    writeln!(w, "</section>")
}

/// A measure's kept plan as a side to draw; `None` when the measure kept none.
fn side_plan(m: &Measure) -> Option<SidePlan<'_>> {
    let plan = m.plan_nodes.as_ref()?;
    Some(if plan.kept() {
        SidePlan::Nodes {
            nodes: &plan.nodes,
            analyzed: plan.analyzed,
        }
    } else {
        SidePlan::Omitted(plan.node_count)
    })
}

/// One statement's plans before and after, drawn side by side with the changed nodes marked.
fn render_plans(
    w: &mut impl Write,
    key: &str,
    kind: &str,
    row: &StatementVerification,
) -> io::Result<()> {
    let (Some(before), Some(after)) = (side_plan(&row.before), side_plan(&row.after)) else {
        return Ok(());
    };
    let (before_figure, after_figure) = (row.before.figure(), row.after.figure());
    let before = DiffSide {
        label: "before",
        figure: &before_figure,
        plan: before,
        cost: row.before.cost,
    };
    let after = DiffSide {
        label: "after",
        figure: &after_figure,
        plan: after,
        cost: row.after.cost,
    };
    let diff = plan_diff(&before, &after, None);
    writeln!(
        w,
        "<details class=\"plans {kind}\" open><summary>Statement <a href=\"#st{0}\">#{0}</a>: plan before and after{1}</summary>",
        row.statement,
        if diff.is_empty() { ", the same" } else { "" }
    )?;
    render_plan_diff(w, key, &before, &after, &diff)?;
    writeln!(w, "</details>")
}

/// One statement's before and after: figures, then the plan lines, marked when they differ.
fn render_comparison(
    w: &mut impl Write,
    kind: &str,
    row: &StatementVerification,
) -> io::Result<()> {
    let figure = |m: &Measure| m.figure();
    let gain = row
        .improvement_pct
        .map(|p| format!(" · {p:+.1}%"))
        .unwrap_or_default();
    let used = if row.used {
        ""
    } else {
        " · not used by the plan"
    };
    writeln!(
        w,
        "<tr class=\"figures {kind}\"><td class=\"op\"><a href=\"#st{0}\">#{0}</a></td><td>{1}</td><td>{2}{3}{4}</td></tr>",
        row.statement,
        Esc(&figure(&row.before)),
        Esc(&figure(&row.after)),
        Esc(&gain),
        used
    )?;
    let class = if row.before.plan == row.after.plan {
        "same"
    } else {
        "changed"
    };
    let marker = if class == "same" { "=" } else { "~" };
    writeln!(
        w,
        "<tr class=\"{class}\"><td class=\"op\">{marker}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
        Esc(&row.before.plan),
        Esc(&row.after.plan)
    )
}
