//! `heavy-aggregate`: an aggregate that consumes many rows or much of the query's time. An index
//! does not make counting a million rows cheap; a precomputed summary (a materialized view, or a
//! cached result) does, and it replaces the whole subtree below the aggregate. A parallel
//! Partial/Finalize pair is one aggregate, reported once at its Finalize.
//!
//! Heavy means: many input rows (and a share of the time worth a change), or aggregating itself
//! (the aggregate's exclusive time) taking a large share of the time.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::plan::{NodeMetrics, NodeType};
use crate::units::{fmt_count, fmt_ms, fmt_pct};

#[derive(Debug)]
pub struct HeavyAggregate;

impl Rule for HeavyAggregate {
    fn id(&self) -> RuleId {
        RuleId::HeavyAggregate
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let t = ctx.thresholds;
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            if node.node_type != NodeType::Aggregate || metrics.loops.unwrap_or(0.0) == 0.0 {
                continue;
            }
            let mut not_a_finding = |reason: String| {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason,
                })
            };
            if node.partial_mode.as_deref() == Some("Partial") {
                not_a_finding("partial aggregate: weighed with its Finalize above".into());
                continue;
            }
            // A Finalize's own input is one row per worker; the work is in its partials.
            let partials: Vec<&NodeMetrics> = if node.partial_mode.as_deref() == Some("Finalize") {
                descendants(ctx, metrics)
                    .filter(|d| ctx.nodes[d.id].partial_mode.as_deref() == Some("Partial"))
                    .collect()
            } else {
                Vec::new()
            };
            let input_rows: f64 = if partials.is_empty() {
                input_rows(ctx, metrics.id)
            } else {
                partials.iter().map(|p| input_rows(ctx, p.id)).sum()
            };
            let ms = metrics.inclusive_time_ms.unwrap_or(0.0);
            let share = ctx.share(ms);
            // The aggregation's own work (its exclusive time, and its partials'). An aggregate at
            // the root always has ~100% inclusive share, so inclusive time alone cannot tell a
            // 50-row count from a heavy one; own time large enough is heavy whatever the rows.
            let own_ms: f64 = std::iter::once(metrics)
                .chain(partials.iter().copied())
                .filter_map(|m| m.exclusive_time_ms)
                .sum();
            let own_share = ctx.share(own_ms);
            let many_rows = input_rows >= t.heavy_aggregate_min_rows && share >= t.min_share;
            let large_share = own_share >= t.heavy_aggregate_min_share;
            if !many_rows && !large_share {
                not_a_finding(if input_rows < t.heavy_aggregate_min_rows {
                    format!(
                        "few rows: aggregates {} rows (< {}), and aggregating takes {} of the time (< {})",
                        fmt_count(input_rows),
                        fmt_count(t.heavy_aggregate_min_rows),
                        fmt_pct(own_share),
                        fmt_pct(t.heavy_aggregate_min_share)
                    )
                } else {
                    format!(
                        "a small share: aggregates {} rows but takes {} of the time with its input (< {})",
                        fmt_count(input_rows),
                        fmt_pct(share),
                        fmt_pct(t.min_share)
                    )
                });
                continue;
            }
            let keys = node.group_key.clone().unwrap_or_default();
            let mut relations: Vec<String> = Vec::new();
            for relation in descendants(ctx, metrics).filter_map(|d| d.relation.clone()) {
                if !relations.contains(&relation) {
                    relations.push(relation);
                }
            }
            let keys_text = if keys.is_empty() {
                "no GROUP BY: one total".to_string()
            } else {
                keys.join(", ")
            };
            let mut ev = vec![
                evidence("rows aggregated", fmt_count(input_rows)),
                evidence(
                    "groups",
                    fmt_count(metrics.actual_rows_total.unwrap_or(0.0)),
                ),
                evidence("group key", keys_text.clone()),
                evidence(
                    "time aggregating",
                    format!("{} ms ({})", fmt_ms(own_ms), fmt_pct(own_share)),
                ),
                evidence(
                    "time with its input",
                    format!("{} ms ({})", fmt_ms(ms), fmt_pct(share)),
                ),
            ];
            if !partials.is_empty() {
                let partial_rows: f64 = partials
                    .iter()
                    .map(|p| p.actual_rows_total.unwrap_or(0.0))
                    .sum();
                let partial_loops: f64 = partials.iter().map(|p| p.loops.unwrap_or(0.0)).sum();
                ev.push(evidence(
                    "partial aggregates",
                    format!(
                        "{} rows from {} processes",
                        fmt_count(partial_rows),
                        fmt_count(partial_loops)
                    ),
                ));
            }
            if metrics.loops.unwrap_or(1.0) > 1.0 {
                ev.push(evidence("loops", fmt_count(metrics.loops.unwrap_or(1.0))));
            }
            let from = if relations.is_empty() {
                "its input".to_string()
            } else {
                relations.join(", ")
            };
            let advice = if keys.is_empty() {
                format!(
                    "a precomputed summary replaces this whole subtree: keep the total in a materialized view (or a cached value) over {from}, refreshed on a schedule, instead of recomputing it from {} rows per query",
                    fmt_count(input_rows)
                )
            } else {
                format!(
                    "a precomputed summary replaces this whole subtree: a materialized view over {from} grouped by {} (REFRESH MATERIALIZED VIEW CONCURRENTLY needs a unique index on those keys), read instead of aggregating {} rows per query",
                    keys.join(", "),
                    fmt_count(input_rows)
                )
            };
            findings.push(ctx.finding(
                self.id(),
                metrics.id,
                ms,
                keys,
                format!(
                    "{} aggregates {} rows in {} of the time",
                    metrics.label,
                    fmt_count(input_rows),
                    fmt_pct(share)
                ),
                ev,
                advice,
            ));
        }
    }
}

/// Every node below `metrics` in the plan tree.
fn descendants<'a>(
    ctx: &'a Context<'_>,
    metrics: &NodeMetrics,
) -> impl Iterator<Item = &'a NodeMetrics> {
    let prefix = format!("{}.", metrics.path);
    ctx.analysis
        .nodes
        .iter()
        .filter(move |n| n.path.starts_with(&prefix))
}

/// Rows an aggregate consumed: its input children's rows over all loops. InitPlans and SubPlans
/// hanging under it compute parameters, not input.
fn input_rows(ctx: &Context<'_>, id: usize) -> f64 {
    ctx.children_of(id)
        .filter(|c| {
            !matches!(
                ctx.nodes[c.id].parent_relationship.as_deref(),
                Some("InitPlan" | "SubPlan")
            )
        })
        .filter_map(|c| c.actual_rows_total)
        .sum()
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn heavy_aggregate_fires_on_a_hash_aggregate_over_333k_rows() {
        // jit.json: HashAggregate by status over a Seq Scan returning 333,300 rows.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("jit.json");
        let [f] = findings(&d, "heavy-aggregate")[..] else {
            panic!("{:?}", d.findings)
        };
        let node = &analysis.nodes[f.node_id];
        assert_eq!(node.label, "HashAggregate");
        assert_eq!(f.time_at_stake_ms, node.inclusive_time_ms.unwrap());
        assert_eq!(
            f.severity,
            Severity::for_stake(f.share_at_stake, f.time_at_stake_ms, &Thresholds::default())
        );
        assert_eq!(evidence_value(f, "rows aggregated"), "333,300");
        assert_eq!(f.expressions, vec!["status".to_string()]);
        assert!(f.advice.contains("materialized view"), "{}", f.advice);
        assert!(f.advice.contains("over orders"), "{}", f.advice);
        assert!(f.advice.contains("grouped by status"), "{}", f.advice);
        assert_eq!(f.doc, "docs/rules/heavy-aggregate.md");
        insta::assert_json_snapshot!(findings(&d, "heavy-aggregate"));
    }

    #[test]
    fn heavy_aggregate_reports_a_parallel_pair_once_at_its_finalize() {
        // parallel_seq_scan.json: Finalize Aggregate <- Gather <- Partial Aggregate (3 loops) <- scan.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("parallel_seq_scan.json");
        let [f] = findings(&d, "heavy-aggregate")[..] else {
            panic!("{:?}", d.findings)
        };
        assert_eq!(analysis.nodes[f.node_id].label, "Finalize Aggregate");
        let partial = analysis
            .nodes
            .iter()
            .find(|n| n.label == "Partial Aggregate")
            .unwrap();
        let scan = &analysis.nodes[partial.id + 1];
        assert_eq!(
            evidence_value(f, "rows aggregated"),
            crate::units::fmt_count(scan.actual_rows_total.unwrap())
        );
        assert_eq!(
            evidence_value(f, "partial aggregates"),
            "3 rows from 3 processes"
        );
        assert!(
            checks(&d, "heavy-aggregate")
                .iter()
                .any(|c| c.node_id == partial.id && c.reason.contains("Finalize")),
            "{:?}",
            d.checks
        );
        insta::assert_json_snapshot!(findings(&d, "heavy-aggregate"));
    }

    #[test]
    fn heavy_aggregate_near_miss_a_small_initplan_aggregate() {
        // aggregate_small_initplan.json: avg() over 2 rows in an InitPlan of a 2M-row scan.
        let d = diagnose_fixture("aggregate_small_initplan.json").diagnosis;
        assert!(
            findings(&d, "heavy-aggregate").is_empty(),
            "{:?}",
            d.findings
        );
        let [c] = checks(&d, "heavy-aggregate")[..] else {
            panic!("{:?}", d.checks)
        };
        assert!(
            c.reason.starts_with("few rows: aggregates 2 rows"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn heavy_aggregate_near_miss_a_root_aggregate_over_few_rows() {
        // initplan.json: avg() over 50 rows takes half the time *with its input* (a 1 ms query);
        // the aggregating itself is a sliver of it, so this is no finding.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("initplan.json");
        assert!(
            findings(&d, "heavy-aggregate").is_empty(),
            "{:?}",
            d.findings
        );
        let [c] = checks(&d, "heavy-aggregate")[..] else {
            panic!("{:?}", d.checks)
        };
        let aggregate = &analysis.nodes[c.node_id];
        assert!(aggregate.inclusive_time_ms.unwrap() / analysis.total_time_ms.unwrap() > 0.2);
        assert!(
            c.reason
                .starts_with("few rows: aggregates 50 rows (< 100,000)"),
            "{}",
            c.reason
        );
    }
}
