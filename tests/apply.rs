//! Applying changes on the embedded PostgreSQL: concurrent index builds that are valid and used,
//! idempotence, giving up on a locked table, dropping INVALID indexes, the advisory lock, writers
//! that keep writing during a build, and all-or-nothing materialized views.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pgdiag::pg::quote_ident;
use pgdiag::suggest::report::WaitKind;
use pgdiag::suggest::{
    APPLY_LOCK_KEY, ApplyError, ApplyEvent, ApplyOptions, ApplyReport, Change, ChangeStatus,
    FailureKind, apply,
};
use pgdiag::suggest::{ChangeFailure, ChangeOutcome};

use crate::support::database;

/// Asserts the change was built now; `replaced_invalid`: an INVALID index an earlier run left was
/// dropped first.
fn assert_created(outcome: &ChangeOutcome, replaced_invalid: bool) {
    assert_eq!(outcome.status, ChangeStatus::Created, "{outcome:?}");
    assert_eq!(outcome.dropped_invalid, replaced_invalid, "{outcome:?}");
}

/// A failed change's failure, whether the INVALID index it left was dropped, and why not.
fn failed(outcome: &ChangeOutcome) -> (&ChangeFailure, &bool, &Option<String>) {
    assert_eq!(outcome.status, ChangeStatus::Failed, "{outcome:?}");
    let failure = outcome.failure.as_ref().expect("a failed change says why");
    (failure, &outcome.dropped_invalid, &outcome.cleanup_error)
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("second connection");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn index(schema: Option<&str>, table: &str, name: &str, columns: &str) -> Change {
    let target = match schema {
        Some(s) => format!("{}.{}", quote_ident(s), quote_ident(table)),
        None => quote_ident(table),
    };
    Change::Index {
        schema: schema.map(str::to_owned),
        table: table.to_owned(),
        name: name.to_owned(),
        ddl: format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {target} ({columns})",
            quote_ident(name)
        ),
    }
}

fn options(lock_timeout_ms: u64) -> ApplyOptions {
    ApplyOptions {
        lock_timeout: Duration::from_millis(lock_timeout_ms),
        statement_timeout: Some(Duration::from_secs(120)),
        build_wait: Duration::from_secs(60),
    }
}

/// Apply `changes` on `client`, watched from a second session on `url`.
async fn run(
    url: &str,
    client: &tokio_postgres::Client,
    changes: &[Change],
    options: &ApplyOptions,
) -> ApplyReport {
    let watcher = connect(url).await;
    apply(client, &watcher, changes, options, &mut |_| {})
        .await
        .expect("apply runs")
}

/// `Some(indisvalid)` of the index called `name`, `None` when there is none.
async fn index_validity(client: &tokio_postgres::Client, name: &str) -> Option<bool> {
    client
        .query_opt(
            "SELECT x.indisvalid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE c.relname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

async fn plan_text(client: &tokio_postgres::Client, sql: &str) -> String {
    let rows = client.query(&format!("EXPLAIN {sql}"), &[]).await.unwrap();
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

const HOSTILE: &str = r#"
CREATE SCHEMA "Shop Data";
CREATE TABLE "Shop Data"."Order" (id int PRIMARY KEY, "Group" int NOT NULL, total numeric NOT NULL);
INSERT INTO "Shop Data"."Order" SELECT g, g % 500, g * 1.5 FROM generate_series(1, 20000) g;
ANALYZE "Shop Data"."Order";
"#;

#[tokio::test]
async fn creates_valid_used_indexes_concurrently_and_a_second_run_finds_them() {
    let (url, client) = database("apply_create", HOSTILE).await;
    let watcher = connect(&url).await;
    let changes = [
        index(Some("Shop Data"), "Order", "Order Group idx", r#""Group""#),
        index(
            Some("Shop Data"),
            "Order",
            "order_total_idx",
            r#""total" DESC"#,
        ),
    ];
    let mut events = Vec::new();
    let report = apply(&client, &watcher, &changes, &options(2000), &mut |event| {
        events.push(match event {
            ApplyEvent::Started { position, .. } => format!("start {position}"),
            ApplyEvent::Finished { position, .. } => format!("finish {position}"),
            ApplyEvent::Waiting { position, .. } => format!("wait {position}"),
        })
    })
    .await
    .unwrap();
    assert_eq!(events, ["start 0", "finish 0", "start 1", "finish 1"]);
    assert_eq!(report.outcomes.len(), changes.len(), "{report:?}");
    for outcome in &report.outcomes {
        assert_created(outcome, false);
        assert!(outcome.size_bytes.unwrap() > 0, "{outcome:?}");
        assert_eq!(
            index_validity(&client, outcome.change.name()).await,
            Some(true)
        );
    }
    assert!(report.is_success());

    let plan = plan_text(
        &client,
        r#"SELECT * FROM "Shop Data"."Order" WHERE "Group" = 7"#,
    )
    .await;
    assert!(plan.contains("Order Group idx"), "{plan}");
    let plan = plan_text(
        &client,
        r#"SELECT * FROM "Shop Data"."Order" ORDER BY total DESC LIMIT 5"#,
    )
    .await;
    assert!(plan.contains("order_total_idx"), "{plan}");

    let again = run(&url, &client, &changes, &options(2000)).await;
    assert_eq!(again.outcomes.len(), changes.len(), "{again:?}");
    for outcome in &again.outcomes {
        assert_eq!(outcome.status, ChangeStatus::AlreadyExisted, "{outcome:?}");
        assert!(outcome.size_bytes.unwrap() > 0);
    }

    // The session's own timeouts are back, and the advisory lock is free again.
    let lock_timeout: String = client
        .query_one("SELECT current_setting('lock_timeout')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(lock_timeout, "0");
    let free: bool = client
        .query_one(
            "SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(free, "the advisory lock was not released");
}

const SMALL: &str = "
CREATE TABLE t (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL);
INSERT INTO t SELECT g, g % 100, g % 7 FROM generate_series(1, 5000) g;
";

#[tokio::test]
async fn a_table_locked_by_another_session_fails_fast_and_is_left_untouched() {
    let (url, client) = database("apply_locked", SMALL).await;
    let other = connect(&url).await;
    let other_pid = backend_pid(&other).await;
    other
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let changes = [
        index(None, "t", "t_a_idx", "a"),
        index(None, "t", "t_b_idx", "b"),
    ];
    let report = run(&url, &client, &changes, &options(200)).await;
    other.batch_execute("ROLLBACK").await.unwrap();

    {
        let (failure, dropped_invalid, cleanup_error) = failed(&report.outcomes[0]);
        assert_eq!(failure.kind, FailureKind::LockTimeout, "{failure}");
        // The watcher cancelled the build when its wait for the table's lock reached the bound.
        assert_eq!(failure.sqlstate.as_deref(), Some("57014"));
        let text = failure.to_string();
        assert!(
            text.contains("for a lock on the table")
                && text.contains(&format!("pid {other_pid}"))
                && text.contains("LOCK TABLE t"),
            "{text}"
        );
        assert!(!dropped_invalid);
        assert_eq!(cleanup_error, &None);
    }
    let wait = &report.outcomes[0].waits[0];
    assert_eq!(wait.kind, WaitKind::Lock, "{wait:?}");
    assert!(wait.gave_up && wait.waited_ms >= 150.0, "{wait:?}");
    assert_eq!(wait.blockers[0].pid, other_pid, "{wait:?}");
    assert_eq!(report.outcomes[1].status, ChangeStatus::Skipped);
    assert_eq!(report.failure().unwrap().change.name(), "t_a_idx");

    let indexes: Vec<String> = client
        .query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 't'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(indexes, ["t_pkey"]);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 5000);
}

const SMALL_AND_OTHER: &str = "
CREATE TABLE t (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL);
INSERT INTO t SELECT g, g % 100, g % 7 FROM generate_series(1, 5000) g;
CREATE TABLE unrelated (id int PRIMARY KEY);
";

/// A short lock timeout and a short wait for older transactions.
fn short_waits() -> ApplyOptions {
    ApplyOptions {
        lock_timeout: Duration::from_millis(300),
        statement_timeout: Some(Duration::from_secs(30)),
        build_wait: Duration::from_millis(1500),
    }
}

async fn backend_pid(client: &tokio_postgres::Client) -> i32 {
    client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_build_waiting_on_an_old_snapshot_names_the_blocker_gives_up_and_drops_its_invalid_index()
{
    let (url, client) = database("apply_snapshot", SMALL_AND_OTHER).await;
    // CREATE INDEX CONCURRENTLY's last phase waits for every transaction of the database with an
    // older snapshot; by then the (INVALID) index is already in the catalog.
    let other = connect(&url).await;
    let other_pid = backend_pid(&other).await;
    other
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM unrelated")
        .await
        .unwrap();
    let report = run(
        &url,
        &client,
        &[index(None, "t", "t_a_idx", "a")],
        &short_waits(),
    )
    .await;
    other.batch_execute("COMMIT").await.unwrap();

    {
        let (failure, dropped_invalid, cleanup_error) = failed(&report.outcomes[0]);
        // Not a lock on the table: the wait for older transactions, under its own bound.
        assert_eq!(failure.kind, FailureKind::SnapshotTimeout, "{failure}");
        let text = failure.to_string();
        assert!(
            text.contains("older transactions to end")
                && text.contains("--build-wait")
                && text.contains("waiting for old snapshots")
                && text.contains(&format!("pid {other_pid} (idle in transaction"))
                && text.contains("SELECT count(*) FROM unrelated"),
            "{text}"
        );
        assert!(!text.contains("holds a lock"), "{text}");
        assert_eq!(cleanup_error, &None);
        assert!(dropped_invalid, "the INVALID index was not dropped");
    }
    let wait = report.outcomes[0]
        .waits
        .iter()
        .find(|w| w.kind == WaitKind::Snapshot)
        .expect("a snapshot wait");
    assert!(wait.gave_up, "{wait:?}");
    assert!(
        wait.waited_ms >= 1200.0 && wait.waited_ms < 5000.0,
        "{wait:?}"
    );
    assert_eq!(wait.limit_ms, 1500.0);
    assert_eq!(wait.phase.as_deref(), Some("waiting for old snapshots"));
    let blocker = &wait.blockers[0];
    assert_eq!(blocker.pid, other_pid, "{wait:?}");
    assert!(blocker.transaction_age_ms.unwrap() >= 1000.0, "{blocker:?}");
    assert_eq!(index_validity(&client, "t_a_idx").await, None);
}

#[tokio::test]
async fn a_wait_for_older_transactions_longer_than_the_lock_timeout_but_within_the_build_wait_succeeds()
 {
    let (url, client) = database("apply_snapshot_ok", SMALL_AND_OTHER).await;
    let other = connect(&url).await;
    let other_pid = backend_pid(&other).await;
    other
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM unrelated")
        .await
        .unwrap();
    let ends = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        other.batch_execute("COMMIT").await.unwrap();
    });
    let options = ApplyOptions {
        lock_timeout: Duration::from_millis(200),
        statement_timeout: Some(Duration::from_secs(30)),
        build_wait: Duration::from_secs(30),
    };
    let watcher = connect(&url).await;
    let mut announced = Vec::new();
    let report = apply(
        &client,
        &watcher,
        &[index(None, "t", "t_a_idx", "a")],
        &options,
        &mut |event| {
            if let ApplyEvent::Waiting { wait, .. } = event {
                announced.push(wait.to_string());
            }
        },
    )
    .await
    .unwrap();
    ends.await.unwrap();
    // Said while it waited, long before the bound.
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert!(
        announced[0].contains("for older transactions to end")
            && announced[0].contains(&format!("blocked by pid {other_pid}")),
        "{announced:?}"
    );
    let outcome = &report.outcomes[0];
    assert_created(outcome, false);
    let wait = outcome
        .waits
        .iter()
        .find(|w| w.kind == WaitKind::Snapshot)
        .expect("the build waited for the older transaction");
    assert!(!wait.gave_up && wait.waited_ms >= 500.0, "{wait:?}");
    assert_eq!(wait.blockers[0].pid, other_pid, "{wait:?}");
    assert_eq!(index_validity(&client, "t_a_idx").await, Some(true));
}

#[tokio::test]
async fn an_invalid_index_that_cannot_be_dropped_yet_is_reported_and_replaced_by_the_next_run() {
    let (url, client) = database("apply_snapshot_t", SMALL_AND_OTHER).await;
    // A reader of the table itself also holds up DROP INDEX CONCURRENTLY.
    let other = connect(&url).await;
    other
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM t")
        .await
        .unwrap();
    let changes = [index(None, "t", "t_a_idx", "a")];
    let report = run(&url, &client, &changes, &short_waits()).await;
    let drop_sql = r#"DROP INDEX CONCURRENTLY IF EXISTS "public"."t_a_idx""#;
    {
        let (failure, dropped_invalid, cleanup_error) = failed(&report.outcomes[0]);
        assert_eq!(failure.kind, FailureKind::SnapshotTimeout, "{failure}");
        assert!(!dropped_invalid);
        let cleanup = cleanup_error.as_deref().unwrap();
        assert!(cleanup.contains(drop_sql), "{cleanup}");
        assert!(
            cleanup.contains("the next --apply that builds this index drops it first"),
            "{cleanup}"
        );
    }
    assert_eq!(report.outcomes[0].invalid_left.as_deref(), Some(drop_sql));
    assert_eq!(index_validity(&client, "t_a_idx").await, Some(false));

    other.batch_execute("COMMIT").await.unwrap();
    let again = run(&url, &client, &changes, &short_waits()).await;
    assert_created(&again.outcomes[0], true);
    assert_eq!(again.outcomes[0].name, "t_a_idx");
    assert_eq!(index_validity(&client, "t_a_idx").await, Some(true));
}

#[tokio::test]
async fn a_name_held_by_the_same_index_is_reported_as_already_there_not_created() {
    let (url, client) = database("apply_clash_same", SMALL).await;
    // Written differently (unquoted, lower-case type of spacing), indexed the same.
    client
        .batch_execute("CREATE INDEX t_a_idx ON public.t USING btree (a)")
        .await
        .unwrap();
    let report = run(
        &url,
        &client,
        &[index(Some("public"), "t", "t_a_idx", r#""a""#)],
        &options(2000),
    )
    .await;
    let outcome = &report.outcomes[0];
    assert_eq!(outcome.status, ChangeStatus::AlreadyExisted, "{outcome:?}");
    assert_eq!(outcome.name, "t_a_idx");
    assert!(report.is_success());
}

async fn index_definition(client: &tokio_postgres::Client, name: &str) -> Option<String> {
    client
        .query_opt(
            "SELECT pg_get_indexdef(c.oid) FROM pg_class c WHERE c.relname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

#[tokio::test]
async fn a_name_held_by_another_index_or_a_table_gets_a_free_name_and_says_so() {
    let (url, client) = database("apply_clash_other", SMALL).await;
    client
        .batch_execute(
            "CREATE INDEX t_a_idx ON t (b); \
             CREATE INDEX t_a_idx_1 ON t (a) WHERE a > 50; \
             CREATE TABLE t_b_idx (x int); \
             CREATE UNIQUE INDEX t_id_a_idx ON t (id, a)",
        )
        .await
        .unwrap();
    let changes = [
        index(None, "t", "t_a_idx", "a"),
        index(None, "t", "t_b_idx", "b"),
        // Same keys, but not unique: another definition.
        index(None, "t", "t_id_a_idx", "id, a"),
    ];
    let report = run(&url, &client, &changes, &options(2000)).await;
    assert!(report.is_success(), "{report:?}");
    let [a, b, id_a] = &report.outcomes[..] else {
        panic!("{report:?}")
    };

    assert_created(a, false);
    assert_eq!(a.name, "t_a_idx_2", "{a:?}");
    let note = a.note.as_deref().unwrap();
    assert!(
        note.contains(r#"an index with another definition is named "t_a_idx" (CREATE INDEX t_a_idx ON public.t USING btree (b))"#)
            && note.contains(r#"named "t_a_idx_1""#)
            && note.contains(r#"built as "t_a_idx_2""#),
        "{note}"
    );
    assert_eq!(
        index_definition(&client, "t_a_idx_2").await.as_deref(),
        Some("CREATE INDEX t_a_idx_2 ON public.t USING btree (a)")
    );
    // What held the names is untouched.
    assert_eq!(
        index_definition(&client, "t_a_idx").await.as_deref(),
        Some("CREATE INDEX t_a_idx ON public.t USING btree (b)")
    );

    assert_created(b, false);
    assert_eq!(b.name, "t_b_idx_1", "{b:?}");
    assert!(
        b.note
            .as_deref()
            .unwrap()
            .contains(r#"a table is named "t_b_idx""#),
        "{b:?}"
    );

    assert_created(id_a, false);
    assert_eq!(id_a.name, "t_id_a_idx_1", "{id_a:?}");
    assert_eq!(index_validity(&client, "t_id_a_idx_1").await, Some(true));

    // The next run finds them under the names they got.
    let again = run(&url, &client, &changes, &options(2000)).await;
    let names: Vec<(&str, ChangeStatus)> = again
        .outcomes
        .iter()
        .map(|o| (o.name.as_str(), o.status))
        .collect();
    assert_eq!(
        names,
        [
            ("t_a_idx_2", ChangeStatus::AlreadyExisted),
            ("t_b_idx_1", ChangeStatus::AlreadyExisted),
            ("t_id_a_idx_1", ChangeStatus::AlreadyExisted)
        ]
    );
}

#[tokio::test]
async fn a_long_name_held_elsewhere_gets_a_suffix_within_63_bytes() {
    let long = format!("t_{}", "é".repeat(40)); // 82 bytes: PostgreSQL keeps 63 (on a character).
    let (url, client) = database("apply_clash_long", SMALL).await;
    client
        .batch_execute(&format!("CREATE TABLE {} (x int)", quote_ident(&long)))
        .await
        .unwrap();
    let report = run(
        &url,
        &client,
        &[index(None, "t", &long, "a")],
        &options(2000),
    )
    .await;
    let outcome = &report.outcomes[0];
    assert_created(outcome, false);
    assert!(
        outcome.name.len() <= 63 && outcome.name.ends_with("_1"),
        "{outcome:?}"
    );
    assert_eq!(index_validity(&client, &outcome.name).await, Some(true));
}

const DUPLICATES: &str = "
CREATE TABLE d (id int PRIMARY KEY, code int NOT NULL, v int NOT NULL);
INSERT INTO d SELECT g, g % 1000, g FROM generate_series(1, 3000) g;
";

fn unique_code_index() -> Change {
    Change::Index {
        schema: None,
        table: "d".into(),
        name: "d_code_key".into(),
        ddl: r#"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "d_code_key" ON "d" ("code")"#
            .into(),
    }
}

#[tokio::test]
async fn a_build_failing_midway_has_its_invalid_index_dropped_and_stops_the_run() {
    let (url, client) = database("apply_invalid", DUPLICATES).await;
    let changes = [unique_code_index(), index(None, "d", "d_v_idx", "v")];
    let report = run(&url, &client, &changes, &options(2000)).await;
    {
        let (failure, dropped_invalid, cleanup_error) = failed(&report.outcomes[0]);
        assert_eq!(failure.kind, FailureKind::UniqueViolation, "{failure}");
        assert!(dropped_invalid, "the INVALID index was not dropped");
        assert_eq!(cleanup_error, &None);
    }
    assert_eq!(report.outcomes[1].status, ChangeStatus::Skipped);
    assert_eq!(index_validity(&client, "d_code_key").await, None);
    assert_eq!(index_validity(&client, "d_v_idx").await, None);
}

#[tokio::test]
async fn an_invalid_index_left_by_a_crashed_run_is_dropped_and_rebuilt() {
    let (url, client) = database("apply_rebuild", DUPLICATES).await;
    let Change::Index { ddl, .. } = unique_code_index() else {
        unreachable!()
    };
    let crashed = client.batch_execute(&ddl).await.unwrap_err();
    assert_eq!(crashed.code().unwrap().code(), "23505");
    assert_eq!(index_validity(&client, "d_code_key").await, Some(false));

    client
        .batch_execute("DELETE FROM d WHERE id > 1000")
        .await
        .unwrap();
    let report = run(&url, &client, &[unique_code_index()], &options(2000)).await;
    assert_created(&report.outcomes[0], true);
    assert_eq!(index_validity(&client, "d_code_key").await, Some(true));
}

#[tokio::test]
async fn the_advisory_lock_held_elsewhere_is_a_clear_error_and_nothing_is_applied() {
    let (url, client) = database("apply_advisory", SMALL).await;
    let other = connect(&url).await;
    other
        .execute("SELECT pg_advisory_lock($1)", &[&APPLY_LOCK_KEY])
        .await
        .unwrap();
    let other_pid: i32 = other
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let changes = [index(None, "t", "t_a_idx", "a")];
    let mut events = 0;
    let watcher = connect(&url).await;
    let result = apply(&client, &watcher, &changes, &options(2000), &mut |_| {
        events += 1
    })
    .await;
    match &result {
        Err(ApplyError::AlreadyRunning { holder_pid }) => {
            assert_eq!(*holder_pid, Some(other_pid))
        }
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("another pgdiag apply is running")
            && message.contains("nothing was applied"),
        "{message}"
    );
    assert_eq!(events, 0);
    assert_eq!(index_validity(&client, "t_a_idx").await, None);

    other
        .execute("SELECT pg_advisory_unlock($1)", &[&APPLY_LOCK_KEY])
        .await
        .unwrap();
    let report = run(&url, &client, &changes, &options(2000)).await;
    assert!(report.is_success(), "{report:?}");
}

/// Big enough, with a deliberately small `maintenance_work_mem`, that the build spans many of the
/// writer's inserts.
const BIG: &str = "
CREATE TABLE big (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k int NOT NULL, note text NOT NULL);
INSERT INTO big (k, note) SELECT g % 200000, 'seed' FROM generate_series(1, 1000000) g;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_during_a_concurrent_build_are_all_there_and_in_the_index() {
    let (url, client) = database("apply_writes", BIG).await;
    client
        .batch_execute("SET maintenance_work_mem = '1MB'; SET max_parallel_maintenance_workers = 0")
        .await
        .unwrap();

    let writer_client = connect(&url).await;
    let inserted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let inserted = Arc::clone(&inserted);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            // Writer rows carry negative keys, so the index can be asked for exactly them.
            while !stop.load(Ordering::SeqCst) {
                let k = -(inserted.load(Ordering::SeqCst) as i32) - 1;
                writer_client
                    .execute("INSERT INTO big (k, note) VALUES ($1, 'writer')", &[&k])
                    .await?;
                inserted.fetch_add(1, Ordering::SeqCst);
            }
            Ok::<_, tokio_postgres::Error>(())
        })
    };
    while inserted.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut at_start = None;
    let mut at_finish = None;
    let watcher = connect(&url).await;
    let report = apply(
        &client,
        &watcher,
        &[index(None, "big", "big_k_idx", "k")],
        &options(5000),
        &mut |event| match event {
            ApplyEvent::Started { .. } => at_start = Some(inserted.load(Ordering::SeqCst)),
            ApplyEvent::Finished { .. } => at_finish = Some(inserted.load(Ordering::SeqCst)),
            ApplyEvent::Waiting { .. } => {}
        },
    )
    .await
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap().expect("the writer never failed");
    let written = inserted.load(Ordering::SeqCst) as i64;

    assert_created(&report.outcomes[0], false);
    assert_eq!(index_validity(&client, "big_k_idx").await, Some(true));
    let (at_start, at_finish) = (at_start.unwrap(), at_finish.unwrap());
    assert!(
        at_finish > at_start,
        "the writer made no progress during the build ({at_start} rows before, {at_finish} after)"
    );

    let total: i64 = client
        .query_one("SELECT count(*) FROM big", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 1_000_000 + written);
    client
        .batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();
    let query = "SELECT count(*) FROM big WHERE k < 0";
    let plan = plan_text(&client, query).await;
    assert!(plan.contains("big_k_idx"), "{plan}");
    let through_index: i64 = client.query_one(query, &[]).await.unwrap().get(0);
    assert_eq!(
        through_index, written,
        "rows written during the build are missing from the index"
    );
}

const REVIEWS: &str = "
CREATE TABLE reviews (id int PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
INSERT INTO reviews SELECT g, 1 + g % 300, 1 + g % 5 FROM generate_series(1, 6000) g;
";

fn review_stats(extra: &str) -> Change {
    Change::Matview {
        schema: Some("public".into()),
        name: "product_review_stats".into(),
        statements: vec![
            format!(
                "CREATE MATERIALIZED VIEW \"public\".\"product_review_stats\" AS \
                 SELECT product_id, count(*) AS review_count, avg(rating) AS avg_rating{extra} \
                 FROM reviews GROUP BY product_id"
            ),
            "CREATE UNIQUE INDEX \"product_review_stats_product_id_key\" \
             ON \"public\".\"product_review_stats\" (\"product_id\")"
                .into(),
            "ANALYZE \"public\".\"product_review_stats\"".into(),
        ],
    }
}

#[tokio::test]
async fn a_matview_is_created_with_its_unique_index_or_not_at_all() {
    let (url, client) = database("apply_matview", REVIEWS).await;

    let broken = run(
        &url,
        &client,
        &[review_stats(", max(no_such_column) AS x")],
        &options(2000),
    )
    .await;
    {
        let (failure, _, _) = failed(&broken.outcomes[0]);
        assert_eq!(failure.sqlstate.as_deref(), Some("42703"), "{failure}")
    }
    let leftover: Option<String> = client
        .query_one("SELECT to_regclass('product_review_stats')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftover, None);

    // A failure in a later statement rolls back the view the first one created.
    let mut late_failure = review_stats("");
    if let Change::Matview { statements, .. } = &mut late_failure {
        statements.push("CREATE INDEX nope ON no_such_table (x)".into());
    }
    let broken = run(&url, &client, &[late_failure], &options(2000)).await;
    assert!(!broken.is_success());
    let leftover: Option<String> = client
        .query_one("SELECT to_regclass('product_review_stats')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leftover, None);

    let report = run(&url, &client, &[review_stats("")], &options(2000)).await;
    assert_created(&report.outcomes[0], false);
    assert!(report.outcomes[0].size_bytes.unwrap() > 0);
    let unique: bool = client
        .query_one(
            "SELECT x.indisunique FROM pg_index x WHERE x.indrelid = 'product_review_stats'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(unique);
    client
        .batch_execute("REFRESH MATERIALIZED VIEW CONCURRENTLY product_review_stats")
        .await
        .expect("the unique index allows a concurrent refresh");
    let rows: i64 = client
        .query_one("SELECT count(*) FROM product_review_stats", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 300);

    let again = run(&url, &client, &[review_stats("")], &options(2000)).await;
    assert_eq!(again.outcomes[0].status, ChangeStatus::AlreadyExisted);

    // Another view under the name is not the suggested one: never reported as there.
    client
        .batch_execute(
            "DROP MATERIALIZED VIEW product_review_stats; \
             CREATE MATERIALIZED VIEW product_review_stats AS SELECT 1 AS product_id",
        )
        .await
        .unwrap();
    let other = run(&url, &client, &[review_stats("")], &options(2000)).await;
    let (failure, _, _) = failed(&other.outcomes[0]);
    assert_eq!(failure.kind, FailureKind::NameTaken, "{failure}");
    assert!(failure.message.contains("another query"), "{failure}");
}

const ORDERS: &str = "
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount numeric NOT NULL);
INSERT INTO orders SELECT g, g % 5000, g FROM generate_series(1, 200000) g;
ALTER TABLE orders SET (parallel_workers = 0);
CREATE TABLE unrelated (id int PRIMARY KEY);
";
const ORDERS_QUERY: &str = "SELECT count(*) FROM orders WHERE customer_id = 7";

/// `pgdiag ARGS...` off the runtime's thread (the test's own sessions stay served).
async fn pgdiag_async(args: Vec<String>) -> crate::support::Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::support::pgdiag(&args)
    })
    .await
    .unwrap()
}

fn suggest_apply(url: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "suggest", "--dsn", url, "--format", "json", "--apply", "--yes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["-c".to_owned(), ORDERS_QUERY.to_owned()]);
    args
}

#[tokio::test]
async fn suggest_apply_builds_under_a_free_name_when_a_table_holds_the_suggested_one() {
    let (url, client) = database("apply_cli_clash", ORDERS).await;
    client
        .batch_execute("CREATE TABLE orders_customer_id_idx (x int)")
        .await
        .unwrap();
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    let run = pgdiag_async(suggest_apply(&url, &[])).await;
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let change = &report["apply"]["changes"][0];
    assert_eq!(change["status"], "created", "{change}");
    assert_eq!(change["name"], "orders_customer_id_idx_1", "{change}");
    assert_eq!(
        change["suggested_name"], "orders_customer_id_idx",
        "{change}"
    );
    assert!(
        change["message"]
            .as_str()
            .unwrap()
            .contains(r#"a table is named "orders_customer_id_idx""#),
        "{change}"
    );
    assert_eq!(change["waits"], serde_json::json!([]), "{change}");
    let after = report["apply"]["after"][0]["after"]["plan"]
        .as_str()
        .unwrap();
    assert!(after.contains("orders_customer_id_idx_1"), "{after}");
    assert_eq!(
        index_validity(&client, "orders_customer_id_idx_1").await,
        Some(true)
    );
}

#[tokio::test]
async fn suggest_apply_blocked_by_an_old_transaction_exits_2_naming_it_and_leaves_nothing() {
    let (url, client) = database("apply_cli_wait", ORDERS).await;
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    let other = connect(&url).await;
    let other_pid = backend_pid(&other).await;
    other
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM unrelated")
        .await
        .unwrap();
    let run = pgdiag_async(suggest_apply(
        &url,
        &["--lock-timeout", "200ms", "--build-wait", "2s"],
    ))
    .await;
    other.batch_execute("COMMIT").await.unwrap();
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr.contains("is waiting: waited")
            && run.stderr.contains(&format!("blocked by pid {other_pid}")),
        "{}",
        run.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let change = &report["apply"]["changes"][0];
    assert_eq!(change["status"], "failed", "{change}");
    let message = change["message"].as_str().unwrap();
    assert!(
        message.contains("for older transactions to end (--build-wait 2.0 s")
            && message.contains(&format!("pid {other_pid} (idle in transaction")),
        "{message}"
    );
    let wait = &change["waits"][0];
    assert_eq!(wait["kind"], "snapshot", "{change}");
    assert_eq!(wait["gave_up"], true, "{change}");
    assert_eq!(wait["blockers"][0]["pid"], other_pid, "{change}");
    assert_eq!(change["dropped_invalid"], true, "{change}");
    assert_eq!(change["invalid_left"], serde_json::Value::Null, "{change}");
    assert_eq!(
        index_validity(&client, "orders_customer_id_idx").await,
        None
    );
}
