//! `planning-time`: a query that spends as long planning as executing, and long enough to matter —
//! typical of many partitions, many joins or many indexes, and the case prepared statements solve.
//! Planning that is short next to execution is not a finding.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::units::fmt_ms;

#[derive(Debug)]
pub struct PlanningTime;

impl Rule for PlanningTime {
    fn id(&self) -> RuleId {
        RuleId::PlanningTime
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let t = ctx.thresholds;
        // auto_explain output has no Planning Time: nothing to judge.
        let (Some(planning_ms), Some(execution_ms)) = (
            ctx.analysis.planning_time_ms,
            ctx.analysis.execution_time_ms,
        ) else {
            return;
        };
        let ratio = if execution_ms > 0.0 {
            planning_ms / execution_ms
        } else {
            f64::INFINITY
        };
        // Two decimals would print a short plan of a long query as "0.00×".
        let ratio_text = if !ratio.is_finite() {
            "unbounded (execution took 0 ms)".to_owned()
        } else if ratio >= 0.01 {
            format!("{ratio:.2}×")
        } else {
            // Two significant digits: 0.00037×.
            let decimals = (-ratio.max(1e-9).log10()).ceil() as usize + 1;
            format!("{ratio:.decimals$}×")
        };
        if ratio < t.planning_min_ratio || planning_ms < t.planning_min_ms {
            let reason = if ratio < t.planning_min_ratio {
                format!(
                    "planning ({} ms) is short compared with execution ({} ms): {ratio_text} < {}×",
                    fmt_ms(planning_ms),
                    fmt_ms(execution_ms),
                    t.planning_min_ratio
                )
            } else {
                format!(
                    "planning takes {} ms (< {} ms); too little to matter although it is {ratio_text} execution",
                    fmt_ms(planning_ms),
                    t.planning_min_ms
                )
            };
            checks.push(Check {
                rule: self.id(),
                node_id: 0,
                reason,
            });
            return;
        }
        let ev = vec![
            evidence("planning time", format!("{} ms", fmt_ms(planning_ms))),
            evidence("execution time", format!("{} ms", fmt_ms(execution_ms))),
            evidence("planning / execution", ratio_text.clone()),
        ];
        findings.push(ctx.finding(
            self.id(),
            0,
            planning_ms,
            Vec::new(),
            format!(
                "planning takes {} ms, {ratio_text} the execution time",
                fmt_ms(planning_ms)
            ),
            ev,
            "plan once, run many times: use a prepared statement (or your driver's server-side prepare) so a generic plan is reused after five executions; with partitioned tables, make the partition key a literal or parameter the planner can prune on, and keep the partition count moderate; for queries with many joins, lowering join_collapse_limit / from_collapse_limit (default 8) bounds the join search; if plain queries plan slowly, look for bloated system catalogs (VACUUM pg_class, pg_attribute, pg_statistic) and tables carrying many indexes".into(),
        ));
    }
}
