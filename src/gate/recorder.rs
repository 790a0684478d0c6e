//! Recording plans for `baseline` and `check`: plan (or run) every statement of the query files
//! over a few connections, and read the environment that shapes plans (server version, planner
//! settings, table sizes). The only part of the gate that talks to a server; everything it
//! produces is compared by the pure [`super::compare()`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diagnose::{DiagnoseConfig, diagnose_with};
use crate::input::{self, InputError, Origin};
use crate::pg::{
    self, ConnectionSettings, ExplainOptions, Runner, SqlStatement, environment, run_pooled,
};
use crate::plan::analyze;
use crate::plan::{Explain, PlanNodes};

use super::noise::{QueryRuns, RunEvidence};
use super::{
    AnalyzeRuns, BASELINE_SCHEMA_VERSION, Baseline, FindingRecord, QueryBaseline, RelationSizes,
    ServerVersion, Timing, growth, record_plan,
};

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

/// Why a recording stopped. A statement the server rejects does not stop it: it is recorded with
/// its error.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Interrupted, or the connection was lost.
    #[error(transparent)]
    Pg(#[from] pg::Error),
    #[error("{id}: unreadable EXPLAIN output: {reason}")]
    UnreadablePlan { id: String, reason: String },
    #[error("{0}: EXPLAIN returned no plan")]
    NoPlan(String),
}

/// How to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// `Some(runs)`: EXPLAIN ANALYZE that many times (median timing, findings); `None`: plan only.
    pub analyze_runs: Option<u32>,
    /// Connections used in parallel.
    pub jobs: usize,
    pub timeout: Duration,
    pub diagnose: DiagnoseConfig,
    /// With `analyze_runs`: every run is also diagnosed at thresholds `1 + finding_margin` times
    /// harder and easier ([`RunEvidence`], for the comparison's hysteresis).
    pub finding_margin: f64,
    /// The table sizes of the baseline being checked or re-recorded: a size within a few percent
    /// of its recorded value is recorded as that value ([`growth::relation_size`]), so unchanged
    /// data neither churns the file nor reads as growth.
    pub previous_sizes: RelationSizes,
}

/// A recording: the baseline document, the current row counts of the relations its plans scan
/// sequentially, what each `--analyze` run saw, and each query's plan with its nodes' figures.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub baseline: Baseline,
    pub relation_rows: BTreeMap<String, f64>,
    pub runs: RunEvidence,
    /// Each planned query's plan (the median run's with `--analyze`), by query id: what the
    /// baseline file leaves out, for a report to draw ([`super::CheckReport::keep_current_plans`]).
    pub plans: BTreeMap<String, PlanNodes>,
}

/// One query file, read and split.
#[derive(Debug, Clone)]
pub struct QueryFile {
    /// The path as recorded in the baseline (relative as given, `/` separators, no `./`).
    pub name: String,
    pub statements: Vec<SqlStatement>,
}

/// The name a file is recorded under: as given, `/`-separated, without a leading `./`.
pub fn file_name(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").unwrap_or(&text).to_owned()
}

/// Read and split the files under `paths` (directories expanded as [`input::expand`] does); a
/// file that cannot be read or holds no statement is an error. Standard input is refused: a
/// baseline names each query by its file.
pub fn read_query_files(paths: &[PathBuf]) -> Result<Vec<QueryFile>, InputError> {
    input::expand(paths)?
        .into_iter()
        .map(|origin| {
            let Origin::File(path) = &origin else {
                return Err(InputError::StdinRefused(
                    "a baseline names each query by its file; give .sql files or directories",
                ));
            };
            let name = file_name(path);
            let source = input::Source {
                text: input::read_file(path)?,
                origin,
            };
            Ok(QueryFile {
                name,
                statements: source.statements()?,
            })
        })
        .collect()
}

/// Plan (or run) every statement of `files` and return the result as a baseline (with the sizes
/// of the relations the plans read, rounded), and the exact current row counts of those relations
/// for the seq-scan size threshold. `interrupt` makes the future
/// that cancels a running statement (Ctrl-C); `on_recorded` is called after each statement.
pub async fn record<I, F>(
    settings: &ConnectionSettings,
    files: &[QueryFile],
    options: &RecordOptions,
    interrupt: I,
    on_recorded: &(dyn Fn() + Sync),
) -> Result<(Baseline, BTreeMap<String, f64>), RecordError>
where
    I: Fn() -> F,
    F: Future<Output = ()>,
{
    let recorded = record_runs(settings, files, options, interrupt, on_recorded).await?;
    Ok((recorded.baseline, recorded.relation_rows))
}

/// [`record`], keeping what every `--analyze` run saw ([`Recorded::runs`]).
pub async fn record_runs<I, F>(
    settings: &ConnectionSettings,
    files: &[QueryFile],
    options: &RecordOptions,
    interrupt: I,
    on_recorded: &(dyn Fn() + Sync),
) -> Result<Recorded, RecordError>
where
    I: Fn() -> F,
    F: Future<Output = ()>,
{
    let mut main = tokio::select! {
        r = Runner::connect(settings) => r?,
        () = interrupt() => return Err(pg::Error::Interrupted.into()),
    };
    let planner_settings = environment::planner_settings(main.client(), PLANNER_SETTINGS).await?;

    let statements: Vec<(&QueryFile, &SqlStatement)> = files
        .iter()
        .flat_map(|file| file.statements.iter().map(move |s| (file, s)))
        .collect();
    let recorded = run_pooled(
        &mut main,
        settings,
        options.jobs,
        &statements,
        async |runner: &mut Runner, (file, statement): &(&QueryFile, &SqlStatement)| {
            let query = record_statement(runner, file, statement, options, &interrupt).await;
            on_recorded();
            query
        },
    )
    .await?;
    let mut queries = Vec::with_capacity(recorded.len());
    let mut runs = RunEvidence::default();
    let mut plans = BTreeMap::new();
    for (query, query_runs, plan) in recorded {
        if let Some(query_runs) = query_runs {
            runs.queries.insert(query.id.clone(), query_runs);
        }
        if let Some(plan) = plan {
            plans.insert(query.id.clone(), plan);
        }
        queries.push(query);
    }

    queries.sort_by(|a, b| (a.file.as_str(), a.statement).cmp(&(b.file.as_str(), b.statement)));
    let relations: BTreeSet<&String> = queries
        .iter()
        .filter_map(|q| q.plan.as_ref())
        .flat_map(|p| p.relations.iter().chain(&p.seq_scans))
        .collect();
    let relations: Vec<String> = relations.into_iter().cloned().collect();
    let stats = environment::relation_stats(main.client(), &relations).await?;
    let relation_rows: BTreeMap<String, f64> = stats
        .iter()
        // Never-analysed tables (-1) are left out: their size is unknown.
        .filter(|(_, stats)| stats.reltuples >= 0.0)
        .map(|(relation, stats)| (relation.clone(), stats.reltuples))
        .collect();
    let sizes = stats
        .iter()
        .map(|(relation, stats)| {
            let previous = options.previous_sizes.get(relation);
            let size = growth::relation_size(stats.reltuples, stats.relpages, previous);
            (relation.clone(), size)
        })
        .collect();
    let baseline = Baseline {
        schema_version: BASELINE_SCHEMA_VERSION,
        pgdiag_version: env!("CARGO_PKG_VERSION").to_owned(),
        server: ServerVersion {
            version: main.server_version().to_owned(),
            version_num: main.server_version_num(),
        },
        settings: planner_settings,
        analyze: options.analyze_runs.map(|runs| AnalyzeRuns { runs }),
        relations: sizes,
        queries,
    };
    Ok(Recorded {
        baseline,
        relation_rows,
        runs,
        plans,
    })
}

/// One statement: its plan, or the error that stopped it, with `--analyze` what each run saw, and
/// the plan's nodes.
/// Errors that end the whole run (interrupted, connection lost) are returned as `Err`.
async fn record_statement<I, F>(
    runner: &mut Runner,
    file: &QueryFile,
    statement: &SqlStatement,
    options: &RecordOptions,
    interrupt: &I,
) -> Result<(QueryBaseline, Option<QueryRuns>, Option<PlanNodes>), RecordError>
where
    I: Fn() -> F,
    F: Future<Output = ()>,
{
    let params = statement.params.clone().unwrap_or_default();
    let explain_options = ExplainOptions {
        analyze: options.analyze_runs.is_some(),
        timeout: options.timeout,
        params: input::comment_params(&params),
    };
    let mut query = QueryBaseline {
        id: format!("{}#{}", file.name, statement.index),
        file: file.name.clone(),
        statement: statement.index,
        line: statement.line,
        sql: statement.text.clone(),
        params,
        plan: None,
        error: None,
    };
    let runs = options.analyze_runs.unwrap_or(1).max(1);
    let mut samples = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let output = match runner
            .explain(statement, &explain_options, interrupt())
            .await
        {
            Ok(output) => output,
            Err(e @ (pg::Error::Interrupted | pg::Error::Client(_))) => return Err(e.into()),
            Err(pg::Error::ParamCount { needed, given }) => {
                query.error = Some(format!(
                    "the statement has {needed} parameter(s) but {given} value(s): add a comment `-- pgdiag: params v1, v2, ...` before it"
                ));
                return Ok((query, None, None));
            }
            Err(e) => {
                query.error = Some(match &e {
                    pg::Error::Server(s) => s.summary(),
                    other => other.to_string(),
                });
                return Ok((query, None, None));
            }
        };
        let explain = output
            .document
            .explains()
            .map_err(|e| RecordError::UnreadablePlan {
                id: query.id.clone(),
                reason: e.to_string(),
            })?
            .into_iter()
            .next()
            .ok_or_else(|| RecordError::NoPlan(query.id.clone()))?;
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
        let query_runs = runs_evidence(&samples, options);
        let timing = Timing {
            runs,
            median_ms: round3(times[times.len() / 2]),
            min_ms: round3(times[0]),
            max_ms: round3(times[times.len() - 1]),
        };
        query.plan = Some(record_plan(median, Some(&diagnosis), Some(timing)));
        return Ok((query, Some(query_runs), Some(PlanNodes::of(median))));
    }
    query.plan = Some(record_plan(&samples[0], None, None));
    Ok((query, None, Some(PlanNodes::of(&samples[0]))))
}

/// Every run diagnosed at the normal thresholds and at the strict and loose ones around them.
fn runs_evidence(samples: &[Explain], options: &RecordOptions) -> QueryRuns {
    let factor = 1.0 + options.finding_margin.max(0.0);
    let at = |factor: f64| DiagnoseConfig {
        thresholds: options.diagnose.thresholds.scaled(factor),
        ..options.diagnose.clone()
    };
    let (strict, loose) = (at(factor), at(1.0 / factor));
    let mut runs = QueryRuns::default();
    for sample in samples {
        let analysis = analyze(sample);
        let findings = |config: &DiagnoseConfig| -> Vec<FindingRecord> {
            record_plan(
                sample,
                Some(&diagnose_with(sample, &analysis, config)),
                None,
            )
            .findings
        };
        runs.add_run(
            &findings(&options.diagnose),
            &findings(&strict),
            &findings(&loose),
        );
    }
    runs
}

fn round3(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}
