//! `--from-log`'s reader on a large generated log: `generate MB FILE` writes a realistic stderr
//! log of about MB megabytes (`log_line_prefix = '%m [%p] user=%u,db=%d '`: simple-protocol
//! statements with varied constants, some over several lines, extended-protocol parse/bind/execute
//! lines with their parameters, `auto_explain` plans, checkpoints and errors), `read FILE` times
//! `read_log` on it. `scripts/bench-log` runs both on a temporary file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// A small deterministic generator (xorshift), so every run writes the same log.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generate(megabytes: u64, path: &Path) -> Result<()> {
    let target = megabytes * 1024 * 1024;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).context("create")?);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut written = 0u64;
    let mut ms_clock = 1_764_633_600_000u64; // 2025-12-02 00:00:00 UTC
    let statuses = ["open", "paid", "shipped", "cancelled", "it''s late"];
    while written < target {
        ms_clock += rng.below(5);
        let secs = ms_clock / 1000;
        let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        let day = 2 + secs / 86_400 % 28;
        let prefix = format!(
            "2025-12-{day:02} {h:02}:{m:02}:{s:02}.{:03} UTC [{}] user=app{},db=shop ",
            ms_clock % 1000,
            1000 + rng.below(200),
            rng.below(3)
        );
        let ms = (rng.below(100_000) as f64) / 1000.0;
        let line = match rng.below(1000) {
            0..=349 => format!(
                "{prefix}LOG:  duration: {ms:.3} ms  statement: SELECT id, total, status FROM orders WHERE customer_id = {} AND status = '{}' ORDER BY created_at DESC LIMIT {}\n",
                rng.below(1_000_000),
                statuses[rng.below(5) as usize],
                10 + rng.below(3) * 10
            ),
            350..=499 => format!(
                "{prefix}LOG:  duration: {ms:.3} ms  statement: UPDATE accounts SET balance = balance + {}.{:02}, updated_at = now() WHERE id = {}\n",
                rng.below(500),
                rng.below(100),
                rng.below(100_000)
            ),
            500..=599 => format!(
                "{prefix}LOG:  duration: {ms:.3} ms  statement: SELECT p.id, p.name, avg(r.rating)\n\t  FROM products p\n\t  JOIN reviews r ON r.product_id = p.id -- ratings\n\t WHERE p.category_id IN ({}, {}, {}) AND r.created_at > DATE '2025-{:02}-01'\n\t GROUP BY p.id, p.name\n",
                rng.below(50),
                rng.below(50),
                rng.below(50),
                1 + rng.below(12)
            ),
            600..=899 => {
                let id = rng.below(1_000_000);
                format!(
                    "{prefix}LOG:  duration: 0.0{} ms  parse <unnamed>: SELECT * FROM sessions WHERE token = $1 AND expires_at > $2\n\
                     {prefix}LOG:  duration: 0.0{} ms  bind <unnamed>: SELECT * FROM sessions WHERE token = $1 AND expires_at > $2\n\
                     {prefix}DETAIL:  parameters: $1 = 'tok-{id:x}', $2 = '2025-12-02 10:00:00+00'\n\
                     {prefix}LOG:  duration: {ms:.3} ms  execute <unnamed>: SELECT * FROM sessions WHERE token = $1 AND expires_at > $2\n\
                     {prefix}DETAIL:  parameters: $1 = 'tok-{id:x}', $2 = '2025-12-02 10:00:00+00'\n",
                    rng.below(90) + 10,
                    rng.below(90) + 10
                )
            }
            900..=989 => format!(
                "{prefix}LOG:  duration: {ms:.3} ms  statement: INSERT INTO events (kind, payload, at) VALUES ('click', '{{\"page\": {}}}', now()), ('view', NULL, now())\n",
                rng.below(10_000)
            ),
            990..=994 => format!(
                "{prefix}LOG:  duration: {:.3} ms  plan:\n\tQuery Text: SELECT count(*) FROM orders WHERE customer_id = {}\n\tAggregate  (cost=20834.50..20834.51 rows=1 width=8) (actual time=80.1..80.2 rows=1 loops=1)\n\t  ->  Seq Scan on orders  (cost=0.00..20834.00 rows=200 width=0) (actual time=0.02..80.0 rows=190 loops=1)\n\t        Filter: (customer_id = {})\n\t        Rows Removed by Filter: 999810\n",
                80.0 + ms,
                rng.below(1000),
                rng.below(1000)
            ),
            995..=997 => format!(
                "{prefix}ERROR:  duplicate key value violates unique constraint \"orders_pkey\"\n{prefix}DETAIL:  Key (id)=({}) already exists.\n{prefix}STATEMENT:  INSERT INTO orders (id) VALUES ({})\n",
                rng.below(1000),
                rng.below(1000)
            ),
            _ => format!(
                "{prefix}LOG:  checkpoint complete: wrote {} buffers (0.1%); 0 WAL file(s) added, 0 removed, 0 recycled\n",
                rng.below(1000)
            ),
        };
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    out.flush()?;
    Ok(())
}

fn read(path: &Path) -> Result<()> {
    let started = Instant::now();
    let workload = pgdiag::input::read_log(path, &mut |_, _| {})?;
    let elapsed = started.elapsed();
    let size = std::fs::metadata(path)?.len();
    let pgdiag::input::WorkloadSource::Log {
        lines,
        statement_lines,
        skipped,
        ..
    } = workload.source
    else {
        bail!("not a log workload");
    };
    println!(
        "{:.0} MB, {lines} lines, {statement_lines} executions, {skipped} skipped, {} statements: {:.1} s ({:.0} MB/s)",
        size as f64 / 1e6,
        workload.statements.len(),
        elapsed.as_secs_f64(),
        size as f64 / 1e6 / elapsed.as_secs_f64()
    );
    for s in workload.ranked(pgdiag::input::OrderBy::TotalTime, Some(5), 0) {
        println!(
            "  {:>9} calls {:>12.1} ms  {}",
            s.calls, s.total_ms, s.query
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["generate", mb, file] => generate(mb.parse().context("MB")?, Path::new(file)),
        ["read", file] => read(Path::new(file)),
        _ => bail!("usage: log_speed generate MB FILE | log_speed read FILE"),
    }
}
