//! GitHub-flavoured Markdown for a pull-request comment or a job summary (`$GITHUB_STEP_SUMMARY`):
//! `pgdiag check --format markdown` and `pgdiag suggest --format markdown`.
//!
//! Both start with a heading that carries the verdict, so a reviewer sees the outcome without
//! opening anything; the detail (plan diffs, DDL, rejected suggestions) follows in tables, code
//! blocks and `<details>` sections. Text from plans and SQL goes through [`cell`] in tables
//! (pipes and line breaks escaped) and through fenced blocks elsewhere, whose fence is longer than
//! any run of backticks inside.

use std::io::{self, Write};

use super::check_text::{DiffOp, align, kind_label, verdict};
use super::suggest::{before_after, proof_lines, size_cell, what};
use crate::gate::{CheckReport, QueryResult, QueryStatus};
use crate::suggest::report::{
    ApplyStatus, SuggestReport, Suggestion, SuggestionStatus, Verdict, Verification,
};
use crate::units::fmt_ms;

/// `pgdiag check` as Markdown: verdict heading, counts, environment differences, one section per
/// regressed query (what changed, baseline → current, the plan diff), then improvements,
/// advisories, and new or missing queries.
pub fn render_check(w: &mut impl Write, report: &CheckReport) -> io::Result<()> {
    let failed = report.has_regressions();
    writeln!(
        w,
        "### {} pgdiag check: {}",
        if failed { "❌" } else { "✅" },
        verdict(report)
    )?;
    writeln!(w)?;
    let s = &report.summary;
    writeln!(
        w,
        "{} queries: **{} regressed**, {} improved, {} unchanged, {} new, {} missing, {} ignored",
        s.total, s.regressed, s.improved, s.unchanged, s.new, s.missing, s.ignored
    )?;
    for note in &report.notes {
        writeln!(w)?;
        writeln!(w, "> **Note:** {}", inline(note))?;
    }
    let env = &report.environment;
    if env.major_version_mismatch.is_some() || !env.settings_changed.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "**Environment differs from the baseline** (cost changes are advisory):"
        )?;
        writeln!(w)?;
        if let Some((baseline, current)) = env.major_version_mismatch {
            writeln!(w, "- PostgreSQL major version: {baseline} → {current}")?;
        }
        for setting in &env.settings_changed {
            writeln!(
                w,
                "- `{}`: {} → {}",
                setting.name,
                code_or_unset(setting.baseline.as_deref()),
                code_or_unset(setting.current.as_deref())
            )?;
        }
    }

    for query in report
        .queries
        .iter()
        .filter(|q| q.status == QueryStatus::Regressed)
    {
        writeln!(w)?;
        writeln!(w, "#### ❌ {}", location(query))?;
        writeln!(w)?;
        writeln!(w, "| regression | what changed | baseline → current |")?;
        writeln!(w, "|---|---|---|")?;
        for change in &query.regressions {
            let values = match (&change.baseline, &change.current) {
                (Some(baseline), Some(current)) => format!("{baseline} → {current}"),
                _ => String::new(),
            };
            writeln!(
                w,
                "| {} | {} | {} |",
                kind_label(change.kind),
                cell(&change.message),
                cell(&values)
            )?;
        }
        for note in &query.notes {
            writeln!(w)?;
            writeln!(w, "> {}", inline(note))?;
        }
        if query.baseline_shape != query.current_shape {
            writeln!(w)?;
            writeln!(w, "<details><summary>Plan: baseline → current</summary>")?;
            writeln!(w)?;
            let mut lines = Vec::new();
            for row in align(&query.baseline_shape, &query.current_shape) {
                match row.op {
                    DiffOp::Equal => lines.push(format!("  {}", row.current.unwrap_or(""))),
                    DiffOp::Changed => {
                        lines.push(format!("- {}", row.baseline.unwrap_or("")));
                        lines.push(format!("+ {}", row.current.unwrap_or("")));
                    }
                    DiffOp::Removed => lines.push(format!("- {}", row.baseline.unwrap_or(""))),
                    DiffOp::Added => lines.push(format!("+ {}", row.current.unwrap_or(""))),
                }
            }
            fenced(w, "diff", &lines.join("\n"))?;
            writeln!(w)?;
            writeln!(w, "</details>")?;
        }
    }

    let improved: Vec<&QueryResult> = report
        .queries
        .iter()
        .filter(|q| q.status == QueryStatus::Improved)
        .collect();
    if !improved.is_empty() {
        writeln!(w)?;
        writeln!(w, "#### Improved")?;
        writeln!(w)?;
        for query in improved {
            let messages: Vec<String> = query
                .improvements
                .iter()
                .map(|c| inline(&c.message))
                .collect();
            writeln!(w, "- ✅ {}: {}", location(query), messages.join("; "))?;
        }
    }

    let advisories: Vec<(&QueryResult, String)> = report
        .queries
        .iter()
        .flat_map(|q| q.advisories.iter().map(move |c| (q, inline(&c.message))))
        .collect();
    if !advisories.is_empty() {
        writeln!(w)?;
        writeln!(w, "#### Advisories (do not fail the gate)")?;
        writeln!(w)?;
        for (query, message) in advisories {
            writeln!(w, "- ⚠️ {}: {message}", location(query))?;
        }
    }

    let added_or_gone: Vec<&QueryResult> = report
        .queries
        .iter()
        .filter(|q| matches!(q.status, QueryStatus::New | QueryStatus::Missing))
        .collect();
    if !added_or_gone.is_empty() {
        writeln!(w)?;
        writeln!(w, "#### Not compared")?;
        writeln!(w)?;
        for query in &added_or_gone {
            let why = if query.status == QueryStatus::New {
                "new: not in the baseline"
            } else {
                "missing: in the baseline, no longer in the checked files"
            };
            writeln!(w, "- {}: {why}", location(query))?;
        }
        writeln!(w)?;
        writeln!(
            w,
            "Run `pgdiag check --update` to accept them into the baseline."
        )?;
    }
    Ok(())
}

/// `pgdiag suggest` as Markdown: the verdict heading, the statements, the kept suggestions with
/// their proof and one SQL block of their DDL, what `--apply` did, and the rejected suggestions
/// folded away.
pub fn render_suggest(w: &mut impl Write, report: &SuggestReport) -> io::Result<()> {
    let shown: Vec<&Suggestion> = report
        .suggestions
        .iter()
        .filter(|s| s.status != SuggestionStatus::Rejected)
        .collect();
    let kept = shown
        .iter()
        .filter(|s| s.status == SuggestionStatus::Kept)
        .count();
    let heading = match (shown.len(), kept) {
        (0, _) => "✅ pgdiag suggest: nothing to suggest".to_owned(),
        (n, k) if k == n => format!("💡 pgdiag suggest: {n} {}", plural(n, "suggestion")),
        (n, k) => format!(
            "💡 pgdiag suggest: {n} {} ({k} proven, {} unverified)",
            plural(n, "suggestion"),
            n - k
        ),
    };
    writeln!(w, "### {heading}")?;
    writeln!(w)?;
    writeln!(
        w,
        "On `{}` (PostgreSQL {}).",
        report.server.target,
        report
            .server
            .version
            .split_whitespace()
            .next()
            .unwrap_or("")
    )?;

    writeln!(w)?;
    writeln!(w, "| # | statement | time / cost | plan | findings |")?;
    writeln!(w, "|---|---|---|---|---|")?;
    for statement in &report.statements {
        let measure = match (statement.time_ms, statement.cost, &statement.error) {
            (_, _, Some(error)) => format!("failed: {}", error.message),
            (Some(ms), _, None) => format!("{} ms", fmt_ms(ms)),
            (None, Some(cost), None) => format!("cost {cost:.0}"),
            (None, None, None) => String::new(),
        };
        let findings: Vec<&str> = statement.findings.iter().map(|r| r.as_str()).collect();
        writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            statement.index,
            cell(&format!("{}:{}", statement.source, statement.line)),
            cell(&measure),
            cell(&statement.plan),
            cell(&findings.join(", "))
        )?;
    }

    if !shown.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "| id | suggestion | serves | before → after | improvement | size |"
        )?;
        writeln!(w, "|---|---|---|---|---|---|")?;
        for s in &shown {
            let (figures, improvement, size) = match &s.verification {
                Some(v) => (
                    proof(v),
                    v.improvement_pct
                        .map(|p| format!("{p:.0}%"))
                        .unwrap_or_default(),
                    size_cell(v),
                ),
                None => ("unverified".to_owned(), String::new(), String::new()),
            };
            let serves: Vec<String> = s.serves.iter().map(|n| format!("#{n}")).collect();
            writeln!(
                w,
                "| {} | {} | {} | {} | {} | {} |",
                s.id,
                cell(&what(s)),
                serves.join(", "),
                figures,
                improvement,
                cell(&size)
            )?;
        }
        let ddl: Vec<String> = shown
            .iter()
            .flat_map(|s| {
                std::iter::once(format!("-- {}: {}", s.id, s.reason.replace('\n', "; ")))
                    .chain(s.ddl.iter().map(|d| format!("{d};")))
            })
            .collect();
        writeln!(w)?;
        fenced(w, "sql", &ddl.join("\n"))?;
    }

    let worse: Vec<String> = report
        .combined
        .iter()
        .filter(|c| c.verdict == Verdict::Slower)
        .map(|c| format!("#{}", c.statement))
        .collect();
    if !worse.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "> ⚠️ With every kept suggestion in place, slower: {}",
            worse.join(", ")
        )?;
    }

    if let Some(apply) = &report.apply {
        writeln!(w)?;
        let header = match apply.status {
            ApplyStatus::Applied => "Applied",
            ApplyStatus::NotConfirmed => "Not applied",
            ApplyStatus::NothingToApply => "Nothing applied",
            ApplyStatus::Failed => "Applying stopped",
        };
        writeln!(w, "**{header}:** {}", inline(&apply.reason))?;
        for after in &apply.after {
            writeln!(
                w,
                "- #{}: {}",
                after.statement,
                inline(&before_after(&after.before, &after.after))
            )?;
        }
    }

    let rejected: Vec<&Suggestion> = report
        .suggestions
        .iter()
        .filter(|s| s.status == SuggestionStatus::Rejected)
        .collect();
    if !rejected.is_empty() {
        writeln!(w)?;
        writeln!(
            w,
            "<details><summary>{} rejected {}</summary>",
            rejected.len(),
            plural(rejected.len(), "suggestion")
        )?;
        writeln!(w)?;
        for s in rejected {
            writeln!(
                w,
                "- {} {}: {}",
                s.id,
                inline(&what(s)),
                inline(s.rejected_reason.as_deref().unwrap_or(""))
            )?;
        }
        writeln!(w)?;
        writeln!(w, "</details>")?;
    }
    for note in &report.notes {
        writeln!(w)?;
        writeln!(w, "> {}", inline(note))?;
    }
    Ok(())
}

/// The per-statement before → after of a verification, one statement per line of the cell.
fn proof(v: &Verification) -> String {
    proof_lines(v)
        .iter()
        .map(|l| cell(l))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn location(query: &QueryResult) -> String {
    format!("`{}` ({}:{})", query.id, query.file, query.line)
}

fn code_or_unset(value: Option<&str>) -> String {
    value.map_or_else(|| "(unset)".to_owned(), |v| format!("`{v}`"))
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        one.to_owned()
    } else {
        format!("{one}s")
    }
}

/// Text for a table cell: pipes escaped, line breaks as `<br>`, HTML-significant characters
/// escaped (GitHub renders some HTML inside Markdown).
pub fn cell(text: &str) -> String {
    inline(text)
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

/// Text in a paragraph or list item: `<`, `>` and `&` escaped so plan text such as
/// `(price < 10)` is shown as written.
pub fn inline(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A fenced code block whose fence is longer than any run of backticks in `body`.
fn fenced(w: &mut impl Write, language: &str, body: &str) -> io::Result<()> {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    writeln!(w, "{fence}{language}")?;
    writeln!(w, "{body}")?;
    writeln!(w, "{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_breaks_and_html() {
        assert_eq!(cell("a | b\nc <d> & e"), "a \\| b<br>c &lt;d&gt; &amp; e");
    }

    #[test]
    fn a_fence_is_longer_than_any_backticks_inside() {
        let mut out = Vec::new();
        fenced(&mut out, "sql", "SELECT '````'").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("`````sql\n"), "{text}");
        assert!(text.ends_with("\n`````\n"), "{text}");
        let mut out = Vec::new();
        fenced(&mut out, "", "plain").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "```\nplain\n```\n");
    }
}
