//! The baseline pgdiag's suggestions are measured against: single-column advice, as the
//! pg_qualstats index advisor and Supabase's index_advisor produce it. Every column a scan filters
//! on (or a join probes) with an operator a btree serves gets its own one-column ascending index;
//! no composite, no sort-key awareness, no materialized view.
//!
//! Deliberately naive, but generous within that: join keys count too, so the baseline gets every
//! index such an advisor could name, and a comparison it wins or loses is a fair one.

use pgdiag::advise::{Candidate, IndexColumn, PredicateKind, TableRef, Target, parse_condition};
use pgdiag::plan::{Explain, PlanNode};

/// One single-column index per (table, column) the plan filters or joins on, in plan order.
pub fn single_column_advice(explain: &Explain) -> Vec<Candidate> {
    let nodes = explain.plan.preorder();
    let scans: Vec<&PlanNode> = nodes
        .iter()
        .copied()
        .filter(|n| n.node_type.is_table_scan() && n.relation_name.is_some())
        .collect();
    let mut advice: Vec<Candidate> = Vec::new();
    for node in &nodes {
        if node.node_type.is_table_scan() {
            let Some(table) = table_ref(node) else {
                continue;
            };
            for condition in [&node.index_cond, &node.recheck_cond, &node.filter]
                .into_iter()
                .flatten()
            {
                add_columns(&mut advice, node, table, condition, false);
            }
        } else if node.node_type.is_join() {
            // A join condition names its tables by alias; any scanned table may be on either side.
            for condition in [&node.hash_cond, &node.merge_cond, &node.join_filter]
                .into_iter()
                .flatten()
            {
                for scan in &scans {
                    if let Some(table) = table_ref(scan) {
                        add_columns(&mut advice, scan, table, condition, true);
                    }
                }
            }
        }
    }
    advice
}

fn table_ref(node: &PlanNode) -> Option<TableRef<'_>> {
    Some(TableRef {
        relation: node.relation_name.as_deref()?,
        alias: node.alias.as_deref(),
    })
}

fn add_columns(
    advice: &mut Vec<Candidate>,
    scan: &PlanNode,
    table: TableRef<'_>,
    condition: &str,
    join_keys_only: bool,
) {
    for predicate in parse_condition(condition, table) {
        if join_keys_only && !predicate.join_key {
            continue;
        }
        // What a btree on the bare column can serve; expressions and other operators are beyond
        // a single-column btree advisor.
        let (Target::Column(column), PredicateKind::Equality | PredicateKind::Range) =
            (&predicate.target, predicate.kind)
        else {
            continue;
        };
        let duplicate = advice.iter().any(|c| {
            c.schema == scan.schema
                && c.table == table.relation
                && c.columns.first().and_then(IndexColumn::name) == Some(column.as_str())
        });
        if duplicate {
            continue;
        }
        let mut candidate = Candidate::btree(
            scan.schema.clone(),
            table.relation,
            vec![IndexColumn::asc(column.clone())],
        );
        candidate.reason = format!("single-column advice for {}", predicate.text);
        advice.push(candidate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(relation: &str, alias: &str, filter: Option<&str>) -> PlanNode {
        PlanNode {
            node_type: "Seq Scan".into(),
            relation_name: Some(relation.into()),
            alias: Some(alias.into()),
            filter: filter.map(str::to_owned),
            ..PlanNode::default()
        }
    }

    fn shapes(advice: &[Candidate]) -> Vec<String> {
        advice
            .iter()
            .map(|c| c.ddl(&c.index_name()))
            .map(|ddl| {
                ddl.trim_start_matches("CREATE INDEX CONCURRENTLY IF NOT EXISTS ")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn one_ascending_index_per_filtered_column_and_none_for_the_sort() {
        // The seed's recommendations lookup: a composite (product_id, score DESC) would serve the
        // filter and the sort together; single-column advice only sees the filter.
        let sort = PlanNode {
            node_type: "Sort".into(),
            sort_key: Some(vec!["rc.score DESC".into()]),
            plans: vec![scan("recommendations", "rc", Some("(rc.product_id = 42)"))].into(),
            ..PlanNode::default()
        };
        let advice = single_column_advice(&Explain::from_plan(sort));
        assert_eq!(
            shapes(&advice),
            [r#""recommendations_product_id_idx" ON "recommendations" ("product_id")"#]
        );
        assert!(advice[0].reason.contains("rc.product_id = 42"));
    }

    #[test]
    fn several_filtered_columns_get_separate_indexes_never_a_composite() {
        let plan = scan(
            "products",
            "p",
            Some("((p.category_id = 7) AND (p.price > 10.0) AND (p.status = 'live'::text))"),
        );
        let advice = single_column_advice(&Explain::from_plan(plan));
        assert_eq!(
            shapes(&advice),
            [
                r#""products_category_id_idx" ON "products" ("category_id")"#,
                r#""products_price_idx" ON "products" ("price")"#,
                r#""products_status_idx" ON "products" ("status")"#,
            ]
        );
    }

    #[test]
    fn expressions_and_unservable_operators_are_beyond_it() {
        let plan = scan(
            "users",
            "u",
            Some(
                "((lower(u.email) = 'a@b.c'::text) AND (u.name ~~ '%x%'::text) AND (u.age >= 18))",
            ),
        );
        let advice = single_column_advice(&Explain::from_plan(plan));
        assert_eq!(shapes(&advice), [r#""users_age_idx" ON "users" ("age")"#]);
    }

    #[test]
    fn join_keys_count_and_a_column_is_named_once() {
        let join = PlanNode {
            node_type: "Hash Join".into(),
            hash_cond: Some("(r.product_id = p.id)".into()),
            plans: vec![
                scan("reviews", "r", Some("(r.product_id < 100)")),
                PlanNode {
                    node_type: "Hash".into(),
                    plans: vec![scan("products", "p", Some("(p.category_id = 7)"))].into(),
                    ..PlanNode::default()
                },
            ]
            .into(),
            ..PlanNode::default()
        };
        let advice = single_column_advice(&Explain::from_plan(join));
        assert_eq!(
            shapes(&advice),
            [
                r#""reviews_product_id_idx" ON "reviews" ("product_id")"#,
                r#""products_id_idx" ON "products" ("id")"#,
                r#""products_category_id_idx" ON "products" ("category_id")"#,
            ]
        );
    }
}
