//! Index advice on the embedded PostgreSQL: real plans from the runner, diagnosed, turned into
//! candidates whose DDL runs and which the catalog then reports as covered.

use pgdiag::advise::{Advice, Candidate, candidates};
use pgdiag::diagnose::{Thresholds, diagnose};
use pgdiag::pg::catalog::{covered_by, existing_indexes};
use pgdiag::pg::{ConnectionSettings, ExplainOptions, ProcessEnv, Runner, split_statements};
use pgdiag::plan::{analyze, parse_explain_value};

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
    let explain = parse_explain_value(output.document).unwrap().remove(0);
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
        .find(|i| i.name == "recommendations_product_id_score_desc_idx")
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
        r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "Order Items_select_idx" ON "My Schema"."Order Items" ("select")"#
    );
    client.batch_execute(&ddl).await.unwrap();
    let existing = existing_indexes(&client, Some("My Schema"), "Order Items")
        .await
        .unwrap();
    assert_eq!(
        covered_by(candidate, &existing).map(|i| i.name.as_str()),
        Some("Order Items_select_idx")
    );
}

#[tokio::test]
async fn tiny_tables_and_indexed_filters_get_no_candidate_and_a_reason() {
    let (url, _client) = prepared("advise_none", SEED).await;
    for sql in [
        "SELECT * FROM tiny WHERE v = 3",
        "SELECT * FROM indexed WHERE k = 5",
    ] {
        let advice = advise(&url, sql).await;
        assert!(advice.candidates.is_empty(), "{sql}: {advice:#?}");
        assert!(
            advice
                .no_suggestions
                .iter()
                .any(|n| n.reason.starts_with("no finding on this table")),
            "{sql}: {advice:#?}"
        );
    }
}
