//! Which nodes changed between two plans of one statement (before and after a suggestion, a
//! baseline and the current run): the two trees aligned from the root down, each node matched by
//! what identifies it (node type, relation, index; for a baseline, its shape line).
//!
//! Alignment, from a matched pair of nodes: their children are aligned by their longest common
//! subsequence of identities; children left between two aligned ones are paired by position (a
//! node replaced by another); what is left over exists on one side only, with its whole subtree.
//! A pair that does not match where one side has a single child that matches the other (or reads
//! the relation the other reads, the node above reading none) is a node removed (or added) above
//! it: a Sort that disappears over its scan, a Gather that appears. Matched nodes whose time (or cost, without times) changed by [`TIME_FACTOR`] or
//! more are changed too, when the difference is at least [`MIN_SHARE`] of the larger plan (so a
//! node of microseconds going from 1 to 3 µs is not news).
//!
//! Pure and iterative: a plan of any depth is walked without recursion.

use std::collections::BTreeSet;

use super::NodeReport;

/// A matched node changed when its time (or cost) grew or shrank by this factor or more...
pub const TIME_FACTOR: f64 = 2.0;
/// ...and by at least this share of the larger of the two plans' root times (or costs).
pub const MIN_SHARE: f64 = 0.01;

/// One node of a tree to compare, in preorder (a parent before its children).
#[derive(Debug, Clone, PartialEq)]
pub struct DiffNode {
    /// The parent's position in the list; `None` for the root.
    pub parent: Option<usize>,
    /// What identifies the node: equal keys on both sides are the same node.
    pub key: String,
    /// The relation it reads, if any: a node replaced by another reading the same relation is
    /// paired with it across a node removed or added above it.
    pub relation: Option<String>,
    /// Its inclusive time (or cost); `None` when unknown (a baseline's shape line).
    pub weight: Option<f64>,
}

/// How a node changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Another node in its place (type, relation or index differ).
    Replaced,
    /// Only in the plan before.
    Removed,
    /// Only in the plan after.
    Added,
    /// The same node, `TIME_FACTOR` times slower or more.
    Slower,
    /// The same node, `TIME_FACTOR` times faster or more.
    Faster,
}

impl ChangeKind {
    /// `replaced`, `removed`, `added`, `slower`, `faster`: the words and CSS classes of reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Replaced => "replaced",
            ChangeKind::Removed => "removed",
            ChangeKind::Added => "added",
            ChangeKind::Slower => "slower",
            ChangeKind::Faster => "faster",
        }
    }
}

/// One changed node: its position on each side where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeChange {
    pub kind: ChangeKind,
    pub before: Option<usize>,
    pub after: Option<usize>,
}

/// The alignment of two plans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanDiff {
    /// Every changed node, in the order the walk met them (the before side's preorder, roughly).
    pub changes: Vec<NodeChange>,
    /// Pairs of positions found to be the same node (changed in time or not).
    pub matched: Vec<(usize, usize)>,
}

impl PlanDiff {
    /// Positions of the changed nodes of the plan before.
    pub fn before_changed(&self) -> BTreeSet<usize> {
        self.changes.iter().filter_map(|c| c.before).collect()
    }

    /// Positions of the changed nodes of the plan after.
    pub fn after_changed(&self) -> BTreeSet<usize> {
        self.changes.iter().filter_map(|c| c.after).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

fn children_of(nodes: &[DiffNode]) -> Vec<Vec<usize>> {
    let mut children = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        if let Some(parent) = node.parent.filter(|p| *p < i) {
            children[parent].push(i);
        }
    }
    children
}

/// Positions of the subtree under `root`, `root` first.
fn subtree(children: &[Vec<usize>], root: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pending = vec![root];
    while let Some(i) = pending.pop() {
        out.push(i);
        pending.extend(children[i].iter().rev());
    }
    out
}

/// The longest common subsequence of two key lists, as pairs of indexes into them.
fn lcs(a: &[&str], b: &[&str]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let mut table = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[i][j] = if a[i] == b[j] {
                table[i + 1][j + 1] + 1
            } else {
                table[i + 1][j].max(table[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut pairs) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i] == b[j] {
            pairs.push((i, j));
            i += 1;
            j += 1;
        } else if table[i + 1][j] >= table[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

/// Whether `other` stands for `parent`'s only child `child` once `parent` is taken out: the same
/// node, or one reading the same relation where `parent` reads none.
fn descends(parent: &DiffNode, child: &DiffNode, other: &DiffNode) -> bool {
    child.key == other.key
        || (parent.relation.is_none()
            && child.relation.is_some()
            && child.relation == other.relation)
}

/// Which nodes changed between `before` and `after` (see the module docs).
pub fn diff(before: &[DiffNode], after: &[DiffNode]) -> PlanDiff {
    let mut out = PlanDiff::default();
    let kids_before = children_of(before);
    let kids_after = children_of(after);
    let removed = |out: &mut PlanDiff, root: usize| {
        for i in subtree(&kids_before, root) {
            out.changes.push(NodeChange {
                kind: ChangeKind::Removed,
                before: Some(i),
                after: None,
            });
        }
    };
    let added = |out: &mut PlanDiff, root: usize| {
        for i in subtree(&kids_after, root) {
            out.changes.push(NodeChange {
                kind: ChangeKind::Added,
                before: None,
                after: Some(i),
            });
        }
    };
    match (before.is_empty(), after.is_empty()) {
        (true, true) => return out,
        (false, true) => {
            removed(&mut out, 0);
            return out;
        }
        (true, false) => {
            added(&mut out, 0);
            return out;
        }
        (false, false) => {}
    }
    let scale = |nodes: &[DiffNode]| nodes[0].weight.filter(|w| w.is_finite()).unwrap_or(0.0);
    let floor = scale(before).max(scale(after)) * MIN_SHARE;
    let mut pending = vec![(0usize, 0usize)];
    while let Some((a, b)) = pending.pop() {
        let (node_a, node_b) = (&before[a], &after[b]);
        let aligned_children = if node_a.key == node_b.key {
            out.matched.push((a, b));
            if let (Some(wa), Some(wb)) = (node_a.weight, node_b.weight) {
                let (lo, hi) = (wa.min(wb), wa.max(wb));
                if lo.is_finite() && hi.is_finite() && hi - lo >= floor.max(f64::MIN_POSITIVE) {
                    let factor = if lo > 0.0 { hi / lo } else { f64::INFINITY };
                    if factor >= TIME_FACTOR {
                        out.changes.push(NodeChange {
                            kind: if wb > wa {
                                ChangeKind::Slower
                            } else {
                                ChangeKind::Faster
                            },
                            before: Some(a),
                            after: Some(b),
                        });
                    }
                }
            }
            true
        } else if let [only] = kids_before[a][..]
            && descends(node_a, &before[only], node_b)
        {
            out.changes.push(NodeChange {
                kind: ChangeKind::Removed,
                before: Some(a),
                after: None,
            });
            pending.push((only, b));
            false
        } else if let [only] = kids_after[b][..]
            && descends(node_b, &after[only], node_a)
        {
            out.changes.push(NodeChange {
                kind: ChangeKind::Added,
                before: None,
                after: Some(b),
            });
            pending.push((a, only));
            false
        } else {
            out.changes.push(NodeChange {
                kind: ChangeKind::Replaced,
                before: Some(a),
                after: Some(b),
            });
            true
        };
        if !aligned_children {
            continue;
        }
        let xs = &kids_before[a];
        let ys = &kids_after[b];
        let keys = |nodes: &[DiffNode], list: &[usize]| -> Vec<String> {
            list.iter().map(|&i| nodes[i].key.clone()).collect()
        };
        let (kx, ky) = (keys(before, xs), keys(after, ys));
        let kx: Vec<&str> = kx.iter().map(String::as_str).collect();
        let ky: Vec<&str> = ky.iter().map(String::as_str).collect();
        let anchors = lcs(&kx, &ky);
        // Pairs to walk, in reverse so the stack pops them in plan order.
        let mut pairs = Vec::new();
        let (mut i, mut j) = (0, 0);
        for (ai, bj) in anchors.into_iter().chain([(xs.len(), ys.len())]) {
            // The gap before this anchor: paired by position, the rest on one side only.
            let gap = (ai - i).min(bj - j);
            for k in 0..gap {
                pairs.push((xs[i + k], ys[j + k]));
            }
            for &x in &xs[i + gap..ai] {
                removed(&mut out, x);
            }
            for &y in &ys[j + gap..bj] {
                added(&mut out, y);
            }
            if ai < xs.len() && bj < ys.len() {
                pairs.push((xs[ai], ys[bj]));
            }
            i = ai + 1;
            j = bj + 1;
        }
        pending.extend(pairs.into_iter().rev());
    }
    out
}

/// What identifies a report's node: `[SubPlan 1] Index Scan using t_a_idx on t`.
pub fn node_key(node: &NodeReport) -> String {
    let m = &node.metrics;
    let mut key = String::new();
    if let Some(name) = &node.subplan_name {
        key.push('[');
        key.push_str(name.split_once(" (returns ").map_or(name, |(head, _)| head));
        key.push_str("] ");
    }
    key.push_str(&m.label);
    if let Some(index) = &m.index_name {
        key.push_str(" using ");
        key.push_str(index);
    }
    if let Some(relation) = &m.relation {
        key.push_str(" on ");
        key.push_str(relation);
    }
    if let Some(scans) = &node.scans {
        key.push_str(" on ");
        key.push_str(scans);
    }
    key
}

/// A report's nodes as a tree to compare: keyed by [`node_key`], weighed by inclusive time when
/// `by_time`, else by total cost.
pub fn diff_nodes(nodes: &[NodeReport], by_time: bool) -> Vec<DiffNode> {
    let position: std::collections::HashMap<usize, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.metrics.id, i))
        .collect();
    nodes
        .iter()
        .map(|n| DiffNode {
            parent: n.metrics.parent.and_then(|p| position.get(&p).copied()),
            key: node_key(n),
            relation: n.metrics.relation.clone(),
            weight: if by_time {
                n.metrics.inclusive_time_ms
            } else {
                n.total_cost
            },
        })
        .collect()
}

/// Two reports' plans compared: by time when both were executed, else by cost.
pub fn diff_reports(
    before: &[NodeReport],
    before_analyzed: bool,
    after: &[NodeReport],
    after_analyzed: bool,
) -> PlanDiff {
    let by_time = before_analyzed && after_analyzed;
    diff(&diff_nodes(before, by_time), &diff_nodes(after, by_time))
}

/// Shape lines (two spaces of indentation per level, as a baseline records them) as a tree to
/// compare, keyed by their text; they have no weight.
pub fn shape_nodes(lines: &[String]) -> Vec<DiffNode> {
    let mut out: Vec<DiffNode> = Vec::with_capacity(lines.len());
    // The last node seen at each depth: a line's parent is the last one a level up.
    let mut last_at: Vec<usize> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let text = line.trim_start_matches(' ');
        let depth = if i == 0 {
            0
        } else {
            ((line.len() - text.len()) / 2).clamp(1, last_at.len())
        };
        last_at.truncate(depth);
        out.push(DiffNode {
            parent: depth.checked_sub(1).map(|d| last_at[d]),
            key: text.to_owned(),
            relation: text.rsplit_once(" on ").map(|(_, r)| r.to_owned()),
            weight: None,
        });
        last_at.push(i);
    }
    out
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
