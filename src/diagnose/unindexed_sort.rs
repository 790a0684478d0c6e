//! `unindexed-sort`: a Sort (or Incremental Sort) fed straight from a table scan, whose keys an
//! index could deliver in order. Under a LIMIT (top-N heapsort) the index also saves reading the
//! whole table, so the scan's time is at stake too.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::plan::NodeType;
use crate::units::{fmt_count, fmt_pct};

#[derive(Debug)]
pub struct UnindexedSort;

/// Scans whose output has no useful order: what a sort above them must do from scratch.
const UNORDERED_SCANS: [NodeType; 3] = [
    NodeType::SeqScan,
    NodeType::BitmapHeapScan,
    NodeType::TidScan,
];

impl Rule for UnindexedSort {
    fn id(&self) -> RuleId {
        RuleId::UnindexedSort
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            if !matches!(node.node_type, NodeType::Sort | NodeType::IncrementalSort)
                || metrics.loops == Some(0.0)
            {
                continue;
            }
            // Follow single-child pass-through nodes (Gather, Result...) down to the input.
            let mut input = metrics.id;
            let scan = loop {
                let children: Vec<_> = ctx.children_of(input).collect();
                match children.as_slice() {
                    [only] => {
                        let plan = ctx.nodes[only.id];
                        if UNORDERED_SCANS.contains(&plan.node_type) {
                            break Some(only.id);
                        }
                        if plan.plans.len() != 1 {
                            break None;
                        }
                        input = only.id;
                    }
                    _ => break None,
                }
            };
            let keys = node.sort_key.clone().unwrap_or_default();
            let Some(scan_id) = scan else {
                let input_label = ctx
                    .children_of(input)
                    .next()
                    .map(|c| c.label.clone())
                    .unwrap_or_else(|| "nothing".into());
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!(
                        "the sort's input is a {input_label}, not a table scan an index could replace"
                    ),
                });
                continue;
            };
            let scan_metrics = &ctx.analysis.nodes[scan_id];
            let relation = scan_metrics.relation.clone().unwrap_or_default();
            let top_n = node
                .sort_method
                .as_deref()
                .is_some_and(|m| m.starts_with("top-N"));
            let sort_ms = metrics.exclusive_time_ms.unwrap_or(0.0);
            let ms = if top_n {
                sort_ms + scan_metrics.exclusive_time_ms.unwrap_or(0.0)
            } else {
                sort_ms
            };
            let share = ctx.share(ms);
            if share < ctx.thresholds.min_share {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!(
                        "sorting {relation} takes {} of the time (< {}); not worth an index",
                        fmt_pct(share),
                        fmt_pct(ctx.thresholds.min_share)
                    ),
                });
                continue;
            }
            let mut ev = vec![
                evidence("sort key", keys.join(", ")),
                evidence(
                    "rows sorted",
                    fmt_count(scan_metrics.actual_rows_total.unwrap_or(0.0)),
                ),
                evidence("sort time", format!("{sort_ms:.1} ms")),
            ];
            if let Some(method) = &node.sort_method {
                ev.push(evidence("sort method", method.clone()));
            }
            let (summary, advice) = if top_n {
                (
                    format!("top-N sort of {relation} reads every row to keep a few"),
                    format!(
                        "an index on {relation} ({}) returns rows already in order, so the LIMIT stops early",
                        keys.join(", ")
                    ),
                )
            } else {
                (
                    format!("{relation} is sorted at query time on {}", keys.join(", ")),
                    format!(
                        "an index on {relation} ({}) matching the sort order (with the filter's equality columns first) removes the sort",
                        keys.join(", ")
                    ),
                )
            };
            findings.push(ctx.finding(self.id(), metrics.id, ms, keys, summary, ev, advice));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;

    #[test]
    fn unindexed_sort_fires_on_a_sort_over_a_table_scan() {
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("sort_external.json");
        let f = finding(&d, "unindexed-sort");
        assert!(analysis.nodes[f.node_id].label.contains("Sort"));
        assert!(!f.expressions.is_empty(), "names the sort keys");
        insta::assert_json_snapshot!(findings(&d, "unindexed-sort"));
    }

    #[test]
    fn unindexed_sort_near_miss_sort_over_a_cte() {
        let d = diagnose_fixture("cte.json").diagnosis;
        assert!(!rules_fired(&d).contains(&"unindexed-sort"));
        assert!(
            checks(&d, "unindexed-sort")
                .iter()
                .any(|c| c.reason.contains("CTE Scan")),
            "{:?}",
            d.checks
        );
    }

    #[test]
    fn unindexed_sort_near_miss_a_cheap_sort() {
        // workers_not_launched.json: the Sort under the Gather Merge is 0.4% of the time.
        let d = diagnose_fixture("workers_not_launched.json").diagnosis;
        let c = check(&d, "unindexed-sort");
        assert_eq!(
            c.reason,
            "sorting public.jobs takes 0.4% of the time (< 5.0%); not worth an index"
        );
    }
}
