//! The terminal renderer of `pgdiag check`: a count of what changed, notes on the whole check, the
//! environment differences that make costs advisory, each regressed query with a side-by-side plan
//! diff, then one line per improved query, per advisory (a change that does not fail the gate), per
//! new and missing query, and a verdict line a CI log ends on.
//!
//! It also owns the pieces the other check renderers share: the line alignment of two plan
//! shapes, the plan diff as plain text, the labels of change kinds and the verdict line.

use std::io::{self, Write};

use super::color::Paint;
use super::text::TextStyle;
pub use crate::gate::diff::{DiffOp, DiffRow, align};
use crate::gate::{Change, ChangeKind, CheckReport, EnvironmentDiff, QueryResult, QueryStatus};

/// Render a check report for a terminal or a CI log.
pub fn render(w: &mut impl Write, report: &CheckReport, style: TextStyle) -> io::Result<()> {
    writeln!(w, "{}", paint_for(&header(report), style, Paint::Bold))?;
    for note in &report.notes {
        writeln!(w, "note: {note}")?;
    }

    if has_differences(&report.environment) {
        writeln!(w)?;
        render_environment(w, &report.environment, style)?;
    }

    for query in by_status(report, QueryStatus::Regressed) {
        writeln!(w)?;
        render_regressed(w, query, style)?;
    }

    let improved: Vec<&QueryResult> = by_status(report, QueryStatus::Improved).collect();
    if !improved.is_empty() {
        writeln!(w)?;
        for query in improved {
            let messages: Vec<&str> = query
                .improvements
                .iter()
                .map(|c| c.message.as_str())
                .collect();
            let line = format!(
                "{} {}: {}",
                status_label(QueryStatus::Improved),
                location(query),
                messages.join("; ")
            );
            writeln!(w, "{}", paint_for(&line, style, Paint::Green))?;
            for note in &query.notes {
                writeln!(w, "    note: {note}")?;
            }
        }
    }

    // Significant changes that do not fail the gate, on queries not shown above.
    let advised: Vec<&QueryResult> = report
        .queries
        .iter()
        .filter(|q| q.status != QueryStatus::Regressed && !q.advisories.is_empty())
        .collect();
    if !advised.is_empty() {
        writeln!(w)?;
        for query in advised {
            for change in &query.advisories {
                let line = format!("advisory  {}: {}", location(query), change.message);
                writeln!(w, "{}", paint_for(&line, style, Paint::Yellow))?;
            }
        }
    }

    let added_or_gone: Vec<&QueryResult> = report
        .queries
        .iter()
        .filter(|q| matches!(q.status, QueryStatus::New | QueryStatus::Missing))
        .collect();
    if !added_or_gone.is_empty() {
        writeln!(w)?;
        for query in &added_or_gone {
            let why = if query.status == QueryStatus::New {
                "not in the baseline"
            } else {
                "in the baseline, no longer in the checked files"
            };
            let line = format!("{} {}: {why}", status_label(query.status), location(query));
            writeln!(w, "{}", paint_for(&line, style, Paint::Yellow))?;
        }
        writeln!(
            w,
            "  Run `pgdiag check --update` to accept {} into the baseline.",
            if added_or_gone.len() == 1 {
                "this change"
            } else {
                "these changes"
            }
        )?;
    }

    if style.verbose {
        let quiet: Vec<&QueryResult> = report
            .queries
            .iter()
            .filter(|q| matches!(q.status, QueryStatus::Unchanged | QueryStatus::Ignored))
            .collect();
        if !quiet.is_empty() {
            writeln!(w)?;
            for query in quiet {
                let line = format!("{} {}", status_label(query.status), location(query));
                writeln!(w, "{}", paint_for(&line, style, Paint::Dim))?;
                // Why something measured was not counted (a finding within the noise margin).
                for note in &query.notes {
                    writeln!(w, "    note: {note}")?;
                }
            }
        }
    }

    writeln!(w)?;
    let verdict_paint = if report.has_regressions() {
        Paint::BoldRed
    } else {
        Paint::BoldGreen
    };
    writeln!(w, "{}", paint_for(&verdict(report), style, verdict_paint))
}

/// `6 queries: 1 regressed, 1 improved, 1 unchanged, 1 new, 1 missing, 1 ignored`.
fn header(report: &CheckReport) -> String {
    let s = &report.summary;
    format!(
        "pgdiag check: {} {}: {} regressed, {} improved, {} unchanged, {} new, {} missing, {} ignored",
        s.total,
        plural(s.total, "query", "queries"),
        s.regressed,
        s.improved,
        s.unchanged,
        s.new,
        s.missing,
        s.ignored
    )
}

/// The last line of the text and GitHub output: `FAIL: 3 regressions in 1 query` or
/// `OK: no regressions`.
pub fn verdict(report: &CheckReport) -> String {
    if !report.has_regressions() {
        return "OK: no regressions".to_owned();
    }
    let regressions: usize = report
        .queries
        .iter()
        .filter(|q| q.status == QueryStatus::Regressed)
        .map(|q| q.regressions.len())
        .sum();
    let queries = report.summary.regressed;
    format!(
        "FAIL: {regressions} {} in {queries} {}",
        plural(regressions, "regression", "regressions"),
        plural(queries, "query", "queries")
    )
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Whether the environment differs from the baseline's at all.
pub(crate) fn has_differences(env: &EnvironmentDiff) -> bool {
    env.major_version_mismatch.is_some() || !env.settings_changed.is_empty()
}

/// The environment differences as lines: `PostgreSQL major version: 15 → 16`, `work_mem: 4MB →
/// 64kB`. A setting absent on one side shows as `(unset)`.
pub(crate) fn environment_lines(env: &EnvironmentDiff) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    if let Some((baseline, current)) = env.major_version_mismatch {
        lines.push((
            "PostgreSQL major version".to_owned(),
            format!("{baseline} → {current}"),
        ));
    }
    for change in &env.settings_changed {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".to_owned());
        lines.push((
            change.name.clone(),
            format!("{} → {}", side(&change.baseline), side(&change.current)),
        ));
    }
    lines
}

/// Why the environment matters for the verdict.
pub(crate) fn advisory_note(env: &EnvironmentDiff) -> &'static str {
    if env.cost_advisory {
        "cost comparison is advisory: cost increases are reported but do not count as regressions"
    } else {
        "costs depend on these settings and the server version: read cost changes with care"
    }
}

fn render_environment(
    w: &mut impl Write,
    env: &EnvironmentDiff,
    style: TextStyle,
) -> io::Result<()> {
    writeln!(
        w,
        "{}",
        paint_for(
            "Environment differs from the baseline:",
            style,
            Paint::Yellow
        )
    )?;
    for (name, change) in environment_lines(env) {
        writeln!(w, "  {name}: {change}")?;
    }
    writeln!(w, "  Note: {}.", advisory_note(env))
}

fn render_regressed(w: &mut impl Write, query: &QueryResult, style: TextStyle) -> io::Result<()> {
    let title = format!(
        "{} {}",
        status_label(QueryStatus::Regressed),
        location(query)
    );
    writeln!(w, "{}", paint_for(&title, style, Paint::BoldRed))?;
    for change in &query.regressions {
        let line = format!("  ✗ {}", change.message);
        writeln!(w, "{}", paint_for(&line, style, Paint::Red))?;
        if let Some(values) = values_line(change) {
            writeln!(
                w,
                "{}",
                paint_for(&format!("      {values}"), style, Paint::Dim)
            )?;
        }
    }
    for change in &query.improvements {
        let line = format!("  ✓ {}", change.message);
        writeln!(w, "{}", paint_for(&line, style, Paint::Green))?;
    }
    for change in &query.advisories {
        let line = format!("  ! {} (advisory)", change.message);
        writeln!(w, "{}", paint_for(&line, style, Paint::Yellow))?;
    }
    for note in &query.notes {
        writeln!(w, "  note: {note}")?;
    }
    if !query.baseline_shape.is_empty() || !query.current_shape.is_empty() {
        writeln!(w, "  plan:")?;
        // Room left for the shapes after the indent, the marker and the separator.
        let available = style
            .width
            .map(|w| usize::from(w).saturating_sub(PLAN_INDENT.len() + 2 + SEPARATOR.len()));
        for (line, op) in plan_diff_lines(&query.baseline_shape, &query.current_shape, available) {
            let paint_as = match op {
                Some(DiffOp::Equal) | None => Paint::Plain,
                Some(DiffOp::Changed) => Paint::Yellow,
                Some(DiffOp::Removed) => Paint::Red,
                Some(DiffOp::Added) => Paint::Green,
            };
            writeln!(
                w,
                "{}",
                paint_for(&format!("{PLAN_INDENT}{line}"), style, paint_as)
            )?;
        }
    }
    Ok(())
}

/// `new seq scan: no Seq Scan → Seq Scan on public.reviews (1,200,000 rows)`: the signal and its
/// two values, for a change whose message does not already spell both out (costs and timings do).
pub fn values_line(change: &Change) -> Option<String> {
    if matches!(
        change.kind,
        ChangeKind::CostIncrease | ChangeKind::CostDecrease | ChangeKind::TimingIncrease
    ) {
        return None;
    }
    let (baseline, current) = (change.baseline.as_deref()?, change.current.as_deref()?);
    Some(format!(
        "{}: {baseline} → {current}",
        kind_label(change.kind)
    ))
}

/// `queries/product.sql#1 (queries/product.sql:3)`.
fn location(query: &QueryResult) -> String {
    format!("{} ({}:{})", query.id, query.file, query.line)
}

/// A fixed-width status word so ids line up.
fn status_label(status: QueryStatus) -> &'static str {
    match status {
        QueryStatus::Regressed => "REGRESSED",
        QueryStatus::Improved => "improved ",
        QueryStatus::Unchanged => "unchanged",
        QueryStatus::New => "new      ",
        QueryStatus::Missing => "missing  ",
        QueryStatus::Ignored => "ignored  ",
    }
}

/// What a change is, in words (the GitHub annotation title uses it too).
pub fn kind_label(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::NewSeqScan => "new seq scan",
        ChangeKind::IndexNoLongerUsed => "index no longer used",
        ChangeKind::ShapeChanged => "plan shape changed",
        ChangeKind::CostIncrease => "cost increase",
        ChangeKind::NewFinding => "new finding",
        ChangeKind::NewlyFailing => "newly failing",
        ChangeKind::TimingIncrease => "execution time increase",
        ChangeKind::CostGrowthWithData => "cost growth with data",
        ChangeKind::SeqScanGone => "seq scan gone",
        ChangeKind::IndexNewlyUsed => "index newly used",
        ChangeKind::CostDecrease => "cost decrease",
        ChangeKind::FindingResolved => "finding resolved",
        ChangeKind::NowSucceeds => "now succeeds",
    }
}

fn by_status(report: &CheckReport, status: QueryStatus) -> impl Iterator<Item = &QueryResult> {
    report.queries.iter().filter(move |q| q.status == status)
}

// ---------------------------------------------------------------------------------------------
// Plan diff

const PLAN_INDENT: &str = "    ";
const SEPARATOR: &str = " │ ";

/// The side-by-side diff as text lines, the first one the column heads (with no op). Each line
/// is `<marker> <baseline> │ <current>`; `available` is the room for both shape columns together
/// (without marker and separator); when given, the columns are narrowed to fit, cutting with `…`.
pub fn plan_diff_lines(
    baseline: &[String],
    current: &[String],
    available: Option<usize>,
) -> Vec<(String, Option<DiffOp>)> {
    let rows = align(baseline, current);
    let widest = |side: Vec<Option<&str>>, head: &str| {
        side.into_iter()
            .flatten()
            .chain([head])
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
    };
    let natural_left = widest(rows.iter().map(|r| r.baseline).collect(), "baseline");
    let natural_right = widest(rows.iter().map(|r| r.current).collect(), "current");
    let (left, right) = fit_columns(natural_left, natural_right, available);

    let mut lines = Vec::with_capacity(rows.len() + 1);
    let line = |marker: char, l: &str, r: &str| {
        let l = pad(&truncate(l, left), left);
        let r = truncate(r, right);
        format!("{marker} {l}{SEPARATOR}{r}").trim_end().to_owned()
    };
    lines.push((line(' ', "baseline", "current"), None));
    for row in &rows {
        lines.push((
            line(
                row.op.marker(),
                row.baseline.unwrap_or(""),
                row.current.unwrap_or(""),
            ),
            Some(row.op),
        ));
    }
    lines
}

/// Column widths that fit `available`: each column keeps its natural width when both fit;
/// otherwise a narrow column keeps what it needs and the other takes the rest, and two wide
/// columns share evenly. No column goes below a few characters, even if that overflows.
fn fit_columns(left: usize, right: usize, available: Option<usize>) -> (usize, usize) {
    const MIN: usize = 8;
    let Some(available) = available else {
        return (left, right);
    };
    if left + right <= available {
        return (left, right);
    }
    let half = available / 2;
    let (l, r) = if left <= half {
        (left, available - left)
    } else if right <= available - half {
        (available - right, right)
    } else {
        (half, available - half)
    };
    (l.max(MIN.min(left)), r.max(MIN.min(right)))
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn pad(text: &str, width: usize) -> String {
    let len = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(len)))
}

fn paint_for(text: &str, style: TextStyle, paint: Paint) -> String {
    super::color::paint(text, style.color, paint)
}
