//! `pgdiag bench` against a real PostgreSQL and a real Redis: exact counters, the herd, staleness
//! with and without NOTIFY invalidation, and the JSON and Prometheus outputs. Assertions are on
//! counts, never on timings (except the 10x staleness ratio, which is orders of magnitude apart).

use std::time::Duration;

use pgdiag::bench::invalidate::{self, NotifyTrigger};
use pgdiag::bench::report::BenchReport;
use pgdiag::bench::{self, BenchConfig, Invalidation, Scenario, Stop};
use pgdiag::cache::Strategy;
use pgdiag::embedded::EmbeddedRedis;
use pgdiag::pg::{ConnectionSettings, ProcessEnv};

use crate::support::{database, pgdiag, temp_file};

const SETUP: &str = "
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE pricing (product_id int PRIMARY KEY REFERENCES products, price numeric NOT NULL);
INSERT INTO products SELECT g, 'product ' || g FROM generate_series(1, 200) g;
INSERT INTO pricing SELECT g, 10 FROM generate_series(1, 200) g;
";

const QUERY: &str = "SELECT p.id, p.name, pr.price FROM products p \
                     JOIN pricing pr ON pr.product_id = p.id WHERE p.id = $1";

/// A query that takes 50 ms: every reader of a herd issues its GET before the first load returns,
/// however the 200 tasks get scheduled on a loaded machine.
const SLOW_QUERY: &str = "SELECT p.id, p.name FROM products p CROSS JOIN LATERAL pg_sleep(0.05) AS s \
                          WHERE p.id = $1";

fn redis_url() -> String {
    match EmbeddedRedis::shared() {
        Ok(redis) => redis.url(),
        Err(e) => panic!("embedded Redis could not start: {e}"),
    }
}

async fn config(prefix: &str) -> (BenchConfig, tokio_postgres::Client) {
    let (url, client) = database(prefix, SETUP).await;
    let settings = ConnectionSettings::resolve(Some(&url), &ProcessEnv).expect("settings");
    let mut config = BenchConfig::new(QUERY, settings, redis_url());
    config.warmup = Duration::ZERO;
    config.duration = Duration::from_millis(1000);
    config.clients = 8;
    config.keys = 50;
    config.pool = 4;
    (config, client)
}

/// Executions of the benchmarked (wrapped) query in this database, by the server's own count.
async fn server_calls(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
             WHERE query LIKE '%pgdiag_bench(%' AND query NOT LIKE '%pg_stat_statements%'
               AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .expect("pg_stat_statements")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn steady_counters_balance_and_match_the_server() {
    let (mut config, client) = config("bench_steady").await;
    config.strategies = vec![Strategy::CacheAside, Strategy::None];
    let before = server_calls(&client).await;
    let report = bench::run(&config, Stop::never())
        .await
        .expect("bench runs");
    let after = server_calls(&client).await;

    let mut loader_calls = 0;
    for s in &report.strategies {
        let c = &s.counters;
        assert!(c.requests > 0, "{}: no requests", s.strategy);
        assert_eq!(
            c.hits + c.misses + c.stale_serves + c.database + c.redis_fallbacks,
            c.requests,
            "{}: {c:?}",
            s.strategy
        );
        assert_eq!(s.db_calls, c.db_queries, "{}", s.strategy);
        assert_eq!(s.errors, 0);
        loader_calls += s.db_calls;
    }
    let cache_aside = &report.strategies[0];
    assert!(cache_aside.counters.hits > 0 && cache_aside.counters.misses >= 1);
    assert!(cache_aside.db_calls < cache_aside.counters.requests);
    let none = &report.strategies[1];
    assert_eq!(none.counters.database, none.counters.requests);
    assert_eq!((after - before) as u64, loader_calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn herd_cache_aside_loads_once_per_reader() {
    let (mut config, _client) = config("bench_herd").await;
    config.scenario = Scenario::Herd;
    config.query = SLOW_QUERY.into();
    config.strategies = vec![Strategy::CacheAside];
    config.clients = 200;
    config.duration = Duration::from_millis(300);
    config.expiries = 2;
    config.pool = 16;
    let report = bench::run(&config, Stop::never())
        .await
        .expect("bench runs");
    let herd = report.strategies[0].herd.as_ref().expect("herd results");
    assert_eq!(herd.rounds.len(), 2);
    let mut text = Vec::new();
    bench::report::render_text(&mut text, &report).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("thundering herd"), "{text}");
    println!("{text}");
    // Issue 14: at 80 columns the strategies' table, too wide, gives way to one block per
    // strategy with every column's value.
    let mut narrow = Vec::new();
    bench::report::render_text_in(&mut narrow, &report, 80).unwrap();
    let narrow = String::from_utf8(narrow).unwrap();
    let strategies = &narrow[..narrow.find("thundering herd").unwrap_or(narrow.len())];
    for line in strategies.lines().skip(1) {
        assert!(line.chars().count() <= 80, "{line}\n{narrow}");
    }
    for label in ["req/s ", "p99 ms ", "DB calls ", "Redis bytes "] {
        assert!(strategies.contains(label), "{label}\n{narrow}");
    }
    for round in &herd.rounds {
        assert_eq!(round.keys_expired, 1);
        assert!(round.db_calls > 100, "{round:?}");
    }
}

/// The seed's fix for the herd: with stale-while-revalidate and its refresh lock, 200 readers
/// of an expired key make exactly one database call per expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn herd_swr_loads_once_per_expiry() {
    let (mut config, _client) = config("bench_herd_swr").await;
    config.scenario = Scenario::Herd;
    config.query = SLOW_QUERY.into();
    config.strategies = vec![Strategy::Swr];
    config.clients = 200;
    config.duration = Duration::from_millis(300);
    config.expiries = 3;
    config.pool = 16;
    let report = bench::run(&config, Stop::never())
        .await
        .expect("bench runs");
    let herd = report.strategies[0].herd.as_ref().expect("herd results");
    assert_eq!(herd.rounds.len(), 3, "{herd:?}");
    for round in &herd.rounds {
        assert_eq!(round.db_calls, 1, "{round:?}");
    }
}

async fn trigger_count(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgdiag_bench_invalidate%')
                  + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'pgdiag_bench_invalidate%')",
            &[],
        )
        .await
        .expect("catalog query")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notify_invalidation_cuts_staleness_and_drops_its_trigger() {
    let (mut config, client) = config("bench_writes").await;
    config.scenario = Scenario::Writes;
    config.strategies = vec![Strategy::CacheAside];
    config.keys = 20;
    config.clients = 16;
    config.ttl = Duration::from_secs(5);
    config.soft_ttl = Duration::from_secs(5);
    config.warmup = Duration::from_millis(300);
    config.duration = Duration::from_secs(3);
    config.write = Some("UPDATE pricing SET price = price + 0.01 WHERE product_id = $1".into());
    config.write_rate = 20.0;

    let ttl_only = bench::run(&config, Stop::never())
        .await
        .expect("ttl-only run");
    config.invalidation = Invalidation::Notify {
        table: "pricing".into(),
        key_column: "product_id".into(),
    };
    let notified = bench::run(&config, Stop::never())
        .await
        .expect("notify run");
    assert_eq!(
        trigger_count(&client).await,
        0,
        "trigger or function left behind"
    );

    let without = ttl_only.strategies[0].staleness.clone().expect("staleness");
    let with = notified.strategies[0].staleness.clone().expect("staleness");
    assert!(without.writes > 10 && with.writes > 10);
    assert!(without.stale_reads > 0);
    assert!(
        without.max_ms >= 10.0 * with.max_ms,
        "without invalidation {without:?}, with notify {with:?}"
    );
    assert_eq!(notified.parameters.invalidate, "notify");
}

/// The server reads `--invalidate-table` as SQL reads a table name, so a name with a dot and a
/// quote in it and a schema-qualified one both get the trigger, and lose it afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_trigger_takes_any_table_name_sql_accepts() {
    let (url, client) = database(
        "bench_trigger_names",
        r#"
CREATE TABLE "we.ird""t" (id int PRIMARY KEY, v int NOT NULL);
CREATE SCHEMA "App Schema";
CREATE TABLE "App Schema".prices (product_id int PRIMARY KEY, v int NOT NULL);
INSERT INTO "we.ird""t" VALUES (1, 0);
INSERT INTO "App Schema".prices VALUES (7, 0);
"#,
    )
    .await;
    let settings = ConnectionSettings::resolve(Some(&url), &ProcessEnv).expect("settings");
    let cases = [
        (
            r#""we.ird""t""#,
            ("public", r#"we.ird"t"#),
            "id",
            r#"UPDATE "we.ird""t" SET v = v + 1 WHERE id = 1"#,
            "1",
        ),
        (
            r#""App Schema".PRICES"#,
            ("App Schema", "prices"),
            "product_id",
            r#"UPDATE "App Schema".prices SET v = v + 1 WHERE product_id = 7"#,
            "7",
        ),
    ];
    for (typed, (schema, table), key_column, update, key) in cases {
        let (_listening, mut keys) = pgdiag::pg::notify::listen(&settings, invalidate::CHANNEL)
            .await
            .expect("listen");
        let trigger = NotifyTrigger::create(&settings, typed, key_column)
            .await
            .unwrap_or_else(|e| panic!("{typed}: {e}"));
        assert_eq!(
            (
                trigger.table().schema.as_str(),
                trigger.table().name.as_str()
            ),
            (schema, table)
        );
        let on_table: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_trigger WHERE tgname = $1 AND tgrelid = to_regclass($2)",
                &[&trigger.name(), &typed],
            )
            .await
            .expect("pg_trigger")
            .get(0);
        assert_eq!(on_table, 1, "{typed}");
        client.batch_execute(update).await.expect(update);
        let notified = tokio::time::timeout(Duration::from_secs(10), keys.recv())
            .await
            .unwrap_or_else(|_| panic!("{typed}: no notification"));
        assert_eq!(notified.as_deref(), Some(key), "{typed}");
        trigger.remove().await.expect("remove");
        assert_eq!(trigger_count(&client).await, 0, "{typed}: left behind");
    }
    let missing = NotifyTrigger::create(&settings, "app.nope", "id")
        .await
        .expect_err("no such table");
    assert!(missing.to_string().contains("no such table"), "{missing}");
}

/// Checks one line of the Prometheus text exposition format; returns the metric name of a sample.
fn check_exposition_line(line: &str) -> Result<Option<String>, String> {
    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    if let Some(rest) = line.strip_prefix("# HELP ") {
        let name = rest.split(' ').next().unwrap_or("");
        return if is_name(name) && rest.len() > name.len() + 1 {
            Ok(None)
        } else {
            Err("bad HELP".into())
        };
    }
    if let Some(rest) = line.strip_prefix("# TYPE ") {
        let parts: Vec<&str> = rest.split(' ').collect();
        let ok = parts.len() == 2
            && is_name(parts[0])
            && ["counter", "gauge", "summary", "histogram", "untyped"].contains(&parts[1]);
        return if ok { Ok(None) } else { Err("bad TYPE".into()) };
    }
    if line.starts_with('#') || line.is_empty() {
        return Err("unexpected comment or empty line".into());
    }
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    if let Some(labels) = rest.strip_prefix('{') {
        let bytes = labels.as_bytes();
        let mut i = 0;
        loop {
            let eq = labels[i..].find('=').ok_or("label without =")? + i;
            if !is_name(&labels[i..eq]) {
                return Err(format!("bad label name {:?}", &labels[i..eq]));
            }
            if bytes.get(eq + 1) != Some(&b'"') {
                return Err("label value not quoted".into());
            }
            i = eq + 2;
            loop {
                match bytes.get(i) {
                    None => return Err("unterminated label value".into()),
                    Some(b'\\') => {
                        if !matches!(bytes.get(i + 1), Some(b'\\' | b'"' | b'n')) {
                            return Err("bad escape".into());
                        }
                        i += 2;
                    }
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            match bytes.get(i + 1) {
                Some(b',') => i += 2,
                Some(b'}') => {
                    rest = &labels[i + 2..];
                    break;
                }
                _ => return Err("expected , or } after a label".into()),
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = value.split(' ');
    let number = fields.next().unwrap_or("");
    let parsed = matches!(number, "NaN" | "+Inf" | "-Inf") || number.parse::<f64>().is_ok();
    if !parsed {
        return Err(format!("bad value {number:?}"));
    }
    if let Some(timestamp) = fields.next()
        && timestamp.parse::<i64>().is_err()
    {
        return Err("bad timestamp".into());
    }
    Ok(Some(name.to_owned()))
}

#[test]
fn the_exposition_checker_rejects_malformed_lines() {
    assert!(check_exposition_line(r#"a_total{x="1",y="q\"z"} 3"#).is_ok());
    assert!(check_exposition_line("a 1.5e-3").is_ok());
    for bad in [
        "1a 3",
        r#"a{x=1} 3"#,
        r#"a{x="1"} three"#,
        r#"a{x="1" 3"#,
        "# TYPE a countr",
        "a",
    ] {
        assert!(check_exposition_line(bad).is_err(), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_writes_json_and_prometheus() {
    let (url, _client) = database("bench_cli", SETUP).await;
    let (dir, query) = temp_file("query.sql", QUERY.as_bytes());
    let metrics = dir.path().join("bench.prom");
    let redis = redis_url();
    let run = tokio::task::spawn_blocking(move || {
        pgdiag(&[
            "bench",
            query.to_str().unwrap(),
            "--dsn",
            &url,
            "--redis-url",
            &redis,
            "--strategies",
            "none,cache-aside",
            "--duration",
            "500ms",
            "--warmup",
            "100ms",
            "--clients",
            "4",
            "--keys",
            "20",
            "--pool",
            "2",
            "--format",
            "json",
            "--metrics-out",
            metrics.to_str().unwrap(),
        ])
    })
    .await
    .unwrap();
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: BenchReport = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.scenario, "steady");
    let names: Vec<&str> = report
        .strategies
        .iter()
        .map(|s| s.strategy.as_str())
        .collect();
    assert_eq!(names, ["none", "cache-aside"]);

    let text = std::fs::read_to_string(dir.path().join("bench.prom")).expect("metrics file");
    let mut typed: Vec<String> = Vec::new();
    let mut samples = 0;
    for line in text.lines() {
        match check_exposition_line(line) {
            Ok(None) => {
                if let Some(rest) = line.strip_prefix("# TYPE ") {
                    typed.push(rest.split(' ').next().unwrap().to_owned());
                }
            }
            Ok(Some(name)) => {
                samples += 1;
                let base = name
                    .strip_suffix("_sum")
                    .or_else(|| name.strip_suffix("_count"))
                    .filter(|b| typed.iter().any(|t| t == b))
                    .unwrap_or(&name);
                assert!(typed.iter().any(|t| t == base), "{name} has no TYPE");
            }
            Err(e) => panic!("{e}: {line:?}"),
        }
    }
    assert!(samples >= 2 * (5 + 4 + 5));
    assert!(text.contains(r#"cache_requests_total{strategy="cache-aside",result="hit"} "#));
    assert!(text.contains(r#"cache_request_duration_seconds{strategy="none",quantile="0.99"} "#));
}

#[test]
fn refuses_writes_and_an_unreachable_redis() {
    let (_dir, select) = temp_file("select.sql", QUERY.as_bytes());
    let run = pgdiag(&[
        "bench",
        select.to_str().unwrap(),
        "--dsn",
        "postgresql://127.0.0.1:1/none",
        "--redis-url",
        "redis://127.0.0.1:1/",
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr
            .contains("cannot use Redis at redis://127.0.0.1:1/"),
        "{}",
        run.stderr
    );

    let (_dir, update) = temp_file(
        "update.sql",
        b"UPDATE pricing SET price = 0 WHERE product_id = $1",
    );
    let run = pgdiag(&[
        "bench",
        update.to_str().unwrap(),
        "--dsn",
        "postgresql://127.0.0.1:1/none",
        "--redis-url",
        "redis://127.0.0.1:1/",
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(run.stderr.contains("accepts only SELECT"), "{}", run.stderr);

    // No $1: every key would cache the same result (issue 14's small surprise).
    let (_dir, keyless) = temp_file("keyless.sql", b"SELECT count(*) FROM pricing");
    let run = pgdiag(&[
        "bench",
        keyless.to_str().unwrap(),
        "--dsn",
        "postgresql://127.0.0.1:1/none",
        "--redis-url",
        "redis://127.0.0.1:1/",
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(run.stderr.contains("has no $1"), "{}", run.stderr);
    let (_dir, two) = temp_file(
        "two.sql",
        b"SELECT price FROM pricing WHERE product_id = $1 AND price > $2",
    );
    let run = pgdiag(&[
        "bench",
        two.to_str().unwrap(),
        "--dsn",
        "postgresql://127.0.0.1:1/none",
        "--redis-url",
        "redis://127.0.0.1:1/",
    ]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(run.stderr.contains("2 parameters"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_drops_the_trigger_and_exits_2() {
    a_stop_signal_drops_the_trigger_and_prints_the_report(nix::sys::signal::Signal::SIGINT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drops_the_trigger_and_exits_2() {
    a_stop_signal_drops_the_trigger_and_prints_the_report(nix::sys::signal::Signal::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_drops_the_trigger_and_exits_2() {
    a_stop_signal_drops_the_trigger_and_prints_the_report(nix::sys::signal::Signal::SIGHUP).await;
}

/// The stop path does not depend on the signal: whatever `commands::interrupted` resolves on
/// (Ctrl-C, SIGTERM, SIGHUP) removes the trigger, prints the
/// report of what ran and exits 2.
async fn a_stop_signal_drops_the_trigger_and_prints_the_report(signal: nix::sys::signal::Signal) {
    let (url, client) = database(&format!("bench_{signal}").to_lowercase(), SETUP).await;
    let (_dir, query) = temp_file("query.sql", QUERY.as_bytes());
    let mut cmd = crate::support::pgdiag_command();
    cmd.args([
        "bench",
        query.to_str().unwrap(),
        "--dsn",
        &url,
        "--redis-url",
        &redis_url(),
        "--scenario",
        "writes",
        "--strategies",
        "cache-aside",
        "--write",
        "UPDATE pricing SET price = price + 0.01 WHERE product_id = $1",
        "--invalidate",
        "notify",
        "--invalidate-table",
        "pricing",
        "--invalidate-key-column",
        "product_id",
        "--duration",
        "60s",
        "--keys",
        "20",
    ]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn pgdiag");
    let mut created = false;
    for _ in 0..200 {
        if trigger_count(&client).await == 2 {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(created, "the trigger never appeared");
    tokio::time::sleep(Duration::from_millis(500)).await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal)
        .unwrap_or_else(|e| panic!("send {signal}: {e}"));
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .expect("wait for pgdiag");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{signal}: {stderr}");
    assert!(stderr.contains("interrupted"), "{signal}: {stderr}");
    assert_eq!(
        trigger_count(&client).await,
        0,
        "{signal}: trigger left behind"
    );
    // The report of what ran is printed all the same.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("cache-aside (interrupted)"),
        "{signal}: {stdout}"
    );
}

/// Teams whose cache outgrew one node: the whole benchmark runs against a Redis Cluster URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_cluster_url_works_for_the_whole_benchmark() {
    let cluster = tokio::task::spawn_blocking(pgdiag::embedded::EmbeddedRedisCluster::start)
        .await
        .unwrap()
        .expect("a 3-node Redis Cluster starts");
    let (mut config, _client) = config("bench_cluster").await;
    config.redis_url = cluster.cluster_url().into();
    config.duration = Duration::from_millis(600);
    config.strategies = vec![Strategy::CacheAside, Strategy::Swr, Strategy::Xfetch];
    let report = bench::run(&config, Stop::never())
        .await
        .expect("bench runs on the cluster");
    assert_eq!(report.strategies.len(), 3);
    for s in &report.strategies {
        let c = &s.counters;
        assert!(c.requests > 0 && c.hits > 0, "{}: {c:?}", s.strategy);
        assert_eq!(c.redis_errors, 0, "{}: {c:?}", s.strategy);
        assert_eq!(
            c.hits + c.misses + c.stale_serves + c.database + c.redis_fallbacks,
            c.requests,
            "{}: {c:?}",
            s.strategy
        );
    }
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
}

/// Every measured request counted once, in one outcome: the outcomes sum to the requests, the
/// rates to at most 1, and the answered ones are the latency samples.
#[track_caller]
fn assert_exact(report: &BenchReport) {
    for s in &report.strategies {
        let c = &s.counters;
        assert_eq!(
            c.hits + c.misses + c.stale_serves + c.database + c.redis_fallbacks,
            c.requests,
            "{}: {c:?}",
            s.strategy
        );
        assert_eq!(s.requests, c.requests, "{}", s.strategy);
        assert_eq!(
            s.latency.samples + s.errors,
            c.requests,
            "{}: {s:?}",
            s.strategy
        );
        let rates = s.hit_rate + s.miss_rate + s.stale_rate + s.fallback_rate;
        assert!(rates <= 1.0 + 1e-9, "{}: rates sum to {rates}", s.strategy);
        for rate in [s.hit_rate, s.miss_rate, s.stale_rate, s.fallback_rate] {
            assert!((0.0..=1.0).contains(&rate), "{}: {s:?}", s.strategy);
        }
    }
}

/// With a warm-up, requests in flight when it ends are counted on one side only: the outcomes
/// used to sum to requests + clients (hit rate above 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_are_exact_with_a_warm_up_for_every_strategy() {
    let (mut config, _client) = config("bench_exact").await;
    config.strategies = Strategy::ALL.to_vec();
    config.warmup = Duration::from_millis(300);
    config.duration = Duration::from_millis(700);
    config.clients = 16;
    let report = bench::run(&config, Stop::never())
        .await
        .expect("bench runs");
    assert_eq!(report.strategies.len(), 4);
    assert_exact(&report);
    assert!(report.complete, "{report:?}");
    for s in &report.strategies {
        assert!(s.counters.requests > 0, "{}", s.strategy);
        assert_eq!(s.errors, 0, "{}", s.strategy);
    }
}

/// A query that fails for every fifth key: the failures are counted once each, in the outcome
/// they were headed for, and as errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_errors_are_counted_once_and_the_counters_stay_exact() {
    let (mut config, _client) = config("bench_db_errors").await;
    config.query =
        "SELECT p.id, p.name, 10 / (p.id % 5) AS x FROM products p WHERE p.id = $1".into();
    config.strategies = Strategy::ALL.to_vec();
    config.warmup = Duration::from_millis(200);
    config.duration = Duration::from_millis(600);
    let report = bench::run(&config, Stop::never())
        .await
        .expect("bench runs");
    assert_exact(&report);
    for s in &report.strategies {
        assert!(s.errors > 0, "{}: {s:?}", s.strategy);
        assert!(s.latency.samples > 0, "{}: {s:?}", s.strategy);
    }
    // Database errors are the workload's, not a fault of the measurement.
    assert!(report.complete);
}

/// `pid` of a private Redis, as nix wants it.
fn redis_pid(redis: &EmbeddedRedis) -> nix::unistd::Pid {
    nix::unistd::Pid::from_raw(redis.pid().expect("redis pid") as i32)
}

/// Wait until a bench run has cached a value in the Redis at `url` (so it is past its start, when
/// Redis must be there), and return a connection to it.
async fn once_the_run_caches(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    for _ in 0..600 {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("pgdiag:bench:*")
            .query_async(&mut connection)
            .await
            .expect("KEYS");
        if !keys.is_empty() {
            return connection;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the run never cached anything");
}

/// Redis killed while the first strategies run: every strategy still runs and reports, failing
/// open to the database and counting it, and the counters stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_mid_run_loses_no_strategy_and_counts_exactly() {
    let redis = EmbeddedRedis::builder()
        .start()
        .expect("start a private Redis");
    let (mut config, _client) = config("bench_redis_killed").await;
    config.redis_url = redis.url().into();
    config.strategies = vec![
        Strategy::CacheAside,
        Strategy::Swr,
        Strategy::Xfetch,
        Strategy::None,
    ];
    config.warmup = Duration::from_millis(200);
    config.duration = Duration::from_millis(600);
    let pid = redis_pid(&redis);
    let url = redis.url();
    let killer = tokio::spawn(async move {
        once_the_run_caches(&url).await;
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill redis");
    });
    let report = bench::run(&config, Stop::never())
        .await
        .expect("the report survives Redis dying");
    killer.await.unwrap();
    let names: Vec<&str> = report
        .strategies
        .iter()
        .map(|s| s.strategy.as_str())
        .collect();
    assert_eq!(names, ["cache-aside", "swr", "xfetch", "none"]);
    assert_exact(&report);
    for s in &report.strategies[1..3] {
        let c = &s.counters;
        assert!(
            c.redis_errors > 0 && c.redis_fallbacks > 0,
            "{}: {c:?}",
            s.strategy
        );
        assert_eq!(s.errors, 0, "{}: answered from the database", s.strategy);
    }
    assert!(!report.complete);
    assert!(report.redis_errors() > 0);
    let mut text = Vec::new();
    bench::report::render_text(&mut text, &report).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("Redis failed during the run"), "{text}");
    drop(redis);
}

/// `CLIENT PAUSE`: Redis is up but answers nothing for a while. Requests time out, fail open and
/// are counted; the counters stay exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_paused_mid_run_fails_open_and_counts_exactly() {
    let redis = EmbeddedRedis::builder()
        .start()
        .expect("start a private Redis");
    let (mut config, _client) = config("bench_redis_paused").await;
    config.redis_url = redis.url().into();
    config.strategies = vec![Strategy::CacheAside, Strategy::Swr, Strategy::Xfetch];
    config.duration = Duration::from_millis(1500);
    let url = redis.url();
    let pauser = tokio::spawn(async move {
        let mut connection = once_the_run_caches(&url).await;
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(800)
            .arg("ALL")
            .query_async(&mut connection)
            .await
            .expect("CLIENT PAUSE");
    });
    let report = bench::run(&config, Stop::never())
        .await
        .expect("the report survives a paused Redis");
    pauser.await.unwrap();
    assert_eq!(report.strategies.len(), 3);
    assert_exact(&report);
    let paused = &report.strategies[0].counters;
    assert!(
        paused.redis_errors > 0 && paused.redis_fallbacks > 0,
        "{paused:?}"
    );
    // The pause is over before the later strategies: they run on a healthy Redis again.
    assert!(report.strategies[2].counters.hits > 0, "{report:?}");
    assert!(!report.complete);
}

/// `pgdiag bench` against a Redis that dies mid-run: the report is printed (text and JSON) with
/// the fallbacks and errors in it, and the exit code is 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_prints_the_report_when_redis_dies_and_exits_2() {
    let (url, _client) = database("bench_cli_redis_dies", SETUP).await;
    let (_dir, query) = temp_file("query.sql", QUERY.as_bytes());
    for format in ["text", "json"] {
        let redis = EmbeddedRedis::builder()
            .start()
            .expect("start a private Redis");
        let pid = redis_pid(&redis);
        let args: Vec<String> = [
            "bench",
            query.to_str().unwrap(),
            "--dsn",
            &url,
            "--redis-url",
            &redis.url(),
            "--strategies",
            "cache-aside,swr,xfetch",
            "--duration",
            "700ms",
            "--warmup",
            "100ms",
            "--clients",
            "4",
            "--keys",
            "20",
            "--pool",
            "2",
            "--format",
            format,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let run = tokio::task::spawn_blocking(move || {
            let mut cmd = crate::support::pgdiag_command();
            cmd.args(&args);
            crate::support::run_with(cmd, None)
        });
        let url = redis.url();
        once_the_run_caches(&url).await;
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill redis");
        let run = run.await.unwrap();
        run.assert_no_panic();
        assert_eq!(run.code, 2, "{format}: {}", run.all_output());
        assert!(
            run.stderr.contains("Redis failed during the run"),
            "{}",
            run.stderr
        );
        if format == "json" {
            let report: BenchReport = serde_json::from_str(&run.stdout).expect("JSON report");
            assert_eq!(report.strategies.len(), 3);
            assert!(!report.complete);
            assert_exact(&report);
            assert!(
                report.strategies[2].counters.redis_fallbacks > 0,
                "{report:?}"
            );
        } else {
            for name in [
                "cache-aside",
                "swr",
                "xfetch",
                "fallback",
                "errors Redis/DB",
            ] {
                assert!(run.stdout.contains(name), "{name}: {}", run.stdout);
            }
            assert!(
                run.stdout.contains("Redis failed during the run"),
                "{}",
                run.stdout
            );
            // xfetch ran on a dead Redis: every request fell back. Its row, or its block when
            // the table does not fit the width (its lines up to the next blank one).
            let lines: Vec<&str> = run.stdout.lines().collect();
            let at = lines
                .iter()
                .position(|l| {
                    l.trim_start_matches(|c: char| c.is_whitespace() || c == '│')
                        .starts_with("xfetch")
                })
                .unwrap();
            let xfetch = lines[at..]
                .iter()
                .take_while(|l| !l.trim().is_empty())
                .take(3)
                .copied()
                .collect::<Vec<_>>()
                .join("\n");
            assert!(xfetch.contains("100.0%"), "{xfetch}\n{}", run.stdout);
        }
        drop(redis);
    }
}

/// A `pgdiag bench --scenario writes --invalidate notify` in the background, for `duration`.
fn spawn_notify_bench(url: &str, query: &std::path::Path, duration: &str) -> std::process::Child {
    let mut cmd = crate::support::pgdiag_command();
    cmd.args([
        "bench",
        query.to_str().unwrap(),
        "--dsn",
        url,
        "--redis-url",
        &redis_url(),
        "--scenario",
        "writes",
        "--strategies",
        "cache-aside",
        "--write",
        "UPDATE pricing SET price = price + 0.01 WHERE product_id = $1",
        "--invalidate",
        "notify",
        "--invalidate-table",
        "pricing",
        "--invalidate-key-column",
        "product_id",
        "--duration",
        duration,
        "--warmup",
        "0s",
        "--clients",
        "2",
        "--keys",
        "20",
        "--pool",
        "2",
    ]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().expect("spawn pgdiag")
}

/// The trigger (and function) of the bench process `pid` exist.
async fn has_trigger_of(client: &tokio_postgres::Client, pid: u32) -> bool {
    let name = format!("pgdiag_bench_invalidate_{pid}_0");
    let count: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = $1)
                  + (SELECT count(*) FROM pg_proc WHERE proname = $1)",
            &[&name],
        )
        .await
        .expect("catalog query")
        .get(0);
    count == 2
}

async fn wait_for_trigger_of(client: &tokio_postgres::Client, pid: u32) {
    for _ in 0..400 {
        if has_trigger_of(client, pid).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the trigger of {pid} never appeared");
}

/// A killed bench (SIGKILL: no cleanup possible) leaves its trigger; the next run removes it and
/// says so, while the trigger of a bench still running is left alone; that one, stopped with
/// SIGINT, removes its own and prints its report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_run_removes_a_killed_runs_trigger_but_not_a_running_ones() {
    let (url, client) = database("bench_leftovers", SETUP).await;
    let (_dir, query) = temp_file("query.sql", QUERY.as_bytes());

    let running = spawn_notify_bench(&url, &query, "120s");
    wait_for_trigger_of(&client, running.id()).await;
    let mut killed = spawn_notify_bench(&url, &query, "120s");
    wait_for_trigger_of(&client, killed.id()).await;
    killed.kill().expect("SIGKILL");
    killed.wait().unwrap();
    // Killed: nothing could clean up.
    assert!(
        has_trigger_of(&client, killed.id()).await,
        "the killed run's trigger"
    );

    let (url2, query2, redis) = (url.clone(), query.clone(), redis_url());
    let next = tokio::task::spawn_blocking(move || {
        pgdiag(&[
            "bench",
            query2.to_str().unwrap(),
            "--dsn",
            &url2,
            "--redis-url",
            &redis,
            "--strategies",
            "none",
            "--duration",
            "200ms",
            "--warmup",
            "0s",
            "--clients",
            "2",
            "--keys",
            "10",
            "--pool",
            "2",
        ])
    })
    .await
    .unwrap();
    next.assert_no_panic();
    assert_eq!(next.code, 0, "{}", next.all_output());
    let killed_name = format!("pgdiag_bench_invalidate_{}_0", killed.id());
    assert!(
        next.stdout
            .contains("removed a leftover invalidation trigger")
            && next.stdout.contains(&killed_name),
        "{}",
        next.stdout
    );
    let running_name = format!("pgdiag_bench_invalidate_{}_0", running.id());
    assert!(!next.stdout.contains(&running_name), "{}", next.stdout);
    assert!(
        !has_trigger_of(&client, killed.id()).await,
        "leftover not removed"
    );
    assert!(
        has_trigger_of(&client, running.id()).await,
        "a running bench lost its trigger"
    );

    // SIGINT: the trigger goes, the report of what ran is printed, exit 2.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("send SIGINT");
    let running_pid = running.id();
    let output = tokio::task::spawn_blocking(move || running.wait_with_output())
        .await
        .unwrap()
        .expect("wait for pgdiag");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("cache-aside (interrupted)"),
        "{stdout}{stderr}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        !has_trigger_of(&client, running_pid).await,
        "trigger left behind"
    );
    assert_eq!(trigger_count(&client).await, 0);
}

/// Durations and TTLs past anything a clock holds run (until stopped) rather than panic; the
/// library's stop gives the report of what ran, the one under way marked interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn huge_durations_run_until_stopped_and_report_what_ran() {
    let (mut config, _client) = config("bench_huge").await;
    config.strategies = vec![Strategy::CacheAside, Strategy::Swr];
    config.warmup = Duration::from_millis(100);
    config.duration = Duration::MAX;
    config.ttl = Duration::MAX;
    config.soft_ttl = Duration::MAX;
    let (raise, stop) = Stop::new();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let _ = raise.send(true);
    });
    let report = bench::run_partial(&config, stop)
        .await
        .expect("a stopped run still reports");
    assert!(report.interrupted && !report.complete, "{report:?}");
    assert_eq!(report.strategies.len(), 1, "swr never started");
    let s = &report.strategies[0];
    assert!(s.interrupted);
    assert!(s.counters.hits > 0 && s.counters.redis_errors == 0, "{s:?}");
    assert_exact(&report);
}

/// The cleanup drops trigger functions named like the bench's whose lock is free (with their
/// trigger, on any table name, or alone), never one whose owner still runs, nor a function that
/// is not a trigger function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_found_by_their_free_lock_and_dropped() {
    let (url, client) = database(
        "bench_leftover_lib",
        r#"
CREATE TABLE "we.ird""t" (id int PRIMARY KEY);
CREATE SCHEMA other;
CREATE FUNCTION other.pgdiag_bench_invalidate_1_7() RETURNS trigger LANGUAGE plpgsql
  AS $$BEGIN RETURN NULL; END$$;
CREATE FUNCTION pgdiag_bench_invalidate_1_8() RETURNS trigger LANGUAGE plpgsql
  AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER pgdiag_bench_invalidate_1_8 AFTER INSERT ON "we.ird""t"
  FOR EACH ROW EXECUTE FUNCTION pgdiag_bench_invalidate_1_8();
CREATE FUNCTION pgdiag_bench_invalidate_1_9() RETURNS int LANGUAGE sql AS 'SELECT 1';
"#,
    )
    .await;
    let settings = ConnectionSettings::resolve(Some(&url), &ProcessEnv).expect("settings");
    let live = NotifyTrigger::create(&settings, r#""we.ird""t""#, "id")
        .await
        .expect("a running bench's trigger");

    let found = invalidate::remove_leftovers(&client)
        .await
        .expect("cleanup");
    let summary: Vec<(&str, Option<&str>, &str, bool)> = found
        .iter()
        .map(|l| {
            (
                l.trigger.as_str(),
                l.table.as_deref(),
                l.function.as_str(),
                l.removed,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "pgdiag_bench_invalidate_1_7",
                None,
                r#""other"."pgdiag_bench_invalidate_1_7""#,
                true
            ),
            (
                "pgdiag_bench_invalidate_1_8",
                Some(r#""public"."we.ird""t""#),
                r#""public"."pgdiag_bench_invalidate_1_8""#,
                true
            ),
        ],
        "{found:?}"
    );
    // Compared as sets: how `1_9` and `<pid>_0` sort depends on the collation.
    let mut left: Vec<String> = client
        .query(
            "SELECT proname::text FROM pg_proc WHERE proname LIKE 'pgdiag_bench_invalidate%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    left.sort();
    let mut expected = vec!["pgdiag_bench_invalidate_1_9".to_string(), live.name()];
    expected.sort();
    assert_eq!(left, expected);
    // Running again finds nothing: the live trigger is not a leftover.
    assert!(
        invalidate::remove_leftovers(&client)
            .await
            .unwrap()
            .is_empty()
    );
    live.remove().await.expect("remove");
    assert_eq!(
        trigger_count(&client).await,
        1,
        "only the int function is left"
    );
}

/// A stop while every reader waits on a slow query: the run does not wait for the queries past
/// its grace period; it reports what finished (here nothing) as interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_slow_queries_reports_within_the_grace_period() {
    let (mut config, _client) = config("bench_stop_slow").await;
    config.query =
        "SELECT p.id FROM products p CROSS JOIN LATERAL pg_sleep(8) AS s WHERE p.id = $1".into();
    config.strategies = vec![Strategy::None];
    config.clients = 2;
    config.pool = 2;
    config.duration = Duration::from_secs(60);
    let (raise, stop) = Stop::new();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = raise.send(true);
    });
    let started = std::time::Instant::now();
    let report = bench::run_partial(&config, stop)
        .await
        .expect("a stopped run still reports");
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    assert!(report.interrupted && !report.complete);
    assert!(report.strategies.is_empty(), "{report:?}");
    let mut text = Vec::new();
    bench::report::render_text(&mut text, &report).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("interrupted before any strategy finished"),
        "{text}"
    );
}

/// The timeline is the same requests as the counters, bucket by bucket: its sums are the
/// strategy's exact figures; the latency histogram holds every measured request; each write of
/// the `writes` scenario is listed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeline_histogram_and_writes_add_up_to_the_counters() {
    let (mut config, _client) = config("bench_timeline").await;
    config.scenario = Scenario::Writes;
    config.strategies = vec![Strategy::CacheAside, Strategy::None];
    config.write = Some("UPDATE pricing SET price = price + 0.01 WHERE product_id = $1".into());
    config.write_rate = 20.0;
    let report = bench::run(&config, Stop::never())
        .await
        .expect("bench runs");
    for s in &report.strategies {
        let timeline = s.timeline.as_ref().expect("timeline");
        // 1 s measured: 10 ms buckets, as many as the requests reach.
        assert_eq!(timeline.bucket_ms, 10);
        assert!(
            (90..=110).contains(&timeline.buckets.len()),
            "{}: {} buckets",
            s.strategy,
            timeline.buckets.len()
        );
        for (i, b) in timeline.buckets.iter().enumerate() {
            assert_eq!(b.at_ms, i as u64 * 10);
            assert_eq!(
                b.hits + b.misses + b.stale_serves + b.database + b.redis_fallbacks,
                b.requests
            );
        }
        let sum = |f: fn(&pgdiag::bench::report::TimelineBucket) -> u64| -> u64 {
            timeline.buckets.iter().map(f).sum()
        };
        let c = &s.counters;
        assert_eq!(sum(|b| b.requests), c.requests, "{}", s.strategy);
        assert_eq!(sum(|b| b.hits), c.hits, "{}", s.strategy);
        assert_eq!(sum(|b| b.misses), c.misses, "{}", s.strategy);
        assert_eq!(sum(|b| b.database), c.database, "{}", s.strategy);
        assert_eq!(sum(|b| b.errors), s.errors);
        assert_eq!(
            sum(|b| b.db_calls + b.background_db_calls),
            s.db_calls,
            "{}",
            s.strategy
        );
        assert!(timeline.expiries_at_ms.is_empty() && timeline.herd_from_ms.is_none());
        let histogram: u64 = s.latency_histogram.iter().map(|b| b.count).sum();
        assert_eq!(histogram, s.latency.samples);
        let slowest = timeline
            .buckets
            .iter()
            .map(|b| b.max_ms)
            .fold(0.0, f64::max);
        assert!((slowest - s.latency.max_ms).abs() <= s.latency.max_ms * 0.01 + 0.01);

        let staleness = s.staleness.as_ref().expect("staleness");
        assert!(staleness.writes >= 5, "{staleness:?}");
        assert_eq!(staleness.per_write.len() as u64, staleness.writes);
        let open = staleness.per_write.iter().filter(|w| !w.resolved).count();
        assert_eq!(open as u64, staleness.unresolved_writes);
        assert!(
            staleness
                .per_write
                .windows(2)
                .all(|p| p[0].at_ms <= p[1].at_ms)
        );
        assert!(staleness.per_write.iter().all(|w| w.at_ms <= 1500));
    }
}
