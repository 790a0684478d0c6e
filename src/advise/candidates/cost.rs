//! Cost-based candidates for plans without timings: plain EXPLAIN, and generic plans of `$1`
//! queries (what ORMs and pg_stat_statements give). The diagnosis rules need actual rows and
//! times, so here the scans and sorts carrying a large share of the plan's estimated total cost
//! are the ones worth an index, as Dexter and index_advisor judge them.

use crate::plan::{Explain, NodeType, PlanNode};
use crate::units::fmt_pct;

use super::{
    Advice, FindingRule, Indexed, NoSuggestion, filter_candidates, kinds, merge, sort_candidate,
};

/// Candidates from the scans and sorts whose estimated cost (scaled by the loops a nested loop
/// makes them run) is at least `min_cost_share` of the plan's total cost; every other table scan
/// gets a reason.
pub fn candidates_by_cost(explain: &Explain, min_cost_share: f64) -> Advice {
    let plan = Indexed::new(&explain.plan);
    let mut advice = Advice::default();
    let total = explain.plan.total_cost.unwrap_or(0.0);
    if total <= 0.0 {
        advice.no_suggestions.push(NoSuggestion {
            node_id: 0,
            reason: "the plan carries no cost estimates (EXPLAIN without COSTS?)".to_owned(),
        });
        return advice;
    }
    for (id, node) in plan.nodes.iter().enumerate() {
        let is_scan = node.node_type.is_table_scan() && node.relation_name.is_some();
        let is_sort = node.node_type == NodeType::Sort;
        if !is_scan && !is_sort {
            continue;
        }
        let mut cost = node.total_cost.unwrap_or(0.0);
        if is_sort {
            let input: f64 = plan.children[id]
                .iter()
                .map(|c| plan.nodes[*c].total_cost.unwrap_or(0.0))
                .sum();
            cost = (cost - input).max(0.0);
        }
        let loops = estimated_loops(&plan, id);
        let share = cost * loops / total;
        let label = || {
            format!(
                "{} on {}",
                node.node_type,
                node.relation_name.as_deref().unwrap_or("its input")
            )
        };
        if is_scan && node.filter.is_none() && node.node_type != NodeType::SeqScan {
            advice.no_suggestions.push(NoSuggestion {
                node_id: id,
                reason: kinds::unflagged_scan_reason(&plan, id),
            });
            continue;
        }
        // A small table read once is cheap; read once per outer row it is the nested loop's cost.
        if is_scan
            && loops <= 1.0
            && let Some(reason) = tiny_by_cost(node)
        {
            advice.no_suggestions.push(NoSuggestion {
                node_id: id,
                reason,
            });
            continue;
        }
        if share < min_cost_share {
            if is_scan {
                advice.no_suggestions.push(NoSuggestion {
                    node_id: id,
                    reason: format!(
                        "small share of the cost: {} is {} of the plan's estimated cost (below {})",
                        label(),
                        fmt_pct(share),
                        fmt_pct(min_cost_share)
                    ),
                });
            }
            continue;
        }
        let result = if is_sort {
            sort_candidate(&plan, id).map(|c| vec![c])
        } else {
            filter_candidates(&plan, id)
        };
        let result = result.map(|found| {
            found
                .into_iter()
                .map(|mut c| {
                    c.reason = format!("{} ({} of the estimated cost)", c.reason, fmt_pct(share));
                    c
                })
                .collect()
        });
        advice.record(id, FindingRule::EstimatedCost, result);
    }
    advice.candidates = merge(advice.candidates);
    advice.for_people(explain);
    advice
}

/// A sequential scan whose whole estimated cost is below this reads a page or two (the planner
/// charges 1 per page and 0.01 per row), less than a single index lookup costs it (a random page
/// at 4, plus the index's own pages: about 8). Above it, a table may be small and the planner still
/// prefer an index (seen: 25.88 → 13.54), so the candidate goes to verification.
const TINY_SCAN_COST: f64 = 8.0;

/// "tiny table" from estimates alone: a Seq Scan the planner costs below one index lookup.
fn tiny_by_cost(node: &PlanNode) -> Option<String> {
    let cost = node.total_cost?;
    (node.node_type == NodeType::SeqScan && cost < TINY_SCAN_COST).then(|| {
        format!(
            "tiny table: reading {} whole is estimated at {cost:.2} cost units (a page or two), less than one index lookup (about {TINY_SCAN_COST:.0})",
            node.relation_name.as_deref().unwrap_or_default()
        )
    })
}

/// How many times the planner expects node `id` to run: the outer side's row estimate for each
/// nested loop it sits on the inner side of, and for each correlated SubPlan it runs in, the rows
/// of the node that evaluates it (at least: a filter runs it for the rows it reads, before
/// filtering).
fn estimated_loops(plan: &Indexed<'_>, id: usize) -> f64 {
    let mut loops = 1.0;
    let mut child = id;
    while let Some(parent) = plan.parents[child] {
        let node = plan.nodes[parent];
        if node.node_type == NodeType::NestedLoop && plan.children[parent].get(1) == Some(&child) {
            let outer = plan.children[parent][0];
            loops *= plan.nodes[outer].plan_rows.unwrap_or(1.0).max(1.0);
        }
        if runs_per_row(plan.nodes[child], node) {
            loops *= node.plan_rows.unwrap_or(1.0).max(1.0);
        }
        child = parent;
    }
    loops
}

/// Whether `subplan` is a SubPlan `node` runs again for each row: not an InitPlan, and not a
/// `hashed SubPlan` (run once, its result hashed).
fn runs_per_row(subplan: &PlanNode, node: &PlanNode) -> bool {
    if subplan.parent_relationship.as_deref() != Some("SubPlan") {
        return false;
    }
    let Some(name) = subplan.subplan_name.as_deref() else {
        return true;
    };
    let hashed = format!("hashed {name}");
    ![
        &node.filter,
        &node.join_filter,
        &node.hash_cond,
        &node.merge_cond,
        &node.index_cond,
        &node.recheck_cond,
    ]
    .into_iter()
    .flatten()
    .chain(node.output.iter().flatten())
    .any(|text| text.contains(&hashed))
}
