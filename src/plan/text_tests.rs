//! Text-format EXPLAIN, read from real psql output in `fixtures/plans/text_*` (psql 15 against
//! PostgreSQL 15 and 18; see the fixtures' README). Expectations are the files' own figures.

use super::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn only(name: &str) -> Explain {
    let mut explains = parse_explain(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(explains.len(), 1, "{name}");
    explains.remove(0)
}

fn labels(explain: &Explain) -> Vec<String> {
    explain.plan.preorder().iter().map(|n| n.label()).collect()
}

const TEXT_FIXTURES: &[&str] = &[
    "text_parallel_hash_join.txt",
    "text_sort_external.txt",
    "text_verbose_subplan_pg18.txt",
    "text_cte_estimated.txt",
    "text_memoize.txt",
    "text_never_executed_costs_off.txt",
    "text_unaligned_settings.txt",
    "text_partitions_pg18.txt",
    "text_parallel_verbose_pg18.txt",
    "text_jit_verbose.txt",
    "text_auto_explain.log",
];

#[test]
fn every_text_fixture_reads_and_analyses() {
    for name in TEXT_FIXTURES {
        let explains = parse_explain(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        for explain in &explains {
            let analysis = analyze(explain);
            assert_eq!(
                analysis.nodes.len(),
                explain.plan.preorder().len(),
                "{name}"
            );
            // Nothing of a node line is left in a name.
            for node in explain.plan.preorder() {
                let label = node.label();
                assert!(
                    !label.contains("cost=") && !label.contains("->"),
                    "{name}: {label}"
                );
            }
        }
    }
}

#[test]
fn psql_aligned_analyze_buffers_reads_every_figure() {
    let explain = only("text_parallel_hash_join.txt");
    assert_eq!(
        labels(&explain),
        [
            "Sort",
            "Finalize GroupAggregate",
            "Gather Merge",
            "Sort",
            "Partial HashAggregate",
            "Hash Join",
            "Parallel Seq Scan",
            "Hash",
            "Seq Scan"
        ]
    );
    let nodes = explain.plan.preorder();
    let root = nodes[0];
    assert_eq!(
        (root.startup_cost, root.total_cost),
        (Some(7219.93), Some(7219.94))
    );
    assert_eq!((root.plan_rows, root.plan_width), (Some(5.0), Some(43.0)));
    assert_eq!(
        (root.actual_startup_time, root.actual_total_time),
        (Some(100.641), Some(100.719))
    );
    assert_eq!(
        (root.actual_rows, root.actual_loops),
        (Some(5.0), Some(1.0))
    );
    assert_eq!(
        root.sort_key.as_deref(),
        Some(&["(count(*)) DESC".to_string()][..])
    );
    assert_eq!(root.sort_method.as_deref(), Some("quicksort"));
    assert_eq!(
        (root.sort_space_used_kb, root.sort_space_type.as_deref()),
        (Some(25), Some("Memory"))
    );
    assert_eq!(
        (
            root.buffers.shared_hit,
            root.buffers.temp_read,
            root.buffers.temp_written
        ),
        (3804, 516, 516)
    );
    assert_eq!(root.parent_relationship, None);

    let finalize = nodes[1];
    assert_eq!(finalize.node_type, NodeType::Aggregate);
    assert_eq!(finalize.strategy.as_deref(), Some("Sorted"));
    assert_eq!(finalize.partial_mode.as_deref(), Some("Finalize"));
    assert_eq!(
        finalize.group_key.as_deref(),
        Some(&["c.country".to_string()][..])
    );
    assert_eq!(finalize.parent_relationship.as_deref(), Some("Outer"));

    let gather = nodes[2];
    assert_eq!(gather.node_type, NodeType::GatherMerge);
    assert_eq!(
        (gather.workers_planned, gather.workers_launched),
        (Some(2), Some(2))
    );

    let sort = nodes[3];
    assert_eq!(sort.workers.len(), 2);
    assert_eq!(sort.workers[1].worker_number, Some(1));
    assert_eq!(sort.workers[1].sort_method.as_deref(), Some("quicksort"));
    assert_eq!(sort.workers[1].sort_space_used_kb, Some(25));

    let partial = nodes[4];
    assert_eq!(partial.strategy.as_deref(), Some("Hashed"));
    assert_eq!(partial.partial_mode.as_deref(), Some("Partial"));
    assert_eq!(
        (partial.hashagg_batches, partial.peak_memory_usage_kb),
        (Some(1), Some(24))
    );

    let join = nodes[5];
    assert_eq!(join.join_type.as_deref(), Some("Inner"));
    assert_eq!(join.hash_cond.as_deref(), Some("(o.customer_id = c.id)"));

    let scan = nodes[6];
    assert_eq!(scan.node_type, NodeType::SeqScan);
    assert_eq!(scan.parallel_aware, Some(true));
    assert_eq!(scan.relation_name.as_deref(), Some("orders"));
    assert_eq!(scan.alias.as_deref(), Some("o"));
    assert_eq!(scan.filter.as_deref(), Some("(status = 'paid'::text)"));
    assert_eq!(scan.rows_removed_by_filter, Some(75000.0));
    assert_eq!(scan.parent_relationship.as_deref(), Some("Outer"));

    let hash = nodes[7];
    assert_eq!(hash.parent_relationship.as_deref(), Some("Inner"));
    assert_eq!(
        (
            hash.hash_buckets,
            hash.hash_batches,
            hash.peak_memory_usage_kb
        ),
        (Some(4096), Some(16), Some(82))
    );
    assert_eq!(
        (hash.buffers.shared_hit, hash.buffers.temp_written),
        (384, 180)
    );
    assert_eq!(nodes[8].alias.as_deref(), Some("c"));

    assert_eq!(explain.planning_time_ms, Some(1.2));
    assert_eq!(explain.execution_time_ms, Some(100.913));
    assert_eq!(explain.planning_buffers.map(|b| b.shared_hit), Some(283));

    // The figures pgdiag derives read as they do from JSON.
    let analysis = analyze(&explain);
    assert_eq!(analysis.nodes[6].actual_rows_total, Some(75_000.0));
    assert_eq!(analysis.nodes[2].parallel_workers, Some((2, 2)));
}

#[test]
fn sorts_spilling_to_disk() {
    let explain = only("text_sort_external.txt");
    let sort = explain.plan.preorder()[2];
    assert_eq!(sort.sort_method.as_deref(), Some("external merge"));
    assert_eq!(
        (sort.sort_space_used_kb, sort.sort_space_type.as_deref()),
        (Some(6144), Some("Disk"))
    );
    assert_eq!(sort.workers[0].sort_space_used_kb, Some(4152));
    assert_eq!(sort.workers[0].sort_space_type.as_deref(), Some("Disk"));
    assert_eq!(sort.buffers.temp_written, 6744);
}

#[test]
fn verbose_subplans_and_pg18_fractional_rows() {
    let explain = only("text_verbose_subplan_pg18.txt");
    let nodes = explain.plan.preorder();
    let root = nodes[0];
    assert_eq!(root.node_type, NodeType::IndexScan);
    assert_eq!(root.index_name.as_deref(), Some("customers_pkey"));
    assert_eq!(root.scan_direction.as_deref(), Some("Forward"));
    assert_eq!(
        (
            root.schema.as_deref(),
            root.relation_name.as_deref(),
            root.alias.as_deref()
        ),
        (Some("public"), Some("customers"), Some("c"))
    );
    assert_eq!(
        root.output.as_deref(),
        Some(
            &[
                "c.id".to_string(),
                "(SubPlan 1)".to_string(),
                "c.name".to_string()
            ][..]
        )
    );
    assert_eq!(
        root.filter.as_deref(),
        Some("(c.country = (InitPlan 2).col1)")
    );
    assert_eq!(
        root.extra.get("Index Searches"),
        Some(&serde_json::json!(1))
    );
    assert_eq!(root.actual_rows, Some(10.0));

    let init = nodes[1];
    assert_eq!(init.parent_relationship.as_deref(), Some("InitPlan"));
    assert_eq!(init.subplan_name.as_deref(), Some("InitPlan 2"));
    assert_eq!(init.alias.as_deref(), Some("customers"));
    let sub = nodes[2];
    assert_eq!(sub.parent_relationship.as_deref(), Some("SubPlan"));
    assert_eq!(sub.subplan_name.as_deref(), Some("SubPlan 1"));
    assert_eq!(sub.actual_loops, Some(10.0));
    let bitmap = nodes[3];
    assert_eq!(bitmap.exact_heap_blocks, Some(150));
    assert_eq!(
        bitmap.recheck_cond.as_deref(),
        Some("(o2.customer_id = c.id)")
    );
    assert_eq!(bitmap.output.as_ref().map(Vec::len), Some(5));
    assert_eq!(nodes[4].node_type, NodeType::BitmapIndexScan);
    assert_eq!(
        nodes[4].index_name.as_deref(),
        Some("orders_customer_id_idx")
    );
    assert_eq!(
        nodes[4].extra.get("Index Searches"),
        Some(&serde_json::json!(10))
    );
}

#[test]
fn parallel_verbose_workers() {
    let explain = only("text_parallel_verbose_pg18.txt");
    let nodes = explain.plan.preorder();
    let sort = nodes[2];
    assert_eq!(sort.workers.len(), 2);
    let worker = &sort.workers[0];
    assert_eq!(worker.actual_loops, Some(1.0));
    assert!(worker.actual_total_time.is_some() && worker.actual_rows.is_some());
    assert_eq!(worker.sort_method.as_deref(), Some("quicksort"));
    assert!(worker.buffers.shared_hit > 0);
    // The workers' lines stay with their node: the node's own figures are the whole's.
    assert!(sort.buffers.shared_hit > worker.buffers.shared_hit);
    let scan = nodes[4];
    assert_eq!(scan.schema.as_deref(), Some("public"));
    assert_eq!(scan.workers.len(), 2);
    assert!(scan.workers.iter().all(|w| w.buffers.shared_hit > 0));
}

#[test]
fn cte_and_estimated_plans() {
    let explain = only("text_cte_estimated.txt");
    let nodes = explain.plan.preorder();
    assert_eq!(nodes[0].join_type.as_deref(), Some("Inner"));
    assert_eq!(
        nodes[0].merge_cond.as_deref(),
        Some("(((b1.customer_id + 1)) = b2.customer_id)")
    );
    let cte = nodes[1];
    assert_eq!(cte.parent_relationship.as_deref(), Some("InitPlan"));
    assert_eq!(cte.subplan_name.as_deref(), Some("CTE big"));
    assert_eq!(cte.defined_cte_name(), Some("big"));
    assert_eq!(nodes[3].parent_relationship.as_deref(), Some("Outer"));
    assert_eq!(nodes[5].parent_relationship.as_deref(), Some("Inner"));
    let scan = nodes[4];
    assert_eq!(scan.node_type, NodeType::CteScan);
    assert_eq!(
        (scan.cte_name.as_deref(), scan.alias.as_deref()),
        (Some("big"), Some("b1"))
    );
    assert!(nodes.iter().all(|n| n.actual_loops.is_none()));
    assert_eq!(explain.execution_time_ms, None);
    assert!(!analyze(&explain).analyzed);
}

#[test]
fn memoize_and_bitmap_scans() {
    let explain = only("text_memoize.txt");
    let nodes = explain.plan.preorder();
    assert_eq!(nodes[0].node_type, NodeType::NestedLoop);
    assert_eq!(nodes[1].node_type, NodeType::BitmapHeapScan);
    assert_eq!(nodes[1].alias.as_deref(), Some("l"));
    let memoize = nodes[3];
    assert_eq!(memoize.node_type, NodeType::Memoize);
    assert_eq!(
        memoize.extra.get("Cache Key"),
        Some(&serde_json::json!("l.product_id"))
    );
    assert_eq!(
        memoize.extra.get("Cache Hits"),
        Some(&serde_json::json!(5947))
    );
    assert_eq!(
        memoize.extra.get("Cache Misses"),
        Some(&serde_json::json!(50))
    );
    assert_eq!(memoize.peak_memory_usage_kb, Some(6));
    assert_eq!(memoize.actual_loops, Some(5997.0));
}

#[test]
fn never_executed_timing_and_costs_off() {
    let explain = only("text_never_executed_costs_off.txt");
    let nodes = explain.plan.preorder();
    let init = nodes[1];
    assert_eq!(
        init.subplan_name.as_deref(),
        Some("InitPlan 1 (returns $1)")
    );
    assert_eq!(init.parent_relationship.as_deref(), Some("InitPlan"));
    assert_eq!(
        (init.actual_loops, init.actual_rows),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(nodes[2].node_type, NodeType::Gather);
    assert_eq!(nodes[2].workers_launched, Some(0));
    for node in &nodes {
        assert_eq!(node.total_cost, None, "COSTS OFF");
        assert_eq!(node.actual_total_time, None, "TIMING OFF");
        assert!(node.actual_loops.is_some());
    }
    let customers = nodes
        .iter()
        .find(|n| n.relation_name.as_deref() == Some("customers"))
        .unwrap();
    assert_eq!(customers.rows_removed_by_filter, Some(20000.0));
    assert_eq!(explain.execution_time_ms, Some(1.904));
}

#[test]
fn unaligned_output_and_settings() {
    let explain = only("text_unaligned_settings.txt");
    assert_eq!(explain.plan.label(), "HashAggregate");
    assert_eq!(explain.plan.preorder().len(), 3);
    assert_eq!(
        explain.settings.get("random_page_cost").map(String::as_str),
        Some("1.1")
    );
    assert_eq!(explain.execution_time_ms, Some(12.198));
}

#[test]
fn partitions_are_append_members() {
    let explain = only("text_partitions_pg18.txt");
    let nodes = explain.plan.preorder();
    let append = nodes[3];
    assert_eq!(append.node_type, NodeType::Append);
    assert_eq!(append.plans.len(), 2);
    for (member, (table, alias)) in append
        .plans
        .iter()
        .zip([("measurements_2024", "m_1"), ("measurements_2025", "m_2")])
    {
        assert_eq!(member.parent_relationship.as_deref(), Some("Member"));
        assert_eq!(member.relation_name.as_deref(), Some(table));
        assert_eq!(member.alias.as_deref(), Some(alias));
    }
}

#[test]
fn jit_statement_figures() {
    let explain = only("text_jit_verbose.txt");
    let jit = explain.jit.as_ref().expect("JIT");
    assert_eq!(jit.functions, 5);
    assert_eq!(jit.options.get("Expressions"), Some(&true));
    assert_eq!(jit.options.get("Inlining"), Some(&false));
    let timing = jit.timing.as_ref().unwrap();
    assert_eq!(
        (timing.generation, timing.emission, timing.total),
        (0.397, 5.698, 6.388)
    );
    assert_eq!(explain.execution_time_ms, Some(219.57));
    assert_eq!(explain.plan.buffers.shared_read, 9);
}

#[test]
fn auto_explain_text_entries() {
    let explains = parse_explain(&fixture("text_auto_explain.log")).unwrap();
    assert_eq!(explains.len(), 2);
    assert_eq!(
        explains[0].query_text.as_deref(),
        Some("SELECT count(*) FROM orders WHERE customer_id = 77")
    );
    // No "Execution Time" in a log: the entry's duration stands for it.
    assert_eq!(explains[0].execution_time_ms, Some(0.046));
    let scan = explains[0].plan.preorder()[1];
    assert_eq!(scan.node_type, NodeType::IndexOnlyScan);
    assert_eq!(scan.heap_fetches, Some(0));
    let query = explains[1].query_text.as_deref().unwrap();
    assert_eq!(query.lines().count(), 4, "{query}");
    assert!(query.ends_with("GROUP BY c.country"), "{query}");
    assert_eq!(explains[1].plan.label(), "Finalize GroupAggregate");
    assert_eq!(explains[1].plan.preorder().len(), 8);
}

#[test]
fn jsonlog_entries_with_text_plans() {
    let message = "duration: 0.046 ms  plan:\nQuery Text: SELECT 1\nResult  (cost=0.00..0.01 rows=1 width=4) (actual time=0.001..0.001 rows=1 loops=1)";
    let line =
        serde_json::json!({"timestamp": "2026-12-03", "error_severity": "LOG", "message": message});
    let explains = parse_explain(&format!("{line}\n")).unwrap();
    assert_eq!(explains.len(), 1);
    assert_eq!(explains[0].query_text.as_deref(), Some("SELECT 1"));
    assert_eq!(explains[0].plan.node_type, NodeType::Result);
    assert_eq!(explains[0].execution_time_ms, Some(0.046));
}

#[test]
fn pasted_without_decoration_or_indentation() {
    // What explain.depesz.com and pev2 take: no header, no footer, no leading space.
    let pasted: String = fixture("text_parallel_hash_join.txt")
        .lines()
        .filter(|l| {
            !(l.trim() == "QUERY PLAN"
                || l.starts_with("---")
                || l.starts_with('(')
                || l.trim() == "SET")
        })
        .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
        .collect();
    let explains = parse_explain(&pasted).unwrap();
    assert_eq!(explains.len(), 1);
    assert_eq!(
        labels(&explains[0]),
        labels(&only("text_parallel_hash_join.txt"))
    );
    // Two plans one after the other (psql -At) are two plans.
    let two = format!("{pasted}{pasted}");
    assert_eq!(parse_explain(&two).unwrap().len(), 2);
}

#[test]
fn names_psql_writes() {
    let cases = [
        (
            "Hash Right Anti Join",
            NodeType::HashJoin,
            Some("Right Anti"),
        ),
        ("Nested Loop Semi Join", NodeType::NestedLoop, Some("Semi")),
        ("Merge Left Join", NodeType::MergeJoin, Some("Left")),
        ("Merge Join", NodeType::MergeJoin, Some("Inner")),
    ];
    for (name, node_type, join) in cases {
        let text = format!("{name}  (cost=0.00..1.00 rows=1 width=4)");
        let explain = parse_explain(&text).unwrap().remove(0);
        assert_eq!(explain.plan.node_type, node_type, "{name}");
        assert_eq!(explain.plan.join_type.as_deref(), join, "{name}");
        assert_eq!(explain.plan.label(), node_type.as_str(), "{name}");
    }
    let text = "Update on public.\"Order Lines\" ol  (cost=0.00..1.00 rows=0 width=0)\n  ->  HashSetOp Except All  (cost=0.00..1.00 rows=1 width=4)\n        ->  Function Scan on pg_catalog.generate_series g  (cost=0.00..1.00 rows=1 width=4)\n        ->  Values Scan on \"*VALUES*\"  (cost=0.00..1.00 rows=1 width=4)\n  ->  Index Only Scan Backward using \"Idx\" on t  (cost=0.00..1.00 rows=1 width=4)\n  ->  Parallel Bitmap Heap Scan on t x  (cost=0.00..1.00 rows=1 width=4)\n  ->  Subquery Scan on sub  (cost=0.00..1.00 rows=1 width=4)\n        ->  Async Foreign Scan on remote  (cost=0.00..1.00 rows=1 width=4)";
    let explain = parse_explain(text).unwrap().remove(0);
    let nodes = explain.plan.preorder();
    let root = nodes[0];
    let quoted = "Seq Scan on \"odd: name\" \"a b\"  (cost=0.00..1.00 rows=1 width=4)";
    let odd = parse_explain(quoted).unwrap().remove(0);
    assert_eq!(odd.plan.relation_name.as_deref(), Some("odd: name"));
    assert_eq!(odd.plan.alias.as_deref(), Some("a b"));
    assert_eq!(root.node_type, NodeType::ModifyTable);
    assert_eq!(root.operation.as_deref(), Some("Update"));
    assert_eq!(root.relation().as_deref(), Some("public.Order Lines"));
    assert_eq!(root.alias.as_deref(), Some("ol"));
    assert_eq!(nodes[1].node_type, NodeType::SetOp);
    assert_eq!(nodes[1].label(), "HashSetOp");
    assert_eq!(
        nodes[1].extra.get("Command"),
        Some(&serde_json::json!("Except All"))
    );
    assert_eq!(nodes[2].function_name.as_deref(), Some("generate_series"));
    assert_eq!(nodes[2].schema.as_deref(), Some("pg_catalog"));
    assert_eq!(nodes[2].alias.as_deref(), Some("g"));
    assert_eq!(nodes[3].alias.as_deref(), Some("*VALUES*"));
    assert_eq!(nodes[3].parent_relationship.as_deref(), Some("Inner"));
    assert_eq!(nodes[4].scan_direction.as_deref(), Some("Backward"));
    assert_eq!(nodes[4].index_name.as_deref(), Some("Idx"));
    assert_eq!(nodes[5].label(), "Parallel Bitmap Heap Scan");
    assert_eq!(nodes[6].alias.as_deref(), Some("sub"));
    assert_eq!(nodes[7].parent_relationship.as_deref(), Some("Subquery"));
    assert_eq!(nodes[7].label(), "Async Foreign Scan");
}

#[test]
fn unknown_lines_are_kept_and_bad_text_names_its_line() {
    let text = "Seq Scan on t  (cost=0.00..1.00 rows=1 width=4)\n  Frobnication: 12\n  a line of its own\n  ->  Quantum Scan on t  (cost=0.00..1.00 rows=1 width=4)\nSomething New: yes";
    let explain = parse_explain(text).unwrap().remove(0);
    assert_eq!(
        explain.plan.extra.get("Frobnication"),
        Some(&serde_json::json!(12))
    );
    assert!(explain.plan.extra.contains_key("a line of its own"));
    assert_eq!(
        explain.plan.plans[0].node_type,
        NodeType::Other("Quantum Scan".to_string())
    );
    assert_eq!(
        explain.extra.get("Something New"),
        Some(&serde_json::json!("yes"))
    );

    let text = "EXPLAIN\n  ->  Seq Scan on t  (cost=0.00..1.00 rows=1 width=4)";
    match parse_explain(text).unwrap_err() {
        ParseError::TextPlan { line, message } => {
            assert_eq!(line, 2);
            assert!(message.contains("before any plan root"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let text =
        "Seq Scan on t  (cost=0.00..1.00 rows=1 width=4)\n  ->  (cost=0.00..1.00 rows=1 width=4)";
    let error = parse_explain(text).unwrap_err();
    assert!(
        matches!(error, ParseError::TextPlan { line: 2, .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains('\n'));
    assert!(error.to_string().contains("line 2"), "{error}");
}

#[test]
fn text_plans_round_trip_through_json() {
    // A report echoes the plan as JSON: what the text gave reads back the same.
    for name in TEXT_FIXTURES {
        for explain in parse_explain(&fixture(name)).unwrap() {
            let json = serde_json::to_string(&[&explain]).unwrap();
            let again = parse_explain(&json).unwrap().remove(0);
            assert_eq!(labels(&again), labels(&explain), "{name}");
            assert_eq!(
                serde_json::to_value(&again).unwrap(),
                serde_json::to_value(&explain).unwrap(),
                "{name}"
            );
        }
    }
}

#[test]
fn hostile_text_never_panics() {
    let text = fixture("text_parallel_hash_join.txt");
    for cut in (0..text.len()).step_by(53) {
        if let Ok(explains) = parse_explain(&text[..cut]) {
            explains.iter().for_each(|e| drop(analyze(e)));
        }
    }
    let deep: String = (0..1500)
        .map(|i| {
            format!(
                "{}->  Seq Scan on t  (cost=0.00..1.00 rows=1 width=4)\n",
                " ".repeat(2 + i * 6)
            )
        })
        .collect();
    let input = format!("Nested Loop  (cost=0.00..1.00 rows=1 width=4)\n{deep}");
    let explains = parse_explain(&input).unwrap();
    assert_eq!(explains[0].plan.preorder().len(), 1501);
    for garbage in [
        "->",
        "-> ->",
        "(cost=)",
        "Seq Scan (cost=a..b rows=c width=d)",
        "->  \u{0}",
    ] {
        let _ = parse_explain(garbage);
    }
}
