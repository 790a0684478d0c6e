//! `pgdiag cache-advice` through the binary on a real workload in `pg_stat_statements`: a lookup an
//! index fixes (fix it in the database), a statement reading `now()` (never cached), a heavy
//! aggregate over tables nobody writes (cached), and an aggregate over a table written far more
//! often than it is read (not cached: low hit rate).

use pgdiag::cache::advice::{DontCache, Verdict};
use pgdiag::cache::advising::CacheAdviceReport;

use crate::support::{database, pgdiag};

const SETUP: &str = "
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
    SET pg_stat_statements.track = 'none';
    CREATE TABLE products (id int PRIMARY KEY, category_id int NOT NULL);
    INSERT INTO products SELECT g, g % 20 FROM generate_series(1, 5000) g;
    CREATE TABLE reviews (id int PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL,
                          created_at timestamptz NOT NULL);
    INSERT INTO reviews SELECT g, 1 + g % 5000, g % 5, now() - (g % 100) * interval '1 hour'
      FROM generate_series(1, 200000) g;
    CREATE TABLE ledger (id int PRIMARY KEY, account_id int NOT NULL, amount numeric NOT NULL);
    INSERT INTO ledger SELECT g, g % 100, g % 7 FROM generate_series(1, 100000) g;
    ALTER TABLE reviews SET (parallel_workers = 0);
    ALTER TABLE ledger SET (parallel_workers = 0);
    ANALYZE;
    RESET pg_stat_statements.track;
";

const LOOKUP: &str = "SELECT id, rating FROM reviews WHERE product_id = $1";
const RECENT: &str = "SELECT count(*) FROM reviews WHERE created_at > now() - interval '1 day'";
const BY_CATEGORY: &str = "SELECT p.category_id, count(*), avg(r.rating) FROM reviews r \
                           JOIN products p ON p.id = r.product_id GROUP BY p.category_id";
const BALANCES: &str = "SELECT account_id, sum(amount) FROM ledger GROUP BY account_id";

#[tokio::test]
async fn one_verdict_per_statement_from_a_real_workload() {
    let (url, client) = database("cache_advice", SETUP).await;
    // The load's writes counted, then the counters reset: from now on the tables are only read,
    // but for the ledger.
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    client.batch_execute("SELECT 1").await.unwrap();
    client
        .batch_execute("SELECT pg_stat_reset()")
        .await
        .unwrap();
    for i in 0..30 {
        client.query(LOOKUP, &[&(1 + i * 37)]).await.unwrap();
    }
    for _ in 0..10 {
        client.query(RECENT, &[]).await.unwrap();
    }
    for _ in 0..20 {
        client.query(BY_CATEGORY, &[]).await.unwrap();
    }
    for _ in 0..100 {
        client.query(BALANCES, &[]).await.unwrap();
    }
    // The ledger is rewritten far more often than it is read.
    for _ in 0..5 {
        client
            .batch_execute("UPDATE ledger SET amount = amount + 1")
            .await
            .unwrap();
    }
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    client.batch_execute("SELECT 1").await.unwrap();

    let run = pgdiag(&[
        "cache-advice",
        "--from-pg-stat-statements",
        "--dsn",
        &url,
        "--verify",
        "build",
        "--max-staleness",
        "10m",
        "--format",
        "json",
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: CacheAdviceReport = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a cache-advice report: {e}\n{}", run.stdout));
    assert_eq!(report.schema_version, 1);
    let verdict = |sql: &str| {
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        report
            .statements
            .iter()
            .find(|s| words(&s.query) == words(sql))
            .unwrap_or_else(|| panic!("{sql} not advised on: {report:#?}"))
    };

    let lookup = verdict(LOOKUP);
    assert!(
        matches!(&lookup.advice, Verdict::FixInDatabase { suggestions, .. } if !suggestions.is_empty()),
        "{lookup:#?}"
    );
    assert_eq!(lookup.key.parts.len(), 1);
    assert_eq!(
        lookup.key.parts[0].column.as_deref(),
        Some("reviews.product_id")
    );
    let keys = lookup.distinct_keys.unwrap();
    assert!((4000.0..=6000.0).contains(&keys), "{keys}");

    // pg_stat_statements keeps `interval $1`, run as `$1::interval`.
    let recent = report
        .statements
        .iter()
        .find(|s| s.query.contains("now()"))
        .unwrap_or_else(|| panic!("{RECENT} not advised on: {report:#?}"));
    match &recent.advice {
        Verdict::DontCache { reason, detail } => {
            assert_eq!(*reason, DontCache::CallerDependent);
            assert!(detail.contains("now()"), "{detail}");
        }
        other => panic!("{other:?}"),
    }

    let by_category = verdict(BY_CATEGORY);
    match &by_category.advice {
        Verdict::Cache(plan) => {
            assert!(by_category.key.parts.is_empty());
            assert!(plan.hard_ttl_s <= 600.0, "{plan:?}");
            assert!(plan.expected_hit_rate > 0.5, "{plan:?}");
            assert_eq!(plan.invalidate, None);
            assert!(plan.db_ms_saved_per_hour > 0.0);
        }
        other => panic!("{other:?}"),
    }

    let balances = verdict(BALANCES);
    let ledger = balances
        .tables
        .iter()
        .find(|t| t.table == "ledger")
        .unwrap();
    assert!(ledger.writes_per_hour > 0.0, "{balances:#?}");
    assert!(
        matches!(
            &balances.advice,
            Verdict::DontCache {
                reason: DontCache::LowHitRate,
                ..
            }
        ),
        "{balances:#?}"
    );

    // The text names the target and each verdict.
    let run = pgdiag(&[
        "cache-advice",
        "--from-pg-stat-statements",
        "--dsn",
        &url,
        "--verify",
        "none",
        "--max-staleness",
        "10m",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(run.stdout.starts_with("Cache advice on "), "{}", run.stdout);
    assert!(
        run.stdout.contains("DON'T CACHE (caller-dependent)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("  CACHE  "), "{}", run.stdout);
}

/// Query files with expected call rates: each statement's rate from its `-- pgdiag: calls`
/// comment (or `--calls` for a directory's files without one), its time measured, one verdict
/// each, named by file and line.
#[tokio::test]
async fn query_files_with_call_rates_get_one_verdict_each() {
    let (url, client) = database("cache_advice_files", SETUP).await;
    // The load's inserts are not the tables' write rate: counters restart now; only the ledger
    // is written from here on.
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    // Flushed once the session is idle, after that statement: only then reset.
    client.batch_execute("SELECT 1").await.unwrap();
    client
        .batch_execute("SELECT pg_stat_reset()")
        .await
        .unwrap();
    for _ in 0..5 {
        client
            .batch_execute("UPDATE ledger SET amount = amount + 1")
            .await
            .unwrap();
    }
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop.sql");
    std::fs::write(
        &shop,
        format!(
            "-- pgdiag: params 42\n-- pgdiag: calls=120/min\n{LOOKUP};\n\n\
             -- pgdiag: calls=2/s\n{RECENT};\n\
             -- pgdiag: calls=600/h\n{BY_CATEGORY};\n"
        ),
    )
    .unwrap();
    let more = dir.path().join("more");
    std::fs::create_dir(&more).unwrap();
    std::fs::write(more.join("ledger.sql"), format!("{BALANCES};\n")).unwrap();

    let run = pgdiag(&[
        "cache-advice",
        shop.to_str().unwrap(),
        more.to_str().unwrap(),
        "--calls",
        "0.5/s",
        "--dsn",
        &url,
        "--verify",
        "build",
        "--max-staleness",
        "10m",
        "--format",
        "json",
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: CacheAdviceReport = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a cache-advice report: {e}\n{}", run.stdout));
    assert_eq!(report.source, "files");
    assert_eq!(report.workload_window_s, None);
    assert_eq!(report.statements.len(), 4, "{report:#?}");
    let at = |source: &str| {
        report
            .statements
            .iter()
            .find(|s| s.source.as_deref().is_some_and(|s| s.ends_with(source)))
            .unwrap_or_else(|| panic!("nothing from {source}: {report:#?}"))
    };
    for s in &report.statements {
        assert!(s.mean_ms > 0.0, "its time is measured: {s:#?}");
        assert_eq!(s.db_ms_per_hour, s.calls_per_hour * s.mean_ms);
    }

    let lookup = at("shop.sql:3");
    assert_eq!(lookup.calls_per_hour, 7200.0);
    assert_eq!(
        lookup.key.parts[0].column.as_deref(),
        Some("reviews.product_id")
    );
    assert!(
        matches!(&lookup.advice, Verdict::FixInDatabase { suggestions, .. } if !suggestions.is_empty()),
        "{lookup:#?}"
    );

    let recent = at("shop.sql:6");
    assert_eq!(recent.calls_per_hour, 7200.0);
    assert!(
        matches!(
            &recent.advice,
            Verdict::DontCache {
                reason: DontCache::CallerDependent,
                ..
            }
        ),
        "{recent:#?}"
    );

    let by_category = at("shop.sql:8");
    assert_eq!(by_category.calls_per_hour, 600.0);
    match &by_category.advice {
        Verdict::Cache(plan) => {
            assert!(plan.expected_hit_rate > 0.5, "{plan:?}");
            assert_eq!(plan.invalidate, None);
            assert!(plan.hard_ttl_s <= 600.0, "{plan:?}");
        }
        other => panic!("{other:?}"),
    }

    // The directory's file has no comment: --calls gives its rate.
    let balances = at("ledger.sql:1");
    assert_eq!(balances.calls_per_hour, 1800.0);
    assert!(
        balances
            .tables
            .iter()
            .any(|t| t.table == "ledger" && t.writes_per_hour > 0.0),
        "{balances:#?}"
    );
    assert!(
        matches!(
            &balances.advice,
            Verdict::DontCache {
                reason: DontCache::LowHitRate,
                ..
            }
        ),
        "{balances:#?}"
    );

    // The text names each statement's file and line.
    let run = pgdiag(&[
        "cache-advice",
        shop.to_str().unwrap(),
        "--dsn",
        &url,
        "--verify",
        "none",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout.contains("3 statements from files"),
        "{}",
        run.stdout
    );
    for at in [
        "shop.sql:3: SELECT",
        "shop.sql:6: SELECT",
        "shop.sql:8: SELECT",
    ] {
        assert!(run.stdout.contains(at), "{at} missing:\n{}", run.stdout);
    }
}

/// A statement without a rate (no comment, no `--calls`) and a rate that cannot be read are
/// errors naming the file and line, before connecting to anything (no server is given);
/// `--calls` needs files.
#[test]
fn query_files_without_a_readable_rate_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sql");
    std::fs::write(
        &missing,
        "-- pgdiag: calls=1/s\nSELECT 1 FROM products;\n\nSELECT 2 FROM products;\n",
    )
    .unwrap();
    let run = pgdiag(&["cache-advice", missing.to_str().unwrap()]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr
            .contains("missing.sql:4: no expected call rate: add a `-- pgdiag: calls=120/min`"),
        "{}",
        run.stderr
    );

    let bad = dir.path().join("bad.sql");
    std::fs::write(
        &bad,
        "SELECT 1 FROM products;\n-- pgdiag: calls=5/day\nSELECT 2;\n",
    )
    .unwrap();
    let run = pgdiag(&["cache-advice", bad.to_str().unwrap(), "--calls", "1/s"]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr
            .contains("bad.sql:2: `day` is not a unit of time: use s, min or h"),
        "{}",
        run.stderr
    );

    let run = pgdiag(&[
        "cache-advice",
        "--from-pg-stat-statements",
        "--calls",
        "1/s",
    ]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr
            .contains("'--from-pg-stat-statements' cannot be used with '--calls <RATE>'"),
        "{}",
        run.stderr
    );
    let run = pgdiag(&["cache-advice", bad.to_str().unwrap(), "--calls", "often"]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(run.stderr.contains("has no unit"), "{}", run.stderr);
}
