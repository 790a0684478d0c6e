//! `nested-loop-amplification`: the inner side of a Nested Loop re-executed once per outer row,
//! thousands of times. Each execution may be cheap; the count is the cost. A Seq Scan (or a
//! Materialize over one) on the inner side re-reads its rows every loop, so it is flagged from
//! fewer loops.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::plan::NodeType;
use crate::plan::conditions::{own_qualifiers, referenced_columns};
use crate::units::{fmt_count, fmt_ms};

#[derive(Debug)]
pub struct NestedLoopAmplification;

impl Rule for NestedLoopAmplification {
    fn id(&self) -> RuleId {
        RuleId::NestedLoopAmplification
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let t = ctx.thresholds;
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            if node.node_type != NodeType::NestedLoop || metrics.loops.unwrap_or(0.0) == 0.0 {
                continue;
            }
            let children: Vec<_> = ctx
                .children_of(metrics.id)
                .filter(|c| {
                    !matches!(
                        ctx.nodes[c.id].parent_relationship.as_deref(),
                        Some("InitPlan" | "SubPlan")
                    )
                })
                .collect();
            let outer = children.first().copied();
            let Some(inner) = children
                .iter()
                .find(|c| ctx.nodes[c.id].parent_relationship.as_deref() == Some("Inner"))
                .or(children.get(1))
                .copied()
            else {
                continue;
            };
            let inner_node = ctx.nodes[inner.id];
            // The table the inner side reads whole each loop, when it does.
            let seq_scan = match inner_node.node_type {
                NodeType::SeqScan => Some(inner.id),
                NodeType::Materialize => ctx
                    .children_of(inner.id)
                    .find(|c| ctx.nodes[c.id].node_type == NodeType::SeqScan)
                    .map(|c| c.id),
                _ => None,
            };
            let min_loops = if seq_scan.is_some() {
                t.seq_scan_min_loops.min(t.nested_loop_min_loops)
            } else {
                t.nested_loop_min_loops
            };
            let loops = inner.loops.unwrap_or(0.0);
            if loops < min_loops {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!(
                        "the inner {} runs {} times (< {}): few loops",
                        inner.label,
                        fmt_count(loops),
                        fmt_count(min_loops)
                    ),
                });
                continue;
            }
            let ms = inner.inclusive_time_ms.unwrap_or(0.0);
            let rows_per_loop = inner.actual_rows_total.unwrap_or(0.0) / loops;
            let inner_relation = seq_scan
                .and_then(|id| ctx.analysis.nodes[id].relation.clone())
                .or_else(|| inner.relation.clone());
            let inner_desc = match &inner_relation {
                Some(relation) => format!("{} on {relation}", inner.label),
                None => inner.label.clone(),
            };
            let mut ev = vec![
                evidence("inner side", inner_desc.clone()),
                evidence("loops", fmt_count(loops)),
                evidence("rows per loop", format!("{rows_per_loop:.1}")),
                evidence("time per loop", format!("{} ms", fmt_ms(ms / loops))),
                evidence("inner time", format!("{} ms", fmt_ms(ms))),
            ];
            if let Some(id) = seq_scan {
                let what = if id == inner.id {
                    "a Seq Scan: the table is read whole on every loop".to_string()
                } else {
                    "a Materialize over a Seq Scan: its rows are rescanned on every loop"
                        .to_string()
                };
                ev.push(evidence("inner scan", what));
            }
            if let Some(outer) = outer {
                ev.push(evidence(
                    "outer rows",
                    format!(
                        "{} (planned {})",
                        fmt_count(outer.actual_rows_total.unwrap_or(0.0)),
                        fmt_count(outer.planned_rows_total)
                    ),
                ));
            }
            // The join condition: on the inner scan (Index Cond / Filter) or the loop's Join Filter.
            let condition_node = ctx.nodes[seq_scan.unwrap_or(inner.id)];
            let conditions: Vec<String> = [
                &condition_node.index_cond,
                &condition_node.filter,
                &node.join_filter,
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
            for condition in &conditions {
                ev.push(evidence("join condition", condition.clone()));
            }
            let qualifiers = own_qualifiers(condition_node);
            let join_columns: Vec<String> = conditions
                .iter()
                .flat_map(|c| referenced_columns(c, &qualifiers))
                .map(|c| c.name)
                .fold(Vec::new(), |mut unique, name| {
                    if !unique.contains(&name) {
                        unique.push(name);
                    }
                    unique
                });
            let outer_misestimated = outer.is_some_and(|o| {
                o.estimate_factor
                    .is_some_and(|f| f >= t.misestimate_min_factor)
            });
            let hash_hint = if outer_misestimated {
                "the outer side was mis-estimated, which is likely why the planner chose a loop: fix its statistics (see `pgdiag rules misestimate`) and a hash join becomes possible"
            } else {
                "or let a hash join read it once: the planner loops when it expects few outer rows, so check the outer estimate (`pgdiag rules misestimate`)"
            };
            let index_hint = match (&inner_relation, inner_node.index_name.as_deref()) {
                (Some(relation), None) if !join_columns.is_empty() => format!(
                    "index {relation} ({}) so each loop seeks instead of reading",
                    join_columns.join(", ")
                ),
                (_, Some(index)) => {
                    format!("each loop already seeks with {index}, so the loop count is the cost")
                }
                _ => "index the inner side's join columns so each loop seeks".into(),
            };
            // Reported on the amplified side (the table read each loop), so the finding names it.
            findings.push(ctx.finding(
                self.id(),
                seq_scan.unwrap_or(inner.id),
                ms,
                conditions,
                format!(
                    "the inner {inner_desc} runs {} times, once per outer row",
                    fmt_count(loops)
                ),
                ev,
                format!("{index_hint}; {hash_hint}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn nested_loop_amplification_fires_on_1999_inner_index_scans() {
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("nested_loop_many_loops.json");
        let [f] = findings(&d, "nested-loop-amplification")[..] else {
            panic!("{:?}", d.findings)
        };
        let inner = &analysis.nodes[f.node_id];
        assert_eq!(inner.label, "Index Scan");
        assert_eq!(f.relation.as_deref(), Some("orders"));
        assert_eq!(f.time_at_stake_ms, inner.inclusive_time_ms.unwrap());
        assert_eq!(
            f.severity,
            Severity::for_stake(f.share_at_stake, f.time_at_stake_ms, &Thresholds::default())
        );
        assert_eq!(evidence_value(f, "loops"), "1,999");
        assert_eq!(evidence_value(f, "rows per loop"), "50.0");
        assert_eq!(
            evidence_value(f, "time per loop"),
            format!(
                "{} ms",
                crate::units::fmt_ms(inner.inclusive_time_ms.unwrap() / 1999.0)
            )
        );
        assert_eq!(f.expressions, vec!["(customer_id = c.id)".to_string()]);
        assert!(
            f.advice
                .contains("already seeks with orders_customer_id_idx"),
            "{}",
            f.advice
        );
        assert!(f.advice.contains("hash join"), "{}", f.advice);
        insta::assert_json_snapshot!(findings(&d, "nested-loop-amplification"));
    }

    #[test]
    fn nested_loop_amplification_links_a_misestimated_outer_side() {
        let d = diagnose_fixture("misestimate_nested_loop.json").diagnosis;
        let [f] = findings(&d, "nested-loop-amplification")[..] else {
            panic!("{:?}", d.findings)
        };
        assert_eq!(evidence_value(f, "loops"), "2,000");
        assert_eq!(evidence_value(f, "outer rows"), "2,000 (planned 18)");
        assert!(f.advice.contains("misestimate"), "{}", f.advice);
        insta::assert_json_snapshot!(findings(&d, "nested-loop-amplification"));
    }

    #[test]
    fn nested_loop_amplification_near_miss_few_loops() {
        // nested_loop_few_loops.json: 51 people, one index probe into visits each.
        let d = diagnose_fixture("nested_loop_few_loops.json").diagnosis;
        assert!(
            findings(&d, "nested-loop-amplification").is_empty(),
            "{:?}",
            d.findings
        );
        let [c] = checks(&d, "nested-loop-amplification")[..] else {
            panic!("{:?}", d.checks)
        };
        assert_eq!(
            c.reason,
            "the inner Index Scan runs 51 times (< 1,000): few loops"
        );
    }
}
