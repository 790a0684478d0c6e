//! Synthetic EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) documents of a chosen depth or size, for the
//! tests and benchmarks of large and deep plans (`cargo run --example big_inputs` writes them to
//! files). Built as text with loops, so generating one never recurses either.

use std::fmt::Write;

use serde_json::{Value, json};

/// A left-deep chain of `levels` Nested Loops (each with an Index Scan as its inner side) over
/// a Seq Scan: `levels` plan levels, `2 × levels - 1` nodes, JSON nested `2 × levels` deep. The
/// shape a many-table join takes.
pub fn deep_plan(levels: usize) -> String {
    let levels = levels.max(1);
    let mut text = String::with_capacity(levels * 420);
    text.push_str("[{\"Plan\": ");
    // Top-down: level `levels - 1` is the root, level 0 the Seq Scan at the bottom.
    for level in (1..levels).rev() {
        let total = 0.02 + level as f64 * 0.01;
        let _ = write!(
            text,
            "{{\"Node Type\": \"Nested Loop\", \"Parent Relationship\": \"{}\", \
             \"Join Type\": \"Inner\", \"Startup Cost\": 0.0, \"Total Cost\": {level}.0, \
             \"Plan Rows\": 1, \"Plan Width\": 8, \"Actual Startup Time\": 0.01, \
             \"Actual Total Time\": {total:.3}, \"Actual Rows\": 1, \"Actual Loops\": 1, \
             \"Shared Hit Blocks\": {hits}, \"Shared Read Blocks\": 0, \"Plans\": [",
            if level == levels - 1 { "" } else { "Outer" },
            hits = 3 * level + 2,
        );
    }
    text.push_str(
        "{\"Node Type\": \"Seq Scan\", \"Parent Relationship\": \"Outer\", \
         \"Relation Name\": \"t0\", \"Alias\": \"t0\", \"Startup Cost\": 0.0, \
         \"Total Cost\": 1.0, \"Plan Rows\": 1, \"Plan Width\": 8, \
         \"Actual Startup Time\": 0.005, \"Actual Total Time\": 0.01, \"Actual Rows\": 1, \
         \"Actual Loops\": 1, \"Filter\": \"(t0.x = 1)\", \"Rows Removed by Filter\": 5, \
         \"Shared Hit Blocks\": 2, \"Shared Read Blocks\": 0}",
    );
    // Bottom-up: close each Nested Loop after its inner Index Scan.
    for level in 1..levels {
        let _ = write!(
            text,
            ", {{\"Node Type\": \"Index Scan\", \"Parent Relationship\": \"Inner\", \
             \"Scan Direction\": \"Forward\", \"Index Name\": \"t{level}_pkey\", \
             \"Relation Name\": \"t{level}\", \"Alias\": \"t{level}\", \"Startup Cost\": 0.0, \
             \"Total Cost\": 0.5, \"Plan Rows\": 1, \"Plan Width\": 8, \
             \"Actual Startup Time\": 0.001, \"Actual Total Time\": 0.002, \"Actual Rows\": 1, \
             \"Actual Loops\": 1, \"Index Cond\": \"(t{level}.id = t{previous}.id)\", \
             \"Shared Hit Blocks\": 1, \"Shared Read Blocks\": 0}}]}}",
            previous = level - 1,
        );
    }
    let _ = write!(
        text,
        ", \"Planning Time\": 1.0, \"Execution Time\": {:.3}}}]",
        0.05 + levels as f64 * 0.01
    );
    text
}

/// A plan of exactly `nodes` nodes (at least 50) shaped like a large analytic query: Nested Loop /
/// Hash Join / Seq Scan / Index Scan with loops, a Gather over most of it and a CTE read by two
/// CTE Scans; balanced, so it stays shallow. Indented as PostgreSQL prints it (10,000 nodes make
/// about 24 MB).
pub fn wide_plan(nodes: usize) -> String {
    PlanGenerator {
        nodes_made: 0,
        target: nodes.max(50),
    }
    .document()
}

/// Builds plan JSON bottom-up so that every parent's time covers its children, like a real plan.
struct PlanGenerator {
    nodes_made: usize,
    target: usize,
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
        let parallel = self.tree(self.target - reserved, "Outer", 3.0);
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
        let document = json!([{
            "Plan": root,
            "Settings": {"work_mem": "64MB"},
            "Planning Time": 12.5,
            "Execution Time": 5000.0,
        }]);
        serde_json::to_string_pretty(&document).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_plan_is_one_valid_document_of_the_asked_depth() {
        let value: serde_json::Value = crate::plan::deep::from_str(&deep_plan(3)).unwrap();
        let root = &value[0]["Plan"];
        assert_eq!(root["Node Type"], "Nested Loop");
        assert_eq!(root["Plans"][0]["Plans"][0]["Node Type"], "Seq Scan");
        assert_eq!(root["Plans"][1]["Index Name"], "t2_pkey");
        crate::plan::deep::drop_value(value);
    }

    #[test]
    fn wide_plan_has_the_asked_node_count() {
        let explains = crate::plan::parse_explain(&wide_plan(500)).unwrap();
        assert_eq!(crate::plan::analyze(&explains[0]).nodes.len(), 500);
    }
}
