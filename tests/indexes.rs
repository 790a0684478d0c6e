//! `pgdiag indexes` on the embedded PostgreSQL: unused (after scans of the others), duplicate,
//! prefix-redundant and INVALID indexes found with the right one kept; what backs a primary key,
//! a UNIQUE or EXCLUSION constraint, a referenced key or the replica identity never proposed;
//! nothing changed without `--drop`; `--drop --yes` drops exactly the findings; and the catalog
//! read on every supported major.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pgdiag::advise::hygiene::HygieneKind;
use pgdiag::suggest::hygiene::{DropStatus, IndexesReport, drop_findings, examine};

use crate::support::{MAJORS, database, database_on, pgdiag};

const SCHEMA: &str = r#"
CREATE SCHEMA "Shop Data";
CREATE TABLE "Shop Data"."Order" (
    id int PRIMARY KEY,
    code text NOT NULL UNIQUE,
    customer_id int NOT NULL,
    created_at timestamptz NOT NULL,
    note text,
    ext text NOT NULL,
    during tstzrange NOT NULL,
    EXCLUDE USING gist (during WITH &&)
);
INSERT INTO "Shop Data"."Order"
SELECT g, 'c' || g, g % 100, timestamptz '2024-01-01' + g * interval '1 minute', 'n' || g,
       'e' || (g % 10),
       tstzrange(timestamptz '2024-01-01' + g * interval '1 hour',
                 timestamptz '2024-01-01' + g * interval '1 hour' + interval '1 minute')
  FROM generate_series(1, 5000) g;
CREATE TABLE "Shop Data".item (
    id int PRIMARY KEY,
    order_code text REFERENCES "Shop Data"."Order" (code),
    ref int NOT NULL
);
CREATE UNIQUE INDEX item_ref ON "Shop Data".item (ref);
ALTER TABLE "Shop Data".item REPLICA IDENTITY USING INDEX item_ref;
CREATE INDEX "Order customer" ON "Shop Data"."Order" (customer_id);
CREATE INDEX order_customer_created ON "Shop Data"."Order" (customer_id, created_at);
CREATE INDEX order_created ON "Shop Data"."Order" (created_at);
CREATE INDEX order_note ON "Shop Data"."Order" (note);
CREATE INDEX order_code_lower ON "Shop Data"."Order" (lower(code));
ANALYZE;
"#;

/// A failed `CREATE UNIQUE INDEX CONCURRENTLY` over duplicate values leaves an INVALID index.
async fn leave_invalid(client: &tokio_postgres::Client, schema: &str, table: &str, name: &str) {
    let failed = client
        .batch_execute(&format!(
            "CREATE UNIQUE INDEX CONCURRENTLY {} ON {}.{} (ext)",
            pgdiag::pg::quote_ident(name),
            pgdiag::pg::quote_ident(schema),
            pgdiag::pg::quote_ident(table)
        ))
        .await
        .expect_err("duplicate values make the unique build fail");
    assert_eq!(failed.code().map(|c| c.code()), Some("23505"), "{failed:?}");
}

/// Scan `order_code_lower` and wait (bounded) until the statistics count it: PostgreSQL 15+
/// flushes at transaction end (forced here), 14's collector reports with a delay.
async fn scan_and_wait(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;
             SELECT count(*) FROM \"Shop Data\".\"Order\" WHERE lower(code) = 'c42';
             SELECT id FROM \"Shop Data\".\"Order\"
              WHERE customer_id = 3 AND created_at > '2024-01-02'
              ORDER BY customer_id, created_at LIMIT 5;
             SELECT count(*) FROM \"Shop Data\".\"Order\" WHERE created_at < '2024-01-01 01:00';
             RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_sort;",
        )
        .await
        .expect("scans");
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .unwrap()
        .get(0);
    if version >= 150000 {
        client
            .batch_execute("SELECT pg_stat_force_next_flush()")
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    // order_created was scanned, its twin made after is not: the twin is the duplicate.
    client
        .batch_execute(r#"CREATE INDEX order_created_dup ON "Shop Data"."Order" (created_at)"#)
        .await
        .unwrap();
    loop {
        // A new transaction each time: statistics read in one are a snapshot.
        let scans: i64 = client
            .query_one(
                "SELECT coalesce(sum(idx_scan), 0)::int8 FROM pg_stat_user_indexes
                  WHERE indexrelname = 'order_code_lower'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if scans > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the statistics never counted the scan of order_code_lower"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn index_names(client: &tokio_postgres::Client) -> BTreeSet<String> {
    client
        .query(
            "SELECT c.relname::text FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'Shop Data'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn report(url: &str, extra: &[&str]) -> IndexesReport {
    let mut args = vec!["indexes", "--dsn", url, "--format", "json"];
    args.extend_from_slice(extra);
    let run = pgdiag(&args);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not an indexes report ({e}):\n{}", run.stdout))
}

fn findings(report: &IndexesReport) -> Vec<(HygieneKind, &str, Option<&str>)> {
    report
        .findings
        .iter()
        .map(|f| (f.kind, f.index.as_str(), f.kept.as_deref()))
        .collect()
}

#[tokio::test]
async fn finds_unused_duplicate_redundant_and_invalid_and_never_what_backs_a_constraint() {
    let (url, client) = database("indexes_find", SCHEMA).await;
    leave_invalid(&client, "Shop Data", "Order", "order_ext_uq").await;
    scan_and_wait(&client).await;
    let before = index_names(&client).await;

    let report = report(&url, &[]);
    assert_eq!(
        findings(&report),
        [
            (HygieneKind::Invalid, "order_ext_uq", None),
            (
                HygieneKind::Duplicate,
                "order_created_dup",
                Some("order_created")
            ),
            (
                HygieneKind::Redundant,
                "Order customer",
                Some("order_customer_created")
            ),
            (HygieneKind::Unused, "order_note", None),
        ]
    );
    for f in &report.findings {
        assert_eq!(f.schema, "Shop Data");
        assert_eq!(f.table, "Order");
        assert_eq!(
            f.drop_sql,
            format!("DROP INDEX CONCURRENTLY \"Shop Data\".\"{}\";", f.index)
        );
    }
    let unused = &report.findings[3];
    assert!(unused.size_bytes > 0, "{unused:?}");
    assert!(
        unused
            .reason
            .contains("5,000 inserts of Order each also wrote this index"),
        "{}",
        unused.reason
    );
    assert_eq!(
        report.reclaimable_bytes,
        report.findings.iter().map(|f| f.size_bytes).sum::<i64>()
    );
    // Constraint-backing indexes (PK, UNIQUE, EXCLUSION, the key a foreign key references), the
    // replica identity, the scanned expression index and the indexes others rely on: never.
    let proposed: BTreeSet<&str> = report.findings.iter().map(|f| f.index.as_str()).collect();
    for kept in [
        "Order_pkey",
        "Order_code_key",
        "Order_during_excl",
        "item_pkey",
        "item_ref",
        "order_code_lower",
        "order_customer_created",
        "order_created",
    ] {
        assert!(before.contains(kept), "{kept} missing from {before:?}");
        assert!(!proposed.contains(kept), "{kept} proposed: {report:#?}");
    }
    // Without --drop, nothing changed.
    assert_eq!(index_names(&client).await, before);

    // The text report says the same, with the statistics' age and the total.
    let run = pgdiag(&["indexes", "--dsn", &url]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout.contains("4 of 12 indexes can go"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Statistics: "), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("DROP INDEX CONCURRENTLY \"Shop Data\".\"order_note\";"),
        "{}",
        run.stdout
    );
    // --fail-on-findings for CI.
    let run = pgdiag(&["indexes", "--dsn", &url, "--fail-on-findings"]);
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert_eq!(index_names(&client).await, before);
}

#[tokio::test]
async fn drop_drops_exactly_the_findings_and_only_when_asked() {
    let (url, client) = database("indexes_drop", SCHEMA).await;
    leave_invalid(&client, "Shop Data", "Order", "order_ext_uq").await;
    scan_and_wait(&client).await;
    let before = index_names(&client).await;

    // Not on a terminal and no --yes: refused before anything is read or dropped.
    let run = pgdiag(&["indexes", "--dsn", &url, "--drop"]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(run.stderr.contains("--drop --yes"), "{}", run.stderr);
    assert_eq!(index_names(&client).await, before);

    // --only: the invalid one alone.
    let only = report(&url, &["--only", "invalid", "--drop", "--yes"]);
    assert_eq!(
        findings(&only),
        [(HygieneKind::Invalid, "order_ext_uq", None)]
    );
    let drops = only.drops.as_ref().expect("drop results");
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0].status, DropStatus::Dropped, "{drops:?}");
    let mut expected = before.clone();
    expected.remove("order_ext_uq");
    assert_eq!(index_names(&client).await, expected);

    // Everything else that can go.
    let all = report(&url, &["--drop", "--yes"]);
    let names: BTreeSet<String> = all.findings.iter().map(|f| f.index.clone()).collect();
    assert_eq!(
        names,
        ["Order customer", "order_created_dup", "order_note"]
            .map(String::from)
            .into()
    );
    let drops = all.drops.as_ref().expect("drop results");
    assert!(
        drops.iter().all(|d| d.status == DropStatus::Dropped),
        "{drops:?}"
    );
    assert_eq!(
        all.dropped_bytes(),
        all.findings.iter().map(|f| f.size_bytes).sum::<i64>()
    );
    for name in &names {
        expected.remove(name);
    }
    assert_eq!(index_names(&client).await, expected);

    // Nothing is left to find; a second --drop drops nothing.
    let again = report(&url, &["--drop", "--yes"]);
    assert_eq!(findings(&again), []);
    assert_eq!(again.drops, Some(vec![]));
    assert_eq!(index_names(&client).await, expected);
}

#[tokio::test]
async fn the_catalog_read_works_on_every_major() {
    for major in MAJORS {
        let (_url, client) = database_on(
            major,
            &format!("v{major}_indexes"),
            "CREATE TABLE t (id int PRIMARY KEY, a int NOT NULL, b text NOT NULL);
             INSERT INTO t SELECT g, g % 10, 'b' FROM generate_series(1, 200) g;
             CREATE INDEX t_a ON t (a);
             CREATE INDEX t_a_again ON t (a);
             CREATE INDEX t_a_b ON t (a, b) INCLUDE (id);",
        )
        .await;
        let failed = client
            .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY t_b_uq ON t (b)")
            .await;
        assert!(failed.is_err(), "PostgreSQL {major}: the build should fail");
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .unwrap()
            .get(0);
        let advice = examine(&client, version)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL {major}: {e}"));
        let found: Vec<(HygieneKind, &str, Option<&str>)> = advice
            .findings
            .iter()
            .map(|f| (f.kind, f.index.as_str(), f.kept.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                (HygieneKind::Invalid, "t_b_uq", None),
                (HygieneKind::Redundant, "t_a", Some("t_a_b")),
                (HygieneKind::Redundant, "t_a_again", Some("t_a_b")),
            ],
            "PostgreSQL {major}"
        );
        assert_eq!(advice.indexes_examined, 5, "PostgreSQL {major}");
    }
}

/// What changed between judging and dropping is found by the re-check, and a drop that cannot get
/// its lock fails with the server's error instead of waiting.
#[tokio::test]
async fn each_drop_is_rechecked_and_bounded_by_the_lock_timeout() {
    let (_url, client) = database(
        "indexes_recheck",
        "CREATE TABLE t (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL, c int NOT NULL);
         INSERT INTO t SELECT g, g % 10, g % 7, g % 5 FROM generate_series(1, 2000) g;
         CREATE INDEX t_a ON t (a);
         CREATE INDEX t_a_b ON t (a, b);
         CREATE INDEX t_c ON t (c);
         CREATE INDEX t_b ON t (b);
         CREATE TABLE u (id int PRIMARY KEY, v int NOT NULL);
         CREATE INDEX u_v ON u (v);",
    )
    .await;
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .unwrap()
        .get(0);
    let advice = examine(&client, version).await.unwrap();
    let found: Vec<(HygieneKind, &str, Option<&str>)> = advice
        .findings
        .iter()
        .map(|f| (f.kind, f.index.as_str(), f.kept.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            (HygieneKind::Redundant, "t_a", Some("t_a_b")),
            (HygieneKind::Unused, "t_b", None),
            (HygieneKind::Unused, "t_c", None),
            (HygieneKind::Unused, "u_v", None),
        ]
    );
    // Since judged: the kept index is gone, t_b is scanned, t_c is made unique (another
    // definition), and a transaction holds u.
    client
        .batch_execute(
            "DROP INDEX t_a_b; DROP INDEX t_c; CREATE UNIQUE INDEX t_c ON t (id, c);
             SET enable_seqscan = off; SET enable_bitmapscan = off;
             SELECT count(*) FROM t WHERE b = 3;
             RESET enable_seqscan; RESET enable_bitmapscan;",
        )
        .await
        .unwrap();
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .query_one(
            "SELECT coalesce(sum(idx_scan), 0)::int8 FROM pg_stat_user_indexes WHERE indexrelname = 't_b'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(Instant::now() < deadline, "the scan of t_b was never counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let db: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    let holder = crate::support::pg().connect(&db).await.unwrap();
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM u;")
        .await
        .unwrap();

    let findings: Vec<&_> = advice.findings.iter().collect();
    let results = drop_findings(
        &client,
        version,
        &findings,
        Duration::from_millis(300),
        &|| false,
        &mut |_, _| {},
    )
    .await
    .unwrap();
    let outcomes: Vec<(&str, DropStatus, Option<&str>)> = results
        .iter()
        .map(|r| (r.index.as_str(), r.status, r.message.as_deref()))
        .collect();
    assert_eq!(outcomes[0].0, "t_a");
    assert_eq!(outcomes[0].1, DropStatus::Skipped);
    assert_eq!(
        outcomes[0].2,
        Some("\"t_a_b\", the index kept to serve its scans, no longer exists")
    );
    assert_eq!(
        outcomes[1],
        (
            "t_b",
            DropStatus::Skipped,
            Some("it was scanned since it was judged (1 scan now)")
        )
    );
    assert_eq!(outcomes[2].0, "t_c");
    assert_eq!(outcomes[2].1, DropStatus::Skipped);
    assert!(
        outcomes[2]
            .2
            .unwrap()
            .starts_with("its definition changed since it was judged: now CREATE UNIQUE INDEX t_c"),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[3].0, "u_v");
    assert_eq!(outcomes[3].1, DropStatus::Failed, "{outcomes:?}");
    assert!(
        outcomes[3].2.unwrap().contains("lock timeout")
            && outcomes[3].2.unwrap().ends_with(
                "; the drop had begun and left the index INVALID (the planner no longer uses it): drop it again when the table's transactions allow (pgdiag indexes --only invalid --drop)"
            ),
        "{outcomes:?}"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
    // Nothing was dropped, and the session's timeouts are back.
    let left: Vec<String> = client
        .query(
            "SELECT relname::text FROM pg_class WHERE relname IN ('t_a', 't_b', 't_c', 'u_v') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["t_a", "t_b", "t_c", "u_v"]);
    let lock_timeout: String = client
        .query_one("SHOW lock_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(lock_timeout, "0");
}

#[test]
fn an_unknown_kind_is_a_usage_error() {
    let run = pgdiag(&["indexes", "--only", "unused,unusd"]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr
            .contains("unknown kind `unusd`: expected unused, duplicate, redundant or invalid"),
        "{}",
        run.stderr
    );
}
