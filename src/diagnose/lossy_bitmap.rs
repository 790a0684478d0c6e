//! `lossy-bitmap`: a Bitmap Heap Scan whose bitmap outgrew `work_mem` and degraded to one bit per
//! heap page ("lossy" blocks), so every row on those pages is rechecked against the condition.
//! A bitmap that stayed exact is not a finding.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::plan::NodeType;
use crate::units::{fmt_count, fmt_pct};

#[derive(Debug)]
pub struct LossyBitmap;

/// Memory an exact bitmap takes per heap page: tidbitmap.c allows `work_mem` /
/// (`sizeof(PagetableEntry)` + two pointers) page entries, 48 + 16 bytes on 64-bit builds with 8kB
/// pages. Checked on bitmap_lossy.json's query: its 7,874 pages stay exact from 496kB
/// (7,936 entries), not at 480kB (7,680).
const EXACT_BYTES_PER_PAGE: f64 = 64.0;

/// Headroom over the pages this run matched, for the table (and the bitmap) to grow.
const HEADROOM: f64 = 1.25;

impl Rule for LossyBitmap {
    fn id(&self) -> RuleId {
        RuleId::LossyBitmap
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let work_mem = ctx
            .explain
            .settings
            .get("work_mem")
            .cloned()
            .unwrap_or_else(|| "the default 4MB".into());
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            let loops = metrics.loops.unwrap_or(0.0);
            if node.node_type != NodeType::BitmapHeapScan || loops == 0.0 {
                continue;
            }
            // Exact and Lossy Heap Blocks are totals over loops; Rows Removed by Index Recheck is
            // per loop, like Actual Rows.
            let exact = node.exact_heap_blocks.unwrap_or(0) as f64;
            let lossy = node.lossy_heap_blocks.unwrap_or(0) as f64;
            let relation = metrics.relation.clone().unwrap_or_default();
            if lossy == 0.0 {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!(
                        "{relation}: the bitmap stayed exact ({} exact heap blocks, no lossy ones); work_mem ({work_mem}) was enough",
                        fmt_count(exact)
                    ),
                });
                continue;
            }
            let lossy_share = lossy / (exact + lossy);
            let exclusive_ms = metrics.exclusive_time_ms.unwrap_or(0.0);
            let ms = exclusive_ms * lossy_share;
            let removed_by_recheck = node.rows_removed_by_index_recheck.unwrap_or(0.0) * loops;
            // A bitmap is built per loop, so it covers about one loop's share of the pages; a
            // Parallel Bitmap Heap Scan shares one bitmap between its processes (its loops), and
            // PostgreSQL 15 counts only the leader's blocks, so its estimate is a lower bound.
            let parallel = node.parallel_aware == Some(true);
            let bitmaps = if parallel { 1.0 } else { loops };
            let pages_per_bitmap = (exact + lossy) / bitmaps;
            let needed_kb = pages_per_bitmap * EXACT_BYTES_PER_PAGE * HEADROOM / 1024.0;
            let needed_mb = (needed_kb / 1024.0).ceil().max(1.0) as u64;
            let mut ev = vec![
                evidence("exact heap blocks", fmt_count(exact)),
                evidence(
                    "lossy heap blocks",
                    format!("{} ({})", fmt_count(lossy), fmt_pct(lossy_share)),
                ),
                evidence(
                    "rows removed by index recheck",
                    fmt_count(removed_by_recheck),
                ),
                evidence(
                    "rows returned",
                    crate::plan::LoopRows::new(node.actual_rows.unwrap_or(0.0), loops).describe(),
                ),
                evidence("work_mem", work_mem.clone()),
                evidence("exclusive time", format!("{exclusive_ms:.1} ms")),
            ];
            if parallel {
                ev.push(evidence(
                    "heap blocks counted",
                    "the leader's only (PostgreSQL 15 does not report the workers')",
                ));
            }
            if let Some(cond) = &node.recheck_cond {
                ev.push(evidence("recheck condition", cond.clone()));
            }
            let expressions = node
                .recheck_cond
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
                    "bitmap scan on {relation} went lossy on {} of its heap blocks: work_mem ({work_mem}) too small for the bitmap",
                    fmt_pct(lossy_share)
                ),
                ev,
                format!(
                    "give this query {}{needed_mb}MB so the bitmap stays exact ({} heap pages at {EXACT_BYTES_PER_PAGE} bytes each, plus 25% headroom): SET LOCAL work_mem = '{needed_mb}MB' in its transaction; or make the condition more selective so fewer pages match",
                    if parallel { "at least " } else { "about " },
                    fmt_count(pages_per_bitmap)
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn lossy_bitmap_fires_when_the_bitmap_outgrows_work_mem() {
        // work_mem = 64kB: 7,241 of 7,874 heap blocks went lossy.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("bitmap_lossy.json");
        let f = finding(&d, "lossy-bitmap");
        let node = &analysis.nodes[f.node_id];
        assert_eq!(node.label, "Bitmap Heap Scan");
        assert_close(
            f.time_at_stake_ms,
            node.exclusive_time_ms.unwrap() * 7241.0 / (633.0 + 7241.0),
        );
        assert_eq!(
            f.severity,
            Severity::for_stake(f.share_at_stake, f.time_at_stake_ms, &Thresholds::default())
        );
        assert_eq!(evidence_value(f, "exact heap blocks"), "633");
        assert!(evidence_value(f, "lossy heap blocks").starts_with("7,241 ("));
        assert_eq!(
            evidence_value(f, "rows removed by index recheck"),
            "689,042"
        );
        assert_eq!(evidence_value(f, "work_mem"), "64kB");
        assert_eq!(
            f.expressions,
            vec!["((customer_id >= 1000) AND (customer_id <= 6000))".to_owned()]
        );
        // 7,874 pages × 64 bytes × 1.25 ≈ 615 kB: 1MB (measured: exact from 496kB).
        assert!(
            f.advice.contains("SET LOCAL work_mem = '1MB'"),
            "{}",
            f.advice
        );
        insta::assert_json_snapshot!(findings(&d, "lossy-bitmap"));
    }

    #[test]
    fn lossy_bitmap_near_miss_exact_bitmap() {
        let d = diagnose_fixture("cte.json").diagnosis;
        let c = check(&d, "lossy-bitmap");
        assert!(c.reason.contains("the bitmap stayed exact"), "{}", c.reason);
        assert!(c.reason.contains("59 exact heap blocks"), "{}", c.reason);
    }
}
