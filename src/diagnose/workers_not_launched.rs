//! `workers-not-launched`: a Gather or Gather Merge that started fewer parallel workers than the
//! planner counted on, because the worker pool (`max_parallel_workers`, `max_worker_processes`) was
//! exhausted when the query started. The processes that did run did all the work.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::units::fmt_pct;

#[derive(Debug)]
pub struct WorkersNotLaunched;

impl Rule for WorkersNotLaunched {
    fn id(&self) -> RuleId {
        RuleId::WorkersNotLaunched
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            if !node.is_gather() || metrics.loops.unwrap_or(0.0) == 0.0 {
                continue;
            }
            let Some((launched, planned)) = metrics.parallel_workers else {
                continue;
            };
            if launched >= planned {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!("all {planned} planned workers launched"),
                });
                continue;
            }
            let missing = planned - launched;
            // The planner divided the work among the planned workers plus the leader; the share
            // the missing ones would have taken is an estimate of the time lost (the section ran
            // with fewer processes, and the leader may have had to gather less in parallel).
            let missing_share = f64::from(missing) / f64::from(planned + 1);
            let inclusive_ms = metrics.inclusive_time_ms.unwrap_or(0.0);
            let ms = inclusive_ms * missing_share;
            let mut ev = vec![
                evidence("workers planned", planned.to_string()),
                evidence("workers launched", launched.to_string()),
                evidence(
                    "share of the parallel work the missing workers would have done",
                    format!("{missing}/{} ({})", planned + 1, fmt_pct(missing_share)),
                ),
                evidence(
                    &format!("{} inclusive time", metrics.label),
                    format!("{inclusive_ms:.1} ms"),
                ),
            ];
            for setting in [
                "max_parallel_workers",
                "max_worker_processes",
                "max_parallel_workers_per_gather",
            ] {
                if let Some(value) = ctx.explain.settings.get(setting) {
                    ev.push(evidence(setting, value.clone()));
                }
            }
            let summary = if launched == 0 {
                format!(
                    "{} planned {planned} parallel workers and launched none: the leader ran the parallel plan alone",
                    metrics.label
                )
            } else {
                format!(
                    "{} planned {planned} parallel workers and launched only {launched}",
                    metrics.label
                )
            };
            findings.push(ctx.finding(
                self.id(),
                metrics.id,
                ms,
                Vec::new(),
                summary,
                ev,
                "the parallel worker pool was exhausted when the query started: check max_parallel_workers (the pool for parallel queries) and max_worker_processes (all background workers, a restart to change; keep it at least max_parallel_workers plus what extensions and logical replication use), and how many parallel queries run at once (pg_stat_activity where backend_type = 'parallel worker'); under heavy concurrency, lower max_parallel_workers_per_gather so queries share the pool predictably".into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn workers_not_launched_fires_when_the_pool_is_short() {
        // max_parallel_workers = 1: the Gather Merge planned 2 workers and got 1.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("workers_not_launched.json");
        let f = finding(&d, "workers-not-launched");
        let node = &analysis.nodes[f.node_id];
        assert_eq!(node.label, "Gather Merge");
        assert_eq!(node.parallel_workers, Some((1, 2)));
        assert_close(f.time_at_stake_ms, node.inclusive_time_ms.unwrap() / 3.0);
        assert_eq!(
            f.severity,
            Severity::for_stake(f.share_at_stake, f.time_at_stake_ms, &Thresholds::default())
        );
        assert_eq!(evidence_value(f, "workers planned"), "2");
        assert_eq!(evidence_value(f, "workers launched"), "1");
        assert_eq!(evidence_value(f, "max_parallel_workers"), "1");
        assert!(f.advice.contains("max_worker_processes"), "{}", f.advice);
        assert_eq!(f.doc, "docs/rules/workers-not-launched.md");
        insta::assert_json_snapshot!(findings(&d, "workers-not-launched"));
    }

    #[test]
    fn workers_not_launched_near_miss_all_launched() {
        let d = diagnose_fixture("parallel_seq_scan.json").diagnosis;
        let c = check(&d, "workers-not-launched");
        assert_eq!(c.reason, "all 2 planned workers launched");
    }
}
