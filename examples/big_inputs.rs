//! Writes the large and deep inputs the performance figures and tests use, so that no
//! multi-megabyte file lives in the repository:
//!
//! ```text
//! cargo run --example big_inputs -- wide 10000 > wide.json     # 10,000-node plan
//! cargo run --example big_inputs -- deep 1000 > deep.json      # 1,000-level plan
//! cargo run --example big_inputs -- statement 50 > big.sql     # one 50 MB statement
//! ```

use std::io::{self, BufWriter, Write};

use pgdiag::plan::synthetic::{deep_plan, wide_plan};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, size) = match args.as_slice() {
        [kind, size] => match size.parse::<usize>() {
            Ok(size) => (kind.as_str(), size),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    match kind {
        "wide" => out.write_all(wide_plan(size).as_bytes())?,
        "deep" => out.write_all(deep_plan(size).as_bytes())?,
        "statement" => write_statement(&mut out, size * 1024 * 1024)?,
        _ => return usage(),
    }
    out.flush()
}

/// `SELECT count(*) FROM t0 WHERE id IN (0,1,2,...)` of about `bytes` bytes: the statement an
/// ORM sends for a long list of ids.
fn write_statement(out: &mut impl Write, bytes: usize) -> io::Result<()> {
    let head = "SELECT count(*) FROM t0 WHERE id IN (0";
    out.write_all(head.as_bytes())?;
    let mut written = head.len();
    let mut id = 1u64;
    while written < bytes {
        let item = format!(",{}", id % 1_000_000);
        out.write_all(item.as_bytes())?;
        written += item.len();
        id += 1;
    }
    out.write_all(b");\n")
}

fn usage() -> io::Result<()> {
    eprintln!("usage: big_inputs wide NODES | deep LEVELS | statement MEGABYTES");
    std::process::exit(2);
}
