//! Synthetic EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) documents of a chosen depth or size, for the
//! tests and benchmarks of large and deep plans (`cargo run --example big_inputs` writes them to
//! files). Built as text with loops, so generating one never recurses either.

use std::fmt::Write;

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
}
