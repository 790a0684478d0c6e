//! The benchmark report ([`BenchReport`], documented in docs/bench-report.md) and its renderers:
//! a comparison table, JSON, and the Prometheus text exposition format. All write to `impl Write`.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cache::{MetricsSnapshot, ServedFrom};

/// Bumped on any incompatible change to the JSON document.
pub const SCHEMA_VERSION: u32 = 1;

/// What `pgdiag bench --format json` prints: the scenario and its parameters, and for each
/// cache strategy its latencies, throughput, hit ratio, staleness and Redis memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BenchReport {
    pub schema_version: u32,
    pub pgdiag_version: String,
    /// `steady`, `herd` or `writes`.
    pub scenario: String,
    pub parameters: Parameters,
    /// One entry per strategy, in the order they ran.
    pub strategies: Vec<StrategyResult>,
    /// Stopped (Ctrl-C, SIGTERM, SIGHUP) before the end: `strategies` holds the ones that ran,
    /// the last one marked `interrupted` when the stop came in the middle of it.
    #[serde(default)]
    pub interrupted: bool,
    /// Every figure is a healthy run's: not interrupted, and no strategy met a Redis error. The
    /// exit code is 0 when true, 2 when false (the report is printed either way).
    #[serde(default = "complete_by_default")]
    pub complete: bool,
    /// Invalidation triggers left on tables by earlier runs that could not remove them (a killed
    /// process), found and removed at the start of this run.
    #[serde(default)]
    pub leftovers: Vec<Leftover>,
}

fn complete_by_default() -> bool {
    true
}

/// An invalidation trigger (and its function) of an earlier run whose owner is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Leftover {
    /// `pgdiag_bench_invalidate_<pid>_<n>`: the trigger's and the function's name.
    pub trigger: String,
    /// The table it was on, quoted (`"public"."pricing"`); null for a function without trigger.
    pub table: Option<String>,
    /// The trigger function, quoted and schema-qualified (`"public"."pgdiag_bench_invalidate_…"`).
    pub function: String,
    pub removed: bool,
    /// Why it could not be removed (e.g. not the table's owner), when `removed` is false.
    pub error: Option<String>,
}

impl BenchReport {
    /// Redis errors over every strategy (requests that fell back, and failed bookkeeping of
    /// refreshes and locks).
    pub fn redis_errors(&self) -> u64 {
        self.strategies
            .iter()
            .map(|s| s.counters.redis_errors)
            .sum()
    }
}

/// The run's parameters, as given or defaulted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Parameters {
    pub query: String,
    pub clients: usize,
    pub duration_ms: u64,
    pub warmup_ms: u64,
    pub keys: usize,
    pub zipf: f64,
    pub ttl_ms: u64,
    pub soft_ttl_ms: u64,
    pub pool: usize,
    pub seed: u64,
    /// Herd: expiry rounds and the number of hot keys expired each round.
    pub expiries: usize,
    pub hot_keys: usize,
    /// Writes: the write statement, its rate per second and the invalidation (`none`, `notify`).
    pub write: Option<String>,
    pub write_rate: Option<f64>,
    pub invalidate: String,
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Latency {
    pub samples: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn from_us(histogram: &Histogram<u64>) -> Latency {
        if histogram.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            samples: histogram.len(),
            mean_ms: histogram.mean() / 1000.0,
            p50_ms: ms(histogram.value_at_quantile(0.5)),
            p95_ms: ms(histogram.value_at_quantile(0.95)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// One cache strategy's run: requests, latency, counters, hit and fallback shares, the herd,
/// staleness and Redis memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StrategyResult {
    pub strategy: String,
    /// Requests answered after the warm-up, and per second.
    pub requests: u64,
    pub throughput_rps: f64,
    pub latency: Latency,
    /// The strategy's counters, end of run minus end of warm-up.
    pub counters: MetricsSnapshot,
    /// Shares of `counters.requests` (0..1).
    pub hit_rate: f64,
    pub miss_rate: f64,
    pub stale_rate: f64,
    /// Share of requests answered by the database because Redis failed.
    #[serde(default)]
    pub fallback_rate: f64,
    /// Queries the loader ran after the warm-up (the database's view of `counters.db_queries`).
    pub db_calls: u64,
    /// Requests that failed because the database did.
    pub errors: u64,
    pub redis: RedisBytes,
    pub herd: Option<HerdResult>,
    pub staleness: Option<Staleness>,
    /// The stop came while this strategy ran: its figures cover the time until then.
    #[serde(default)]
    pub interrupted: bool,
    /// The measured phase over time in fixed buckets (and, for the herd scenario, the expiry
    /// rounds after it). Absent in documents written before it existed.
    #[serde(default)]
    pub timeline: Option<Timeline>,
    /// Latency of the measured requests on a log scale: ten buckets per decade of milliseconds,
    /// from the first bucket holding a request to the last (empty buckets between included).
    /// Enough to draw a histogram or a CDF; empty when no request was measured.
    #[serde(default)]
    pub latency_histogram: Vec<LatencyBucket>,
}

/// The run over time: bucket `i` covers `[i × bucket_ms, (i + 1) × bucket_ms)` ms after the end
/// of the warm-up. Every request is counted, once, in the bucket it started in, with its outcome
/// and the database queries it ran itself (exact, per request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Timeline {
    /// The width of every bucket in ms: a 1-2-5 step giving at most 100 buckets for the measured
    /// phase, never below 10 ms.
    pub bucket_ms: u64,
    /// From the end of the warm-up to the last request (or background query).
    pub buckets: Vec<TimelineBucket>,
    /// Herd: ms after the end of the warm-up at which the steady phase ended and the expiry
    /// rounds began (their requests, and the ones re-warming the hot keys before each round,
    /// are in the buckets after it). Null for the other scenarios.
    #[serde(default)]
    pub herd_from_ms: Option<u64>,
    /// Herd: ms after the end of the warm-up at which each round deleted the hot keys.
    #[serde(default)]
    pub expiries_at_ms: Vec<u64>,
}

/// One bucket of the [`Timeline`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimelineBucket {
    /// Start of the bucket, ms after the end of the warm-up.
    pub at_ms: u64,
    /// Requests started in this bucket, and their outcomes (hits + misses + stale_serves +
    /// database + redis_fallbacks = requests).
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
    pub stale_serves: u64,
    /// Answered by the database with no cache (strategy `none`).
    pub database: u64,
    /// Answered by the database because Redis failed.
    pub redis_fallbacks: u64,
    /// Of `requests`, those that failed because the database did.
    pub errors: u64,
    /// Database queries the requests started in this bucket ran themselves.
    pub db_calls: u64,
    /// Database queries a strategy started on its own (background refreshes) in this bucket.
    pub background_db_calls: u64,
    /// The slowest request started in this bucket, ms (0 when there was none).
    pub max_ms: f64,
}

/// One bucket of a latency histogram: requests that took `from_ms` ≤ latency < `to_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LatencyBucket {
    pub from_ms: f64,
    pub to_ms: f64,
    pub count: u64,
}

/// Redis memory the strategy used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RedisBytes {
    /// `used_memory` after the run minus before it (can be negative: other clients, allocator).
    /// `None` when Redis could not be asked.
    pub used_memory_delta: Option<i64>,
    /// `MEMORY USAGE` of the hottest key, when it was cached at the end.
    pub sample_key_bytes: Option<u64>,
}

/// The thundering herd: what each round of simultaneous expiries cost the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HerdResult {
    /// p50 of the steady phase before the expiries, the yardstick of the spike.
    pub steady_p50_ms: f64,
    pub rounds: Vec<HerdRound>,
}

/// One round of expiries: the keys that expired and the database calls they caused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HerdRound {
    pub keys_expired: usize,
    pub db_calls: u64,
    /// `db_calls / keys_expired`: 1 means the herd was absorbed.
    pub db_calls_per_key: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Stale reads after writes (`--scenario writes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Staleness {
    pub writes: u64,
    /// Reads that served a value loaded before the key's last committed write.
    pub stale_reads: u64,
    /// Per write: ms from its commit to the first fresh read of that key.
    pub max_ms: f64,
    pub p99_ms: f64,
    /// Writes never followed by a fresh read before the end (counted as `end - commit`).
    pub unresolved_writes: u64,
    /// Each write's staleness in commit order: every write when there were at most 1,000,
    /// else 1,000 evenly sampled from them (the first and the last always kept). Empty in
    /// documents written before it existed.
    #[serde(default)]
    pub per_write: Vec<WriteStaleness>,
}

/// One write of the `writes` scenario and how long its key was served stale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WriteStaleness {
    /// The commit, ms after the end of the warm-up.
    pub at_ms: u64,
    /// ms from the commit to the first fresh read of the key; for an unresolved write, from
    /// the commit to the end of the run (a lower bound).
    pub staleness_ms: f64,
    /// False when no fresh read followed the write before the end.
    pub resolved: bool,
}

impl StrategyResult {
    /// Fill the rates from the counters (each at most 1: `requests` is the outcomes' sum).
    pub fn with_rates(mut self) -> Self {
        let outcomes = self.counters.outcomes();
        self.hit_rate = outcomes.rate(ServedFrom::Hit);
        self.miss_rate = outcomes.rate(ServedFrom::Miss);
        self.stale_rate = outcomes.rate(ServedFrom::Stale);
        self.fallback_rate = outcomes.rate(ServedFrom::RedisError);
        self
    }
}

pub fn render_json(out: &mut impl Write, report: &BenchReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn ms(value: f64) -> String {
    format!("{value:.2}")
}

/// The comparison table, one row per strategy; herd rounds follow in a second table.
pub fn render_text(out: &mut impl Write, report: &BenchReport) -> io::Result<()> {
    render_text_in(out, report, usize::MAX)
}

/// [`render_text`] in `columns` columns: the strategies' table when it fits, else one block
/// per strategy, a `column: value` pair for each of the table's columns.
pub fn render_text_in(
    out: &mut impl Write,
    report: &BenchReport,
    columns: usize,
) -> io::Result<()> {
    let p = &report.parameters;
    writeln!(
        out,
        "pgdiag bench: scenario {}, {} clients, {} ms after {} ms warm-up, {} keys (zipf {}), ttl {} ms, soft ttl {} ms",
        report.scenario,
        p.clients,
        p.duration_ms,
        p.warmup_ms,
        p.keys,
        p.zipf,
        p.ttl_ms,
        p.soft_ttl_ms
    )?;
    let writes = report.strategies.iter().any(|s| s.staleness.is_some());
    let mut header = vec![
        "strategy",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "hit",
        "miss",
        "stale",
        "fallback",
        "errors Redis/DB",
        "DB calls",
        "refresh p99 ms",
        "Redis bytes",
    ];
    if writes {
        header.extend(["stale reads", "staleness max/p99 ms"]);
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_header(header.clone());
    let mut blocks = Vec::new();
    for s in &report.strategies {
        let name = if s.interrupted {
            format!("{} (interrupted)", s.strategy)
        } else {
            s.strategy.clone()
        };
        let mut row = vec![
            Cell::new(name),
            Cell::new(format!("{:.0}", s.throughput_rps)),
            Cell::new(ms(s.latency.p50_ms)),
            Cell::new(ms(s.latency.p95_ms)),
            Cell::new(ms(s.latency.p99_ms)),
            Cell::new(ms(s.latency.max_ms)),
            Cell::new(percent(s.hit_rate)),
            Cell::new(percent(s.miss_rate)),
            Cell::new(percent(s.stale_rate)),
            Cell::new(percent(s.fallback_rate)),
            Cell::new(format!("{} / {}", s.counters.redis_errors, s.errors)),
            Cell::new(s.db_calls),
            Cell::new(
                s.counters
                    .refresh_p99_us
                    .map_or("-".into(), |us| ms(us as f64 / 1000.0)),
            ),
            Cell::new(format!(
                "{} ({} per key)",
                s.redis
                    .used_memory_delta
                    .map_or("-".into(), |d| format!("{d:+}")),
                s.redis
                    .sample_key_bytes
                    .map_or("-".into(), |b| b.to_string())
            )),
        ];
        if let Some(st) = &s.staleness {
            row.push(Cell::new(st.stale_reads));
            let open = if st.unresolved_writes > 0 {
                format!(" ({} open)", st.unresolved_writes)
            } else {
                String::new()
            };
            row.push(Cell::new(format!(
                "{} / {}{open}",
                ms(st.max_ms),
                ms(st.p99_ms)
            )));
        } else if writes {
            row.extend([Cell::new("-"), Cell::new("-")]);
        }
        let pairs: Vec<String> = header
            .iter()
            .zip(&row)
            .skip(1)
            .map(|(h, cell)| format!("{h} {}", cell.content()))
            .collect();
        blocks.push(format!(
            "  {}\n{}",
            row[0].content(),
            wrap_pairs(&pairs, "    ", columns)
        ));
        table.add_row(row);
    }
    for column in table.column_iter_mut().skip(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    let table = table.to_string();
    if table.lines().all(|l| l.chars().count() <= columns) {
        writeln!(out, "{table}")?;
    } else {
        for block in blocks {
            write!(out, "{block}")?;
        }
    }

    if report.strategies.iter().any(|s| s.herd.is_some()) {
        let mut herd = Table::new();
        herd.load_style(UTF8_FULL_CONDENSED)
            .force_no_tty()
            .set_header(vec![
                "strategy",
                "expiry",
                "keys",
                "DB calls",
                "per key",
                "p99 ms",
                "max ms",
                "steady p50 ms",
            ]);
        for s in &report.strategies {
            let Some(h) = &s.herd else { continue };
            for (i, round) in h.rounds.iter().enumerate() {
                herd.add_row(vec![
                    Cell::new(&s.strategy),
                    Cell::new(i + 1),
                    Cell::new(round.keys_expired),
                    Cell::new(round.db_calls),
                    Cell::new(format!("{:.1}", round.db_calls_per_key)),
                    Cell::new(ms(round.p99_ms)),
                    Cell::new(ms(round.max_ms)),
                    Cell::new(ms(h.steady_p50_ms)),
                ]);
            }
        }
        writeln!(
            out,
            "\nthundering herd (readers released together on expired keys):"
        )?;
        writeln!(out, "{herd}")?;
    }
    render_notes(out, report)
}

/// What the table alone would not say: faults, a stop, and what was cleaned up.
fn render_notes(out: &mut impl Write, report: &BenchReport) -> io::Result<()> {
    let failed: Vec<&StrategyResult> = report
        .strategies
        .iter()
        .filter(|s| s.counters.redis_errors > 0)
        .collect();
    if !failed.is_empty() {
        let fallbacks: u64 = failed.iter().map(|s| s.counters.redis_fallbacks).sum();
        let names: Vec<&str> = failed.iter().map(|s| s.strategy.as_str()).collect();
        writeln!(
            out,
            "\nRedis failed during the run: {} errors in {}; {fallbacks} requests were answered by the database instead (fallback). These figures are not a healthy cache's.",
            report.redis_errors(),
            names.join(", ")
        )?;
    }
    if report.interrupted {
        let ran: Vec<&str> = report
            .strategies
            .iter()
            .map(|s| s.strategy.as_str())
            .collect();
        if ran.is_empty() {
            writeln!(out, "\ninterrupted before any strategy finished.")?;
        } else {
            writeln!(
                out,
                "\ninterrupted: only {} ran; an interrupted strategy's figures cover the time until the stop.",
                ran.join(", ")
            )?;
        }
    }
    for leftover in &report.leftovers {
        let on = leftover
            .table
            .as_deref()
            .map_or(String::new(), |t| format!(" on {t}"));
        match (&leftover.error, leftover.removed) {
            (_, true) => writeln!(
                out,
                "\nremoved a leftover invalidation trigger of an earlier run that ended without removing it: {}{on}",
                leftover.trigger
            )?,
            (error, false) => {
                let drop_trigger = leftover.table.as_deref().map_or(String::new(), |t| {
                    format!(
                        "DROP TRIGGER {} ON {t}; ",
                        crate::pg::quote_ident(&leftover.trigger)
                    )
                });
                writeln!(
                    out,
                    "\ncould not remove a leftover invalidation trigger of an earlier run, {}{on}: {}; as the table's owner run: {drop_trigger}DROP FUNCTION {}();",
                    leftover.trigger,
                    error.as_deref().unwrap_or("unknown error"),
                    leftover.function
                )?
            }
        }
    }
    Ok(())
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A counter's name, help text and where its value comes from.
type CounterMetric = (&'static str, &'static str, fn(&MetricsSnapshot) -> u64);

/// The Prometheus text exposition format (version 0.0.4).
pub fn render_prometheus(out: &mut impl Write, report: &BenchReport) -> io::Result<()> {
    let strategies = &report.strategies;
    let header = |out: &mut dyn Write, name: &str, kind: &str, help: &str| -> io::Result<()> {
        writeln!(out, "# HELP {name} {help}")?;
        writeln!(out, "# TYPE {name} {kind}")
    };
    header(
        out,
        "cache_requests_total",
        "counter",
        "Requests answered after the warm-up, by where the answer came from.",
    )?;
    for s in strategies {
        let c = &s.counters;
        for (result, value) in [
            ("hit", c.hits),
            ("miss", c.misses),
            ("stale", c.stale_serves),
            ("database", c.database),
            ("redis_error", c.redis_fallbacks),
        ] {
            writeln!(
                out,
                "cache_requests_total{{strategy=\"{}\",result=\"{result}\"}} {value}",
                label(&s.strategy)
            )?;
        }
    }
    let counters: [CounterMetric; 4] = [
        (
            "cache_db_queries_total",
            "Loader calls, whatever triggered them.",
            |c| c.db_queries,
        ),
        (
            "cache_refreshes_total",
            "Background or early recomputations started.",
            |c| c.refreshes,
        ),
        (
            "cache_lock_contention_total",
            "Times a request wanted the refresh lock while another holder had it.",
            |c| c.lock_contention,
        ),
        (
            "cache_redis_errors_total",
            "Redis operations that failed (the request then failed open).",
            |c| c.redis_errors,
        ),
    ];
    for (name, help, value) in counters {
        header(out, name, "counter", help)?;
        for s in strategies {
            writeln!(
                out,
                "{name}{{strategy=\"{}\"}} {}",
                label(&s.strategy),
                value(&s.counters)
            )?;
        }
    }
    header(
        out,
        "cache_request_duration_seconds",
        "summary",
        "Request latency after the warm-up.",
    )?;
    for s in strategies {
        let l = &s.latency;
        let name = label(&s.strategy);
        for (quantile, value) in [("0.5", l.p50_ms), ("0.95", l.p95_ms), ("0.99", l.p99_ms)] {
            writeln!(
                out,
                "cache_request_duration_seconds{{strategy=\"{name}\",quantile=\"{quantile}\"}} {}",
                value / 1000.0
            )?;
        }
        writeln!(
            out,
            "cache_request_duration_seconds_sum{{strategy=\"{name}\"}} {}",
            l.mean_ms * l.samples as f64 / 1000.0
        )?;
        writeln!(
            out,
            "cache_request_duration_seconds_count{{strategy=\"{name}\"}} {}",
            l.samples
        )?;
    }
    if strategies.iter().any(|s| s.staleness.is_some()) {
        header(
            out,
            "cache_staleness_seconds",
            "gauge",
            "Per write, time from its commit to the first fresh read of its key.",
        )?;
        for s in strategies {
            let Some(st) = &s.staleness else { continue };
            let name = label(&s.strategy);
            writeln!(
                out,
                "cache_staleness_seconds{{strategy=\"{name}\",statistic=\"max\"}} {}",
                st.max_ms / 1000.0
            )?;
            writeln!(
                out,
                "cache_staleness_seconds{{strategy=\"{name}\",statistic=\"p99\"}} {}",
                st.p99_ms / 1000.0
            )?;
        }
    }
    Ok(())
}

/// `pairs` joined with ` · ` on lines of at most `columns` characters starting with `indent`;
/// a pair is never split.
fn wrap_pairs(pairs: &[String], indent: &str, columns: usize) -> String {
    let mut text = String::new();
    let mut line = String::new();
    for pair in pairs {
        if !line.is_empty() && line.chars().count() + 3 + pair.chars().count() > columns {
            text.push_str(&line);
            text.push('\n');
            line.clear();
        }
        if line.is_empty() {
            line.push_str(indent);
        } else {
            line.push_str(" · ");
        }
        line.push_str(pair);
    }
    if !line.is_empty() {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BenchReport {
        let strategy = |name: &str, herd: bool, stale: bool| {
            StrategyResult {
                strategy: name.into(),
                requests: 1000,
                throughput_rps: 500.0,
                latency: Latency {
                    samples: 1000,
                    mean_ms: 0.8,
                    p50_ms: 0.5,
                    p95_ms: 1.5,
                    p99_ms: 3.0,
                    max_ms: 12.0,
                },
                counters: MetricsSnapshot {
                    requests: 1000,
                    hits: 900,
                    misses: 100,
                    db_queries: 100,
                    refresh_p99_us: Some(2500),
                    ..MetricsSnapshot::default()
                },
                hit_rate: 0.0,
                miss_rate: 0.0,
                stale_rate: 0.0,
                fallback_rate: 0.0,
                db_calls: 100,
                errors: 0,
                redis: RedisBytes {
                    used_memory_delta: Some(20480),
                    sample_key_bytes: Some(96),
                },
                herd: herd.then(|| HerdResult {
                    steady_p50_ms: 0.5,
                    rounds: vec![HerdRound {
                        keys_expired: 1,
                        db_calls: 200,
                        db_calls_per_key: 200.0,
                        p99_ms: 40.0,
                        max_ms: 45.0,
                    }],
                }),
                staleness: stale.then_some(Staleness {
                    writes: 60,
                    stale_reads: 4000,
                    max_ms: 2900.0,
                    p99_ms: 2800.0,
                    unresolved_writes: 55,
                    per_write: Vec::new(),
                }),
                interrupted: false,
                timeline: None,
                latency_histogram: Vec::new(),
            }
            .with_rates()
        };
        BenchReport {
            schema_version: SCHEMA_VERSION,
            pgdiag_version: "0.1.0".into(),
            scenario: "writes".into(),
            parameters: Parameters {
                query: "SELECT 1".into(),
                clients: 32,
                duration_ms: 10_000,
                warmup_ms: 2000,
                keys: 1000,
                zipf: 1.0,
                ttl_ms: 60_000,
                soft_ttl_ms: 45_000,
                pool: 16,
                seed: 42,
                expiries: 3,
                hot_keys: 1,
                write: Some("UPDATE t SET a = a + 1 WHERE id = $1".into()),
                write_rate: Some(10.0),
                invalidate: "none".into(),
            },
            strategies: vec![
                strategy("none", false, true),
                strategy("we\"ird\\", true, false),
            ],
            interrupted: false,
            complete: true,
            leftovers: Vec::new(),
        }
    }

    #[test]
    fn text_json_and_prometheus_render() {
        let report = sample();
        let mut text = Vec::new();
        render_text(&mut text, &report).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("90.0%"), "{text}");
        assert!(text.contains("thundering herd"), "{text}");
        assert!(text.contains("2900.00 / 2800.00"), "{text}");

        let mut json = Vec::new();
        render_json(&mut json, &report).unwrap();
        let back: BenchReport = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, report);

        let mut prom = Vec::new();
        render_prometheus(&mut prom, &report).unwrap();
        let prom = String::from_utf8(prom).unwrap();
        assert!(prom.contains(r#"cache_requests_total{strategy="we\"ird\\",result="hit"} 900"#));
        assert!(prom.contains(r#"cache_staleness_seconds{strategy="none",statistic="max"} 2.9"#));
        assert!(prom.contains(r#"cache_request_duration_seconds_count{strategy="none"} 1000"#));
    }

    #[test]
    fn text_snapshot() {
        let mut text = Vec::new();
        render_text(&mut text, &sample()).unwrap();
        insta::assert_snapshot!(String::from_utf8(text).unwrap());
    }

    /// Redis failed in one strategy, the run was stopped in the next, and an earlier run's
    /// trigger was removed: the table shows the fallbacks and errors, the notes say the rest.
    #[test]
    fn text_with_faults_snapshot() {
        let mut report = sample();
        report.strategies[0].staleness = None;
        let failed = &mut report.strategies[0];
        failed.counters.set_outcomes(crate::cache::OutcomeCounts {
            hits: 800,
            misses: 96,
            redis_fallbacks: 104,
            ..Default::default()
        });
        failed.counters.redis_errors = 110;
        failed.errors = 2;
        *failed = failed.clone().with_rates();
        report.strategies[1].interrupted = true;
        report.strategies[1].herd = None;
        report.interrupted = true;
        report.complete = false;
        report.leftovers = vec![
            Leftover {
                trigger: "pgdiag_bench_invalidate_4242_0".into(),
                table: Some(r#""public"."pricing""#.into()),
                function: r#""public"."pgdiag_bench_invalidate_4242_0""#.into(),
                removed: true,
                error: None,
            },
            Leftover {
                trigger: "pgdiag_bench_invalidate_4243_0".into(),
                table: Some(r#""app"."stock""#.into()),
                function: r#""app"."pgdiag_bench_invalidate_4243_0""#.into(),
                removed: false,
                error: Some("must be owner of table stock".into()),
            },
        ];
        let s = &report.strategies[0];
        assert_eq!(s.counters.requests, 1000);
        assert_eq!(
            (s.hit_rate, s.miss_rate, s.fallback_rate),
            (0.8, 0.096, 0.104)
        );
        let mut text = Vec::new();
        render_text(&mut text, &report).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("10.4%"), "{text}");
        assert!(text.contains("110 / 2"), "{text}");
        assert!(text.contains("Redis failed during the run"), "{text}");
        assert!(text.contains("(interrupted)"), "{text}");
        assert!(text.contains("pgdiag_bench_invalidate_4242_0"), "{text}");
        insta::assert_snapshot!(text);

        let mut json = Vec::new();
        render_json(&mut json, &report).unwrap();
        let back: BenchReport = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.redis_errors(), 110);
    }

    /// A document written before the fault fields existed still reads, as a complete run.
    #[test]
    fn documents_without_the_new_fields_still_read() {
        let mut value = serde_json::to_value(sample()).unwrap();
        let object = value.as_object_mut().unwrap();
        for field in ["interrupted", "complete", "leftovers"] {
            object.remove(field);
        }
        for strategy in object["strategies"].as_array_mut().unwrap() {
            let strategy = strategy.as_object_mut().unwrap();
            strategy.remove("interrupted");
            strategy.remove("fallback_rate");
            strategy.remove("timeline");
            strategy.remove("latency_histogram");
            if let Some(staleness) = strategy
                .get_mut("staleness")
                .and_then(|s| s.as_object_mut())
            {
                staleness.remove("per_write");
            }
        }
        let back: BenchReport = serde_json::from_value(value).unwrap();
        assert!(back.complete && !back.interrupted && back.leftovers.is_empty());
    }

    #[test]
    fn prometheus_snapshot() {
        let mut prom = Vec::new();
        render_prometheus(&mut prom, &sample()).unwrap();
        insta::assert_snapshot!(String::from_utf8(prom).unwrap());
    }
}
