//! One plan as pictures: an icicle (flame-graph-style) SVG where width is inclusive time and
//! colour the node's share of exclusive time, the tree beside it, each node's details, and the
//! findings drawn on their nodes. Static HTML and SVG; the page's script only adds selection.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{self, Write};

use super::{Esc, severity_class};
use crate::diagnose::Severity;
use crate::plan::{Buffers, EstimateDirection};
use crate::report::model::{FindingReport, NodeReport};
use crate::units::{fmt_bytes, fmt_count, fmt_ms, fmt_pct};

/// The flame graph's drawing width, in SVG user units (it scales to the page).
const WIDTH: f64 = 1200.0;
/// One plan level's height.
const ROW: f64 = 18.0;
/// Bars narrower than this are not drawn (their node is still in the tree).
const MIN_BAR: f64 = 0.4;
/// Indentation stops growing past this depth; the row still says its depth.
const MAX_INDENT: usize = 40;

/// A plan to draw and what to mark on it.
#[derive(Debug, Clone, Copy)]
pub struct PlanView<'a> {
    /// Unique on the page, without `-n` in it: element ids are `{key}-n{node}`.
    pub key: &'a str,
    pub nodes: &'a [NodeReport],
    pub findings: &'a [FindingReport],
    /// Nodes drawn as changed (a suggestion's or a regression's plan difference).
    pub changed: &'a BTreeSet<usize>,
    /// Whether the widths are times (EXPLAIN ANALYZE) or, without them, estimated costs.
    pub analyzed: bool,
}

impl PlanView<'_> {
    fn node_key(&self, id: usize) -> String {
        format!("{}-n{id}", self.key)
    }

    /// The worst finding per node.
    fn worst_findings(&self) -> HashMap<usize, Severity> {
        let mut worst: HashMap<usize, Severity> = HashMap::new();
        for finding in self.findings {
            let entry = worst.entry(finding.node_id).or_insert(finding.severity);
            if finding.severity > *entry {
                *entry = finding.severity;
            }
        }
        worst
    }
}

/// A node's bar in the flame graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bar {
    pub x: f64,
    pub width: f64,
}

/// What a bar's width stands for: inclusive time when the plan was executed, the total cost
/// otherwise; when the root weighs nothing, the number of nodes below.
fn weights(nodes: &[NodeReport], analyzed: bool, children: &[Vec<usize>]) -> Vec<f64> {
    let value = |n: &NodeReport| {
        let v = if analyzed {
            n.metrics.inclusive_time_ms
        } else {
            n.total_cost
        };
        v.filter(|v| v.is_finite() && *v > 0.0).unwrap_or(0.0)
    };
    let mut weights: Vec<f64> = nodes.iter().map(value).collect();
    if weights.first().copied().unwrap_or(0.0) <= 0.0 {
        // Subtree sizes, children before parents (preorder reversed).
        weights = vec![1.0; nodes.len()];
        for i in (0..nodes.len()).rev() {
            let below: f64 = children[i].iter().map(|&c| weights[c]).sum();
            weights[i] += below;
        }
    }
    weights
}

/// Child lists by position, from the nodes' parent ids (the nodes are in preorder).
fn children_of(nodes: &[NodeReport]) -> Vec<Vec<usize>> {
    let position: HashMap<usize, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.metrics.id, i))
        .collect();
    let mut children = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if let Some(parent) = node.metrics.parent.and_then(|p| position.get(&p)) {
            children[*parent].push(i);
        }
    }
    children
}

/// Each node's bar: the root spans the width, children share their parent's span in proportion
/// to their weight (squeezed to fit when, with loops or parallel workers, they add up to more).
pub(crate) fn layout(nodes: &[NodeReport], analyzed: bool) -> Vec<Bar> {
    let children = children_of(nodes);
    let weights = weights(nodes, analyzed, &children);
    let mut bars = vec![Bar { x: 0.0, width: 0.0 }; nodes.len()];
    // Preorder: the first node is the root.
    if nodes.is_empty() {
        return bars;
    }
    let root = 0;
    bars[root] = Bar {
        x: 0.0,
        width: WIDTH,
    };
    let mut pending = vec![root];
    while let Some(parent) = pending.pop() {
        let span = bars[parent];
        let sum: f64 = children[parent].iter().map(|&c| weights[c]).sum();
        let denominator = weights[parent].max(sum);
        let mut x = span.x;
        for &child in &children[parent] {
            let width = if denominator > 0.0 {
                span.width * weights[child] / denominator
            } else {
                0.0
            };
            bars[child] = Bar { x, width };
            x += width;
            pending.push(child);
        }
    }
    bars
}

/// The fill for a node's share of exclusive time: pale yellow (none) to deep red (all of it).
pub(crate) fn heat(share: Option<f64>, analyzed: bool) -> String {
    match share.filter(|_| analyzed) {
        Some(share) => {
            let t = share.clamp(0.0, 1.0).sqrt();
            format!(
                "hsl({:.0},{:.0}%,{:.0}%)",
                50.0 - 50.0 * t,
                90.0 - 5.0 * t,
                88.0 - 43.0 * t
            )
        }
        None => "hsl(210,25%,84%)".to_owned(),
    }
}

/// "Index Scan on orders using orders_pkey".
fn title(node: &NodeReport) -> String {
    let m = &node.metrics;
    let mut title = m.label.clone();
    if let Some(relation) = &m.relation {
        title.push_str(" on ");
        title.push_str(relation);
    }
    if let Some(index) = &m.index_name {
        title.push_str(" using ");
        title.push_str(index);
    }
    if let Some(scans) = &node.scans {
        title.push_str(" (");
        title.push_str(scans);
        title.push(')');
    }
    title
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else if max_chars <= 1 {
        String::new()
    } else {
        let mut cut: String = text.chars().take(max_chars - 1).collect();
        cut.push('…');
        cut
    }
}

/// The time (or cost) a node's bar stands for, in words.
fn weight_words(node: &NodeReport, analyzed: bool) -> String {
    let m = &node.metrics;
    if analyzed {
        let mut words = String::new();
        if let Some(t) = m.inclusive_time_ms {
            let _ = write!(words, "{} ms", fmt_ms(t));
        }
        if let Some(e) = m.exclusive_time_ms {
            let _ = write!(words, " (self {} ms", fmt_ms(e));
            if let Some(s) = m.share_of_total {
                let _ = write!(words, ", {}", fmt_pct(s));
            }
            words.push(')');
        }
        words
    } else {
        node.total_cost
            .map(|c| format!("cost {}", fmt_count(c)))
            .unwrap_or_default()
    }
}

/// Writes the plan: legend, flame graph and tree side by side with the details panel.
pub fn render_plan(w: &mut impl Write, view: &PlanView<'_>) -> io::Result<()> {
    let measure = if view.analyzed {
        "width = inclusive time, colour = share of the statement's time spent in the node itself"
    } else {
        "not executed: width = estimated total cost"
    };
    writeln!(
        w,
        "<div class=\"legend\"><span>{}</span>{}<span>outlined: a finding on the node</span>{}</div>",
        Esc(measure),
        if view.analyzed {
            "<span>0%</span><span class=\"scale\"></span><span>100%</span>"
        } else {
            ""
        },
        if view.changed.is_empty() {
            ""
        } else {
            "<span>dashed: changed</span>"
        },
    )?;
    writeln!(w, "<div class=\"plan-view\"><div>")?;
    render_flame(w, view)?;
    render_tree(w, view)?;
    writeln!(w, "</div>")?;
    writeln!(
        w,
        "<aside class=\"panel\" id=\"panel-{}\"><p class=\"hint\">Select a node in the picture, the tree or a finding to see its details here.</p></aside>",
        Esc(view.key)
    )?;
    writeln!(w, "</div>")
}

/// The icicle: root on top, each level below its parent.
pub fn render_flame(w: &mut impl Write, view: &PlanView<'_>) -> io::Result<()> {
    let bars = layout(view.nodes, view.analyzed);
    let worst = view.worst_findings();
    let depth = view
        .nodes
        .iter()
        .map(|n| n.metrics.depth)
        .max()
        .unwrap_or(0);
    let height = (depth as f64 + 1.0) * ROW;
    writeln!(w, "<div class=\"flame-wrap\">")?;
    writeln!(
        w,
        "<svg class=\"flame\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"plan of {} nodes as a flame graph\">",
        view.nodes.len()
    )?;
    let root_depth = view.nodes.first().map(|n| n.metrics.depth).unwrap_or(0);
    for (node, bar) in view.nodes.iter().zip(&bars) {
        if bar.width < MIN_BAR {
            continue;
        }
        let m = &node.metrics;
        let y = (m.depth.saturating_sub(root_depth)) as f64 * ROW;
        let mut class = String::from("fg-node");
        let severity = worst.get(&m.id);
        if let Some(severity) = severity {
            let _ = write!(class, " finding {}", severity_class(*severity));
        }
        if view.changed.contains(&m.id) {
            class.push_str(" changed");
        }
        let name = title(node);
        let tip = format!("{name} · {}", weight_words(node, view.analyzed));
        write!(
            w,
            "<g class=\"{class}\" data-node=\"{}\" tabindex=\"0\"><title>{}</title><rect x=\"{:.2}\" y=\"{y}\" width=\"{:.2}\" height=\"{}\" fill=\"{}\"/>",
            Esc(&view.node_key(m.id)),
            Esc(&tip),
            bar.x,
            bar.width,
            ROW - 1.0,
            heat(m.share_of_total, view.analyzed),
        )?;
        let mut label = name;
        if severity.is_some() {
            label.insert_str(0, "⚠ ");
        }
        let fits = ((bar.width - 6.0) / 6.7).floor();
        if fits >= 3.0 {
            write!(
                w,
                "<text x=\"{:.2}\" y=\"{:.1}\">{}</text>",
                bar.x + 3.0,
                y + ROW - 5.0,
                Esc(&truncate(&label, fits as usize))
            )?;
        }
        writeln!(w, "</g>")?;
    }
    writeln!(w, "</svg></div>")
}

/// The tree: one row per node, indented by depth, each opening to its details (no script needed).
pub fn render_tree(w: &mut impl Write, view: &PlanView<'_>) -> io::Result<()> {
    let worst = view.worst_findings();
    let mut by_node: HashMap<usize, Vec<&FindingReport>> = HashMap::new();
    for finding in view.findings {
        by_node.entry(finding.node_id).or_default().push(finding);
    }
    let root_depth = view.nodes.first().map(|n| n.metrics.depth).unwrap_or(0);
    writeln!(w, "<h3>Plan tree</h3><ol class=\"tree\">")?;
    for node in view.nodes {
        let m = &node.metrics;
        let depth = m.depth.saturating_sub(root_depth);
        let mut class = String::new();
        if let Some(severity) = worst.get(&m.id) {
            let _ = write!(class, "finding {}", severity_class(*severity));
        }
        if view.changed.contains(&m.id) {
            class.push_str(" changed");
        }
        let key = view.node_key(m.id);
        write!(
            w,
            "<li class=\"{}\" data-node=\"{}\" style=\"--depth:{}\"><details><summary>",
            class.trim(),
            Esc(&key),
            depth.min(MAX_INDENT)
        )?;
        if depth > MAX_INDENT {
            write!(w, "<span class=\"num\">[{depth}] </span>")?;
        }
        let share = if view.analyzed {
            m.share_of_total.unwrap_or(0.0).clamp(0.0, 1.0)
        } else {
            0.0
        };
        write!(
            w,
            "<span class=\"share\"><i style=\"width:{:.0}%\"></i></span>",
            share * 100.0
        )?;
        if let Some(name) = &node.subplan_name {
            write!(w, "<span class=\"num\">{} → </span>", Esc(name))?;
        }
        write!(w, "<span class=\"label\">{}</span> ", Esc(&title(node)))?;
        write!(
            w,
            "<span class=\"num\">{}",
            Esc(&weight_words(node, view.analyzed))
        )?;
        let rows = match m.actual_rows_total {
            Some(actual) => format!(
                " · {} rows (planned {})",
                fmt_count(actual),
                fmt_count(m.planned_rows_total)
            ),
            None => format!(" · {} rows planned", fmt_count(m.planned_rows_total)),
        };
        write!(w, "{}</span>", Esc(&rows))?;
        for finding in by_node.get(&m.id).into_iter().flatten() {
            write!(
                w,
                " <span class=\"badge {}\">{}</span>",
                severity_class(finding.severity),
                Esc(finding.rule.as_str())
            )?;
        }
        write!(w, "</summary>")?;
        render_detail(
            w,
            node,
            &key,
            by_node.get(&m.id).map(Vec::as_slice).unwrap_or(&[]),
            view.analyzed,
        )?;
        writeln!(w, "</details></li>")?;
    }
    writeln!(w, "</ol>")
}

/// One node's details: rows, estimate error, loops, times, buffers, workers, conditions and the
/// findings on it.
pub fn render_detail(
    w: &mut impl Write,
    node: &NodeReport,
    key: &str,
    findings: &[&FindingReport],
    analyzed: bool,
) -> io::Result<()> {
    let m = &node.metrics;
    write!(
        w,
        "<div class=\"node-detail\" id=\"detail-{}\"><h4>{}</h4><table class=\"kv\">",
        Esc(key),
        Esc(&title(node))
    )?;
    let mut row = |label: &str, value: &str| -> io::Result<()> {
        write!(w, "<tr><th>{}</th><td>{}</td></tr>", Esc(label), Esc(value))
    };
    if let Some(name) = &node.subplan_name {
        row("computes", name)?;
    }
    row("node", &format!("#{} (path {})", m.id, m.path))?;
    if analyzed {
        if let Some(t) = m.inclusive_time_ms {
            row("time", &format!("{} ms inclusive", fmt_ms(t)))?;
        }
        if let Some(e) = m.exclusive_time_ms {
            let share = m
                .share_of_total
                .map(|s| format!(", {} of the statement", fmt_pct(s)))
                .unwrap_or_default();
            row("self time", &format!("{} ms{share}", fmt_ms(e)))?;
        }
        if let Some(jit) = m.jit_ms {
            row("JIT taken out", &format!("{} ms", fmt_ms(jit)))?;
        }
    }
    match m.actual_rows_total {
        Some(actual) => {
            row("rows", &format!("{} actual", fmt_count(actual)))?;
            row(
                "planned",
                &format!("{} rows", fmt_count(m.planned_rows_total)),
            )?;
        }
        None => row("rows planned", &fmt_count(m.planned_rows_total))?,
    }
    if let Some(factor) = m.estimate_factor {
        let words = match m.estimate_direction {
            _ if factor < 1.05 => "within 5%".to_owned(),
            Some(EstimateDirection::Under) => format!("{}× under-estimated", fmt_factor(factor)),
            Some(EstimateDirection::Over) => format!("{}× over-estimated", fmt_factor(factor)),
            _ => "exact".to_owned(),
        };
        row("estimate error", &words)?;
    }
    if let Some(loops) = m.loops {
        row("loops", &fmt_count(loops))?;
    }
    if let (Some(startup), Some(total)) = (node.startup_cost, node.total_cost) {
        row(
            "cost",
            &format!("{}..{}", fmt_count(startup), fmt_count(total)),
        )?;
    }
    if let Some((launched, planned)) = m.parallel_workers {
        row(
            "workers",
            &format!("{launched} launched of {planned} planned"),
        )?;
    }
    if let Some(words) = buffer_words(&m.inclusive_buffers) {
        row("buffers", &words)?;
    }
    if let Some(words) =
        buffer_words(&m.exclusive_buffers).filter(|_| m.exclusive_buffers != m.inclusive_buffers)
    {
        row("own buffers", &words)?;
    }
    write!(w, "</table>")?;
    if !node.details.is_empty() {
        write!(w, "<ul class=\"conds\">")?;
        for detail in &node.details {
            write!(w, "<li>{}</li>", Esc(detail))?;
        }
        write!(w, "</ul>")?;
    }
    for finding in findings {
        write!(
            w,
            "<p><span class=\"badge {}\">{}</span> {} {}</p>",
            severity_class(finding.severity),
            Esc(finding.severity.as_str()),
            Esc(finding.rule.as_str()),
            Esc(&finding.summary)
        )?;
    }
    write!(w, "</div>")
}

fn fmt_factor(factor: f64) -> String {
    if factor < 10.0 {
        format!("{factor:.1}")
    } else {
        fmt_count(factor)
    }
}

/// "shared hit 120 · read 4 (32 kB)", the non-zero counters; `None` when all are zero.
fn buffer_words(b: &Buffers) -> Option<String> {
    if b.is_zero() {
        return None;
    }
    let mut parts = Vec::new();
    for (scope, counters) in [
        (
            "shared",
            [
                ("hit", b.shared_hit),
                ("read", b.shared_read),
                ("dirtied", b.shared_dirtied),
                ("written", b.shared_written),
            ],
        ),
        (
            "local",
            [
                ("hit", b.local_hit),
                ("read", b.local_read),
                ("dirtied", b.local_dirtied),
                ("written", b.local_written),
            ],
        ),
        (
            "temp",
            [
                ("read", b.temp_read),
                ("written", b.temp_written),
                ("", 0),
                ("", 0),
            ],
        ),
    ] {
        let shown: Vec<String> = counters
            .iter()
            .filter(|(_, v)| *v > 0)
            .map(|(name, v)| format!("{name} {}", fmt_count(*v as f64)))
            .collect();
        if !shown.is_empty() {
            parts.push(format!("{scope} {}", shown.join(", ")));
        }
    }
    let read = b.shared_read + b.local_read + b.temp_read;
    let mut words = parts.join(" · ");
    if read > 0 {
        let bytes = i64::try_from(read.saturating_mul(8192)).unwrap_or(i64::MAX);
        let _ = write!(words, " ({} read)", fmt_bytes(bytes));
    }
    Some(words)
}

/// The findings listed with their evidence and advice; each selects its node.
pub fn render_findings(
    w: &mut impl Write,
    key: &str,
    findings: &[FindingReport],
) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(w, "<p class=\"note\">No findings.</p>");
    }
    writeln!(w, "<h3>Findings</h3><ol class=\"findings\">")?;
    for f in findings {
        write!(
            w,
            "<li class=\"finding {}\" data-node=\"{}-n{}\"><span class=\"badge {}\">{}</span> <code>{}</code> {}",
            severity_class(f.severity),
            Esc(key),
            f.node_id,
            severity_class(f.severity),
            Esc(f.severity.as_str()),
            Esc(f.rule.as_str()),
            Esc(&f.summary),
        )?;
        if f.time_at_stake_ms > 0.0 {
            write!(
                w,
                " <span class=\"note\">({} ms at stake, {})</span>",
                fmt_ms(f.time_at_stake_ms),
                fmt_pct(f.share_at_stake)
            )?;
        }
        if !f.evidence.is_empty() {
            write!(w, "<table class=\"kv\">")?;
            for e in &f.evidence {
                write!(
                    w,
                    "<tr><th>{}</th><td>{}</td></tr>",
                    Esc(&e.label),
                    Esc(&e.value)
                )?;
            }
            write!(w, "</table>")?;
        }
        write!(w, "<p class=\"advice\">{}</p>", Esc(&f.advice))?;
        if let Some(ddl) = &f.suggested_index {
            write!(w, "<pre class=\"ddl\">{}</pre>", Esc(ddl))?;
        }
        writeln!(
            w,
            "<p class=\"note\">Rule page: <code>{}</code> (or <code>pgdiag rules {}</code>)</p></li>",
            Esc(&f.doc),
            Esc(f.rule.as_str())
        )?;
    }
    writeln!(w, "</ol>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: usize, parent: Option<usize>, depth: usize, time: f64) -> NodeReport {
        let buffers = serde_json::json!({
            "shared_hit": 0, "shared_read": 0, "shared_dirtied": 0, "shared_written": 0,
            "local_hit": 0, "local_read": 0, "local_dirtied": 0, "local_written": 0,
            "temp_read": 0, "temp_written": 0
        });
        let json = serde_json::json!({
            "id": id, "parent": parent, "depth": depth, "path": "0", "label": "Seq Scan",
            "relation": null, "index_name": null, "loops": 1.0, "planned_rows_total": 1.0,
            "actual_rows_total": 1.0, "inclusive_time_ms": time, "exclusive_time_ms": time,
            "share_of_total": 0.5, "estimate_factor": null, "estimate_direction": null,
            "inclusive_buffers": buffers, "exclusive_buffers": buffers, "parallel_workers": null,
            "subplan_name": null, "scans": null, "startup_cost": 0.0, "total_cost": 10.0,
            "details": []
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn children_share_their_parent_span_by_time() {
        let nodes = vec![
            node(0, None, 0, 100.0),
            node(1, Some(0), 1, 75.0),
            node(2, Some(0), 1, 25.0),
        ];
        let bars = layout(&nodes, true);
        assert_eq!(
            bars[0],
            Bar {
                x: 0.0,
                width: WIDTH
            }
        );
        assert_eq!(
            bars[1],
            Bar {
                x: 0.0,
                width: WIDTH * 0.75
            }
        );
        assert_eq!(
            bars[2],
            Bar {
                x: WIDTH * 0.75,
                width: WIDTH * 0.25
            }
        );
    }

    #[test]
    fn children_adding_up_to_more_than_their_parent_are_squeezed_into_it() {
        // Parallel workers: children's times add up to more than the parent's wall time.
        let nodes = vec![
            node(0, None, 0, 10.0),
            node(1, Some(0), 1, 5.0),
            node(2, Some(1), 2, 20.0),
            node(3, Some(1), 2, 20.0),
        ];
        let bars = layout(&nodes, true);
        assert_eq!(bars[1].width, WIDTH / 2.0);
        assert_eq!(bars[2].width, WIDTH / 4.0);
        assert_eq!(
            bars[3],
            Bar {
                x: WIDTH / 4.0,
                width: WIDTH / 4.0
            }
        );
    }

    #[test]
    fn a_plan_without_times_or_costs_is_drawn_by_node_count() {
        let mut nodes = vec![
            node(0, None, 0, 0.0),
            node(1, Some(0), 1, 0.0),
            node(2, Some(1), 2, 0.0),
            node(3, Some(0), 1, 0.0),
        ];
        for n in &mut nodes {
            n.total_cost = None;
        }
        let bars = layout(&nodes, true);
        // Root weighs 4, its children 2 and 1 (squeezed to 3 parts of the root's 4).
        assert_eq!(bars[1].width, WIDTH * 2.0 / 4.0);
        assert_eq!(bars[3].width, WIDTH / 4.0);
    }

    #[test]
    fn heat_runs_from_pale_yellow_to_deep_red() {
        assert_eq!(heat(Some(0.0), true), "hsl(50,90%,88%)");
        assert_eq!(heat(Some(1.0), true), "hsl(0,85%,45%)");
        assert_eq!(heat(Some(0.5), false), "hsl(210,25%,84%)");
    }

    #[test]
    fn buffers_show_only_what_was_touched() {
        let b = Buffers {
            shared_hit: 1200,
            shared_read: 4,
            ..Buffers::default()
        };
        assert_eq!(
            buffer_words(&b).unwrap(),
            "shared hit 1,200, read 4 (32.0 kB read)"
        );
        assert_eq!(buffer_words(&Buffers::default()), None);
    }
}
