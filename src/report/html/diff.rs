//! Two plans of one statement side by side (before and after a suggestion, a baseline and the
//! current run): two flame graphs on one scale, so that the faster plan is visibly narrower, the
//! two trees, and the nodes that changed ([`crate::plan::diff`]) outlined on both and listed.
//! A side may be a plan's nodes (drawn by time, or by cost when a side was not executed) or only
//! the shape lines a baseline keeps (drawn by node count within the baseline's cost).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::Esc;
use super::plan::{PlanView, heat, layout, render_tree};
use crate::plan::NodeReport;
use crate::plan::diff::{ChangeKind, NodeChange, PlanDiff, diff_reports, node_key, shape_nodes};
use crate::units::{fmt_count, fmt_ms};

/// The flame graphs' drawing width, in SVG user units: half the explain page's, as each takes half
/// the page (so that labels keep their size).
const WIDTH: f64 = 600.0;
/// One plan level's height.
const ROW: f64 = 18.0;
/// Bars narrower than this are not drawn (their node is still in the tree).
const MIN_BAR: f64 = 0.4;
/// The narrowest a root bar is drawn.
const MIN_ROOT: f64 = 2.0;
/// Changes listed under the plans; the rest are counted (every one is still outlined).
const MAX_LISTED: usize = 60;

/// What a side shows.
#[derive(Debug, Clone, Copy)]
pub enum SidePlan<'a> {
    /// A plan's nodes; `analyzed` when they have times.
    Nodes {
        nodes: &'a [NodeReport],
        analyzed: bool,
    },
    /// Shape lines only (a baseline): two spaces of indentation per level.
    Shape(&'a [String]),
    /// A plan too large to keep: its node count.
    Omitted(usize),
}

/// One side of the comparison.
#[derive(Debug, Clone, Copy)]
pub struct DiffSide<'a> {
    /// `before`, `after`, `baseline`, `current`.
    pub label: &'a str,
    /// The side's figure as the report says it (`65.3 ms (1 run)`, `cost 4,852`).
    pub figure: &'a str,
    pub plan: SidePlan<'a>,
    /// The root's cost, for a shape side (which has no per-node figures).
    pub cost: Option<f64>,
}

/// What the widths stand for: time when both sides were executed, cost otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Time,
    Cost,
}

impl DiffSide<'_> {
    fn analyzed(&self) -> bool {
        matches!(self.plan, SidePlan::Nodes { analyzed: true, .. })
    }

    /// The root's time or cost, the side's width on the common scale.
    fn root_weight(&self, unit: Unit) -> Option<f64> {
        let weight = match (self.plan, unit) {
            (SidePlan::Nodes { nodes, .. }, Unit::Time) => {
                nodes.first().and_then(|n| n.metrics.inclusive_time_ms)
            }
            (SidePlan::Nodes { nodes, .. }, Unit::Cost) => nodes.first().and_then(|n| n.total_cost),
            (SidePlan::Shape(_), Unit::Cost) => self.cost,
            _ => None,
        };
        weight.filter(|w| w.is_finite() && *w > 0.0)
    }
}

/// Which nodes changed between two sides: by the plans' nodes when both have them, else by shape
/// lines (`shapes`, when the caller has them for both sides, positions matching the nodes').
pub fn plan_diff(
    before: &DiffSide<'_>,
    after: &DiffSide<'_>,
    shapes: Option<(&[String], &[String])>,
) -> PlanDiff {
    if let Some((b, a)) = shapes {
        return crate::plan::diff::diff(&shape_nodes(b), &shape_nodes(a));
    }
    match (before.plan, after.plan) {
        (
            SidePlan::Nodes {
                nodes: b,
                analyzed: ba,
            },
            SidePlan::Nodes {
                nodes: a,
                analyzed: aa,
            },
        ) => diff_reports(b, ba, a, aa),
        _ => PlanDiff::default(),
    }
}

/// A bar of a flame graph, ready to draw.
struct Bar {
    depth: usize,
    x: f64,
    width: f64,
    label: String,
    tip: String,
    fill: String,
    class: String,
    node: String,
}

/// Writes both plans side by side and the list of what changed. `key` is unique on the page
/// (without `-n` in it); the sides' element ids are `{key}b-n{node}` and `{key}a-n{node}`.
pub fn render_plan_diff(
    w: &mut impl Write,
    key: &str,
    before: &DiffSide<'_>,
    after: &DiffSide<'_>,
    diff: &PlanDiff,
) -> io::Result<()> {
    let unit = if before.analyzed() && after.analyzed() {
        Unit::Time
    } else {
        Unit::Cost
    };
    let scale = match (before.root_weight(unit), after.root_weight(unit)) {
        (Some(b), Some(a)) => Some((b, a, b.max(a))),
        _ => None,
    };
    let measure = match (unit, scale.is_some()) {
        (Unit::Time, true) => "width = inclusive time, both plans on one scale",
        (Unit::Cost, true) => "width = estimated cost, both plans on one scale",
        _ => "widths: each plan on its own scale (a side has no time or cost)",
    };
    writeln!(
        w,
        "<div class=\"plan-diff\" data-changes=\"{}\"><div class=\"legend\"><span>{}</span><span class=\"ch-mark\">dashed: changed</span><span>{} changed node{}</span></div>",
        diff.changes.len(),
        Esc(measure),
        diff.changes.len(),
        if diff.changes.len() == 1 { "" } else { "s" }
    )?;
    writeln!(w, "<div class=\"side-by-side\">")?;
    let sides = [
        (before, format!("{key}b"), diff.before_changed(), 0usize),
        (after, format!("{key}a"), diff.after_changed(), 1),
    ];
    for (side, side_key, changed, which) in &sides {
        let share = scale
            .map(|(b, a, max)| if *which == 0 { b / max } else { a / max })
            .unwrap_or(1.0);
        render_side(w, side, side_key, changed, diff, *which, share, unit)?;
    }
    writeln!(w, "</div>")?;
    render_changes(w, key, before, after, diff)?;
    writeln!(w, "</div>")
}

/// Node positions as ids: a node's id is its position in the plan's preorder.
fn ids(nodes: &[NodeReport], positions: &BTreeSet<usize>) -> BTreeSet<usize> {
    positions
        .iter()
        .filter_map(|&p| nodes.get(p).map(|n| n.metrics.id))
        .collect()
}

/// The change kind of each position on one side.
fn kinds(diff: &PlanDiff, which: usize) -> std::collections::HashMap<usize, ChangeKind> {
    diff.changes
        .iter()
        .filter_map(|c| {
            let at = if which == 0 { c.before } else { c.after };
            at.map(|p| (p, c.kind))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn render_side(
    w: &mut impl Write,
    side: &DiffSide<'_>,
    key: &str,
    changed: &BTreeSet<usize>,
    diff: &PlanDiff,
    which: usize,
    share: f64,
    unit: Unit,
) -> io::Result<()> {
    writeln!(
        w,
        "<div class=\"diff-side {}\"><h4>{} <span class=\"note\">{}</span></h4>",
        Esc(side.label),
        Esc(&capitalized(side.label)),
        Esc(side.figure)
    )?;
    let kind_at = kinds(diff, which);
    match side.plan {
        SidePlan::Omitted(count) => {
            writeln!(
                w,
                "<p class=\"note\">A plan of {} nodes: not kept (more than {}), not drawn.</p>",
                fmt_count(count as f64),
                crate::plan::MAX_KEPT_NODES
            )?;
        }
        SidePlan::Nodes { nodes, analyzed } => {
            let by_time = unit == Unit::Time;
            let bars = layout(nodes, by_time);
            // The explain page's layout spans its own width: brought to this side's share of ours.
            let span = bars.first().map_or(0.0, |b| b.width);
            let k = if span > 0.0 {
                WIDTH * share / span
            } else {
                0.0
            };
            let drawn: Vec<Bar> = nodes
                .iter()
                .zip(bars)
                .enumerate()
                .map(|(position, (node, bar))| {
                    let m = &node.metrics;
                    let label = node_key(node);
                    let weight = if by_time {
                        m.inclusive_time_ms.map(|t| format!("{} ms", fmt_ms(t)))
                    } else {
                        node.total_cost.map(|c| format!("cost {}", fmt_count(c)))
                    };
                    let mut class = String::from("fg-node");
                    if let Some(kind) = kind_at.get(&position) {
                        let _ = write!(class, " changed ch-{}", kind.as_str());
                    }
                    Bar {
                        depth: m.depth,
                        x: bar.x * k,
                        width: bar.width * k,
                        tip: match weight {
                            Some(weight) => format!("{label} · {weight}"),
                            None => label.clone(),
                        },
                        label,
                        fill: heat(m.share_of_total, by_time && analyzed),
                        class,
                        node: format!("{key}-n{}", m.id),
                    }
                })
                .collect();
            render_bars(w, &drawn, side.label)?;
            let changed_ids = ids(nodes, changed);
            render_tree(
                w,
                &PlanView {
                    key,
                    nodes,
                    findings: &[],
                    changed: &changed_ids,
                    analyzed,
                },
            )?;
            writeln!(
                w,
                "<aside class=\"panel\" id=\"panel-{}\"><p class=\"hint\">Select a node to see its details here.</p></aside>",
                Esc(key)
            )?;
        }
        SidePlan::Shape(lines) => {
            let nodes = shape_nodes(lines);
            let mut children = vec![Vec::new(); nodes.len()];
            let mut depth = vec![0usize; nodes.len()];
            for (i, n) in nodes.iter().enumerate() {
                if let Some(p) = n.parent {
                    children[p].push(i);
                    depth[i] = depth[p] + 1;
                }
            }
            // Widths by node count: a shape has no per-node figures.
            let mut size = vec![1.0f64; nodes.len()];
            for i in (0..nodes.len()).rev() {
                let below: f64 = children[i].iter().map(|&c| size[c]).sum();
                size[i] += below;
            }
            let mut spans = vec![(0.0f64, 0.0f64); nodes.len()];
            if !nodes.is_empty() {
                spans[0] = (0.0, WIDTH * share);
            }
            for i in 0..nodes.len() {
                let (mut x, width) = spans[i];
                let sum: f64 = children[i].iter().map(|&c| size[c]).sum();
                for &c in &children[i] {
                    let part = if sum > 0.0 {
                        width * size[c] / sum
                    } else {
                        0.0
                    };
                    spans[c] = (x, part);
                    x += part;
                }
            }
            let drawn: Vec<Bar> = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let mut class = String::from("fg-node shape");
                    if let Some(kind) = kind_at.get(&i) {
                        let _ = write!(class, " changed ch-{}", kind.as_str());
                    }
                    Bar {
                        depth: depth[i],
                        x: spans[i].0,
                        width: spans[i].1,
                        label: n.key.clone(),
                        tip: n.key.clone(),
                        fill: heat(None, false),
                        class,
                        node: format!("{key}-n{i}"),
                    }
                })
                .collect();
            render_bars(w, &drawn, side.label)?;
            writeln!(w, "<h3>Plan shape</h3><ol class=\"tree shape-tree\">")?;
            for (i, n) in nodes.iter().enumerate() {
                let class = if changed.contains(&i) { "changed" } else { "" };
                writeln!(
                    w,
                    "<li class=\"{class}\" data-node=\"{key}-n{i}\" style=\"--depth:{}\"><span class=\"label\">{}</span></li>",
                    depth[i].min(40),
                    Esc(&n.key)
                )?;
            }
            writeln!(w, "</ol>")?;
        }
    }
    writeln!(w, "</div>")
}

/// The icicle of one side, its bars already placed on the common scale.
fn render_bars(w: &mut impl Write, bars: &[Bar], label: &str) -> io::Result<()> {
    let root_depth = bars.first().map(|b| b.depth).unwrap_or(0);
    let levels = bars
        .iter()
        .map(|b| b.depth.saturating_sub(root_depth))
        .max()
        .unwrap_or(0);
    let height = (levels as f64 + 1.0) * ROW;
    writeln!(
        w,
        "<div class=\"flame-wrap\"><svg class=\"flame\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{} plan of {} nodes as a flame graph\">",
        Esc(label),
        bars.len()
    )?;
    for (i, bar) in bars.iter().enumerate() {
        // The root stays visible however much faster its plan is than the other side's.
        let width = if i == 0 {
            bar.width.max(MIN_ROOT)
        } else {
            bar.width
        };
        if width < MIN_BAR {
            continue;
        }
        let y = bar.depth.saturating_sub(root_depth) as f64 * ROW;
        write!(
            w,
            "<g class=\"{}\" data-node=\"{}\" tabindex=\"0\"><title>{}</title><rect x=\"{:.2}\" y=\"{y}\" width=\"{:.2}\" height=\"{}\" fill=\"{}\"/>",
            bar.class,
            Esc(&bar.node),
            Esc(&bar.tip),
            bar.x,
            width,
            ROW - 1.0,
            bar.fill
        )?;
        let fits = ((width - 6.0) / 6.7).floor();
        if fits >= 3.0 {
            write!(
                w,
                "<text x=\"{:.2}\" y=\"{:.1}\">{}</text>",
                bar.x + 3.0,
                y + ROW - 5.0,
                Esc(&truncate(&bar.label, fits as usize))
            )?;
        }
        writeln!(w, "</g>")?;
    }
    writeln!(w, "</svg></div>")
}

/// `before` → `Before`.
fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// A node's name on a side, by position.
fn name_at(side: &DiffSide<'_>, position: usize) -> Option<String> {
    match side.plan {
        SidePlan::Nodes { nodes, .. } => nodes.get(position).map(node_key),
        SidePlan::Shape(lines) => lines.get(position).map(|l| l.trim_start().to_owned()),
        SidePlan::Omitted(_) => None,
    }
}

/// The element id of a node on a side, for selecting it from the list.
fn node_ref(side: &DiffSide<'_>, key: &str, position: usize) -> String {
    match side.plan {
        SidePlan::Nodes { nodes, .. } => {
            let id = nodes.get(position).map_or(position, |n| n.metrics.id);
            format!("{key}-n{id}")
        }
        _ => format!("{key}-n{position}"),
    }
}

/// The changes in words, each selecting its node.
fn render_changes(
    w: &mut impl Write,
    key: &str,
    before: &DiffSide<'_>,
    after: &DiffSide<'_>,
    diff: &PlanDiff,
) -> io::Result<()> {
    if diff.changes.is_empty() {
        return writeln!(
            w,
            "<p class=\"note plan-same\">No node changed (same nodes, no time or cost changed 2× or more).</p>"
        );
    }
    writeln!(w, "<h4>What changed</h4><ol class=\"plan-changes\">")?;
    for change in diff.changes.iter().take(MAX_LISTED) {
        let NodeChange {
            kind,
            before: b,
            after: a,
        } = *change;
        let name = |side: &DiffSide<'_>, at: Option<usize>| {
            at.and_then(|p| name_at(side, p)).unwrap_or_default()
        };
        let words = match kind {
            ChangeKind::Replaced => format!("{} → {}", name(before, b), name(after, a)),
            ChangeKind::Removed => format!("{} (only {})", name(before, b), before.label),
            ChangeKind::Added => format!("{} (only {})", name(after, a), after.label),
            ChangeKind::Slower | ChangeKind::Faster => {
                let figure = |side: &DiffSide<'_>, at: Option<usize>| match (side.plan, at) {
                    (SidePlan::Nodes { nodes, analyzed }, Some(p)) => nodes.get(p).and_then(|n| {
                        if analyzed && before.analyzed() && after.analyzed() {
                            n.metrics
                                .inclusive_time_ms
                                .map(|t| format!("{} ms", fmt_ms(t)))
                        } else {
                            n.total_cost.map(|c| format!("cost {}", fmt_count(c)))
                        }
                    }),
                    _ => None,
                };
                format!(
                    "{}: {} → {}",
                    name(after, a),
                    figure(before, b).unwrap_or_default(),
                    figure(after, a).unwrap_or_default()
                )
            }
        };
        let target = match (b, a) {
            (Some(p), _) => node_ref(before, &format!("{key}b"), p),
            (None, Some(p)) => node_ref(after, &format!("{key}a"), p),
            (None, None) => String::new(),
        };
        writeln!(
            w,
            "<li class=\"ch-{0}\" data-node=\"{1}\"><span class=\"kind\">{0}</span> {2}</li>",
            kind.as_str(),
            Esc(&target),
            Esc(&words)
        )?;
    }
    writeln!(w, "</ol>")?;
    if diff.changes.len() > MAX_LISTED {
        writeln!(
            w,
            "<p class=\"note\">… and {} more, outlined in the plans.</p>",
            diff.changes.len() - MAX_LISTED
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanNodes, parse_explain};

    fn plan(name: &str) -> PlanNodes {
        let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        PlanNodes::of(&parse_explain(&text).unwrap().remove(0))
    }

    fn rendered(before: &DiffSide<'_>, after: &DiffSide<'_>, diff: &PlanDiff) -> String {
        let mut out = Vec::new();
        render_plan_diff(&mut out, "d1", before, after, diff).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The widths of the root bars of the two flame graphs, in page order.
    fn root_widths(html: &str) -> Vec<f64> {
        html.split("<svg class=\"flame\"")
            .skip(1)
            .map(|svg| {
                let at = svg.find("width=\"").unwrap() + 7;
                svg[at..at + svg[at..].find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn before_and_after_are_drawn_on_one_time_scale_with_the_changes_marked() {
        let (before, after) = (plan("diff_sort_before.json"), plan("diff_sort_after.json"));
        let sides = [&before, &after].map(|p| SidePlan::Nodes {
            nodes: &p.nodes,
            analyzed: p.analyzed,
        });
        let b = DiffSide {
            label: "before",
            figure: "237 ms",
            plan: sides[0],
            cost: None,
        };
        let a = DiffSide {
            label: "after",
            figure: "0.055 ms",
            plan: sides[1],
            cost: None,
        };
        let diff = plan_diff(&b, &a, None);
        let html = rendered(&b, &a, &diff);
        let widths = root_widths(&html);
        assert_eq!(widths[0], WIDTH);
        // 0.019 ms against 237 ms: a sliver, drawn at the narrowest a root is drawn.
        assert_eq!(widths, [WIDTH, MIN_ROOT]);
        assert!(html.contains("width = inclusive time, both plans on one scale"));
        // The Sort removed and the scan replaced are outlined on the before side, the index scan
        // on the after side; and listed.
        assert!(html.contains("class=\"fg-node changed ch-removed\" data-node=\"d1b-n1\""));
        assert!(html.contains("class=\"fg-node changed ch-replaced\" data-node=\"d1b-n2\""));
        assert!(
            html.contains("<li class=\"changed\" data-node=\"d1a-n1\""),
            "{html}"
        );
        assert!(html.contains(
            "<li class=\"ch-replaced\" data-node=\"d1b-n2\"><span class=\"kind\">replaced</span> Seq Scan on orders → Index Scan using orders_created_at_idx on orders</li>"
        ));
        assert!(html.contains("<li class=\"ch-removed\" data-node=\"d1b-n1\"><span class=\"kind\">removed</span> Sort (only before)</li>"));
        assert!(html.contains("id=\"panel-d1b\"") && html.contains("id=\"panel-d1a\""));
    }

    #[test]
    fn a_baseline_shape_is_drawn_by_node_count_within_its_cost_beside_the_current_plan() {
        let current = plan("diff_seq_scan_before.json");
        let baseline_shape: Vec<String> = [
            "Bitmap Heap Scan on public.orders",
            "  Bitmap Index Scan using orders_customer_id_idx",
        ]
        .map(String::from)
        .to_vec();
        let current_shape = vec!["Seq Scan on public.orders".to_owned()];
        let b = DiffSide {
            label: "baseline",
            figure: "cost 120",
            plan: SidePlan::Shape(&baseline_shape),
            cost: Some(120.0),
        };
        let a = DiffSide {
            label: "current",
            figure: "cost 6,750",
            plan: SidePlan::Nodes {
                nodes: &current.nodes,
                analyzed: current.analyzed,
            },
            cost: None,
        };
        let diff = plan_diff(&b, &a, Some((&baseline_shape, &current_shape)));
        let html = rendered(&b, &a, &diff);
        let root_cost = current.nodes[0].total_cost.unwrap();
        let widths = root_widths(&html);
        assert!(
            (widths[0] - WIDTH * 120.0 / root_cost).abs() < 0.01,
            "{widths:?}"
        );
        assert_eq!(widths[1], WIDTH);
        assert!(html.contains("width = estimated cost, both plans on one scale"));
        assert!(html.contains("<ol class=\"tree shape-tree\">"));
        assert!(html.contains(
            "<li class=\"changed\" data-node=\"d1b-n1\" style=\"--depth:1\"><span class=\"label\">Bitmap Index Scan using orders_customer_id_idx</span></li>"
        ));
        assert!(html.contains("Bitmap Heap Scan on public.orders → Seq Scan on orders"));
        assert!(html.contains("Bitmap Index Scan using orders_customer_id_idx (only baseline)"));
    }

    #[test]
    fn a_plan_too_large_to_keep_is_said_not_drawn_and_text_is_escaped() {
        let same = plan("diff_seq_scan_before.json");
        let b = DiffSide {
            label: "before",
            figure: "<b>",
            plan: SidePlan::Omitted(12_000),
            cost: None,
        };
        let a = DiffSide {
            label: "after",
            figure: "1 ms",
            plan: SidePlan::Nodes {
                nodes: &same.nodes,
                analyzed: true,
            },
            cost: None,
        };
        let html = rendered(&b, &a, &PlanDiff::default());
        assert!(html.contains("A plan of 12,000 nodes: not kept (more than 500), not drawn."));
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"));
        assert!(html.contains("each plan on its own scale"));
        assert!(html.contains("No node changed"));
    }
}
