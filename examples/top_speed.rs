//! Benchmark: `pgdiag top` over 5,000 `pg_stat_statements` entries, on a throwaway PostgreSQL
//! (`pg_stat_statements.max` raised from its default 5,000 to 10,000 so none is evicted): whole
//! processes (start, connect, read the view, rank, print), median of N runs, beside `psql`
//! reading the same view, the top 20 sorted by the server and every entry.
//!
//! The entries are 5,000 distinct statements (50 tables × 100 columns, each `SELECT cK, id FROM
//! tJ WHERE id = $1 AND cK > $2`), run once each through the extended protocol.
//!
//! Run with `scripts/bench-top [RUNS]` (release build of pgdiag).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pgdiag::embedded::EmbeddedPostgres;

const TABLES: usize = 50;
const COLUMNS: usize = 100;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
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
        .unwrap_or(11);
    let pgdiag = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/pgdiag");
    anyhow::ensure!(pgdiag.exists(), "build it first: cargo build --release");
    let pg = EmbeddedPostgres::builder()
        .setting("pg_stat_statements.max", "10000")
        .start()
        .await?;
    let client = pg.connect("postgres").await?;
    let columns: Vec<String> = (0..COLUMNS)
        .map(|c| format!("c{c} int DEFAULT 1"))
        .collect();
    let mut setup = String::from(
        "CREATE EXTENSION pg_stat_statements; SET pg_stat_statements.track = 'none';\n",
    );
    for t in 0..TABLES {
        setup.push_str(&format!(
            "CREATE TABLE t{t} (id int PRIMARY KEY, {});\nINSERT INTO t{t} (id) SELECT generate_series(1, 100);\n",
            columns.join(", ")
        ));
    }
    setup.push_str("RESET pg_stat_statements.track; SELECT pg_stat_statements_reset();");
    client.batch_execute(&setup).await?;
    let generating = Instant::now();
    for t in 0..TABLES {
        for c in 0..COLUMNS {
            let sql = format!("SELECT c{c}, id FROM t{t} WHERE id = $1 AND c{c} > $2");
            client
                .query(&sql, &[&((t * c % 100) as i32), &0i32])
                .await?;
        }
    }
    let entries: i64 = client
        .query_one("SELECT count(*) FROM pg_stat_statements", &[])
        .await?
        .get(0);
    println!(
        "pg_stat_statements entries: {entries} ({} statements generated in {:.1} s)",
        TABLES * COLUMNS,
        generating.elapsed().as_secs_f64()
    );

    let psql = pg.bin_dir().join("psql");
    let psql = if psql.exists() {
        psql
    } else {
        PathBuf::from("psql")
    };
    let port = pg.port().to_string();
    let url = pg.url("postgres");
    let cases: [(&str, Vec<&str>); 3] = [
        ("pgdiag top (text, 20)", vec!["top", "--dsn", &url]),
        (
            "pgdiag top --format json (20)",
            vec!["top", "--dsn", &url, "--format", "json"],
        ),
        (
            "pgdiag top --format json --limit 0 (all)",
            vec!["top", "--dsn", &url, "--format", "json", "--limit", "0"],
        ),
    ];
    let psql_sql = "SELECT queryid, calls, total_exec_time, mean_exec_time, rows, query \
                    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20";
    let psql_all = "SELECT * FROM pg_stat_statements";
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cases.len() + 2];
    // One warm-up round, then alternate so drift hits every case alike.
    for round in 0..runs + 1 {
        let p = time(Command::new(&psql).args([
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
            psql_sql,
        ]));
        let all = time(Command::new(&psql).args([
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
            psql_all,
        ]));
        let mut round_times = vec![p, all];
        for (_, args) in &cases {
            round_times.push(time(Command::new(&pgdiag).args(args)));
        }
        if round > 0 {
            for (i, t) in round_times.into_iter().enumerate() {
                times[i].push(t);
            }
        }
    }
    println!("runs: {runs} each, alternating, after one warm-up; whole processes");
    let mut medians = times.into_iter().map(median);
    println!(
        "{:<44} median {:>7.1} ms",
        "psql, the view sorted by the server (20)",
        ms(medians.next().unwrap())
    );
    println!(
        "{:<44} median {:>7.1} ms",
        "psql, every entry (SELECT * FROM the view)",
        ms(medians.next().unwrap())
    );
    for ((name, _), m) in cases.iter().zip(medians) {
        println!("{name:<44} median {:>7.1} ms", ms(m));
    }
    pg.stop().await?;
    Ok(())
}
