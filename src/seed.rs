//! The seed scenario (`fixtures/seed/`): the product catalogue of "The caching layer that made
//! everything worse", loaded into a database so `pgdiag demo` and the tests can replay the story.
//!
//! The SQL files are the source of truth and stay runnable with psql (see fixtures/seed/README.md);
//! this module embeds them, splits `data.sql` on its `-- pgdiag: step NAME` lines so a caller can
//! show progress, and reports what was loaded.

use schemars::JsonSchema;
use std::time::{Duration, Instant};

use crate::pg::admin;

const SCHEMA_SQL: &str = include_str!("../fixtures/seed/schema.sql");
const DATA_SQL: &str = include_str!("../fixtures/seed/data.sql");
const PRODUCT_PAGE_SQL: &str = include_str!("../fixtures/seed/queries/product_page.sql");
const CATEGORY_LISTING_SQL: &str = include_str!("../fixtures/seed/queries/category_listing.sql");
const RECOMMENDATIONS_SQL: &str = include_str!("../fixtures/seed/queries/recommendations.sql");

/// The seed's tables, in load order.
pub const TABLES: [&str; 5] = [
    "products",
    "pricing",
    "inventory",
    "reviews",
    "recommendations",
];

/// Largest accepted scale: 100 is 120 M reviews, already far beyond a demo.
pub const MAX_SCALE: f64 = 100.0;

const STEP_MARKER: &str = "-- pgdiag: step ";

/// What can go wrong loading the seed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid seed scale {0}: use a number above 0 and at most {MAX_SCALE}")]
    InvalidScale(f64),
    #[error("seed step `{step}` failed")]
    Step {
        step: String,
        #[source]
        source: crate::pg::Error,
    },
}

/// Reported before each step starts (`completed` steps are done) and once when all are done.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedProgress {
    /// The step about to run, or "done".
    pub step: String,
    pub completed: usize,
    pub total: usize,
    pub elapsed: Duration,
}

/// Rows in one seed table after the load.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, JsonSchema)]
pub struct TableRows {
    pub table: String,
    pub rows: i64,
}

/// What [`load`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, JsonSchema)]
pub struct SeedSummary {
    pub scale: f64,
    pub tables: Vec<TableRows>,
    pub elapsed_ms: f64,
}

impl SeedSummary {
    /// Rows loaded into `table`, if it is a seed table.
    pub fn rows(&self, table: &str) -> Option<i64> {
        self.tables
            .iter()
            .find(|t| t.table == table)
            .map(|t| t.rows)
    }
}

/// The three queries of the story, as (file stem, file text), in the order the demo tells them:
/// product_page, category_listing, recommendations. Each text starts with its
/// `-- pgdiag: params` line (see [`query_params`]).
pub fn queries() -> [(&'static str, &'static str); 3] {
    [
        ("product_page", PRODUCT_PAGE_SQL),
        ("category_listing", CATEGORY_LISTING_SQL),
        ("recommendations", RECOMMENDATIONS_SQL),
    ]
}

/// The text of the query named `name` (a file stem of fixtures/seed/queries/).
pub fn query(name: &str) -> Option<&'static str> {
    queries()
        .into_iter()
        .find(|(stem, _)| *stem == name)
        .map(|(_, sql)| sql)
}

/// The values of a `-- pgdiag: params 42, 7` line, as text; empty without one. The seed's values
/// are plain numbers, so a comma split is enough here (`baseline` has the full parser).
pub fn query_params(sql: &str) -> Vec<String> {
    sql.lines()
        .find_map(|line| line.trim().strip_prefix("-- pgdiag: params"))
        .map(|rest| {
            rest.split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The steps `load` runs: the schema, then `data.sql` split at its step markers.
pub fn steps() -> Vec<(String, &'static str)> {
    let mut steps = vec![("schema".to_string(), SCHEMA_SQL)];
    steps.extend(split_steps(DATA_SQL));
    steps
}

/// Splits SQL at `-- pgdiag: step NAME` lines; text before the first marker is a preamble of
/// comments and is dropped.
fn split_steps(sql: &'static str) -> Vec<(String, &'static str)> {
    let mut steps = Vec::new();
    let mut current: Option<(String, usize)> = None;
    let mut offset = 0;
    for line in sql.split_inclusive('\n') {
        if let Some(name) = line.trim().strip_prefix(STEP_MARKER.trim_end()) {
            if let Some((step, start)) = current.take() {
                steps.push((step, &sql[start..offset]));
            }
            current = Some((name.trim().to_string(), offset + line.len()));
        }
        offset += line.len();
    }
    if let Some((step, start)) = current {
        steps.push((step, &sql[start..]));
    }
    steps
}

/// Loads the seed at `scale` (1.0 = 50,000 products and 1,200,000 reviews) into the database of
/// `client`, replacing the seed tables if they exist. Reproducible: the same rows for the same scale.
///
/// Runs on the caller's session (it sets `pgdiag.scale` there) so `setseed` governs every step.
pub async fn load(
    client: &tokio_postgres::Client,
    scale: f64,
    mut progress: impl FnMut(SeedProgress),
) -> Result<SeedSummary, Error> {
    if !(scale.is_finite() && scale > 0.0 && scale <= MAX_SCALE) {
        return Err(Error::InvalidScale(scale));
    }
    let started = Instant::now();
    let steps = steps();
    let total = steps.len();
    let step_error = |step: &str| {
        let step = step.to_string();
        move |source| Error::Step { step, source }
    };
    admin::set_session_setting(client, "pgdiag.scale", &scale.to_string())
        .await
        .map_err(step_error("set pgdiag.scale"))?;
    for (completed, (step, sql)) in steps.iter().enumerate() {
        progress(SeedProgress {
            step: step.clone(),
            completed,
            total,
            elapsed: started.elapsed(),
        });
        admin::run_script(client, sql)
            .await
            .map_err(step_error(step))?;
    }
    let mut tables = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let rows = admin::count_rows(client, None, table)
            .await
            .map_err(step_error("count rows"))?;
        tables.push(TableRows {
            table: table.to_string(),
            rows,
        });
    }
    progress(SeedProgress {
        step: "done".to_string(),
        completed: total,
        total,
        elapsed: started.elapsed(),
    });
    Ok(SeedSummary {
        scale,
        tables,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_sql_splits_into_named_steps_in_order() {
        let names: Vec<String> = steps().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names.first().map(String::as_str), Some("schema"));
        assert_eq!(names.get(1).map(String::as_str), Some("products"));
        assert!(names.iter().any(|n| n.starts_with("reviews 1/")));
        assert_eq!(names.last().map(String::as_str), Some("vacuum analyze"));
        // Every step has SQL, and no marker line leaks into a step.
        for (name, sql) in steps() {
            assert!(!sql.trim().is_empty(), "step {name} is empty");
            assert!(!sql.contains(STEP_MARKER), "step {name} holds a marker");
        }
    }

    #[test]
    fn vacuum_runs_alone_because_it_cannot_run_in_a_transaction_block() {
        let (_, sql) = steps().pop().unwrap();
        let statements: Vec<&str> = sql
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
            .collect();
        assert_eq!(statements, ["VACUUM ANALYZE;"]);
    }

    #[test]
    fn every_query_has_its_params_line() {
        let names: Vec<&str> = queries().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["product_page", "category_listing", "recommendations"]
        );
        assert_eq!(query_params(query("product_page").unwrap()), ["42"]);
        assert_eq!(query_params(query("category_listing").unwrap()), ["7"]);
        assert_eq!(query_params(query("recommendations").unwrap()), ["42"]);
        assert!(query_params("SELECT 1").is_empty());
        assert!(query("nope").is_none());
    }
}
