//! The throwaway servers: they start for real (failing, never skipping, when they cannot), enforce
//! the authentication the other tests rely on, and leave nothing behind on stop, drop, or when
//! their reaper fires.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

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
    // Loaded and tracking: a statement run twice here is counted twice, normalized.
    for _ in 0..2 {
        client
            .batch_execute("SELECT 42 AS pgss_probe")
            .await
            .unwrap();
    }
    let (query, calls): (String, i64) = client
        .query_one(
            "SELECT query, calls FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query LIKE '%pgss_probe%' AND query NOT LIKE '%pg_stat_statements%'",
            &[],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .unwrap();
    assert_eq!(query, "SELECT $1 AS pgss_probe");
    assert_eq!(calls, 2);
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
        .preload("auto_explain")
        .start()
        .await
        .unwrap();
    eprintln!("separate PostgreSQL started in {:?}", started.elapsed());
    let client = postgres.connect("postgres").await.unwrap();
    let work_mem: String = client.query_one("SHOW work_mem", &[]).await.unwrap().get(0);
    assert_eq!(work_mem, "8MB");
    let preload: String = client
        .query_one("SHOW shared_preload_libraries", &[])
        .await
        .unwrap()
        .get(0);
    let libs: Vec<&str> = preload.split(',').map(str::trim).collect();
    assert_eq!(libs, ["pg_stat_statements", "auto_explain"]);
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

#[tokio::test]
async fn tls_cluster_accepts_verified_tls_connections() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let files = tempfile::tempdir().unwrap();
    let cert_path = files.path().join("cert.pem");
    let key_path = files.path().join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();

    let postgres = EmbeddedPostgres::builder()
        .tls(&cert_path, &key_path)
        .start()
        .await
        .unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let tls_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut config = postgres.config("postgres");
    config.ssl_mode(tokio_postgres::config::SslMode::Require);
    let (client, connection) = config
        .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls_config))
        .await
        .unwrap();
    tokio::spawn(connection);
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted);
    drop(client);

    // Plain connections still work: `host` lines in pg_hba.conf match both.
    postgres.connect("postgres").await.unwrap();
    postgres.stop().await.unwrap();
}

/// Set only by `servers_are_cleaned_up_when_the_process_is_killed` for its child process.
const KILL_HELPER_ENV: &str = "PGDIAG_EMBEDDED_KILL_HELPER";
const KILL_HELPER_TEST: &str = "embedded::kill_helper_starts_servers_and_waits";

/// Run in a child copy of this test binary: start one server of each kind, report them on
/// stdout, then wait to be killed. Does nothing when run any other way.
#[tokio::test]
#[ignore = "helper process for servers_are_cleaned_up_when_the_process_is_killed"]
async fn kill_helper_starts_servers_and_waits() {
    if std::env::var_os(KILL_HELPER_ENV).is_none() {
        return;
    }
    let postgres = EmbeddedPostgres::builder().start().await.unwrap();
    let redis = EmbeddedRedis::builder().start().unwrap();
    println!(
        "POSTGRES\t{}\t{}",
        postgres.postmaster_pid().unwrap(),
        postgres.root_dir().display()
    );
    println!(
        "REDIS\t{}\t{}",
        redis.pid().unwrap(),
        redis.root_dir().display()
    );
    println!("READY");
    tokio::time::sleep(Duration::from_secs(120)).await;
}

/// Starts the helper, kills it as `how` says, and checks both servers and their dirs are gone:
/// no `Drop` runs in the helper, so only the reapers can have done it.
fn kill_helper_and_check_cleanup(how: &str) {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            KILL_HELPER_TEST,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL_HELPER_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own group, standing in for a terminal's foreground job.
        .process_group(0)
        .spawn()
        .unwrap();
    let mut servers: Vec<(i32, PathBuf)> = Vec::new();
    for line in BufReader::new(helper.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "READY" {
            break;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if let [_, pid, dir] = fields[..] {
            servers.push((pid.parse().unwrap(), PathBuf::from(dir)));
        }
    }
    assert_eq!(servers.len(), 2, "the helper did not report both servers");
    for (pid, dir) in &servers {
        assert!(process_alive(*pid) && dir.exists());
    }

    let helper_pid = Pid::from_raw(helper.id() as i32);
    match how {
        "SIGKILL" => kill(helper_pid, Signal::SIGKILL).unwrap(),
        // What a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
        "Ctrl-C" => killpg(helper_pid, Signal::SIGINT).unwrap(),
        other => panic!("unknown way to kill: {other}"),
    }
    let status = helper.wait().unwrap();
    assert!(
        !status.success(),
        "helper should have been killed, got {status}"
    );
    let killed = Instant::now();
    for (pid, dir) in &servers {
        assert_gone(*pid, dir);
    }
    eprintln!("{how}: reapers cleaned up within {:?}", killed.elapsed());
}

#[test]
fn servers_are_cleaned_up_when_the_process_is_killed() {
    kill_helper_and_check_cleanup("SIGKILL");
}

#[test]
fn servers_are_cleaned_up_after_ctrl_c() {
    kill_helper_and_check_cleanup("Ctrl-C");
}

#[tokio::test]
async fn failed_start_reports_the_server_log() {
    let err = EmbeddedPostgres::builder()
        .setting("max_connections", "not-a-number")
        .start()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, pgdiag::embedded::Error::CommandFailed { .. }),
        "{message}"
    );
    assert!(message.contains("server log tail"), "{message}");
    assert!(message.contains("max_connections"), "{message}");
    eprintln!("start failure reads: {message}");
}
