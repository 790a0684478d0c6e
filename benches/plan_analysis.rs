//! Parse and analysis cost of a large plan: a synthetic 10,000-node EXPLAIN (ANALYZE, BUFFERS)
//! document mixing Nested Loop / Hash Join / Seq Scan / Index Scan with loops, a Gather and a CTE
//! read by two CTE Scans. `cargo bench --bench plan_analysis`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pgdiag::plan::{analyze, parse_explain};
use serde_json::{Value, json};

const TARGET_NODES: usize = 10_000;

/// Builds plan JSON bottom-up so that every parent's time covers its children, like a real plan.
struct PlanGenerator {
    nodes_made: usize,
}

impl PlanGenerator {
    fn node(
        &mut self,
        node_type: &str,
        relationship: &str,
        loops: f64,
        own_ms: f64,
        children: Vec<(Value, f64)>,
    ) -> (Value, f64) {
        self.nodes_made += 1;
        let seed = self.nodes_made as f64;
        let children_ms: f64 = children.iter().map(|(_, ms)| ms).sum();
        let per_loop_ms = (own_ms + children_ms) / loops;
        let rows = (seed * 7.0) % 500.0 + 1.0;
        let mut node = json!({
            "Node Type": node_type,
            "Parent Relationship": relationship,
            "Parallel Aware": false,
            "Async Capable": false,
            "Startup Cost": seed * 0.01,
            "Total Cost": seed * 1.5,
            "Plan Rows": rows.round(),
            "Plan Width": 16,
            "Actual Startup Time": per_loop_ms / 10.0,
            "Actual Total Time": per_loop_ms,
            "Actual Rows": (rows * 1.3).round(),
            "Actual Loops": loops,
            "Shared Hit Blocks": 100 + self.nodes_made,
            "Shared Read Blocks": 10,
            "Shared Dirtied Blocks": 0,
            "Shared Written Blocks": 0,
            "Local Hit Blocks": 0,
            "Local Read Blocks": 0,
            "Local Dirtied Blocks": 0,
            "Local Written Blocks": 0,
            "Temp Read Blocks": 0,
            "Temp Written Blocks": 0,
        });
        if node_type.ends_with("Scan") {
            node["Relation Name"] = json!(format!("table_{}", self.nodes_made % 37));
            node["Alias"] = json!(format!("t{}", self.nodes_made));
            node["Filter"] = json!("(status = 'paid'::text)");
            node["Rows Removed by Filter"] = json!(rows * 3.0);
        }
        if node_type == "Index Scan" {
            node["Index Name"] = json!(format!("table_{}_pkey", self.nodes_made % 37));
            node["Index Cond"] = json!("(id = o.customer_id)");
        }
        if !children.is_empty() {
            node["Plans"] = Value::Array(children.into_iter().map(|(child, _)| child).collect());
        }
        let total_ms = per_loop_ms * loops;
        (node, total_ms)
    }

    /// A join tree of exactly `count` nodes; balanced, so the depth stays near log2(count) and far
    /// from serde_json's nesting limit.
    fn tree(&mut self, count: usize, relationship: &str, loops: f64) -> (Value, f64) {
        match count {
            0 | 1 => {
                let scan = if self.nodes_made % 3 == 0 {
                    "Index Scan"
                } else {
                    "Seq Scan"
                };
                self.node(scan, relationship, loops, 0.05 * loops, Vec::new())
            }
            2 => {
                let child = self.tree(1, "Outer", loops);
                self.node("Sort", relationship, loops, 0.02 * loops, vec![child])
            }
            _ if count < 4 || self.nodes_made % 2 == 0 => {
                // Nested Loop: the inner side runs once per outer row.
                let rest = count - 1;
                let outer = self.tree(rest / 2, "Outer", loops);
                let inner = self.tree(rest - rest / 2, "Inner", (loops * 20.0).min(100_000.0));
                self.node(
                    "Nested Loop",
                    relationship,
                    loops,
                    0.1 * loops,
                    vec![outer, inner],
                )
            }
            _ => {
                // Hash Join: the inner side is a Hash node over a subtree.
                let rest = count - 2;
                let outer = self.tree(rest / 2, "Outer", loops);
                let build = self.tree(rest - rest / 2, "Outer", loops);
                let hash = self.node("Hash", "Inner", loops, 0.3 * loops, vec![build]);
                self.node(
                    "Hash Join",
                    relationship,
                    loops,
                    0.2 * loops,
                    vec![outer, hash],
                )
            }
        }
    }

    fn document(&mut self) -> String {
        // Root Hash Join = CTE InitPlan + Gather subtree (outer) + Hash over two CTE Scans (inner).
        let cte_size = 40;
        let reserved = 1 + cte_size + 1 + 1 + 1 + 2;
        let (mut cte, cte_ms) = self.tree(cte_size, "InitPlan", 1.0);
        cte["Subplan Name"] = json!("CTE shared");
        let parallel = self.tree(TARGET_NODES - reserved, "Outer", 3.0);
        let (mut gather, gather_ms) = self.node(
            "Gather",
            "Outer",
            1.0,
            1.0 - parallel.1 * 2.0 / 3.0,
            vec![parallel],
        );
        gather["Workers Planned"] = json!(2);
        gather["Workers Launched"] = json!(2);
        let mut scans = Vec::new();
        for share in [0.7, 0.3] {
            let (mut scan, ms) =
                self.node("CTE Scan", "Outer", 1.0, 0.5 + cte_ms * share, Vec::new());
            scan["CTE Name"] = json!("shared");
            scans.push((scan, ms));
        }
        let (append, append_ms) = self.node("Append", "Outer", 1.0, 0.1, scans);
        let hash = self.node("Hash", "Inner", 1.0, 0.2, vec![(append, append_ms)]);
        let (root, _) = self.node(
            "Hash Join",
            "",
            1.0,
            2.0,
            vec![(cte, 0.0), (gather, gather_ms), hash],
        );
        serde_json::to_string_pretty(&json!([{
            "Plan": root,
            "Settings": {"work_mem": "64MB"},
            "Planning Time": 12.5,
            "Execution Time": 5000.0,
        }]))
        .unwrap()
    }
}

fn bench_plan_analysis(c: &mut Criterion) {
    let text = PlanGenerator { nodes_made: 0 }.document();
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
