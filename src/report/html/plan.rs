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
/// Plans of up to this many nodes are written out in full, readable with JavaScript off: every
/// node's details under its row of the tree. Larger plans keep one compact row per node, their
/// details as data the page's script shows on selection, and merge bars narrower than
/// about a pixel, so that the page grows by a bounded amount per node.
pub const STATIC_NODES: usize = 1_000;
/// In a large plan, bars narrower than this (about a pixel on a usual screen) are merged with
/// their narrow siblings.
const MIN_BAR_LARGE: f64 = 1.0;
/// In a large plan, levels below this many are not drawn in the flame graph (the tree has them):
/// the picture stays a few thousand pixels tall.
const MAX_FLAME_LEVELS: usize = 250;
/// A large plan's tree rows come in lists of this many, each laid out by the browser only when
/// scrolled into view.
const TREE_CHUNK: usize = 200;
/// Findings listed in full with their evidence and advice; the rest are grouped by rule.
pub const LISTED_FINDINGS: usize = 100;

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
    if is_large(view) {
        writeln!(
            w,
            "<p class=\"note large-plan\">A large plan: {} nodes, more than {}. Each node's details are shown in the panel when it is selected (this needs JavaScript) instead of being written out under every row of the tree.</p>",
            fmt_count(view.nodes.len() as f64),
            fmt_count(STATIC_NODES as f64)
        )?;
    }
    writeln!(w, "<div class=\"plan-view\"><div>")?;
    render_flame(w, view)?;
    render_tree(w, view)?;
    writeln!(w, "</div>")?;
    write!(
        w,
        "<aside class=\"panel\" id=\"panel-{}\"><p class=\"hint\">Select a node in the picture, the tree or a finding to see its details here.</p>",
        Esc(view.key)
    )?;
    if is_large(view) {
        write!(
            w,
            "<noscript><p class=\"note\">JavaScript is off: with more than {} nodes the details are not written out; each tree row gives the node's time and rows.</p></noscript>",
            fmt_count(STATIC_NODES as f64)
        )?;
    }
    writeln!(w, "</aside>")?;
    writeln!(w, "</div>")
}

/// Whether the plan is past [`STATIC_NODES`]: compact tree rows, details as data, narrow bars
/// merged.
fn is_large(view: &PlanView<'_>) -> bool {
    view.nodes.len() > STATIC_NODES
}

/// What the flame graph leaves out: bars narrower than [`MIN_BAR_LARGE`] in a large plan.
#[derive(Debug, Default, PartialEq)]
struct Narrow {
    /// Per node: drawn as its own bar.
    drawn: Vec<bool>,
    /// Runs of side-by-side narrow siblings wide enough together: (x, width, depth below the
    /// root, siblings in the run).
    merged: Vec<(f64, f64, usize, usize)>,
}

/// Which bars are drawn, and which runs of narrow siblings are merged into one bar. A node is
/// drawn when its parent is, it is within `max_levels` of the root and its bar is at least
/// `min_bar` wide; narrow siblings next to each other become one grey bar when together they are
/// that wide. Linear in the nodes.
fn narrow_bars(
    nodes: &[NodeReport],
    bars: &[Bar],
    children: &[Vec<usize>],
    min_bar: f64,
    max_levels: usize,
) -> Narrow {
    let mut drawn = vec![false; nodes.len()];
    let mut merged = Vec::new();
    if nodes.is_empty() {
        return Narrow { drawn, merged };
    }
    let root_depth = nodes[0].metrics.depth;
    drawn[0] = bars[0].width >= min_bar;
    // Preorder: a parent is decided before its children.
    for parent in 0..nodes.len() {
        if !drawn[parent]
            || nodes[parent].metrics.depth.saturating_sub(root_depth) + 1 >= max_levels
        {
            continue;
        }
        let mut run: Option<(f64, f64, usize, usize)> = None;
        let mut flush = |run: &mut Option<(f64, f64, usize, usize)>| {
            if let Some(r) = run.take().filter(|r| r.1 >= min_bar) {
                merged.push(r);
            }
        };
        for &child in &children[parent] {
            let bar = bars[child];
            if bar.width >= min_bar {
                drawn[child] = true;
                flush(&mut run);
            } else {
                let depth = nodes[child].metrics.depth.saturating_sub(root_depth);
                match &mut run {
                    Some(r) => {
                        r.1 = bar.x + bar.width - r.0;
                        r.3 += 1;
                    }
                    None => run = Some((bar.x, bar.width, depth, 1)),
                }
            }
        }
        flush(&mut run);
    }
    Narrow { drawn, merged }
}

/// The icicle: root on top, each level below its parent.
pub fn render_flame(w: &mut impl Write, view: &PlanView<'_>) -> io::Result<()> {
    let large = is_large(view);
    let bars = layout(view.nodes, view.analyzed);
    let narrow = if large {
        narrow_bars(
            view.nodes,
            &bars,
            &children_of(view.nodes),
            MIN_BAR_LARGE,
            MAX_FLAME_LEVELS,
        )
    } else {
        Narrow {
            drawn: bars.iter().map(|b| b.width >= MIN_BAR).collect(),
            merged: Vec::new(),
        }
    };
    let worst = view.worst_findings();
    let depth = view
        .nodes
        .iter()
        .map(|n| n.metrics.depth)
        .max()
        .unwrap_or(0);
    let root_depth = view.nodes.first().map(|n| n.metrics.depth).unwrap_or(0);
    let mut height = (depth as f64 + 1.0) * ROW;
    writeln!(w, "<div class=\"flame-wrap\">")?;
    if large {
        let hidden = narrow.drawn.iter().filter(|d| !**d).count();
        let in_runs: usize = narrow.merged.iter().map(|r| r.3).sum();
        let mut cut = String::new();
        let levels = depth.saturating_sub(root_depth) + 1;
        if levels > MAX_FLAME_LEVELS {
            let _ = write!(
                cut,
                " Only the top {} of {} levels are drawn.",
                fmt_count(MAX_FLAME_LEVELS as f64),
                fmt_count(levels as f64)
            );
            height = MAX_FLAME_LEVELS as f64 * ROW;
        }
        writeln!(
            w,
            "<p class=\"note flame-note\">{} of {} nodes drawn; the other {} are narrower than a pixel or below the levels drawn. {} grey bars each stand for side-by-side narrow siblings ({} nodes, with what is below them).{cut} Every node is in the tree.</p>",
            fmt_count((view.nodes.len() - hidden) as f64),
            fmt_count(view.nodes.len() as f64),
            fmt_count(hidden as f64),
            fmt_count(narrow.merged.len() as f64),
            fmt_count(in_runs as f64),
        )?;
    }
    writeln!(
        w,
        "<svg class=\"flame\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"plan of {} nodes as a flame graph\">",
        view.nodes.len()
    )?;
    for ((node, bar), drawn) in view.nodes.iter().zip(&bars).zip(&narrow.drawn) {
        if !drawn {
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
    for (x, width, depth, count) in &narrow.merged {
        writeln!(
            w,
            "<g class=\"fg-merged\"><title>{count} nodes, each narrower than a pixel (see the tree)</title><rect x=\"{x:.2}\" y=\"{}\" width=\"{width:.2}\" height=\"{}\"/></g>",
            *depth as f64 * ROW,
            ROW - 1.0,
        )?;
    }
    writeln!(w, "</svg></div>")
}

/// The tree: one row per node, indented by depth, each opening to its details (no script
/// needed). A large plan's rows are compact and its details go to a data island the page's
/// script reads when a node is selected.
pub fn render_tree(w: &mut impl Write, view: &PlanView<'_>) -> io::Result<()> {
    let large = is_large(view);
    let worst = view.worst_findings();
    let mut by_node: HashMap<usize, Vec<&FindingReport>> = HashMap::new();
    for finding in view.findings {
        by_node.entry(finding.node_id).or_default().push(finding);
    }
    let root_depth = view.nodes.first().map(|n| n.metrics.depth).unwrap_or(0);
    if large {
        // In a scroll box, as lists of TREE_CHUNK rows the browser lays out only when in view.
        writeln!(
            w,
            "<h3>Plan tree</h3><div class=\"tree-scroll\"><ol class=\"tree chunk\">"
        )?;
    } else {
        writeln!(w, "<h3>Plan tree</h3><ol class=\"tree\">")?;
    }
    for (i, node) in view.nodes.iter().enumerate() {
        if large && i > 0 && i % TREE_CHUNK == 0 {
            writeln!(w, "</ol><ol class=\"tree chunk\" start=\"{}\">", i + 1)?;
        }
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
            "<li class=\"{}\" data-node=\"{}\" style=\"--depth:{}\">{}",
            class.trim(),
            Esc(&key),
            depth.min(MAX_INDENT),
            if large {
                "<div class=\"row\" tabindex=\"0\">"
            } else {
                "<details><summary>"
            }
        )?;
        if depth > MAX_INDENT {
            write!(w, "<span class=\"num\">[{depth}] </span>")?;
        }
        let share = if view.analyzed {
            m.share_of_total.unwrap_or(0.0).clamp(0.0, 1.0)
        } else {
            0.0
        };
        if large && share < 0.005 {
            // Nothing to draw: no element with a style of its own (those cost the browser most).
            write!(w, "<span class=\"share\"></span>")?;
        } else {
            write!(
                w,
                "<span class=\"share\"><i style=\"width:{:.0}%\"></i></span>",
                share * 100.0
            )?;
        }
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
        if large {
            writeln!(w, "</div></li>")?;
            continue;
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
    writeln!(w, "</ol>")?;
    if large {
        writeln!(w, "</div>")?;
        render_detail_data(w, view, &by_node)?;
    }
    Ok(())
}

/// A large plan's node details as a JSON data island (`<script type="application/json">`, never
/// run) the page's script builds the panel from: one array per node,
/// `[id, title, [[label, value], …], [condition, …], [[severity, rule, summary], …]]`.
fn render_detail_data(
    w: &mut impl Write,
    view: &PlanView<'_>,
    by_node: &HashMap<usize, Vec<&FindingReport>>,
) -> io::Result<()> {
    write!(
        w,
        "<script type=\"application/json\" class=\"plan-data\" id=\"nodes-{}\">[",
        Esc(view.key)
    )?;
    for (i, node) in view.nodes.iter().enumerate() {
        let findings: Vec<(&str, &str, &str)> = by_node
            .get(&node.metrics.id)
            .into_iter()
            .flatten()
            .map(|f| (f.severity.as_str(), f.rule.as_str(), f.summary.as_str()))
            .collect();
        let entry = (
            node.metrics.id,
            title(node),
            detail_rows(node, view.analyzed),
            &node.details,
            findings,
        );
        let json = serde_json::to_string(&entry).map_err(io::Error::other)?;
        if i > 0 {
            w.write_all(b",\n")?;
        }
        write!(w, "{}", ScriptJson(&json))?;
    }
    writeln!(w, "]</script>")
}

/// JSON made safe inside a `<script>` element: `<`, `>` and `&` (only ever inside strings) as
/// `\u` escapes, so no text can close the element or open a comment.
struct ScriptJson<'a>(&'a str);

impl std::fmt::Display for ScriptJson<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['<', '>', '&']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'<' => "\\u003c",
                b'>' => "\\u003e",
                _ => "\\u0026",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
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
    write!(
        w,
        "<div class=\"node-detail\" id=\"detail-{}\"><h4>{}</h4><table class=\"kv\">",
        Esc(key),
        Esc(&title(node))
    )?;
    for (label, value) in detail_rows(node, analyzed) {
        write!(
            w,
            "<tr><th>{}</th><td>{}</td></tr>",
            Esc(label),
            Esc(&value)
        )?;
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

/// The label and value rows of a node's details table, shared by the static details and the
/// data the page's script shows them from.
fn detail_rows(node: &NodeReport, analyzed: bool) -> Vec<(&'static str, String)> {
    let m = &node.metrics;
    let mut rows = Vec::with_capacity(10);
    if let Some(name) = &node.subplan_name {
        rows.push(("computes", name.clone()));
    }
    rows.push(("node", format!("#{} (path {})", m.id, short_path(&m.path))));
    if analyzed {
        if let Some(t) = m.inclusive_time_ms {
            rows.push(("time", format!("{} ms inclusive", fmt_ms(t))));
        }
        if let Some(e) = m.exclusive_time_ms {
            let share = m
                .share_of_total
                .map(|s| format!(", {} of the statement", fmt_pct(s)))
                .unwrap_or_default();
            rows.push(("self time", format!("{} ms{share}", fmt_ms(e))));
        }
        if let Some(jit) = m.jit_ms {
            rows.push(("JIT taken out", format!("{} ms", fmt_ms(jit))));
        }
    }
    match m.actual_rows_total {
        Some(actual) => {
            rows.push(("rows", format!("{} actual", fmt_count(actual))));
            rows.push((
                "planned",
                format!("{} rows", fmt_count(m.planned_rows_total)),
            ));
        }
        None => rows.push(("rows planned", fmt_count(m.planned_rows_total))),
    }
    if let Some(factor) = m.estimate_factor {
        let words = match m.estimate_direction {
            _ if factor < 1.05 => "within 5%".to_owned(),
            Some(EstimateDirection::Under) => format!("{}× under-estimated", fmt_factor(factor)),
            Some(EstimateDirection::Over) => format!("{}× over-estimated", fmt_factor(factor)),
            _ => "exact".to_owned(),
        };
        rows.push(("estimate error", words));
    }
    if let Some(loops) = m.loops {
        rows.push(("loops", fmt_count(loops)));
    }
    if let (Some(startup), Some(total)) = (node.startup_cost, node.total_cost) {
        rows.push((
            "cost",
            format!("{}..{}", fmt_count(startup), fmt_count(total)),
        ));
    }
    if let Some((launched, planned)) = m.parallel_workers {
        rows.push((
            "workers",
            format!("{launched} launched of {planned} planned"),
        ));
    }
    if let Some(words) = buffer_words(&m.inclusive_buffers) {
        rows.push(("buffers", words));
    }
    if let Some(words) =
        buffer_words(&m.exclusive_buffers).filter(|_| m.exclusive_buffers != m.inclusive_buffers)
    {
        rows.push(("own buffers", words));
    }
    rows
}

/// Longest node path shown whole; a deep node's path (two characters a level) is shortened
/// to its ends so that each node's details stay a bounded size.
const MAX_PATH: usize = 64;

/// `0.0.0.1`, or for a deep node `0.0.0.0.0.0…(4,980 levels)….0.1.0`. Paths are ASCII.
fn short_path(path: &str) -> String {
    if path.len() <= MAX_PATH || !path.is_ascii() {
        return path.to_owned();
    }
    // Whole steps only: the head up to a dot, the tail from after one.
    let head = path[..16].rsplit_once('.').map_or(&path[..16], |(h, _)| h);
    let tail = &path[path.len() - 40..];
    let tail = tail.split_once('.').map_or(tail, |(_, t)| t);
    let left_out = path[head.len()..path.len() - tail.len()]
        .matches('.')
        .count()
        .saturating_sub(1);
    format!("{head}.…({} levels)….{tail}", fmt_count(left_out as f64))
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
    let (listed, rest) = findings.split_at(findings.len().min(LISTED_FINDINGS));
    for f in listed {
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
    writeln!(w, "</ol>")?;
    render_finding_groups(w, key, rest)
}

/// How many nodes a group of findings past [`LISTED_FINDINGS`] names one by one.
const GROUP_NODES: usize = 20;

/// Findings past [`LISTED_FINDINGS`]: one line per rule with their count, worst severity and
/// the first nodes they are on (each selects its node); every one is on its node in the tree.
fn render_finding_groups(w: &mut impl Write, key: &str, rest: &[FindingReport]) -> io::Result<()> {
    if rest.is_empty() {
        return Ok(());
    }
    // By rule, in the order the rules first appear.
    let mut order: Vec<&str> = Vec::new();
    let mut groups: HashMap<&str, Vec<&FindingReport>> = HashMap::new();
    for f in rest {
        let rule = f.rule.as_str();
        groups
            .entry(rule)
            .or_insert_with(|| {
                order.push(rule);
                Vec::new()
            })
            .push(f);
    }
    writeln!(
        w,
        "<h4>{} more findings, by rule</h4><ul class=\"finding-groups\">",
        fmt_count(rest.len() as f64)
    )?;
    for rule in order {
        let group = &groups[rule];
        let worst = group
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Info);
        write!(
            w,
            "<li><span class=\"badge {}\">{}</span> <code>{}</code> × {} on nodes",
            severity_class(worst),
            Esc(worst.as_str()),
            Esc(rule),
            fmt_count(group.len() as f64)
        )?;
        for f in group.iter().take(GROUP_NODES) {
            write!(
                w,
                " <a class=\"node-ref\" data-node=\"{}-n{}\" title=\"{}\">#{}</a>",
                Esc(key),
                f.node_id,
                Esc(&f.summary),
                f.node_id
            )?;
        }
        if group.len() > GROUP_NODES {
            write!(
                w,
                " and {} more",
                fmt_count((group.len() - GROUP_NODES) as f64)
            )?;
        }
        writeln!(
            w,
            " <span class=\"note\">(rule page: <code>pgdiag rules {}</code>)</span></li>",
            Esc(rule)
        )?;
    }
    writeln!(w, "</ul>")
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

    #[test]
    fn narrow_siblings_side_by_side_are_merged_into_one_bar() {
        // Ten scans of 0.05 ms under a 100 ms root: 0.6 units each, 6 together.
        let mut nodes = vec![node(0, None, 0, 100.0), node(1, Some(0), 1, 90.0)];
        for id in 2..12 {
            nodes.push(node(id, Some(0), 1, 0.05));
        }
        // Below a narrow node: narrower still, neither drawn nor counted in a run.
        nodes.push(node(12, Some(11), 2, 0.04));
        // A lone narrow sibling after a drawn one: too narrow even on its own run.
        nodes.push(node(13, Some(0), 1, 5.0));
        nodes.push(node(14, Some(0), 1, 0.01));
        let bars = layout(&nodes, true);
        let narrow = narrow_bars(&nodes, &bars, &children_of(&nodes), 1.0, 10);
        let drawn: Vec<usize> = (0..nodes.len()).filter(|&i| narrow.drawn[i]).collect();
        assert_eq!(drawn, vec![0, 1, 13]);
        assert_eq!(narrow.merged.len(), 1);
        let (x, width, depth, count) = narrow.merged[0];
        assert!((x - WIDTH * 0.9).abs() < 1e-9, "{x}");
        assert!((width - WIDTH * 0.005).abs() < 1e-9, "{width}");
        assert_eq!((depth, count), (1, 10));
    }

    #[test]
    fn json_in_a_script_element_cannot_close_it() {
        let json = serde_json::to_string(&("</script><!-- & -->",)).unwrap();
        let safe = ScriptJson(&json).to_string();
        assert_eq!(safe, r#"["\u003c/script\u003e\u003c!-- \u0026 --\u003e"]"#);
        let back: (String,) = serde_json::from_str(&safe).unwrap();
        assert_eq!(back.0, "</script><!-- & -->");
    }

    #[test]
    fn findings_past_the_listed_ones_are_grouped_by_rule_with_counts() {
        let finding = |node_id: usize, rule: &str, severity: &str| -> FindingReport {
            serde_json::from_value(serde_json::json!({
                "rule": rule, "severity": severity, "node_id": node_id, "node_path": "0",
                "relation": null, "expressions": [], "summary": format!("summary {node_id}"),
                "evidence": [], "time_at_stake_ms": 0.0, "share_at_stake": 0.0,
                "advice": "advice", "doc": "docs/rules.md"
            }))
            .unwrap()
        };
        let mut findings: Vec<FindingReport> = (0..LISTED_FINDINGS)
            .map(|i| finding(i, "seq-scan", "warning"))
            .collect();
        findings.extend((0..30).map(|i| finding(1000 + i, "seq-scan", "notice")));
        findings.push(finding(5000, "seq-scan", "critical"));
        findings.extend((0..2).map(|i| finding(6000 + i, "disk-spill", "notice")));
        let mut out = Vec::new();
        render_findings(&mut out, "s1", &findings).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert_eq!(
            html.matches("<li class=\"finding ").count(),
            LISTED_FINDINGS
        );
        assert!(html.contains("33 more findings, by rule"), "{html}");
        assert!(html.contains(
            "<li><span class=\"badge sev-critical\">critical</span> <code>seq-scan</code> × 31 on nodes <a class=\"node-ref\" data-node=\"s1-n1000\" title=\"summary 1000\">#1000</a>"
        ), "{html}");
        assert!(html.contains(" and 11 more "), "{html}");
        assert!(
            html.contains("<code>disk-spill</code> × 2 on nodes"),
            "{html}"
        );
        assert!(html.contains("data-node=\"s1-n6001\""), "{html}");
    }

    #[test]
    fn a_deep_nodes_path_is_shortened_to_its_ends() {
        assert_eq!(short_path("0.1.0.2"), "0.1.0.2");
        let deep = vec!["0"; 5_000].join(".") + ".1";
        let short = short_path(&deep);
        assert!(short.len() < 80, "{short}");
        let (head, rest) = short.split_once(".…(").unwrap();
        let (levels, tail) = rest.split_once(" levels)….").unwrap();
        assert!(deep.starts_with(head) && deep.ends_with(tail), "{short}");
        assert!(tail.ends_with("0.0.1"), "{short}");
        // Every step is counted: shown at the ends or left out in between.
        let shown = head.split('.').count() + tail.split('.').count();
        assert_eq!(levels, fmt_count((5_001 - shown) as f64), "{short}");
    }
}
