//! The terminal renderer: a header with planning, execution and JIT time, then the plan as a tree
//! table where the hottest nodes stand out (colour on a terminal, a share bar everywhere).

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};

use super::model::{ExplainReport, NodeReport, PlanSummary, StatementReport};
use crate::diagnose::Severity;
use crate::plan::EstimateDirection;
use crate::units::{fmt_count, fmt_ms, fmt_pct};

/// How text output looks.
#[derive(Debug, Clone, Copy)]
pub struct TextStyle {
    /// ANSI colours (off for NO_COLOR, pipes and files).
    pub color: bool,
    /// Table width limit; `None` lets the table take what it needs (non-terminal output).
    pub width: Option<u16>,
    /// Also list what the rules checked and why it is not a finding.
    pub verbose: bool,
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
        writeln!(w, "  {}", one_line(sql, 110))?;
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
    writeln!(w, "  {}", facts.join(" · "))?;
    if let Some(line) = jit_line(statement, summary) {
        writeln!(w, "  {line}")?;
    }
    if !summary.settings.is_empty() {
        let settings: Vec<String> = summary
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(w, "  Settings: {}", settings.join(", "))?;
    }

    let table = plan_table(statement, style);
    writeln!(w, "{table}")?;

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
            for node in hottest.iter().take(3) {
                let share = node.metrics.share_of_total.unwrap_or(0.0);
                let line = format!(
                    "    #{:<3} {:<48} {:>12} ms  {:>6}",
                    node.metrics.id,
                    one_line(&node_title(node), 48),
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
        let head = format!(
            "  {:<8} {} · #{} {} — {stake}",
            f.severity.as_str().to_ascii_uppercase(),
            f.rule,
            f.node_id,
            f.summary,
        );
        writeln!(w, "{}", paint(&head, style, paint_as))?;
        let evidence: Vec<String> = f
            .evidence
            .iter()
            .map(|e| format!("{} {}", e.label, one_line(&e.value, 80)))
            .collect();
        writeln!(w, "           evidence: {}", evidence.join(" · "))?;
        writeln!(w, "           do: {}", f.advice)?;
        if let Some(ddl) = &f.suggested_index {
            writeln!(w, "           index: {ddl}")?;
        }
        writeln!(w, "           see: {}", f.doc)?;
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

fn plan_table(statement: &StatementReport, style: TextStyle) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(width) = style.width {
        table.set_width(width);
    }
    if !style.color {
        table.force_no_tty();
    } else {
        table.enforce_styling();
    }
    let analyzed = statement.analyzed;
    let mut header = vec!["#", "Node"];
    if analyzed {
        header.extend([
            "Excl ms",
            "Incl ms",
            "% time",
            "Rows act/plan",
            "Estimate",
            "Loops",
            "Buffers hit/read",
        ]);
    } else {
        header.extend(["Cost", "Rows plan", "Buffers hit/read"]);
    }
    table.set_header(
        header
            .into_iter()
            .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
    );

    let prefixes = tree_prefixes(&statement.nodes);
    for (node, prefix) in statement.nodes.iter().zip(prefixes) {
        let m = &node.metrics;
        let share = m.share_of_total.unwrap_or(0.0);
        let level = if analyzed { tier(share) } else { Paint::Plain };
        let mut label = format!("{prefix}{}", node_title(node));
        let detail_indent = prefix.replace("├─ ", "│  ").replace("└─ ", "   ");
        for d in &node.details {
            label.push('\n');
            label.push_str(&detail_indent);
            label.push_str("   ");
            label.push_str(&one_line(d, 90));
        }
        let mut row = vec![
            Cell::new(m.id).set_alignment(CellAlignment::Right),
            styled(Cell::new(label), style, level),
        ];
        let buffers = {
            let b = &m.exclusive_buffers;
            let mut s = format!(
                "{}/{}",
                fmt_count(b.shared_hit as f64),
                fmt_count(b.shared_read as f64)
            );
            if b.temp_read + b.temp_written > 0 {
                s.push_str(&format!(
                    "\ntemp {}/{}",
                    fmt_count(b.temp_read as f64),
                    fmt_count(b.temp_written as f64)
                ));
            }
            s
        };
        if analyzed {
            let never = m.loops == Some(0.0);
            row.extend([
                styled(
                    Cell::new(m.exclusive_time_ms.map(fmt_ms).unwrap_or_default()),
                    style,
                    level,
                )
                .set_alignment(CellAlignment::Right),
                Cell::new(m.inclusive_time_ms.map(fmt_ms).unwrap_or_default())
                    .set_alignment(CellAlignment::Right),
                styled(
                    Cell::new(if never {
                        "never run".into()
                    } else {
                        share_bar(share)
                    }),
                    style,
                    level,
                ),
                Cell::new(format!(
                    "{} / {}",
                    m.actual_rows_total
                        .map(fmt_count)
                        .unwrap_or_else(|| "-".into()),
                    fmt_count(m.planned_rows_total)
                ))
                .set_alignment(CellAlignment::Right),
                styled(
                    Cell::new(fmt_estimate(m.estimate_factor, m.estimate_direction)),
                    style,
                    estimate_tier(m.estimate_factor),
                ),
                Cell::new(m.loops.map(fmt_count).unwrap_or_default())
                    .set_alignment(CellAlignment::Right),
                Cell::new(buffers).set_alignment(CellAlignment::Right),
            ]);
        } else {
            row.extend([
                Cell::new(match (node.startup_cost, node.total_cost) {
                    (Some(s), Some(t)) => format!("{s:.2}..{t:.2}"),
                    _ => String::new(),
                })
                .set_alignment(CellAlignment::Right),
                Cell::new(fmt_count(m.planned_rows_total)).set_alignment(CellAlignment::Right),
                Cell::new(buffers).set_alignment(CellAlignment::Right),
            ]);
        }
        table.add_row(row);
    }
    table
}

/// `Seq Scan on public.reviews`, `Index Scan using idx on public.t`, prefixed by the subplan
/// name when the node is an InitPlan/SubPlan/CTE.
fn node_title(node: &NodeReport) -> String {
    let m = &node.metrics;
    let mut title = match &node.subplan_name {
        Some(name) => format!("[{name}] {}", m.label),
        None => m.label.clone(),
    };
    match (&m.index_name, &m.relation, &node.scans) {
        (Some(index), Some(rel), _) => title.push_str(&format!(" using {index} on {rel}")),
        (Some(index), None, _) => title.push_str(&format!(" on {index}")),
        (None, Some(rel), _) => title.push_str(&format!(" on {rel}")),
        (None, None, Some(target)) => title.push_str(&format!(" on {target}")),
        (None, None, None) => {}
    }
    title
}

/// How many levels of tree rails are drawn before a node's label.
const DRAWN_DEPTH: usize = 24;

/// Tree glyphs for each node of a depth-first node list.
fn tree_prefixes(nodes: &[NodeReport]) -> Vec<String> {
    // A node is the last of its siblings when no later node shares its parent.
    let mut last_child = vec![true; nodes.len()];
    let mut seen_parent: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(p) = n.metrics.parent {
            if let Some(prev) = seen_parent.insert(p, i) {
                last_child[prev] = false;
            }
        }
    }
    let mut prefixes = Vec::with_capacity(nodes.len());
    // `open[d]`: at depth d an ancestor still has siblings to come, so draw a rail.
    let mut open: Vec<bool> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let depth = n.metrics.depth;
        if depth == 0 {
            prefixes.push(String::new());
            open.clear();
            continue;
        }
        open.truncate(depth - 1);
        while open.len() < depth - 1 {
            open.push(false);
        }
        // Past DRAWN_DEPTH levels the rails would fill the terminal (and make the output grow
        // with the square of the depth): the depth is written instead, then the nearest rails.
        let mut p = String::new();
        let hidden = open.len().saturating_sub(DRAWN_DEPTH);
        if hidden > 0 {
            p.push_str(&format!("[depth {depth}] "));
        }
        for &rail in &open[hidden..] {
            p.push_str(if rail { "│  " } else { "   " });
        }
        p.push_str(if last_child[i] { "└─ " } else { "├─ " });
        prefixes.push(p);
        open.push(!last_child[i]);
    }
    prefixes
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paint {
    Plain,
    Notable,
    Hot,
    Dominant,
    Title,
    Error,
}

fn tier(share: f64) -> Paint {
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

fn estimate_tier(factor: Option<f64>) -> Paint {
    match factor {
        Some(f) if f >= 1000.0 => Paint::Dominant,
        Some(f) if f >= 100.0 => Paint::Hot,
        Some(f) if f >= 10.0 => Paint::Notable,
        _ => Paint::Plain,
    }
}

fn styled(cell: Cell, style: TextStyle, paint: Paint) -> Cell {
    if !style.color {
        return cell;
    }
    match paint {
        Paint::Plain => cell,
        Paint::Notable => cell.fg(Color::Yellow),
        Paint::Hot => cell.fg(Color::Red),
        Paint::Dominant => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Paint::Title => cell.add_attribute(Attribute::Bold),
        Paint::Error => cell.fg(Color::Red),
    }
}

fn paint(text: &str, style: TextStyle, paint: Paint) -> String {
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
fn share_bar(share: f64) -> String {
    let eighths = (share.clamp(0.0, 1.0) * 80.0).round() as usize;
    let mut bar = "█".repeat(eighths / 8);
    const PARTIAL: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    bar.push_str(PARTIAL[eighths % 8]);
    format!("{:>6} {bar}", fmt_pct(share))
}

fn fmt_estimate(factor: Option<f64>, direction: Option<EstimateDirection>) -> String {
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

/// First line of `text`, whitespace collapsed, cut at `max` characters with an ellipsis.
fn one_line(text: &str, max: usize) -> String {
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
    }

    fn render_fixture(name: &str) -> (StatementReport, String) {
        let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let explain = crate::plan::parse_explain(&text).unwrap().remove(0);
        let analysis = crate::plan::analyze(&explain);
        let statement = StatementReport::explained(
            1,
            None,
            None,
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
            width: None,
            verbose: false,
        };
        render_statement(&mut out, &report, &statement, 1, style).unwrap();
        (statement, String::from_utf8(out).unwrap())
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
            .find(|l| l.starts_with('│') && l.contains("Nested Loop"))
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
