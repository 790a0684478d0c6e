//! `pgdiag explain`: read SQL (or a saved plan), explain each statement safely, analyse the plan
//! and render the report.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};

use crate::advise::statement::index_candidates;
use crate::advise::{Candidate, bound_include, drop_useless_include};
use crate::cli::{ExplainArgs, ExplainFormat, FailOn};
use crate::diagnose::{DiagnoseConfig, Finding, SchemaFacts};
use crate::input::{self, Origin};
use crate::pg::{self, ExplainOptions, Runner};
use crate::plan::{Explain, RawPlan, analyze, parse_explain};
use crate::report::{
    self, ErrorReport, ExplainReport, Source, SourceKind, StatementReport, TextStyle,
};

use super::{Outcome, interrupted};

/// Run `pgdiag explain`. Statement-level failures are reported and make the outcome an error
/// (exit 2) after the remaining statements have been explained. With `--output FILE` the report
/// goes to that file instead of `out`.
pub async fn run(
    args: &ExplainArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    style: TextStyle,
) -> anyhow::Result<Outcome> {
    let Some(path) = &args.output_file else {
        return run_to(args, out, err, style).await;
    };
    let mut file = super::ReportFile::create(path)?;
    let outcome = run_to(args, &mut file, err, style.in_a_file()).await;
    file.finish()?;
    outcome
}

async fn run_to(
    args: &ExplainArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    style: TextStyle,
) -> anyhow::Result<Outcome> {
    let diagnose_config = args.diagnose.resolve()?;
    if let Some(plan_path) = &args.plan {
        return run_offline(plan_path, args, &diagnose_config, out, style);
    }
    let workload_mode = args.workload.given();
    let (mut statements, mut source, mut several) = if workload_mode {
        (
            Vec::new(),
            Source {
                kind: SourceKind::Workload,
                path: None,
            },
            true,
        )
    } else {
        let sources = input::read(&args.files, args.command.as_deref())?;
        let cli_params = input::cli_params(&args.param, args.params_json.as_deref())?;
        let statements = input::statements(&sources, cli_params.as_deref())?;
        (statements, report_source(&sources), sources.len() > 1)
    };
    let execute = !args.no_analyze;

    let settings = super::connection_settings(&args.connection).await?;
    let mut runner = tokio::select! {
        r = Runner::connect(&settings) => r?,
        () = interrupted() => return Err(pg::Error::Interrupted.into()),
    };
    runner.allow_side_effects(args.allow_side_effects);
    if args.output.format == ExplainFormat::Text {
        report::write_target_line(out, &settings.describe(), runner.server_version())?;
    }
    if workload_mode {
        // The statements the database ran, the most time-consuming first, each named with how
        // often it runs.
        let workload = super::read_workload(&args.workload, &settings, &runner).await?;
        let taken = crate::suggest::workload::inputs(
            runner.client(),
            &workload,
            args.workload.top as usize,
            execute,
        )
        .await?;
        if taken.inputs.is_empty() {
            return Err(anyhow!(
                "the workload holds no statement to explain ({} left out: utility statements, hidden texts)",
                taken.section.skipped.len()
            ));
        }
        statements = taken
            .inputs
            .into_iter()
            .zip(&taken.section.statements)
            .map(|(input, entry)| {
                let rate = match entry.calls_per_hour {
                    Some(h) => format!("{} calls/h", crate::units::fmt_count(h)),
                    None => format!("{} calls", crate::units::fmt_count(entry.calls as f64)),
                };
                let mut label = format!(
                    "{} · {rate} · mean {} ms · {:.1}% of the time",
                    input.source,
                    crate::units::fmt_ms(entry.mean_ms),
                    entry.share_pct
                );
                if let Some(reason) = &entry.generic_reason {
                    label.push_str(&format!(" · generic plan: {reason}"));
                }
                input::Statement {
                    origin: Origin::Workload(label),
                    statement: input.statement,
                    params: input.params,
                }
            })
            .collect();
        source = Source {
            kind: SourceKind::Workload,
            path: taken.section.path.clone(),
        };
        several = true;
    }
    let server = runner.server_info(settings.describe());
    let mut report = ExplainReport::new(source, Some(server));
    let total = statements.len();
    let mut failed = false;
    let mut workload_failures = 0;

    for (position, item) in statements.iter().enumerate() {
        // Statements are numbered across all the inputs; each keeps its own file and line.
        let index = position + 1;
        let statement = &item.statement;
        let options = ExplainOptions {
            analyze: execute,
            timeout: args.timeout,
            // No values at all: a statement with `$n` fails with a message saying how to give them.
            params: item.params.clone().unwrap_or_default(),
        };
        let origin = several.then(|| item.origin.to_string());
        let spinner = progress_spinner(index, total, statement.line, execute);
        let mut result = runner.explain(statement, &options, interrupted()).await;
        // `$n` and no values at all: without ANALYZE the generic plan answers (valid for any
        // values); with ANALYZE the values are needed, and the error says how to give them.
        // A workload's statement whose values could not be sampled: its generic plan too.
        let generic = (!execute || matches!(item.origin, Origin::Workload(_)))
            && item.params.is_none()
            && matches!(result, Err(pg::Error::ParamCount { given: 0, .. }));
        if generic {
            result = runner
                .explain_generic(statement, args.timeout, interrupted())
                .await;
        }
        spinner.finish_and_clear();
        let entry = match result {
            Ok(output) => {
                let explains = output
                    .document
                    .explains()
                    .with_context(|| format!("statement {index}: unreadable EXPLAIN output"))?;
                let explain = explains
                    .into_iter()
                    .next()
                    .ok_or_else(|| anyhow!("statement {index}: EXPLAIN returned no plan"))?;
                let analysis = analyze(&explain);
                // The catalog's facts about the plan's tables (unindexed foreign keys, how current their
                // statistics are) for diagnosis.
                let diagnose_config = DiagnoseConfig {
                    facts: SchemaFacts {
                        unindexed_foreign_keys: pg::catalog::unindexed_foreign_keys_of_plan(
                            runner.client(),
                            &explain,
                        )
                        .await
                        .with_context(|| format!("statement {index}: reading foreign keys"))?,
                        table_statistics: pg::catalog::table_statistics_of_plan(
                            runner.client(),
                            &explain,
                        )
                        .await
                        .with_context(|| {
                            format!("statement {index}: reading the tables' statistics")
                        })?,
                    },
                    ..diagnose_config.clone()
                };
                let raw = Some(output.document);
                let mut entry = StatementReport::explained(
                    index,
                    Some(statement.line),
                    Some(statement.text.clone()),
                    &explain,
                    &analysis,
                    raw,
                    &diagnose_config,
                );
                let mut candidates = suggested_indexes(&explain, &entry);
                for candidate in &mut candidates {
                    // INCLUDE as `suggest` bounds it; a catalog that cannot be read keeps none.
                    let types = pg::catalog::column_types(
                        runner.client(),
                        candidate.schema.as_deref(),
                        &candidate.table,
                    )
                    .await
                    .unwrap_or_default();
                    // As suggest does for a statement's own candidates, before any merging.
                    *candidate = drop_useless_include(bound_include(candidate.clone(), &types));
                }
                name_suggested_indexes(&mut entry, &candidates);
                entry.rolled_back = output.rolled_back;
                entry.writes = output.writes;
                entry.side_effects = output.side_effects.iter().map(Into::into).collect();
                entry.parameters = options.params.len();
                entry.generic_plan = generic;
                entry.source = origin;
                entry
            }
            Err(mut e) => {
                // In workload mode a statement the server cannot plan from its normalized text is
                // reported, and fails the run only when none could be planned.
                failed |= !workload_mode;
                workload_failures += 1;
                let hint = without_values_hint(&mut e, execute, item.params.is_none());
                let line = match &e {
                    pg::Error::Server(s) => s.line.unwrap_or(statement.line),
                    _ => statement.line,
                };
                let mut error_report = ErrorReport::from_pg(&e);
                if let Some(hint) = &hint {
                    error_report.hint = Some(hint.clone());
                }
                let mut entry = StatementReport::failed(
                    index,
                    Some(statement.line),
                    Some(statement.text.clone()),
                    error_report,
                );
                entry.source = origin;
                let location = report.location(&entry, line);
                let location = match &e {
                    pg::Error::Server(s) => match s.column {
                        Some(c) => format!("{location}:{c}"),
                        None => location,
                    },
                    _ => location,
                };
                writeln!(err, "pgdiag: {location}: {e}")?;
                if let Some(hint) = &hint {
                    writeln!(err, "  hint: {hint}")?;
                }
                let stop = matches!(e, pg::Error::Interrupted | pg::Error::Client(_));
                if stop {
                    // Already printed above: the outcome, not the error, so that main does not
                    // print it a second time.
                    report.statements.push(entry);
                    emit(out, &report, args.output.format)?;
                    return Ok(Outcome::Failed);
                }
                entry
            }
        };
        if args.output.format == ExplainFormat::Text && entry.error.is_none() {
            if !report.statements.is_empty() {
                writeln!(out)?;
            }
            report::text::render_statement(out, &report, &entry, total, style)?;
        }
        report.statements.push(entry);
    }
    emit(out, &report, args.output.format)?;
    if workload_mode && workload_failures == total {
        failed = true;
    }
    Ok(if failed {
        Outcome::Failed
    } else {
        gate(&report, args.fail_on)
    })
}

/// A statement with `$n` failed for want of what pgdiag can say: with ANALYZE and no values at
/// all, the values are needed (the returned hint offers the generic plan instead). When nothing in
/// the statement gives a parameter its type (`$1 IS NULL`), the server cannot plan it, with or
/// without values: its error gets a hint saying to cast it, in place.
fn without_values_hint(error: &mut pg::Error, execute: bool, no_values: bool) -> Option<String> {
    match error {
        pg::Error::ParamCount { given: 0, .. } if execute && no_values => Some(
            "EXPLAIN ANALYZE runs the statement, which needs its values; --no-analyze plans it without them (the generic plan, valid for any values)".into(),
        ),
        pg::Error::Server(server) if server.code == "42P18" && server.hint.is_none() => {
            server.hint = Some(
                "nothing in the statement gives this $n a type: cast it, e.g. $1::int".into(),
            );
            None
        }
        _ => None,
    }
}

/// `--fail-on`: exit 1 when any finding reaches the given severity.
fn gate(report: &ExplainReport, fail_on: Option<FailOn>) -> Outcome {
    let Some(threshold) = fail_on.map(FailOn::severity) else {
        return Outcome::Ok;
    };
    let reached = report
        .statements
        .iter()
        .flat_map(|s| &s.findings)
        .any(|f| f.severity >= threshold);
    if reached {
        Outcome::GateFailed
    } else {
        Outcome::Ok
    }
}

/// A spinner on stderr while a statement runs (hidden when stderr is not a terminal, so pipes,
/// files and CI logs stay clean).
fn progress_spinner(index: usize, total: usize, line: usize, analyze: bool) -> ProgressBar {
    let spinner = super::shown_on_terminal(ProgressBar::new_spinner());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        spinner.set_style(style);
    }
    let verb = if analyze { "running" } else { "planning" };
    spinner.set_message(format!("{verb} statement {index}/{total} (line {line})"));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

/// The whole-document formats, written once every statement is done (and on an early stop, with
/// what was done so far); text was written statement by statement.
fn emit(out: &mut impl Write, report: &ExplainReport, format: ExplainFormat) -> anyhow::Result<()> {
    match format {
        ExplainFormat::Text => {}
        ExplainFormat::Json => report::render_json(out, report)?,
        ExplainFormat::Html => report::html::render_explain(out, report)?,
    }
    Ok(())
}

fn run_offline(
    path: &Path,
    args: &ExplainArgs,
    diagnose_config: &DiagnoseConfig,
    out: &mut impl Write,
    style: TextStyle,
) -> anyhow::Result<Outcome> {
    let origin = Origin::from_arg(path);
    let text = input::read_arg(path)?;
    let name = origin.to_string();
    let explains = parse_explain(&text).with_context(|| name.clone())?;
    let report = offline_report(
        Source {
            kind: SourceKind::PlanFile,
            path: Some(name),
        },
        &explains,
        diagnose_config,
    );
    match args.output.format {
        ExplainFormat::Text => report::text::render(out, &report, style)?,
        format => emit(out, &report, format)?,
    }
    Ok(gate(&report, args.fail_on))
}

/// The report for saved plans: each plan analysed as it is, no database involved.
pub fn offline_report(
    source: Source,
    explains: &[Explain],
    diagnose_config: &DiagnoseConfig,
) -> ExplainReport {
    let mut report = ExplainReport::new(source, None);
    for (i, explain) in explains.iter().enumerate() {
        let analysis = analyze(explain);
        let raw = RawPlan::from_explains(&[explain]).ok();
        let mut entry =
            StatementReport::explained(i + 1, None, None, explain, &analysis, raw, diagnose_config);
        // No catalog to tell which columns have a bounded size: no INCLUDE at all.
        let candidates: Vec<Candidate> = suggested_indexes(explain, &entry)
            .into_iter()
            .map(|c| bound_include(c, &[]))
            .collect();
        name_suggested_indexes(&mut entry, &candidates);
        report.statements.push(entry);
    }
    report
}

/// The index candidates `suggest` derives for this statement's findings (one engine:
/// [`index_candidates`]); on a plan without timings the findings are those of the rules that judge
/// estimates (`suggest` adds the scans that carry much of the cost).
fn suggested_indexes(explain: &Explain, entry: &StatementReport) -> Vec<Candidate> {
    let findings: Vec<Finding> = entry.findings.iter().map(|f| f.finding.clone()).collect();
    index_candidates(explain, &findings).candidates
}

/// Each finding names the `CREATE INDEX` that `suggest` would propose for its node, built as
/// `suggest` prints it.
fn name_suggested_indexes(entry: &mut StatementReport, candidates: &[Candidate]) {
    for finding in &mut entry.findings {
        finding.suggested_index = candidates
            .iter()
            .find(|c| c.nodes.contains(&finding.node_id))
            .map(|c| c.ddl(&c.index_name()));
    }
}

/// The report's `source`: the one input, or, for several, SQL files with no single path (each
/// statement then names its own).
fn report_source(sources: &[input::Source]) -> Source {
    match sources {
        [one] => match &one.origin {
            Origin::File(path) => Source {
                kind: SourceKind::SqlFile,
                path: Some(path.display().to_string()),
            },
            Origin::Stdin => Source {
                kind: SourceKind::Stdin,
                path: None,
            },
            Origin::Command => Source {
                kind: SourceKind::Command,
                path: None,
            },
            Origin::Workload(_) => Source {
                kind: SourceKind::Workload,
                path: None,
            },
        },
        _ => Source {
            kind: SourceKind::SqlFile,
            path: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::synthetic::deep_plan;

    /// A plan far deeper than serde_json's nesting limit goes through every stage (parse,
    /// analysis, diagnosis, advice, the report, text and JSON rendering, drop) on a thread with a
    /// tokio worker's 2 MiB stack.
    #[test]
    fn deep_plans_go_through_every_stage_on_a_small_stack() {
        let worker = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                for levels in [1_000, 10_000] {
                    let explains = parse_explain(&deep_plan(levels)).unwrap();
                    let report = offline_report(
                        Source {
                            kind: SourceKind::PlanFile,
                            path: None,
                        },
                        &explains,
                        &DiagnoseConfig::default(),
                    );
                    let statement = &report.statements[0];
                    assert_eq!(statement.nodes.len(), 2 * levels - 1);
                    assert_eq!(statement.nodes.last().unwrap().metrics.depth, 1);
                    let mut json = Vec::new();
                    report::render_json(&mut json, &report).unwrap();
                    let mut text = Vec::new();
                    let style = TextStyle {
                        color: false,
                        width: None,
                        verbose: false,
                    };
                    report::text::render(&mut text, &report, style).unwrap();
                    assert!(String::from_utf8(text).unwrap().contains("[depth "));
                    let copy = explains.clone();
                    drop((report, explains, copy, json));
                }
            })
            .unwrap();
        worker.join().unwrap();
    }
}
