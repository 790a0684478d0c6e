//! Each rule on committed real plans: it fires where it should and, on near-miss plans, says why
//! it did not.

use super::*;
use crate::plan::{analyze, parse_explain};

fn diagnose_fixture(name: &str) -> (Diagnosis, Analysis) {
    let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let explain = parse_explain(&text).unwrap().remove(0);
    let analysis = analyze(&explain);
    (
        diagnose(&explain, &analysis, &Thresholds::default()),
        analysis,
    )
}

fn rules_fired(d: &Diagnosis) -> Vec<&str> {
    d.findings.iter().map(|f| f.rule.as_str()).collect()
}

#[test]
fn seq_scan_fires_on_a_large_selective_scan() {
    let (d, analysis) = diagnose_fixture("seq_scan_filter.json");
    let f = d
        .findings
        .iter()
        .find(|f| f.rule == "seq-scan")
        .expect("seq-scan finding");
    let node = &analysis.nodes[f.node_id];
    assert_eq!(node.label, "Seq Scan");
    assert_eq!(f.time_at_stake_ms, node.exclusive_time_ms.unwrap());
    assert_eq!(f.severity, Severity::for_share(f.share_at_stake));
    assert!(
        f.evidence
            .iter()
            .any(|e| e.label == "rows removed by filter")
    );
    assert!(!f.expressions.is_empty(), "names the filter");
    assert_eq!(f.doc, "docs/rules/seq-scan.md");
}

#[test]
fn seq_scan_near_miss_non_selective_filter() {
    // amount > 100 keeps ~70% of the rows: reading the table is the right plan.
    let (d, _) = diagnose_fixture("parallel_seq_scan.json");
    assert!(!rules_fired(&d).contains(&"seq-scan"), "{:?}", d.findings);
    let check = d.checks.iter().find(|c| c.rule == "seq-scan").unwrap();
    assert!(
        check
            .reason
            .contains("an index would not beat a sequential read"),
        "{}",
        check.reason
    );
}

#[test]
fn seq_scan_near_miss_index_scans_and_small_tables() {
    let (d, _) = diagnose_fixture("nested_loop_many_loops.json");
    assert!(!rules_fired(&d).contains(&"seq-scan"));
}

#[test]
fn disk_spill_fires_on_external_sort_and_batched_hash() {
    let (d, _) = diagnose_fixture("sort_external.json");
    let f = d
        .findings
        .iter()
        .find(|f| f.rule == "disk-spill")
        .expect("sort spill");
    assert!(
        f.summary.starts_with("sort spilled to disk"),
        "{}",
        f.summary
    );
    assert!(f.advice.contains("SET LOCAL work_mem"), "{}", f.advice);
    let (d, _) = diagnose_fixture("hash_join_batches.json");
    let f = d
        .findings
        .iter()
        .find(|f| f.rule == "disk-spill")
        .expect("hash spill");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.label == "hash batches" && e.value != "1")
    );
}

#[test]
fn disk_spill_near_miss_in_memory_sort() {
    let (d, _) = diagnose_fixture("cte.json");
    assert!(!rules_fired(&d).contains(&"disk-spill"), "{:?}", d.findings);
}

#[test]
fn unindexed_sort_fires_on_a_sort_over_a_table_scan() {
    let (d, analysis) = diagnose_fixture("sort_external.json");
    let f = d
        .findings
        .iter()
        .find(|f| f.rule == "unindexed-sort")
        .expect("unindexed sort");
    assert!(analysis.nodes[f.node_id].label.contains("Sort"));
    assert!(!f.expressions.is_empty(), "names the sort keys");
}

#[test]
fn unindexed_sort_near_miss_sort_over_a_cte() {
    let (d, _) = diagnose_fixture("cte.json");
    assert!(!rules_fired(&d).contains(&"unindexed-sort"));
    assert!(
        d.checks
            .iter()
            .any(|c| c.rule == "unindexed-sort" && c.reason.contains("CTE Scan")),
        "{:?}",
        d.checks
    );
}

#[test]
fn jit_overhead_fires_when_jit_dominates() {
    let (d, analysis) = diagnose_fixture("jit.json");
    let f = d
        .findings
        .iter()
        .find(|f| f.rule == "jit-overhead")
        .expect("jit finding");
    assert_eq!(f.time_at_stake_ms, analysis.jit_total_ms.unwrap());
    assert!(f.share_at_stake > 0.4);
    assert_eq!(f.severity, Severity::Warning);
}

#[test]
fn estimated_plans_give_no_findings() {
    let (d, _) = diagnose_fixture("estimated_only.json");
    assert!(d.findings.is_empty());
}

#[test]
fn findings_are_sorted_by_time_at_stake() {
    for name in [
        "sort_external.json",
        "jit.json",
        "hash_join_batches.json",
        "seq_scan_filter.json",
    ] {
        let (d, _) = diagnose_fixture(name);
        assert!(
            d.findings
                .windows(2)
                .all(|w| w[0].time_at_stake_ms >= w[1].time_at_stake_ms)
        );
    }
}

#[test]
fn severity_tiers() {
    assert_eq!(Severity::for_share(0.05), Severity::Info);
    assert_eq!(Severity::for_share(0.2), Severity::Notice);
    assert_eq!(Severity::for_share(0.5), Severity::Warning);
    assert_eq!(Severity::for_share(0.95), Severity::Critical);
}
