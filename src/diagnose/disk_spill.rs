//! `disk-spill`: a sort, hash or hash aggregate that ran out of `work_mem` and spilled to disk,
//! with the memory it would have needed.

use super::{Check, Context, Finding, Rule, RuleId, evidence};

#[derive(Debug)]
pub struct DiskSpill;

impl Rule for DiskSpill {
    fn id(&self) -> RuleId {
        RuleId::DiskSpill
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, _checks: &mut Vec<Check>) {
        let work_mem = ctx
            .explain
            .settings
            .get("work_mem")
            .cloned()
            .unwrap_or_else(|| "the default 4MB".into());
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            let ms = metrics.exclusive_time_ms.unwrap_or(0.0);
            // (what spilled, how much disk it used in kB)
            let spill = if node.sort_space_type.as_deref() == Some("Disk") {
                Some(("sort", node.sort_space_used_kb.unwrap_or(0)))
            } else if node.hash_batches.is_some_and(|b| b > 1) {
                // A hash in batches needs roughly batches × its in-memory peak to stay in memory.
                let peak = node.peak_memory_usage_kb.unwrap_or(0);
                Some(("hash", peak * node.hash_batches.unwrap_or(1)))
            } else if node.hashagg_batches.is_some_and(|b| b > 1)
                || node.disk_usage_kb.is_some_and(|d| d > 0)
            {
                Some(("hash aggregate", node.disk_usage_kb.unwrap_or(0)))
            } else {
                None
            };
            let Some((what, needed_kb)) = spill else {
                continue;
            };
            let needed_mb = (needed_kb as f64 / 1024.0).ceil().max(1.0) as u64;
            let mut ev = vec![
                evidence("time", format!("{ms:.1} ms")),
                evidence("work_mem", work_mem.clone()),
            ];
            if let Some(kb) = node.sort_space_used_kb.filter(|_| what == "sort") {
                ev.push(evidence("sort space on disk", format!("{kb} kB")));
            }
            if let Some(b) = node.hash_batches.filter(|b| *b > 1) {
                ev.push(evidence("hash batches", b.to_string()));
            }
            if let Some(kb) = node.disk_usage_kb.filter(|d| *d > 0) {
                ev.push(evidence("disk usage", format!("{kb} kB")));
            }
            findings.push(ctx.finding(
                self.id(),
                metrics.id,
                ms,
                node.sort_key.clone().or_else(|| node.group_key.clone()).unwrap_or_default(),
                format!("{what} spilled to disk: work_mem ({work_mem}) too small"),
                ev,
                format!(
                    "give this query about {needed_mb}MB: SET LOCAL work_mem = '{needed_mb}MB' in its transaction{}, or reduce the rows reaching the {what}",
                    if what == "sort" { "" } else { " (or raise hash_mem_multiplier)" }
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;

    #[test]
    fn disk_spill_fires_on_external_sort_and_batched_hash() {
        let d = diagnose_fixture("sort_external.json").diagnosis;
        let f = finding(&d, "disk-spill");
        assert!(
            f.summary.starts_with("sort spilled to disk"),
            "{}",
            f.summary
        );
        assert!(f.advice.contains("SET LOCAL work_mem"), "{}", f.advice);
        insta::assert_json_snapshot!("sort_external", findings(&d, "disk-spill"));

        let d = diagnose_fixture("hash_join_batches.json").diagnosis;
        let f = finding(&d, "disk-spill");
        assert!(
            f.evidence
                .iter()
                .any(|e| e.label == "hash batches" && e.value != "1")
        );
        insta::assert_json_snapshot!("hash_join_batches", findings(&d, "disk-spill"));
    }

    #[test]
    fn disk_spill_near_miss_in_memory_sort() {
        let d = diagnose_fixture("cte.json").diagnosis;
        assert!(!rules_fired(&d).contains(&"disk-spill"), "{:?}", d.findings);
    }
}
