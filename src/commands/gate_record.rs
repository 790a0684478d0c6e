//! Recording plans for `baseline` and `check`: walk the query files, plan (or run) every statement
//! over a small connection pool with a progress bar, and read the environment that shapes plans
//! (server version, planner settings, table sizes).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};

use crate::diagnose::{DiagnoseConfig, diagnose_with};
use crate::gate::{
    AnalyzeRuns, BASELINE_SCHEMA_VERSION, Baseline, QueryBaseline, ServerVersion, Timing,
    record_plan,
};
use crate::pg::{
    self, ConnectionSettings, ExplainOptions, ParamValue, Runner, SqlStatement, split_statements,
};
use crate::plan::{analyze, parse_explain_value};

use super::interrupted;

/// Planner settings recorded with a baseline, besides every `enable_*`: the ones that change
/// costs or plan choices.
const PLANNER_SETTINGS: &[&str] = &[
    "cpu_index_tuple_cost",
    "cpu_operator_cost",
    "cpu_tuple_cost",
    "default_statistics_target",
    "effective_cache_size",
    "effective_io_concurrency",
    "from_collapse_limit",
    "geqo",
    "geqo_threshold",
    "hash_mem_multiplier",
    "jit",
    "jit_above_cost",
    "jit_inline_above_cost",
    "jit_optimize_above_cost",
    "join_collapse_limit",
    "maintenance_work_mem",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "min_parallel_index_scan_size",
    "min_parallel_table_scan_size",
    "parallel_setup_cost",
    "parallel_tuple_cost",
    "plan_cache_mode",
    "random_page_cost",
    "seq_page_cost",
    "work_mem",
];

/// How to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// `Some(runs)`: EXPLAIN ANALYZE that many times (median timing, findings); `None`: plan only.
    pub analyze_runs: Option<u32>,
    /// Connections used in parallel.
    pub jobs: usize,
    pub timeout: Duration,
    pub diagnose: DiagnoseConfig,
}

/// One query file, read and split.
#[derive(Debug, Clone)]
pub struct QueryFile {
    /// The path as recorded in the baseline (relative as given, `/` separators, no `./`).
    pub name: String,
    pub statements: Vec<SqlStatement>,
}

/// `.sql` files under the given paths (directories walked, sorted for a stable order).
pub fn collect_sql_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = BTreeSet::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| anyhow!("cannot read {}: {}", path.display(), io_reason(&e)))?;
        if meta.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.insert(path.clone());
        }
    }
    if files.is_empty() {
        return Err(anyhow!(
            "no .sql files found under {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(files.into_iter().collect())
}

fn walk(dir: &Path, files: &mut BTreeSet<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow!("cannot read {}: {}", dir.display(), io_reason(&e)))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let file_type = entry.file_type()?;
        if file_type.is_dir() && !hidden {
            walk(&path, files)?;
        } else if file_type.is_file() && path.extension().is_some_and(|e| e == "sql") {
            files.insert(path);
        }
    }
    Ok(())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The name a file is recorded under: as given, `/`-separated, without a leading `./`.
pub fn file_name(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").unwrap_or(&text).to_owned()
}

/// Read and split every file; a file that cannot be read or holds no statement is an error.
pub fn read_query_files(paths: &[PathBuf]) -> anyhow::Result<Vec<QueryFile>> {
    paths
        .iter()
        .map(|path| {
            let text = super::explain::read_text(path)?;
            let statements =
                split_statements(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            Ok(QueryFile {
                name: file_name(path),
                statements,
            })
        })
        .collect()
}

/// Plan (or run) every statement of `files` and return the result as a baseline, with the
/// current row counts of the relations the plans scan sequentially.
pub async fn record(
    settings: &ConnectionSettings,
    files: &[QueryFile],
    options: &RecordOptions,
) -> anyhow::Result<(Baseline, BTreeMap<String, f64>)> {
    let mut main = tokio::select! {
        r = Runner::connect(settings) => r?,
        () = interrupted() => return Err(pg::Error::Interrupted.into()),
    };
    let planner_settings = read_planner_settings(&main).await?;

    let jobs: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(f, file)| (0..file.statements.len()).map(move |s| (f, s)))
        .collect();
    let total = jobs.len();
    let queue = Arc::new(Mutex::new(
        jobs.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let progress = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {msg} [{bar:30}] {pos}/{len} queries ({elapsed}, eta {eta})",
    ) {
        progress.set_style(style.progress_chars("=> "));
    }
    progress.set_message(if options.analyze_runs.is_some() {
        "running"
    } else {
        "planning"
    });

    let workers = options.jobs.clamp(1, total.max(1));
    let mut runners = Vec::with_capacity(workers);
    for _ in 1..workers {
        runners.push(Runner::connect(settings).await?);
    }
    let shared_files = Arc::new(files.to_vec());
    let mut handles = Vec::with_capacity(workers);
    // The first worker reuses the main connection; it is handed back for the catalog read below.
    let (main_tx, main_rx) = tokio::sync::oneshot::channel();
    {
        let queue = queue.clone();
        let files = shared_files.clone();
        let options = options.clone();
        let progress = progress.clone();
        handles.push(tokio::spawn(async move {
            let result = worker(&mut main, &queue, &files, &options, &progress).await;
            let _ = main_tx.send(main);
            result
        }));
    }
    for mut runner in runners {
        let queue = queue.clone();
        let files = shared_files.clone();
        let options = options.clone();
        let progress = progress.clone();
        handles.push(tokio::spawn(async move {
            worker(&mut runner, &queue, &files, &options, &progress).await
        }));
    }
    let mut results: Vec<Option<QueryBaseline>> = vec![None; total];
    let mut failure = None;
    for handle in handles {
        match handle.await {
            Ok(Ok(done)) => {
                for (slot, query) in done {
                    results[slot] = Some(query);
                }
            }
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(anyhow!("a worker crashed: {e}"))),
        }
    }
    progress.finish_and_clear();
    if let Some(e) = failure {
        return Err(e);
    }
    let main = main_rx
        .await
        .map_err(|_| anyhow!("the main connection was lost"))?;

    let mut queries: Vec<QueryBaseline> = results.into_iter().flatten().collect();
    queries.sort_by(|a, b| (a.file.as_str(), a.statement).cmp(&(b.file.as_str(), b.statement)));
    let relations: BTreeSet<String> = queries
        .iter()
        .filter_map(|q| q.plan.as_ref())
        .flat_map(|p| p.seq_scans.iter().cloned())
        .collect();
    let relation_rows = read_relation_rows(&main, &relations).await?;
    let baseline = Baseline {
        schema_version: BASELINE_SCHEMA_VERSION,
        pgdiag_version: env!("CARGO_PKG_VERSION").to_owned(),
        server: ServerVersion {
            version: main.server_version().to_owned(),
            version_num: main.server_version_num(),
        },
        settings: planner_settings,
        analyze: options.analyze_runs.map(|runs| AnalyzeRuns { runs }),
        queries,
    };
    Ok((baseline, relation_rows))
}

/// Takes statements off the shared queue until it is empty.
async fn worker(
    runner: &mut Runner,
    queue: &Mutex<VecDeque<(usize, (usize, usize))>>,
    files: &[QueryFile],
    options: &RecordOptions,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<(usize, QueryBaseline)>> {
    let mut done = Vec::new();
    loop {
        let next = queue
            .lock()
            .map_err(|_| anyhow!("work queue poisoned"))?
            .pop_front();
        let Some((slot, (f, s))) = next else {
            return Ok(done);
        };
        let file = &files[f];
        let statement = &file.statements[s];
        let query = record_statement(runner, file, statement, options).await?;
        done.push((slot, query));
        progress.inc(1);
    }
}

/// One statement: its plan, or the error that stopped it. Errors that end the whole run
/// (interrupted, connection lost) are returned as `Err`.
async fn record_statement(
    runner: &mut Runner,
    file: &QueryFile,
    statement: &SqlStatement,
    options: &RecordOptions,
) -> anyhow::Result<QueryBaseline> {
    let params = statement.params.clone().unwrap_or_default();
    let explain_options = |analyze| ExplainOptions {
        analyze,
        timeout: options.timeout,
        params: params
            .iter()
            .map(|p| match p {
                Some(v) => ParamValue::Text(v.clone()),
                None => ParamValue::Null,
            })
            .collect(),
    };
    let mut query = QueryBaseline {
        id: format!("{}#{}", file.name, statement.index),
        file: file.name.clone(),
        statement: statement.index,
        line: statement.line,
        sql: statement.text.clone(),
        params: params.clone(),
        plan: None,
        error: None,
    };
    let runs = options.analyze_runs.unwrap_or(1).max(1);
    let mut samples = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let output = match runner
            .explain(
                statement,
                &explain_options(options.analyze_runs.is_some()),
                interrupted(),
            )
            .await
        {
            Ok(output) => output,
            Err(e @ (pg::Error::Interrupted | pg::Error::Client(_))) => return Err(e.into()),
            Err(pg::Error::ParamCount { needed, given }) => {
                query.error = Some(format!(
                    "the statement has {needed} parameter(s) but {given} value(s): add a comment `-- pgdiag: params v1, v2, ...` before it"
                ));
                return Ok(query);
            }
            Err(e) => {
                query.error = Some(match &e {
                    pg::Error::Server(s) => s.summary(),
                    other => other.to_string(),
                });
                return Ok(query);
            }
        };
        let explain = parse_explain_value(output.document)
            .map_err(|e| anyhow!("{}: unreadable EXPLAIN output: {e}", query.id))?
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("{}: EXPLAIN returned no plan", query.id))?;
        samples.push(explain);
    }
    if options.analyze_runs.is_some() {
        // The median run by execution time stands for the query.
        samples.sort_by(|a, b| {
            a.execution_time_ms
                .unwrap_or(0.0)
                .total_cmp(&b.execution_time_ms.unwrap_or(0.0))
        });
        let times: Vec<f64> = samples
            .iter()
            .map(|e| e.execution_time_ms.unwrap_or(0.0))
            .collect();
        let median = &samples[samples.len() / 2];
        let analysis = analyze(median);
        let diagnosis = diagnose_with(median, &analysis, &options.diagnose);
        let timing = Timing {
            runs,
            median_ms: round3(times[times.len() / 2]),
            min_ms: round3(times[0]),
            max_ms: round3(times[times.len() - 1]),
        };
        query.plan = Some(record_plan(median, Some(&diagnosis), Some(timing)));
    } else {
        query.plan = Some(record_plan(&samples[0], None, None));
    }
    Ok(query)
}

fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

async fn read_planner_settings(runner: &Runner) -> anyhow::Result<BTreeMap<String, String>> {
    let names: Vec<String> = PLANNER_SETTINGS.iter().map(|s| s.to_string()).collect();
    let rows = runner
        .client()
        .query(
            "SELECT name, current_setting(name) FROM pg_settings \
             WHERE name LIKE 'enable\\_%' OR name = ANY($1) ORDER BY name",
            &[&names],
        )
        .await
        .map_err(pg::Error::from)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// `pg_class.reltuples` of the given `schema.table` names (or bare names, resolved on the search
/// path). Never-analysed tables (-1) are left out: their size is unknown.
async fn read_relation_rows(
    runner: &Runner,
    relations: &BTreeSet<String>,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut rows = BTreeMap::new();
    for relation in relations {
        let found = runner
            .client()
            .query_opt(
                "SELECT c.reltuples::float8 FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname || '.' || c.relname = $1 \
                    OR (c.relname = $1 AND pg_table_is_visible(c.oid)) \
                 LIMIT 1",
                &[relation],
            )
            .await
            .map_err(pg::Error::from)?;
        if let Some(row) = found {
            let tuples: f64 = row.get(0);
            if tuples >= 0.0 {
                rows.insert(relation.clone(), tuples);
            }
        }
    }
    Ok(rows)
}
