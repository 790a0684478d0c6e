//! Benchmark: `pgdiag baseline` and `pgdiag check` on 500 query files against a throwaway
//! PostgreSQL, reporting wall time and the CPU time pgdiag itself used, to show the run is
//! dominated by the database, not the tool.
//!
//! Run with `scripts/bench-check-scale [FILES] [JOBS]` (release build of pgdiag).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use pgdiag::embedded::EmbeddedPostgres;

fn children_cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(usage.user_time()) + tv(usage.system_time())
}

fn run(cmd: &mut Command) -> (Duration, Duration, i32) {
    let cpu_before = children_cpu();
    let started = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run pgdiag");
    (
        started.elapsed(),
        children_cpu() - cpu_before,
        status.code().unwrap_or(-1),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let files: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let jobs: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(4);
    let pgdiag = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/pgdiag");
    anyhow::ensure!(pgdiag.exists(), "build it first: cargo build --release");
    let pg = EmbeddedPostgres::builder().start().await?;
    let client = pg.connect("postgres").await?;
    for t in 0..20 {
        client
            .batch_execute(&format!(
                "CREATE TABLE t{t} (id int PRIMARY KEY, a int NOT NULL, b text NOT NULL);
                 INSERT INTO t{t} SELECT g, g % 100, md5(g::text) FROM generate_series(1, 20000) g;
                 CREATE INDEX ON t{t} (a);"
            ))
            .await?;
    }
    client.batch_execute("ANALYZE").await?;
    let dir = tempfile::tempdir()?;
    for i in 0..files {
        let (x, y) = (i % 20, (i * 7 + 3) % 20);
        let sql = match i % 4 {
            0 => format!("SELECT * FROM t{x} WHERE a = {};\n", i % 100),
            1 => format!(
                "-- pgdiag: params {}\nSELECT count(*) FROM t{x} JOIN t{y} USING (id) WHERE t{x}.a = $1;\n",
                i % 100
            ),
            2 => format!("SELECT a, count(*) FROM t{x} GROUP BY a ORDER BY 2 DESC LIMIT 5;\n"),
            _ => format!(
                "SELECT * FROM t{x} WHERE id BETWEEN {} AND {};\nSELECT b FROM t{y} WHERE b LIKE 'ab%';\n",
                i,
                i + 50
            ),
        };
        std::fs::write(dir.path().join(format!("q{i:04}.sql")), sql)?;
    }
    // The floor: the same EXPLAINs through one psql session (no transaction, no analysis).
    let mut script = String::new();
    for i in 0..files {
        let text = std::fs::read_to_string(dir.path().join(format!("q{i:04}.sql")))?;
        for stmt in text
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.starts_with("--"))
        {
            let stmt = stmt.replace("$1", &(i % 100).to_string());
            let stmt = stmt
                .lines()
                .filter(|l| !l.starts_with("--"))
                .collect::<Vec<_>>()
                .join(" ");
            script.push_str(&format!(
                "EXPLAIN (VERBOSE, SETTINGS, FORMAT JSON) {stmt};\n"
            ));
        }
    }
    let script_path = dir.path().join("all.psql");
    std::fs::write(&script_path, script)?;
    let psql = pg.bin_dir().join("psql");
    let port = pg.port().to_string();
    let (wall_p, cpu_p, code_p) = run(Command::new(&psql).args([
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
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        script_path.to_str().unwrap(),
    ]));
    anyhow::ensure!(code_p == 0, "psql failed");
    let url = pg.url("postgres");
    let baseline = dir.path().join("baseline.json");
    let jobs_arg = jobs.to_string();
    let (wall_b, cpu_b, code_b) = run(Command::new(&pgdiag).args([
        "baseline",
        dir.path().to_str().unwrap(),
        "--dsn",
        &url,
        "--jobs",
        &jobs_arg,
        "--out",
        baseline.to_str().unwrap(),
    ]));
    anyhow::ensure!(code_b == 0, "baseline failed");
    let (wall_c, cpu_c, code_c) = run(Command::new(&pgdiag).args([
        "check",
        dir.path().to_str().unwrap(),
        "--dsn",
        &url,
        "--jobs",
        &jobs_arg,
        "--baseline",
        baseline.to_str().unwrap(),
        "--format",
        "json",
    ]));
    anyhow::ensure!(
        code_c == 0,
        "check reported regressions on an unchanged database"
    );
    let queries = files + files / 4;
    println!(
        "{files} files, {queries} queries, {jobs} connections, PostgreSQL {}",
        pg.server_version()
    );
    for (name, wall, cpu) in [
        ("psql -f (the same EXPLAINs, one session)", wall_p, cpu_p),
        ("pgdiag baseline", wall_b, cpu_b),
        ("pgdiag check", wall_c, cpu_c),
    ] {
        println!(
            "{name:<42} wall {:>6.0} ms   client CPU {:>5.0} ms ({:.0}% of wall)",
            wall.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3,
            cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
        );
    }
    pg.stop().await?;
    Ok(())
}
