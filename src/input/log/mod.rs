//! PostgreSQL server logs read into a [`Workload`]: every execution the log gives a duration for
//! (`log_min_duration_statement`'s `statement:` and `execute …:` lines with their `DETAIL:
//! parameters:`, `auto_explain`'s `plan:` output in text or JSON), normalized like
//! `pg_stat_statements` (see [`normalize`]) and grouped by (text, database, user).
//!
//! The format (stderr with any `log_line_prefix`, csvlog, jsonlog) is found from the first lines.
//! The file is streamed line by line, never held whole in memory. Parse and bind durations,
//! `log_statement` lines without a duration, errors and everything else are skipped and counted.
//!
//! When both `log_min_duration_statement` and `auto_explain` log the same statements, each
//! execution appears twice; a group's figures come from whichever of the two kinds of line gave
//! it more calls, so nothing is counted twice, and its plan from `auto_explain`.

mod formats;
mod message;
pub mod normalize;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;

use formats::Entry;
use message::Message;

use super::workload::{Workload, WorkloadSource, WorkloadStatement};

/// Why a log could not be read. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("cannot read {path} at line {line}: {reason}")]
    Read {
        path: String,
        line: u64,
        reason: String,
    },
    #[error("{path} is empty: there is no log to read")]
    Empty { path: String },
    #[error(
        "{path} is not a PostgreSQL server log ({reason}); expected stderr lines like \
         `2026-01-01 00:00:00 UTC [42] LOG:  duration: 1.0 ms  statement: …`, csvlog or jsonlog"
    )]
    NotALog { path: String, reason: String },
}

/// The layout of a server log (`log_destination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Stderr,
    Csv,
    Json,
}

impl LogFormat {
    /// The name `log_destination` gives it: `stderr`, `csvlog`, `jsonlog`.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Stderr => "stderr",
            LogFormat::Csv => "csvlog",
            LogFormat::Json => "jsonlog",
        }
    }
}

/// How much of the start of a file is looked at to tell its format.
const SNIFF_BYTES: usize = 64 * 1024;
/// How often progress is reported, in bytes.
const PROGRESS_EVERY: u64 = 4 * 1024 * 1024;

/// Reads the log at `path` (its format found from its first lines). `progress` is called with
/// the bytes read so far and the file's size, every few megabytes and at the end.
pub fn read_log(path: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Workload, LogError> {
    read_log_as(path, None, progress)
}

/// [`read_log`] with the format given (`None`: found from the content).
pub fn read_log_as(
    path: &Path,
    format: Option<LogFormat>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Workload, LogError> {
    let name = path.display().to_string();
    let unreadable = |e: std::io::Error| LogError::Unreadable {
        path: name.clone(),
        reason: super::text::io_reason(&e),
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_dir() {
        return Err(LogError::Unreadable {
            path: name,
            reason: "is a directory".into(),
        });
    }
    let size = meta.len();
    let mut sample = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(unreadable)?;
    if sample.iter().all(u8::is_ascii_whitespace) {
        return Err(LogError::Empty { path: name });
    }
    let detected =
        sniff(&sample, sample.len() < SNIFF_BYTES).map_err(|reason| LogError::NotALog {
            path: name.clone(),
            reason,
        })?;
    let format = format.unwrap_or(detected);
    drop(file);
    let file = File::open(path).map_err(unreadable)?;
    let short_name = path
        .file_name()
        .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
    let mut reader = Reader {
        input: BufReader::with_capacity(1 << 20, file),
        path: name.clone(),
        line: 0,
        bytes: 0,
        size,
        next_progress: PROGRESS_EVERY,
        buf: Vec::with_capacity(4096),
    };
    let mut groups = Groups::new(short_name);
    match format {
        LogFormat::Stderr => read_stderr(&mut reader, &mut groups, progress)?,
        LogFormat::Csv => read_csv(&mut reader, &mut groups, progress)?,
        LogFormat::Json => read_json(&mut reader, &mut groups, progress)?,
    }
    groups.flush();
    // A log still being written may have grown since its size was taken.
    progress(reader.bytes, size.max(reader.bytes));
    if groups.entries == 0 {
        return Err(LogError::NotALog {
            path: name,
            reason: format!("no {} message in {} lines", format.name(), reader.line),
        });
    }
    Ok(groups.finish(name, format, reader.line))
}

/// The format of a log from its first bytes; why it is none of them otherwise.
fn sniff(sample: &[u8], whole: bool) -> Result<LogFormat, String> {
    if let Some(at) = sample.iter().position(|&b| b == 0) {
        return Err(format!("binary data: a NUL byte at offset {at}"));
    }
    let text = String::from_utf8_lossy(sample);
    let mut lines: Vec<&str> = text.lines().collect();
    if !whole && lines.len() > 1 {
        lines.pop(); // possibly cut short
    }
    let first = lines
        .iter()
        .find(|l| !l.trim().is_empty())
        .copied()
        .unwrap_or("");
    if first.starts_with('{') && formats::json_entry(1, first).is_some() {
        return Ok(LogFormat::Json);
    }
    if formats::parse_timestamp(first).is_some() && (first.contains(",\"") || first.contains(",,"))
    {
        // csvlog: the first record, possibly over several lines.
        let mut record = String::new();
        for line in &lines {
            if !record.is_empty() {
                record.push('\n');
            }
            record.push_str(line);
            if formats::csv_complete(&record) {
                break;
            }
        }
        if formats::csv_entry(1, &record).is_some() {
            return Ok(LogFormat::Csv);
        }
    }
    if lines
        .iter()
        .take(200)
        .any(|l| formats::split_stderr(l).is_some())
    {
        return Ok(LogFormat::Stderr);
    }
    let shown: String = first.chars().take(80).collect();
    Err(format!(
        "line 1 reads `{shown}`: no `LOG:  `, csvlog record or jsonlog object in its first lines"
    ))
}

/// Lines of the file, counted, with progress.
struct Reader {
    input: BufReader<File>,
    path: String,
    line: u64,
    bytes: u64,
    size: u64,
    next_progress: u64,
    buf: Vec<u8>,
}

impl Reader {
    /// The next line without its line break (`\n` or `\r\n`), invalid UTF-8 replaced; `None` at
    /// the end.
    fn next_line(
        &mut self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Option<String>, LogError> {
        self.buf.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| LogError::Read {
                path: self.path.clone(),
                line: self.line + 1,
                reason: super::text::io_reason(&e),
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        self.bytes += n as u64;
        if self.bytes >= self.next_progress {
            progress(self.bytes, self.size.max(self.bytes));
            self.next_progress = self.bytes + PROGRESS_EVERY;
        }
        let mut end = self.buf.len();
        if self.buf[..end].ends_with(b"\n") {
            end -= 1;
        }
        if self.buf[..end].ends_with(b"\r") {
            end -= 1;
        }
        let bytes = &self.buf[..end];
        Ok(Some(match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }))
    }
}

fn read_stderr(
    reader: &mut Reader,
    groups: &mut Groups,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), LogError> {
    let mut current: Option<Entry> = None;
    while let Some(line) = reader.next_line(progress)? {
        if let Some(rest) = line.strip_prefix('\t') {
            match current.as_mut() {
                Some(entry) => {
                    entry.message.push('\n');
                    entry.message.push_str(rest);
                }
                None => groups.skipped += 1,
            }
            continue;
        }
        match formats::split_stderr(&line) {
            Some((prefix, severity, message)) => {
                if let Some(entry) = current.take() {
                    groups.entry(entry);
                }
                current = Some(formats::stderr_entry(
                    reader.line,
                    prefix,
                    severity,
                    message,
                ));
            }
            None if line.is_empty() => {}
            None => groups.skipped += 1,
        }
    }
    if let Some(entry) = current.take() {
        groups.entry(entry);
    }
    Ok(())
}

fn read_csv(
    reader: &mut Reader,
    groups: &mut Groups,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), LogError> {
    let mut record = String::new();
    let mut start = 0;
    while let Some(line) = reader.next_line(progress)? {
        if record.is_empty() {
            start = reader.line;
            record = line;
        } else {
            record.push('\n');
            record.push_str(&line);
        }
        if !formats::csv_complete(&record) {
            continue;
        }
        match formats::csv_entry(start, &record) {
            Some(entry) => groups.entry(entry),
            None if record.is_empty() => {}
            None => groups.skipped += 1,
        }
        record.clear();
    }
    if !record.is_empty() {
        // An unterminated quoted field: the file was cut short.
        groups.skipped += 1;
    }
    Ok(())
}

fn read_json(
    reader: &mut Reader,
    groups: &mut Groups,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), LogError> {
    while let Some(line) = reader.next_line(progress)? {
        if line.trim().is_empty() {
            continue;
        }
        match formats::json_entry(reader.line, &line) {
            Some(entry) => groups.entry(entry),
            None => groups.skipped += 1,
        }
    }
    Ok(())
}

/// Count, mean, spread and extremes of a series (Welford's online algorithm).
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    n: u64,
    mean: f64,
    m2: f64,
    total: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn add(&mut self, x: f64) {
        if self.n == 0 {
            self.min = x;
            self.max = x;
        }
        self.n += 1;
        self.total += x;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Population standard deviation.
    fn stddev(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            (self.m2 / self.n as f64).sqrt()
        }
    }
}

/// One normalized statement's figures while the log is read.
#[derive(Debug)]
struct Group {
    query: String,
    database: Option<String>,
    user: Option<String>,
    statements: Stats,
    plans: Stats,
    first_seen: String,
    query_id: Option<i64>,
    sample_params: Option<Vec<Option<String>>>,
    /// Whether `sample_params` has the values of every `$n` the server had.
    sample_complete: bool,
    logged_plan: Option<String>,
}

/// An execution read, waiting for a `DETAIL:  parameters:` message that may follow it.
#[derive(Debug)]
struct Execution {
    entry: Entry,
    ms: f64,
    sql: String,
    plan: Option<String>,
    params: Option<Vec<Option<String>>>,
}

/// Statement texts without constants (a prepared statement's `$1` …) normalized already: the
/// same text is tokenized once. Texts with constants rarely repeat and are not kept.
const CACHE_LIMIT: usize = 10_000;

/// The statements found so far.
#[derive(Debug)]
struct Groups {
    file: String,
    /// Normalized text → the groups with that text (one per database and user).
    index: HashMap<String, Vec<usize>>,
    groups: Vec<Group>,
    cache: HashMap<String, normalize::Normalized>,
    normalizer: normalize::Normalizer,
    pending: Option<Execution>,
    /// Messages read (any severity), executions among them, messages and lines skipped.
    entries: u64,
    executions: u64,
    skipped: u64,
    first: Option<f64>,
    last: Option<f64>,
}

impl Groups {
    fn new(file: String) -> Self {
        Groups {
            file,
            index: HashMap::new(),
            groups: Vec::new(),
            cache: HashMap::new(),
            normalizer: normalize::Normalizer::default(),
            pending: None,
            entries: 0,
            executions: 0,
            skipped: 0,
            first: None,
            last: None,
        }
    }

    /// One message of the log.
    fn entry(&mut self, entry: Entry) {
        self.entries += 1;
        if let Some(t) = entry.timestamp {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        if entry.severity == "DETAIL" {
            // stderr logs an execution's parameters as the message after it.
            if let Some(pending) = self.pending.as_mut()
                && pending.params.is_none()
                && let Some(params) = message::parse_parameters(&entry.message)
            {
                pending.params = Some(params);
            } else {
                self.skipped += 1;
            }
            return;
        }
        self.flush();
        if entry.severity != "LOG" {
            self.skipped += 1;
            return;
        }
        let (ms, sql, plan, params) = match message::classify(&entry.message) {
            Message::Statement { ms, sql } => (ms, sql.to_owned(), None, None),
            Message::Plan {
                ms,
                sql,
                params,
                plan,
            } => (ms, sql, Some(plan), params),
            Message::Other => {
                self.skipped += 1;
                return;
            }
        };
        let params = params.or_else(|| entry.detail.as_deref().and_then(message::parse_parameters));
        self.pending = Some(Execution {
            entry,
            ms,
            sql,
            plan,
            params,
        });
    }

    /// Records the execution waiting for its parameters.
    fn flush(&mut self) {
        let Some(execution) = self.pending.take() else {
            return;
        };
        self.executions += 1;
        let normalized = match self.cache.get(&execution.sql) {
            Some(n) => n.clone(),
            None => {
                let n = self.normalizer.normalize(&execution.sql);
                if n.constants.is_empty() {
                    if self.cache.len() >= CACHE_LIMIT {
                        self.cache.clear();
                    }
                    self.cache.insert(execution.sql.clone(), n.clone());
                }
                n
            }
        };
        let Execution {
            mut entry,
            ms,
            plan,
            params,
            ..
        } = execution;
        let (database, user) = entry.names();
        let groups = &self.groups;
        let found = self.index.get(normalized.text.as_str()).and_then(|ats| {
            ats.iter()
                .copied()
                .find(|&at| groups[at].database == database && groups[at].user == user)
        });
        let at = match found {
            Some(at) => at,
            None => {
                let at = self.groups.len();
                self.groups.push(Group {
                    query: normalized.text.clone(),
                    database,
                    user,
                    statements: Stats::default(),
                    plans: Stats::default(),
                    first_seen: format!("{}:{}", self.file, entry.line),
                    query_id: None,
                    sample_params: None,
                    sample_complete: false,
                    logged_plan: None,
                });
                self.index
                    .entry(normalized.text.clone())
                    .or_default()
                    .push(at);
                at
            }
        };
        let group = &mut self.groups[at];
        if group.query_id.is_none() {
            group.query_id = entry.query_id;
        }
        match plan {
            Some(plan) => {
                group.plans.add(ms);
                if group.logged_plan.is_none() && !plan.is_empty() {
                    group.logged_plan = Some(plan);
                }
            }
            None => group.statements.add(ms),
        }
        // The first execution's values; replaced once by the first that had its parameters
        // logged when the first did not (a `DETAIL` missing or not read).
        let complete = normalized.placeholders == 0 || params.is_some();
        if group.sample_params.is_none() || (complete && !group.sample_complete) {
            // `$1` … as the server had them, then the constants taken out after them.
            let mut values = params.unwrap_or_default();
            values.resize(normalized.placeholders.max(values.len()), None);
            values.extend(normalized.constants);
            if !values.is_empty() {
                group.sample_params = Some(values);
                group.sample_complete = complete;
            }
        }
    }

    fn finish(self, path: String, format: LogFormat, lines: u64) -> Workload {
        let window = match (self.first, self.last) {
            (Some(first), Some(last)) => Some(Duration::from_secs_f64((last - first).max(0.0))),
            _ => None,
        };
        let statements = self
            .groups
            .into_iter()
            .map(|g| {
                let stats = if g.plans.n > g.statements.n {
                    g.plans
                } else {
                    g.statements
                };
                WorkloadStatement {
                    query: g.query,
                    queryid: g.query_id,
                    database: g.database,
                    user: g.user,
                    calls: stats.n,
                    total_ms: stats.total,
                    mean_ms: stats.mean,
                    stddev_ms: Some(stats.stddev()),
                    min_ms: Some(stats.min),
                    max_ms: Some(stats.max),
                    sample_params: g.sample_params,
                    logged_plan: g.logged_plan,
                    first_seen: Some(g.first_seen),
                    ..WorkloadStatement::default()
                }
            })
            .collect();
        Workload {
            source: WorkloadSource::Log {
                path,
                format: format.name().to_owned(),
                lines,
                statement_lines: self.executions,
                skipped: self.skipped,
            },
            window,
            statements,
        }
    }
}

#[cfg(test)]
mod tests;
