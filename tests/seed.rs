//! The seed fixture: loads at a small scale with the row counts the scale asks for, and keeps the
//! story's missing indexes missing.

use crate::support::database;

#[tokio::test]
async fn seed_loads_at_small_scale_with_only_primary_keys() {
    let (_url, client) = database("seed", "").await;
    let mut seen = Vec::new();
    let summary = pgdiag::seed::load(&client, 0.02, |p| seen.push(p))
        .await
        .expect("load the seed");

    let expected = [
        ("products", 1_000),
        ("pricing", 1_000),
        ("inventory", 1_000),
        ("reviews", 24_000),
        ("recommendations", 10_000),
    ];
    for (table, rows) in expected {
        assert_eq!(summary.rows(table), Some(rows), "rows in {table}");
    }
    assert!(summary.elapsed_ms > 0.0);

    // Progress: one report per step, in order, then "done".
    let total = pgdiag::seed::steps().len();
    assert_eq!(seen.len(), total + 1);
    assert!(
        seen.iter()
            .enumerate()
            .all(|(i, p)| p.completed == i && p.total == total)
    );
    assert_eq!(seen.last().unwrap().step, "done");

    // The only indexes are the primary keys: nothing serves reviews.product_id.
    let indexes: Vec<(String, String)> = client
        .query(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(indexes.len(), 5, "{indexes:?}");
    assert!(
        indexes.iter().all(|(_, def)| def.contains("_pkey")),
        "{indexes:?}"
    );
    assert!(
        !indexes
            .iter()
            .any(|(table, def)| table == "reviews" && def.contains("product_id")),
        "{indexes:?}"
    );

    // Ratings stay in range and popularity is skewed toward low product ids.
    let row = client
        .query_one(
            "SELECT min(rating), max(rating),
                    count(*) FILTER (WHERE product_id <= 100), count(*) FILTER (WHERE product_id > 900)
             FROM reviews",
            &[],
        )
        .await
        .unwrap();
    let (min, max): (i32, i32) = (row.get(0), row.get(1));
    assert!(min >= 1 && max <= 5);
    let (popular, tail): (i64, i64) = (row.get(2), row.get(3));
    assert!(popular > 2 * tail, "popular {popular}, tail {tail}");
}

#[tokio::test]
async fn seed_is_reproducible_and_rejects_a_bad_scale() {
    let (_a, first) = database("seed_repro_a", "").await;
    let (_b, second) = database("seed_repro_b", "").await;
    pgdiag::seed::load(&first, 0.005, |_| {}).await.unwrap();
    pgdiag::seed::load(&second, 0.005, |_| {}).await.unwrap();
    let fingerprint = "SELECT md5(string_agg(id || ':' || product_id || ':' || rating || ':' || body, ',' ORDER BY id)) FROM reviews";
    let a: String = first.query_one(fingerprint, &[]).await.unwrap().get(0);
    let b: String = second.query_one(fingerprint, &[]).await.unwrap().get(0);
    assert_eq!(a, b);

    for scale in [0.0, -1.0, f64::NAN, 1e9] {
        let err = pgdiag::seed::load(&first, scale, |_| {}).await.unwrap_err();
        assert!(matches!(err, pgdiag::seed::Error::InvalidScale(_)), "{err}");
    }
}

#[tokio::test]
async fn seed_queries_run_with_their_params() {
    let (_url, client) = database("seed_queries", "").await;
    pgdiag::seed::load(&client, 0.02, |_| {}).await.unwrap();
    for (name, sql) in pgdiag::seed::queries() {
        let params = pgdiag::seed::query_params(sql);
        assert_eq!(params.len(), 1, "{name}");
        let key: i32 = params[0].parse().unwrap();
        let rows = client
            .query(sql, &[&key])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!rows.is_empty(), "{name} returned no rows");
    }
}
