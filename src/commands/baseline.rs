//! `pgdiag baseline`: record every query's plan into a committed baseline file.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::BaselineArgs;
use crate::gate::Baseline;
use crate::pg::{ConnectionSettings, ProcessEnv};

use super::Outcome;
use super::gate_record::{RecordOptions, collect_sql_files, read_query_files, record};

pub async fn run(args: &BaselineArgs, out: &mut impl Write) -> anyhow::Result<Outcome> {
    let config = args.diagnose.resolve_all()?;
    let files = read_query_files(&collect_sql_files(&args.paths)?)?;
    let settings = ConnectionSettings::resolve(args.connection.dsn.as_deref(), &ProcessEnv)?;
    let options = RecordOptions {
        analyze_runs: args.analyze.then_some(args.runs),
        jobs: args.run.jobs,
        timeout: args.run.timeout,
        diagnose: config.diagnose,
    };
    let (baseline, _) = record(&settings, &files, &options).await?;
    write_baseline(&args.out, &baseline)?;
    writeln!(out, "{}", describe(&baseline, &args.out))?;
    Ok(Outcome::Ok)
}

/// One line saying what was recorded and where.
pub fn describe(baseline: &Baseline, path: &Path) -> String {
    let failing = baseline
        .queries
        .iter()
        .filter(|q| q.error.is_some())
        .count();
    let files: std::collections::BTreeSet<&str> =
        baseline.queries.iter().map(|q| q.file.as_str()).collect();
    let mut line = format!(
        "recorded {} quer{} from {} file{} (PostgreSQL {}{}) into {}",
        baseline.queries.len(),
        if baseline.queries.len() == 1 {
            "y"
        } else {
            "ies"
        },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        baseline.server.version,
        match baseline.analyze {
            Some(a) => format!(", EXPLAIN ANALYZE × {}", a.runs),
            None => String::new(),
        },
        path.display()
    );
    if failing > 0 {
        line.push_str(&format!(
            "; {failing} could not be planned (recorded with their error)"
        ));
    }
    line
}

/// Write the baseline as stable, pretty JSON ending with a newline (friendly to diffs and
/// editors). Written to a temporary file first so a failure never leaves half a baseline.
pub fn write_baseline(path: &Path, baseline: &Baseline) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(baseline)?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
