//! Safety against hostile and unlucky runs: no password in any output (every error path, every
//! written file), stop signals that cancel the server-side statement, and statements whose
//! effects would survive the rollback refused unless asked for.

use std::path::Path;
use std::time::{Duration, Instant};

use pgdiag::embedded::EmbeddedRedis;
use pgdiag::report::ExplainReport;

use crate::support::{Run, database, pg, pgdiag_command, run_with};

/// Distinctive enough that finding it anywhere can only be a leak; the `@` makes the URL form
/// percent-encoded, so both spellings are looked for (the prefix covers them).
const SECRET: &str = "Pw4Safety@x9Q";
const SECRET_URL: &str = "Pw4Safety%40x9Q";
const NEEDLE: &str = "Pw4Safety";

/// A superuser (so every command can do its work) that must give `SECRET`.
async fn secret_role() {
    let (_url, client) = database("secret_role", "").await;
    client
        .batch_execute(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'safety_user') THEN \
             CREATE ROLE safety_user LOGIN SUPERUSER PASSWORD '{SECRET}'; END IF; END $$"
        ))
        .await
        .unwrap();
}

/// Run pgdiag with `args` and extra environment, in `dir` (so relative files land there).
fn run_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = pgdiag_command();
    cmd.current_dir(dir).envs(env.iter().copied()).args(args);
    let run = run_with(cmd, None);
    run.assert_no_panic();
    run
}

/// Every file below `dir`, with its text.
fn written_files(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((
                    path.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    files
}

#[tokio::test]
async fn no_password_on_any_path_in_output_errors_or_written_files() {
    secret_role().await;
    let (url, _client) = database(
        "secrets",
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 2000) g; ANALYZE t;",
    )
    .await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let port = pg().port();
    let good = format!("postgresql://safety_user:{SECRET_URL}@127.0.0.1:{port}/{db}");
    let good_kv =
        format!("host=127.0.0.1 port={port} user=safety_user dbname={db} password='{SECRET}'");
    let wrong = format!("postgresql://safety_user:{NEEDLE}-wrong@127.0.0.1:{port}/{db}");
    let redis = match EmbeddedRedis::shared() {
        Ok(redis) => redis.url(),
        Err(e) => panic!("embedded Redis could not start: {e}"),
    };

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("queries")).unwrap();
    std::fs::write(d.join("queries/q.sql"), "SELECT v FROM t WHERE v = 'v7';\n").unwrap();
    std::fs::write(d.join("bench.sql"), "SELECT v FROM t WHERE id = $1::int").unwrap();

    let bad_dsns = [
        format!(
            "postgresql://safety_user:{SECRET_URL}@nonexistent.invalid:5432/x?connect_timeout=3"
        ),
        format!("postgresql://safety_user:{SECRET_URL}@127.0.0.1:1/x?connect_timeout=3"),
        wrong.clone(),
        format!("postgresql://u:{SECRET_URL}@127.0.0.1:notaport/x"),
        format!("postgresql://u:{SECRET_URL}@[::1/x"),
        format!("postgresql://u:{SECRET_URL}@h/x?sslmode=sometimes"),
        format!("host=h password={SECRET} bogus_option=1"),
        format!("host=h password='{SECRET}"),
        format!("host=h password={SECRET} port=notaport"),
        format!(
            "host=127.0.0.1 port=1 password={SECRET} sslmode=verify-full sslrootcert=/nonexistent"
        ),
    ];
    let bad_redis = [
        format!("redis://:{SECRET_URL}@127.0.0.1:1"),
        format!("redis://:{SECRET}@h1:6379,redis://:{SECRET}@h2:6380"),
        format!("redis://:{SECRET}@h1:notaport"),
        format!("rediss://u:{SECRET}@[bad"),
        format!("redis+cluster://:{SECRET}@127.0.0.1:1,127.0.0.1:2"),
        format!("redis://:{SECRET}@127.0.0.1:1,redis://:{SECRET}@[x"),
    ];

    let mut runs: Vec<(String, Run)> = Vec::new();
    let expect_failure = |label: String, run: Run, runs: &mut Vec<(String, Run)>| {
        assert_eq!(run.code, 2, "{label}: {}", run.all_output());
        runs.push((label, run));
    };
    for dsn in &bad_dsns {
        for command in [
            vec!["explain", "--format", "json", "-c", "SELECT 1"],
            vec![
                "suggest",
                "--format",
                "json",
                "--output",
                "suggest.sql",
                "-c",
                "SELECT 1",
            ],
            vec!["baseline", "--out", "baseline.json", "queries"],
            vec![
                "check",
                "--baseline",
                "baseline.json",
                "--format",
                "json",
                "queries",
            ],
        ] {
            let mut args = command.clone();
            args.extend(["--dsn", dsn.as_str()]);
            let run = run_in(d, &[], &args);
            expect_failure(format!("{command:?} --dsn {dsn}"), run, &mut runs);
        }
        // The same from DATABASE_URL.
        let run = run_in(d, &[("DATABASE_URL", dsn)], &["explain", "-c", "SELECT 1"]);
        expect_failure(format!("DATABASE_URL={dsn}"), run, &mut runs);
    }
    // PGPASSWORD with a server that is not there, and with a wrong user.
    for (host, port) in [("127.0.0.1", "1"), ("127.0.0.1", &*port.to_string())] {
        let run = run_in(
            d,
            &[
                ("PGPASSWORD", SECRET),
                ("PGHOST", host),
                ("PGPORT", port),
                ("PGUSER", "nobody_here"),
            ],
            &["explain", "-c", "SELECT 1"],
        );
        expect_failure(format!("PGPASSWORD {host}:{port}"), run, &mut runs);
    }
    // The same password from a pgpass file (kept outside the scanned directory: it holds it).
    let pgpass_dir = tempfile::tempdir().unwrap();
    let pgpass = pgpass_dir.path().join("pgpass");
    std::fs::write(&pgpass, format!("*:*:*:*:{}\n", SECRET.replace(':', "\\:"))).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let pgpass = pgpass.to_str().unwrap();
    for (user, port) in [
        ("safety_user", "1".to_string()),
        ("nobody_here", port.to_string()),
    ] {
        let run = run_in(
            d,
            &[
                ("PGPASSFILE", pgpass),
                ("PGHOST", "127.0.0.1"),
                ("PGPORT", &port),
                ("PGUSER", user),
            ],
            &["explain", "-c", "SELECT 1"],
        );
        expect_failure(format!("PGPASSFILE {user}:{port}"), run, &mut runs);
    }
    let run = run_in(
        d,
        &[
            ("PGPASSFILE", pgpass),
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", &port.to_string()),
            ("PGUSER", "safety_user"),
            ("PGDATABASE", &db),
        ],
        &[
            "explain",
            "--format",
            "json",
            "-c",
            "SELECT * FROM t WHERE id < 3",
        ],
    );
    assert_eq!(
        run.code,
        0,
        "the pgpass password works: {}",
        run.all_output()
    );
    runs.push(("PGPASSFILE ok".into(), run));
    // Redis URLs that do not parse, do not answer, from the flag and from REDIS_URL; the
    // PostgreSQL DSN carries the password too.
    for redis_url in &bad_redis {
        let bench = [
            "bench",
            "bench.sql",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--keys",
            "10",
            "--format",
            "json",
            "--metrics-out",
            "metrics.prom",
            "--dsn",
            &good,
        ];
        let mut args = bench.to_vec();
        args.extend(["--redis-url", redis_url.as_str()]);
        let run = run_in(d, &[], &args);
        expect_failure(format!("bench --redis-url {redis_url}"), run, &mut runs);
        let run = run_in(d, &[("REDIS_URL", redis_url)], &bench);
        expect_failure(format!("bench REDIS_URL={redis_url}"), run, &mut runs);
        let run = run_in(
            d,
            &[],
            &[
                "demo",
                "--format",
                "json",
                "--dsn",
                &wrong,
                "--redis-url",
                redis_url,
            ],
        );
        expect_failure(format!("demo --redis-url {redis_url}"), run, &mut runs);
    }

    // Runs that succeed with the password in the DSN, writing their files.
    let mut ok = |args: &[&str], env: &[(&str, &str)]| {
        let run = run_in(d, env, args);
        assert!(
            run.code == 0 || run.code == 1,
            "{args:?}: {}",
            run.all_output()
        );
        runs.push((format!("{args:?}"), run));
    };
    ok(
        &[
            "explain",
            "--format",
            "json",
            "--dsn",
            &good,
            "-c",
            "SELECT * FROM t WHERE v = 'x'",
        ],
        &[],
    );
    ok(
        &[
            "explain",
            "--dsn",
            &good_kv,
            "-c",
            "SELECT * FROM t WHERE v = 'x'",
        ],
        &[],
    );
    ok(&["explain", "-c", "SELECT 1"], &[("DATABASE_URL", &good)]);
    ok(
        &[
            "baseline",
            "--analyze",
            "--out",
            "baseline.json",
            "--dsn",
            &good,
            "queries",
        ],
        &[],
    );
    ok(
        &[
            "check",
            "--baseline",
            "baseline.json",
            "--format",
            "json",
            "--dsn",
            &good,
            "queries",
        ],
        &[],
    );
    ok(
        &[
            "check",
            "--baseline",
            "baseline.json",
            "--format",
            "junit",
            "--dsn",
            &good_kv,
            "queries",
        ],
        &[],
    );
    ok(
        &[
            "check",
            "--baseline",
            "updated.json",
            "--update",
            "--dsn",
            &good,
            "queries",
        ],
        &[],
    );
    ok(
        &[
            "suggest",
            "--format",
            "json",
            "--output",
            "suggest.sql",
            "--dsn",
            &good,
            "queries/q.sql",
        ],
        &[],
    );
    ok(
        &[
            "bench",
            "bench.sql",
            "--duration",
            "300ms",
            "--warmup",
            "0s",
            "--keys",
            "10",
            "--clients",
            "2",
            "--format",
            "json",
            "--metrics-out",
            "metrics.prom",
            "--dsn",
            &good,
            "--redis-url",
            &redis,
        ],
        &[],
    );
    // A server error on a connection made with the password.
    let run = run_in(d, &[], &["explain", "--dsn", &good, "-c", "SELECT 1/0"]);
    expect_failure("division by zero".into(), run, &mut runs);

    for (label, run) in &runs {
        assert!(
            !run.stdout.contains(NEEDLE),
            "{label}: stdout:\n{}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(NEEDLE),
            "{label}: stderr:\n{}",
            run.stderr
        );
    }
    let files = written_files(d);
    assert!(files.iter().any(|(p, _)| p.ends_with("baseline.json")));
    assert!(files.iter().any(|(p, _)| p.ends_with("updated.json")));
    assert!(files.iter().any(|(p, _)| p.ends_with("metrics.prom")));
    for (path, text) in files {
        assert!(!text.contains(NEEDLE), "{path}:\n{text}");
    }
}

/// pgdiag keeps a stop signal ignored when it starts with it ignored (`nohup`, `&` in a
/// non-interactive shell), and children inherit that: when this test process ignores one, the
/// command is started through `env --default-signal` so the signal tests test pgdiag, not their
/// parent's disposition.
fn with_default_signals(cmd: std::process::Command) -> std::process::Command {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ignores_any = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|mask| mask & ((1 << 0) | (1 << 1) | (1 << 14)) != 0);
    if !ignores_any {
        return cmd;
    }
    let mut wrapped = std::process::Command::new("env");
    wrapped
        .arg("--default-signal=HUP,INT,TERM")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// Backends (other than ours) running a statement that mentions `marker`.
async fn running(client: &tokio_postgres::Client, marker: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' \
             AND state = 'active' AND pid <> pg_backend_pid()",
            &[&marker],
        )
        .await
        .unwrap()
        .get(0)
}

/// Start `cmd`, wait until its statement (`marker`) runs on the server, send `signal`, and check
/// the run ends with exit 2, says "cancelled on the server" once, and leaves nothing running
/// there (a cancel, not a dropped connection the backend would notice only at its next write).
async fn signal_while_running(
    client: &tokio_postgres::Client,
    cmd: std::process::Command,
    marker: &str,
    signal: nix::sys::signal::Signal,
) -> std::process::Output {
    let document = crate::support::json_document_of(&cmd);
    let mut cmd = with_default_signals(cmd);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while running(client, marker).await == 0 {
        assert!(
            Instant::now() < deadline,
            "{marker}: the statement never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    let sent = Instant::now();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{marker}: {stderr}");
    assert!(sent.elapsed() < Duration::from_secs(10), "{marker}");
    // An interrupted run's JSON document is a valid one, its statement's error saying so.
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(document) = document.filter(|_| !stdout.trim().is_empty()) {
        crate::support::assert_matches_schema(document, &stdout);
    }
    assert_eq!(
        stderr.matches("cancelled on the server").count(),
        1,
        "{marker}: printed once:\n{stderr}"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while running(client, marker).await > 0 {
        assert!(
            Instant::now() < deadline,
            "{marker}: still running on the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    output
}

#[tokio::test]
async fn sigterm_sighup_and_sigint_cancel_the_statement_and_print_once() {
    use nix::sys::signal::Signal;
    let (url, client) = database("signals", "").await;
    for signal in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        for format in ["text", "json"] {
            let marker = format!("sig_{}_{format}", signal.as_str().to_lowercase());
            let sql = format!("SELECT pg_sleep(30) AS {marker}");
            let mut cmd = pgdiag_command();
            cmd.args(["explain", "--format", format, "--dsn", &url, "-c", &sql]);
            let output = signal_while_running(&client, cmd, &marker, signal).await;
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stderr.lines().count(), 1, "{marker}: {stderr}");
            if format == "json" {
                let report: ExplainReport = serde_json::from_slice(&output.stdout).unwrap();
                let error = report.statements[0].error.as_ref().unwrap();
                assert_eq!(error.kind, pgdiag::report::ErrorKind::Interrupted);
            }
        }
    }
}

#[tokio::test]
async fn sigterm_cancels_suggest_and_baseline_too() {
    let (url, client) = database("signals_cmds", "").await;
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("suggest", vec!["suggest", "q_suggest.sql"]),
        (
            "baseline",
            vec!["baseline", "--analyze", "--out", "b.json", "q_baseline.sql"],
        ),
    ] {
        let marker = format!("sigterm_{name}");
        std::fs::write(
            dir.path().join(format!("q_{name}.sql")),
            format!("SELECT pg_sleep(30) AS {marker};\n"),
        )
        .unwrap();
        let mut cmd = pgdiag_command();
        cmd.current_dir(dir.path())
            .args(&args)
            .args(["--dsn", &url]);
        signal_while_running(&client, cmd, &marker, nix::sys::signal::Signal::SIGTERM).await;
    }
    assert!(
        !dir.path().join("b.json").exists(),
        "no baseline from an interrupted run"
    );
}

#[tokio::test]
async fn sigterm_cancels_a_statement_waiting_for_a_lock() {
    let (url, client) = database("signals_lock", "CREATE TABLE t (a int)").await;
    let holder = pg().connect(url.rsplit('/').next().unwrap()).await.unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let marker = "sigterm_lock_wait";
    let mut cmd = pgdiag_command();
    cmd.args([
        "explain",
        "--dsn",
        &url,
        "-c",
        &format!("SELECT count(*) AS {marker} FROM t"),
    ]);
    // Also checks no lock request of pgdiag's is left in the queue behind the holder.
    signal_while_running(&client, cmd, marker, nix::sys::signal::Signal::SIGTERM).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
}

const SEQUENCES: &str = "
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 10) g;
CREATE TABLE hidden (note text);
CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql VOLATILE AS
  'INSERT INTO hidden VALUES (''written'') RETURNING 1';
";

async fn last_value(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT last_value FROM items_id_seq", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn effects_that_survive_a_rollback_are_refused_unless_allowed_and_then_reported() {
    let (url, client) = database("side_effects", SEQUENCES).await;
    let json = |args: &[&str]| {
        let mut cmd = pgdiag_command();
        cmd.args(["explain", "--format", "json", "--dsn", &url])
            .args(args);
        let run = run_with(cmd, None);
        run.assert_no_panic();
        let report: ExplainReport = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", run.all_output()));
        (run, report)
    };

    // Refused by default, before anything is sent: the sequence does not move.
    for sql in [
        "SELECT setval('items_id_seq', 1000)",
        "SELECT pg_catalog.SETVAL('items_id_seq', 1000, true)",
        "INSERT INTO items (id, name) VALUES (nextval('items_id_seq'), 'x')",
        "SELECT pg_stat_reset()",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE false",
    ] {
        let (run, report) = json(&["-c", sql]);
        assert_eq!(run.code, 2, "{sql}: {}", run.all_output());
        let error = report.statements[0].error.as_ref().unwrap();
        assert_eq!(error.kind, pgdiag::report::ErrorKind::SideEffects, "{sql}");
        assert!(
            run.stderr.contains("--allow-side-effects"),
            "{}",
            run.stderr
        );
        assert_eq!(last_value(&client).await, 10, "{sql}");
    }
    // The plan alone executes nothing: allowed.
    let (run, _) = json(&["--no-analyze", "-c", "SELECT setval('items_id_seq', 1000)"]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert_eq!(last_value(&client).await, 10);

    // A statement that writes nothing runs READ ONLY: a function's hidden write fails loudly and
    // leaves no row.
    let (run, report) = json(&["-c", "SELECT sneaky()"]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    let error = report.statements[0].error.as_ref().unwrap();
    assert_eq!(error.sqlstate.as_deref(), Some("25006"), "{error:?}");
    assert!(
        error
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("READ ONLY")
    );
    let rows: i64 = client
        .query_one("SELECT count(*) FROM hidden", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);

    // With the flag it runs; the report says what survived instead of an unqualified
    // "rolled back", and the sequence really did move.
    let (run, report) = json(&[
        "--allow-side-effects",
        "-c",
        "SELECT setval('items_id_seq', 1000), sneaky()",
    ]);
    assert_eq!(run.code, 0, "{}", run.all_output());
    let st = &report.statements[0];
    assert!(st.rolled_back);
    assert_eq!(st.side_effects.len(), 1);
    assert_eq!(st.side_effects[0].function, "setval");
    assert_eq!(last_value(&client).await, 1000);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM hidden", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "the function's table write was rolled back");
    let mut cmd = pgdiag_command();
    cmd.args([
        "explain",
        "--allow-side-effects",
        "--dsn",
        &url,
        "-c",
        "SELECT setval('items_id_seq', 2000)",
    ]);
    let run = run_with(cmd, None);
    assert_eq!(run.code, 0, "{}", run.all_output());
    // The facts line wraps at the width: compared with its whitespace collapsed.
    let words = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("rolled back except effects outside the transaction, which may have survived: setval(): sequence value"),
        "{}",
        run.stdout
    );
}
