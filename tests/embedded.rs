//! The throwaway servers: they start for real (failing, never skipping, when they cannot), enforce
//! the authentication the other tests rely on, and leave nothing behind on stop, drop, or when
//! their reaper fires.

use std::path::Path;
use std::time::{Duration, Instant};

use pgdiag::embedded::{EmbeddedPostgres, EmbeddedRedis, process_alive};

fn shared_postgres() -> &'static EmbeddedPostgres {
    let started = Instant::now();
    let postgres = EmbeddedPostgres::shared().expect("the shared PostgreSQL must start");
    eprintln!(
        "shared PostgreSQL {} on port {} ready after {:?} (includes start-up only for the first caller)",
        postgres.server_version(),
        postgres.port(),
        started.elapsed()
    );
    postgres
}

fn assert_gone(pid: i32, dir: &Path) {
    let gone = wait_until(Duration::from_secs(10), || {
        !process_alive(pid) && !dir.exists()
    });
    assert!(
        gone,
        "pid {pid} alive: {}, {} exists: {}",
        process_alive(pid),
        dir.display(),
        dir.exists()
    );
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[tokio::test]
async fn shared_cluster_runs_queries_with_pg_stat_statements_preloaded() {
    let postgres = shared_postgres();
    let client = postgres.connect("postgres").await.unwrap();
    let version: String = client
        .query_one("SELECT version()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(version.starts_with("PostgreSQL"), "{version}");
    assert!(postgres.server_version_num() >= 120000);

    let preload: String = client
        .query_one("SHOW shared_preload_libraries", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        preload
            .split(',')
            .any(|lib| lib.trim() == "pg_stat_statements"),
        "{preload}"
    );

    let db = postgres.fresh_database("pgss").await.unwrap();
    let client = postgres.connect(&db).await.unwrap();
    client
        .batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    let calls: i64 = client
        .query_one("SELECT count(*) FROM pg_stat_statements", &[])
        .await
        .unwrap()
        .get(0);
    assert!(calls >= 0);
}

#[tokio::test]
async fn fresh_databases_are_distinct_and_usable() {
    let postgres = shared_postgres();
    let first = postgres.fresh_database("Fresh DB").await.unwrap();
    let second = postgres.fresh_database("Fresh DB").await.unwrap();
    assert_ne!(first, second);
    for db in [&first, &second] {
        let client = postgres.connect(db).await.unwrap();
        let current: String = client
            .query_one("SELECT current_database()", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(&current, db);
    }
    // The URL form reaches the same database.
    let config: tokio_postgres::Config = postgres.url(&first).parse().unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let current: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(current, first);
}

#[tokio::test]
async fn superuser_needs_no_password_but_other_roles_do() {
    let postgres = shared_postgres();
    let superuser = postgres.connect("postgres").await.unwrap();
    let is_super: bool = superuser
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(is_super);

    let role = format!("pwtest_{}", std::process::id());
    superuser
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD 'right-password'"
        ))
        .await
        .unwrap();

    let mut config = postgres.config("postgres");
    config.user(&role).password("wrong-password");
    let err = config
        .connect(tokio_postgres::NoTls)
        .await
        .err()
        .expect("wrong password must be refused");
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "{err:?}"
    );

    config.password("right-password");
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let user: String = client
        .query_one("SELECT current_user", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, role);

    // Without any password the role is refused too (not trusted like the superuser).
    let mut no_password = postgres.config("postgres");
    no_password.user(&role);
    assert!(no_password.connect(tokio_postgres::NoTls).await.is_err());
}

#[tokio::test]
async fn separate_cluster_is_gone_after_stop_and_after_drop() {
    let started = Instant::now();
    let postgres = EmbeddedPostgres::builder()
        .setting("work_mem", "8MB")
        .start()
        .await
        .unwrap();
    eprintln!("separate PostgreSQL started in {:?}", started.elapsed());
    let client = postgres.connect("postgres").await.unwrap();
    let work_mem: String = client.query_one("SHOW work_mem", &[]).await.unwrap().get(0);
    assert_eq!(work_mem, "8MB");
    drop(client);
    assert!(postgres.socket_dir().starts_with(postgres.root_dir()));
    assert!(postgres.log_path().exists());

    let pid = postgres
        .postmaster_pid()
        .expect("running cluster has a postmaster.pid");
    let root = postgres.root_dir().to_path_buf();
    let stopping = Instant::now();
    postgres.stop().await.unwrap();
    eprintln!("stop took {:?}", stopping.elapsed());
    assert!(
        !process_alive(pid),
        "postmaster {pid} still running after stop"
    );
    assert!(!root.exists(), "{} still exists after stop", root.display());

    let postgres = EmbeddedPostgres::builder().start().await.unwrap();
    let pid = postgres.postmaster_pid().unwrap();
    let root = postgres.root_dir().to_path_buf();
    drop(postgres);
    assert!(
        !process_alive(pid),
        "postmaster {pid} still running after drop"
    );
    assert!(!root.exists(), "{} still exists after drop", root.display());
}

#[tokio::test]
async fn reaper_removes_the_cluster_when_its_pipe_closes() {
    let mut postgres = EmbeddedPostgres::builder().start().await.unwrap();
    let pid = postgres.postmaster_pid().unwrap();
    let root = postgres.root_dir().to_path_buf();
    assert!(process_alive(pid));

    let triggered = Instant::now();
    assert!(
        postgres.close_reaper_pipe_for_test(Duration::from_secs(15)),
        "reaper did not finish"
    );
    eprintln!("postgres reaper finished in {:?}", triggered.elapsed());
    assert_gone(pid, &root);
}

#[tokio::test]
async fn invalid_setting_name_is_rejected_before_anything_starts() {
    let err = EmbeddedPostgres::builder()
        .setting("work_mem = 1; x", "1")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(err, pgdiag::embedded::Error::InvalidSetting { .. }),
        "{err}"
    );
}

#[test]
fn redis_starts_answers_ping_and_is_gone_after_stop() {
    let started = Instant::now();
    let redis = EmbeddedRedis::builder().start().unwrap();
    eprintln!("redis started in {:?}", started.elapsed());
    redis.ping().unwrap();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));

    let pid = redis.pid().unwrap() as i32;
    let root = redis.root_dir().to_path_buf();
    redis.stop().unwrap();
    assert!(!process_alive(pid));
    assert!(!root.exists());

    let redis = EmbeddedRedis::builder().start().unwrap();
    let pid = redis.pid().unwrap() as i32;
    let root = redis.root_dir().to_path_buf();
    drop(redis);
    assert!(!process_alive(pid));
    assert!(!root.exists());
}

#[test]
fn two_redis_instances_get_different_ports() {
    let shared = EmbeddedRedis::shared().expect("the shared Redis must start");
    let own = EmbeddedRedis::builder().start().unwrap();
    assert_ne!(shared.port(), own.port());
    shared.ping().unwrap();
    own.ping().unwrap();
}

#[test]
fn redis_reaper_kills_the_server_when_its_pipe_closes() {
    let mut redis = EmbeddedRedis::builder().start().unwrap();
    let pid = redis.pid().unwrap() as i32;
    let root = redis.root_dir().to_path_buf();
    assert!(redis.close_reaper_pipe_for_test(Duration::from_secs(15)));
    assert_gone(pid, &root);
}
