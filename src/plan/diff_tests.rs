//! The plan difference on real before/after plans (`fixtures/plans/diff_*.json`, see its README)
//! and on small trees written out.

use super::*;
use crate::plan::{PlanNodes, parse_explain};

fn plan(name: &str) -> PlanNodes {
    let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut explains = parse_explain(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    PlanNodes::of(&explains.remove(0))
}

/// Each change as `kind before-key -> after-key`, for assertions that read like the plans.
fn described(diff: &PlanDiff, before: &[DiffNode], after: &[DiffNode]) -> Vec<String> {
    diff.changes
        .iter()
        .map(|c| {
            let side = |nodes: &[DiffNode], at: Option<usize>| {
                at.map(|i| nodes[i].key.clone()).unwrap_or("-".into())
            };
            format!(
                "{} {} -> {}",
                c.kind.as_str(),
                side(before, c.before),
                side(after, c.after)
            )
        })
        .collect()
}

fn compare(before: &str, after: &str) -> (PlanDiff, Vec<String>) {
    let (before, after) = (plan(before), plan(after));
    assert!(before.analyzed && after.analyzed);
    let (b, a) = (
        diff_nodes(&before.nodes, true),
        diff_nodes(&after.nodes, true),
    );
    let diff = diff_reports(&before.nodes, true, &after.nodes, true);
    let words = described(&diff, &b, &a);
    (diff, words)
}

#[test]
fn a_seq_scan_replaced_by_a_bitmap_scan_of_the_new_index() {
    let (diff, words) = compare("diff_seq_scan_before.json", "diff_seq_scan_after.json");
    assert_eq!(
        words,
        [
            "replaced Seq Scan on orders -> Bitmap Heap Scan on orders",
            "added - -> Bitmap Index Scan using orders_customer_id_idx",
        ]
    );
    assert_eq!(diff.before_changed(), BTreeSet::from([0]));
    assert_eq!(diff.after_changed(), BTreeSet::from([0, 1]));
    assert!(diff.matched.is_empty());
}

#[test]
fn a_sort_that_disappears_over_its_scan_now_read_in_index_order() {
    let (diff, words) = compare("diff_sort_before.json", "diff_sort_after.json");
    // The Limit stays (237 ms → 0.02 ms: faster), the Sort goes, the scan is replaced.
    assert_eq!(
        words,
        [
            "faster Limit -> Limit",
            "removed Sort -> -",
            "replaced Seq Scan on orders -> Index Scan using orders_created_at_idx on orders",
        ]
    );
    assert_eq!(diff.matched, [(0, 0)]);
    assert_eq!(diff.before_changed(), BTreeSet::from([0, 1, 2]));
    assert_eq!(diff.after_changed(), BTreeSet::from([0, 1]));
}

#[test]
fn a_plan_against_itself_has_no_change() {
    let (diff, words) = compare("diff_sort_before.json", "diff_sort_before.json");
    assert!(words.is_empty(), "{words:?}");
    assert_eq!(diff.matched, [(0, 0), (1, 1), (2, 2)]);
}

fn tree(nodes: &[(Option<usize>, &str, Option<f64>)]) -> Vec<DiffNode> {
    nodes
        .iter()
        .map(|(parent, key, weight)| DiffNode {
            parent: *parent,
            key: (*key).to_owned(),
            relation: key.rsplit_once(" on ").map(|(_, r)| r.to_owned()),
            weight: *weight,
        })
        .collect()
}

#[test]
fn times_change_a_node_only_by_the_factor_and_beyond_a_share_of_the_plan() {
    let before = tree(&[
        (None, "Hash Join", Some(100.0)),
        (Some(0), "Seq Scan on a", Some(60.0)),
        (Some(0), "Hash", Some(30.0)),
        (Some(2), "Seq Scan on b", Some(0.2)),
    ]);
    let after = tree(&[
        (None, "Hash Join", Some(160.0)),
        // 60 → 119: 1.98×, under the factor.
        (Some(0), "Seq Scan on a", Some(119.0)),
        // 30 → 10: 3× faster.
        (Some(0), "Hash", Some(10.0)),
        // 0.2 → 1.2: 6×, but 1 ms is under 1% of the larger plan (160 ms).
        (Some(2), "Seq Scan on b", Some(1.2)),
    ]);
    let diff = diff(&before, &after);
    assert_eq!(
        described(&diff, &before, &after),
        ["faster Hash -> Hash"],
        "{diff:?}"
    );
    assert_eq!(diff.matched.len(), 4);
}

#[test]
fn children_align_by_what_they_are_and_the_rest_by_position() {
    let before = tree(&[
        (None, "Append", None),
        (Some(0), "Seq Scan on p1", None),
        (Some(0), "Seq Scan on p2", None),
        (Some(0), "Seq Scan on p3", None),
    ]);
    let after = tree(&[
        (None, "Append", None),
        (Some(0), "Seq Scan on p1", None),
        (Some(0), "Index Scan using p2_idx on p2", None),
        (Some(2), "Sub", None),
        (Some(0), "Seq Scan on p3", None),
        (Some(0), "Seq Scan on p4", None),
    ]);
    let diff = diff(&before, &after);
    assert_eq!(
        described(&diff, &before, &after),
        [
            "added - -> Seq Scan on p4",
            "replaced Seq Scan on p2 -> Index Scan using p2_idx on p2",
            "added - -> Sub",
        ]
    );
}

#[test]
fn a_node_added_above_an_unchanged_one_leaves_that_one_matched() {
    let before = tree(&[(None, "Seq Scan on t", Some(10.0))]);
    let after = tree(&[
        (None, "Gather", Some(10.0)),
        (Some(0), "Parallel Seq Scan on t", Some(9.0)),
    ]);
    let diff = diff(&before, &after);
    assert_eq!(
        described(&diff, &before, &after),
        [
            "added - -> Gather",
            "replaced Seq Scan on t -> Parallel Seq Scan on t"
        ]
    );
    let same = tree(&[
        (None, "Materialize", None),
        (Some(0), "Seq Scan on t", None),
    ]);
    let diff = super::diff(&before, &same);
    assert_eq!(described(&diff, &before, &same), ["added - -> Materialize"]);
    assert_eq!(diff.matched, [(0, 1)]);
}

#[test]
fn one_side_empty_is_all_added_or_all_removed() {
    let plan = tree(&[(None, "Sort", None), (Some(0), "Seq Scan on t", None)]);
    assert_eq!(diff(&plan, &[]).before_changed(), BTreeSet::from([0, 1]));
    assert_eq!(diff(&[], &plan).after_changed(), BTreeSet::from([0, 1]));
    assert!(diff(&[], &[]).is_empty());
}

#[test]
fn shape_lines_read_as_a_tree_by_their_indentation() {
    let lines: Vec<String> = [
        "Aggregate",
        "  Hash Join",
        "    Seq Scan on public.a",
        "    Hash",
        "      Index Scan using b_pkey on public.b",
        "  [SubPlan 1] Result",
    ]
    .map(String::from)
    .to_vec();
    let nodes = shape_nodes(&lines);
    let parents: Vec<Option<usize>> = nodes.iter().map(|n| n.parent).collect();
    assert_eq!(parents, [None, Some(0), Some(1), Some(1), Some(3), Some(0)]);
    assert_eq!(nodes[4].key, "Index Scan using b_pkey on public.b");
    assert_eq!(nodes[4].relation.as_deref(), Some("public.b"));
    assert_eq!(nodes[3].relation, None);
}

#[test]
fn a_deep_plan_is_compared_without_recursion() {
    let depth: usize = 50_000;
    let chain: Vec<DiffNode> = (0..depth)
        .map(|i| DiffNode {
            parent: i.checked_sub(1),
            key: "Nested Loop".into(),
            relation: None,
            weight: None,
        })
        .collect();
    let mut other = chain.clone();
    other[depth - 1].key = "Seq Scan on t".into();
    let diff = diff(&chain, &other);
    assert_eq!(diff.matched.len(), depth - 1);
    assert_eq!(diff.after_changed(), BTreeSet::from([depth - 1]));
}
