//! Parse and analysis cost of a large plan: a synthetic 10,000-node EXPLAIN (ANALYZE, BUFFERS)
//! document mixing Nested Loop / Hash Join / Seq Scan / Index Scan with loops, a Gather and a CTE
//! read by two CTE Scans. `cargo bench --bench plan_analysis`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pgdiag::plan::synthetic::wide_plan;
use pgdiag::plan::{analyze, parse_explain};

const TARGET_NODES: usize = 10_000;

fn bench_plan_analysis(c: &mut Criterion) {
    let text = wide_plan(TARGET_NODES);
    let explains = parse_explain(&text).expect("synthetic plan parses");
    let node_count = analyze(&explains[0]).nodes.len();
    assert_eq!(node_count, TARGET_NODES);
    eprintln!(
        "synthetic plan: {node_count} nodes, {} bytes of JSON",
        text.len()
    );

    let mut group = c.benchmark_group("plan_10k_nodes");
    group.sample_size(20);
    group.bench_function("parse_explain", |b| {
        b.iter(|| parse_explain(black_box(&text)).unwrap())
    });
    group.bench_function("analyze", |b| b.iter(|| analyze(black_box(&explains[0]))));
    group.bench_function("parse_and_analyze", |b| {
        b.iter(|| {
            let explains = parse_explain(black_box(&text)).unwrap();
            analyze(&explains[0])
        })
    });
    group.finish();
}

criterion_group!(benches, bench_plan_analysis);
criterion_main!(benches);
