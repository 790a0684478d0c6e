use super::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn dump_all() {
    for name in [
        "seq_scan_filter.json",
        "parallel_seq_scan.json",
        "nested_loop_many_loops.json",
        "subplan.json",
        "initplan.json",
        "cte.json",
        "sort_external.json",
        "hash_join_batches.json",
        "jit.json",
        "estimated_only.json",
        "never_executed.json",
        "bitmap_lossy.json",
        "index_only_heap_fetches.json",
        "psql_aligned.txt",
        "psql_aligned_analyze.txt",
        "auto_explain.log",
    ] {
        let explains = parse_explain(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        for e in &explains {
            let a = analyze(e);
            println!(
                "== {name} exec={:?} total={:?} sum_excl={:.3} jit={:?}",
                a.execution_time_ms,
                a.total_time_ms,
                a.exclusive_time_sum_ms(),
                a.jit_total_ms
            );
            for n in &a.nodes {
                println!(
                    "  {:8} {:30} loops={:?} incl={:?} excl={:?} est={:?}/{:?} bufs_ex={}",
                    n.path,
                    n.label,
                    n.loops,
                    n.inclusive_time_ms,
                    n.exclusive_time_ms,
                    n.estimate_factor,
                    n.estimate_direction,
                    n.exclusive_buffers.shared_total()
                );
            }
        }
    }
}
