//! Candidates from committed real plans, DDL quoting, naming, and merging.

use super::*;
use crate::diagnose::{Thresholds, diagnose};
use crate::plan::{analyze, parse_explain};

fn advise_fixture(name: &str) -> Advice {
    let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let explain = parse_explain(&text).unwrap().remove(0);
    let analysis = analyze(&explain);
    let diagnosis = diagnose(&explain, &analysis, &Thresholds::default());
    candidates(&explain, &diagnosis.findings)
}

fn shape(candidate: &Candidate) -> String {
    let columns: Vec<String> = candidate.columns.iter().map(IndexColumn::ddl).collect();
    format!("{} ({})", candidate.table, columns.join(", "))
}

fn candidate(table: &str, columns: Vec<IndexColumn>, rule: &str) -> Candidate {
    Candidate {
        reason: format!("{rule} on {table}"),
        finding_rules: vec![rule.parse().unwrap()],
        ..Candidate::btree(None, table, columns)
    }
}

#[test]
fn seq_scan_filter_gives_its_equality_columns() {
    let advice = advise_fixture("seq_scan_filter.json");
    let shapes: Vec<String> = advice.candidates.iter().map(shape).collect();
    assert_eq!(shapes, [r#"orders ("note", "status")"#]);
    assert_eq!(advice.candidates[0].finding_rules, ["seq-scan"]);
    assert!(advice.candidates[0].reason.contains("note = 'gift'"));
}

#[test]
fn index_filter_waste_adds_the_filtered_range_after_the_index_equality() {
    let advice = advise_fixture("index_filter_waste.json");
    let shapes: Vec<String> = advice.candidates.iter().map(shape).collect();
    assert!(
        shapes.contains(&r#"people ("status", "score")"#.to_owned()),
        "{shapes:?} / {:?}",
        advice.no_suggestions
    );
}

#[test]
fn unfound_tables_say_why_nothing_is_suggested() {
    let advice = advise_fixture("subplan.json");
    assert!(advice.candidates.is_empty(), "{:?}", advice.candidates);
    let reasons: Vec<&str> = advice
        .no_suggestions
        .iter()
        .map(|n| n.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "already indexed: Index Scan on customers uses customers_pkey",
            "already indexed: Index Only Scan on orders uses orders_customer_id_idx"
        ]
    );
}

#[test]
fn ddl_quotes_everything_and_writes_only_non_default_directions() {
    let mut c = candidate(
        "Order Items",
        vec![
            IndexColumn::asc("select"),
            IndexColumn::desc("Score"),
            IndexColumn {
                nulls_first: false,
                ..IndexColumn::desc("a\"b")
            },
            IndexColumn {
                nulls_first: true,
                ..IndexColumn::asc("n")
            },
        ],
        "seq-scan",
    );
    c.schema = Some("My Schema".into());
    assert_eq!(
        c.ddl("ix"),
        r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix" ON "My Schema"."Order Items" ("select", "Score" DESC, "a""b" DESC NULLS LAST, "n" NULLS FIRST)"#
    );
}

#[test]
fn index_names_are_deterministic_and_fit_in_63_bytes() {
    let c = candidate(
        "recommendations",
        vec![IndexColumn::asc("product_id"), IndexColumn::desc("score")],
        "unindexed-sort",
    );
    assert_eq!(c.index_name(), "recommendations_product_id_score_desc_idx");
    let long = candidate(
        &"é".repeat(40),
        vec![IndexColumn::asc("a_very_long_column_name")],
        "seq-scan",
    );
    let name = long.index_name();
    assert!(name.len() <= 63, "{} bytes", name.len());
    assert!(name.ends_with("_idx"));
    assert_eq!(name, long.index_name());
}

#[test]
fn merge_keeps_the_longer_candidate_when_directions_match() {
    let short = candidate("r", vec![IndexColumn::asc("product_id")], "seq-scan");
    let long = candidate(
        "r",
        vec![IndexColumn::asc("product_id"), IndexColumn::desc("score")],
        "unindexed-sort",
    );
    let other_direction = candidate("r", vec![IndexColumn::desc("product_id")], "seq-scan");
    let other_table = candidate("s", vec![IndexColumn::asc("product_id")], "seq-scan");
    let merged = merge(vec![
        short.clone(),
        long.clone(),
        other_direction.clone(),
        other_table.clone(),
        short,
    ]);
    assert_eq!(merged.len(), 3, "{merged:?}");
    assert_eq!(merged[0].columns, long.columns);
    assert_eq!(merged[0].finding_rules, ["unindexed-sort", "seq-scan"]);
    assert!(merged[0].reason.contains("seq-scan on r"));
    assert_eq!(merged[1], other_direction);
    assert_eq!(merged[2], other_table);
}

#[test]
fn fixture_sort_over_a_scan_gives_the_sort_keys_in_order() {
    let advice = advise_fixture("sort_external.json");
    let shapes: Vec<String> = advice.candidates.iter().map(shape).collect();
    assert_eq!(shapes, [r#"orders ("note", "amount")"#]);
    assert_eq!(advice.candidates[0].finding_rules, ["unindexed-sort"]);
}

#[test]
fn fixture_index_filter_waste_puts_the_filter_equality_before_the_index_range() {
    let advice = advise_fixture("nested_loop_many_loops.json");
    let shapes: Vec<String> = advice.candidates.iter().map(shape).collect();
    assert_eq!(shapes, [r#"customers ("country", "id")"#]);
}

fn scan(relation: &str, alias: &str, filter: Option<&str>) -> PlanNode {
    PlanNode {
        node_type: "Seq Scan".into(),
        relation_name: Some(relation.into()),
        alias: Some(alias.into()),
        filter: filter.map(str::to_owned),
        ..PlanNode::default()
    }
}

fn finding(rule: &str, node_id: usize) -> Finding {
    Finding {
        rule: rule.parse().unwrap(),
        severity: crate::diagnose::Severity::Warning,
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

#[test]
fn both_sides_of_a_hash_join_get_their_join_keys() {
    let hash = PlanNode {
        node_type: "Hash".into(),
        plans: vec![scan("customers", "c", Some("(c.country = 'FR'::text)"))].into(),
        ..PlanNode::default()
    };
    let join = PlanNode {
        node_type: "Hash Join".into(),
        hash_cond: Some("(o.customer_id = c.id)".into()),
        plans: vec![scan("orders", "o", None), hash].into(),
        ..PlanNode::default()
    };
    let explain = Explain::from_plan(join);
    // Preorder: 0 Hash Join, 1 Seq Scan orders, 2 Hash, 3 Seq Scan customers.
    let advice = candidates(&explain, &[finding("seq-scan", 3), finding("seq-scan", 1)]);
    let shapes: Vec<String> = advice.candidates.iter().map(shape).collect();
    assert_eq!(
        shapes,
        [
            r#"customers ("country", "id")"#,
            r#"orders ("customer_id")"#
        ]
    );
    assert!(advice.candidates[0].reason.contains("join on"));
    // The probe side has no filter, but its join key lets a nested loop fetch only its matches.
    assert!(
        advice.candidates[1]
            .reason
            .contains("join on o.customer_id = c.id"),
        "{:?}",
        advice.candidates[1]
    );
    assert!(
        advice.no_suggestions.is_empty(),
        "{:?}",
        advice.no_suggestions
    );
}

#[test]
fn a_filter_on_an_immutable_function_gives_an_expression_index() {
    let explain = Explain::from_plan(scan(
        "users",
        "users",
        Some("(lower((users.email)::text) = 'a@b.c'::text)"),
    ));
    let advice = candidates(&explain, &[finding("seq-scan", 0)]);
    let shapes: Vec<String> = advice.candidates.iter().map(shape).collect();
    assert_eq!(shapes, [r#"users ((lower(("email")::TEXT)))"#]);
}

#[test]
fn a_filter_on_a_function_no_index_can_hold_says_why() {
    for (filter, reason) in [
        (
            "(to_char(orders.created_at, 'YYYY'::text) = '2024'::text)",
            "to_char() is not immutable",
        ),
        (
            "(date_trunc('day'::text, orders.created_at) = '2024-01-01 00:00:00+00'::timestamp with time zone)",
            "date_trunc() on a timestamptz is not immutable",
        ),
        (
            "(my_func(orders.note) = 1)",
            "my_func() is not known to be immutable",
        ),
        (
            "((orders.a + orders.b) = 3)",
            "the filter is not on a plain column or a known immutable function",
        ),
    ] {
        let explain = Explain::from_plan(scan("orders", "orders", Some(filter)));
        let advice = candidates(&explain, &[finding("seq-scan", 0)]);
        assert!(advice.candidates.is_empty(), "{filter}: {advice:?}");
        assert!(
            advice.no_suggestions[0].reason.starts_with(reason),
            "{filter}: {:?}",
            advice.no_suggestions
        );
    }
    let timestamp = Explain::from_plan(scan(
        "orders",
        "orders",
        Some(
            "(date_trunc('day'::text, orders.created_at) = '2024-01-01 00:00:00'::timestamp without time zone)",
        ),
    ));
    let advice = candidates(&timestamp, &[finding("seq-scan", 0)]);
    let shapes: Vec<String> = advice.candidates.iter().map(shape).collect();
    assert_eq!(
        shapes,
        [r#"orders ((date_trunc('day'::TEXT, "created_at")))"#]
    );
}

#[test]
fn an_operator_no_index_can_serve_says_so() {
    let explain = Explain::from_plan(scan(
        "orders",
        "orders",
        Some("(orders.note <> 'gift'::text)"),
    ));
    let advice = candidates(&explain, &[finding("seq-scan", 0)]);
    assert!(advice.candidates.is_empty());
    assert_eq!(
        advice.no_suggestions[0].reason,
        // sqlparser re-renders the conjunct (type names upper-cased).
        "no btree or GIN index serves the operator in orders.note <> 'gift'::TEXT"
    );
}

#[test]
fn patterns_and_containment_give_gin_and_prefixes_a_pattern_btree() {
    let gin = |filter: &str| {
        let explain = Explain::from_plan(scan("docs", "d", Some(filter)));
        candidates(&explain, &[finding("seq-scan", 0)]).candidates
    };
    let trigram = gin("(d.title ~~* '%rust%'::text)");
    assert_eq!(trigram.len(), 1, "{trigram:?}");
    assert_eq!(trigram[0].method, IndexMethod::Gin);
    assert_eq!(trigram[0].requires_extension.as_deref(), Some("pg_trgm"));
    assert_eq!(
        trigram[0].ddl("ix"),
        r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix" ON "docs" USING gin ("title" "gin_trgm_ops")"#
    );
    let contains = gin(r#"(d.body @> '{"a": 1}'::jsonb)"#);
    assert_eq!(shape(&contains[0]), r#"docs ("body" "jsonb_path_ops")"#);
    assert_eq!(contains[0].requires_extension, None);
    let both = gin(r#"((d.body @> '{"a": 1}'::jsonb) AND (d.body ? 'b'::text))"#);
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(shape(&both[0]), r#"docs ("body")"#);
    let prefix = gin("(d.title ~~ 'rust%'::text)");
    assert_eq!(prefix[0].method, IndexMethod::Btree);
    assert_eq!(shape(&prefix[0]), r#"docs ("title" "text_pattern_ops")"#);
}

#[test]
fn ddl_writes_method_expression_opclass_include_and_predicate() {
    let mut gin = candidate(
        "Docs",
        vec![IndexColumn::asc("bo\"dy").with_opclass("jsonb_path_ops")],
        "seq-scan",
    );
    gin.method = IndexMethod::Gin;
    assert_eq!(
        gin.ddl("ix"),
        r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix" ON "Docs" USING gin ("bo""dy" "jsonb_path_ops")"#
    );
    assert!(!gin.hypopg_supported());
    let mut partial = candidate(
        "orders",
        vec![IndexColumn::expression(r#"lower("E-mail")"#)],
        "seq-scan",
    );
    partial.include = vec!["total".into(), "Sel ect".into()];
    partial.predicate = Some(r#""status" = 'pending'::text"#.into());
    assert_eq!(
        partial.ddl("ix"),
        r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix" ON "orders" ((lower("E-mail"))) INCLUDE ("total", "Sel ect") WHERE "status" = 'pending'::text"#
    );
    assert!(partial.hypopg_supported());
    let name = partial.index_name();
    assert!(
        name.starts_with("orders_lower_E_mail_incl_total_Sel ect_where_"),
        "{name}"
    );
    assert_eq!(name.len(), 63, "{name}");
}

#[test]
fn index_names_differ_when_only_the_predicate_or_method_differs() {
    let plain = candidate("orders", vec![IndexColumn::asc("customer_id")], "seq-scan");
    let mut partial = plain.clone();
    partial.predicate = Some(r#""status" = 'pending'::text"#.into());
    let mut other_partial = plain.clone();
    other_partial.predicate = Some(r#""status" = 'failed'::text"#.into());
    let mut gin = plain.clone();
    gin.method = IndexMethod::Gin;
    let names = [
        plain.index_name(),
        partial.index_name(),
        other_partial.index_name(),
        gin.index_name(),
    ];
    for (i, a) in names.iter().enumerate() {
        assert!(a.len() <= 63, "{a}");
        for b in &names[i + 1..] {
            assert_ne!(a, b);
        }
    }
    // Past the 63-byte cut, a hash keeps long names apart.
    let mut long_a = candidate(&"t".repeat(50), vec![IndexColumn::asc("a")], "seq-scan");
    long_a.predicate = Some("x = 1".into());
    let mut long_b = long_a.clone();
    long_b.predicate = Some("x = 2".into());
    assert_ne!(long_a.index_name(), long_b.index_name());
    assert!(long_a.index_name().len() <= 63);
}

#[test]
fn coverage_between_candidates_respects_method_predicate_opclass_and_include() {
    let key = candidate("t", vec![IndexColumn::asc("a")], "seq-scan");
    let mut with_include = candidate(
        "t",
        vec![IndexColumn::asc("a"), IndexColumn::asc("b")],
        "seq-scan",
    );
    with_include.include = vec!["c".into()];
    assert!(key.is_covered_by(&with_include));
    let mut wants_c = key.clone();
    wants_c.include = vec!["c".into()];
    assert!(wants_c.is_covered_by(&with_include));
    let mut wants_b = key.clone();
    wants_b.include = vec!["b".into()];
    assert!(wants_b.is_covered_by(&with_include), "b is a key there");
    let mut wants_d = key.clone();
    wants_d.include = vec!["d".into()];
    assert!(!wants_d.is_covered_by(&with_include));
    let mut partial = key.clone();
    partial.predicate = Some("x".into());
    assert!(!partial.is_covered_by(&key) && !key.is_covered_by(&partial));
    let pattern = candidate(
        "t",
        vec![IndexColumn::asc("a").with_opclass("text_pattern_ops")],
        "seq-scan",
    );
    assert!(!pattern.is_covered_by(&key) && !key.is_covered_by(&pattern));
    let mut gin_ab = candidate(
        "t",
        vec![IndexColumn::asc("a"), IndexColumn::asc("b")],
        "seq-scan",
    );
    gin_ab.method = IndexMethod::Gin;
    let mut gin_b = candidate("t", vec![IndexColumn::asc("b")], "seq-scan");
    gin_b.method = IndexMethod::Gin;
    assert!(
        gin_b.is_covered_by(&gin_ab),
        "any key of a GIN index serves"
    );
    assert!(!gin_b.is_covered_by(&candidate("t", vec![IndexColumn::asc("b")], "seq-scan")));
}

#[test]
fn merge_unions_include_lists_of_equal_keys_and_carries_them_into_longer_keys() {
    let mut first = candidate("t", vec![IndexColumn::asc("a")], "seq-scan");
    first.include = vec!["x".into()];
    let mut second = candidate("t", vec![IndexColumn::asc("a")], "unindexed-sort");
    second.include = vec!["y".into(), "x".into()];
    let merged = merge(vec![first.clone(), second]);
    assert_eq!(merged.len(), 1, "{merged:?}");
    assert_eq!(merged[0].include, ["x", "y"]);
    assert_eq!(merged[0].finding_rules, ["seq-scan", "unindexed-sort"]);

    let longer = candidate(
        "t",
        vec![IndexColumn::asc("a"), IndexColumn::asc("x")],
        "seq-scan",
    );
    let merged = merge(vec![first, longer]);
    assert_eq!(merged.len(), 1, "{merged:?}");
    assert!(
        merged[0].include.is_empty(),
        "x is already a key: {merged:?}"
    );

    let mut partial = candidate("t", vec![IndexColumn::asc("a")], "seq-scan");
    partial.predicate = Some(r#""s" = 'p'::text"#.into());
    let plain = candidate("t", vec![IndexColumn::asc("a")], "seq-scan");
    assert_eq!(merge(vec![partial, plain]).len(), 2);
}

#[test]
fn a_sort_on_an_immutable_expression_gives_an_expression_key() {
    let sort = PlanNode {
        node_type: "Sort".into(),
        sort_key: Some(vec!["lower(u.name) DESC".into()]),
        plans: vec![scan("users", "u", Some("(u.team_id = 7)"))].into(),
        ..PlanNode::default()
    };
    let advice = candidates(
        &Explain::from_plan(sort),
        &[Finding {
            rule: RuleId::UnindexedSort,
            ..finding("seq-scan", 0)
        }],
    );
    let shapes: Vec<String> = advice.candidates.iter().map(shape).collect();
    assert_eq!(shapes, [r#"users ("team_id", (lower("name")) DESC)"#]);
}

#[test]
fn candidates_round_trip_through_json() {
    let mut c = candidate(
        "t",
        vec![
            IndexColumn::expression(r#"lower("e")"#),
            IndexColumn::desc("s").with_opclass("text_pattern_ops"),
        ],
        "seq-scan",
    );
    c.method = IndexMethod::Gin;
    c.include = vec!["x".into()];
    c.predicate = Some(r#""p" IS NULL"#.into());
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["method"], "gin");
    assert_eq!(json["columns"][0]["key"]["expression"], r#"lower("e")"#);
    assert_eq!(json["columns"][1]["key"]["column"], "s");
    let back: Candidate = serde_json::from_value(json).unwrap();
    assert_eq!(back, c);
}

/// `table (keys)` of every candidate, with the rules it answers.
fn shapes_and_rules(advice: &Advice) -> Vec<String> {
    advice
        .candidates
        .iter()
        .map(|c| {
            let rules: Vec<&str> = c.finding_rules.iter().map(|r| r.as_str()).collect();
            format!("{} [{}]", shape(c), rules.join(","))
        })
        .collect()
}

#[test]
fn an_unfiltered_probe_side_gets_its_join_key() {
    // orders (filtered, 10 rows) is hashed; order_items (1 M rows, no filter) is probed.
    let advice = advise_fixture("join_fk_probe_side.json");
    let shapes = shapes_and_rules(&advice);
    // Labelled by the join-full-scan finding on that scan (join-key where no finding fires).
    assert!(
        shapes.contains(&r#"order_items ("order_id") [join-full-scan]"#.to_owned()),
        "{shapes:?}"
    );
    // The build side keeps its filter key; its join key (the primary key, probed 1 M times)
    // would serve no nested loop.
    assert!(
        shapes
            .iter()
            .any(|s| s.starts_with(r#"orders ("customer_id")"#)),
        "{shapes:?}"
    );
    assert!(
        !shapes
            .iter()
            .any(|s| s.starts_with(r#"orders ("customer_id", "id")"#)),
        "{shapes:?}"
    );
}

#[test]
fn both_inputs_of_a_merge_join_are_seen_through_their_sorts() {
    let advice = advise_fixture("join_merge_candidates.json");
    let shapes = shapes_and_rules(&advice);
    // The 1 M-row side's sort is flagged too: the join-key index serves both.
    assert!(
        shapes
            .iter()
            .any(|s| s.starts_with(r#"order_items ("order_id") ["#)),
        "{shapes:?}"
    );
    assert!(
        shapes
            .iter()
            .any(|s| s.starts_with(r#"orders ("customer_id")"#)),
        "{shapes:?}"
    );
}

#[test]
fn a_three_table_chain_gets_a_key_on_each_table() {
    // customers (filtered) → orders by customer_id → order_items by order_id.
    let advice = advise_fixture("join_three_table_chain.json");
    let shapes = shapes_and_rules(&advice);
    for expected in [
        r#"order_items ("order_id") ["#,
        r#"orders ("customer_id") ["#,
    ] {
        assert!(shapes.iter().any(|s| s.starts_with(expected)), "{shapes:?}");
    }
    // The filter column is the key, not a partial index on the join key.
    let customers: Vec<&Candidate> = advice
        .candidates
        .iter()
        .filter(|c| c.table == "customers")
        .collect();
    assert!(!customers.is_empty(), "{shapes:?}");
    for c in customers {
        assert_eq!(c.columns[0].label(), "name", "{c:?}");
        assert_eq!(c.predicate, None, "{c:?}");
    }
}

#[test]
fn a_multi_table_join_gets_the_keys_of_every_large_table() {
    let advice = advise_fixture("join_peer_multi_table.json");
    let shapes = shapes_and_rules(&advice);
    assert!(
        shapes
            .iter()
            .any(|s| s.starts_with(r#"review ("book_id") ["#)),
        "{shapes:?}"
    );
    assert!(
        shapes.iter().any(|s| s.starts_with("books (")),
        "{shapes:?}"
    );
    // One candidate per table and key.
    let mut keys: Vec<String> = advice.candidates.iter().map(shape).collect();
    let all = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all, "{shapes:?}");
    // publishers fits in one page: said with its numbers.
    assert!(
        advice.no_suggestions.iter().any(|n| n
            .reason
            .starts_with("tiny table: publishers has 200 rows in 1 page, planned cost")),
        "{:?}",
        advice.no_suggestions
    );
}
