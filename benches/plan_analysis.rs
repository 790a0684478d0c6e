//! Parse and analysis cost of a large plan: a synthetic 10,000-node EXPLAIN (ANALYZE, BUFFERS)
//! document mixing Nested Loop / Hash Join / Seq Scan / Index Scan with loops, a Gather and a CTE
//! read by two CTE Scans; the whole of `explain --plan` on it (parse, analysis, diagnosis, advice,
//! the text and the JSON report); and the same for a 1,000-level plan (a 1,000-table join's
//! depth). `cargo bench --bench plan_analysis`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pgdiag::commands::explain::offline_report;
use pgdiag::diagnose::DiagnoseConfig;
use pgdiag::plan::synthetic::{deep_plan, wide_plan};
use pgdiag::plan::{analyze, parse_explain};
use pgdiag::report::{self, Source, SourceKind, TextStyle};

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
    group.bench_function("explain_plan_text", |b| {
        b.iter(|| explain_offline(black_box(&text), false))
    });
    group.bench_function("explain_plan_json", |b| {
        b.iter(|| explain_offline(black_box(&text), true))
    });
    group.finish();

    let deep = deep_plan(1_000);
    let mut group = c.benchmark_group("plan_1000_levels");
    group.sample_size(10);
    group.bench_function("explain_plan_text", |b| {
        b.iter(|| explain_offline(black_box(&deep), false))
    });
    group.bench_function("explain_plan_json", |b| {
        b.iter(|| explain_offline(black_box(&deep), true))
    });
    group.finish();
}

/// What `pgdiag explain --plan FILE [--format json]` does after reading the file.
fn explain_offline(text: &str, json: bool) -> usize {
    let explains = parse_explain(text).unwrap();
    let source = Source {
        kind: SourceKind::PlanFile,
        path: None,
    };
    let report = offline_report(source, &explains, &DiagnoseConfig::default());
    let mut out = Vec::new();
    if json {
        report::render_json(&mut out, &report).unwrap();
    } else {
        let style = TextStyle {
            color: false,
            width: None,
            verbose: false,
        };
        report::text::render(&mut out, &report, style).unwrap();
    }
    out.len()
}

criterion_group!(benches, bench_plan_analysis);
criterion_main!(benches);
