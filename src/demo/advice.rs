//! The demo's last step: which of its three queries still deserve a cache once pgdiag's
//! suggestions are in place, judged by the cache-advice model ([`crate::cache::advising::judge`])
//! on this run's measurements: each query's time before and after step 4 (the suggestions that
//! serve it are the fix), the price updates step 3 wrote, and the keys and volatility read from
//! the database. Only the call rates are stated, from the story: the product page is the hot
//! path.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::{ApplyStep, BeforeAfter, Error, NaiveCacheStep};
use crate::cache::advice::{AdviceSettings, Fix};
use crate::cache::advising::{self, SettingsUsed, StatementAdvice, StatementLoad, WriteRates};
use crate::pg::split_statements;
use crate::seed;

/// The story's traffic: (query, calls per hour, why).
pub const CALL_RATES: [(&str, f64, &str); 3] = [
    (
        "product_page",
        360_000.0,
        "the hot path: every product view reads it, 100 a second",
    ),
    (
        "recommendations",
        360_000.0,
        "shown beside every product page, as often as the page",
    ),
    (
        "category_listing",
        36_000.0,
        "a category browsed for every ten products viewed, 10 a second",
    ),
];

/// The demo's cache verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CacheAdviceStep {
    /// The settings the verdicts were made with (cache-advice's defaults).
    pub settings: SettingsUsed,
    /// The call rates the demo states for its queries, with why (the only stated inputs).
    pub call_rates: Vec<StatedRate>,
    /// The tables' write rates the verdicts used: the price updates step 3 made, per hour; the
    /// demo writes no other table.
    pub table_writes: Vec<StatedWrites>,
    /// One verdict per query, in the order of `call_rates` (the cache-advice document's
    /// `statements[]` entries, docs/cache-advice-report.md; `source` is the query's name).
    pub statements: Vec<StatementAdvice>,
}

/// A query's stated call rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatedRate {
    pub query: String,
    pub calls_per_hour: f64,
    pub why: String,
}

/// A table's write rate as the demo produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatedWrites {
    pub table: String,
    pub writes_per_hour: f64,
    /// Where the figure comes from.
    pub source: String,
}

/// Judge the three queries: each one's time before step 4 with the suggestions applied to it as
/// the fix (their time after step 4), the price updates of step 3 as the pricing table's writes.
pub async fn cache_verdicts(
    client: &Client,
    naive: &NaiveCacheStep,
    apply: &ApplyStep,
    before_after: &[BeforeAfter],
) -> Result<CacheAdviceStep, Error> {
    let settings = AdviceSettings::default();
    let price_writes = price_writes_per_hour(naive);
    let table_writes = vec![StatedWrites {
        table: "pricing".into(),
        writes_per_hour: price_writes,
        source: format!(
            "step 3's price updates: {} writes in its measured run ({})",
            naive
                .stale_prices
                .staleness
                .as_ref()
                .map_or(0, |s| s.writes),
            naive.write
        ),
    }];
    let writes: Vec<(String, f64)> = table_writes
        .iter()
        .map(|t| (t.table.clone(), t.writes_per_hour))
        .collect();
    let mut statements = Vec::new();
    let mut call_rates = Vec::new();
    for (number, (name, calls_per_hour, why)) in CALL_RATES.into_iter().enumerate() {
        let sql = seed::query(name).ok_or_else(|| Error::Plan {
            query: name.into(),
            message: "not a seed query".into(),
        })?;
        let text = split_statements(sql)
            .ok()
            .and_then(|s| s.into_iter().next())
            .map(|s| s.text)
            .ok_or_else(|| Error::Plan {
                query: name.into(),
                message: "no statement".into(),
            })?;
        let timed = before_after.iter().find(|b| b.query == name);
        let mean_ms = timed.map_or(0.0, |t| t.before.execution_ms);
        let load = StatementLoad {
            statement: number + 1,
            source: Some(name.to_owned()),
            query: text,
            calls_per_hour,
            mean_ms,
            fix: timed.and_then(|t| fix_of(apply, name, t)),
        };
        statements
            .push(advising::judge(client, &load, &WriteRates::Stated(&writes), &settings).await?);
        call_rates.push(StatedRate {
            query: name.to_owned(),
            calls_per_hour,
            why: why.to_owned(),
        });
    }
    Ok(CacheAdviceStep {
        settings: advising::settings_used(&settings),
        call_rates,
        table_writes,
        statements,
    })
}

/// The suggestions step 4 put in place for `query` and its time after them.
fn fix_of(apply: &ApplyStep, query: &str, timed: &BeforeAfter) -> Option<Fix> {
    let suggestions: Vec<String> = apply
        .applied
        .iter()
        .filter(|s| matches!(s.status.as_str(), "created" | "already_existed"))
        .filter(|s| s.serves.iter().any(|q| q == query))
        .map(|s| s.id.clone())
        .collect();
    if suggestions.is_empty() {
        return None;
    }
    Some(Fix {
        suggestions,
        expected_ms: timed.after.execution_ms,
    })
}

/// The price updates step 3 made per hour: its writes over its measured run (requests over
/// throughput), else the rate it was asked for.
fn price_writes_per_hour(naive: &NaiveCacheStep) -> f64 {
    let run = &naive.stale_prices;
    let seconds = if run.throughput_rps > 0.0 {
        run.requests as f64 / run.throughput_rps
    } else {
        0.0
    };
    match &run.staleness {
        Some(s) if seconds > 0.0 => s.writes as f64 / seconds * 3600.0,
        _ => 0.0,
    }
}
