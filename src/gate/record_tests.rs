//! Plan records from the real PostgreSQL plans in `fixtures/plans/`; the expected shapes are read
//! off each fixture's node tree by hand.

use super::*;
use crate::diagnose::{Thresholds, diagnose};
use crate::plan::{analyze, parse_explain};

fn explain(name: &str) -> Explain {
    let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let mut explains = parse_explain(&text).unwrap_or_else(|error| panic!("{name}: {error}"));
    assert_eq!(explains.len(), 1, "{name}");
    explains.remove(0)
}

fn record(name: &str) -> PlanRecord {
    record_plan(&explain(name), None, None)
}

#[test]
fn shape_of_nested_loop_names_join_type_indexes_and_relations() {
    let plan = record("nested_loop_many_loops.json");
    assert_eq!(
        plan.shape,
        [
            "Nested Loop (Inner)",
            "  Index Scan using customers_pkey on customers",
            "  Index Scan using orders_customer_id_idx on orders",
        ]
    );
    assert!(plan.seq_scans.is_empty());
    assert_eq!(plan.indexes, ["customers_pkey", "orders_customer_id_idx"]);
    assert_eq!(plan.total_cost, 38997.25);
    assert_eq!(plan.planned_rows, 100000.0);
    assert!(plan.findings.is_empty());
    assert_eq!(plan.timing, None);
}

#[test]
fn shape_of_cte_prefixes_the_subplan_and_names_the_cte_scanned() {
    let plan = record("cte.json");
    assert_eq!(
        plan.shape,
        [
            "Merge Join (Inner)",
            "  [CTE per_customer] HashAggregate",
            "    Bitmap Heap Scan on orders",
            "      Bitmap Index Scan using orders_created_at_idx",
            "  Sort",
            "    CTE Scan on per_customer",
            "  Sort",
            "    CTE Scan on per_customer",
        ]
    );
    assert!(plan.seq_scans.is_empty());
    assert_eq!(plan.indexes, ["orders_created_at_idx"]);
}

#[test]
fn shape_of_parallel_seq_scan_leaves_worker_counts_out() {
    let plan = record("parallel_seq_scan.json");
    assert_eq!(
        plan.shape,
        [
            "Finalize Aggregate",
            "  Gather",
            "    Partial Aggregate",
            "      Parallel Seq Scan on orders",
        ]
    );
    // A parallel seq scan is a "Seq Scan" node with Parallel Aware set.
    assert_eq!(plan.seq_scans, ["orders"]);
    assert!(plan.indexes.is_empty());
}

#[test]
fn initplan_parameter_numbers_are_not_part_of_the_shape() {
    let plan = record("initplan.json");
    assert_eq!(
        plan.shape,
        [
            "Bitmap Heap Scan on orders",
            "  [InitPlan 1] Aggregate",
            "    Bitmap Heap Scan on orders",
            "      Bitmap Index Scan using orders_customer_id_idx",
            "  Bitmap Index Scan using orders_customer_id_idx",
        ]
    );
    // Used twice, listed once.
    assert_eq!(plan.indexes, ["orders_customer_id_idx"]);
}

#[test]
fn subplan_and_index_only_scan_are_recorded() {
    let plan = record("subplan.json");
    assert_eq!(
        plan.shape,
        [
            "Index Scan using customers_pkey on customers",
            "  [SubPlan 1] Aggregate",
            "    Index Only Scan using orders_customer_id_idx on orders",
        ]
    );
    assert_eq!(plan.indexes, ["customers_pkey", "orders_customer_id_idx"]);
}

#[test]
fn schema_qualified_relations_are_recorded_with_their_schema() {
    let plan = record("index_filter_waste.json");
    assert_eq!(
        plan.shape,
        [
            "Bitmap Heap Scan on public.people",
            "  Bitmap Index Scan using people_status_idx",
        ]
    );
}

#[test]
fn the_same_plan_recorded_twice_is_equal() {
    for name in [
        "nested_loop_many_loops.json",
        "cte.json",
        "parallel_seq_scan.json",
    ] {
        assert_eq!(record(name), record(name), "{name}");
    }
}

#[test]
fn costs_rows_and_workers_do_not_change_the_shape() {
    let original = explain("parallel_seq_scan.json");
    let mut edited = original.clone();
    let mut pending = vec![&mut edited.plan];
    while let Some(node) = pending.pop() {
        node.total_cost = node.total_cost.map(|cost| cost * 1.37);
        node.startup_cost = node.startup_cost.map(|cost| cost * 1.37);
        node.plan_rows = node.plan_rows.map(|rows| rows * 3.0);
        node.plan_width = node.plan_width.map(|width| width + 8.0);
        node.actual_total_time = node.actual_total_time.map(|ms| ms * 2.0);
        if node.workers_planned.is_some() {
            node.workers_planned = Some(4);
        }
        pending.extend(node.plans.iter_mut());
    }
    let before = record_plan(&original, None, None);
    let after = record_plan(&edited, None, None);
    assert_eq!(before.shape, after.shape);
    assert_eq!(before.seq_scans, after.seq_scans);
    assert_eq!(before.indexes, after.indexes);
    assert_ne!(before.total_cost, after.total_cost);
    assert_eq!(after.total_cost, 15530.24 * 1.37);
}

#[test]
fn a_change_of_join_type_changes_the_shape() {
    let original = explain("nested_loop_many_loops.json");
    let mut edited = original.clone();
    edited.plan.join_type = Some("Left".to_string());
    let after = record_plan(&edited, None, None);
    assert_eq!(after.shape[0], "Nested Loop (Left)");
    assert_ne!(record_plan(&original, None, None).shape, after.shape);
}

#[test]
fn findings_and_timing_are_recorded_sorted() {
    let plan = explain("seq_scan_filter.json");
    let analysis = analyze(&plan);
    let diagnosis = diagnose(&plan, &analysis, &Thresholds::default());
    assert!(
        !diagnosis.findings.is_empty(),
        "fixture should have findings"
    );
    let timing = Timing {
        runs: 3,
        median_ms: 12.5,
        min_ms: 11.0,
        max_ms: 14.0,
    };
    let record = record_plan(&plan, Some(&diagnosis), Some(timing.clone()));
    assert_eq!(record.findings.len(), diagnosis.findings.len());
    assert!(record.findings.is_sorted());
    assert!(
        record
            .findings
            .iter()
            .any(|finding| finding.rule == "seq-scan"
                && finding.relation.as_deref() == Some("orders"))
    );
    assert_eq!(record.timing, Some(timing));
    assert_eq!(record.seq_scans, ["orders"]);
}
