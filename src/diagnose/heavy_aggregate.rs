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
