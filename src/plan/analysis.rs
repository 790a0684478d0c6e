//! Derived per-node figures: inclusive and exclusive time, row totals, estimate factor, exclusive
//! buffers. Pure arithmetic over an [`Explain`]; the diagnosis rules and the reports read these.
//!
//! # How the figures are computed
//!
//! PostgreSQL reports, per node, the time and rows of *one average loop* and, separately, buffer
//! counters that are *cumulative* over loops and over the node's children. The rules below follow
//! pev2 and explain.depesz.com where those agree, and say where we depart.
//!
//! **Inclusive time** = `Actual Total Time × Actual Loops`, i.e. all the time spent in the node and
//! everything it called. Inside a parallel section (the nodes below a Gather or Gather Merge)
//! `Actual Loops` also counts the processes that ran the node, and `× loops` sums their times, which
//! run side by side. To get wall-clock time we divide by the number of processes that ran the node:
//! `min(processes, loops)`, where `processes = Workers Launched + 1` (the leader participates unless
//! `parallel_leader_participation = off` or the Gather is "Single Copy"). pev2 divides by
//! `Workers Planned + 1` for every node in the section; taking the minimum with `loops` instead keeps
//! nodes that only one process runs (the Bitmap Index Scan below a Parallel Bitmap Heap Scan, the
//! children of a Parallel Append) at their real duration, and using the launched count does not
//! under-count when fewer workers started than planned.
//!
//! **Exclusive time** = inclusive − Σ inclusive of the children, clamped at 0 (rounding to 3
//! decimals per loop makes small negatives common on nodes with many loops). InitPlans and SubPlans
//! listed under a node ran inside it (they are evaluated when the node evaluates the expression
//! that needs them), so they are subtracted like ordinary children. pev2 skips every InitPlan when
//! subtracting, which leaves an ordinary InitPlan's time in its parent as well; we skip only CTE
//! InitPlans. Known limit: when the InitPlan's parameter is first used by a *descendant* of the
//! node that lists it (say in a child's Index Cond), the descendant's time contains the InitPlan
//! too, and the listing node's exclusive time is under-stated (clamped at 0).
//!
//! **CTEs** are the exception: a CTE's plan hangs under some node as an InitPlan named
//! `"CTE <name>"`, but it runs lazily *inside the CTE Scan nodes that read it* (each scan pulls rows
//! from the CTE's tuplestore, producing them on demand). Its time is therefore *not* subtracted
//! from the node it hangs under (that would count it twice: once via the CTE Scan descendant, once
//! via the InitPlan) and *is* subtracted from the CTE Scans with that name. A CTE Scan is matched to
//! the definition hanging under its nearest ancestor, because nested query levels may reuse a name.
//! When several scans read one CTE, which scan paid for producing a row depends on which asked
//! first; EXPLAIN does not say, so the CTE's time is split in proportion to the scans' inclusive
//! times, which never subtracts more from a scan than it spent. A CTE that no scan reads (a
//! data-modifying CTE) runs after the main plan and is subtracted from nobody.
//!
//! **Buffers** follow the same subtraction rules counter by counter, saturating at 0 and without the
//! parallel division (worker counters are summed into the node, and the sum is what was read).
//!
//! **Never-executed nodes** (`Actual Loops: 0`) have zero time and rows and no estimate factor.
//! **Estimated-only plans** (no ANALYZE) have `None` for every actual figure; `TIMING OFF` plans
//! have rows but no times.
//!
//! **Estimate factor** compares `Plan Rows` with `Actual Rows` *per loop* (both are per loop, so
//! the ratio equals the ratio of totals), each floored at 1 row so that "expected 0, got 0" is
//! exact and a zero never divides. Per-loop values also avoid inflating PostgreSQL's rounding of
//! fractional per-loop rows to integers on nodes with many loops.
//!
//! **Totals**: `total_time_ms` is `Execution Time` when present, else the root's inclusive time.
//! Execution Time also covers trigger time and executor start-up/shut-down (including launching
//! and shutting down parallel workers), which no node owns, so the sum of exclusive times is
//! usually a few percent below it (about 90–100 % on the fixtures).
//!
//! **JIT** compile time is reported on its own and taken out of the node that EXPLAIN charged it
//! to. Code generation runs while the executor starts, before any node's clock; inlining,
//! optimization and emission run when the first compiled expression is evaluated, which compiles
//! the whole module at once, so they land in the actual time of the first node that evaluates an
//! expression (a Seq Scan's filter, a join's condition, an aggregate's transition). EXPLAIN does not
//! say which node that is, so we take it to be the first node in execution order — children before
//! their parent, in plan order (InitPlans, outer, inner, SubPlans), i.e. the deepest outer-most
//! node first — whose exclusive time and whose startup time (time to its first row, over its loops)
//! both hold at least that much (the compile happens before the node's first row). There, `jit_ms`
//! records what was taken out: inlining + optimization + emission, divided like the node's time by
//! the processes that ran it (each parallel worker compiles its own copy, and EXPLAIN sums them);
//! it is subtracted from the node's exclusive time and from its and its ancestors' inclusive times,
//! so shares and every rule's time at stake exclude it. Limits: this is a guess, as EXPLAIN does
//! not name the node. A node earlier in that order that evaluates no expression but was as slow to
//! its first row (a scan without a filter whose first pages came from disk) would be charged instead
//! of the real holder. In a parallel plan the leader and the workers compile separately, not always
//! the same amount, so the share taken out is an average. When no node holds that much (TIMING OFF,
//! or a compile spread over several modules), nothing is subtracted and `jit_node` is `None`. The
//! JIT total is reported on its own in every case.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{Buffers, Explain, PlanNode};
use super::node_type::NodeType;

/// Figures for a whole plan. `nodes` is in [`PlanNode::preorder`] order, so `nodes[i].id == i`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub nodes: Vec<NodeMetrics>,
    /// True when the plan carries actual timings (EXPLAIN ANALYZE with TIMING on).
    pub analyzed: bool,
    /// Execution Time, else the root node's inclusive time; the denominator of `share_of_total`.
    pub total_time_ms: Option<f64>,
    pub planning_time_ms: Option<f64>,
    pub execution_time_ms: Option<f64>,
    pub jit_total_ms: Option<f64>,
    /// JIT total time / execution time.
    pub jit_share_of_total: Option<f64>,
    /// The node whose times held the JIT compile time, now taken out of them (its `jit_ms`); `None`
    /// without JIT timing or when no node could hold it (see the module docs).
    #[serde(default)]
    pub jit_node: Option<usize>,
    /// Time spent in triggers (including foreign-key checks); part of Execution Time, in no node.
    pub triggers_time_ms: f64,
}

impl Analysis {
    /// Σ exclusive time over all nodes (0 for estimated-only plans).
    pub fn exclusive_time_sum_ms(&self) -> f64 {
        self.nodes.iter().filter_map(|n| n.exclusive_time_ms).sum()
    }

    /// The node taking the largest share of exclusive time, if the plan was analyzed.
    pub fn slowest_node(&self) -> Option<&NodeMetrics> {
        self.nodes
            .iter()
            .filter(|n| n.exclusive_time_ms.is_some())
            .max_by(|a, b| {
                a.exclusive_time_ms
                    .partial_cmp(&b.exclusive_time_ms)
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
    }
}

/// Derived figures for one plan node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeMetrics {
    /// Index in `plan.preorder()`.
    pub id: usize,
    pub parent: Option<usize>,
    pub depth: usize,
    /// Child indexes from the root, dot-separated: "0", "0.1", "0.1.0".
    pub path: String,
    pub label: String,
    pub relation: Option<String>,
    pub index_name: Option<String>,
    pub loops: Option<f64>,
    /// Plan Rows × loops (× 1 when the plan was not analyzed).
    pub planned_rows_total: f64,
    /// Actual Rows × loops.
    pub actual_rows_total: Option<f64>,
    pub inclusive_time_ms: Option<f64>,
    pub exclusive_time_ms: Option<f64>,
    /// exclusive / total time, within 0..=1.
    pub share_of_total: Option<f64>,
    /// JIT compile time taken out of this node's times (see the module docs); `None` on every
    /// node but the one that held it.
    #[serde(default)]
    pub jit_ms: Option<f64>,
    /// max(actual, planned) / min(actual, planned) per loop, both floored at 1 row; always ≥ 1.
    pub estimate_factor: Option<f64>,
    pub estimate_direction: Option<EstimateDirection>,
    #[serde(with = "snake_case_buffers")]
    #[schemars(with = "snake_case_buffers::BufferCounters")]
    pub inclusive_buffers: Buffers,
    #[serde(with = "snake_case_buffers")]
    #[schemars(with = "snake_case_buffers::BufferCounters")]
    pub exclusive_buffers: Buffers,
    /// (launched, planned) workers, on Gather / Gather Merge nodes of analyzed plans.
    pub parallel_workers: Option<(u32, u32)>,
}

/// Which way the planner's row estimate was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EstimateDirection {
    /// The planner expected fewer rows than were produced.
    Under,
    /// The planner expected more rows than were produced.
    Over,
    Exact,
}

/// The plan flattened in preorder, with the links the analysis needs.
struct FlatNode<'a> {
    node: &'a PlanNode,
    parent: Option<usize>,
    depth: usize,
    path: String,
    children: Vec<usize>,
}

fn flatten(root: &PlanNode) -> Vec<FlatNode<'_>> {
    let mut flat: Vec<FlatNode<'_>> = Vec::new();
    let mut pending: Vec<(&PlanNode, Option<usize>, usize, String)> =
        vec![(root, None, 0, "0".to_string())];
    while let Some((node, parent, depth, path)) = pending.pop() {
        let id = flat.len();
        if let Some(parent) = parent {
            flat[parent].children.push(id);
        }
        for (index, child) in node.plans.iter().enumerate().rev() {
            pending.push((child, Some(id), depth + 1, format!("{path}.{index}")));
        }
        flat.push(FlatNode {
            node,
            parent,
            depth,
            path,
            children: Vec::with_capacity(node.plans.len()),
        });
    }
    flat
}

/// Computes every derived figure in a constant number of linear passes over the plan.
pub fn analyze(explain: &Explain) -> Analysis {
    let flat = flatten(&explain.plan);
    let count = flat.len();

    let processes = parallel_processes(explain, &flat);
    let analyzed = flat.iter().any(|f| f.node.actual_total_time.is_some());

    let inclusive_time: Vec<Option<f64>> = flat
        .iter()
        .zip(&processes)
        .map(|(f, &processes)| inclusive_time_ms(f.node, processes))
        .collect();

    let is_cte_definition: Vec<bool> = flat
        .iter()
        .map(|f| f.parent.is_some() && f.node.defined_cte_name().is_some())
        .collect();
    let cte_shares = cte_shares(&flat, &inclusive_time);

    let mut nodes = Vec::with_capacity(count);
    for (id, f) in flat.iter().enumerate() {
        let node = f.node;
        let subtracted_children = f
            .children
            .iter()
            .filter(|&&child| !is_cte_definition[child]);

        let exclusive_time_ms = inclusive_time[id].map(|inclusive| {
            let children: f64 = subtracted_children
                .clone()
                .filter_map(|&child| inclusive_time[child])
                .sum();
            let cte = cte_shares.get(&id).map_or(0.0, |share| share.time_ms);
            (inclusive - children - cte).max(0.0)
        });

        let inclusive_buffers = node.buffers;
        let mut children_buffers = subtracted_children.fold(Buffers::default(), |sum, &child| {
            sum + flat[child].node.buffers
        });
        if let Some(share) = cte_shares.get(&id) {
            children_buffers += share.buffers;
        }
        let exclusive_buffers = inclusive_buffers.saturating_sub(&children_buffers);

        let executed_loops = node.actual_loops.or(node.actual_rows.map(|_| 1.0));
        let planned_rows_total = node.plan_rows.unwrap_or(0.0) * executed_loops.unwrap_or(1.0);
        let actual_rows_total = node
            .actual_rows
            .map(|rows| rows * executed_loops.unwrap_or(1.0));
        let (estimate_factor, estimate_direction) = estimate(node).unzip();

        let parallel_workers = match (node.workers_launched, node.workers_planned) {
            (Some(launched), Some(planned)) => Some((launched, planned)),
            _ => None,
        };

        nodes.push(NodeMetrics {
            id,
            parent: f.parent,
            depth: f.depth,
            path: f.path.clone(),
            label: node.label(),
            relation: node.relation(),
            index_name: node.index_name.clone(),
            loops: node.actual_loops,
            planned_rows_total,
            actual_rows_total,
            inclusive_time_ms: inclusive_time[id],
            exclusive_time_ms,
            share_of_total: None,
            jit_ms: None,
            estimate_factor,
            estimate_direction,
            inclusive_buffers,
            exclusive_buffers,
            parallel_workers,
        });
    }

    let jit_node = take_out_jit(explain, &flat, &processes, &mut nodes);

    let total_time_ms = explain
        .execution_time_ms
        .or(inclusive_time.first().copied().flatten());
    if let Some(total) = total_time_ms.filter(|total| *total > 0.0) {
        for metrics in &mut nodes {
            metrics.share_of_total = metrics
                .exclusive_time_ms
                .map(|exclusive| (exclusive / total).clamp(0.0, 1.0));
        }
    }

    let jit_total_ms = explain
        .jit
        .as_ref()
        .and_then(|jit| jit.timing.as_ref())
        .map(|timing| timing.total);
    let jit_share_of_total = match (jit_total_ms, explain.execution_time_ms) {
        (Some(jit), Some(execution)) if execution > 0.0 => Some(jit / execution),
        _ => None,
    };

    Analysis {
        nodes,
        analyzed,
        total_time_ms,
        planning_time_ms: explain.planning_time_ms,
        execution_time_ms: explain.execution_time_ms,
        jit_total_ms,
        jit_share_of_total,
        jit_node,
        triggers_time_ms: explain.triggers.iter().filter_map(|t| t.time_ms).sum(),
    }
}

/// Takes the JIT compile time that ran inside a node out of that node's exclusive time and out of
/// its and its ancestors' inclusive times; returns the node (see the module docs for the heuristic).
fn take_out_jit(
    explain: &Explain,
    flat: &[FlatNode<'_>],
    processes: &[f64],
    nodes: &mut [NodeMetrics],
) -> Option<usize> {
    let timing = explain.jit.as_ref()?.timing.as_ref()?;
    // Generation runs at executor start, in no node.
    let in_nodes = timing.inlining + timing.optimization + timing.emission;
    if !(in_nodes > 0.0 && in_nodes.is_finite()) {
        return None;
    }
    // EXPLAIN rounds each figure to 3 decimals: allow for it when comparing.
    const ROUNDING_MS: f64 = 0.01;
    let holder = execution_order(flat).into_iter().find(|&id| {
        let share = in_nodes / processes[id];
        let node = flat[id].node;
        let startup = match (node.actual_startup_time, node.actual_loops) {
            (Some(per_loop), Some(loops)) if loops > 0.0 => {
                per_loop * loops / processes[id].min(loops).max(1.0)
            }
            (Some(per_loop), None) => per_loop,
            _ => return false,
        };
        nodes[id]
            .exclusive_time_ms
            .is_some_and(|exclusive| exclusive + ROUNDING_MS >= share)
            && startup + ROUNDING_MS >= share
    })?;
    // To EXPLAIN's precision (µs): a per-process third prints as 17 digits otherwise.
    let share = (in_nodes / processes[holder] * 1000.0).round() / 1000.0;
    let metrics = &mut nodes[holder];
    metrics.jit_ms = Some(share);
    // Differences rounded to the nanosecond, so that they print (and read back) as the short
    // decimals they are rather than as 1009.0799999999999.
    let minus = |ms: f64| ((ms - share).max(0.0) * 1e6).round() / 1e6;
    metrics.exclusive_time_ms = metrics.exclusive_time_ms.map(minus);
    let mut ancestor = Some(holder);
    while let Some(id) = ancestor {
        let metrics = &mut nodes[id];
        metrics.inclusive_time_ms = metrics.inclusive_time_ms.map(minus);
        ancestor = metrics.parent;
    }
    Some(holder)
}

/// Node ids in the order they first produce a row: children before their parent, in plan order.
fn execution_order(flat: &[FlatNode<'_>]) -> Vec<usize> {
    let mut order = Vec::with_capacity(flat.len());
    if flat.is_empty() {
        return order;
    }
    // (node, children visited): iterative, so a deep plan cannot overflow the stack.
    let mut pending = vec![(0usize, false)];
    while let Some((id, expanded)) = pending.pop() {
        if expanded {
            order.push(id);
        } else {
            pending.push((id, true));
            pending.extend(flat[id].children.iter().rev().map(|&child| (child, false)));
        }
    }
    order
}

/// For each node, how many processes may run it side by side: 1 outside parallel sections, the
/// Gather's process count below it. Parents precede children in preorder, so one pass suffices.
fn parallel_processes(explain: &Explain, flat: &[FlatNode<'_>]) -> Vec<f64> {
    let leader_participates = explain
        .settings
        .get("parallel_leader_participation")
        .is_none_or(|value| value != "off");
    let mut processes = vec![1.0; flat.len()];
    for (id, f) in flat.iter().enumerate() {
        let Some(parent) = f.parent else { continue };
        let parent_node = flat[parent].node;
        processes[id] = if parent_node.is_gather() {
            let single_copy = parent_node
                .extra
                .get("Single Copy")
                .and_then(|v| v.as_bool())
                == Some(true);
            let launched = f64::from(parent_node.workers_launched.unwrap_or(0));
            let leader = if leader_participates && !single_copy {
                1.0
            } else {
                0.0
            };
            (launched + leader).max(1.0)
        } else {
            processes[parent]
        };
    }
    processes
}

fn inclusive_time_ms(node: &PlanNode, processes: f64) -> Option<f64> {
    let per_loop = node.actual_total_time?;
    let loops = node.actual_loops.unwrap_or(1.0);
    if loops <= 0.0 {
        return Some(0.0);
    }
    // Σ over loops, then wall-clock over the processes that actually ran the node.
    let time = per_loop * loops / processes.min(loops).max(1.0);
    time.is_finite().then_some(time)
}

fn estimate(node: &PlanNode) -> Option<(f64, EstimateDirection)> {
    let actual = node.actual_rows?;
    let planned = node.plan_rows?;
    if node.actual_loops.is_some_and(|loops| loops <= 0.0) {
        return None;
    }
    let (actual, planned) = (actual.max(1.0), planned.max(1.0));
    let factor = actual.max(planned) / actual.min(planned);
    let direction = if actual > planned {
        EstimateDirection::Under
    } else if actual < planned {
        EstimateDirection::Over
    } else {
        EstimateDirection::Exact
    };
    factor.is_finite().then_some((factor, direction))
}

/// What a CTE Scan must subtract for the CTE it reads.
#[derive(Debug, Default, Clone, Copy)]
struct CteShare {
    time_ms: f64,
    buffers: Buffers,
}

/// Maps each CTE Scan node id to its share of the CTE it reads (see the module docs).
fn cte_shares(flat: &[FlatNode<'_>], inclusive_time: &[Option<f64>]) -> HashMap<usize, CteShare> {
    let mut definition_under: HashMap<(usize, &str), usize> = HashMap::new();
    let mut first_definition: HashMap<&str, usize> = HashMap::new();
    for (id, f) in flat.iter().enumerate() {
        if let (Some(parent), Some(name)) = (f.parent, f.node.defined_cte_name()) {
            definition_under.entry((parent, name)).or_insert(id);
            first_definition.entry(name).or_insert(id);
        }
    }
    if first_definition.is_empty() {
        return HashMap::new();
    }

    let mut readers: HashMap<usize, Vec<usize>> = HashMap::new();
    for (id, f) in flat.iter().enumerate() {
        if f.node.node_type != NodeType::CteScan {
            continue;
        }
        let Some(name) = f.node.cte_name.as_deref() else {
            continue;
        };
        let mut ancestor = f.parent;
        let mut definition = None;
        while let Some(candidate) = ancestor {
            if let Some(&found) = definition_under.get(&(candidate, name)) {
                definition = Some(found);
                break;
            }
            ancestor = flat[candidate].parent;
        }
        if let Some(definition) = definition.or_else(|| first_definition.get(name).copied()) {
            readers.entry(definition).or_default().push(id);
        }
    }

    let mut shares: HashMap<usize, CteShare> = HashMap::new();
    for (definition, scans) in readers {
        let cte_time = inclusive_time[definition].unwrap_or(0.0);
        let scan_times: Vec<f64> = scans
            .iter()
            .map(|&s| inclusive_time[s].unwrap_or(0.0))
            .collect();
        let time_weights = proportions(&scan_times);

        let cte_buffers = flat[definition].node.buffers.to_array();
        let mut buffer_shares = vec![[0u64; Buffers::COUNTERS]; scans.len()];
        for counter in 0..Buffers::COUNTERS {
            let scan_counts: Vec<f64> = scans
                .iter()
                .map(|&s| flat[s].node.buffers.to_array()[counter] as f64)
                .collect();
            let split = split_integer(cte_buffers[counter], &proportions(&scan_counts));
            for (share, amount) in buffer_shares.iter_mut().zip(split) {
                share[counter] = amount;
            }
        }

        for ((scan, weight), buffers) in scans.iter().zip(time_weights).zip(buffer_shares) {
            let share = shares.entry(*scan).or_default();
            share.time_ms += cte_time * weight;
            share.buffers += Buffers::from_array(buffers);
        }
    }
    shares
}

/// Normalised weights; an equal split when every weight is zero.
fn proportions(weights: &[f64]) -> Vec<f64> {
    let sum: f64 = weights.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        weights.iter().map(|w| w / sum).collect()
    } else {
        vec![1.0 / weights.len().max(1) as f64; weights.len()]
    }
}

/// Splits a block count by weights so that the parts add up exactly (the last part takes the
/// rounding remainder).
fn split_integer(total: u64, weights: &[f64]) -> Vec<u64> {
    let mut parts = Vec::with_capacity(weights.len());
    let mut assigned = 0u64;
    for (index, weight) in weights.iter().enumerate() {
        let part = if index + 1 == weights.len() {
            total - assigned
        } else {
            ((total as f64 * weight).floor() as u64).min(total - assigned)
        };
        assigned += part;
        parts.push(part);
    }
    parts
}

/// Derived figures are pgdiag's own vocabulary, so their buffer counters use snake_case names
/// (`shared_hit`, ...) rather than EXPLAIN's "Shared Hit Blocks" that [`Buffers`] reads.
mod snake_case_buffers {
    use schemars::JsonSchema;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Buffers;

    /// Buffer counters in blocks (EXPLAIN's `BUFFERS`): shared, local and temporary blocks hit,
    /// read, dirtied and written.
    #[derive(Serialize, Deserialize, JsonSchema)]
    pub(super) struct BufferCounters {
        shared_hit: u64,
        shared_read: u64,
        shared_dirtied: u64,
        shared_written: u64,
        local_hit: u64,
        local_read: u64,
        local_dirtied: u64,
        local_written: u64,
        temp_read: u64,
        temp_written: u64,
    }

    pub fn serialize<S: Serializer>(b: &Buffers, serializer: S) -> Result<S::Ok, S::Error> {
        BufferCounters {
            shared_hit: b.shared_hit,
            shared_read: b.shared_read,
            shared_dirtied: b.shared_dirtied,
            shared_written: b.shared_written,
            local_hit: b.local_hit,
            local_read: b.local_read,
            local_dirtied: b.local_dirtied,
            local_written: b.local_written,
            temp_read: b.temp_read,
            temp_written: b.temp_written,
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Buffers, D::Error> {
        let c = BufferCounters::deserialize(deserializer)?;
        Ok(Buffers {
            shared_hit: c.shared_hit,
            shared_read: c.shared_read,
            shared_dirtied: c.shared_dirtied,
            shared_written: c.shared_written,
            local_hit: c.local_hit,
            local_read: c.local_read,
            local_dirtied: c.local_dirtied,
            local_written: c.local_written,
            temp_read: c.temp_read,
            temp_written: c.temp_written,
        })
    }
}
