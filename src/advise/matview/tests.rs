//! View suggestions from SQL strings and hand-built plans: the shapes handled, quoting, naming,
//! and the reason given for every shape refused.

use serde_json::{Value as Json, json};

use super::*;
use crate::diagnose::{Severity, evidence};
use crate::plan::parse_explain_value;

fn scan(relation: &str, alias: &str) -> Json {
    json!({"Node Type": "Seq Scan", "Relation Name": relation, "Schema": "public", "Alias": alias})
}

fn aggregate(input: Json) -> Json {
    json!({"Node Type": "Aggregate", "Strategy": "Hashed", "Plans": [input]})
}

/// A join of products with a derived table (or CTE reference) `alias` aggregating `relation`; the
/// planner elides the Subquery Scan, as PostgreSQL does for a plain GROUP BY subquery.
fn joined(inner: Json) -> Json {
    json!({"Node Type": "Hash Join", "Plans": [inner, {"Node Type": "Hash", "Plans": [scan("products", "p")]}]})
}

fn explain(plan: Json) -> Explain {
    parse_explain_value(json!([{ "Plan": plan }]))
        .unwrap()
        .remove(0)
}

fn finding(rule: &str, node_id: usize) -> Finding {
    Finding {
        rule: rule.parse().unwrap(),
        severity: Severity::Critical,
        node_id,
        node_path: String::new(),
        relation: None,
        expressions: Vec::new(),
        summary: String::new(),
        evidence: vec![
            evidence("rows aggregated", "200,000"),
            evidence("rows read", "200,000"),
        ],
        time_at_stake_ms: 48.5,
        share_at_stake: 0.95,
        advice: String::new(),
        doc: String::new(),
    }
}

/// Suggestions for `sql` whose heavy aggregate is node `node_id` of `plan`.
fn advise(sql: &str, plan: Json, node_id: usize) -> MatviewAdvice {
    matview_suggestions(sql, &explain(plan), &[finding("heavy-aggregate", node_id)])
}

/// The plan of a top-level aggregate over `relation`.
fn top(relation: &str, alias: &str) -> Json {
    aggregate(scan(relation, alias))
}

fn only(advice: &MatviewAdvice) -> &MatviewSuggestion {
    assert_eq!(advice.suggestions.len(), 1, "{advice:#?}");
    &advice.suggestions[0]
}

fn refused(advice: &MatviewAdvice) -> &str {
    assert!(advice.suggestions.is_empty(), "{advice:#?}");
    assert_eq!(advice.no_suggestions.len(), 1, "{advice:#?}");
    &advice.no_suggestions[0].reason
}

const LISTING: &str = "SELECT p.id, rs.review_count, rs.avg_rating FROM products p \
    LEFT JOIN (SELECT product_id, count(*) AS review_count, avg(rating) AS avg_rating FROM reviews GROUP BY product_id) rs \
    ON rs.product_id = p.id WHERE p.category_id = 3";

#[test]
fn a_derived_table_becomes_the_view_under_its_alias() {
    let advice = advise(LISTING, joined(top("reviews", "reviews")), 1);
    let mv = only(&advice);
    assert_eq!(mv.name, "reviews_by_product_id_stats");
    assert_eq!(mv.schema.as_deref(), Some("public"));
    assert_eq!(mv.key_columns, ["product_id"]);
    assert_eq!(mv.node_id, 1);
    assert_eq!(
        mv.create_sql,
        r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "public"."reviews_by_product_id_stats" AS SELECT product_id AS "product_id", count(*) AS "review_count", avg(rating) AS "avg_rating" FROM "public"."reviews" GROUP BY product_id"#
    );
    assert_eq!(
        mv.unique_index_sql,
        r#"CREATE UNIQUE INDEX IF NOT EXISTS "reviews_by_product_id_stats_key" ON "public"."reviews_by_product_id_stats" ("product_id")"#
    );
    assert_eq!(
        mv.refresh_sql,
        r#"REFRESH MATERIALIZED VIEW CONCURRENTLY "public"."reviews_by_product_id_stats""#
    );
    assert_eq!(
        mv.rewritten.as_deref(),
        Some(
            r#"SELECT p.id, rs.review_count, rs.avg_rating FROM products p LEFT JOIN "public"."reviews_by_product_id_stats" AS "rs" ON rs.product_id = p.id WHERE p.category_id = 3"#
        )
    );
    assert_eq!(
        mv.reason,
        "replaces aggregating 200,000 rows of reviews by product_id on every execution (48.50 ms, 95.0% of the query)"
    );
}

#[test]
fn unaliased_aggregates_get_generated_columns_read_back_under_their_names() {
    let sql = "SELECT p.id, rs.count, rs.avg FROM products p JOIN (SELECT r.product_id, count(*), avg(r.rating) FROM reviews r GROUP BY r.product_id) rs ON rs.product_id = p.id";
    let mv = only(&advise(sql, joined(top("reviews", "r")), 1)).clone();
    assert!(
        mv.create_sql.ends_with(
            r#"AS SELECT r.product_id AS "product_id", count(*) AS "count_all", avg(r.rating) AS "avg_rating" FROM "public"."reviews" AS "r" GROUP BY r.product_id"#
        ),
        "{}",
        mv.create_sql
    );
    let rewritten = mv.rewritten.unwrap();
    assert!(
        rewritten.contains(
            r#"JOIN "public"."reviews_by_product_id_stats" AS "rs" ("product_id", "count", "avg") ON"#
        ),
        "{rewritten}"
    );
}

#[test]
fn a_cte_body_is_replaced_by_a_read_of_the_view() {
    let sql = "WITH stats AS (SELECT product_id, count(*) AS n FROM reviews GROUP BY product_id) SELECT p.id, s.n FROM products p JOIN stats s ON s.product_id = p.id";
    let plan = joined(
        json!({"Node Type": "Subquery Scan", "Alias": "s", "Plans": [top("reviews", "reviews")]}),
    );
    let mv = only(&advise(sql, plan, 2)).clone();
    assert_eq!(
        mv.rewritten.as_deref(),
        Some(
            r#"WITH stats AS (SELECT "product_id", "n" FROM "public"."reviews_by_product_id_stats") SELECT p.id, s.n FROM products p JOIN stats s ON s.product_id = p.id"#
        )
    );
}

#[test]
fn a_materialized_cte_is_found_by_its_initplan_name() {
    let sql = "WITH stats AS MATERIALIZED (SELECT product_id, count(*) AS n FROM reviews GROUP BY product_id), \
        other AS (SELECT product_id, max(rating) AS best FROM reviews GROUP BY product_id) \
        SELECT s.n, o.best FROM stats s JOIN other o USING (product_id)";
    let plan = json!({"Node Type": "Hash Join", "Plans": [
        {"Node Type": "Aggregate", "Parent Relationship": "InitPlan", "Subplan Name": "CTE stats", "Plans": [scan("reviews", "reviews")]},
        {"Node Type": "CTE Scan", "Alias": "s"},
        {"Node Type": "Hash", "Plans": [top("reviews", "reviews_1")]}
    ]});
    let mv = only(&advise(sql, plan, 1)).clone();
    assert!(
        mv.create_sql.contains(r#"count(*) AS "n""#),
        "{}",
        mv.create_sql
    );
    assert!(
        mv.rewritten
            .unwrap()
            .starts_with(r#"WITH stats AS MATERIALIZED (SELECT "product_id", "n" FROM"#)
    );
}

#[test]
fn a_top_level_aggregate_moves_its_key_conditions_onto_the_view() {
    let sql = "SELECT product_id, count(*), avg(rating) FROM reviews WHERE product_id = $1 GROUP BY product_id";
    let mv = only(&advise(sql, top("reviews", "reviews"), 0)).clone();
    assert_eq!(
        mv.create_sql,
        r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "public"."reviews_by_product_id_stats" AS SELECT product_id AS "product_id", count(*) AS "count_all", avg(rating) AS "avg_rating" FROM "public"."reviews" GROUP BY product_id"#
    );
    assert_eq!(
        mv.rewritten.as_deref(),
        Some(
            r#"SELECT "product_id", "count_all" AS "count", "avg_rating" AS "avg" FROM "public"."reviews_by_product_id_stats" WHERE "product_id" = $1"#
        )
    );
    // Every value of the key is in the view: nothing to warn about.
    assert!(!mv.reason.contains("serves only"), "{}", mv.reason);
}

#[test]
fn a_top_level_aggregate_keeps_constant_filters_in_a_view_named_for_them() {
    let sql = "SELECT product_id, count(*) AS n FROM reviews WHERE rating >= 4 AND product_id IN ($1, $2) GROUP BY product_id ORDER BY count(*) DESC LIMIT 5";
    let mv = only(&advise(sql, top("reviews", "reviews"), 0)).clone();
    assert!(
        mv.create_sql
            .ends_with(r#"FROM "public"."reviews" WHERE rating >= 4 GROUP BY product_id"#),
        "{}",
        mv.create_sql
    );
    assert!(mv.name.starts_with("reviews_by_product_id_"), "{}", mv.name);
    assert!(mv.name.ends_with("_stats") && mv.name != "reviews_by_product_id_stats");
    // The view holds rating >= 4 only, and says so where the user reads.
    assert!(
        mv.reason.ends_with(
            "; it serves only the values it was built from (rating >= 4): the same query with other values needs another view"
        ),
        "{}",
        mv.reason
    );
    assert_eq!(
        mv.rewritten.unwrap(),
        format!(
            r#"SELECT "product_id", "n" FROM "public"."{}" WHERE "product_id" IN ($1, $2) ORDER BY "n" DESC LIMIT 5"#,
            mv.name
        )
    );
}

#[test]
fn a_scan_finding_under_an_aggregate_brings_the_view_too() {
    // The product page: the key condition is pushed down into the scan, so the aggregate is
    // cheap and the scan is the finding.
    let sql = "SELECT p.id, rs.n FROM products p LEFT JOIN (SELECT product_id, count(*) AS n FROM reviews GROUP BY product_id) rs ON rs.product_id = p.id WHERE p.id = $1";
    let plan = json!({"Node Type": "Nested Loop", "Plans": [scan("products", "p"), top("reviews", "reviews")]});
    let advice = matview_suggestions(sql, &explain(plan), &[finding("seq-scan", 3)]);
    let mv = only(&advice);
    assert_eq!(mv.node_id, 2);
    assert!(
        mv.reason
            .starts_with("replaces a seq-scan reading 200,000 rows"),
        "{}",
        mv.reason
    );
    // A scan that feeds a join, not an aggregate, is none of this module's business.
    let plain =
        json!({"Node Type": "Hash Join", "Plans": [scan("products", "p"), scan("reviews", "r")]});
    let advice = matview_suggestions(sql, &explain(plain), &[finding("seq-scan", 2)]);
    assert_eq!(advice, MatviewAdvice::default());
}

#[test]
fn hostile_names_are_quoted_everywhere() {
    let sql = r#"SELECT o."select", count(*) AS "Line Count" FROM "My Schema"."Order Items" o WHERE o."select" = $1 GROUP BY o."select""#;
    let plan = json!({"Node Type": "Aggregate", "Plans": [
        {"Node Type": "Seq Scan", "Relation Name": "Order Items", "Schema": "My Schema", "Alias": "o"}
    ]});
    let mv = only(&advise(sql, plan, 0)).clone();
    assert_eq!(mv.name, "Order Items_by_select_stats");
    assert_eq!(
        mv.create_sql,
        r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "My Schema"."Order Items_by_select_stats" AS SELECT o."select" AS "select", count(*) AS "Line Count" FROM "My Schema"."Order Items" AS "o" GROUP BY o."select""#
    );
    assert_eq!(
        mv.unique_index_sql,
        r#"CREATE UNIQUE INDEX IF NOT EXISTS "Order Items_by_select_stats_key" ON "My Schema"."Order Items_by_select_stats" ("select")"#
    );
    assert_eq!(
        mv.rewritten.as_deref(),
        Some(
            r#"SELECT "select", "Line Count" FROM "My Schema"."Order Items_by_select_stats" AS "o" WHERE "select" = $1"#
        )
    );
}

#[test]
fn long_names_are_cut_to_63_bytes_keeping_the_suffix() {
    let table = "a_very_long_table_name_for_review_aggregates_of_products";
    let sql = format!(
        "SELECT product_identifier, category_identifier, count(*) AS n FROM {table} GROUP BY product_identifier, category_identifier"
    );
    let mv = only(&advise(&sql, top(table, table), 0)).clone();
    assert_eq!(mv.name.len(), 63, "{}", mv.name);
    assert!(mv.name.ends_with("_stats") && mv.name.starts_with(table));
    assert_eq!(
        mv.key_columns,
        ["product_identifier", "category_identifier"]
    );
    assert!(
        mv.unique_index_sql
            .contains(&format!("\"{}_key\"", &mv.name[..59]))
    );
}

#[test]
fn group_keys_by_position_and_expression_resolve_to_output_columns() {
    let sql = "SELECT date_trunc('day', created_at) AS day, product_id, count(*) AS n FROM reviews GROUP BY 1, product_id";
    let mv = only(&advise(sql, top("reviews", "reviews"), 0)).clone();
    assert_eq!(mv.key_columns, ["day", "product_id"]);
    assert_eq!(mv.name, "reviews_by_day_product_id_stats");
}

#[test]
fn every_shape_refused_says_why() {
    let cases: &[(&str, &str)] = &[
        (
            "SELECT product_id, count(*) AS n FROM reviews WHERE created_at > now() - interval '1 day' GROUP BY product_id",
            "calls now",
        ),
        (
            "SELECT product_id, count(*) AS n, random() AS r FROM reviews GROUP BY product_id",
            "calls random",
        ),
        (
            "SELECT product_id, count(*) AS n FROM reviews WHERE created_at > current_date GROUP BY product_id",
            "calls current_date",
        ),
        (
            "SELECT product_id, count(*) AS n FROM reviews WHERE rating > $1 GROUP BY product_id",
            "has a parameter on rating, which is not a group key",
        ),
        (
            "SELECT product_id, string_agg(body, ',' ORDER BY id) AS bodies FROM reviews GROUP BY product_id",
            "ordered aggregate",
        ),
        (
            "SELECT product_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY rating) AS median FROM reviews GROUP BY product_id",
            "ordered aggregate",
        ),
        (
            "SELECT product_id, count(*) AS n, rank() OVER (ORDER BY count(*)) AS r FROM reviews GROUP BY product_id",
            "window function",
        ),
        (
            "SELECT count(*) AS n FROM reviews GROUP BY product_id",
            "group key product_id is not in the select list",
        ),
        ("SELECT * FROM reviews GROUP BY id", "name its columns"),
        (
            "SELECT product_id, count(*) AS n, count(*) AS n FROM reviews GROUP BY product_id",
            "two view columns would be named n",
        ),
        (
            "SELECT product_id, count(*) AS n FROM reviews GROUP BY ROLLUP (product_id)",
            "is not in the select list",
        ),
        ("DELETE FROM reviews", "only a SELECT"),
        ("SELECT FROM WHERE", "does not parse"),
    ];
    for (sql, expected) in cases {
        let advice = advise(sql, top("reviews", "reviews"), 0);
        let reason = refused(&advice);
        assert!(reason.contains(expected), "{sql}: {reason}");
    }
}

#[test]
fn parameters_inside_a_joined_subquery_are_refused() {
    let sql = "SELECT p.id, rs.n FROM products p JOIN (SELECT product_id, count(*) AS n FROM reviews WHERE rating >= $1 GROUP BY product_id) rs ON rs.product_id = p.id";
    let reason = refused(&advise(sql, joined(top("reviews", "reviews")), 1)).to_owned();
    assert!(
        reason.contains("the aggregated subquery's WHERE uses the parameter $1"),
        "{reason}"
    );
    // Constants there are fine: they go into the view.
    let sql = sql.replace("$1", "4");
    let mv = only(&advise(&sql, joined(top("reviews", "reviews")), 1)).clone();
    assert!(
        mv.create_sql.contains("WHERE rating >= 4 GROUP BY"),
        "{}",
        mv.create_sql
    );
}

#[test]
fn an_aggregate_over_three_tables_or_another_table_is_refused() {
    let sql = "SELECT p.id, count(r.id) AS n FROM products p JOIN (SELECT r.id, r.product_id FROM reviews r JOIN users u ON u.id = r.user_id GROUP BY r.id, r.product_id) r ON r.product_id = p.id GROUP BY p.id";
    let plan = aggregate(json!({"Node Type": "Hash Join", "Plans": [
        scan("products", "p"),
        {"Node Type": "Hash", "Plans": [aggregate(json!({"Node Type": "Hash Join", "Plans": [scan("reviews", "r"), scan("users", "u")]}))]}
    ]}));
    let reason = refused(&advise(sql, plan, 0)).to_owned();
    assert!(
        reason.contains("more than one base table (products, reviews, users)"),
        "{reason}"
    );

    let reason = refused(&advise(LISTING, joined(top("orders", "orders")), 1)).to_owned();
    assert!(
        reason.contains(
            "the finding's relation orders is not what the statement's GROUP BY reads (reviews)"
        ),
        "{reason}"
    );
}

#[test]
fn findings_on_other_nodes_and_rules_give_nothing_or_a_reason() {
    assert_eq!(
        matview_suggestions(
            LISTING,
            &explain(joined(top("reviews", "reviews"))),
            &[finding("unindexed-sort", 1)]
        ),
        MatviewAdvice::default()
    );
    let reason = refused(&advise(LISTING, joined(top("reviews", "reviews")), 2)).to_owned();
    assert!(
        reason.contains("is a Seq Scan, not an Aggregate"),
        "{reason}"
    );
}

#[test]
fn two_different_views_never_share_a_name() {
    let sql = "WITH a AS (SELECT product_id, count(*) AS n FROM reviews GROUP BY product_id), \
        b AS (SELECT product_id, max(rating) AS best FROM reviews GROUP BY product_id) \
        SELECT a.n, b.best FROM a JOIN b USING (product_id)";
    let plan = json!({"Node Type": "Hash Join", "Plans": [
        {"Node Type": "Subquery Scan", "Alias": "a", "Plans": [top("reviews", "reviews")]},
        {"Node Type": "Hash", "Plans": [{"Node Type": "Subquery Scan", "Alias": "b", "Plans": [top("reviews", "reviews_1")]}]}
    ]});
    let advice = matview_suggestions(
        sql,
        &explain(plan),
        &[finding("heavy-aggregate", 2), finding("heavy-aggregate", 6)],
    );
    let names: Vec<&str> = advice.suggestions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "reviews_by_product_id_stats",
            "reviews_by_product_id_stats_2"
        ],
        "{advice:#?}"
    );
    let second = &advice.suggestions[1];
    assert!(
        second
            .create_sql
            .contains(r#""reviews_by_product_id_stats_2" AS SELECT"#)
    );
    assert!(
        second
            .unique_index_sql
            .contains(r#""reviews_by_product_id_stats_2_key""#)
    );
    assert!(
        second
            .rewritten
            .as_deref()
            .unwrap()
            .contains("reviews_by_product_id_stats_2")
    );
}

#[test]
fn a_limit_inside_the_subquery_is_refused_and_the_plan_alias_picks_the_right_subquery() {
    let sql = "SELECT p.id, top.n, rs.m FROM products p \
        JOIN (SELECT product_id, count(*) AS n FROM reviews GROUP BY product_id ORDER BY n DESC LIMIT 10) top ON top.product_id = p.id \
        JOIN (SELECT product_id, max(rating) AS m FROM reviews GROUP BY product_id) rs ON rs.product_id = p.id";
    let plan = json!({"Node Type": "Hash Join", "Plans": [
        {"Node Type": "Subquery Scan", "Alias": "top", "Plans": [{"Node Type": "Limit", "Plans": [top("reviews", "reviews")]}]},
        {"Node Type": "Hash", "Plans": [{"Node Type": "Subquery Scan", "Alias": "rs", "Plans": [top("reviews", "reviews_1")]}]}
    ]});
    let advice = matview_suggestions(
        sql,
        &explain(plan),
        &[finding("heavy-aggregate", 3), finding("heavy-aggregate", 7)],
    );
    assert_eq!(advice.no_suggestions.len(), 1, "{advice:#?}");
    assert_eq!(advice.no_suggestions[0].node_id, 3);
    assert!(
        advice.no_suggestions[0].reason.contains("has a LIMIT"),
        "{advice:#?}"
    );
    assert_eq!(advice.suggestions.len(), 1, "{advice:#?}");
    assert!(
        advice.suggestions[0]
            .create_sql
            .contains(r#"max(rating) AS "m""#)
    );
}

#[test]
fn an_aggregate_over_a_cte_is_not_over_the_table() {
    let sql = "WITH reviews AS (SELECT * FROM reviews WHERE rating > 2) SELECT product_id, count(*) AS n FROM reviews GROUP BY product_id";
    let plan = top("reviews", "reviews");
    let reason = refused(&advise(sql, plan, 0)).to_owned();
    assert!(reason.contains("the CTE reviews"), "{reason}");
}

/// The plan of an aggregate over a join of products (outer) and reviews (inner).
fn join_plan() -> Json {
    aggregate(json!({"Node Type": "Hash Join", "Plans": [
        scan("reviews", "r"),
        {"Node Type": "Hash", "Plans": [scan("products", "p")]}
    ]}))
}

#[test]
fn an_aggregate_over_a_join_reads_a_view_of_the_joined_table() {
    let sql = "SELECT p.id, p.name, count(r.id) AS n, round(avg(r.rating), 2) AS avg, sum(r.rating), count(DISTINCT r.user_id), count(*) \
        FROM products p LEFT JOIN reviews r ON p.id = r.product_id WHERE p.category_id = $1 \
        GROUP BY p.id, p.name HAVING count(r.id) > 3 ORDER BY count(r.id) DESC LIMIT 5";
    let mv = only(&advise(sql, join_plan(), 0)).clone();
    assert_eq!(mv.name, "reviews_by_product_id_stats");
    assert_eq!(mv.key_columns, ["product_id"]);
    assert_eq!(
        mv.create_sql,
        r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "public"."reviews_by_product_id_stats" AS SELECT "r"."product_id" AS "product_id", count(r.id) AS "n", avg(r.rating) AS "avg_rating", sum(r.rating) AS "sum_rating", count(DISTINCT r.user_id) AS "count_distinct_user_id", count(*) AS "count_all" FROM "public"."reviews" AS "r" GROUP BY "r"."product_id""#
    );
    assert_eq!(
        mv.rewritten.as_deref(),
        Some(concat!(
            r#"SELECT p.id, p.name, coalesce(max("r"."n"), 0) * count(*) AS n, round(max("r"."avg_rating"), 2) AS avg, "#,
            r#"max("r"."sum_rating") * count(*) AS "sum", coalesce(max("r"."count_distinct_user_id"), 0) AS "count", "#,
            r#"coalesce(max("r"."count_all"), 1) * count(*) AS "count" "#,
            r#"FROM products p LEFT JOIN "public"."reviews_by_product_id_stats" AS "r" ON p.id = r.product_id WHERE p.category_id = $1 "#,
            r#"GROUP BY p.id, p.name HAVING coalesce(max("r"."n"), 0) * count(*) > 3 ORDER BY coalesce(max("r"."n"), 0) * count(*) DESC LIMIT 5"#
        ))
    );
    assert!(
        mv.reason
            .contains("of reviews by product_id for its join with products"),
        "{}",
        mv.reason
    );
}

#[test]
fn an_inner_join_counts_rows_without_the_left_join_correction() {
    let sql = "SELECT p.id, count(*) AS n FROM products p JOIN reviews r ON r.product_id = p.id GROUP BY p.id";
    let mv = only(&advise(sql, join_plan(), 0)).clone();
    assert!(mv.rewritten.unwrap().starts_with(
        r#"SELECT p.id, coalesce(max("r"."n"), 0) * count(*) AS n FROM products p JOIN"#
    ));
}

#[test]
fn join_shapes_that_cannot_move_onto_a_view_say_why() {
    let cases: &[(&str, &str)] = &[
        (
            "SELECT p.id, count(r.id), max(p.price) FROM products p JOIN reviews r ON r.product_id = p.id GROUP BY p.id",
            "read columns of both tables",
        ),
        (
            "SELECT p.name, count(r.id) FROM products p LEFT JOIN reviews r ON r.product_id = p.id GROUP BY p.name",
            "the join key p.id is not a group key",
        ),
        (
            "SELECT p.id, count(r.id) FROM products p LEFT JOIN reviews r ON r.product_id = p.id WHERE r.rating > 3 GROUP BY p.id",
            "the WHERE reads reviews",
        ),
        (
            "SELECT p.id, count(r.id) FILTER (WHERE r.rating > 3) FROM products p LEFT JOIN reviews r ON r.product_id = p.id GROUP BY p.id",
            "FILTER",
        ),
        (
            "SELECT r.product_id, count(p.id) FROM products p LEFT JOIN reviews r ON r.product_id = p.id GROUP BY r.product_id",
            "preserved side of the LEFT JOIN",
        ),
        (
            "SELECT p.id, count(rating) FROM products p LEFT JOIN reviews r ON r.product_id = p.id GROUP BY p.id",
            "only a qualified column",
        ),
        (
            "SELECT p.id, string_agg(r.body, ',') FROM products p LEFT JOIN reviews r ON r.product_id = p.id GROUP BY p.id",
            "no count, sum, avg, min or max",
        ),
        (
            "SELECT p.id, count(r.id) FROM products p LEFT JOIN reviews r ON r.product_id = p.id AND r.rating > 3 GROUP BY p.id",
            "is not one equality of two columns",
        ),
        (
            "SELECT p.id, count(r.id) FROM products p FULL JOIN reviews r ON r.product_id = p.id GROUP BY p.id",
            "only an INNER or LEFT JOIN",
        ),
        (
            "SELECT o.id, count(r.id) FROM orders o LEFT JOIN reviews r ON r.product_id = o.id GROUP BY o.id",
            "are not the statement's join of orders and reviews",
        ),
    ];
    for (sql, expected) in cases {
        let reason = refused(&advise(sql, join_plan(), 0)).to_owned();
        assert!(reason.contains(expected), "{sql}: {reason}");
    }
}

#[test]
fn views_of_several_statements_get_distinct_names_unless_identical() {
    let one = "SELECT p.id, rs.n FROM products p JOIN (SELECT product_id, count(*) AS n FROM reviews GROUP BY product_id) rs ON rs.product_id = p.id";
    let other = one.replace("count(*)", "count(DISTINCT user_id)");
    let plan = || joined(top("reviews", "reviews"));
    let mut all: Vec<MatviewSuggestion> = [one, one, other.as_str(), one]
        .iter()
        .flat_map(|sql| advise(sql, plan(), 1).suggestions)
        .collect();
    unique_view_names(&mut all);
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "reviews_by_product_id_stats",
            "reviews_by_product_id_stats",
            "reviews_by_product_id_stats_2",
            "reviews_by_product_id_stats"
        ]
    );
    assert!(
        all[2]
            .rewritten
            .as_deref()
            .unwrap()
            .contains("reviews_by_product_id_stats_2")
    );
    assert!(all[2].create_sql.contains("count(DISTINCT user_id)"));
}

/// The plan of the category listing as users write it: a parallel aggregate over a hash join
/// whose probe side reads every review (node 6) and whose build side filters products (node 8).
fn listing_plan() -> Json {
    json!({"Node Type": "Limit", "Plans": [{"Node Type": "Sort", "Plans": [
        {"Node Type": "Aggregate", "Strategy": "Sorted", "Partial Mode": "Finalize",
         "Output": ["p.id", "p.name", "count(r.id)", "avg(r.rating)"], "Plans": [
            {"Node Type": "Gather Merge", "Plans": [
                {"Node Type": "Aggregate", "Strategy": "Sorted", "Partial Mode": "Partial",
                 "Output": ["p.id", "PARTIAL count(r.id)", "PARTIAL avg(r.rating)"], "Plans": [
                    {"Node Type": "Hash Join", "Plans": [
                        scan("reviews", "r"),
                        {"Node Type": "Hash", "Plans": [scan("products", "p")]}
                    ]}
                ]}
            ]}
        ]}
    ]}]})
}

const LISTING_AS_WRITTEN: &str = "SELECT p.id, p.name, count(r.id) AS review_count, avg(r.rating) AS avg_rating \
    FROM products p JOIN reviews r ON r.product_id = p.id WHERE p.category_id = $1 \
    GROUP BY p.id ORDER BY avg(r.rating) DESC LIMIT 20";

#[test]
fn a_scan_read_through_a_join_into_an_aggregate_of_its_columns_gets_a_view() {
    let advice = matview_suggestions(
        LISTING_AS_WRITTEN,
        &explain(listing_plan()),
        &[finding("seq-scan", 6)],
    );
    let mv = only(&advice);
    assert_eq!(mv.node_id, 2, "the whole aggregate, not the partial one");
    assert_eq!(mv.name, "reviews_by_product_id_stats");
    assert!(
        mv.reason
            .starts_with("replaces joining and aggregating 200,000 rows of reviews by product_id"),
        "{}",
        mv.reason
    );
    assert!(
        mv.rewritten
            .as_deref()
            .unwrap()
            .contains(r#"JOIN "public"."reviews_by_product_id_stats" AS "r""#),
        "{:?}",
        mv.rewritten
    );
}

#[test]
fn a_finding_on_the_joined_table_that_is_not_aggregated_gets_no_view() {
    // products is the join's filter side: a view of products would not replace anything.
    let advice = matview_suggestions(
        LISTING_AS_WRITTEN,
        &explain(listing_plan()),
        &[finding("seq-scan", 8)],
    );
    assert_eq!(advice, MatviewAdvice::default());
}

#[test]
fn an_unqualified_aggregate_column_is_placed_by_the_plans_output() {
    // `avg(rating)`: the Aggregate's VERBOSE output says it is `avg(r.rating)`.
    let sql = "SELECT p.id, p.name, count(*) AS review_count, avg(rating) AS avg_rating \
        FROM products p JOIN reviews r ON r.product_id = p.id WHERE p.category_id = $1 \
        GROUP BY p.id ORDER BY avg(rating) DESC LIMIT 20";
    let advice = matview_suggestions(sql, &explain(listing_plan()), &[finding("seq-scan", 6)]);
    let mv = only(&advice);
    assert!(
        mv.create_sql.contains(r#"avg(rating) AS "avg_rating""#),
        "{}",
        mv.create_sql
    );
    assert!(
        mv.rewritten
            .as_deref()
            .unwrap()
            .contains(r#"ORDER BY max("r"."avg_rating") DESC"#),
        "{:?}",
        mv.rewritten
    );
}
