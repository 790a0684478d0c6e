//! Benchmark: the wall-clock time of `pgdiag explain` against `psql -c "EXPLAIN (ANALYZE, BUFFERS,
//! FORMAT JSON) ..."` on the same query, on a throwaway PostgreSQL. Both are whole processes
//! (start, connect, explain, print), measured alternately, median of N runs.
//!
//! Run with `scripts/bench-explain-overhead [RUNS]` (release build of pgdiag).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pgdiag::embedded::EmbeddedPostgres;

const SETUP: &str = "
    CREATE TABLE reviews (id bigint PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
    SELECT setseed(0.42);
    INSERT INTO reviews SELECT g, 1 + (random() * 19999)::int, 1 + (random() * 4)::int
    FROM generate_series(1, 1000000) g;
    ANALYZE;
";
const QUERY: &str = "SELECT product_id, avg(rating) FROM reviews WHERE rating >= 2 GROUP BY product_id ORDER BY 2 DESC LIMIT 20";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run");
    let elapsed = start.elapsed();
    assert!(status.success(), "{cmd:?} failed");
    elapsed
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15);
    let pgdiag = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/pgdiag");
    anyhow::ensure!(pgdiag.exists(), "build it first: cargo build --release");
    let pg = EmbeddedPostgres::builder().start().await?;
    pg.connect("postgres").await?.batch_execute(SETUP).await?;
    let psql = pg.bin_dir().join("psql");
    let psql = if psql.exists() {
        psql
    } else {
        PathBuf::from("psql")
    };
    let port = pg.port().to_string();
    let url = pg.url("postgres");
    let explain = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {QUERY}");

    let mut psql_times = Vec::new();
    let mut pgdiag_times = Vec::new();
    // Warm the cache once each, then alternate so drift hits both alike.
    for i in 0..runs + 1 {
        let a = time(Command::new(&psql).args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            &explain,
        ]));
        let b = time(
            Command::new(&pgdiag).args(["explain", "--dsn", &url, "--format", "json", "-c", QUERY]),
        );
        if i > 0 {
            psql_times.push(a);
            pgdiag_times.push(b);
        }
    }
    let (p, d) = (median(psql_times), median(pgdiag_times));
    println!("query: {QUERY}");
    println!("runs: {runs} each, alternating, after one warm-up");
    println!(
        "psql -c EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON): median {:.1} ms",
        p.as_secs_f64() * 1e3
    );
    println!(
        "pgdiag explain --format json:                  median {:.1} ms",
        d.as_secs_f64() * 1e3
    );
    println!(
        "overhead: {:+.1}%",
        (d.as_secs_f64() / p.as_secs_f64() - 1.0) * 100.0
    );
    pg.stop().await?;
    Ok(())
}
