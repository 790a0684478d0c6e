//! `seq-scan`: a sequential scan of a large table whose filter throws most rows away, or a scan
//! repeated many times inside a loop. Small tables and filters that keep most rows are not
//! findings: an index would not beat reading the table.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::plan::{LoopRows, NodeType, RemovedShare};
use crate::units::{fmt_count, fmt_pct};

#[derive(Debug)]
pub struct SeqScan;

impl Rule for SeqScan {
    fn id(&self) -> RuleId {
        RuleId::SeqScan
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let t = ctx.thresholds;
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            if node.node_type != NodeType::SeqScan {
                continue;
            }
            let loops = metrics.loops.unwrap_or(0.0);
            if loops == 0.0 {
                continue;
            }
            // Per-loop averages the server rounded: over many loops, the share is a range.
            let returned_rows = LoopRows::new(node.actual_rows.unwrap_or(0.0), loops);
            let removed_rows = LoopRows::new(node.rows_removed_by_filter.unwrap_or(0.0), loops);
            let returned = returned_rows.total();
            let removed = removed_rows.total();
            let read = returned + removed;
            let share = RemovedShare::of(removed_rows, returned_rows);
            let removed_share = share.likely();
            let ms = metrics.exclusive_time_ms.unwrap_or(0.0);
            let relation = metrics.relation.clone().unwrap_or_default();
            let mut not_a_finding = |reason: String| {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason,
                })
            };
            let repeated = loops >= t.seq_scan_min_loops;
            let large = read >= t.seq_scan_min_rows;
            let selective = node.filter.is_some() && removed_share >= t.seq_scan_min_removed_share;
            if !repeated && !large {
                not_a_finding(format!(
                    "{relation}: small ({} rows read < {}); reading it whole is cheap",
                    fmt_count(read),
                    fmt_count(t.seq_scan_min_rows)
                ));
                continue;
            }
            if !repeated && !selective {
                not_a_finding(match &node.filter {
                    None => {
                        format!(
                            "{relation}: no filter to index here (a join that keeps few of its rows is join-full-scan's)"
                        )
                    }
                    Some(_) => format!(
                        "{relation}: the filter keeps {} of the rows; an index would not beat a sequential read",
                        fmt_pct(1.0 - removed_share)
                    ),
                });
                continue;
            }
            let mut ev = vec![
                evidence("rows read", fmt_count(read)),
                evidence("rows returned", returned_rows.describe()),
                evidence(
                    "rows removed by filter",
                    format!("{} ({})", fmt_count(removed), share.describe()),
                ),
                evidence("loops", fmt_count(loops)),
                evidence("exclusive time", format!("{ms:.1} ms")),
            ];
            if let Some(filter) = &node.filter {
                ev.push(evidence("filter", filter.clone()));
            }
            let summary = if repeated {
                format!(
                    "sequential scan on {relation} runs {} times inside a loop",
                    fmt_count(loops)
                )
            } else {
                format!(
                    "sequential scan on {relation} reads {} rows to return {}",
                    fmt_count(read),
                    returned_rows.describe()
                )
            };
            let advice = match (&node.filter, repeated) {
                (Some(filter), false) => format!(
                    "index the columns of the filter {filter} on {relation}: equality columns first, then one range column"
                ),
                (Some(filter), true) => format!(
                    "index the columns of the filter {filter} on {relation} so each of the {} iterations seeks instead of reading the table, or rewrite the loop as a join",
                    fmt_count(loops)
                ),
                (None, _) => format!(
                    "the loop re-reads {relation} each time: an index on the join columns lets each iteration seek, or let the planner hash it (check the row estimates)"
                ),
            };
            findings.push(ctx.finding(
                self.id(),
                metrics.id,
                ms,
                node.filter.iter().cloned().collect(),
                summary,
                ev,
                advice,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn seq_scan_fires_on_a_large_selective_scan() {
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("seq_scan_filter.json");
        let f = finding(&d, "seq-scan");
        let node = &analysis.nodes[f.node_id];
        assert_eq!(node.label, "Seq Scan");
        assert_eq!(f.time_at_stake_ms, node.exclusive_time_ms.unwrap());
        assert_eq!(
            f.severity,
            Severity::for_stake(f.share_at_stake, f.time_at_stake_ms, &Thresholds::default())
        );
        assert!(
            f.evidence
                .iter()
                .any(|e| e.label == "rows removed by filter")
        );
        assert!(!f.expressions.is_empty(), "names the filter");
        assert_eq!(f.doc, "docs/rules/seq-scan.md");
        insta::assert_json_snapshot!(findings(&d, "seq-scan"));
    }

    #[test]
    fn seq_scan_near_miss_non_selective_filter() {
        // amount > 100 keeps ~70% of the rows: reading the table is the right plan.
        let d = diagnose_fixture("parallel_seq_scan.json").diagnosis;
        assert!(!rules_fired(&d).contains(&"seq-scan"), "{:?}", d.findings);
        let check = check(&d, "seq-scan");
        assert!(
            check
                .reason
                .contains("an index would not beat a sequential read"),
            "{}",
            check.reason
        );
    }

    #[test]
    fn seq_scan_near_miss_a_small_table() {
        // seq_scan_small_table.json: the filter drops 80% of the rows, selective enough, but the
        // table has 2,000 rows: reading it whole is cheaper than any index.
        let Diagnosed {
            diagnosis: d,
            explain,
            analysis,
        } = diagnose_fixture("seq_scan_small_table.json");
        let c = check(&d, "seq-scan");
        let scan = explain.plan.preorder()[c.node_id];
        assert_eq!(analysis.nodes[c.node_id].label, "Seq Scan");
        assert_eq!(scan.rows_removed_by_filter, Some(1600.0));
        assert_eq!(
            c.reason,
            "warehouses: small (2,000 rows read < 10,000); reading it whole is cheap"
        );
    }
}
