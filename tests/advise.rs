//! Index advice on the embedded PostgreSQL: real plans from the runner, diagnosed, turned into
//! candidates whose DDL runs and which the catalog then reports as covered.

use pgdiag::advise::existing::covered_by;
use pgdiag::advise::{Advice, Candidate, IndexMethod, candidates, candidates_by_cost};
use pgdiag::diagnose::{Thresholds, diagnose};
use pgdiag::pg::catalog::{column_is_c_collated, existing_indexes};
use pgdiag::pg::{ConnectionSettings, ExplainOptions, ProcessEnv, Runner, split_statements};
use pgdiag::plan::{analyze, parse_explain_value};
use pgdiag::suggest::{drop_needless_pattern_opclass, split_covered};
use tokio_postgres::Client;

use crate::support::database;

const SEED: &str = "
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO products SELECT g, 'product ' || g FROM generate_series(1, 2000) g;
CREATE TABLE reviews (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
INSERT INTO reviews (product_id, rating) SELECT 1 + g % 2000, 1 + g % 5 FROM generate_series(1, 200000) g;
CREATE TABLE recommendations (product_id int NOT NULL, other_id int NOT NULL, score double precision NOT NULL);
INSERT INTO recommendations SELECT 1 + g % 2000, 1 + (g * 7) % 2000, (g * 7919 % 1000) / 10.0 FROM generate_series(1, 200000) g;
CREATE TABLE tiny (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO tiny SELECT g, g % 7 FROM generate_series(1, 50) g;
CREATE TABLE indexed (id int PRIMARY KEY, k int NOT NULL, v text);
INSERT INTO indexed SELECT g, g % 5000, md5(g::text) FROM generate_series(1, 100000) g;
CREATE INDEX indexed_k_idx ON indexed (k);
-- One plan shape whatever the machine: no parallel workers.
ALTER TABLE reviews SET (parallel_workers = 0);
ALTER TABLE recommendations SET (parallel_workers = 0);
ALTER TABLE indexed SET (parallel_workers = 0);
";

/// A fresh database set up with `setup`, then vacuumed and analysed (which cannot run inside the
/// setup's implicit transaction), so plans see statistics and a current visibility map.
async fn prepared(prefix: &str, setup: &str) -> (String, tokio_postgres::Client) {
    let (url, client) = database(prefix, setup).await;
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    (url, client)
}

/// EXPLAIN ANALYZE `sql` through the one runner, diagnose it, and derive candidates.
async fn advise(url: &str, sql: &str) -> Advice {
    let settings = ConnectionSettings::resolve(Some(url), &ProcessEnv).unwrap();
    let mut runner = Runner::connect(&settings).await.unwrap();
    let statements = split_statements(sql).unwrap();
    let options = ExplainOptions {
        analyze: true,
        timeout: std::time::Duration::from_secs(60),
        params: Vec::new(),
    };
    let output = runner
        .explain(&statements[0], &options, std::future::pending())
        .await
        .unwrap();
    let explain = output.document.explains().unwrap().remove(0);
    let analysis = analyze(&explain);
    let diagnosis = diagnose(&explain, &analysis, &Thresholds::default());
    candidates(&explain, &diagnosis.findings)
}

fn shapes(candidates: &[Candidate]) -> Vec<String> {
    candidates
        .iter()
        .map(|c| {
            let columns: Vec<String> = c
                .columns
                .iter()
                .map(|col| {
                    if col.desc {
                        format!("{} DESC", col.label())
                    } else {
                        col.label().to_owned()
                    }
                })
                .collect();
            format!("{} ({})", c.table, columns.join(", "))
        })
        .collect()
}

#[tokio::test]
async fn seed_queries_get_their_indexes_and_the_catalog_then_covers_them() {
    let (url, client) = prepared("advise_seed", SEED).await;
    let reviews = advise(
        &url,
        "SELECT avg(rating) FROM reviews WHERE product_id = 42",
    )
    .await;
    let recommendations = advise(
        &url,
        "SELECT other_id, score FROM recommendations WHERE product_id = 42 ORDER BY score DESC LIMIT 10",
    )
    .await;
    let all = pgdiag::advise::merge(
        reviews
            .candidates
            .iter()
            .chain(&recommendations.candidates)
            .cloned()
            .collect(),
    );
    let found = shapes(&all);
    assert!(
        found.contains(&"reviews (product_id)".to_owned()),
        "{found:?}\n{reviews:#?}"
    );
    assert!(
        found.contains(&"recommendations (product_id, score DESC)".to_owned()),
        "{found:?}\n{recommendations:#?}"
    );
    for candidate in &all {
        assert_eq!(candidate.schema.as_deref(), Some("public"));
        let existing = existing_indexes(&client, Some("public"), &candidate.table)
            .await
            .unwrap();
        assert!(covered_by(candidate, &existing).is_none(), "{existing:?}");
        // CONCURRENTLY cannot run inside a transaction block: one statement per call.
        client
            .batch_execute(&candidate.ddl(&candidate.index_name()))
            .await
            .unwrap();
        let existing = existing_indexes(&client, Some("public"), &candidate.table)
            .await
            .unwrap();
        let covering = covered_by(candidate, &existing).expect("the new index covers it");
        assert_eq!(covering.name, candidate.index_name());
        assert!(covering.is_valid && covering.predicate.is_none());
    }
    // The search path finds the same indexes when no schema is given.
    let visible = existing_indexes(&client, None, "recommendations")
        .await
        .unwrap();
    let composite = visible
        .iter()
        .find(|i| i.name.starts_with("recommendations_product_id_score_desc"))
        .expect("composite index listed");
    assert_eq!(composite.columns.len(), 2);
    assert!(composite.columns[1].desc && composite.columns[1].nulls_first);

    // With the indexes in place the same queries have nothing left to suggest.
    let again = advise(
        &url,
        "SELECT avg(rating) FROM reviews WHERE product_id = 42",
    )
    .await;
    assert!(again.candidates.is_empty(), "{again:#?}");
}

#[tokio::test]
async fn hostile_names_produce_ddl_that_runs() {
    let setup = r#"
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."Order Items" (id int, "select" int NOT NULL, "Note" text);
INSERT INTO "My Schema"."Order Items" SELECT g, g % 1000, 'n' FROM generate_series(1, 100000) g;
ALTER TABLE "My Schema"."Order Items" SET (parallel_workers = 0);
"#;
    let (url, client) = prepared("advise_hostile", setup).await;
    let advice = advise(
        &url,
        r#"SELECT * FROM "My Schema"."Order Items" WHERE "select" = 7"#,
    )
    .await;
    assert_eq!(
        shapes(&advice.candidates),
        ["Order Items (select)"],
        "{advice:#?}"
    );
    let candidate = &advice.candidates[0];
    assert_eq!(candidate.schema.as_deref(), Some("My Schema"));
    let ddl = candidate.ddl(&candidate.index_name());
    assert_eq!(
        ddl,
        r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "Order Items_select_incl_id_Note_idx" ON "My Schema"."Order Items" ("select") INCLUDE ("id", "Note")"#
    );
    client.batch_execute(&ddl).await.unwrap();
    let existing = existing_indexes(&client, Some("My Schema"), "Order Items")
        .await
        .unwrap();
    assert_eq!(
        covered_by(candidate, &existing).map(|i| i.name.as_str()),
        Some("Order Items_select_incl_id_Note_idx")
    );
}

#[tokio::test]
async fn tiny_tables_indexed_filters_and_low_selectivity_get_no_candidate_and_a_reason() {
    let (url, _client) = prepared("advise_none", SEED).await;
    for (sql, reason) in [
        (
            "SELECT * FROM tiny WHERE v = 3",
            "tiny table: tiny has 50 rows",
        ),
        (
            "SELECT * FROM indexed WHERE k = 5",
            "already indexed: Bitmap Heap Scan on indexed uses indexed_k_idx",
        ),
        // rating = 1 + g % 5: the filter keeps 40% of the rows.
        (
            "SELECT * FROM reviews WHERE rating <= 2",
            "low selectivity: the filter keeps 40.0% of the rows of reviews (80,000 of 200,000)",
        ),
    ] {
        let advice = advise(&url, sql).await;
        assert!(advice.candidates.is_empty(), "{sql}: {advice:#?}");
        assert!(
            advice
                .no_suggestions
                .iter()
                .any(|n| n.reason.starts_with(reason)),
            "{sql}: {advice:#?}"
        );
    }
}

/// The plan PostgreSQL picks for `sql` (plain EXPLAIN, JSON).
async fn plan_of(client: &Client, sql: &str) -> Plan {
    let row = client
        .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &[])
        .await
        .unwrap();
    Plan(row.get(0))
}

/// A JSON plan, searched by the node types and index names it uses.
#[derive(Debug)]
struct Plan(serde_json::Value);

impl Plan {
    fn values_of(&self, key: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut pending = vec![&self.0];
        while let Some(value) = pending.pop() {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(s)) = map.get(key) {
                        found.push(s.clone());
                    }
                    pending.extend(map.values());
                }
                serde_json::Value::Array(items) => pending.extend(items),
                _ => {}
            }
        }
        found
    }

    fn uses_index(&self, name: &str) -> bool {
        self.values_of("Index Name").iter().any(|n| n == name)
    }

    fn has_node(&self, node_type: &str) -> bool {
        self.values_of("Node Type").iter().any(|n| n == node_type)
    }
}

/// Create the candidate's index (CONCURRENTLY, so one statement per call), analyse, check the
/// catalog now reports it as covering the candidate, and return its name.
async fn create(client: &Client, candidate: &Candidate) -> String {
    let name = candidate.index_name();
    client
        .batch_execute(&candidate.ddl(&name))
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", candidate.ddl(&name)));
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    let existing = existing_indexes(client, candidate.schema.as_deref(), &candidate.table)
        .await
        .unwrap();
    assert_eq!(
        covered_by(candidate, &existing).map(|i| i.name.as_str()),
        Some(name.as_str()),
        "{existing:#?}"
    );
    name
}

/// The only candidate of `advice`, with its DDL in the failure message.
fn only(advice: &Advice) -> &Candidate {
    assert_eq!(advice.candidates.len(), 1, "{advice:#?}");
    &advice.candidates[0]
}

const HOSTILE: &str = r#"
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."User ""Accounts""" (id int PRIMARY KEY, "E-Mail" text NOT NULL, "select" int NOT NULL);
INSERT INTO "Odd Schema"."User ""Accounts""" SELECT g, 'User' || g || '@Example.com', g % 1000 FROM generate_series(1, 50000) g;
CREATE TABLE "Odd Schema"."Order s" (id int PRIMARY KEY, "Customer Id" int NOT NULL, "State" text NOT NULL, "Total" int NOT NULL, note text);
INSERT INTO "Odd Schema"."Order s"
  SELECT g, g % 500, CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'done' END, g % 97, md5(g::text)
    FROM generate_series(1, 50000) g;
CREATE TABLE "Odd Schema"."Doc""s" (id int PRIMARY KEY, "Bo dy" jsonb NOT NULL, "Ti tle" text NOT NULL);
INSERT INTO "Odd Schema"."Doc""s"
  SELECT g, jsonb_build_object('kind', g % 200, 'n', g), md5(g::text) FROM generate_series(1, 20000) g;
ALTER TABLE "Odd Schema"."User ""Accounts""" SET (parallel_workers = 0);
ALTER TABLE "Odd Schema"."Order s" SET (parallel_workers = 0);
ALTER TABLE "Odd Schema"."Doc""s" SET (parallel_workers = 0);
CREATE EXTENSION pg_trgm;
"#;

#[tokio::test]
async fn expression_index_on_lower_of_a_hostile_column_is_used() {
    let (url, client) = prepared("advise_expr", HOSTILE).await;
    let sql = r#"SELECT id FROM "Odd Schema"."User ""Accounts""" WHERE lower("E-Mail") = 'user42@example.com'"#;
    let advice = advise(&url, sql).await;
    let candidate = only(&advice);
    assert_eq!(
        candidate.ddl(&candidate.index_name()),
        r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "User "Accounts"_lower_E_Mail_idx" ON "Odd Schema"."User ""Accounts""" ((lower("E-Mail")))"#
            .replace(r#""User "Accounts"_"#, r#""User ""Accounts""_"#)
    );
    assert!(candidate.hypopg_supported());
    let name = create(&client, candidate).await;
    let plan = plan_of(&client, sql).await;
    assert!(plan.uses_index(&name), "{plan:?}");
    // Indexed now: the catalog says so, naming the index, and the same query has nothing left to
    // suggest.
    let (keep, covered) = split_covered(&client, vec![candidate.clone()])
        .await
        .unwrap();
    assert!(keep.is_empty());
    assert_eq!(covered[0].index, name);
    assert_eq!(
        covered[0].reason,
        format!(
            r#"already indexed: lower("E-Mail") on User "Accounts" is served by the existing index {name}"#
        )
    );
    assert!(advise(&url, sql).await.candidates.is_empty());

    // date_trunc on a timestamp column (not timestamptz) is immutable: an expression index too.
    client
        .batch_execute(
            r#"CREATE TABLE "Odd Schema"."Ev ents" (id int PRIMARY KEY, "At" timestamp NOT NULL);
               INSERT INTO "Odd Schema"."Ev ents"
                 SELECT g, timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 50000) g;
               ALTER TABLE "Odd Schema"."Ev ents" SET (parallel_workers = 0);
               ANALYZE "Odd Schema"."Ev ents";"#,
        )
        .await
        .unwrap();
    let day =
        r#"SELECT id FROM "Odd Schema"."Ev ents" WHERE date_trunc('day', "At") = '2024-01-05'"#;
    let advice = advise(&url, day).await;
    let candidate = only(&advice);
    assert_eq!(
        candidate.columns[0].label(),
        r#"date_trunc('day'::TEXT, "At")"#
    );
    let name = create(&client, candidate).await;
    let plan = plan_of(&client, day).await;
    assert!(plan.uses_index(&name), "{plan:?}");
}

#[tokio::test]
async fn partial_index_on_a_rare_status_is_used() {
    let (url, client) = prepared("advise_partial", HOSTILE).await;
    // 1% of the rows are pending; 100 rows per customer, 1 of them pending.
    let sql = r#"SELECT id, "Total" FROM "Odd Schema"."Order s" WHERE "Customer Id" = 7 AND "State" = 'pending'"#;
    let advice = advise(&url, sql).await;
    let candidate = only(&advice);
    assert_eq!(
        candidate.predicate.as_deref(),
        Some(r#""State" = 'pending'::TEXT"#)
    );
    assert_eq!(candidate.columns.len(), 1);
    assert_eq!(candidate.columns[0].name(), Some("Customer Id"));
    assert!(candidate.reason.contains("partial"), "{}", candidate.reason);
    let name = create(&client, candidate).await;
    let plan = plan_of(&client, sql).await;
    assert!(plan.uses_index(&name), "{plan:?}");
    // A status that is not the partial index's is not served by it.
    let other = plan_of(
        &client,
        r#"SELECT id FROM "Odd Schema"."Order s" WHERE "Customer Id" = 7 AND "State" = 'done'"#,
    )
    .await;
    assert!(!other.uses_index(&name), "{other:?}");
}

#[tokio::test]
async fn include_columns_give_an_index_only_scan() {
    let (url, client) = prepared("advise_include", HOSTILE).await;
    let sql = r#"SELECT "Total" FROM "Odd Schema"."Order s" WHERE "Customer Id" = 7"#;
    let advice = advise(&url, sql).await;
    let candidate = only(&advice);
    assert_eq!(candidate.include, ["Total"]);
    assert!(
        candidate
            .ddl("x")
            .ends_with(r#"("Customer Id") INCLUDE ("Total")"#)
    );
    let name = create(&client, candidate).await;
    let plan = plan_of(&client, sql).await;
    assert!(plan.uses_index(&name), "{plan:?}");
    assert!(plan.has_node("Index Only Scan"), "{plan:?}");
}

#[tokio::test]
async fn gin_indexes_for_jsonb_containment_and_ilike_are_used() {
    let (url, client) = prepared("advise_gin", HOSTILE).await;
    let contains = r#"SELECT id FROM "Odd Schema"."Doc""s" WHERE "Bo dy" @> '{"kind": 7}'"#;
    let advice = advise(&url, contains).await;
    let candidate = only(&advice);
    assert_eq!(candidate.method, IndexMethod::Gin);
    assert!(!candidate.hypopg_supported());
    assert_eq!(
        candidate.ddl(&candidate.index_name()),
        r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "Doc"s_Bo dy_jsonb_path_gin_idx" ON "Odd Schema"."Doc""s" USING gin ("Bo dy" "jsonb_path_ops")"#
            .replace(r#""Doc"s_"#, r#""Doc""s_"#)
    );
    let name = create(&client, candidate).await;
    let plan = plan_of(&client, contains).await;
    assert!(plan.uses_index(&name), "{plan:?}");

    let ilike = r#"SELECT id FROM "Odd Schema"."Doc""s" WHERE "Ti tle" ILIKE '%abcd%'"#;
    let advice = advise(&url, ilike).await;
    let candidate = only(&advice);
    assert_eq!(candidate.requires_extension.as_deref(), Some("pg_trgm"));
    assert_eq!(
        candidate.extension_ddl().as_deref(),
        Some(r#"CREATE EXTENSION IF NOT EXISTS "pg_trgm""#)
    );
    client
        .batch_execute(&candidate.extension_ddl().unwrap())
        .await
        .unwrap();
    assert_eq!(
        candidate.columns[0].opclass.as_deref(),
        Some("gin_trgm_ops")
    );
    let name = create(&client, candidate).await;
    let plan = plan_of(&client, ilike).await;
    assert!(plan.uses_index(&name), "{plan:?}");
}

#[tokio::test]
async fn like_prefix_keeps_text_pattern_ops_only_off_the_c_collation() {
    let setup = r#"
CREATE TABLE "Na mes" (id int PRIMARY KEY, c_name text NOT NULL, "Icu Name" text COLLATE "und-x-icu" NOT NULL);
INSERT INTO "Na mes" SELECT g, md5(g::text), md5(g::text) FROM generate_series(1, 30000) g;
ALTER TABLE "Na mes" SET (parallel_workers = 0);
"#;
    let (url, client) = prepared("advise_prefix", setup).await;
    assert_eq!(
        column_is_c_collated(&client, None, "Na mes", "c_name")
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        column_is_c_collated(&client, None, "Na mes", "Icu Name")
            .await
            .unwrap(),
        Some(false)
    );
    for (column, opclass) in [("c_name", None), ("Icu Name", Some("text_pattern_ops"))] {
        let sql = format!(r#"SELECT id FROM "Na mes" WHERE "{column}" LIKE 'abc%'"#);
        let advice = advise(&url, &sql).await;
        let mut candidate = only(&advice).clone();
        assert_eq!(
            candidate.columns[0].opclass.as_deref(),
            Some("text_pattern_ops")
        );
        drop_needless_pattern_opclass(&client, &mut candidate)
            .await
            .unwrap();
        assert_eq!(candidate.columns[0].opclass.as_deref(), opclass, "{column}");
        let name = create(&client, &candidate).await;
        let plan = plan_of(&client, &sql).await;
        assert!(plan.uses_index(&name), "{column}: {plan:?}");
    }
}

#[tokio::test]
async fn volatile_functions_and_unserved_operators_say_why() {
    let (url, _client) = prepared("advise_why", HOSTILE).await;
    for (sql, reason) in [
        (
            r#"SELECT id FROM "Odd Schema"."Order s" WHERE to_char("Total", 'FM999') = '42'"#,
            "to_char() is not immutable",
        ),
        (
            r#"SELECT id FROM "Odd Schema"."Order s" WHERE note NOT LIKE '%'"#,
            "no btree or GIN index serves the operator",
        ),
    ] {
        let advice = advise(&url, sql).await;
        assert!(advice.candidates.is_empty(), "{sql}: {advice:#?}");
        assert!(
            advice
                .no_suggestions
                .iter()
                .any(|n| n.reason.starts_with(reason)),
            "{sql}: {advice:#?}"
        );
    }
}

#[tokio::test]
async fn generic_plans_without_timings_get_cost_based_candidates() {
    let (_url, client) = prepared("advise_cost", SEED).await;
    client
        .batch_execute(
            "SET plan_cache_mode = force_generic_plan;
             PREPARE by_product(int) AS SELECT avg(rating) FROM reviews WHERE product_id = $1;",
        )
        .await
        .unwrap();
    let row = client
        .query_one("EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE by_product(1)", &[])
        .await
        .unwrap();
    let document: serde_json::Value = row.get(0);
    let explain = parse_explain_value(document).unwrap().remove(0);
    let advice = candidates_by_cost(&explain, 0.5);
    let candidate = only(&advice);
    assert_eq!(candidate.table, "reviews");
    assert_eq!(candidate.columns[0].name(), Some("product_id"));
    assert_eq!(candidate.include, ["rating"], "{explain:#?}");
    assert_eq!(candidate.finding_rules, ["estimated-cost"]);
    let name = create(&client, candidate).await;
    let row = client
        .query_one("EXPLAIN (FORMAT JSON) EXECUTE by_product(1)", &[])
        .await
        .unwrap();
    let plan = Plan(row.get(0));
    assert!(plan.uses_index(&name), "{plan:?}");
}

#[tokio::test]
async fn one_index_serves_two_queries_after_merging() {
    let (url, _client) = prepared("advise_merge", SEED).await;
    let average = advise(
        &url,
        "SELECT avg(rating) FROM reviews WHERE product_id = 42",
    )
    .await;
    let fives = advise(
        &url,
        "SELECT count(*) FROM reviews WHERE product_id = 42 AND rating = 5",
    )
    .await;
    let all: Vec<Candidate> = average
        .candidates
        .iter()
        .chain(&fives.candidates)
        .cloned()
        .collect();
    assert_eq!(all.len(), 2, "{all:#?}");
    let merged = pgdiag::advise::merge(all);
    assert_eq!(
        shapes(&merged),
        ["reviews (product_id, rating)"],
        "{merged:#?}"
    );
    assert!(merged[0].include.is_empty(), "rating is a key: {merged:#?}");
}

/// The catalog's type facts give every type class its size bound: fixed widths, lengths and
/// precisions from the type modifier (a domain's own when the column has none), none for the rest.
#[tokio::test]
async fn column_types_bound_the_sizes_an_include_may_carry() {
    let setup = r#"
CREATE DOMAIN short_code AS varchar(10);
CREATE TABLE "Ty pes" (
  i int, b bigint, t timestamptz, u uuid, f bool, d date, r double precision,
  v varchar(40), c char(3), n numeric(12,2), bits bit varying(64), code short_code,
  "Note" text, j json, jb jsonb, raw bytea, vu varchar, nu numeric, arr int[]
);
"#;
    let (_url, client) = database("advise_types", setup).await;
    let types = pgdiag::pg::catalog::column_types(&client, None, "Ty pes")
        .await
        .unwrap();
    let widths: Vec<(&str, Option<u32>)> = types
        .iter()
        .map(|t| (t.name.as_str(), pgdiag::advise::row_size::max_width(t)))
        .collect();
    assert_eq!(
        widths,
        [
            ("i", Some(4)),
            ("b", Some(8)),
            ("t", Some(8)),
            ("u", Some(16)),
            ("f", Some(1)),
            ("d", Some(4)),
            ("r", Some(8)),
            ("v", Some(4 + 4 * 40)),
            ("c", Some(4 + 4 * 3)),
            ("n", Some(8 + 2 * 4)),
            ("bits", Some(8 + 8)),
            ("code", Some(4 + 4 * 10)),
            ("Note", None),
            ("j", None),
            ("jb", None),
            ("raw", None),
            ("vu", None),
            ("nu", None),
            ("arr", None),
        ]
    );
    assert_eq!(types[7].display, "character varying(40)");
    assert!(
        pgdiag::pg::catalog::column_types(&client, None, "missing")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A shop whose foreign keys have no index on their referencing side (the most common missing
/// index): customers ← orders ← order_items, and a product catalogue with recommendations.
const JOINS: &str = "
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 5000) g;
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, created_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, 1 + g % 5000, now() - g * interval '1 minute' FROM generate_series(1, 50000) g;
CREATE TABLE order_items (id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders, qty int NOT NULL, sku text NOT NULL);
INSERT INTO order_items SELECT g, 1 + g % 50000, 1 + g % 7, 'sku' || g % 900 FROM generate_series(1, 200000) g;
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO products SELECT g, 'product ' || g FROM generate_series(1, 2000) g;
CREATE TABLE recommendations (product_id int NOT NULL, other_id int NOT NULL, score double precision NOT NULL);
INSERT INTO recommendations SELECT 1 + g % 2000, 1 + (g * 7) % 2000, (g * 7919 % 1000) / 10.0 FROM generate_series(1, 200000) g;
CREATE TABLE reviews (id int PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
INSERT INTO reviews SELECT g, 1 + g % 2000, 1 + g % 5 FROM generate_series(1, 100000) g;
ALTER TABLE orders SET (parallel_workers = 0);
ALTER TABLE order_items SET (parallel_workers = 0);
ALTER TABLE recommendations SET (parallel_workers = 0);
ALTER TABLE reviews SET (parallel_workers = 0);
";

const FK_PROBE: &str = "SELECT o.id, o.created_at, oi.qty FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.customer_id = 77";
const FK_CHAIN: &str = "SELECT c.name, o.id, oi.qty FROM customers c JOIN orders o ON o.customer_id = c.id JOIN order_items oi ON oi.order_id = o.id WHERE c.name = 'c77'";
const RECOMMENDED: &str = "SELECT rc.other_id, p.name, rc.score FROM recommendations rc JOIN products p ON p.id = rc.other_id WHERE rc.product_id = 42 ORDER BY rc.score DESC LIMIT 10";

/// `pgdiag suggest --format json` on `sql`, parsed.
fn suggest_json(url: &str, sql: &str) -> serde_json::Value {
    let run = crate::support::pgdiag(&["suggest", "--dsn", url, "--format", "json", "-c", sql]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    serde_json::from_str(&run.stdout).unwrap()
}

/// `table (key, key DESC)` of each index suggestion with `status`, with its finding rules.
fn suggested(report: &serde_json::Value, status: &str) -> Vec<(String, Vec<String>)> {
    report["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == status && s["kind"] == "index")
        .map(|s| {
            let index = &s["index"];
            let keys: Vec<String> = index["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let name = c["name"].as_str().unwrap();
                    if c["desc"] == true {
                        format!("{name} DESC")
                    } else {
                        name.to_owned()
                    }
                })
                .collect();
            let rules = index["finding_rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            (
                format!("{} ({})", index["table"].as_str().unwrap(), keys.join(", ")),
                rules,
            )
        })
        .collect()
}

#[tokio::test]
async fn the_probe_side_of_a_foreign_key_join_gets_its_index_and_it_is_proven() {
    let (url, _client) = prepared("advise_fk_probe", JOINS).await;
    let report = suggest_json(&url, FK_PROBE);
    let kept = suggested(&report, "kept");
    let probe = kept
        .iter()
        .find(|(shape, _)| shape == "order_items (order_id)")
        .unwrap_or_else(|| panic!("{kept:?}\n{report:#}"));
    // The scan explain flags (join-full-scan) is the one the index answers.
    assert!(probe.1.contains(&"join-full-scan".to_owned()), "{probe:?}");
    // Proven: the kept index changed the plan and lowered its cost.
    let combined = &report["combined"][0];
    assert!(
        combined["after"]["cost"].as_f64().unwrap() < combined["before"]["cost"].as_f64().unwrap(),
        "{combined:#}"
    );
    assert!(
        combined["after"]["plan"]
            .as_str()
            .unwrap()
            .contains("order_items_order_id"),
        "{combined:#}"
    );
}

#[tokio::test]
async fn a_three_table_chain_gets_an_index_on_each_table_that_needs_one() {
    let (url, _client) = prepared("advise_fk_chain", JOINS).await;
    let report = suggest_json(&url, FK_CHAIN);
    let kept: Vec<String> = suggested(&report, "kept")
        .into_iter()
        .map(|(shape, _)| shape)
        .collect();
    for expected in ["order_items (order_id)", "orders (customer_id)"] {
        assert!(
            kept.contains(&expected.to_owned()),
            "{expected}: {kept:?}\n{report:#}"
        );
    }
    // The filtered table's own column is the key: no partial index on its primary key.
    let all = report["suggestions"].as_array().unwrap();
    for s in all.iter().filter(|s| s["index"]["table"] == "customers") {
        assert_eq!(s["index"]["columns"][0]["name"], "name", "{s:#}");
        assert!(s["index"]["predicate"].is_null(), "{s:#}");
    }
}

#[tokio::test]
async fn explain_names_the_index_suggest_proposes_for_the_same_node() {
    let (url, _client) = prepared("advise_one_engine", JOINS).await;
    // With `oi.sku` (text, never INCLUDEd) no index-only scan of order_items is possible, so
    // neither command INCLUDEs `qty` there.
    let with_text = FK_PROBE.replace("oi.qty", "oi.qty, oi.sku");
    for sql in [RECOMMENDED, FK_PROBE, with_text.as_str()] {
        let run =
            crate::support::pgdiag(&["explain", "--dsn", &url, "--format", "json", "-c", sql]);
        run.assert_no_panic();
        assert_eq!(run.code, 0, "{}", run.all_output());
        let explained: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let named: Vec<String> = explained["statements"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["suggested_index"].as_str().map(str::to_owned))
            .collect();
        assert!(!named.is_empty(), "{sql}: {explained:#}");
        let report = suggest_json(&url, sql);
        let proposed: Vec<&str> = report["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["ddl"].as_array().unwrap())
            .filter_map(|d| d.as_str())
            .collect();
        for ddl in &named {
            assert!(proposed.contains(&ddl.as_str()), "{ddl}\n{proposed:#?}");
        }
        if sql == with_text {
            assert!(
                named
                    .iter()
                    .any(|d| d.ends_with(r#"ON "public"."order_items" ("order_id")"#)),
                "{named:#?}"
            );
        }
    }
    // The top-N over a nested loop: the index delivers the order too, in both commands.
    let report = suggest_json(&url, RECOMMENDED);
    let kept: Vec<String> = suggested(&report, "kept")
        .into_iter()
        .map(|(shape, _)| shape)
        .collect();
    assert!(
        kept.contains(&"recommendations (product_id, score DESC)".to_owned()),
        "{kept:?}"
    );
}

#[tokio::test]
async fn a_statements_suggestion_is_the_same_alone_and_with_other_files() {
    let (url, _client) = prepared("advise_alone", JOINS).await;
    let others = "SELECT avg(rating) FROM reviews WHERE product_id = 42; SELECT p.name, (SELECT json_agg(r) FROM (SELECT rc.other_id, rc.score FROM recommendations rc WHERE rc.product_id = p.id ORDER BY rc.score DESC LIMIT 5) r) FROM products p WHERE p.id = 42";
    let alone = suggest_json(&url, RECOMMENDED);
    let together = suggest_json(&url, &format!("{RECOMMENDED}; {others}"));
    // Merging across statements may add a key, never lose one.
    let serving_first = |report: &serde_json::Value| -> Vec<Vec<String>> {
        report["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["status"] == "kept" && s["serves"].as_array().unwrap().contains(&1.into())
            })
            .map(|s| {
                let mut keys = vec![s["index"]["table"].as_str().unwrap().to_owned()];
                keys.extend(
                    s["index"]["columns"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| format!("{} {}", c["name"], c["desc"])),
                );
                keys
            })
            .collect()
    };
    let alone_keys = serving_first(&alone);
    let together_keys = serving_first(&together);
    assert!(!alone_keys.is_empty(), "{alone:#}");
    for keys in &alone_keys {
        assert!(
            together_keys.iter().any(|t| t.starts_with(keys)),
            "{keys:?} lost: {together_keys:?}"
        );
    }
}

/// Facts joined to small filtered dimensions through columns that no index serves and no foreign
/// key declares (as TPC-H is usually loaded: primary keys only): the join keys are found from the
/// plans alone.
const UNDECLARED_KEYS: &str = "
CREATE TABLE dims (id int PRIMARY KEY, category text NOT NULL);
INSERT INTO dims SELECT g, 'cat' || (g % 1000) FROM generate_series(1, 20000) g;
CREATE TABLE facts (id int PRIMARY KEY, dim_id int NOT NULL, kind text NOT NULL, qty int NOT NULL, amount int NOT NULL);
INSERT INTO facts SELECT g, 1 + g % 20000, (ARRAY['a','b','c','d'])[1 + (g / 7) % 4], 1 + (g / 3) % 50, g % 1000 FROM generate_series(1, 200000) g;
CREATE TABLE accounts (id int PRIMARY KEY, region text NOT NULL, balance int NOT NULL);
INSERT INTO accounts SELECT g, 'r' || (g % 10), (g * 37) % 1000 FROM generate_series(1, 30000) g;
-- Payments for two accounts in three (never a multiple of 3), 15 each.
CREATE TABLE payments (id int PRIMARY KEY, account_id int NOT NULL, amount int NOT NULL);
INSERT INTO payments SELECT g, 1 + g % 20000 + (g % 20000) / 2, g % 500 FROM generate_series(1, 300000) g;
-- Events of 400,000 possible accounts, of which 30,000 exist.
CREATE TABLE events (id int PRIMARY KEY, account_id int NOT NULL, v int NOT NULL);
INSERT INTO events SELECT g, 1 + (g * 7919) % 400000, g % 100 FROM generate_series(1, 200000) g;
ALTER TABLE facts SET (parallel_workers = 0);
ALTER TABLE payments SET (parallel_workers = 0);
ALTER TABLE events SET (parallel_workers = 0);
";

/// The shape (`table (keys)`) of every index suggestion on `table` with `status`.
fn shapes_on(report: &serde_json::Value, status: &str, table: &str) -> Vec<String> {
    suggested(report, status)
        .into_iter()
        .map(|(shape, _)| shape)
        .filter(|shape| shape.starts_with(&format!("{table} (")))
        .collect()
}

#[tokio::test]
async fn join_keys_no_foreign_key_declares_are_proposed_and_proven() {
    let (url, _client) = prepared("advise_undeclared_keys", UNDECLARED_KEYS).await;

    // A hash join probing 200,000 facts for the 20 dimensions of one category.
    let report = suggest_json(
        &url,
        "SELECT sum(f.amount) FROM facts f JOIN dims d ON d.id = f.dim_id WHERE d.category = 'cat7'",
    );
    let kept = shapes_on(&report, "kept", "facts");
    assert_eq!(kept, ["facts (dim_id)"], "{report:#}");

    // NOT EXISTS, planned as a hash anti join hashing every payment for 300 accounts.
    let report = suggest_json(
        &url,
        "SELECT count(*) FROM accounts a WHERE a.region = 'r3' AND a.balance > 900 AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.account_id = a.id)",
    );
    let kept = shapes_on(&report, "kept", "payments");
    assert_eq!(kept, ["payments (account_id)"], "{report:#}");
    let combined = &report["combined"][0];
    assert!(
        combined["after"]["plan"]
            .as_str()
            .unwrap()
            .contains("payments_account_id_idx"),
        "{combined:#}"
    );

    // An OR of conjunctions sharing the join condition: the planner hashes on it and checks the
    // rest in a Join Filter. The facts' own filter (kind, qty) keeps a tenth of them; probing by
    // dim_id alone fetches 0.2%, so the index keeps to the join key rather than leading with kind.
    let report = suggest_json(
        &url,
        "SELECT sum(f.amount) FROM facts f, dims d WHERE (d.id = f.dim_id AND d.category = 'cat7' AND f.kind = 'a' AND f.qty < 10) OR (d.id = f.dim_id AND d.category = 'cat8' AND f.kind = 'a' AND f.qty > 40)",
    );
    let kept = shapes_on(&report, "kept", "facts");
    assert_eq!(kept, ["facts (dim_id)"], "{report:#}");
    let all = report["suggestions"].as_array().unwrap();
    assert!(
        !all.iter().any(|s| s["index"]["table"] == "facts"
            && s["index"]["columns"]
                .as_array()
                .unwrap()
                .iter()
                .skip(1)
                .any(|c| c["name"] == "dim_id")),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_join_whose_other_side_is_large_gets_no_key_and_says_why() {
    let (url, _client) = prepared("advise_undeclared_large", UNDECLARED_KEYS).await;
    // 27,000 accounts to match against 200,000 events: hashing the accounts and reading the events
    // once beats even the planner's floor for 27,000 index probes.
    let report = suggest_json(
        &url,
        "SELECT count(*) FROM events e JOIN accounts a ON a.id = e.account_id WHERE a.balance < 900",
    );
    let on_events: Vec<&serde_json::Value> = report["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["index"]["table"] == "events")
        .collect();
    assert!(on_events.is_empty(), "{report:#}");
    let reasons: Vec<&str> = report["no_suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["reason"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("events: the Hash Join (inner) brings 27,000 rows from its other side; probing an index on (account_id) that often costs at least")),
        "{reasons:#?}"
    );
}
