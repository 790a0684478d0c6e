//! How current a table's statistics are, read from the catalog of a real cluster
//! (`pg::catalog::table_statistics_of_plan`): what decides whether `misestimate` advises ANALYZE.

use std::time::{Duration, Instant};

use pgdiag::pg::catalog::{TableStatistics, table_statistics_of_plan};
use pgdiag::plan::parse_explain_value;
use tokio_postgres::Client;

use crate::support::database;

/// The statistics facts of the one table `SELECT ... FROM "Stats Table"` reads.
async fn facts(client: &Client) -> TableStatistics {
    let row = client
        .query_one(
            r#"EXPLAIN (FORMAT JSON, VERBOSE) SELECT * FROM "Stats Table" WHERE v = 3"#,
            &[],
        )
        .await
        .unwrap();
    let explain = parse_explain_value(row.get(0)).unwrap().remove(0);
    let mut facts = table_statistics_of_plan(client, &explain).await.unwrap();
    assert_eq!(facts.len(), 1, "{facts:#?}");
    facts.remove(0)
}

/// The facts once the activity counters caught up: a backend reports them when it goes idle, at
/// most once a second, so `n_mod_since_analyze` may lag the statements just run.
async fn facts_when(client: &Client, ready: impl Fn(&TableStatistics) -> bool) -> TableStatistics {
    let start = Instant::now();
    loop {
        let current = facts(client).await;
        if ready(&current) || start.elapsed() > Duration::from_secs(20) {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn never_analyzed_then_current_then_stale_after_a_bulk_change() {
    // Autovacuum off for the table: only this test's ANALYZE changes its statistics.
    let (_url, client) = database(
        "statistics_facts",
        r#"
CREATE TABLE "Stats Table" (id int PRIMARY KEY, v int NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO "Stats Table" SELECT g, g % 10 FROM generate_series(1, 1000) g;
"#,
    )
    .await;
    let never = facts(&client).await;
    assert_eq!(never.table.name, "Stats Table");
    assert_eq!(never.table.schema, "public");
    assert!(
        !never.has_statistics && never.last_analyzed.is_none(),
        "{never:#?}"
    );
    assert_eq!(
        never.stale().as_deref(),
        Some("it has no statistics (never analyzed)")
    );

    // The load's own counts reach the activity statistics first, or they would land after the
    // ANALYZE and count as changes since.
    let loaded = facts_when(&client, |f| f.modified_since_analyze >= 1000).await;
    assert_eq!(loaded.modified_since_analyze, 1000, "{loaded:#?}");
    client
        .batch_execute(r#"ANALYZE "Stats Table""#)
        .await
        .unwrap();
    let current = facts_when(&client, |f| f.last_analyzed.is_some()).await;
    assert!(current.has_statistics, "{current:#?}");
    assert_eq!(current.reltuples, 1000.0);
    assert_eq!(current.stale(), None, "{current:#?}");

    // 5,000 new rows against 1,000 analysed: beyond autovacuum's 50 + 10%.
    client
        .batch_execute(
            r#"INSERT INTO "Stats Table" SELECT g, g % 10 FROM generate_series(1001, 6000) g"#,
        )
        .await
        .unwrap();
    let stale = facts_when(&client, |f| f.modified_since_analyze >= 5000).await;
    assert_eq!(stale.modified_since_analyze, 5000, "{stale:#?}");
    let why = stale.stale().expect("stale after 5,000 new rows");
    assert!(
        why.starts_with("5,000 rows changed since its last ANALYZE (")
            && why.ends_with(" UTC), against about 1,000 rows in its statistics"),
        "{why}"
    );
}
