//! Issue 6, "Must be shown": on the seed at full size (scale 1.0: 1.2 M reviews, primary keys
//! only), `pgdiag suggest --apply --yes --with-matviews` finds the reviews index, the
//! `(product_id, score DESC)` composite and the review-aggregate materialized view, creates them,
//! and afterwards the product page's plan (EXPLAIN ANALYZE, run here independently of pgdiag's own
//! after-apply report) uses both indexes while the rewritten category listing reads the view.
//! Assertions are on plans and statuses, never on timings.

use std::time::Duration;

use pgdiag::pg::{
    ConnectionSettings, ExplainOptions, ParamValue, ProcessEnv, Runner, split_statements,
};
use pgdiag::seed;
use pgdiag::suggest::report::{
    ChangeStatus, Planning, SuggestReport, SuggestionKind, SuggestionStatus,
};
use pgdiag::suggest::verify::Observed;

use crate::support::{database, fixture, pgdiag};

/// The plan of `sql` as it runs now (EXPLAIN ANALYZE, rolled back), with `params` bound.
async fn plan_of(url: &str, sql: &str, params: &[String]) -> Observed {
    let settings = ConnectionSettings::resolve(Some(url), &ProcessEnv).unwrap();
    let mut runner = Runner::connect(&settings).await.unwrap();
    let statement = split_statements(sql).unwrap().remove(0);
    let options = ExplainOptions {
        analyze: true,
        timeout: Duration::from_secs(120),
        params: params.iter().cloned().map(ParamValue::Text).collect(),
    };
    let output = runner
        .explain(&statement, &options, std::future::pending())
        .await
        .unwrap();
    let explain = output.document.explains().unwrap().remove(0);
    let times: Vec<f64> = explain.execution_time_ms.into_iter().collect();
    Observed::from_explain(&explain, &times)
}

/// The kept index on `table` whose columns start with `leading` (`score DESC` for a descending
/// column).
fn kept_index(report: &SuggestReport, table: &str, leading: &[&str]) -> String {
    report
        .kept()
        .filter_map(|s| s.index())
        .find(|i| {
            let columns: Vec<String> = i
                .columns
                .iter()
                .map(|c| {
                    if c.desc {
                        format!("{} DESC", c.name)
                    } else {
                        c.name.clone()
                    }
                })
                .collect();
            i.table == table
                && columns.len() >= leading.len()
                && columns.iter().zip(leading).all(|(c, l)| c == l)
        })
        .map(|i| i.name.clone())
        .unwrap_or_else(|| panic!("no kept index on {table} {leading:?}: {report:#?}"))
}

#[tokio::test]
async fn seed_at_a_million_reviews_gets_its_indexes_and_view_and_the_product_page_uses_them() {
    let (url, client) = database("suggest_seed_1m", "").await;
    let summary = seed::load(&client, 1.0, |_| {}).await.unwrap();
    let reviews = summary.rows("reviews").unwrap();
    assert!(reviews >= 1_000_000, "only {reviews} reviews");
    client.batch_execute("VACUUM ANALYZE").await.unwrap();

    let queries = fixture("fixtures/seed/queries");
    let files: Vec<String> = [
        "product_page.sql",
        "category_listing.sql",
        "recommendations.sql",
    ]
    .iter()
    .map(|f| queries.join(f).display().to_string())
    .collect();
    let mut args = vec![
        "suggest",
        "--dsn",
        &url,
        "--format",
        "json",
        "--verify",
        "build",
        "--runs",
        "1",
        "--apply",
        "--yes",
        "--with-matviews",
    ];
    args.extend(files.iter().map(String::as_str));
    let run = pgdiag(&args);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: SuggestReport = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a suggest report ({e}):\n{}", run.stdout));
    assert!(
        report
            .statements
            .iter()
            .all(|s| s.planning == Planning::Analyze),
        "{:#?}",
        report.statements
    );

    // Found and proven: the two indexes and the review-stats view (same rows as the originals).
    let reviews_index = kept_index(&report, "reviews", &["product_id"]);
    let composite = kept_index(&report, "recommendations", &["product_id", "score DESC"]);
    let view = report
        .kept()
        .find(|s| s.kind() == SuggestionKind::Matview)
        .unwrap_or_else(|| panic!("no kept materialized view: {report:#?}"));
    let info = view.matview().unwrap();
    assert_eq!(info.base_table, "reviews");
    assert_eq!(info.key_columns, ["product_id"]);
    assert_eq!(info.results_match, Some(true));
    assert_eq!(view.status, SuggestionStatus::Kept);

    // Applied: every change created, the objects in the catalog.
    let apply = report.apply.as_ref().expect("an apply section");
    assert!(apply.error.is_none(), "{apply:#?}");
    for name in [&reviews_index, &composite, &info.name] {
        let change = apply
            .changes
            .iter()
            .find(|c| &c.name == name)
            .unwrap_or_else(|| panic!("{name} not applied: {apply:#?}"));
        assert_eq!(change.status, ChangeStatus::Created, "{change:#?}");
    }
    let valid_indexes: Vec<String> = client
        .query(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indisvalid AND c.relname = ANY($1)",
            &[&vec![reviews_index.clone(), composite.clone()]],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(valid_indexes.len(), 2, "{valid_indexes:?}");
    let view_exists = client
        .query_opt(
            "SELECT 1 FROM pg_matviews WHERE matviewname = $1",
            &[&info.name],
        )
        .await
        .unwrap();
    assert!(view_exists.is_some(), "view {} not created", info.name);

    // The product page as written now reads reviews through the new index and the
    // recommendations through the composite, without a seq scan on either.
    let page_sql = seed::query("product_page").unwrap();
    let page = plan_of(&url, page_sql, &seed::query_params(page_sql)).await;
    assert!(
        page.indexes.contains(&reviews_index) && page.indexes.contains(&composite),
        "{:?}",
        page.measure.plan
    );
    for table in ["reviews", "recommendations"] {
        assert!(
            !page
                .measure
                .plan
                .split(", ")
                .any(|scan| scan == format!("Seq Scan on {table}")),
            "{}",
            page.measure.plan
        );
    }

    // The category listing, rewritten as suggest printed it, reads the view and not reviews.
    let listing_sql = seed::query("category_listing").unwrap();
    let rewritten = info
        .rewritten
        .iter()
        .find(|r| r.statement == 2)
        .unwrap_or_else(|| panic!("no rewrite of the category listing: {info:#?}"));
    let listing = plan_of(&url, &rewritten.sql, &seed::query_params(listing_sql)).await;
    assert!(
        listing.relations.contains(&info.name),
        "{}",
        listing.measure.plan
    );
    assert!(
        !listing.relations.iter().any(|r| r == "reviews"),
        "{}",
        listing.measure.plan
    );
}
