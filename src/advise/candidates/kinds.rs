//! The index kinds beyond a plain btree — partial, INCLUDE, GIN — and the reasons a scan gets no
//! suggestion (tiny table, low selectivity, already indexed), decided from what the plan shows.

use crate::plan::{NodeType, PlanNode};
use crate::units::{fmt_count, fmt_pct};

use super::super::conditions::{
    Constant, Predicate, PredicateKind, TableRef, Target, parse_sort_key, referenced_columns,
};
use super::{Candidate, IndexColumn, IndexMethod, Indexed};

/// A filter keeping at least this share of the rows read is not worth an index: reading the
/// table sequentially is as fast as fetching that many rows at random.
pub(super) const LOW_SELECTIVITY_SHARE: f64 = 0.20;
/// A literal filter keeping less than this share makes a partial index worth it: the index holds
/// only those rows, so it stays small and cheap to maintain.
pub(super) const PARTIAL_MAX_SHARE: f64 = 0.05;
/// Fewer rows than this (per loop) and the table is read whole as cheaply as through an index
/// (the same bound as the `seq-scan` rule's default).
pub(super) const TINY_TABLE_ROWS: f64 = 10_000.0;
/// A table this small (in 8 kB pages) is read whole for the price of one index lookup.
const TINY_TABLE_PAGES: f64 = 2.0;
/// A scan repeated this often inside a loop matters however small it is.
const REPEATED_LOOPS: f64 = 100.0;
/// INCLUDE only a few narrow columns: beyond that the index grows close to the table.
const MAX_INCLUDE_COLUMNS: usize = 3;
const MAX_INCLUDE_WIDTH_BYTES: f64 = 64.0;

/// Rows a Seq Scan read and kept per loop, from EXPLAIN ANALYZE (`None` without timings).
struct ScanRows {
    read: f64,
    kept: f64,
    loops: f64,
}

fn scan_rows(node: &PlanNode) -> Option<ScanRows> {
    if node.node_type != NodeType::SeqScan {
        return None;
    }
    let kept = node.actual_rows?;
    let loops = node.actual_loops.unwrap_or(1.0).max(1.0);
    Some(ScanRows {
        read: kept + node.rows_removed_by_filter.unwrap_or(0.0),
        kept,
        loops,
    })
}

/// Share of the rows read that the filter keeps, for a Seq Scan with a filter and timings.
pub(super) fn kept_share(node: &PlanNode) -> Option<f64> {
    node.filter.as_ref()?;
    let rows = scan_rows(node)?;
    (rows.read > 0.0).then(|| rows.kept / rows.read)
}

/// "tiny table" only where it is certainly true: a Seq Scan, not in a loop, of a table of at most
/// [`TINY_TABLE_PAGES`] pages (as its buffers show), which no index lookup can beat since the
/// lookup itself reads a page or two. Between that and [`TINY_TABLE_ROWS`], the planner may still
/// prefer an index (seen: cost 25.88 → 13.54 on a 4-page table), so the candidate is proposed
/// and verification decides with its numbers.
pub(super) fn tiny_table(node: &PlanNode) -> Option<String> {
    let rows = scan_rows(node)?;
    if rows.read >= TINY_TABLE_ROWS || rows.loops >= REPEATED_LOOPS {
        return None;
    }
    let pages = node.buffers.shared_total() as f64 / rows.loops;
    if pages <= 0.0 || pages > TINY_TABLE_PAGES {
        return None;
    }
    // A scan its consumer stopped early (a join whose other side came up empty, a LIMIT) read a
    // page of a large table: the planner's own row estimate says how large.
    if node
        .plan_rows
        .is_some_and(|planned| planned * rows.loops >= TINY_TABLE_ROWS)
    {
        return None;
    }
    let cost = node
        .total_cost
        .map(|c| format!(", planned cost {c:.2}"))
        .unwrap_or_default();
    Some(format!(
        "tiny table: {} has {} rows in {} {}{cost}; reading it whole is as cheap as an index",
        node.relation_name.as_deref().unwrap_or_default(),
        fmt_count(rows.read),
        fmt_count(pages),
        if pages > 1.0 { "pages" } else { "page" }
    ))
}

/// "low selectivity" when a Seq Scan's filter keeps at least [`LOW_SELECTIVITY_SHARE`] of the rows.
pub(super) fn low_selectivity(node: &PlanNode) -> Option<String> {
    let rows = scan_rows(node)?;
    let share = kept_share(node)?;
    if share < LOW_SELECTIVITY_SHARE || rows.loops >= REPEATED_LOOPS {
        return None;
    }
    Some(format!(
        "low selectivity: the filter keeps {} of the rows of {} ({} of {}); an index would not beat reading the table",
        fmt_pct(share),
        node.relation_name.as_deref().unwrap_or_default(),
        fmt_count(rows.kept),
        fmt_count(rows.read)
    ))
}

/// The reason for a table scan no finding (or cost share) pointed at.
pub(super) fn unflagged_scan_reason(plan: &Indexed<'_>, id: usize) -> String {
    let node = plan.nodes[id];
    if let Some(reason) = already_indexed(plan, id) {
        return reason;
    }
    if let Some(reason) = tiny_table(node).or_else(|| low_selectivity(node)) {
        return reason;
    }
    format!(
        "no finding on this table ({} on {})",
        node.node_type,
        node.relation_name.as_deref().unwrap_or_default()
    )
}

/// "already indexed" when the scan goes through an index: the plan names it.
pub(super) fn already_indexed(plan: &Indexed<'_>, id: usize) -> Option<String> {
    let node = plan.nodes[id];
    let mut names: Vec<&str> = node.index_name.as_deref().into_iter().collect();
    if node.node_type == NodeType::BitmapHeapScan {
        let mut pending = plan.children[id].clone();
        while let Some(child) = pending.pop() {
            names.extend(plan.nodes[child].index_name.as_deref());
            pending.extend(plan.children[child].iter().copied());
        }
    }
    if names.is_empty() {
        return None;
    }
    Some(format!(
        "already indexed: {} on {} uses {}",
        node.node_type,
        node.relation_name.as_deref().unwrap_or_default(),
        names.join(", ")
    ))
}

/// The conjuncts that make a good partial index predicate: equalities of a column on a flag, a
/// NULL or (next to another key) a string literal, when the whole filter keeps under
/// [`PARTIAL_MAX_SHARE`] of the rows. A string equality alone stays a plain key: from the plan, a
/// status column and an e-mail column look alike, and a partial index per e-mail would be absurd.
pub(super) fn partial_predicates<'p>(
    node: &PlanNode,
    predicates: &'p [Predicate],
) -> Vec<&'p Predicate> {
    if kept_share(node).is_none_or(|share| share >= PARTIAL_MAX_SHARE) {
        return Vec::new();
    }
    let literal = |p: &Predicate, constants: &[Constant]| {
        p.kind == PredicateKind::Equality
            && !p.join_key
            && matches!(p.target, Target::Column(_))
            && p.constant.is_some_and(|c| constants.contains(&c))
    };
    let flags: Vec<&Predicate> = predicates
        .iter()
        .filter(|p| literal(p, &[Constant::Boolean, Constant::Null]))
        .collect();
    let strings: Vec<&Predicate> = predicates
        .iter()
        .filter(|p| literal(p, &[Constant::Text]))
        .collect();
    let other_keys = predicates.iter().any(|p| {
        matches!(p.kind, PredicateKind::Equality | PredicateKind::Range)
            && p.why_not.is_none()
            && !literal(p, &[Constant::Boolean, Constant::Null, Constant::Text])
    });
    let mut chosen = flags;
    if other_keys {
        chosen.extend(strings);
    }
    chosen
}

/// The key of a partial index whose filter leaves no other key: `id` when the query reads such a
/// column (what "fetch the pending rows" usually wants), else the predicate's own column.
pub(super) fn partial_key(
    plan: &Indexed<'_>,
    id: usize,
    table: TableRef<'_>,
    first: &Predicate,
) -> IndexColumn {
    let needed = needed_columns(plan, id, table).unwrap_or_default();
    if needed.iter().any(|c| c == "id") {
        return IndexColumn::asc("id");
    }
    match &first.target {
        Target::Column(c) => IndexColumn::asc(c.as_str()),
        Target::Expression(e) => IndexColumn::expression(e.as_str()),
    }
}

/// The columns of the scanned table the query needs from the scan: its VERBOSE `Output` (plain
/// columns only), narrowed to what the nodes above reference. PostgreSQL may hand an aggregate or
/// join the whole row ("physical tlist") although it reads only some columns; the nodes above
/// print the ones they use. `None` without VERBOSE or when an output is an expression.
fn needed_columns(plan: &Indexed<'_>, id: usize, table: TableRef<'_>) -> Option<Vec<String>> {
    let node = plan.nodes[id];
    let output = node.output.as_ref()?;
    let mut columns = Vec::new();
    for item in output {
        match parse_sort_key(item, table).target {
            Some(Target::Column(c)) => {
                if !columns.contains(&c) {
                    columns.push(c);
                }
            }
            _ => return None,
        }
    }
    // VERBOSE qualifies the scan's columns with its alias; the bare relation name may be another
    // scan of the same table (`lineitem` beside the SubPlan's `lineitem_1`), whose columns this
    // scan need not return.
    let qualifiers = match table.alias {
        Some(alias) => vec![alias],
        None => table.qualifiers(),
    };
    let mut above = Vec::new();
    let mut current = id;
    while let Some(parent) = plan.parents[current] {
        let p = plan.nodes[parent];
        let texts = p
            .output
            .iter()
            .flatten()
            .chain(p.sort_key.iter().flatten())
            .chain(p.group_key.iter().flatten())
            .chain(
                [&p.filter, &p.join_filter, &p.hash_cond, &p.merge_cond]
                    .into_iter()
                    .flatten(),
            );
        for text in texts {
            above.extend(
                referenced_columns(text, &qualifiers)
                    .into_iter()
                    .map(|c| c.name),
            );
        }
        current = parent;
    }
    if plan.parents[id].is_some() {
        columns.retain(|c| above.contains(c));
    }
    Some(columns)
}

/// INCLUDE columns that let an index-only scan answer the scan: the needed columns that are not
/// keys, when they are few and the rows narrow. Expression keys get none (PostgreSQL cannot answer
/// from an expression index alone). `plan_width` is the *average* width of the rows read, not their
/// largest: the plan cannot tell whether a column's size is bounded, so the pipeline then drops the
/// columns whose type leaves it unbounded or too large ([`crate::advise::row_size`]).
pub(super) fn include_columns(
    plan: &Indexed<'_>,
    id: usize,
    table: TableRef<'_>,
    keys: &[IndexColumn],
) -> Vec<String> {
    let node = plan.nodes[id];
    if keys.iter().any(|k| k.name().is_none()) {
        return Vec::new();
    }
    let Some(needed) = needed_columns(plan, id, table) else {
        return Vec::new();
    };
    let extra: Vec<String> = needed
        .into_iter()
        .filter(|c| !keys.iter().any(|k| k.name() == Some(c.as_str())))
        .collect();
    let narrow = node
        .plan_width
        .is_some_and(|w| w <= MAX_INCLUDE_WIDTH_BYTES);
    if extra.len() > MAX_INCLUDE_COLUMNS || !narrow {
        return Vec::new();
    }
    extra
}

/// One GIN candidate per column filtered by containment, key existence or a pattern no btree
/// serves: `jsonb_path_ops` when a jsonb column is only tested with `@>`, the default `jsonb_ops`
/// (or array_ops) otherwise, `gin_trgm_ops` from pg_trgm for LIKE/ILIKE/regex patterns.
pub(super) fn gin_candidates(
    node: &PlanNode,
    table: TableRef<'_>,
    predicates: &[Predicate],
) -> Vec<Candidate> {
    let mut found: Vec<Candidate> = Vec::new();
    let mut seen: Vec<(&str, bool)> = Vec::new();
    for p in predicates {
        let Target::Column(column) = &p.target else {
            continue;
        };
        let trigram = match p.kind {
            PredicateKind::Pattern => true,
            PredicateKind::Contains | PredicateKind::KeyExists => false,
            _ => continue,
        };
        if seen.contains(&(column.as_str(), trigram)) {
            continue;
        }
        seen.push((column.as_str(), trigram));
        let on_column: Vec<&Predicate> =
            predicates.iter().filter(|q| q.target == p.target).collect();
        let (opclass, extension) = if trigram {
            (Some("gin_trgm_ops"), Some("pg_trgm"))
        } else if on_column.iter().all(|q| {
            q.kind != PredicateKind::KeyExists
                && (q.kind != PredicateKind::Contains || q.sql.to_uppercase().ends_with("::JSONB"))
        }) {
            (Some("jsonb_path_ops"), None)
        } else {
            (None, None)
        };
        let texts: Vec<&str> = on_column
            .iter()
            .filter(|q| {
                matches!(
                    q.kind,
                    PredicateKind::Pattern | PredicateKind::Contains | PredicateKind::KeyExists
                )
            })
            .map(|q| q.text.as_str())
            .collect();
        let mut key = IndexColumn::asc(column.as_str());
        key.opclass = opclass.map(str::to_owned);
        found.push(Candidate {
            method: IndexMethod::Gin,
            requires_extension: extension.map(str::to_owned),
            reason: format!(
                "{} on {}: {} needs a GIN index{}",
                node.node_type,
                table.relation,
                texts.join(" AND "),
                if trigram {
                    " with pg_trgm (a btree serves only LIKE 'prefix%')"
                } else {
                    ""
                }
            ),
            ..Candidate::btree(node.schema.clone(), table.relation, vec![key])
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::{candidates, candidates_by_cost};
    use crate::diagnose::{Finding, RuleId, Severity};
    use crate::plan::{Explain, PlanNode};

    /// A Seq Scan over `read` rows keeping `kept` (EXPLAIN ANALYZE VERBOSE figures).
    fn scan(filter: &str, kept: f64, read: f64, output: &[&str]) -> PlanNode {
        PlanNode {
            node_type: "Seq Scan".into(),
            relation_name: Some("jobs".into()),
            schema: Some("public".into()),
            alias: Some("jobs".into()),
            filter: Some(filter.into()),
            actual_rows: Some(kept),
            actual_loops: Some(1.0),
            rows_removed_by_filter: Some(read - kept),
            output: Some(output.iter().map(|s| (*s).to_owned()).collect()),
            plan_width: Some(16.0),
            total_cost: Some(2000.0),
            ..PlanNode::default()
        }
    }

    fn finding(node_id: usize) -> Finding {
        Finding {
            rule: RuleId::SeqScan,
            severity: Severity::Warning,
            node_id,
            node_path: String::new(),
            relation: None,
            expressions: Vec::new(),
            summary: String::new(),
            evidence: Vec::new(),
            time_at_stake_ms: 1.0,
            share_at_stake: 0.5,
            advice: String::new(),
            doc: String::new(),
        }
    }

    fn ddl(node: PlanNode) -> Result<Vec<String>, Vec<String>> {
        let advice = candidates(&Explain::from_plan(node), &[finding(0)]);
        if advice.candidates.is_empty() {
            return Err(advice
                .no_suggestions
                .into_iter()
                .map(|n| n.reason)
                .collect());
        }
        Ok(advice
            .candidates
            .iter()
            .map(|c| {
                c.ddl("ix")
                    .replace("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"ix\" ON ", "")
            })
            .collect())
    }

    #[test]
    fn a_rare_status_next_to_another_key_becomes_the_predicate() {
        let node = scan(
            "((jobs.owner_id = 42) AND (jobs.status = 'pending'::text))",
            10.0,
            100_000.0,
            &["jobs.id", "jobs.owner_id"],
        );
        assert_eq!(
            ddl(node),
            Ok(vec![
                r#""public"."jobs" ("owner_id") INCLUDE ("id") WHERE "status" = 'pending'::TEXT"#
                    .to_owned()
            ])
        );
    }

    #[test]
    fn a_common_status_or_a_lone_string_stays_a_plain_key() {
        // 10% kept: selective enough for an index, not for a partial one.
        let common = scan(
            "((jobs.owner_id = 42) AND (jobs.status = 'pending'::text))",
            10_000.0,
            100_000.0,
            &["jobs.id"],
        );
        assert_eq!(
            ddl(common),
            Ok(vec![
                r#""public"."jobs" ("owner_id", "status") INCLUDE ("id")"#.to_owned()
            ])
        );
        // A string equality alone could be an e-mail: no partial index per value.
        let lone = scan("(jobs.email = 'a@b.c'::text)", 1.0, 100_000.0, &["jobs.id"]);
        assert_eq!(
            ddl(lone),
            Ok(vec![
                r#""public"."jobs" ("email") INCLUDE ("id")"#.to_owned()
            ])
        );
    }

    #[test]
    fn a_rare_flag_alone_indexes_the_id_or_itself() {
        let with_id = scan(
            "(NOT jobs.done)",
            50.0,
            100_000.0,
            &["jobs.id", "jobs.payload"],
        );
        assert_eq!(
            ddl(with_id),
            Ok(vec![
                r#""public"."jobs" ("id") INCLUDE ("payload") WHERE NOT "done""#.to_owned()
            ])
        );
        let without_id = scan(
            "(jobs.deleted_at IS NULL)",
            50.0,
            100_000.0,
            &["jobs.payload"],
        );
        assert_eq!(
            ddl(without_id),
            Ok(vec![
                r#""public"."jobs" ("deleted_at") INCLUDE ("payload") WHERE "deleted_at" IS NULL"#
                    .to_owned()
            ])
        );
    }

    #[test]
    fn include_only_few_narrow_plain_columns() {
        let many = scan(
            "(jobs.owner_id = 42)",
            10.0,
            100_000.0,
            &["jobs.a", "jobs.b", "jobs.c", "jobs.d"],
        );
        assert_eq!(
            ddl(many),
            Ok(vec![r#""public"."jobs" ("owner_id")"#.to_owned()])
        );
        let mut wide = scan("(jobs.owner_id = 42)", 10.0, 100_000.0, &["jobs.body"]);
        wide.plan_width = Some(500.0);
        assert_eq!(
            ddl(wide),
            Ok(vec![r#""public"."jobs" ("owner_id")"#.to_owned()])
        );
        let expression = scan("(jobs.owner_id = 42)", 10.0, 100_000.0, &["lower(jobs.a)"]);
        assert_eq!(
            ddl(expression),
            Ok(vec![r#""public"."jobs" ("owner_id")"#.to_owned()])
        );
        // A filter the index cannot check leaves the heap to visit anyway.
        let unserved = scan(
            "((jobs.owner_id = 42) AND ((jobs.a % 7) = 1))",
            10.0,
            100_000.0,
            &["jobs.a"],
        );
        assert_eq!(
            ddl(unserved),
            Ok(vec![r#""public"."jobs" ("owner_id")"#.to_owned()])
        );
    }

    #[test]
    fn low_selectivity_and_tiny_tables_say_how_much() {
        assert_eq!(
            ddl(scan("(jobs.owner_id < 500)", 25_000.0, 100_000.0, &[])),
            Err(vec![
                "low selectivity: the filter keeps 25.0% of the rows of jobs (25,000 of 100,000); an index would not beat reading the table"
                    .to_owned()
            ])
        );
        // One page: no index lookup reads less.
        let mut tiny = scan("(jobs.owner_id = 1)", 1.0, 200.0, &[]);
        tiny.buffers.shared_hit = 1;
        assert_eq!(
            ddl(tiny),
            Err(vec![
                "tiny table: jobs has 200 rows in 1 page, planned cost 2000.00; reading it whole is as cheap as an index"
                    .to_owned()
            ])
        );
        // Read one page only because the join above stopped early: the planner expected a
        // million rows, so the table is not tiny.
        let mut stopped = scan("(jobs.owner_id = 1)", 0.0, 3.0, &[]);
        stopped.buffers.shared_hit = 1;
        stopped.plan_rows = Some(1_000_000.0);
        let result = ddl(stopped);
        assert!(
            !matches!(&result, Err(reasons) if reasons.iter().any(|r| r.starts_with("tiny table"))),
            "{result:?}"
        );
        // Few rows on several pages: the planner may well prefer an index, so verification
        // decides.
        let mut small = scan("(jobs.owner_id = 1)", 1.0, 300.0, &[]);
        small.buffers.shared_hit = 3;
        assert_eq!(
            ddl(small),
            Ok(vec![r#""public"."jobs" ("owner_id")"#.to_owned()])
        );
    }

    fn estimated(node_type: &str, cost: f64, rows: f64, plans: Vec<PlanNode>) -> PlanNode {
        PlanNode {
            node_type: node_type.into(),
            total_cost: Some(cost),
            plan_rows: Some(rows),
            plans: plans.into(),
            ..PlanNode::default()
        }
    }

    fn estimated_scan(relation: &str, filter: Option<&str>, cost: f64) -> PlanNode {
        PlanNode {
            relation_name: Some(relation.into()),
            alias: Some(relation.into()),
            filter: filter.map(str::to_owned),
            ..estimated("Seq Scan", cost, 10.0, Vec::new())
        }
    }

    #[test]
    fn cost_mode_picks_the_expensive_scans_and_sorts_and_explains_the_rest() {
        // Nested loop: 1,000 outer rows, so the 50-cost inner scan weighs 50,000.
        let inner = estimated_scan("items", Some("(items.order_id = $1)"), 50.0);
        let outer = estimated_scan("orders", Some("(orders.note = $2)"), 500.0);
        let outer = PlanNode {
            plan_rows: Some(1000.0),
            ..outer
        };
        let join = estimated("Nested Loop", 51_000.0, 1000.0, vec![outer, inner]);
        let sort = PlanNode {
            sort_key: Some(vec!["orders.note".into()]),
            ..estimated("Sort", 60_000.0, 1000.0, vec![join])
        };
        let advice = candidates_by_cost(&Explain::from_plan(sort), 0.10);
        let shapes: Vec<String> = advice
            .candidates
            .iter()
            .map(|c| {
                let keys: Vec<&str> = c.columns.iter().map(|k| k.label()).collect();
                format!("{} ({})", c.table, keys.join(", "))
            })
            .collect();
        // The sort's own 9,000 is 15%: a nested loop keeps its outer side's order, so an index
        // on orders can deliver it.
        assert_eq!(shapes, ["orders (note)", "items (order_id)"], "{advice:#?}");
        assert_eq!(advice.candidates[1].finding_rules, ["estimated-cost"]);
        assert!(
            advice.candidates[1]
                .reason
                .contains("83.3% of the estimated cost")
        );
        let reasons: Vec<&str> = advice
            .no_suggestions
            .iter()
            .map(|n| n.reason.as_str())
            .collect();
        assert_eq!(
            reasons,
            [
                "small share of the cost: Seq Scan on orders is 0.8% of the plan's estimated cost (below 10.0%)"
            ]
        );
    }

    #[test]
    fn cost_mode_calls_cheap_scans_tiny_and_index_scans_indexed() {
        let tiny = estimated_scan("tiny", Some("(tiny.v = 3)"), 1.6);
        let advice = candidates_by_cost(&Explain::from_plan(tiny), 0.10);
        assert!(advice.candidates.is_empty());
        assert!(
            advice.no_suggestions[0]
                .reason
                .starts_with("tiny table: reading tiny whole"),
            "{advice:?}"
        );
        // A few pages (cost 25.88): the planner may prefer an index, so verification decides.
        let small = estimated_scan("small", Some("(small.v = 3)"), 25.88);
        let advice = candidates_by_cost(&Explain::from_plan(small), 0.10);
        assert_eq!(advice.candidates.len(), 1, "{advice:?}");
        let index_scan = PlanNode {
            node_type: "Index Scan".into(),
            index_name: Some("orders_pkey".into()),
            filter: None,
            ..estimated_scan("orders", None, 8.3)
        };
        let advice = candidates_by_cost(&Explain::from_plan(index_scan), 0.10);
        assert_eq!(
            advice.no_suggestions[0].reason,
            "already indexed: Index Scan on orders uses orders_pkey"
        );
        let no_costs = candidates_by_cost(&Explain::from_plan(PlanNode::default()), 0.10);
        assert!(
            no_costs.no_suggestions[0]
                .reason
                .contains("no cost estimates")
        );
    }
}
