//! The plan as lines that fit the width: one line per node (tree, time, share, rows), the node's
//! conditions and the rest of its figures on indented lines below it, never wrapped.
//!
//! Three layouts, chosen by the width (see [`Layout::for_width`]): narrow (under 100 columns:
//! exclusive time, share, rows), medium (under 140: inclusive time and a share bar as well) and
//! wide (the estimate factor, loops and buffers in columns too). What a layout has no column for
//! is written on the node's detail lines. A node title longer than its column is cut with `…`;
//! tree rails past what the column holds give way to `[depth N]`.

use std::io::{self, Write};

use super::model::{NodeReport, StatementReport};
use super::text::{
    Paint, TextStyle, estimate_tier, fmt_estimate, node_title, node_title_without_index, one_line,
    paint, share_bar, tier, wrap,
};
use crate::units::{fmt_count, fmt_ms, fmt_pct};

/// Which columns a width affords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Under 100 columns: `#`, node, exclusive ms, share, rows.
    Narrow,
    /// 100 to 139 columns: inclusive ms and a share bar as well.
    Medium,
    /// 140 columns and more: estimate factor, loops and buffers in columns too.
    Wide,
}

impl Layout {
    pub fn for_width(width: usize) -> Layout {
        if width >= 140 {
            Layout::Wide
        } else if width >= 100 {
            Layout::Medium
        } else {
            Layout::Narrow
        }
    }
}

/// The narrowest node column: a title keeps at least this many characters next to its rails.
const MIN_NODE: usize = 24;
/// Characters a title keeps beside its rails before deeper rails give way to `[depth N]`.
const MIN_TITLE: usize = 16;
/// Never more rails than this, whatever the width (the output would grow with the depth's square).
const MAX_RAILS: usize = 24;
/// Between two columns.
const GAP: &str = "  ";

/// One numeric column: its header and, per node, its text and colour.
struct Column {
    header: &'static str,
    /// Left-aligned (the share bars start in one place); numbers are right-aligned.
    left: bool,
    cells: Vec<(String, Paint)>,
}

impl Column {
    fn width(&self) -> usize {
        self.cells
            .iter()
            .map(|(text, _)| chars(text))
            .chain([chars(self.header)])
            .max()
            .unwrap_or(0)
    }
}

/// Write the plan of `statement` in `width` columns.
pub fn render(w: &mut impl Write, statement: &StatementReport, style: TextStyle) -> io::Result<()> {
    let width = style.columns();
    let layout = Layout::for_width(width);
    let nodes = &statement.nodes;
    let analyzed = statement.analyzed;
    let columns = columns(nodes, analyzed, layout);

    let id_width = nodes
        .iter()
        .map(|n| chars(&n.metrics.id.to_string()))
        .chain([1])
        .max()
        .unwrap_or(1);
    let fixed: usize = columns.iter().map(|c| c.width() + GAP.len()).sum();
    let available = width
        .saturating_sub(id_width + GAP.len() + fixed)
        .max(MIN_NODE);
    // A scan's index goes to a detail line when its title would not fit: the relation stays.
    let fits = |i: usize, title: &str| i + chars(title) <= available;
    let titles: Vec<(String, Option<String>)> = nodes
        .iter()
        .map(|n| {
            let full = node_title(n);
            // Rails take 3 columns a level (at most MAX_RAILS levels).
            let rails = 3 * n.metrics.depth.min(MAX_RAILS);
            match (&n.metrics.index_name, &n.metrics.relation) {
                (Some(index), Some(_)) if !fits(rails, &full) => {
                    (node_title_without_index(n), Some(format!("Index: {index}")))
                }
                _ => (full, None),
            }
        })
        .collect();
    // Rails the node column holds with room left for a title (and for `[depth N] ` when the
    // deepest node needs more).
    let deepest = nodes.iter().map(|n| n.metrics.depth).max().unwrap_or(0);
    let mut max_rails = (available.saturating_sub(MIN_TITLE) / 3).clamp(1, MAX_RAILS);
    if deepest > max_rails {
        max_rails =
            (available.saturating_sub(MIN_TITLE + "[depth 9999] ".len()) / 3).clamp(1, MAX_RAILS);
    }
    let prefixes = tree_prefixes(nodes, max_rails);
    let natural = prefixes
        .iter()
        .zip(&titles)
        .map(|(p, (t, _))| chars(p) + chars(t))
        .chain([chars("Node")])
        .max()
        .unwrap_or(4);
    let node_width = natural.min(available);

    // Header and rule.
    let mut header = format!("{:>id_width$}{GAP}{:<node_width$}", "#", "Node");
    for c in &columns {
        header.push_str(GAP);
        if c.left {
            header.push_str(&format!("{:<1$}", c.header, c.width()));
        } else {
            header.push_str(&format!("{:>1$}", c.header, c.width()));
        }
    }
    let header = header.trim_end().to_owned();
    let line_width = chars(&header);
    writeln!(w, "{}", paint(&header, style, Paint::Title))?;
    writeln!(w, "{}", "─".repeat(line_width))?;

    for (i, (node, prefix)) in nodes.iter().zip(&prefixes).enumerate() {
        let m = &node.metrics;
        let level = if analyzed {
            tier(m.share_of_total.unwrap_or(0.0))
        } else {
            Paint::Plain
        };
        let (title, index) = &titles[i];
        let title = cut(title, node_width.saturating_sub(chars(prefix)));
        let label = format!("{prefix}{title}");
        let pad = " ".repeat(node_width.saturating_sub(chars(&label)));
        let mut line = format!(
            "{:>id_width$}{GAP}{prefix}{}{pad}",
            m.id,
            paint(&title, style, level)
        );
        for c in &columns {
            let (text, paint_as) = &c.cells[i];
            line.push_str(GAP);
            let cell = if c.left {
                format!("{text:<0$}", c.width())
            } else {
                format!("{text:>0$}", c.width())
            };
            line.push_str(&paint(&cell, style, *paint_as));
        }
        writeln!(w, "{}", line.trim_end())?;

        // Detail lines: under the node's title, continuing its rails, cut to the width.
        let rails = prefix.replace("├─ ", "│  ").replace("└─ ", "   ");
        let indent = format!("{:id_width$}{GAP}{rails}   ", "");
        let mut details: Vec<String> = index.iter().cloned().collect();
        details.extend(node.details.iter().cloned());
        let facts = facts(node, layout);
        if !facts.is_empty() {
            details.push(facts.join(" · "));
        }
        // A condition too long for the line goes on below it, indented further.
        for d in details {
            for line in wrap(
                &one_line(&d, usize::MAX),
                &indent,
                &format!("{indent}  "),
                width,
            ) {
                writeln!(w, "{line}")?;
            }
        }
    }
    Ok(())
}

/// The columns a layout shows besides `#` and the node.
fn columns(nodes: &[NodeReport], analyzed: bool, layout: Layout) -> Vec<Column> {
    let mut columns = Vec::new();
    let mut column = |header: &'static str, cell: &dyn Fn(&NodeReport) -> (String, Paint)| {
        columns.push(Column {
            header,
            left: header == "% time" && layout != Layout::Narrow,
            cells: nodes.iter().map(cell).collect(),
        })
    };
    let level = |n: &NodeReport| tier(n.metrics.share_of_total.unwrap_or(0.0));
    if analyzed {
        column("Excl ms", &|n| {
            (
                n.metrics.exclusive_time_ms.map(fmt_ms).unwrap_or_default(),
                level(n),
            )
        });
        if layout != Layout::Narrow {
            column("Incl ms", &|n| {
                (
                    n.metrics.inclusive_time_ms.map(fmt_ms).unwrap_or_default(),
                    Paint::Plain,
                )
            });
        }
        column("% time", &|n| {
            let share = n.metrics.share_of_total.unwrap_or(0.0);
            let text = if n.metrics.loops == Some(0.0) {
                "never run".to_owned()
            } else if layout == Layout::Narrow {
                fmt_pct(share)
            } else {
                share_bar(share)
            };
            (text, level(n))
        });
        column("Rows act/plan", &|n| {
            (
                format!(
                    "{} / {}",
                    n.metrics
                        .actual_rows_total
                        .map(fmt_count)
                        .unwrap_or_else(|| "-".into()),
                    fmt_count(n.metrics.planned_rows_total)
                ),
                Paint::Plain,
            )
        });
        if layout == Layout::Wide {
            column("Estimate", &|n| {
                (
                    fmt_estimate(n.metrics.estimate_factor, n.metrics.estimate_direction),
                    estimate_tier(n.metrics.estimate_factor),
                )
            });
            column("Loops", &|n| {
                (
                    n.metrics.loops.map(fmt_count).unwrap_or_default(),
                    Paint::Plain,
                )
            });
        }
    } else {
        column("Cost", &|n| {
            let text = match (n.startup_cost, n.total_cost, layout) {
                (_, Some(t), Layout::Narrow) => format!("{t:.2}"),
                (Some(s), Some(t), _) => format!("{s:.2}..{t:.2}"),
                _ => String::new(),
            };
            (text, Paint::Plain)
        });
        column("Rows plan", &|n| {
            (fmt_count(n.metrics.planned_rows_total), Paint::Plain)
        });
    }
    if layout == Layout::Wide {
        column("Buffers hit/read", &|n| {
            let b = &n.metrics.exclusive_buffers;
            (
                format!(
                    "{}/{}",
                    fmt_count(b.shared_hit as f64),
                    fmt_count(b.shared_read as f64)
                ),
                Paint::Plain,
            )
        });
    }
    columns
}

/// What a node's line has no column for, worth saying: its estimate factor, loops, buffers,
/// temp files, workers.
fn facts(node: &NodeReport, layout: Layout) -> Vec<String> {
    let m = &node.metrics;
    let mut facts = Vec::new();
    if layout != Layout::Wide {
        let estimate = fmt_estimate(m.estimate_factor, m.estimate_direction);
        if !estimate.is_empty() {
            facts.push(format!("estimate {estimate}"));
        }
        if let Some(loops) = m.loops.filter(|&l| l != 1.0 && l != 0.0) {
            facts.push(format!("loops {}", fmt_count(loops)));
        }
        let b = &m.exclusive_buffers;
        if b.shared_hit + b.shared_read > 0 {
            facts.push(format!(
                "buffers hit {} read {}",
                fmt_count(b.shared_hit as f64),
                fmt_count(b.shared_read as f64)
            ));
        }
    }
    let b = &m.exclusive_buffers;
    if b.temp_read + b.temp_written > 0 {
        facts.push(format!(
            "temp read {} written {}",
            fmt_count(b.temp_read as f64),
            fmt_count(b.temp_written as f64)
        ));
    }
    if let Some((launched, planned)) = m.parallel_workers {
        facts.push(format!("workers {launched} of {planned} launched"));
    }
    facts
}

/// Tree glyphs for each node of a depth-first node list, at most `max_rails` levels of rails.
pub(super) fn tree_prefixes(nodes: &[NodeReport], max_rails: usize) -> Vec<String> {
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
        // Past `max_rails` levels the rails would not fit: the depth is written instead, then
        // the nearest rails.
        let mut p = String::new();
        let hidden = open.len().saturating_sub(max_rails.saturating_sub(1));
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

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// `text` in at most `max` characters, cut with `…`.
fn cut(text: &str, max: usize) -> String {
    if chars(text) <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}
