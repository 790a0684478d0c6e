//! Cache advice over a workload: the facts of each statement gathered from the server
//! (`pg::activity`: write rates, distinct keys, volatility, row security) and from pgdiag's own
//! suggestions (what they would make of it), judged by [`super::advice::advise`] ([`judge`], one
//! statement, which the demo calls too); the `pgdiag cache-advice` document.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::advice::{
    AdviceSettings, CacheKey, Fix, KeyPart, StatementFacts, TableActivity, Verdict, advise,
};
use crate::pg::{self, ServerInfo};
use crate::suggest::report::{Measure, SuggestReport};

/// Version of the `cache-advice` JSON document (docs/cache-advice-report.md).
pub const SCHEMA_VERSION: u32 = 1;

/// The `pgdiag cache-advice` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CacheAdviceReport {
    pub schema_version: u32,
    pub pgdiag_version: String,
    pub server: ServerInfo,
    pub settings: SettingsUsed,
    /// Where the statements came from: `pg_stat_statements`, `log`, or `files` (query files
    /// with expected call rates; their mean times measured with EXPLAIN ANALYZE).
    pub source: String,
    /// How long the workload's figures cover, in seconds.
    pub workload_window_s: Option<f64>,
    /// How long the tables' write counters cover, in seconds.
    pub counters_window_s: f64,
    pub statements: Vec<StatementAdvice>,
    /// Statements not advised on, with why.
    pub skipped: Vec<Skipped>,
    /// Database time the advised caches save per hour, in all (ms).
    pub db_ms_saved_per_hour: f64,
}

/// The settings the verdicts were made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SettingsUsed {
    pub max_staleness_s: f64,
    pub fast_enough_ms: f64,
    pub min_hit_rate: f64,
    pub min_db_ms_per_hour: f64,
}

/// One statement and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatementAdvice {
    /// Its number in the suggest run (`#1` …).
    pub statement: usize,
    /// Where it comes from: `queries.sql:3` (a query file), `pg_stat_statements (queryid 42)`,
    /// `postgresql.log:1234` (where a log first shows it), or the demo's query name.
    #[serde(default)]
    pub source: Option<String>,
    pub query: String,
    pub calls_per_hour: f64,
    pub mean_ms: f64,
    /// What the database spends on it per hour (ms).
    pub db_ms_per_hour: f64,
    pub tables: Vec<TableActivity>,
    pub key: CacheKey,
    pub distinct_keys: Option<f64>,
    /// The verdict (`verdict`: `fix_in_database`, `dont_cache`, `cache`) with its fields.
    pub advice: Verdict,
    /// With `--verify`, for a `cache` verdict: the benchmark of the advised configuration,
    /// predicted against measured (`status`: `measured` or `not_measured`, with its `details`);
    /// `null` otherwise.
    #[serde(default)]
    pub verification: Option<super::verification::Verification>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Skipped {
    pub query: String,
    pub reason: String,
}

/// Judge every statement of a workload suggest ran on (`report.workload` set): gather its facts
/// through `client`, then advise.
pub async fn advise_workload(
    client: &Client,
    report: &SuggestReport,
    settings: &AdviceSettings,
) -> Result<CacheAdviceReport, pg::Error> {
    let counters_window = pg::activity::counters_age(client).await?;
    let hours = (counters_window.as_secs_f64() / 3600.0).max(1.0 / 3600.0);
    let workload = report.workload.clone().unwrap_or_default();
    let mut statements = Vec::new();
    let mut skipped = Vec::new();
    for entry in &workload.statements {
        let Some(statement) = report
            .statements
            .iter()
            .find(|s| s.index == entry.statement)
        else {
            continue;
        };
        let Some(calls_per_hour) = entry.calls_per_hour else {
            skipped.push(Skipped {
                query: statement.sql.clone(),
                reason: "the workload does not say over how long its calls were counted".into(),
            });
            continue;
        };
        let sql = &statement.sql;
        let writes_data = pg::split_statements(sql).is_ok_and(|parts| {
            parts
                .iter()
                .any(|p| !matches!(p.kind, pg::StatementKind::Explainable { writes: false, .. }))
        });
        if writes_data {
            skipped.push(Skipped {
                query: sql.clone(),
                reason: "it writes: a cache serves reads".into(),
            });
            continue;
        }
        let load = StatementLoad {
            statement: entry.statement,
            source: Some(
                entry
                    .first_seen
                    .clone()
                    .unwrap_or_else(|| statement.source.clone()),
            ),
            query: sql.clone(),
            calls_per_hour,
            mean_ms: entry.mean_ms,
            fix: fix_of(report, entry.statement, entry.mean_ms),
        };
        statements.push(judge(client, &load, &WriteRates::Counted { hours }, settings).await?);
    }
    for skip in &workload.skipped {
        skipped.push(Skipped {
            query: skip.query.clone(),
            reason: skip.reason.clone(),
        });
    }
    let db_ms_saved_per_hour = statements
        .iter()
        .map(|s| match &s.advice {
            Verdict::Cache(plan) => plan.db_ms_saved_per_hour,
            _ => 0.0,
        })
        .sum();
    Ok(CacheAdviceReport {
        schema_version: SCHEMA_VERSION,
        pgdiag_version: env!("CARGO_PKG_VERSION").to_owned(),
        server: report.server.clone(),
        settings: settings_used(settings),
        source: workload.source.clone(),
        workload_window_s: workload.window_s,
        counters_window_s: counters_window.as_secs_f64(),
        statements,
        skipped,
        db_ms_saved_per_hour,
    })
}

/// One statement to judge: what it is, how often it runs and for how long, and what pgdiag's
/// suggestions would make of it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementLoad {
    /// Its number in the run (`#1` …).
    pub statement: usize,
    /// Where it comes from, as the report names it.
    pub source: Option<String>,
    pub query: String,
    pub calls_per_hour: f64,
    pub mean_ms: f64,
    pub fix: Option<Fix>,
}

/// How often the tables a statement reads are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WriteRates<'a> {
    /// From the statistics collector's counters, which cover `hours`.
    Counted { hours: f64 },
    /// Stated by the caller: (table, writes per hour); a table not named is not written. Names
    /// match with or without their schema.
    Stated(&'a [(String, f64)]),
}

/// The facts of one statement gathered through `client` (its tables and how often they are
/// written, its key and how many distinct keys, what makes it depend on the caller), judged by
/// [`advise`].
pub async fn judge(
    client: &Client,
    load: &StatementLoad,
    rates: &WriteRates<'_>,
    settings: &AdviceSettings,
) -> Result<StatementAdvice, pg::Error> {
    let sql = &load.query;
    let table_names = pg::sample::tables_read(sql);
    let writes = pg::activity::table_writes(client, &table_names).await?;
    let unqualified = |name: &str| name.rsplit('.').next().unwrap_or(name).to_owned();
    let tables: Vec<TableActivity> = writes
        .iter()
        .map(|w| TableActivity {
            table: w.table.clone(),
            writes_per_hour: match rates {
                WriteRates::Counted { hours } => w.writes as f64 / hours,
                WriteRates::Stated(stated) => stated
                    .iter()
                    .filter(|(table, _)| {
                        *table == w.table || unqualified(table) == unqualified(&w.table)
                    })
                    .map(|(_, per_hour)| per_hour)
                    .sum(),
            },
            rows: w.rows,
        })
        .collect();
    let (key, distinct_keys) = key_of(client, sql).await?;
    let calls = pg::activity::calls(sql);
    let mut dependent = calls.caller_dependent.clone();
    for name in pg::activity::volatile_functions(client, &calls.functions).await? {
        let shown = format!("{name}() (volatile)");
        if !dependent
            .iter()
            .any(|d| d.starts_with(&format!("{name}()")))
        {
            dependent.push(shown);
        }
    }
    for table in writes.iter().filter(|w| w.row_security) {
        dependent.push(format!("row-level security on {}", table.table));
    }
    let facts = StatementFacts {
        calls_per_hour: load.calls_per_hour,
        mean_ms: load.mean_ms,
        key: key.clone(),
        distinct_keys,
        tables: tables.clone(),
        caller_dependent: (!dependent.is_empty()).then(|| dependent.join(", ")),
        fix: load.fix.clone(),
    };
    Ok(StatementAdvice {
        statement: load.statement,
        source: load.source.clone(),
        query: sql.clone(),
        calls_per_hour: load.calls_per_hour,
        mean_ms: load.mean_ms,
        db_ms_per_hour: load.calls_per_hour * load.mean_ms,
        tables,
        key,
        distinct_keys,
        advice: advise(&facts, settings),
        verification: None,
    })
}

/// The statement's key: each `$n` with the column it is compared with, and how many distinct
/// keys that makes (the product of the equality columns' distinct values; unknown when a
/// parameter is a range bound or compared with nothing known).
async fn key_of(client: &Client, sql: &str) -> Result<(CacheKey, Option<f64>), pg::Error> {
    let count = pg::sample::param_count(sql);
    let comparisons = pg::sample::comparisons(sql);
    let mut parts = Vec::with_capacity(count);
    let mut distinct = Some(1.0_f64);
    for n in 1..=count {
        let found = comparisons
            .iter()
            .find(|c| c.param == n && !c.column.is_empty());
        let table = found.and_then(|c| c.tables.first().cloned());
        let column = found.map(|c| c.column.clone());
        let equal = found.is_some_and(|c| c.usage == pg::sample::Use::Equal);
        let mut values = None;
        if equal && let (Some(table), Some(column)) = (&table, &column) {
            values = pg::activity::distinct_values(client, table, column).await?;
        }
        distinct = match (distinct, values) {
            (Some(product), Some(v)) => Some(product * v.max(1.0)),
            _ => None,
        };
        parts.push(KeyPart {
            parameter: n,
            column: match (&table, &column) {
                (Some(t), Some(c)) => Some(format!("{t}.{c}")),
                _ => None,
            },
            table,
        });
    }
    Ok((CacheKey { parts }, distinct))
}

/// What the kept suggestions serving statement `index` make of its `mean_ms`: scaled by the
/// ratio their proof measured (time when both sides were timed, else planned cost).
fn fix_of(report: &SuggestReport, index: usize, mean_ms: f64) -> Option<Fix> {
    let suggestions: Vec<String> = report
        .kept()
        .filter(|s| s.serves.contains(&index))
        .map(|s| s.id.clone())
        .collect();
    if suggestions.is_empty() {
        return None;
    }
    let ratio = report
        .combined
        .iter()
        .find(|c| c.statement == index)
        .and_then(|c| ratio(&c.before, &c.after))
        .or_else(|| {
            report
                .kept()
                .filter_map(|s| s.verification.as_ref())
                .flat_map(|v| v.per_statement.iter())
                .filter(|p| p.statement == index)
                .filter_map(|p| ratio(&p.before, &p.after))
                .reduce(f64::min)
        })?;
    Some(Fix {
        suggestions,
        expected_ms: mean_ms * ratio,
    })
}

fn ratio(before: &Measure, after: &Measure) -> Option<f64> {
    match (before.time_ms, after.time_ms, before.cost, after.cost) {
        (Some(b), Some(a), _, _) if b > 0.0 => Some(a / b),
        (_, _, Some(b), Some(a)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The settings as the documents show them.
pub fn settings_used(settings: &AdviceSettings) -> SettingsUsed {
    SettingsUsed {
        max_staleness_s: settings.max_staleness.as_secs_f64(),
        fast_enough_ms: settings.fast_enough_ms,
        min_hit_rate: settings.min_hit_rate,
        min_db_ms_per_hour: settings.min_db_ms_per_hour,
    }
}

/// `--max-staleness` and the other lines drawn, from the flags.
pub fn settings(
    max_staleness: Duration,
    fast_enough: Duration,
    min_hit_rate_pct: f64,
) -> AdviceSettings {
    AdviceSettings {
        max_staleness,
        fast_enough_ms: fast_enough.as_secs_f64() * 1000.0,
        min_hit_rate: min_hit_rate_pct / 100.0,
        ..AdviceSettings::default()
    }
}
