//! Recording a plan for the baseline: the plan's shape (one line per node), the relations it reads
//! (all of them, and those read by sequential scan), the indexes it uses, the root's cost and row
//! estimate, and the findings.
//!
//! The shape keeps only what the planner *chose*: node types, join types, subplan roles, indexes,
//! relations and CTEs. Costs, row counts, widths, timings and conditions are left out, so two runs
//! of the same plan record the same shape. "Workers Planned" is left out too: it is a planner
//! decision, but it follows `max_parallel_workers_per_gather` and the table size, and a change of
//! worker count alone is not the kind of plan change a reviewer needs to see; the Gather node and the
//! `Parallel` label stay, so going parallel (or not) still changes the shape.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::diagnose::Diagnosis;
use crate::plan::{Explain, NodeType, PlanNode};

use super::{FindingRecord, PlanRecord, Timing};

/// Node types that read an index by name.
fn reads_index(node_type: &NodeType) -> bool {
    matches!(
        node_type,
        NodeType::IndexScan | NodeType::IndexOnlyScan | NodeType::BitmapIndexScan
    )
}

/// The baseline record of an analysed (or estimated) plan.
pub fn record_plan(
    explain: &Explain,
    diagnosis: Option<&Diagnosis>,
    timing: Option<Timing>,
) -> PlanRecord {
    let root = &explain.plan;
    let nodes = root.preorder();

    let seq_scans: BTreeSet<String> = nodes
        .iter()
        .filter(|node| node.node_type == NodeType::SeqScan)
        .filter_map(|node| node.relation())
        .collect();
    let relations: BTreeSet<String> = nodes.iter().filter_map(|node| node.relation()).collect();
    let indexes: BTreeSet<String> = nodes
        .iter()
        .filter(|node| reads_index(&node.node_type))
        .filter_map(|node| node.index_name.clone())
        .collect();

    let mut findings: Vec<FindingRecord> = diagnosis
        .map(|diagnosis| {
            diagnosis
                .findings
                .iter()
                .map(|finding| FindingRecord {
                    rule: finding.rule,
                    severity: finding.severity,
                    relation: finding.relation.clone(),
                    summary: finding.summary.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    findings.sort();

    PlanRecord {
        shape: plan_shape(root),
        seq_scans: seq_scans.into_iter().collect(),
        indexes: indexes.into_iter().collect(),
        relations: relations.into_iter().collect(),
        total_cost: root.total_cost.unwrap_or(0.0),
        planned_rows: root.plan_rows.unwrap_or(0.0),
        findings,
        timing,
    }
}

/// One line per node, parent before children, indented two spaces per level. Iterative, like
/// `PlanNode::preorder`, so a deep plan cannot overflow the stack.
fn plan_shape(root: &PlanNode) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending = vec![(root, 0usize)];
    while let Some((node, depth)) = pending.pop() {
        let mut line = "  ".repeat(depth);
        line.push_str(&shape_line(node));
        lines.push(line);
        pending.extend(node.plans.iter().rev().map(|child| (child, depth + 1)));
    }
    lines
}

/// e.g. `[CTE per_customer] HashAggregate`, `Hash Join (Left)`,
/// `Index Scan using reviews_product_id_idx on public.reviews`, `CTE Scan on per_customer`.
fn shape_line(node: &PlanNode) -> String {
    let mut line = String::new();
    if let Some(subplan) = node.subplan_name.as_deref() {
        let _ = write!(line, "[{}] ", stable_subplan_name(subplan));
    }
    line.push_str(&node.label());
    if let Some(join_type) = node.join_type.as_deref() {
        let _ = write!(line, " ({join_type})");
    }
    if let Some(index) = node.index_name.as_deref() {
        let _ = write!(line, " using {index}");
    }
    if let Some(relation) = node.relation() {
        let _ = write!(line, " on {relation}");
    }
    if node.node_type == NodeType::CteScan
        && let Some(cte) = node.cte_name.as_deref()
    {
        let _ = write!(line, " on {cte}");
    }
    line
}

/// PostgreSQL before 17 names an InitPlan `InitPlan 1 (returns $0)`; 17 drops the `(returns ..)`
/// part. The parameter numbers say nothing about the plan, so they are dropped everywhere, and an
/// upgrade alone does not change the shape.
fn stable_subplan_name(name: &str) -> &str {
    name.split_once(" (returns ").map_or(name, |(head, _)| head)
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
