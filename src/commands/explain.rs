//! `pgdiag explain`: read SQL (or a saved plan), explain each statement safely, analyse the plan
//! and render the report.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{ExplainArgs, FailOn, OutputFormat};
use crate::diagnose::DiagnoseConfig;
use crate::pg::{
    self, ConnectionSettings, ExplainOptions, ParamValue, ProcessEnv, Runner, SplitError,
    split_statements,
};
use crate::plan::{Explain, analyze, parse_explain, parse_explain_value};
use crate::report::{
    self, ErrorReport, ExplainReport, Source, SourceKind, StatementReport, TextStyle,
};

use super::{Outcome, interrupted};

/// Run `pgdiag explain`. Statement-level failures are reported and make the outcome an error
/// (exit 2) after the remaining statements have been explained.
pub async fn run(
    args: &ExplainArgs,
    out: &mut impl Write,
    err: &mut impl Write,
    style: TextStyle,
) -> anyhow::Result<Outcome> {
    let diagnose_config = args.diagnose.resolve()?;
    if let Some(plan_path) = &args.plan {
        return run_offline(plan_path, args, &diagnose_config, out, style);
    }
    let (sql, source) = read_sql(args)?;
    let statements = split_statements(&sql).map_err(|e| match e {
        SplitError::Empty => anyhow!("{}: {e}", source_name(&source)),
    })?;

    let params = match &args.params_json {
        Some(json) => ParamValue::from_json_array(json).map_err(|e| anyhow!(e))?,
        None => args.param.iter().cloned().map(ParamValue::Text).collect(),
    };
    let options = ExplainOptions {
        analyze: !args.no_analyze,
        timeout: args.timeout,
        params,
    };

    let settings = ConnectionSettings::resolve(args.connection.dsn.as_deref(), &ProcessEnv)?;
    let mut runner = tokio::select! {
        r = Runner::connect(&settings) => r?,
        () = interrupted() => return Err(pg::Error::Interrupted.into()),
    };
    let server = runner.server_info(settings.describe());
    let mut report = ExplainReport::new(source, Some(server));
    let total = statements.len();
    let mut failed = false;

    for statement in &statements {
        let spinner = progress_spinner(statement.index, total, statement.line, options.analyze);
        let result = runner.explain(statement, &options, interrupted()).await;
        spinner.finish_and_clear();
        let entry = match result {
            Ok(output) => {
                let explains = parse_explain_value(output.document.clone()).with_context(|| {
                    format!("statement {}: unreadable EXPLAIN output", statement.index)
                })?;
                let explain = explains.into_iter().next().ok_or_else(|| {
                    anyhow!("statement {}: EXPLAIN returned no plan", statement.index)
                })?;
                let analysis = analyze(&explain);
                let raw = Some(output.document);
                let mut entry = StatementReport::explained(
                    statement.index,
                    Some(statement.line),
                    Some(statement.text.clone()),
                    &explain,
                    &analysis,
                    raw,
                    &diagnose_config,
                );
                entry.rolled_back = output.rolled_back;
                entry.writes = output.writes;
                entry.parameters = options.params.len();
                entry
            }
            Err(e) => {
                failed = true;
                let location = report.source.location(match &e {
                    pg::Error::Server(s) => s.line.unwrap_or(statement.line),
                    _ => statement.line,
                });
                let location = match &e {
                    pg::Error::Server(s) => match s.column {
                        Some(c) => format!("{location}:{c}"),
                        None => location,
                    },
                    _ => location,
                };
                writeln!(err, "pgdiag: {location}: {e}")?;
                let stop = matches!(e, pg::Error::Interrupted | pg::Error::Client(_));
                let entry = StatementReport::failed(
                    statement.index,
                    Some(statement.line),
                    Some(statement.text.clone()),
                    ErrorReport::from_pg(&e),
                );
                if stop {
                    report.statements.push(entry);
                    emit(out, &report, args.output.format)?;
                    return Err(e.into());
                }
                entry
            }
        };
        if args.output.format == OutputFormat::Text && entry.error.is_none() {
            if !report.statements.is_empty() {
                writeln!(out)?;
            }
            report::text::render_statement(out, &report, &entry, total, style)?;
        }
        report.statements.push(entry);
    }
    if args.output.format == OutputFormat::Json {
        report::render_json(out, &report)?;
    }
    Ok(if failed {
        Outcome::Failed
    } else {
        gate(&report, args.fail_on)
    })
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
    let spinner = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        spinner.set_style(style);
    }
    let verb = if analyze { "running" } else { "planning" };
    spinner.set_message(format!("{verb} statement {index}/{total} (line {line})"));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

/// On an early stop, JSON consumers still get the document with what was done so far.
fn emit(out: &mut impl Write, report: &ExplainReport, format: OutputFormat) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        report::render_json(out, report)?;
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
    let (text, name) = if path == Path::new("-") {
        (read_stdin()?, "<stdin>".to_owned())
    } else {
        (read_text(path)?, path.display().to_string())
    };
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
        OutputFormat::Text => report::text::render(out, &report, style)?,
        OutputFormat::Json => report::render_json(out, &report)?,
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
        let raw = serde_json::to_value(explain).ok();
        report.statements.push(StatementReport::explained(
            i + 1,
            None,
            None,
            explain,
            &analysis,
            raw,
            diagnose_config,
        ));
    }
    report
}

fn source_name(source: &Source) -> String {
    match (&source.kind, &source.path) {
        (_, Some(p)) => p.clone(),
        (SourceKind::Stdin, None) => "<stdin>".into(),
        _ => "-c".into(),
    }
}

fn read_sql(args: &ExplainArgs) -> anyhow::Result<(String, Source)> {
    if let Some(sql) = &args.command {
        return Ok((
            sql.clone(),
            Source {
                kind: SourceKind::Command,
                path: None,
            },
        ));
    }
    let path = args
        .file
        .as_deref()
        .ok_or_else(|| anyhow!("give a SQL file, - for standard input, or -c SQL"))?;
    if path == Path::new("-") {
        let text = read_stdin()?;
        return Ok((
            text,
            Source {
                kind: SourceKind::Stdin,
                path: None,
            },
        ));
    }
    Ok((
        read_text(path)?,
        Source {
            kind: SourceKind::SqlFile,
            path: Some(path.display().to_string()),
        },
    ))
}

fn read_stdin() -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    decode_text(bytes, "<stdin>")
}

/// Read a text file, refusing binary content with a clear message.
pub(crate) fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            std::io::ErrorKind::IsADirectory => "is a directory".to_owned(),
            _ => e.to_string(),
        };
        anyhow!("cannot read {}: {reason}", path.display())
    })?;
    decode_text(bytes, &path.display().to_string())
}

fn decode_text(bytes: Vec<u8>, name: &str) -> anyhow::Result<String> {
    if let Some(pos) = bytes.iter().position(|b| *b == 0) {
        return Err(anyhow!(
            "{name} is not a text file (NUL byte at offset {pos}); expected SQL or EXPLAIN JSON"
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{name} is not UTF-8 text (invalid byte at offset {}); expected SQL or EXPLAIN JSON",
            e.utf8_error().valid_up_to()
        )
    })
}
