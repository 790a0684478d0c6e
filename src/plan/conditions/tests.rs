//! Conditions and sort keys as PostgreSQL 15 prints them (strings from `fixtures/plans`), and the
//! EXPLAIN-only syntax no SQL parser knows.

use super::*;

const ORDERS: TableRef<'static> = TableRef {
    relation: "orders",
    alias: Some("o"),
};

fn column(name: &str, kind: PredicateKind) -> (Target, PredicateKind) {
    (Target::Column(name.into()), kind)
}

fn summary(predicates: &[Predicate]) -> Vec<(Target, PredicateKind)> {
    predicates
        .iter()
        .map(|p| (p.target.clone(), p.kind))
        .collect()
}

#[test]
fn fixture_filter_with_two_equalities() {
    let predicates = parse_condition("((note = 'gift'::text) AND (status = 'new'::text))", ORDERS);
    assert_eq!(
        summary(&predicates),
        [
            column("note", PredicateKind::Equality),
            column("status", PredicateKind::Equality)
        ]
    );
    assert!(predicates.iter().all(|p| !p.join_key));
}

#[test]
fn fixture_ranges_qualified_and_unqualified() {
    let people = TableRef {
        relation: "people",
        alias: Some("people"),
    };
    assert_eq!(
        summary(&parse_condition("(people.score < 50)", people)),
        [column("score", PredicateKind::Range)]
    );
    assert_eq!(
        summary(&parse_condition(
            "((customer_id >= 1000) AND (customer_id <= 6000))",
            ORDERS
        )),
        [
            column("customer_id", PredicateKind::Range),
            column("customer_id", PredicateKind::Range)
        ]
    );
    assert_eq!(
        summary(&parse_condition("(amount > '100'::numeric)", ORDERS)),
        [column("amount", PredicateKind::Range)]
    );
    assert_eq!(
        summary(&parse_condition(
            "(created_at > (now() - '01:00:00'::interval))",
            ORDERS
        )),
        [column("created_at", PredicateKind::Range)]
    );
}

#[test]
fn fixture_join_keys_belong_to_the_qualified_side() {
    let customers = TableRef {
        relation: "customers",
        alias: Some("c"),
    };
    let on_customers = parse_condition("(o.customer_id = c.id)", customers);
    assert_eq!(
        summary(&on_customers),
        [column("id", PredicateKind::Equality)]
    );
    assert!(on_customers[0].join_key);
    let on_orders = parse_condition("(o.customer_id = c.id)", ORDERS);
    assert_eq!(
        summary(&on_orders),
        [column("customer_id", PredicateKind::Equality)]
    );
    // An Index Cond's unqualified column is the scanned table's; the other side is the join key.
    let index_cond = parse_condition("(customer_id = c.id)", ORDERS);
    assert_eq!(
        summary(&index_cond),
        [column("customer_id", PredicateKind::Equality)]
    );
    assert!(index_cond[0].join_key);
}

#[test]
fn like_prefix_is_a_range_and_other_patterns_are_not() {
    let jobs = TableRef {
        relation: "jobs",
        alias: None,
    };
    assert_eq!(
        summary(&parse_condition("(jobs.payload ~~ 'a%'::text)", jobs)),
        [column("payload", PredicateKind::Range)]
    );
    assert!(parse_condition("(jobs.payload ~~ 'a%'::text)", jobs)[0].prefix_pattern);
    assert_eq!(
        summary(&parse_condition("(jobs.payload ~~ '%a'::text)", jobs)),
        [column("payload", PredicateKind::Pattern)]
    );
    assert_eq!(
        summary(&parse_condition("(jobs.payload ~~* 'a%'::text)", jobs)),
        [column("payload", PredicateKind::Pattern)]
    );
    assert_eq!(
        summary(&parse_condition("(jobs.payload !~~ 'a%'::text)", jobs)),
        [column("payload", PredicateKind::Other)]
    );
}

#[test]
fn in_any_is_null_and_between_are_classified() {
    assert_eq!(
        summary(&parse_condition(
            "((status = ANY ('{new,paid}'::text[])) AND (note IS NULL) AND (amount BETWEEN 1 AND 5) AND (id IN (1, 2)))",
            ORDERS
        )),
        [
            column("status", PredicateKind::Equality),
            column("note", PredicateKind::Equality),
            column("amount", PredicateKind::Range),
            column("id", PredicateKind::Equality),
        ]
    );
}

#[test]
fn expressions_keep_their_text_for_expression_indexes() {
    let users = TableRef {
        relation: "users",
        alias: None,
    };
    let predicates = parse_condition("(lower(email) = 'a@b.c'::text)", users);
    assert_eq!(predicates.len(), 1);
    assert_eq!(predicates[0].kind, PredicateKind::Equality);
    assert_eq!(
        predicates[0].target,
        Target::Expression(r#"lower("email")"#.into())
    );
    // The fixture's modulo filter: an expression no index is suggested for, with the reason.
    let modulo = parse_condition("((customer_id % 3) = 0)", ORDERS);
    assert!(matches!(modulo[0].target, Target::Expression(_)));
    assert_eq!(modulo[0].kind, PredicateKind::Other);
    assert!(
        modulo[0]
            .why_not
            .as_deref()
            .is_some_and(|w| w.contains("customer_id % 3")),
        "{modulo:?}"
    );
}

#[test]
fn subplan_references_become_a_placeholder_and_the_rest_survives() {
    assert_eq!(preclean("(NOT (hashed SubPlan 1))"), "(NOT $999)");
    assert_eq!(preclean("(amount > (SubPlan 2))"), "(amount > $999)");
    assert_eq!(preclean("(amount > (InitPlan 1).col1)"), "(amount > $999)");
    assert_eq!(
        preclean("((alternatives: SubPlan 1 or hashed SubPlan 2) AND (id = 1))"),
        "(($999) AND (id = 1))"
    );
    let predicates = parse_condition(
        "((status = 'new'::text) AND (NOT (hashed SubPlan 1)) AND (amount > (InitPlan 2).col1))",
        ORDERS,
    );
    assert_eq!(
        summary(&predicates),
        [
            column("status", PredicateKind::Equality),
            column("amount", PredicateKind::Range)
        ]
    );
    assert_eq!(
        summary(&parse_condition("(amount > $0)", ORDERS)),
        [column("amount", PredicateKind::Range)]
    );
    assert_eq!(
        summary(&parse_condition("(customer_id = $1)", ORDERS)),
        [column("customer_id", PredicateKind::Equality)]
    );
}

#[test]
fn an_unparseable_conjunct_does_not_lose_the_others() {
    let predicates = parse_condition(
        "((status = 'new'::text) AND (ANY (id = (hashed SubPlan 1).col1)))",
        ORDERS,
    );
    assert_eq!(predicates[0].target, Target::Column("status".into()));
    assert_eq!(predicates[0].kind, PredicateKind::Equality);
    assert!(predicates.len() == 1 || predicates[1].kind == PredicateKind::Other);
}

#[test]
fn quoted_identifiers_keep_their_case() {
    let table = TableRef {
        relation: "Order Items",
        alias: Some("Order Items"),
    };
    assert_eq!(
        summary(&parse_condition("(\"Order Items\".\"select\" = 3)", table)),
        [column("select", PredicateKind::Equality)]
    );
}

#[test]
fn sort_keys_with_postgres_null_defaults() {
    let recommendations = TableRef {
        relation: "recommendations",
        alias: Some("r"),
    };
    let score = parse_sort_key("r.score DESC", recommendations);
    assert_eq!(score.target, Some(Target::Column("score".into())));
    assert!(score.desc && score.nulls_first);
    let x = parse_sort_key("x DESC NULLS LAST", recommendations);
    assert!(x.desc && !x.nulls_first);
    let note = parse_sort_key("note", ORDERS);
    assert_eq!(note.target, Some(Target::Column("note".into())));
    assert!(!note.desc && !note.nulls_first);
    let first = parse_sort_key("amount NULLS FIRST", ORDERS);
    assert!(!first.desc && first.nulls_first);
    assert_eq!(parse_sort_key("c.country", ORDERS).target, None);
    assert_eq!(
        parse_sort_key("lower(note)", ORDERS).target,
        Some(Target::Expression(r#"lower("note")"#.into()))
    );
    let volatile = parse_sort_key("random()", ORDERS);
    assert_eq!(
        volatile.target, None,
        "no column of the table: nothing to index"
    );
    let stable = parse_sort_key("to_char(o.created_at, 'YYYY'::text)", ORDERS);
    assert!(
        stable
            .why_not
            .as_deref()
            .is_some_and(|w| w.starts_with("to_char() is not immutable")),
        "{stable:?}"
    );
}

#[test]
fn constants_flags_and_sql_text_for_partial_predicates() {
    let jobs = TableRef {
        relation: "jobs",
        alias: Some("j"),
    };
    let predicates = parse_condition(
        "((j.status = 'pending'::text) AND j.urgent AND (NOT j.done) AND (j.deleted_at IS NULL) AND (j.owner_id = 42) AND (j.batch = $1))",
        jobs,
    );
    let constants: Vec<Option<Constant>> = predicates.iter().map(|p| p.constant).collect();
    assert_eq!(
        constants,
        [
            Some(Constant::Text),
            Some(Constant::Boolean),
            Some(Constant::Boolean),
            Some(Constant::Null),
            Some(Constant::Number),
            None
        ]
    );
    assert!(predicates.iter().all(|p| p.kind == PredicateKind::Equality));
    let sql: Vec<&str> = predicates.iter().map(|p| p.sql.as_str()).collect();
    assert_eq!(
        sql,
        [
            r#""status" = 'pending'::TEXT"#,
            r#""urgent""#,
            r#"NOT "done""#,
            r#""deleted_at" IS NULL"#,
            r#""owner_id" = 42"#,
            r#""batch" = $1"#
        ]
    );
}

#[test]
fn gin_operators_are_classified() {
    let docs = TableRef {
        relation: "docs",
        alias: None,
    };
    assert_eq!(
        summary(&parse_condition(
            r#"((body @> '{"a": 1}'::jsonb) AND (body ? 'k'::text) AND (body ?| '{a,b}'::text[]) AND (title ~* 'x'::text))"#,
            docs
        )),
        [
            column("body", PredicateKind::Contains),
            column("body", PredicateKind::KeyExists),
            column("body", PredicateKind::KeyExists),
            column("title", PredicateKind::Pattern),
        ]
    );
}

#[test]
fn normalized_expressions_match_what_the_catalog_prints() {
    assert_eq!(
        normalize_expression("lower((email)::text)"),
        normalize_expression("(lower((u.email)::text))")
    );
    assert_eq!(
        normalize_expression("(status = 'pending'::text)"),
        r#""status" = 'pending'::TEXT"#
    );
    assert_eq!(
        normalize_expression(r#"lower("Mixed ""Case""")"#),
        r#"lower("Mixed ""Case""")"#
    );
    assert_eq!(normalize_expression("((("), "(((");
}

/// `referenced_columns` as (name, compared with `=`) pairs.
fn columns(text: &str, qualifiers: &[&str]) -> Vec<(String, bool)> {
    referenced_columns(text, qualifiers)
        .into_iter()
        .map(|c| (c.name, c.equality))
        .collect()
}

fn named(names: &[(&str, bool)]) -> Vec<(String, bool)> {
    names.iter().map(|(n, e)| ((*n).to_owned(), *e)).collect()
}

#[test]
fn referenced_columns_qualified_or_bare() {
    let reviews = ["reviews", "r"];
    assert_eq!(
        columns(
            "avg(r.rating) + count(p.id) + public.reviews.score",
            &reviews
        ),
        named(&[("rating", false), ("score", false)])
    );
    assert_eq!(
        columns("avg(rating)", &reviews),
        named(&[("rating", false)])
    );
    // With no qualifiers, every table's columns count.
    assert_eq!(
        columns("(p.id = r.product_id)", &[]),
        named(&[("id", true), ("product_id", true)])
    );
    assert!(columns("'unterminated", &reviews).is_empty());
    assert_eq!(
        ORDERS.qualifiers(),
        ["orders", "o"],
        "a table's columns are qualified by its name or its alias"
    );
}

#[test]
fn referenced_columns_of_a_two_table_condition_keep_the_scan_s_own() {
    assert_eq!(
        columns(
            "((p.city = 'city 7'::text) AND (p.zip = 'zip 7-3'::text))",
            &["p", "people"]
        ),
        named(&[("city", true), ("zip", true)])
    );
    // Other tables' columns, parameters, functions and multi-word casts are not columns.
    assert_eq!(
        columns(
            "((v.person_id = p.id) AND (v.seen > (now() - '1 day'::interval)) AND (v.amount > $0) AND (v.at < '2024-01-01'::timestamp with time zone))",
            &["v"]
        ),
        named(&[
            ("person_id", true),
            ("seen", false),
            ("amount", false),
            ("at", false),
        ])
    );
    assert_eq!(
        columns("((customer_id % 3) = 0)", &[]),
        named(&[("customer_id", false)])
    );
}

#[test]
fn referenced_columns_see_through_casts_but_not_into_type_names() {
    // A text cast is PostgreSQL relabelling a varchar: the column is still what `=` compares.
    assert_eq!(
        columns("((o.city)::text = 'Paris'::text)", &["o"]),
        named(&[("city", true)])
    );
    assert_eq!(
        columns("((created_at)::date = '2024-01-01'::date)", &[]),
        named(&[("created_at", false)])
    );
    assert_eq!(
        columns(
            "(o.placed_at >= ('2024-01-01'::timestamp without time zone + '7 days'::interval))",
            &["o"]
        ),
        named(&[("placed_at", false)])
    );
}

#[test]
fn referenced_columns_keep_quoted_names_whole() {
    assert_eq!(
        columns(
            r#"(("o"."order date" > now()) AND (o."Mixed ""Case""" = 1) AND ("a.b" IS NULL))"#,
            &["o"]
        ),
        named(&[
            ("order date", false),
            (r#"Mixed "Case""#, true),
            ("a.b", false)
        ])
    );
    // A quoted qualifier is compared unquoted.
    assert_eq!(
        columns(r#"("Order Lines".qty > 1)"#, &["Order Lines"]),
        named(&[("qty", false)])
    );
    assert!(columns(r#"("Order Lines".qty > 1)"#, &["o"]).is_empty());
}

#[test]
fn referenced_columns_skip_function_names_and_read_their_arguments() {
    assert_eq!(
        columns(
            "((lower(o.email) = 'a@b.c'::text) AND (date_trunc('day'::text, o.placed_at) = $1) AND (COALESCE(o.discount, 0) > 5))",
            &["o"]
        ),
        named(&[("email", false), ("placed_at", false), ("discount", false)])
    );
    // Aggregates, window functions as VERBOSE prints them, and partial aggregates.
    assert_eq!(
        columns("rank() OVER (?)", &[]),
        Vec::<(String, bool)>::new()
    );
    assert_eq!(
        columns("PARTIAL avg(r.rating)", &["r"]),
        named(&[("rating", false)])
    );
    assert_eq!(
        columns("count(*) FILTER (WHERE (status = 'done'::text))", &[]),
        named(&[("status", true)])
    );
}

#[test]
fn referenced_columns_skip_subplans_and_parameters() {
    assert_eq!(
        columns("(NOT (hashed SubPlan 1))", &[]),
        Vec::<(String, bool)>::new()
    );
    assert_eq!(
        columns(
            "((o.total > (InitPlan 1).col1) AND (o.customer_id = $0))",
            &["o"]
        ),
        named(&[("total", false), ("customer_id", true)])
    );
    assert_eq!(
        columns(
            "((alternatives: SubPlan 1 or hashed SubPlan 2) OR (o.status = 'new'::text))",
            &["o"]
        ),
        named(&[("status", true)])
    );
}

#[test]
fn referenced_columns_of_any_in_and_boolean_combinations() {
    assert_eq!(columns("(o.id = ANY ($1))", &["o"]), named(&[("id", true)]));
    assert_eq!(
        columns("(o.status = ANY ('{new,paid}'::text[]))", &["o"]),
        named(&[("status", true)])
    );
    // `<> ALL`, `< ANY`: not equalities.
    assert_eq!(
        columns("((o.status <> ALL ($2)) AND (o.qty < ANY ($3)))", &["o"]),
        named(&[("status", false), ("qty", false)])
    );
    // A column compared with `=` anywhere counts as an equality column.
    assert_eq!(
        columns(
            "(((o.a = 1) OR (o.b > 2)) AND (NOT o.flag) AND (o.b = 3) AND (o.c IS NOT NULL))",
            &["o"]
        ),
        named(&[("a", true), ("b", true), ("flag", false), ("c", false)])
    );
    // `<=`, `>=` and `<>` are not `=`.
    assert_eq!(
        columns("((x <= 1) AND (y >= 2) AND (z <> 3))", &[]),
        named(&[("x", false), ("y", false), ("z", false)])
    );
}

#[test]
fn row_predicates_hold_own_columns_and_literals_only() {
    let own = ["o", "orders"];
    assert!(is_row_predicate(
        "((o.status = 'pending'::text) AND (o.total > 100.5) AND (o.note IS NULL))",
        &own
    ));
    assert!(is_row_predicate(
        "((status)::text = ANY ('{new,paid}'::text[]))",
        &own
    ));
    assert!(is_row_predicate(
        "(o.placed_at > '2024-01-01 00:00:00'::timestamp without time zone)",
        &own
    ));
    // A `$` inside a literal is not a parameter.
    assert!(is_row_predicate("(o.currency = '$'::text)", &own));
    for beyond in [
        "(o.customer_id = $1)",
        "(o.customer_id = c.id)",
        "(lower(o.email) = 'a@b.c'::text)",
        "(o.placed_at > CURRENT_DATE)",
        "(o.placed_at > (now() - '1 day'::interval))",
        "(NOT (hashed SubPlan 1))",
        "(o.total > (InitPlan 1).col1)",
        "((o.a = 1) AND (o.b @@@ ~~~ 2))",
    ] {
        assert!(!is_row_predicate(beyond, &own), "{beyond}");
    }
}

#[test]
fn referenced_columns_of_sort_keys_and_unreadable_parts() {
    assert_eq!(
        columns("r.created_at DESC NULLS LAST", &["r"]),
        named(&[("created_at", false)])
    );
    // One conjunct sqlparser cannot read does not lose the others.
    assert_eq!(
        columns("((o.a = 1) AND (o.b @@@ ~~~ 2) AND (o.c > 3))", &["o"]),
        named(&[("a", true), ("c", false)])
    );
}

#[test]
fn text_casts_are_the_column_and_converting_casts_are_expressions() {
    assert_eq!(
        summary(&parse_condition("((o.city)::text = 'Paris'::text)", ORDERS)),
        [column("city", PredicateKind::Equality)]
    );
    let numeric = parse_condition("((o.qty)::numeric > 1.5)", ORDERS);
    assert_eq!(
        summary(&numeric),
        [(
            Target::Expression(r#"("qty")::NUMERIC"#.into()),
            PredicateKind::Range
        )]
    );
    let date = parse_condition("((o.created_at)::date = '2024-01-01'::date)", ORDERS);
    assert_eq!(date[0].kind, PredicateKind::Other);
    assert!(
        date[0]
            .why_not
            .as_deref()
            .is_some_and(|w| w.starts_with("a cast to date may depend on settings")),
        "{date:?}"
    );
}

#[test]
fn coalesce_and_jsonb_field_extraction_key_expression_indexes() {
    assert_eq!(
        summary(&parse_condition("(COALESCE(o.discount, 0) = 5)", ORDERS)),
        [(
            Target::Expression(r#"COALESCE("discount", 0)"#.into()),
            PredicateKind::Equality
        )]
    );
    assert_eq!(
        summary(&parse_condition(
            "((o.attrs ->> 'color'::text) = 'red'::text)",
            ORDERS
        )),
        [(
            Target::Expression(r#""attrs" ->> 'color'::TEXT"#.into()),
            PredicateKind::Equality
        )]
    );
    // Two columns in one expression: not "a function of one column".
    let two = parse_condition("(COALESCE(o.a, o.b) = 5)", ORDERS);
    assert_eq!(two[0].kind, PredicateKind::Other);
    assert!(
        two[0]
            .why_not
            .as_deref()
            .is_some_and(|w| w.contains("over 2 columns")),
        "{two:?}"
    );
}

#[test]
fn a_huge_literal_list_is_not_parsed_and_the_other_conjuncts_still_are() {
    let ids = (0..30_000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let huge = format!("(o.id = ANY ('{{{ids}}}'::integer[]))");
    assert!(huge.len() > MAX_PARSED_CONDITION_BYTES);
    let both = format!("((o.status = 'paid'::text) AND {huge})");
    assert_eq!(
        summary(&parse_condition(&both, ORDERS))[0],
        column("status", PredicateKind::Equality)
    );
    assert!(
        parse_condition(&huge, ORDERS)
            .iter()
            .all(|p| p.kind == PredicateKind::Other)
    );
}
