//! A plan's nodes as the reports keep them: each node's derived figures ([`NodeMetrics`]) with the
//! plan's own conditions in readable form ([`NodeReport`]), the form `explain`'s document
//! serializes and the HTML pages draw; and [`PlanNodes`], a plan kept that way beside a
//! before/after comparison (`suggest`, `check`), bounded in size.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Analysis, Explain, NodeMetrics, PlanNode, analyze};

/// A plan kept beside a comparison holds its nodes up to this many; a larger one keeps only its
/// node count (its nodes would make the document grow with every suggestion and statement).
pub const MAX_KEPT_NODES: usize = 500;

/// One plan node: the derived figures plus the plan's own conditions in readable form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct NodeReport {
    #[serde(flatten)]
    pub metrics: NodeMetrics,
    /// `CTE name`, `InitPlan 1 (returns $0)`, `SubPlan 2`: what this subtree computes for its
    /// parent.
    pub subplan_name: Option<String>,
    /// What a CTE Scan reads, or the function a Function Scan calls.
    pub scans: Option<String>,
    pub startup_cost: Option<f64>,
    pub total_cost: Option<f64>,
    /// e.g. `Filter: (product_id = 42)`, `Rows Removed by Filter: 1199990`, `Sort Method: ...`.
    pub details: Vec<String>,
}

/// Every node of `explain` as a report keeps it, in preorder (a parent before its children).
pub fn node_reports(explain: &Explain, analysis: &Analysis) -> Vec<NodeReport> {
    analysis
        .nodes
        .iter()
        .zip(explain.plan.preorder())
        .map(|(metrics, node)| NodeReport {
            metrics: metrics.clone(),
            subplan_name: node.subplan_name.clone(),
            scans: node.cte_name.clone().or_else(|| node.function_name.clone()),
            startup_cost: node.startup_cost,
            total_cost: node.total_cost,
            details: node_details(node),
        })
        .collect()
}

/// A plan's nodes kept beside a before/after comparison, so that a report can draw the plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct PlanNodes {
    /// Whether the plan was executed (EXPLAIN ANALYZE): its nodes have times. Without, they
    /// have the planner's costs only.
    pub analyzed: bool,
    /// How many nodes the plan has.
    pub node_count: usize,
    /// The plan's nodes, depth-first (a parent before its children), as `explain`'s document
    /// has them; empty when the plan has more than 500 nodes (`node_count` says how many).
    pub nodes: Vec<NodeReport>,
}

impl PlanNodes {
    /// `explain`'s nodes, analysed; only the count beyond [`MAX_KEPT_NODES`].
    pub fn of(explain: &Explain) -> PlanNodes {
        let node_count = explain.plan.preorder().len();
        if node_count > MAX_KEPT_NODES {
            return PlanNodes {
                analyzed: explain.plan.actual_total_time.is_some(),
                node_count,
                nodes: Vec::new(),
            };
        }
        let analysis = analyze(explain);
        PlanNodes {
            analyzed: analysis.analyzed,
            node_count,
            nodes: node_reports(explain, &analysis),
        }
    }

    /// Whether the nodes were kept (the plan was not too large).
    pub fn kept(&self) -> bool {
        !self.nodes.is_empty()
    }
}

/// The conditions and figures a reader needs to understand a node, in EXPLAIN's own words.
fn node_details(node: &PlanNode) -> Vec<String> {
    let mut details = Vec::new();
    let mut text = |label: &str, value: &Option<String>| {
        if let Some(v) = value {
            details.push(format!("{label}: {v}"));
        }
    };
    text("Index Cond", &node.index_cond);
    text("Recheck Cond", &node.recheck_cond);
    text("Hash Cond", &node.hash_cond);
    text("Merge Cond", &node.merge_cond);
    text("Join Filter", &node.join_filter);
    text("Filter", &node.filter);
    // EXPLAIN prints these per loop (averaged over loops and parallel processes); show the total
    // that was really done, and the per-loop figure when they differ.
    let loops = node.actual_loops.unwrap_or(1.0).max(1.0);
    let mut count = |label: &str, value: Option<f64>| {
        if let Some(v) = value.filter(|v| *v > 0.0) {
            let total = crate::units::fmt_count(v * loops);
            if loops > 1.0 {
                details.push(format!(
                    "{label}: {total} ({} per loop × {})",
                    crate::units::fmt_count(v),
                    crate::units::fmt_count(loops)
                ));
            } else {
                details.push(format!("{label}: {total}"));
            }
        }
    };
    count(
        "Rows Removed by Join Filter",
        node.rows_removed_by_join_filter,
    );
    count("Rows Removed by Filter", node.rows_removed_by_filter);
    count(
        "Rows Removed by Index Recheck",
        node.rows_removed_by_index_recheck,
    );
    // These two are totals in EXPLAIN already, not per-loop figures.
    for (label, value) in [
        ("Heap Fetches", node.heap_fetches),
        ("Lossy Heap Blocks", node.lossy_heap_blocks),
    ] {
        if let Some(v) = value.filter(|v| *v > 0) {
            details.push(format!("{label}: {}", crate::units::fmt_count(v as f64)));
        }
    }
    let list = |v: &Option<Vec<String>>| v.as_ref().filter(|l| !l.is_empty()).map(|l| l.join(", "));
    if let Some(keys) = list(&node.sort_key) {
        details.push(format!("Sort Key: {keys}"));
    }
    if let Some(keys) = list(&node.presorted_key) {
        details.push(format!("Presorted Key: {keys}"));
    }
    if let Some(method) = &node.sort_method {
        let space = match (node.sort_space_used_kb, &node.sort_space_type) {
            (Some(used), Some(kind)) => format!("  {kind}: {used}kB"),
            _ => String::new(),
        };
        details.push(format!("Sort Method: {method}{space}"));
    }
    if let Some(keys) = list(&node.group_key) {
        details.push(format!("Group Key: {keys}"));
    }
    if let Some(batches) = node.hash_batches.filter(|b| *b > 1) {
        let original = node
            .original_hash_batches
            .filter(|o| *o != batches)
            .map(|o| format!(" (originally {o})"))
            .unwrap_or_default();
        details.push(format!("Hash Batches: {batches}{original}"));
    }
    if let Some(batches) = node.hashagg_batches.filter(|b| *b > 1) {
        details.push(format!("HashAgg Batches: {batches}"));
    }
    if let Some(disk) = node.disk_usage_kb.filter(|d| *d > 0) {
        details.push(format!("Disk Usage: {disk}kB"));
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::parse_explain;

    /// An Append over `scans` sequential scans, executed.
    fn append(scans: usize) -> Explain {
        let scan = |i: usize| {
            serde_json::json!({
                "Node Type": "Seq Scan", "Relation Name": format!("p{i}"), "Alias": format!("p{i}"),
                "Startup Cost": 0.0, "Total Cost": 1.0, "Plan Rows": 1, "Plan Width": 4,
                "Actual Startup Time": 0.001, "Actual Total Time": 0.002, "Actual Rows": 1,
                "Actual Loops": 1
            })
        };
        let plan = serde_json::json!([{
            "Plan": {
                "Node Type": "Append", "Startup Cost": 0.0, "Total Cost": scans as f64,
                "Plan Rows": scans, "Plan Width": 4, "Actual Startup Time": 0.001,
                "Actual Total Time": 1.0, "Actual Rows": scans, "Actual Loops": 1,
                "Plans": (0..scans).map(scan).collect::<Vec<_>>()
            },
            "Execution Time": 1.1
        }]);
        parse_explain(&plan.to_string()).unwrap().remove(0)
    }

    #[test]
    fn a_plan_is_kept_with_its_nodes_up_to_the_limit_and_counted_beyond() {
        let kept = PlanNodes::of(&append(MAX_KEPT_NODES - 1));
        assert!(kept.analyzed && kept.kept());
        assert_eq!(kept.node_count, MAX_KEPT_NODES);
        assert_eq!(kept.nodes.len(), MAX_KEPT_NODES);
        assert_eq!(kept.nodes[1].metrics.relation.as_deref(), Some("p0"));
        assert_eq!(kept.nodes[1].metrics.parent, Some(0));

        let large = PlanNodes::of(&append(MAX_KEPT_NODES));
        assert!(large.analyzed && !large.kept());
        assert_eq!(large.node_count, MAX_KEPT_NODES + 1);
        assert!(large.nodes.is_empty());
    }
}
