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

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn planning_time_fires_when_planning_dominates() {
        // 200 partitions, none pruned at plan time: 17.5 ms planning for 2.5 ms execution.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("planning_partitions.json");
        let f = finding(&d, "planning-time");
        let planning_ms = analysis.planning_time_ms.unwrap();
        let execution_ms = analysis.execution_time_ms.unwrap();
        assert_eq!(f.node_id, 0);
        assert_eq!(f.time_at_stake_ms, planning_ms);
        // Planning exceeds execution: the share is clamped to the whole query, a critical share;
        // but 17.5 ms at stake is below the 100 ms critical tier, so a warning.
        assert_eq!(f.share_at_stake, 1.0);
        assert_eq!(f.severity, Severity::Warning);
        let lower_tiers = Thresholds {
            severity_critical_min_ms: 10.0,
            ..Thresholds::default()
        };
        let d2 = diagnose_fixture_with("planning_partitions.json", &lower_tiers).diagnosis;
        assert_eq!(finding(&d2, "planning-time").severity, Severity::Critical);
        assert_eq!(
            evidence_value(f, "planning / execution"),
            format!("{:.2}×", planning_ms / execution_ms)
        );
        assert!(f.advice.contains("prepared statement"), "{}", f.advice);
        assert!(f.advice.contains("join_collapse_limit"), "{}", f.advice);
        insta::assert_json_snapshot!(findings(&d, "planning-time"));
    }

    #[test]
    fn planning_time_near_miss_short_planning() {
        // 0.46 ms planning for 59.6 ms execution.
        let d = diagnose_fixture("seq_scan_filter.json").diagnosis;
        let c = check(&d, "planning-time");
        assert_eq!(c.node_id, 0);
        assert!(
            c.reason.contains("is short compared with execution"),
            "{}",
            c.reason
        );
        // A tiny ratio keeps two significant digits instead of printing 0.00×.
        assert!(c.reason.contains("0.0078× < 1×"), "{}", c.reason);
    }

    #[test]
    fn planning_time_near_miss_fast_planning_of_a_faster_query() {
        // initplan.json plans in 0.54 ms and runs in 1.15 ms: with the ratio lowered to 0.4 it
        // passes the ratio test, and the 5 ms floor keeps a sub-millisecond plan quiet.
        let thresholds = Thresholds {
            planning_min_ratio: 0.4,
            ..Thresholds::default()
        };
        let d = diagnose_fixture_with("initplan.json", &thresholds).diagnosis;
        let c = check(&d, "planning-time");
        assert!(c.reason.contains("too little to matter"), "{}", c.reason);
    }
}
