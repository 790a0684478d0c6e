//! `jit-overhead`: JIT compilation taking a large share of execution time — common on OLTP-style
//! queries whose cost estimate crosses `jit_above_cost` although they run fast.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::units::fmt_pct;

#[derive(Debug)]
pub struct JitOverhead;

impl Rule for JitOverhead {
    fn id(&self) -> RuleId {
        RuleId::JitOverhead
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let (Some(jit), Some(jit_ms)) = (&ctx.explain.jit, ctx.analysis.jit_total_ms) else {
            return;
        };
        let share = ctx.share(jit_ms);
        if share < ctx.thresholds.jit_min_share {
            checks.push(Check {
                rule: self.id(),
                node_id: 0,
                reason: format!(
                    "JIT takes {} of execution time (< {})",
                    fmt_pct(share),
                    fmt_pct(ctx.thresholds.jit_min_share)
                ),
            });
            return;
        }
        let mut ev = vec![
            evidence("JIT time", format!("{jit_ms:.1} ms")),
            evidence("functions compiled", jit.functions.to_string()),
        ];
        if let Some(timing) = &jit.timing {
            ev.push(evidence(
                "generation / inlining / optimization / emission",
                format!(
                    "{:.1} / {:.1} / {:.1} / {:.1} ms",
                    timing.generation, timing.inlining, timing.optimization, timing.emission
                ),
            ));
        }
        findings.push(ctx.finding(
            self.id(),
            0,
            jit_ms,
            Vec::new(),
            format!("JIT compilation takes {} of execution time", fmt_pct(share)),
            ev,
            "JIT pays off only for long analytical queries: raise jit_above_cost (and jit_inline_above_cost, jit_optimize_above_cost) or SET jit = off for this workload; fixing the plan's costs (indexes) usually drops it below the thresholds".into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::Severity;
    use crate::diagnose::test_support::*;

    #[test]
    fn jit_overhead_fires_when_jit_dominates() {
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("jit.json");
        let f = finding(&d, "jit-overhead");
        assert_eq!(f.time_at_stake_ms, analysis.jit_total_ms.unwrap());
        assert!(f.share_at_stake > 0.4);
        assert_eq!(f.severity, Severity::Warning);
        insta::assert_json_snapshot!(findings(&d, "jit-overhead"));
    }

    #[test]
    fn jit_overhead_near_miss_jit_on_a_long_query() {
        // sort_external.json: JIT kicked in by cost, but the query ran for a second.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("sort_external.json");
        assert!(analysis.jit_total_ms.unwrap() > 0.0);
        let c = check(&d, "jit-overhead");
        assert_eq!(c.reason, "JIT takes 1.8% of execution time (< 10.0%)");
    }
}
