//! `pgdiag baseline`: record every query's plan into a committed baseline file.

use std::io::Write;

use crate::cli::BaselineArgs;
use crate::gate::{
    RecordOptions, describe, load_baseline, read_query_files, record, write_baseline,
};

use super::{Outcome, interrupted, record_progress};

pub async fn run(args: &BaselineArgs, out: &mut impl Write) -> anyhow::Result<Outcome> {
    let config = args.diagnose.resolve_all()?;
    let files = read_query_files(&args.paths)?;
    let settings = super::connection_settings(&args.connection).await?;
    let options = RecordOptions {
        analyze_runs: args.analyze.then_some(args.runs),
        jobs: args.run.jobs,
        timeout: args.run.timeout,
        diagnose: config.diagnose,
        finding_margin: config.check.finding_margin,
        // Re-recording over an earlier baseline keeps the table sizes that moved by only a few
        // percent (autovacuum, ANALYZE sampling), so the file changes when the data does. An
        // unreadable earlier file is simply replaced.
        previous_sizes: load_baseline(&args.out)
            .map(|previous| previous.relations)
            .unwrap_or_default(),
    };
    let progress = record_progress(&files, &options);
    let recorded = record(&settings, &files, &options, interrupted, &|| {
        progress.inc(1)
    })
    .await;
    progress.finish_and_clear();
    let (baseline, _) = recorded?;
    write_baseline(&args.out, &baseline)?;
    crate::report::write_target_line(out, &settings.describe(), &baseline.server.version)?;
    writeln!(out, "{}", describe(&baseline, &args.out))?;
    Ok(Outcome::Ok)
}
