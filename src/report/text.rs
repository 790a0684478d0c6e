//! The terminal renderer: a header with planning, execution and JIT time, then the plan as a tree
//! fitted to the width (`plan_table`) where the hottest nodes stand out (colour on a terminal, a
//! share bar everywhere), then the findings; and the width rule every text report follows.

use std::io::{self, Write};

use super::model::{ExplainReport, NodeReport, PlanSummary, StatementReport};
use crate::diagnose::Severity;
use crate::plan::EstimateDirection;
use crate::units::{fmt_count, fmt_ms, fmt_pct};

/// How text output looks.
#[derive(Debug, Clone, Copy)]
pub struct TextStyle {
    /// ANSI colours (off for NO_COLOR, pipes and files).
    pub color: bool,
    /// The terminal's width in columns; `None` when it is unknown (a pipe, a file), and then
    /// [`DEFAULT_WIDTH`] is used. See [`TextStyle::columns`].
    pub width: Option<u16>,
    /// Also list what the rules checked and why it is not a finding.
    pub verbose: bool,
}

/// The width text output fits when the terminal's is unknown (a pipe, a file) or unusable:
/// wide enough for the medium plan layout, as most log viewers and editors are.
pub const DEFAULT_WIDTH: u16 = 120;
/// A width under this (a pty reporting 0×0, `COLUMNS=5`) is taken as unknown.
pub const MIN_WIDTH: u16 = 40;

impl TextStyle {
    /// The style of a report written to a file (`--output`): no colour codes, the default width.
    pub fn in_a_file(self) -> TextStyle {
        TextStyle {
            color: false,
            width: None,
            ..self
        }
    }

    /// The width to fit: the terminal's, or [`DEFAULT_WIDTH`] when unknown or under [`MIN_WIDTH`].
    pub fn columns(&self) -> usize {
        usable_width(self.width).unwrap_or(DEFAULT_WIDTH) as usize
    }
}

/// A reported terminal width, `None` when absent or too small to be real (under [`MIN_WIDTH`]).
pub fn usable_width(width: Option<u16>) -> Option<u16> {
    width.filter(|&w| w >= MIN_WIDTH)
}

/// Share-of-time tiers users know from pev2/depesz: >10% notable, >40% hot, >90% dominant.
const NOTABLE: f64 = 0.10;
const HOT: f64 = 0.40;
const DOMINANT: f64 = 0.90;

/// Render a whole report.
pub fn render(w: &mut impl Write, report: &ExplainReport, style: TextStyle) -> io::Result<()> {
    let total = report.statements.len();
    for (i, statement) in report.statements.iter().enumerate() {
        if i > 0 {
            writeln!(w)?;
        }
        render_statement(w, report, statement, total, style)?;
    }
    Ok(())
}

/// Render one statement (its header, plan table and hottest nodes, or its error).
pub fn render_statement(
    w: &mut impl Write,
    report: &ExplainReport,
    statement: &StatementReport,
    total_statements: usize,
    style: TextStyle,
) -> io::Result<()> {
    let mut title = format!("Statement {}", statement.index);
    if total_statements > 1 {
        title.push_str(&format!(" of {total_statements}"));
    }
    if let Some(line) = statement.line {
        title.push_str(&format!(" · {}", report.location(statement, line)));
    }
    writeln!(w, "{}", paint(&title, style, Paint::Title))?;
    if let Some(sql) = &statement.sql {
        writeln!(w, "  {}", one_line(sql, style.columns().saturating_sub(2)))?;
    }
    if let Some(error) = &statement.error {
        let mut msg = format!("  error: {}", error.message);
        if let Some(code) = &error.sqlstate {
            msg.push_str(&format!(" (SQLSTATE {code})"));
        }
        writeln!(w, "{}", paint(&msg, style, Paint::Error))?;
        return Ok(());
    }
    let Some(summary) = &statement.summary else {
        return Ok(());
    };

    let mut facts = Vec::new();
    if let Some(p) = summary.planning_time_ms {
        facts.push(format!("Planning {} ms", fmt_ms(p)));
    }
    if let Some(e) = summary.execution_time_ms {
        facts.push(format!("Execution {} ms", fmt_ms(e)));
    }
    if summary.triggers_time_ms > 0.0 {
        facts.push(format!("Triggers {} ms", fmt_ms(summary.triggers_time_ms)));
    }
    if statement.generic_plan {
        facts.push("generic plan ($n without values, not executed)".into());
    } else if !statement.analyzed {
        facts.push("estimated plan (not executed)".into());
    }
    if statement.rolled_back {
        let rolled_back = if statement.writes {
            "writes rolled back"
        } else {
            "rolled back"
        };
        facts.push(if statement.side_effects.is_empty() {
            rolled_back.into()
        } else {
            // Never "rolled back" unqualified for what a rollback cannot undo.
            let survived: Vec<String> = statement
                .side_effects
                .iter()
                .map(|e| format!("{}(): {}", e.function, e.effect))
                .collect();
            format!(
                "{rolled_back} except effects outside the transaction, which may have survived: {}",
                survived.join("; ")
            )
        });
    }
    if statement.parameters > 0 {
        facts.push(format!("{} parameter(s)", statement.parameters));
    }
    let width = style.columns();
    for line in wrap(&format!("  {}", facts.join(" · ")), "", "    ", width) {
        writeln!(w, "{line}")?;
    }
    if let Some(line) = jit_line(statement, summary) {
        for line in wrap(&format!("  {line}"), "", "    ", width) {
            writeln!(w, "{line}")?;
        }
    }
    if !summary.settings.is_empty() {
        let settings: Vec<String> = summary
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for line in wrap(
            &format!("  Settings: {}", settings.join(", ")),
            "",
            "    ",
            width,
        ) {
            writeln!(w, "{line}")?;
        }
    }

    super::plan_table::render(w, statement, style)?;

    render_findings(w, statement, style)?;
    if style.verbose {
        render_checks(w, statement)?;
    }

    if statement.analyzed && statement.findings.is_empty() {
        let mut hottest: Vec<&NodeReport> = statement
            .nodes
            .iter()
            .filter(|n| n.metrics.share_of_total.unwrap_or(0.0) >= 0.05)
            .collect();
        hottest.sort_by(|a, b| {
            b.metrics
                .exclusive_time_ms
                .unwrap_or(0.0)
                .total_cmp(&a.metrics.exclusive_time_ms.unwrap_or(0.0))
        });
        if !hottest.is_empty() {
            writeln!(w, "  Where the time goes:")?;
            // What the id, time and share leave of the width (33 columns), up to 48.
            let title = style.columns().saturating_sub(33).clamp(8, 48);
            for node in hottest.iter().take(3) {
                let share = node.metrics.share_of_total.unwrap_or(0.0);
                let line = format!(
                    "    #{:<3} {:<title$} {:>12} ms  {:>6}",
                    node.metrics.id,
                    one_line(&node_title(node), title),
                    fmt_ms(node.metrics.exclusive_time_ms.unwrap_or(0.0)),
                    fmt_pct(share)
                );
                writeln!(w, "{}", paint(&line, style, tier(share)))?;
            }
        }
    }
    Ok(())
}

/// JIT on its own line: its total, and the node whose time held the compile time, which the plan
/// table shows without it.
fn jit_line(statement: &StatementReport, summary: &PlanSummary) -> Option<String> {
    let jit = summary.jit.as_ref()?;
    let total = jit.total_ms?;
    let mut line = format!("JIT {} ms", fmt_ms(total));
    if let Some(share) = jit.share_of_execution {
        line.push_str(&format!(" ({} of execution)", fmt_pct(share)));
    }
    if let Some(functions) = jit.functions {
        line.push_str(&format!(", {functions} functions"));
    }
    match (
        jit.node_id.and_then(|id| statement.nodes.get(id)),
        jit.taken_out_ms,
    ) {
        (Some(node), Some(ms)) => line.push_str(&format!(
            " · {} ms of it compiled in #{} {}, not counted in its time",
            fmt_ms(ms),
            node.metrics.id,
            node_title(node)
        )),
        _ if statement.analyzed => line.push_str(" · not attributed to a node"),
        _ => {}
    }
    Some(line)
}

fn render_findings(
    w: &mut impl Write,
    statement: &StatementReport,
    style: TextStyle,
) -> io::Result<()> {
    if statement.findings.is_empty() {
        return Ok(());
    }
    writeln!(w, "  Findings (most time at stake first):")?;
    for f in &statement.findings {
        let paint_as = match f.severity {
            Severity::Critical => Paint::Dominant,
            Severity::Warning => Paint::Hot,
            Severity::Notice => Paint::Notable,
            Severity::Info => Paint::Plain,
        };
        // A plan that was not executed has no time at stake: its share is of the planned cost.
        let stake = if statement.analyzed {
            format!(
                "{} ms ({})",
                fmt_ms(f.time_at_stake_ms),
                fmt_pct(f.share_at_stake)
            )
        } else {
            format!("{} of the planned cost", fmt_pct(f.share_at_stake))
        };
        let head = format!("{} · #{} {} — {stake}", f.rule, f.node_id, f.summary);
        let severity = format!("  {:<8} ", f.severity.as_str().to_ascii_uppercase());
        let width = style.columns();
        for line in wrap(&head, &severity, "           ", width) {
            writeln!(w, "{}", paint(&line, style, paint_as))?;
        }
        let evidence: Vec<String> = f
            .evidence
            .iter()
            .map(|e| format!("{} {}", e.label, one_line(&e.value, 80)))
            .collect();
        let field = |name: &str, text: &str| {
            wrap(
                &format!("           {name}: {text}"),
                "",
                "               ",
                width,
            )
        };
        for line in field("evidence", &evidence.join(" · ")) {
            writeln!(w, "{line}")?;
        }
        for line in field("do", &f.advice) {
            writeln!(w, "{line}")?;
        }
        // The DDL stays on one line, to copy whole.
        if let Some(ddl) = &f.suggested_index {
            writeln!(w, "           index: {ddl}")?;
        }
        // The rule's page, from the binary: it exists wherever pgdiag runs.
        writeln!(w, "           see: pgdiag rules {}", f.rule)?;
    }
    Ok(())
}

/// Verbose output: what the rules looked at and why it is not a finding.
pub fn render_checks(w: &mut impl Write, statement: &StatementReport) -> io::Result<()> {
    if statement.checks.is_empty() {
        return Ok(());
    }
    writeln!(w, "  Checked, not findings:")?;
    for c in &statement.checks {
        writeln!(w, "    {} · #{}: {}", c.rule, c.node_id, c.reason)?;
    }
    Ok(())
}

/// `Seq Scan on public.reviews`, `Index Scan using idx on public.t`, prefixed by the subplan
/// name when the node is an InitPlan/SubPlan/CTE.
pub(super) fn node_title(node: &NodeReport) -> String {
    titled(node, true)
}

/// The node's title without its index: `Index Scan on public.t`.
pub(super) fn node_title_without_index(node: &NodeReport) -> String {
    titled(node, false)
}

fn titled(node: &NodeReport, with_index: bool) -> String {
    let m = &node.metrics;
    let index_name = m.index_name.as_ref().filter(|_| with_index);
    let mut title = match &node.subplan_name {
        Some(name) => format!("[{name}] {}", m.label),
        None => m.label.clone(),
    };
    match (index_name, &m.relation, &node.scans) {
        (Some(index), Some(rel), _) => title.push_str(&format!(" using {index} on {rel}")),
        (Some(index), None, _) => title.push_str(&format!(" on {index}")),
        (None, Some(rel), _) => title.push_str(&format!(" on {rel}")),
        (None, None, Some(target)) => title.push_str(&format!(" on {target}")),
        (None, None, None) => {}
    }
    title
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Paint {
    Plain,
    Notable,
    Hot,
    Dominant,
    Title,
    Error,
}

pub(super) fn tier(share: f64) -> Paint {
    if share >= DOMINANT {
        Paint::Dominant
    } else if share >= HOT {
        Paint::Hot
    } else if share >= NOTABLE {
        Paint::Notable
    } else {
        Paint::Plain
    }
}

pub(super) fn estimate_tier(factor: Option<f64>) -> Paint {
    match factor {
        Some(f) if f >= 1000.0 => Paint::Dominant,
        Some(f) if f >= 100.0 => Paint::Hot,
        Some(f) if f >= 10.0 => Paint::Notable,
        _ => Paint::Plain,
    }
}

pub(super) fn paint(text: &str, style: TextStyle, paint: Paint) -> String {
    use super::color::Paint as Ansi;
    let ansi = match paint {
        Paint::Plain => Ansi::Plain,
        Paint::Notable => Ansi::Yellow,
        Paint::Hot | Paint::Error => Ansi::Red,
        Paint::Dominant => Ansi::BoldRed,
        Paint::Title => Ansi::Bold,
    };
    super::color::paint(text, style.color, ansi)
}

/// `72.1% ███████▏`: the share, with a bar so the hot spots show without colour too.
pub(super) fn share_bar(share: f64) -> String {
    let eighths = (share.clamp(0.0, 1.0) * 80.0).round() as usize;
    let mut bar = "█".repeat(eighths / 8);
    const PARTIAL: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    bar.push_str(PARTIAL[eighths % 8]);
    format!("{:>6} {bar}", fmt_pct(share))
}

pub(super) fn fmt_estimate(factor: Option<f64>, direction: Option<EstimateDirection>) -> String {
    match (factor, direction) {
        (Some(f), Some(EstimateDirection::Under)) if f >= 2.0 => {
            format!("under ×{}", fmt_factor(f))
        }
        (Some(f), Some(EstimateDirection::Over)) if f >= 2.0 => format!("over ×{}", fmt_factor(f)),
        _ => String::new(),
    }
}

fn fmt_factor(f: f64) -> String {
    if f >= 100.0 {
        fmt_count(f.round())
    } else {
        format!("{f:.1}")
    }
}

/// `text` broken at spaces into lines of at most `width` characters: the first starts with
/// `first`, the others with `rest`. A word longer than a whole line is split where the line ends.
pub(super) fn wrap(text: &str, first: &str, rest: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_owned();
    // Leading spaces of `text` belong to the first line.
    let indent: String = text.chars().take_while(|c| *c == ' ').collect();
    line.push_str(&indent);
    let mut empty = true;
    // Room for a word on a line of its own (at least a few characters, whatever the width).
    let room = width.saturating_sub(rest.chars().count()).max(8);
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let len = line.chars().count();
            let fits = len + usize::from(!empty) + word.len() <= width;
            if fits || (empty && word.len() <= room) {
                if !empty {
                    line.push(' ');
                }
                line.extend(&word);
                empty = false;
                break;
            }
            if !empty {
                lines.push(std::mem::replace(&mut line, rest.to_owned()));
                empty = true;
                continue;
            }
            // Too long for any line: fill this one and carry the rest.
            let take = width.saturating_sub(len).max(1);
            let tail = word.split_off(take.min(word.len()));
            line.extend(&word);
            lines.push(std::mem::replace(&mut line, rest.to_owned()));
            word = tail;
            if word.is_empty() {
                break;
            }
        }
    }
    if !empty || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// First line of `text`, whitespace collapsed, cut at `max` characters with an ellipsis.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let collapsed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        collapsed
    } else {
        let cut: String = collapsed.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(share_bar(0.5), " 50.0% █████");
        assert_eq!(
            one_line("SELECT a,\n    b\nFROM t", 100),
            "SELECT a, b FROM t"
        );
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(
            wrap("  do: one two three four", "", "      ", 14),
            ["  do: one two", "      three", "      four"]
        );
        assert_eq!(
            wrap("a verylongword b", "", " ", 10),
            ["a", " verylongw", " ord b"]
        );
    }

    fn render_fixture(name: &str) -> (StatementReport, String) {
        render_fixture_at(name, None, None)
    }

    /// `name` rendered in `width` columns (`None`: piped), with `sql` as its statement's text.
    fn render_fixture_at(
        name: &str,
        width: Option<u16>,
        sql: Option<&str>,
    ) -> (StatementReport, String) {
        let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let explain = crate::plan::parse_explain(&text).unwrap().remove(0);
        let analysis = crate::plan::analyze(&explain);
        let statement = StatementReport::explained(
            1,
            None,
            sql.map(str::to_owned),
            &explain,
            &analysis,
            None,
            &Default::default(),
        );
        let report = ExplainReport::new(
            super::super::Source {
                kind: super::super::SourceKind::PlanFile,
                path: Some(name.to_owned()),
            },
            None,
        );
        let mut out = Vec::new();
        let style = TextStyle {
            color: false,
            width,
            verbose: false,
        };
        render_statement(&mut out, &report, &statement, 1, style).unwrap();
        (statement, String::from_utf8(out).unwrap())
    }

    /// Every line of `out` fits `width` columns.
    fn assert_fits(out: &str, width: usize) {
        for line in out.lines() {
            assert!(
                line.chars().count() <= width,
                "{} > {width} columns: {line}\n{out}",
                line.chars().count()
            );
        }
    }

    const LONG_SQL: &str = "SELECT a.display_name_for_statements, h.programme_tier_code, count(*)
        FROM reporting_warehouse_archive.customer_loyalty_programme_member_accounts a
        JOIN reporting_warehouse_archive.customer_loyalty_programme_membership_history h
          ON h.member_account_identifier = a.member_account_identifier
        WHERE a.member_account_identifier < 40 AND h.programme_tier_code = 'gold'
        GROUP BY 1, 2 ORDER BY 3 DESC";

    /// The plan at a terminal's 80, 100 and 160 columns and piped (`None`: the default width),
    /// for a deep tree, long relation and index names, a nested loop and an estimated plan.
    #[test]
    fn plan_layouts_at_terminal_widths() {
        let fixtures = [
            ("deep_join_chain.json", None),
            ("long_names.json", Some(LONG_SQL)),
            ("nested_loop_many_loops.json", None),
            ("estimated_only.json", None),
        ];
        for (name, sql) in fixtures {
            for width in [Some(80), Some(100), Some(160), None] {
                let (_, out) = render_fixture_at(name, width, sql);
                let columns = width.unwrap_or(DEFAULT_WIDTH) as usize;
                // Findings' `index:` lines hold DDL to copy whole; everything else fits.
                let plan: String = out
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("index: "))
                    .map(|l| format!("{l}\n"))
                    .collect();
                assert_fits(&plan, columns);
                let stem = name.trim_end_matches(".json");
                let suffix = width.map_or("piped".to_owned(), |w| w.to_string());
                insta::assert_snapshot!(format!("plan_{stem}_{suffix}"), out);
            }
        }
    }

    #[test]
    fn zero_or_tiny_widths_fall_back_to_the_default() {
        let (_, piped) = render_fixture_at("long_names.json", None, Some(LONG_SQL));
        for width in [0, 1, 5, MIN_WIDTH - 1] {
            let (_, out) = render_fixture_at("long_names.json", Some(width), Some(LONG_SQL));
            assert_eq!(out, piped, "width {width}");
        }
        let (_, at_min) = render_fixture_at("long_names.json", Some(MIN_WIDTH), Some(LONG_SQL));
        assert_ne!(at_min, piped);
    }

    #[test]
    fn tree_rails_stay_whole_and_titles_are_cut_not_wrapped() {
        let (statement, out) = render_fixture_at("deep_join_chain.json", Some(80), None);
        // One line per node (plus its detail lines): every node's id starts a line.
        for node in &statement.nodes {
            let id = format!("{:>2}  ", node.metrics.id);
            assert!(
                out.lines().any(|l| l.starts_with(&id)),
                "#{}\n{out}",
                node.metrics.id
            );
        }
        let (_, out) = render_fixture_at("long_names.json", Some(80), None);
        assert!(out.contains("…"), "{out}");
    }

    #[test]
    fn jit_is_its_own_header_line_and_out_of_the_node_that_held_it() {
        // jit_nested_loop.json: 254.8 ms of JIT compiling ran inside the Nested Loop (0.03 ms of
        // its own work with jit = off).
        let (statement, out) = render_fixture("jit_nested_loop.json");
        // Once, in the header (the jit-overhead finding below has its own words for it).
        let jit_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("  JIT ")).collect();
        assert_eq!(
            jit_lines,
            [
                "  JIT 255.2 ms (79.2% of execution), 8 functions · 254.8 ms of it compiled in #0 Nested Loop, not counted in its time"
            ],
            "{out}"
        );
        let root = &statement.nodes[0].metrics;
        assert!(root.exclusive_time_ms.unwrap() < 0.1, "{root:?}");
        assert!(root.jit_ms.unwrap() > 250.0, "{root:?}");
        // The plan table shows the Nested Loop's own time, and no rule charges the JIT to it.
        let row = out
            .lines()
            .find(|l| l.starts_with("0  Nested Loop"))
            .unwrap();
        assert!(row.contains("0.033"), "{row}");
        let rules: Vec<&str> = statement.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["jit-overhead"]);
        let summary = statement.summary.as_ref().unwrap();
        let jit = summary.jit.as_ref().unwrap();
        assert_eq!(jit.node_id, Some(0));
        assert_eq!(jit.taken_out_ms, root.jit_ms);
    }
}
