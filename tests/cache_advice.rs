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
        "--prove",
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
        "--prove",
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

// `--verify`: a keyed lookup read from a server log (a known rate: 2,400 calls over 60 s, over
// 200 keys), its table written a little since the counters were reset, advised to be cached
// with invalidation on write; the benchmark runs the advised configuration at the scaled rates
// on the embedded cluster, writing (`--allow-writes`) and invalidating through the trigger.

const VERIFY_SETUP: &str = "
    CREATE TABLE ratings (id int PRIMARY KEY, item_id int NOT NULL, stars int NOT NULL);
    INSERT INTO ratings SELECT g, 1 + g % 200, g % 5 FROM generate_series(1, 4000) g;
    CREATE INDEX ON ratings (item_id);
    ANALYZE ratings;
";

/// 2,400 executions of the lookup, 2 ms each, evenly over 60 s and over the 200 items.
fn lookup_log() -> String {
    let mut log = String::new();
    for i in 0..2400u32 {
        let ms = u64::from(i) * 25;
        log.push_str(&format!(
            "2026-12-02 10:{:02}:{:02}.{:03} UTC [77] LOG:  duration: 2.000 ms  statement: \
             SELECT count(*), avg(stars) FROM ratings WHERE item_id = {}\n",
            ms / 60_000,
            ms / 1000 % 60,
            ms % 1000,
            1 + i % 200
        ));
    }
    log
}

#[tokio::test]
async fn verify_measures_the_advised_cache_and_agrees_with_the_prediction() {
    use pgdiag::cache::verification::Verification;

    let (url, client) = database("cache_verify", VERIFY_SETUP).await;
    // The setup's writes counted, then the counters reset: from now on, 20 rows written.
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    client.batch_execute("SELECT 1").await.unwrap();
    client
        .batch_execute("SELECT pg_stat_reset()")
        .await
        .unwrap();
    client
        .batch_execute("UPDATE ratings SET stars = stars WHERE id <= 20")
        .await
        .unwrap();
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    client.batch_execute("SELECT 1").await.unwrap();
    let (_dir, log) = crate::support::temp_file("postgresql.log", lookup_log().as_bytes());
    let log = log.display().to_string();
    let started = std::time::Instant::now();
    let run = pgdiag(&[
        "cache-advice",
        "--from-log",
        &log,
        "--dsn",
        &url,
        "--prove",
        "none",
        "--fast-enough",
        "0s",
        "--min-hit-rate",
        "0",
        "--max-staleness",
        "10s",
        "--verify",
        "--verify-duration",
        "8s",
        "--allow-writes",
        "--format",
        "json",
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(started.elapsed().as_secs() < 40, "{:?}", started.elapsed());
    let report: CacheAdviceReport = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a cache-advice report: {e}\n{}", run.stdout));
    let lookup = report
        .statements
        .iter()
        .find(|s| s.query.contains("FROM ratings"))
        .unwrap_or_else(|| panic!("the lookup not advised on: {report:#?}"));
    // 2,400 calls in 60 s: 144,000 an hour.
    assert!(
        (lookup.calls_per_hour - 144_000.0).abs() < 3_000.0,
        "{lookup:#?}"
    );
    let Verdict::Cache(plan) = &lookup.advice else {
        panic!("not cached: {lookup:#?}");
    };
    assert!(plan.invalidate.is_some(), "{plan:#?}");
    let Some(Verification::Measured(m)) = &lookup.verification else {
        panic!("not measured: {lookup:#?}");
    };
    // The run: scaled (many times the workload's pace), read and written, invalidating.
    assert!(m.scale > 1.0, "{m:#?}");
    assert!(m.bench.reads >= 500, "{m:#?}");
    // Paced: about the rate asked for, not as fast as the clients go.
    assert!(
        m.bench.measured_read_rate_per_s <= 1.25 * m.bench.read_rate_per_s,
        "{m:#?}"
    );
    assert!(m.bench.writes > 0 && m.bench.invalidate, "{m:#?}");
    assert!(
        m.bench
            .write
            .as_deref()
            .is_some_and(|w| w.starts_with("UPDATE ratings"))
    );
    // The tolerance: 5 points for what the model leaves out plus three standard errors, which
    // for ~1,600 reads and ~20–40% misses is 3·√(320..640)/1,600 ≈ 3.4–4.7 points: under 10.
    assert!(
        m.hit_rate.tolerance > 0.05 && m.hit_rate.tolerance < 0.10,
        "{m:#?}"
    );
    assert!(
        (m.hit_rate.measured - m.hit_rate.predicted).abs() <= m.hit_rate.tolerance,
        "hit rate: predicted {} measured {} ± {}: {m:#?}",
        m.hit_rate.predicted,
        m.hit_rate.measured,
        m.hit_rate.tolerance
    );
    assert!(m.hit_rate.agrees);
    // The prediction for the run is the advice's figure (same model, keys read evenly), up to the
    // rates the machine reached.
    assert!(
        (m.hit_rate.predicted - m.advised_hit_rate).abs() < 0.1,
        "{m:#?}"
    );
    let stale = m.stale_share.expect("staleness measured with writes");
    assert_eq!(
        stale.predicted, 0.0,
        "invalidation: nothing stale in the model"
    );
    assert!(stale.agrees, "{m:#?}");
    assert!(m.agrees, "{m:#?}");
    assert!(m.p99.measured_ms > 0.0, "{m:#?}");

    // The text shows the run and each comparison.
    let mut text = Vec::new();
    pgdiag::report::cache_advice::render_text(&mut text, &report, Some(160)).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("  VERIFIED  agrees: "), "{text}");
    assert!(text.contains("hit rate  predicted "), "{text}");
    assert!(text.contains("p99       "), "{text}");

    // Without --allow-writes only reads run: the trigger is not installed, nothing is written,
    // and staleness is said not to be verified.
    let run = pgdiag(&[
        "cache-advice",
        "--from-log",
        &log,
        "--dsn",
        &url,
        "--prove",
        "none",
        "--fast-enough",
        "0s",
        "--min-hit-rate",
        "0",
        "--max-staleness",
        "10s",
        "--verify",
        "--verify-duration",
        "2s",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: CacheAdviceReport = serde_json::from_str(&run.stdout).unwrap();
    let lookup = report
        .statements
        .iter()
        .find(|s| s.query.contains("FROM ratings"))
        .unwrap();
    let Some(Verification::Measured(m)) = &lookup.verification else {
        panic!("not measured: {lookup:#?}");
    };
    assert_eq!(
        (m.bench.writes, m.bench.write.as_deref()),
        (0, None),
        "{m:#?}"
    );
    assert!(m.stale_share.is_none());
    assert!(
        m.notes.iter().any(|n| n.contains("--allow-writes")),
        "{m:#?}"
    );

    // A measurement that cannot be taken (no Redis there): the report still printed, the reason
    // given, exit 2.
    let run = pgdiag(&[
        "cache-advice",
        "--from-log",
        &log,
        "--dsn",
        &url,
        "--prove",
        "none",
        "--fast-enough",
        "0s",
        "--min-hit-rate",
        "0",
        "--max-staleness",
        "10s",
        "--verify",
        "--verify-duration",
        "1s",
        "--redis-url",
        "redis://127.0.0.1:1/",
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(run.stdout.contains("  NOT VERIFIED  "), "{}", run.stdout);
    assert!(run.stderr.contains("not verified: "), "{}", run.stderr);
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
        "--prove",
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
        "--prove",
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
