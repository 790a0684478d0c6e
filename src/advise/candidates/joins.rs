//! Join-key candidates: the index a DBA puts "on every foreign-key column", found from the plan
//! rather than the catalog (many schemas declare no foreign keys, and a key no statement joins on
//! needs no index). A large table read whole to feed a join — hash or merge; inner, semi or anti,
//! which is how `EXISTS`, `IN` and `NOT EXISTS` are planned — whose other side brings few rows
//! could instead be probed once per such row through an index on its join columns; a scan inside a
//! correlated SubPlan, run once per outer row and filtering on that row's value, the same.
//!
//! Whether the probes could win is judged against the planner's own floor for them: an index
//! probe costs at least its descent (`cpu_operator_cost` per comparison down the tree and 50 per
//! level, as `btcostestimate` charges) and the CPU of each row it returns. When even that floor,
//! times the probes, costs more than reading the table and hashing or sorting it, no index nested
//! loop can win and nothing is proposed, with the numbers; otherwise the candidate goes to
//! verification, which has the last word.
//!
//! The candidate keeps to the join columns when they alone fetch a small share of the table: the
//! rest of the scan's filter is then checked on the few rows fetched, and a narrow index on the
//! join key serves every statement that joins on it. Only when the join key alone would fetch a
//! large share do the filter's equality columns follow it.

use crate::plan::{NodeType, PlanNode};
use crate::units::{fmt_count, fmt_pct};

use super::super::conditions::{PredicateKind, parse_condition};
use super::{Indexed, kinds, table_ref};

/// PostgreSQL's default `cpu_operator_cost`: one comparison on the way down a btree.
const CPU_OPERATOR_COST: f64 = 0.0025;
/// What `btcostestimate` charges per tree level descended, in `cpu_operator_cost`s
/// (`DEFAULT_PAGE_CPU_MULTIPLIER`); a btree over a table worth a join key has at least a root and
/// a leaf level.
const PAGE_CPU_MULTIPLIER: f64 = 50.0;
const MIN_TREE_LEVELS: f64 = 2.0;
/// The CPU of one row an index scan returns: `cpu_index_tuple_cost` + `cpu_tuple_cost` + one
/// `cpu_operator_cost` for its index condition.
const ROW_CPU_COST: f64 = 0.005 + 0.01 + 0.0025;
/// The join key alone is a good index when its probes fetch at most this share of the table: the
/// rest of the filter is then checked on few rows.
const JOIN_KEY_ALONE_MAX_SHARE: f64 = 0.05;

/// A join one of whose inputs is a table scan (directly, or through nodes that pass its rows on).
#[derive(Debug, Clone, Copy)]
pub(super) struct JoinInput {
    pub join: usize,
    /// The join's input on the scan's side (the scan or the Hash, Sort... above it).
    pub top: usize,
    /// The join's other input.
    pub other: usize,
    /// Whether the scan's side is the inner (second) input.
    pub inner: bool,
}

/// What an index on the join key would do instead of reading the table whole.
#[derive(Debug, Clone, Copy)]
pub(super) struct Probe {
    pub join: usize,
    /// Rows of the table (per execution of the scan).
    pub table_rows: f64,
    /// Rows of the join key the probes would fetch, before the scan's own filter.
    pub fetched: f64,
}

impl Probe {
    /// Whether the join columns alone make a selective index (see the module comment).
    pub fn key_alone(&self) -> bool {
        self.fetched <= JOIN_KEY_ALONE_MAX_SHARE * self.table_rows
    }
}

/// The join's two inputs, outer first: its children that are not InitPlans or SubPlans.
fn inputs(plan: &Indexed<'_>, id: usize) -> Vec<usize> {
    plan.children[id]
        .iter()
        .copied()
        .filter(|&c| {
            matches!(
                plan.nodes[c].parent_relationship.as_deref(),
                Some("Outer" | "Inner") | None
            )
        })
        .collect()
}

fn is_join(node_type: &NodeType) -> bool {
    matches!(
        node_type,
        NodeType::HashJoin | NodeType::MergeJoin | NodeType::NestedLoop
    )
}

/// The first join above `scan`, reached through nodes that pass its rows on unchanged.
pub(super) fn join_above(plan: &Indexed<'_>, scan: usize) -> Option<JoinInput> {
    let mut child = scan;
    while let Some(parent) = plan.parents[child] {
        let node = plan.nodes[parent];
        if is_join(&node.node_type) {
            let [outer, inner] = inputs(plan, parent)[..] else {
                return None;
            };
            let is_inner = inner == child;
            if !is_inner && outer != child {
                // Reached through a SubPlan or InitPlan of the join.
                return None;
            }
            return Some(JoinInput {
                join: parent,
                top: child,
                other: if is_inner { outer } else { inner },
                inner: is_inner,
            });
        }
        if !node.node_type.passes_rows_through() || inputs(plan, parent).len() != 1 {
            return None;
        }
        child = parent;
    }
    None
}

/// Whether a node runs below a Gather: then a node that is not parallel aware runs whole in each
/// process, and its rows per loop are all its rows.
fn in_parallel_section(plan: &Indexed<'_>, id: usize) -> bool {
    let mut current = id;
    while let Some(parent) = plan.parents[current] {
        if plan.nodes[parent].node_type.is_gather() {
            return true;
        }
        current = parent;
    }
    false
}

/// Whether a node's rows are shared out between the processes of a parallel plan (a parallel
/// aware node in its subtree divides the work), rather than computed whole by each.
fn partial(plan: &Indexed<'_>, id: usize) -> bool {
    let mut pending = vec![id];
    while let Some(current) = pending.pop() {
        if plan.nodes[current].parallel_aware == Some(true) {
            return true;
        }
        pending.extend(inputs(plan, current));
    }
    false
}

/// Rows a node produced over all its loops (a Hash that each process of a parallel join builds
/// whole counts once); the planner's estimate without timings.
fn input_rows(plan: &Indexed<'_>, id: usize) -> Option<f64> {
    let node = plan.nodes[id];
    let Some(rows) = node.actual_rows else {
        return node.plan_rows;
    };
    let loops = node.actual_loops.unwrap_or(1.0).max(1.0);
    if in_parallel_section(plan, id) && !partial(plan, id) {
        return Some(rows);
    }
    Some(rows * loops)
}

/// Rows of the scanned table, per execution, from EXPLAIN ANALYZE: a parallel scan shares the
/// table between its processes, a plain one reads it whole each loop.
fn table_rows(node: &PlanNode) -> Option<f64> {
    let rows = node.actual_rows?;
    let loops = node.actual_loops.unwrap_or(1.0).max(1.0);
    let per_loop = rows + node.rows_removed_by_filter.unwrap_or(0.0);
    Some(if node.parallel_aware == Some(true) {
        per_loop * loops
    } else {
        per_loop
    })
}

/// The join's kind as a reader knows it: `Hash Join (anti)`.
fn join_kind(join: &PlanNode) -> String {
    match &join.join_type {
        Some(kind) => format!("{} ({})", join.label(), kind.to_lowercase()),
        None => join.label(),
    }
}

/// Whether the join returns every row of the scan's side, matched or not: then every row is
/// needed and no index spares reading them. (A semi join's outer rows are not: the planner may
/// make the other side unique and probe this one.)
fn preserves(join: &PlanNode, inner: bool) -> bool {
    matches!(
        (join.join_type.as_deref(), inner),
        (Some("Full"), _) | (Some("Left" | "Anti"), false) | (Some("Right" | "Right Anti"), true)
    )
}

/// The plain columns of the scanned table that the join's conditions equate with another
/// relation's (`Hash Cond`, `Merge Cond`, `Join Filter`).
fn key_columns(join: &PlanNode, scan: &PlanNode) -> Vec<String> {
    let Some(table) = table_ref(scan) else {
        return Vec::new();
    };
    let mut columns: Vec<String> = Vec::new();
    for condition in [&join.hash_cond, &join.merge_cond, &join.join_filter]
        .into_iter()
        .flatten()
    {
        for p in parse_condition(condition, table) {
            if p.join_key
                && p.kind == PredicateKind::Equality
                && p.why_not.is_none()
                && let Some(column) = p.target.column()
                && !columns.iter().any(|c| c == column)
            {
                columns.push(column.to_owned());
            }
        }
    }
    columns
}

/// The planner's lowest price for `probes` index probes into a table of `table_rows` rows that
/// return `fetched` rows in all.
fn probe_floor(probes: f64, fetched: f64, table_rows: f64) -> f64 {
    let descent = CPU_OPERATOR_COST
        * (table_rows.max(2.0).log2().ceil() + PAGE_CPU_MULTIPLIER * MIN_TREE_LEVELS);
    probes * descent + fetched * ROW_CPU_COST
}

/// For a Seq Scan read whole to feed a join from EXPLAIN ANALYZE: whether probing it by its join
/// key could replace the read (`Ok`), or why not (`Err`, with the numbers). `None` when the scan
/// feeds no join as a full read an index could spare (not a Seq Scan, the outer side of a nested
/// loop, a small table, no timings): other reasons speak for it.
pub(super) fn assess(plan: &Indexed<'_>, scan: usize) -> Option<Result<Probe, String>> {
    let node = plan.nodes[scan];
    if node.node_type != NodeType::SeqScan {
        return None;
    }
    let relation = node.relation_name.as_deref()?;
    let rows = table_rows(node)?;
    if rows < kinds::TINY_TABLE_ROWS {
        return None;
    }
    let input = join_above(plan, scan)?;
    let join = plan.nodes[input.join];
    if join.node_type == NodeType::NestedLoop && !input.inner {
        return None;
    }
    let kind = join_kind(join);
    if preserves(join, input.inner) {
        return Some(Err(format!(
            "{relation}: the {kind} returns each of its rows, matched or not; every row is needed"
        )));
    }
    let keys = key_columns(join, node);
    if keys.is_empty() {
        return Some(Err(format!(
            "{relation}: the {kind}'s condition equates no plain column of {relation} that an index could seek"
        )));
    }
    let probes = input_rows(plan, input.other)?;
    // Share of the rows read that the scan's own filter keeps (per loop, as EXPLAIN prints both).
    let kept = node.actual_rows?;
    let read = kept + node.rows_removed_by_filter.unwrap_or(0.0);
    let kept_share = if read > 0.0 {
        (kept / read).clamp(f64::MIN_POSITIVE, 1.0)
    } else {
        1.0
    };
    // Rows of this table the join matched (after the scan's filter): a semi or anti join stops at
    // the first match of each probe (it returns the probes that found one, or those that did
    // not); an inner join keeps them all, some then discarded by its Join Filter.
    let joined = input_rows(plan, input.join).unwrap_or(0.0);
    let matched = match join.join_type.as_deref() {
        Some("Semi" | "Right Semi") => joined,
        Some("Anti" | "Right Anti") => (probes - joined).max(0.0),
        _ => {
            let loops = join.actual_loops.unwrap_or(1.0).max(1.0);
            joined + join.rows_removed_by_join_filter.unwrap_or(0.0) * loops
        }
    };
    // By the join key alone, the probes also fetch the rows the scan's filter then discards.
    let fetched = (matched / kept_share).min(rows);
    let columns = keys.join(", ");
    if let Some(replaced) = plan.nodes[input.top].total_cost {
        let floor = probe_floor(probes, fetched, rows);
        if floor > replaced {
            return Some(Err(format!(
                "{relation}: the {kind} brings {} rows from its other side; probing an index on ({columns}) that often costs at least {floor:.0}, more than reading {relation} whole ({replaced:.0})",
                fmt_count(probes)
            )));
        }
    }
    if fetched > kinds::LOW_SELECTIVITY_SHARE * rows {
        return Some(Err(format!(
            "{relation}: the {kind} needs {} of its {} rows by ({columns}) ({}); reading them all is the right plan",
            fmt_count(fetched),
            fmt_count(rows),
            fmt_pct(fetched / rows)
        )));
    }
    Some(Ok(Probe {
        join: input.join,
        table_rows: rows,
        fetched,
    }))
}

/// The root of the correlated SubPlan a scan runs in (reached through nodes with one input, such
/// as the Aggregate of `(SELECT avg(x) FROM t WHERE t.k = outer.k)`), when the scan's own
/// conditions equate a column of its table with another relation's: the outer row's value, so an
/// index on that column answers each execution.
pub(super) fn correlated_subplan(plan: &Indexed<'_>, scan: usize) -> Option<usize> {
    let node = plan.nodes[scan];
    if !node.node_type.is_table_scan() {
        return None;
    }
    let table = table_ref(node)?;
    let correlated = [&node.index_cond, &node.recheck_cond, &node.filter]
        .into_iter()
        .flatten()
        .flat_map(|condition| parse_condition(condition, table))
        .any(|p| p.join_key && p.kind == PredicateKind::Equality && p.why_not.is_none());
    if !correlated {
        return None;
    }
    let mut current = scan;
    loop {
        if plan.nodes[current].parent_relationship.as_deref() == Some("SubPlan") {
            return Some(current);
        }
        let parent = plan.parents[current]?;
        if inputs(plan, parent).len() != 1 {
            return None;
        }
        current = parent;
    }
}

/// For an analysed plan: a scan in a correlated SubPlan that ran many times over a table that is
/// not tiny (the subplan scans the table once per outer row).
pub(super) fn repeated_correlated_scan(plan: &Indexed<'_>, scan: usize) -> bool {
    let node = plan.nodes[scan];
    if node.node_type != NodeType::SeqScan || correlated_subplan(plan, scan).is_none() {
        return false;
    }
    let loops = node.actual_loops.unwrap_or(0.0);
    let per_loop = node.actual_rows.unwrap_or(0.0) + node.rows_removed_by_filter.unwrap_or(0.0);
    loops >= 2.0 && per_loop >= kinds::TINY_TABLE_ROWS
}

#[cfg(test)]
mod tests {
    use super::super::{Advice, candidates, candidates_by_cost};
    use crate::diagnose::{Thresholds, diagnose};
    use crate::plan::{Explain, analyze, parse_explain};

    fn fixture(name: &str) -> Explain {
        let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        parse_explain(&text).unwrap().remove(0)
    }

    fn advise(name: &str) -> Advice {
        let explain = fixture(name);
        let analysis = analyze(&explain);
        let diagnosis = diagnose(&explain, &analysis, &Thresholds::default());
        candidates(&explain, &diagnosis.findings)
    }

    /// `table (keys) INCLUDE (...) [rules]` per candidate, then each reason for no suggestion.
    fn summary(advice: &Advice) -> Vec<String> {
        let mut lines: Vec<String> = advice
            .candidates
            .iter()
            .map(|c| {
                let keys: Vec<&str> = c.columns.iter().map(|k| k.label()).collect();
                let rules: Vec<&str> = c.finding_rules.iter().map(|r| r.as_str()).collect();
                let include = if c.include.is_empty() {
                    String::new()
                } else {
                    format!(" INCLUDE ({})", c.include.join(", "))
                };
                format!(
                    "{} ({}){include} [{}]",
                    c.table,
                    keys.join(", "),
                    rules.join(",")
                )
            })
            .collect();
        lines.extend(
            advice
                .no_suggestions
                .iter()
                .map(|n| format!("no suggestion #{}: {}", n.node_id, n.reason)),
        );
        lines
    }

    /// Rows of the plan at `line` (1-based) of a fixture replaced, for the near misses.
    fn edited(name: &str, line: usize, from: &str, to: &str) -> Explain {
        let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i + 1 == line {
                    assert!(l.contains(from), "line {line} of {name}: {l}");
                    l.replace(from, to)
                } else {
                    l.to_owned()
                }
            })
            .collect();
        parse_explain(&lines.join("\n")).unwrap().remove(0)
    }

    fn advise_explain(explain: &Explain) -> Advice {
        let analysis = analyze(explain);
        let diagnosis = diagnose(explain, &analysis, &Thresholds::default());
        candidates(explain, &diagnosis.findings)
    }

    #[test]
    fn an_or_of_conjunctions_join_gets_the_join_key_alone() {
        // TPC-H q19: lineitem (1.2 M rows, filter keeps 2.1%) hashed against 88 parts on
        // l_partkey = p_partkey, the rest of each OR arm in the Join Filter. Probing by
        // l_partkey alone fetches about 0.3% of lineitem: the index keeps to the join key
        // instead of leading with the filter's low-cardinality columns.
        let advice = advise("joinkey_tpch_q19.json");
        let lines = summary(&advice);
        assert!(
            lines.contains(&"lineitem (l_partkey) [seq-scan]".to_owned()),
            "{lines:#?}"
        );
        let partkey = advice
            .candidates
            .iter()
            .find(|c| c.columns.iter().any(|k| k.label() == "l_partkey"))
            .unwrap();
        assert_eq!(partkey.columns.len(), 1, "{partkey:?}");
        assert!(partkey.include.is_empty(), "{partkey:?}");
        assert!(
            partkey
                .reason
                .contains("the join key alone fetches about 2,"),
            "{}",
            partkey.reason
        );
        insta::assert_debug_snapshot!(lines);
    }

    #[test]
    fn a_not_exists_anti_join_gets_the_probed_tables_key() {
        // TPC-H q22: NOT EXISTS (SELECT * FROM orders WHERE o_custkey = c_custkey), a Hash Anti
        // Join hashing all 300,000 orders for 3,742 customers.
        let lines = summary(&advise("joinkey_tpch_q22.json"));
        assert!(
            lines.iter().any(|l| l.starts_with("orders (o_custkey) [")),
            "{lines:#?}"
        );
        insta::assert_debug_snapshot!(lines);
    }

    #[test]
    fn a_join_whose_other_side_brings_many_rows_gets_no_key_and_says_why() {
        // q22 with 290,000 customers to probe for: hashing orders once is cheaper than even the
        // planner's floor for that many index probes.
        let explain = edited("joinkey_tpch_q22.json", 181, "3742", "290000");
        let advice = advise_explain(&explain);
        let lines = summary(&advice);
        assert!(
            !advice.candidates.iter().any(|c| c.table == "orders"),
            "{lines:#?}"
        );
        let reason = advice
            .no_suggestions
            .iter()
            .find(|n| n.reason.starts_with("orders: "))
            .unwrap_or_else(|| panic!("{lines:#?}"));
        assert!(
            reason
                .reason
                .contains("brings 290,000 rows from its other side; probing an index on (o_custkey) that often costs at least"),
            "{}",
            reason.reason
        );
    }

    #[test]
    fn the_preserved_side_of_an_anti_join_gets_no_key() {
        // The customers of q22 are the anti join's outer side: each is returned unless an order
        // matches, so every one is read whatever the index.
        let explain = fixture("joinkey_tpch_q22.json");
        let plan = super::Indexed::new(&explain.plan);
        let customer = plan
            .nodes
            .iter()
            .position(|n| {
                n.relation_name.as_deref() == Some("customer")
                    && n.alias.as_deref() == Some("customer")
            })
            .unwrap();
        let verdict = super::assess(&plan, customer).unwrap();
        assert_eq!(
            verdict.unwrap_err(),
            "customer: the Hash Join (anti) returns each of its rows, matched or not; every row is needed"
        );
    }

    #[test]
    fn a_correlated_subplan_counts_once_per_outer_row_in_estimated_plans() {
        // TPC-H q17 as planned: SubPlan 1 scans lineitem (filter l_partkey = part.p_partkey) for
        // each row of the hash join it filters. Counted once, it looked like 9% of the cost.
        let q17 = fixture("joinkey_tpch_q17_estimated.json");
        let advice = candidates_by_cost(&q17, 0.2);
        let lines = summary(&advice);
        let plan = super::Indexed::new(&q17.plan);
        let subplan_scan = plan
            .nodes
            .iter()
            .position(|n| n.alias.as_deref() == Some("lineitem_1"))
            .unwrap();
        assert!(super::correlated_subplan(&plan, subplan_scan).is_some());
        let candidate = advice
            .candidates
            .iter()
            .find(|c| c.nodes.contains(&subplan_scan))
            .unwrap_or_else(|| panic!("{lines:#?}"));
        assert_eq!(candidate.table, "lineitem");
        assert_eq!(candidate.columns[0].label(), "l_partkey");
        // INCLUDE what the SubPlan's scan returns, not the columns the statement reads from its
        // other scan of lineitem.
        assert_eq!(candidate.include, ["l_quantity"], "{candidate:?}");
        // q20: the SubPlan in partsupp's filter, inside a nested loop, correlated on two columns.
        let lines = summary(&candidates_by_cost(
            &fixture("joinkey_tpch_q20_estimated.json"),
            0.2,
        ));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("lineitem (l_partkey, l_suppkey, l_shipdate)")),
            "{lines:#?}"
        );
    }
}
