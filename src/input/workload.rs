//! A workload: the statements a database ran, with how often and for how long, as
//! `pg_stat_statements` or a server log records them. What `top` ranks and what `suggest` and
//! `explain` read with `--from-pg-stat-statements` / `--from-log` instead of SQL files.
//!
//! Pure values and their ranking; the view is read by [`crate::pg::stat_statements::read`] and
//! turned into a workload here ([`from_stat_statements`]); log files by [`crate::input::log`].

use std::time::Duration;

use serde::Serialize;

/// Where a workload's figures come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkloadSource {
    /// The `pg_stat_statements` view of the server connected to.
    PgStatStatements {
        /// When its statistics were last reset (`pg_stat_statements_info.stats_reset`, 14+), as
        /// the server prints it; `None` when unknown.
        stats_reset: Option<String>,
        /// Entries evicted since then because `pg_stat_statements.max` was reached
        /// (`pg_stat_statements_info.dealloc`): the figures miss that many statements.
        deallocated: Option<i64>,
    },
    /// A server log file (stderr, csvlog or jsonlog; `log_min_duration_statement` and
    /// `auto_explain` lines).
    Log {
        path: String,
        /// `stderr`, `csvlog` or `jsonlog`.
        format: String,
        /// Lines read, and lines that were statements with a duration.
        lines: u64,
        statement_lines: u64,
        /// Messages and lines that were neither an execution with a duration nor its
        /// parameters (parse/bind durations, `log_statement` lines, errors, connections, lines
        /// not in the log's format).
        skipped: u64,
    },
}

/// One statement of a workload: its text (normalized, `$1` … for constants, when the source
/// normalizes) and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkloadStatement {
    /// The statement's text: normalized (`WHERE id = $1`) from `pg_stat_statements` and from a
    /// log once its constants are replaced; as run otherwise.
    pub query: String,
    /// `pg_stat_statements.queryid`, when the source has one.
    pub queryid: Option<i64>,
    /// The database and the role that ran it, when the source says.
    pub database: Option<String>,
    pub user: Option<String>,
    pub calls: u64,
    /// Total and per-call execution time, in milliseconds.
    pub total_ms: f64,
    pub mean_ms: f64,
    /// Population standard deviation of the per-call time, when the source has it.
    pub stddev_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Rows returned or affected, in all.
    pub rows: Option<u64>,
    /// Shared buffers found in cache and read, and temporary blocks read plus written, in all.
    pub shared_blks_hit: Option<i64>,
    pub shared_blks_read: Option<i64>,
    pub temp_blks: Option<i64>,
    /// Parameter values one call ran with (`$1` first), when a log gave them (`DETAIL:
    /// parameters: $1 = '42'`) or constants were replaced; `None` for a SQL NULL.
    pub sample_params: Option<Vec<Option<String>>>,
    /// A plan the source logged for it (`auto_explain`: JSON or text, as logged).
    pub logged_plan: Option<String>,
    /// Where it was first seen (`postgresql.log:1234`), for a log.
    pub first_seen: Option<String>,
}

impl WorkloadStatement {
    /// Shared blocks read plus temporary blocks: the I/O `--order-by io` ranks by.
    pub fn io_blocks(&self) -> i64 {
        self.shared_blks_read.unwrap_or(0) + self.temp_blks.unwrap_or(0)
    }
}

/// The statements of one source, with the span of time their figures cover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub source: WorkloadSource,
    /// How long the figures cover: since the statistics were reset, or from a log's first to its
    /// last timestamp. `None` when unknown (rates per hour are then not given).
    #[serde(serialize_with = "seconds")]
    pub window: Option<Duration>,
    pub statements: Vec<WorkloadStatement>,
}

fn seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// What `top` ranks by (`--order-by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderBy {
    /// Total execution time: what the database spends on it.
    #[default]
    TotalTime,
    MeanTime,
    Calls,
    Rows,
    /// Shared blocks read plus temporary blocks.
    Io,
}

impl Workload {
    /// Every statement's execution time, in all, in milliseconds.
    pub fn total_ms(&self) -> f64 {
        self.statements.iter().map(|s| s.total_ms).sum()
    }

    /// How many times an hour `statement` runs, over the workload's window.
    pub fn calls_per_hour(&self, statement: &WorkloadStatement) -> Option<f64> {
        let hours = self.window?.as_secs_f64() / 3600.0;
        (hours > 0.0).then(|| statement.calls as f64 / hours)
    }

    /// The statements with at least `min_calls` calls, ordered by `order` (largest first; ties by
    /// total time, then text, so the order is stable), the first `limit` of them.
    pub fn ranked(
        &self,
        order: OrderBy,
        limit: Option<usize>,
        min_calls: u64,
    ) -> Vec<&WorkloadStatement> {
        let key = |s: &WorkloadStatement| -> f64 {
            match order {
                OrderBy::TotalTime => s.total_ms,
                OrderBy::MeanTime => s.mean_ms,
                OrderBy::Calls => s.calls as f64,
                OrderBy::Rows => s.rows.unwrap_or(0) as f64,
                OrderBy::Io => s.io_blocks() as f64,
            }
        };
        let mut ranked: Vec<&WorkloadStatement> = self
            .statements
            .iter()
            .filter(|s| s.calls >= min_calls)
            .collect();
        ranked.sort_by(|a, b| {
            key(b)
                .total_cmp(&key(a))
                .then(b.total_ms.total_cmp(&a.total_ms))
                .then_with(|| a.query.cmp(&b.query))
        });
        if let Some(limit) = limit {
            ranked.truncate(limit);
        }
        ranked
    }
}

/// The workload `pg_stat_statements` recorded ([`crate::pg::stat_statements::read`]): its
/// statements in the order read, the window from the statistics' reset to now.
pub fn from_stat_statements(read: &crate::pg::stat_statements::StatStatements) -> Workload {
    let statements = read
        .statements
        .iter()
        .map(|s| WorkloadStatement {
            query: s.query.clone(),
            queryid: s.queryid,
            database: Some(s.database.clone()),
            user: Some(s.user.clone()).filter(|u| !u.is_empty()),
            calls: u64::try_from(s.calls).unwrap_or(0),
            total_ms: s.total_ms,
            mean_ms: s.mean_ms,
            stddev_ms: Some(s.stddev_ms),
            min_ms: Some(s.min_ms),
            max_ms: Some(s.max_ms),
            rows: Some(u64::try_from(s.rows).unwrap_or(0)),
            shared_blks_hit: Some(s.shared_blks_hit),
            shared_blks_read: Some(s.shared_blks_read),
            temp_blks: Some(s.temp_blks),
            ..WorkloadStatement::default()
        })
        .collect();
    Workload {
        source: WorkloadSource::PgStatStatements {
            stats_reset: read.stats_reset.clone(),
            deallocated: read.deallocated,
        },
        window: read
            .window_secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
        statements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_statements_become_a_workload() {
        use crate::pg::stat_statements::{StatStatement, StatStatements};
        let read = StatStatements {
            statements: vec![StatStatement {
                queryid: Some(7),
                query: "SELECT $1".into(),
                database: "shop".into(),
                user: "app".into(),
                calls: 4,
                total_ms: 10.0,
                mean_ms: 2.5,
                stddev_ms: 0.5,
                min_ms: 2.0,
                max_ms: 3.0,
                rows: 4,
                shared_blks_hit: 8,
                shared_blks_read: 2,
                temp_blks: 1,
            }],
            stats_reset: Some("2026-12-01 10:00:00+00".into()),
            window_secs: Some(7200.0),
            deallocated: Some(3),
            hidden: 0,
            current_user: "app".into(),
        };
        let workload = from_stat_statements(&read);
        assert_eq!(workload.window, Some(Duration::from_secs(7200)));
        assert_eq!(
            workload.source,
            WorkloadSource::PgStatStatements {
                stats_reset: Some("2026-12-01 10:00:00+00".into()),
                deallocated: Some(3),
            }
        );
        let s = &workload.statements[0];
        assert_eq!((s.calls, s.queryid, s.io_blocks()), (4, Some(7), 3));
        assert_eq!(s.database.as_deref(), Some("shop"));
        assert_eq!(workload.calls_per_hour(s), Some(2.0));
    }

    fn statement(query: &str, calls: u64, total_ms: f64) -> WorkloadStatement {
        WorkloadStatement {
            query: query.into(),
            calls,
            total_ms,
            mean_ms: total_ms / calls as f64,
            ..WorkloadStatement::default()
        }
    }

    #[test]
    fn ranks_by_each_measure_with_a_stable_order() {
        let workload = Workload {
            source: WorkloadSource::PgStatStatements {
                stats_reset: None,
                deallocated: None,
            },
            window: Some(Duration::from_secs(1800)),
            statements: vec![
                statement("select fast", 10_000, 500.0),
                statement("select slow", 5, 4_000.0),
                statement("select rare", 1, 100.0),
            ],
        };
        let total: Vec<&str> = workload
            .ranked(OrderBy::TotalTime, None, 0)
            .iter()
            .map(|s| s.query.as_str())
            .collect();
        assert_eq!(total, ["select slow", "select fast", "select rare"]);
        let calls = workload.ranked(OrderBy::Calls, Some(1), 0);
        assert_eq!(calls[0].query, "select fast");
        let mean = workload.ranked(OrderBy::MeanTime, None, 2);
        assert_eq!(mean.len(), 2, "--min-calls 2 leaves the rare one out");
        assert_eq!(mean[0].query, "select slow");
        assert_eq!(workload.total_ms(), 4_600.0);
        // Half an hour: 10,000 calls are 20,000 an hour.
        assert_eq!(
            workload.calls_per_hour(&workload.statements[0]),
            Some(20_000.0)
        );
    }
}
