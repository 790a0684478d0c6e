//! Materialized-view suggestions on the embedded PostgreSQL: real plans from the runner,
//! diagnosed, turned into views whose DDL runs, whose rewrite returns the same rows faster, and
//! which refresh concurrently.

use std::time::Duration;

use pgdiag::advise::{MatviewAdvice, MatviewSuggestion, matview_suggestions};
use pgdiag::diagnose::{Thresholds, diagnose};
use pgdiag::pg::{
    ConnectionSettings, ExplainOptions, ParamValue, ProcessEnv, Runner, split_statements,
};
use pgdiag::plan::analyze;
use pgdiag::suggest::report::{SuggestReport, SuggestionStatus};
use pgdiag::suggest::verify_matview;

use crate::support::{database, pgdiag, temp_file};

const SEED: &str = "
CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO categories SELECT g, 'category ' || g FROM generate_series(1, 20) g;
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, category_id int NOT NULL REFERENCES categories);
INSERT INTO products SELECT g, 'product ' || g, 1 + g % 20 FROM generate_series(1, 2000) g;
CREATE TABLE reviews (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO reviews (product_id, rating, created_at)
  SELECT 1 + g % 2000, 1 + g % 5, timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 200000) g;
-- One plan shape whatever the machine: no parallel workers.
ALTER TABLE reviews SET (parallel_workers = 0);
";

async fn prepared(prefix: &str, setup: &str) -> (String, tokio_postgres::Client) {
    let (url, client) = database(prefix, setup).await;
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    (url, client)
}

/// EXPLAIN ANALYZE `sql` through the runner, diagnose it, and derive view suggestions.
async fn advise(url: &str, sql: &str, params: &[ParamValue]) -> MatviewAdvice {
    let settings = ConnectionSettings::resolve(Some(url), &ProcessEnv).unwrap();
    let mut runner = Runner::connect(&settings).await.unwrap();
    let statements = split_statements(sql).unwrap();
    let options = ExplainOptions {
        analyze: true,
        timeout: Duration::from_secs(60),
        params: params.to_vec(),
    };
    let output = runner
        .explain(&statements[0], &options, std::future::pending())
        .await
        .unwrap();
    let explain = output.document.explains().unwrap().remove(0);
    let analysis = analyze(&explain);
    let diagnosis = diagnose(&explain, &analysis, &Thresholds::default());
    matview_suggestions(sql, &explain, &diagnosis.findings)
}

const PRODUCT_PAGE: &str = "SELECT p.id, p.name, rs.review_count, rs.avg_rating
FROM products p
LEFT JOIN (SELECT product_id, count(*) AS review_count, avg(rating) AS avg_rating FROM reviews GROUP BY product_id) rs
  ON rs.product_id = p.id
WHERE p.id = $1";

const CATEGORY_LISTING: &str = "SELECT p.id, p.name, rs.review_count, rs.avg_rating
FROM products p
LEFT JOIN (SELECT product_id, count(*) AS review_count, avg(rating) AS avg_rating FROM reviews GROUP BY product_id) rs
  ON rs.product_id = p.id
WHERE p.category_id = $1
ORDER BY rs.avg_rating DESC NULLS LAST, p.id
LIMIT 20";

fn the_one(advice: &MatviewAdvice) -> &MatviewSuggestion {
    assert_eq!(advice.suggestions.len(), 1, "{advice:#?}");
    &advice.suggestions[0]
}

fn text(value: &str) -> Vec<ParamValue> {
    vec![ParamValue::Text(value.into())]
}

/// Every row of `sql` as the server's text of the row, sorted: a multiset to compare.
async fn rows(client: &tokio_postgres::Client, sql: &str, params: &[&str]) -> Vec<String> {
    // Text-format values, bound as the runner binds them.
    let values: Vec<ParamValue> = params
        .iter()
        .map(|p| ParamValue::Text((*p).into()))
        .collect();
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let mut rows: Vec<String> = client
        .query(&format!("SELECT r::text FROM ({sql}) r"), &params)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    rows.sort();
    rows
}

const REVIEW_STATS: &str = r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "public"."reviews_by_product_id_stats" AS SELECT product_id AS "product_id", count(*) AS "review_count", avg(rating) AS "avg_rating" FROM "public"."reviews" GROUP BY product_id"#;

#[tokio::test]
async fn seed_product_page_and_category_listing_get_the_review_stats_view() {
    let (url, client) = prepared("matview_seed", SEED).await;
    for (sql, param) in [(PRODUCT_PAGE, "42"), (CATEGORY_LISTING, "3")] {
        let advice = advise(&url, sql, &text(param)).await;
        let mv = the_one(&advice);
        assert_eq!(mv.name, "reviews_by_product_id_stats");
        assert_eq!(mv.schema.as_deref(), Some("public"));
        assert_eq!(mv.base_table, "reviews");
        assert_eq!(mv.key_columns, ["product_id"]);
        assert_eq!(mv.create_sql, REVIEW_STATS);
        assert_eq!(
            mv.unique_index_sql,
            r#"CREATE UNIQUE INDEX IF NOT EXISTS "reviews_by_product_id_stats_key" ON "public"."reviews_by_product_id_stats" ("product_id")"#
        );
        let rewritten = mv.rewritten.as_deref().unwrap();
        assert!(
            rewritten.contains(r#"LEFT JOIN "public"."reviews_by_product_id_stats" AS "rs" ON rs.product_id = p.id"#),
            "{rewritten}"
        );
        assert!(
            mv.reason.contains("of reviews by product_id"),
            "{}",
            mv.reason
        );

        let proof = verify_matview(&client, mv, sql, &text(param), 3, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(proof.results_match, "{sql}: {proof:#?}");
        assert!(proof.rows_compared > 0, "{proof:#?}");
        assert!(proof.after_ms < proof.before_ms, "{sql}: {proof:#?}");
        assert!(
            proof.view_size_bytes > 0 && proof.build_ms > 0.0,
            "{proof:#?}"
        );
    }
    // With the index the seed also adds, the product page reads a hundred rows and no longer
    // needs a view; the category listing still aggregates every review.
    client
        .batch_execute(
            "CREATE INDEX reviews_product_id_idx ON reviews (product_id); ANALYZE reviews",
        )
        .await
        .unwrap();
    let advice = advise(&url, PRODUCT_PAGE, &text("42")).await;
    assert_eq!(advice, MatviewAdvice::default());
    let advice = advise(&url, CATEGORY_LISTING, &text("3")).await;
    assert_eq!(the_one(&advice).create_sql, REVIEW_STATS);
    // Everything was rolled back: the view does not exist.
    let exists: Option<String> = client
        .query_one(
            "SELECT to_regclass('public.reviews_by_product_id_stats')::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(exists, None);
}

#[tokio::test]
async fn a_top_level_aggregate_and_a_cte_read_the_view_with_their_parameters() {
    let (url, client) = prepared("matview_top", SEED).await;
    let top = "SELECT product_id, count(*), avg(rating) FROM reviews WHERE product_id = $1 GROUP BY product_id";
    let advice = advise(&url, top, &text("7")).await;
    let mv = the_one(&advice);
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
    let proof = verify_matview(&client, mv, top, &text("7"), 3, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        proof.results_match && proof.rows_compared == 1,
        "{proof:#?}"
    );
    assert!(proof.after_ms < proof.before_ms, "{proof:#?}");

    let cte = "WITH stats AS (SELECT product_id, count(*) AS review_count, avg(rating) AS avg_rating FROM reviews GROUP BY product_id)
SELECT p.id, p.name, s.review_count, s.avg_rating FROM products p JOIN stats s ON s.product_id = p.id
WHERE p.category_id = $1 ORDER BY s.review_count DESC, p.id LIMIT 10";
    let advice = advise(&url, cte, &text("5")).await;
    let mv = the_one(&advice);
    assert_eq!(mv.create_sql, REVIEW_STATS);
    let rewritten = mv.rewritten.as_deref().unwrap();
    assert!(
        rewritten.starts_with(r#"WITH stats AS (SELECT "product_id", "review_count", "avg_rating" FROM "public"."reviews_by_product_id_stats")"#),
        "{rewritten}"
    );
    let proof = verify_matview(&client, mv, cte, &text("5"), 3, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        proof.results_match && proof.rows_compared == 10,
        "{proof:#?}"
    );
    assert!(proof.after_ms < proof.before_ms, "{proof:#?}");
}

#[tokio::test]
async fn the_view_refreshes_concurrently_and_the_rewrite_then_sees_new_rows() {
    let (url, client) = prepared("matview_refresh", SEED).await;
    let advice = advise(&url, CATEGORY_LISTING, &text("3")).await;
    let mv = the_one(&advice);
    client.batch_execute(&mv.create_sql).await.unwrap();
    client.batch_execute(&mv.unique_index_sql).await.unwrap();
    // Running the DDL again is harmless (IF NOT EXISTS).
    client.batch_execute(&mv.create_sql).await.unwrap();
    client.batch_execute(&mv.unique_index_sql).await.unwrap();
    let rewritten = mv.rewritten.as_deref().unwrap();
    assert_eq!(
        rows(&client, rewritten, &["3"]).await,
        rows(&client, CATEGORY_LISTING, &["3"]).await
    );
    // Product 3 is in category 4; five-star reviews move it to the top of its listing.
    client
        .batch_execute(
            "INSERT INTO reviews (product_id, rating, created_at) SELECT 3, 5, now() FROM generate_series(1, 500)",
        )
        .await
        .unwrap();
    assert_ne!(
        rows(&client, rewritten, &["4"]).await,
        rows(&client, CATEGORY_LISTING, &["4"]).await,
        "the view is stale until refreshed"
    );
    client.batch_execute(&mv.refresh_sql).await.unwrap();
    assert_eq!(
        rows(&client, rewritten, &["4"]).await,
        rows(&client, CATEGORY_LISTING, &["4"]).await
    );
}

#[tokio::test]
async fn hostile_names_produce_ddl_that_runs() {
    let setup = r#"
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."Order Items" (id int, "select" int NOT NULL, "Qty" int NOT NULL);
INSERT INTO "My Schema"."Order Items" SELECT g, g % 1000, g % 7 FROM generate_series(1, 150000) g;
ALTER TABLE "My Schema"."Order Items" SET (parallel_workers = 0);
CREATE TABLE "My Schema"."Customers" (id int PRIMARY KEY, "Name" text NOT NULL);
INSERT INTO "My Schema"."Customers" SELECT g, 'customer ' || g FROM generate_series(0, 1200) g;
"#;
    let (url, client) = prepared("matview_hostile", setup).await;
    let sql = r#"SELECT o."select", count(*) AS "Line Count", sum(o."Qty") FROM "My Schema"."Order Items" o WHERE o."select" = $1 GROUP BY o."select""#;
    let advice = advise(&url, sql, &text("7")).await;
    let mv = the_one(&advice);
    assert_eq!(mv.schema.as_deref(), Some("My Schema"));
    assert_eq!(mv.name, "Order Items_by_select_stats");
    assert_eq!(mv.key_columns, ["select"]);
    assert_eq!(
        mv.create_sql,
        r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "My Schema"."Order Items_by_select_stats" AS SELECT o."select" AS "select", count(*) AS "Line Count", sum(o."Qty") AS "sum_Qty" FROM "My Schema"."Order Items" AS "o" GROUP BY o."select""#
    );
    let proof = verify_matview(&client, mv, sql, &text("7"), 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        proof.results_match && proof.rows_compared == 1,
        "{proof:#?}"
    );
    for ddl in [&mv.create_sql, &mv.unique_index_sql, &mv.refresh_sql] {
        client.batch_execute(ddl).await.unwrap();
    }
    let rewritten = mv.rewritten.as_deref().unwrap();
    assert_eq!(
        rows(&client, rewritten, &["7"]).await,
        rows(&client, sql, &["7"]).await
    );

    // Another view under the same name is refused rather than measured.
    let other = r#"SELECT o."select", count(*), avg(o."Qty") FROM "My Schema"."Order Items" o WHERE o."select" = $1 GROUP BY o."select""#;
    let advice = advise(&url, other, &text("7")).await;
    let err = verify_matview(
        &client,
        the_one(&advice),
        other,
        &text("7"),
        1,
        Duration::from_secs(60),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("already exists and is not the suggested view"),
        "{err}"
    );
    // The same view, already there, is measured as it is.
    let proof = verify_matview(&client, mv, sql, &text("7"), 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(proof.results_match, "{proof:#?}");
    client
        .batch_execute(r#"DROP MATERIALIZED VIEW "My Schema"."Order Items_by_select_stats""#)
        .await
        .unwrap();

    // A derived table whose unaliased aggregates the outer query reads by their default names:
    // the view's generated columns are renamed back by the alias's column list.
    let derived = r#"SELECT c."Name", s.count, s.avg FROM "My Schema"."Customers" c
LEFT JOIN (SELECT o."select", count(*), avg(o."Qty") FROM "My Schema"."Order Items" o GROUP BY o."select") s
  ON s."select" = c.id
WHERE c.id % $1 = 0"#;
    let advice = advise(&url, derived, &text("3")).await;
    let mv = the_one(&advice);
    assert_eq!(mv.name, "Order Items_by_select_stats");
    assert!(
        mv.create_sql
            .contains(r#"count(*) AS "count_all", avg(o."Qty") AS "avg_Qty""#),
        "{}",
        mv.create_sql
    );
    assert!(
        mv.rewritten.as_deref().unwrap().contains(
            r#"LEFT JOIN "My Schema"."Order Items_by_select_stats" AS "s" ("select", "count", "avg") ON"#
        ),
        "{mv:#?}"
    );
    let proof = verify_matview(&client, mv, derived, &text("3"), 1, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        proof.results_match && proof.rows_compared == 401,
        "{proof:#?}"
    );
}

#[tokio::test]
async fn volatile_functions_and_parameters_inside_the_aggregate_get_a_reason() {
    let (url, _client) = prepared("matview_refused", SEED).await;
    let recent = "SELECT product_id, count(*) AS recent FROM reviews WHERE created_at > now() - interval '30 days' GROUP BY product_id";
    let advice = advise(&url, recent, &[]).await;
    assert!(advice.suggestions.is_empty(), "{advice:#?}");
    assert!(
        advice
            .no_suggestions
            .iter()
            .any(|n| n.reason.contains("calls now")),
        "{advice:#?}"
    );
    let parameterized = "SELECT p.id, rs.n FROM products p JOIN (SELECT product_id, count(*) AS n FROM reviews WHERE rating >= $1 GROUP BY product_id) rs ON rs.product_id = p.id WHERE p.category_id = 2";
    let advice = advise(&url, parameterized, &text("3")).await;
    assert!(advice.suggestions.is_empty(), "{advice:#?}");
    assert!(
        advice
            .no_suggestions
            .iter()
            .any(|n| n.reason.contains("uses the parameter $1")),
        "{advice:#?}"
    );
}

#[tokio::test]
async fn an_aggregate_over_a_join_reads_a_view_of_the_joined_table() {
    let (url, client) = prepared("matview_join", SEED).await;
    // The best-rated products: every review is joined and aggregated.
    let top_rated =
        "SELECT p.id, p.name, count(r.id) AS review_count, avg(r.rating) AS avg_rating, count(*)
FROM products p LEFT JOIN reviews r ON r.product_id = p.id
WHERE p.category_id <> $1
GROUP BY p.id, p.name
ORDER BY avg_rating DESC NULLS LAST, p.id
LIMIT 20";
    // Products without reviews: the LEFT JOIN keeps them, with 0 reviews and one row.
    client
        .batch_execute(
            "INSERT INTO products SELECT g, 'new ' || g, 4 FROM generate_series(2001, 2005) g",
        )
        .await
        .unwrap();
    let advice = advise(&url, top_rated, &text("0")).await;
    let mv = the_one(&advice);
    assert_eq!(mv.name, "reviews_by_product_id_stats");
    assert_eq!(
        mv.create_sql,
        r#"CREATE MATERIALIZED VIEW IF NOT EXISTS "public"."reviews_by_product_id_stats" AS SELECT "r"."product_id" AS "product_id", count(r.id) AS "review_count", avg(r.rating) AS "avg_rating", count(*) AS "count_all" FROM "public"."reviews" AS "r" GROUP BY "r"."product_id""#
    );
    let rewritten = mv.rewritten.as_deref().unwrap();
    assert!(
        rewritten.contains(r#"coalesce(max("r"."review_count"), 0) * count(*) AS review_count"#)
            && rewritten.contains(r#"coalesce(max("r"."count_all"), 1) * count(*) AS "count""#)
            && rewritten.contains(
                r#"LEFT JOIN "public"."reviews_by_product_id_stats" AS "r" ON r.product_id = p.id"#
            )
            && rewritten.contains("GROUP BY p.id, p.name"),
        "{rewritten}"
    );
    let proof = verify_matview(
        &client,
        mv,
        top_rated,
        &text("0"),
        3,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(
        proof.results_match && proof.rows_compared == 20,
        "{proof:#?}"
    );
    assert!(proof.after_ms < proof.before_ms, "{proof:#?}");
    // Without the LIMIT every product is compared, the review-less ones too.
    let all = top_rated.replace("LIMIT 20", "");
    let advice = advise(&url, &all, &text("0")).await;
    let proof = verify_matview(
        &client,
        the_one(&advice),
        &all,
        &text("0"),
        1,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(
        proof.results_match && proof.rows_compared == 2005,
        "{proof:#?}"
    );
}

#[tokio::test]
async fn a_rewrite_that_changes_results_is_caught_and_everything_is_rolled_back() {
    let setup = "
CREATE TABLE reviews (id int PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
INSERT INTO reviews SELECT g, 1 + g % 50, 1 + g % 5 FROM generate_series(1, 5000) g;
";
    let (_url, client) = prepared("matview_differ", setup).await;
    let original = "SELECT product_id, count(*) AS n FROM reviews WHERE product_id = $1 GROUP BY product_id; -- the product page";
    let view = "SELECT product_id AS \"product_id\", count(*) AS \"n\" FROM \"public\".\"reviews\"";
    let suggestion = |filter: &str| {
        MatviewSuggestion {
        schema: Some("public".into()),
        name: "reviews_by_product_id_stats".into(),
        base_table: "reviews".into(),
        key_columns: vec!["product_id".into()],
        create_sql: format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS \"public\".\"reviews_by_product_id_stats\" AS {view}{filter} GROUP BY product_id"
        ),
        unique_index_sql: "CREATE UNIQUE INDEX IF NOT EXISTS \"reviews_by_product_id_stats_key\" ON \"public\".\"reviews_by_product_id_stats\" (\"product_id\")".into(),
        refresh_sql: "REFRESH MATERIALIZED VIEW CONCURRENTLY \"public\".\"reviews_by_product_id_stats\"".into(),
        rewritten: Some("SELECT \"product_id\", \"n\" FROM \"public\".\"reviews_by_product_id_stats\" WHERE \"product_id\" = $1".into()),
        reason: "test".into(),
        node_id: 0,
    }
    };
    let right = verify_matview(
        &client,
        &suggestion(""),
        original,
        &text("7"),
        1,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(
        right.results_match && right.difference.is_none(),
        "{right:#?}"
    );
    assert_eq!(right.rows_compared, 1);

    // Product 7 has only 2-star reviews: a view without them loses its row, and the proof says so.
    let wrong = verify_matview(
        &client,
        &suggestion(" WHERE rating > 2"),
        original,
        &text("7"),
        1,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(!wrong.results_match, "{wrong:#?}");
    assert_eq!(
        wrong.difference.as_deref(),
        Some(
            "results differ: the original returns (7,100) (1 rows) and the rewrite does not (0 rows)"
        )
    );

    // The wrong number of parameters is an error, and leaves no transaction open.
    let err = verify_matview(
        &client,
        &suggestion(""),
        original,
        &[],
        1,
        Duration::from_secs(30),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            pgdiag::pg::Error::ParamCount {
                needed: 1,
                given: 0
            }
        ),
        "{err}"
    );
    let view: Option<String> = client
        .query_one(
            "SELECT to_regclass('public.reviews_by_product_id_stats')::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(view, None);
    client
        .batch_execute("CREATE TABLE after_proof (x int)")
        .await
        .unwrap();
}

/// The category listing as users write it: the join and the aggregate in one SELECT, a selective
/// filter on products, every review read to feed the join. The product page's derived table and
/// this listing aggregate reviews by product_id, so `suggest` proposes one view for both (its
/// columns the union of their aggregates), proves both rewrites return the statements' rows by
/// building it, and keeps it.
#[tokio::test]
async fn the_listing_as_written_and_the_product_page_share_one_proven_view() {
    let (url, _client) = prepared("matview_shared", SEED).await;
    let sql = format!(
        "-- pgdiag: params 42\n{PRODUCT_PAGE};\n-- pgdiag: params 3\n{}\n",
        "SELECT p.id, p.name, count(r.id) AS review_count, avg(rating) AS avg_rating
FROM products p JOIN reviews r ON r.product_id = p.id
WHERE p.category_id = $1
GROUP BY p.id
ORDER BY avg(rating) DESC, p.id
LIMIT 20;"
    );
    let (_dir, path) = temp_file("statements.sql", sql.as_bytes());
    let run = pgdiag(&[
        "suggest",
        "--dsn",
        &url,
        "--format",
        "json",
        "--verify",
        "build",
        "--runs",
        "1",
        "--with-matviews",
        path.to_str().unwrap(),
    ]);
    run.assert_no_panic();
    assert!(run.code <= 1, "{}", run.all_output());
    let report: SuggestReport = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a suggest report ({e}):\n{}", run.all_output()));
    let views: Vec<_> = report
        .suggestions
        .iter()
        .filter_map(|s| s.matview().map(|m| (s, m)))
        .collect();
    assert_eq!(views.len(), 1, "one shared view: {report:#?}");
    let (suggestion, info) = views[0];
    assert_eq!(suggestion.status, SuggestionStatus::Kept, "{suggestion:#?}");
    assert_eq!(info.results_match, Some(true), "{info:#?}");
    assert_eq!(info.key_columns, ["product_id"]);
    let statements: Vec<usize> = info.rewritten.iter().map(|r| r.statement).collect();
    assert_eq!(statements, [1, 2], "{info:#?}");
    // count(*) (the page) and count(r.id) (the listing) are different aggregates: both are
    // columns of the one view, and the listing's rewrite reads its own under the shared name.
    assert!(
        info.create_sql.contains(r#"count(*) AS "review_count""#)
            && info.create_sql.contains("count(id) AS"),
        "{}",
        info.create_sql
    );
    let listing = &info.rewritten[1].sql;
    assert!(
        listing.contains(&info.name) && !listing.contains("JOIN reviews"),
        "{listing}"
    );
}
