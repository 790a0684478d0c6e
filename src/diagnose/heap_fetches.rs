//! `heap-fetches`: an Index Only Scan that still visits the table for many of its rows because the
//! visibility map is stale (pages changed since the last VACUUM). Few heap fetches — a table
//! vacuumed since its last changes — are not a finding.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::pg::quote_qualified;
use crate::plan::NodeType;
use crate::units::{fmt_count, fmt_pct};

#[derive(Debug)]
pub struct HeapFetches;

impl Rule for HeapFetches {
    fn id(&self) -> RuleId {
        RuleId::HeapFetches
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let t = ctx.thresholds;
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            if node.node_type != NodeType::IndexOnlyScan || metrics.loops.unwrap_or(0.0) == 0.0 {
                continue;
            }
            // Heap Fetches is a total over loops (PostgreSQL 15), unlike the per-loop Actual Rows.
            let heap_fetches = node.heap_fetches.unwrap_or(0) as f64;
            let returned = metrics.actual_rows_total.unwrap_or(0.0);
            // A Filter on the scan can discard rows after their heap visit, so fetches may exceed
            // the rows returned; the share is capped at all of them.
            let fetch_share = if returned > 0.0 {
                (heap_fetches / returned).min(1.0)
            } else if heap_fetches > 0.0 {
                1.0
            } else {
                0.0
            };
            let relation = metrics.relation.clone().unwrap_or_default();
            if heap_fetches < t.heap_fetches_min || fetch_share < t.heap_fetches_min_share_of_rows {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!(
                        "{relation}: {} heap fetches for {} rows returned ({}); the visibility map is fresh enough (flagged from {} fetches and {} of the rows)",
                        fmt_count(heap_fetches),
                        fmt_count(returned),
                        fmt_pct(fetch_share),
                        fmt_count(t.heap_fetches_min),
                        fmt_pct(t.heap_fetches_min_share_of_rows)
                    ),
                });
                continue;
            }
            let exclusive_ms = metrics.exclusive_time_ms.unwrap_or(0.0);
            let ms = exclusive_ms * fetch_share;
            let index = metrics.index_name.clone().unwrap_or_default();
            let mut ev = vec![
                evidence("heap fetches", fmt_count(heap_fetches)),
                evidence(
                    "rows returned",
                    crate::plan::LoopRows::new(
                        node.actual_rows.unwrap_or(0.0),
                        metrics.loops.unwrap_or(0.0),
                    )
                    .describe(),
                ),
                evidence("heap fetches per row returned", fmt_pct(fetch_share)),
                evidence("loops", fmt_count(metrics.loops.unwrap_or(0.0))),
                evidence("exclusive time", format!("{exclusive_ms:.1} ms")),
            ];
            if !index.is_empty() {
                ev.push(evidence("index", index.clone()));
            }
            if let Some(cond) = &node.index_cond {
                ev.push(evidence("index condition", cond.clone()));
            }
            let expressions = node
                .index_cond
                .iter()
                .chain(&node.filter)
                .cloned()
                .collect();
            findings.push(ctx.finding(
                self.id(),
                metrics.id,
                ms,
                expressions,
                format!(
                    "index-only scan on {relation} visits the table for {} of its rows: the visibility map is stale",
                    fmt_pct(fetch_share)
                ),
                ev,
                {
                    // Copy-paste SQL: the names quoted.
                    let table = quote_qualified(
                        node.schema.as_deref(),
                        node.relation_name.as_deref().unwrap_or_default(),
                    );
                    format!(
                        "`VACUUM {table}` to refresh its visibility map, then make autovacuum keep up: lower autovacuum_vacuum_scale_factor for it (`ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0.01)`), or for an insert-only table autovacuum_vacuum_insert_scale_factor (PostgreSQL 13+)"
                    )
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn heap_fetches_fires_on_a_stale_visibility_map() {
        // events was updated after its VACUUM: all 2,000 rows needed a heap visit.
        let Diagnosed {
            diagnosis: d,
            explain,
            analysis,
        } = diagnose_fixture("index_only_heap_fetches.json");
        let f = finding(&d, "heap-fetches");
        let node = &analysis.nodes[f.node_id];
        assert_eq!(node.label, "Index Only Scan");
        let plan = explain.plan.preorder()[f.node_id];
        let fetches = plan.heap_fetches.unwrap() as f64;
        let rows = node.actual_rows_total.unwrap();
        assert_eq!(fetches, 2000.0);
        assert_close(
            f.time_at_stake_ms,
            node.exclusive_time_ms.unwrap() * (fetches / rows).min(1.0),
        );
        assert_eq!(
            f.severity,
            Severity::for_stake(f.share_at_stake, f.time_at_stake_ms, &Thresholds::default())
        );
        assert_eq!(evidence_value(f, "heap fetches"), "2,000");
        assert_eq!(
            f.expressions,
            vec!["((kind = 7) AND (id < 100000))".to_owned()]
        );
        assert!(f.advice.contains(r#"VACUUM "events""#), "{}", f.advice);
        assert!(
            f.advice.contains("autovacuum_vacuum_insert_scale_factor"),
            "{}",
            f.advice
        );
        assert_eq!(f.doc, "docs/rules/heap-fetches.md");
        insta::assert_json_snapshot!(findings(&d, "heap-fetches"));
    }

    #[test]
    fn heap_fetches_near_miss_after_vacuum() {
        // The SubPlan's index-only scan on orders (vacuumed) returns 100,000 rows with 0 heap
        // fetches.
        let d = diagnose_fixture("subplan.json").diagnosis;
        let c = check(&d, "heap-fetches");
        assert!(c.reason.contains("0 heap fetches"), "{}", c.reason);
        assert!(
            c.reason.contains("the visibility map is fresh enough"),
            "{}",
            c.reason
        );
    }
}
