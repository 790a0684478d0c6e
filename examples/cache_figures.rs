//! The figures the README shows for `pgdiag bench`, on a throwaway PostgreSQL and Redis:
//! 1. the herd: 200 readers on an expired key, DB calls per expiry for cache-aside vs swr;
//! 2. the harness is not the bottleneck: cache-hit throughput at 50 clients vs
//!    `redis-benchmark -t get -c 50` against the same Redis;
//! 3. staleness after price updates with and without NOTIFY invalidation.
//!
//! Run with `scripts/bench-cache` (release build of pgdiag).

use std::path::PathBuf;
use std::process::Command;

use pgdiag::bench::report::BenchReport;
use pgdiag::embedded::{EmbeddedPostgres, EmbeddedRedis};

const SETUP: &str = "
    CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE pricing (product_id int PRIMARY KEY REFERENCES products, price numeric NOT NULL);
    INSERT INTO products SELECT g, 'product ' || g FROM generate_series(1, 1000) g;
    INSERT INTO pricing SELECT g, 10 + g % 90 FROM generate_series(1, 1000) g;
    ANALYZE;
";
/// The product-page query, slowed to 50 ms so the herd is visible as in the seed's story.
const SLOW: &str = "SELECT p.id, p.name, pr.price FROM products p JOIN pricing pr ON pr.product_id = p.id \
                    CROSS JOIN LATERAL pg_sleep(0.05) s WHERE p.id = $1";
const FAST: &str = "SELECT p.id, p.name, pr.price FROM products p JOIN pricing pr ON pr.product_id = p.id WHERE p.id = $1";

fn bench(pgdiag: &PathBuf, args: &[&str]) -> anyhow::Result<BenchReport> {
    let output = Command::new(pgdiag)
        .arg("bench")
        .args(args)
        .args(["--format", "json"])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "pgdiag bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pgdiag = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/pgdiag");
    anyhow::ensure!(pgdiag.exists(), "build it first: cargo build --release");
    let pg = EmbeddedPostgres::builder().start().await?;
    pg.connect("postgres").await?.batch_execute(SETUP).await?;
    let redis = tokio::task::spawn_blocking(|| EmbeddedRedis::builder().start()).await??;
    let dsn = pg.url("postgres");
    let redis_url = redis.url();
    let dir = tempfile::tempdir()?;
    let slow = dir.path().join("slow.sql");
    let fast = dir.path().join("fast.sql");
    std::fs::write(&slow, SLOW)?;
    std::fs::write(&fast, FAST)?;

    // 1. The herd.
    let report = bench(
        &pgdiag,
        &[
            slow.to_str().unwrap(),
            "--dsn",
            &dsn,
            "--redis-url",
            &redis_url,
            "--scenario",
            "herd",
            "--clients",
            "200",
            "--expiries",
            "3",
            "--strategies",
            "cache-aside,swr",
            "--pool",
            "16",
            "--duration",
            "1s",
            "--warmup",
            "0s",
        ],
    )?;
    println!(
        "herd: 200 readers released together on an expired key (query takes 50 ms), 3 expiries"
    );
    for s in &report.strategies {
        let herd = s.herd.as_ref().expect("herd results");
        let calls: Vec<String> = herd.rounds.iter().map(|r| r.db_calls.to_string()).collect();
        let worst = herd.rounds.iter().map(|r| r.max_ms).fold(0.0, f64::max);
        println!(
            "  {:<12} DB calls per expiry: {:<14} worst latency in the spike: {worst:.0} ms",
            s.strategy,
            calls.join(", ")
        );
    }

    // 2. Cache-hit throughput against redis-benchmark at the same concurrency.
    let report = bench(
        &pgdiag,
        &[
            fast.to_str().unwrap(),
            "--dsn",
            &dsn,
            "--redis-url",
            &redis_url,
            "--scenario",
            "steady",
            "--clients",
            "50",
            "--keys",
            "100",
            "--strategies",
            "cache-aside",
            "--duration",
            "5s",
            "--warmup",
            "1s",
        ],
    )?;
    let s = &report.strategies[0];
    println!(
        "cache-hit path, 50 clients: pgdiag bench {:.0} requests/s (hit rate {:.1}%, p50 {:.3} ms)",
        s.throughput_rps,
        s.hit_rate * 100.0,
        s.latency.p50_ms
    );
    let rb = Command::new("redis-benchmark")
        .args([
            "-p",
            &redis.port().to_string(),
            "-t",
            "get",
            "-c",
            "50",
            "-n",
            "500000",
            "-q",
        ])
        .output()?;
    let text = String::from_utf8_lossy(&rb.stdout);
    let line = text.rsplit('\r').next().unwrap_or("").trim();
    println!("redis-benchmark -t get -c 50 -n 500000: {line}");

    // 3. Staleness after price updates.
    for invalidate in ["none", "notify"] {
        let report = bench(
            &pgdiag,
            &[
                fast.to_str().unwrap(),
                "--dsn",
                &dsn,
                "--redis-url",
                &redis_url,
                "--scenario",
                "writes",
                "--clients",
                "16",
                "--keys",
                "50",
                "--strategies",
                "cache-aside",
                "--duration",
                "5s",
                "--warmup",
                "0s",
                "--ttl",
                "10s",
                "--write",
                "UPDATE pricing SET price = price + 0.01 WHERE product_id = $1::int",
                "--write-rate",
                "20",
                "--invalidate",
                invalidate,
                "--invalidate-table",
                "pricing",
                "--invalidate-key-column",
                "product_id",
            ],
        )?;
        let st = report.strategies[0].staleness.as_ref().expect("staleness");
        println!(
            "writes, cache-aside, TTL 10 s, invalidate={invalidate:<6}: staleness max {:.0} ms, p99 {:.0} ms, stale reads {}",
            st.max_ms, st.p99_ms, st.stale_reads
        );
    }
    pg.stop().await?;
    tokio::task::spawn_blocking(move || redis.stop()).await??;
    Ok(())
}
