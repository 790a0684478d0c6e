//! `pgdiag top`: the report document (versioned, docs/top-report.md) and its text rendering, a
//! table of the statements that cost the database most, as `pg_stat_statements` recorded them.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::input::{OrderBy, Workload, WorkloadSource, WorkloadStatement};
use crate::pg::ServerInfo;
use crate::units::{fmt_count, fmt_ms, fmt_pct};

/// The `schema_version` of the `top` document.
pub const TOP_SCHEMA_VERSION: u32 = 1;

/// The query column's width when the output is not a terminal (a pipe, a file).
const UNBOUNDED_QUERY_WIDTH: usize = 160;
/// The query column never gets narrower than this, however narrow the terminal.
const MIN_QUERY_WIDTH: usize = 24;

/// What `pgdiag top --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopReport {
    pub schema_version: u32,
    pub pgdiag_version: String,
    pub server: ServerInfo,
    /// The database whose statements are ranked; `null` for every database (`--all-databases`).
    pub database: Option<String>,
    /// `total_time`, `mean_time`, `calls`, `rows` or `io`.
    pub order_by: String,
    pub limit: Option<usize>,
    pub min_calls: u64,
    /// When the statistics were last reset (`pg_stat_statements_info`, 14+), as the server
    /// prints it, and the seconds since then.
    pub stats_reset: Option<String>,
    pub window_seconds: Option<f64>,
    /// Entries evicted since the reset (`pg_stat_statements.max` reached): figures are missing.
    pub deallocated: Option<i64>,
    /// Statements whose text the role may not see (`<insufficient privilege>`).
    pub hidden_texts: usize,
    /// Every statement read (before `--min-calls` and `--limit`): the base of `share`.
    pub totals: Totals,
    pub statements: Vec<TopStatement>,
    /// What the reader must know: evictions, hidden texts and how to see them.
    pub notes: Vec<String>,
}

/// Every statement read, before `--min-calls` and `--limit`: the base of each `share`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Totals {
    pub statements: usize,
    pub calls: u64,
    pub total_ms: f64,
}

/// One ranked statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopStatement {
    /// 1 for the first.
    pub rank: usize,
    /// This statement's share (0–1) of the execution time of every statement read.
    pub share: f64,
    pub queryid: Option<i64>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub calls: u64,
    pub calls_per_hour: Option<f64>,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub stddev_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub rows: Option<u64>,
    pub shared_blks_hit: Option<i64>,
    pub shared_blks_read: Option<i64>,
    pub temp_blks: Option<i64>,
    /// The normalized text, as the view has it.
    pub query: String,
}

/// `--order-by`'s spelling in the document.
pub fn order_name(order: OrderBy) -> &'static str {
    match order {
        OrderBy::TotalTime => "total_time",
        OrderBy::MeanTime => "mean_time",
        OrderBy::Calls => "calls",
        OrderBy::Rows => "rows",
        OrderBy::Io => "io",
    }
}

fn order_words(order: &str) -> &str {
    match order {
        "total_time" => "total time",
        "mean_time" => "mean time",
        "io" => "I/O (shared blocks read + temp blocks)",
        other => other,
    }
}

/// How to ask for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRequest {
    pub database: Option<String>,
    pub order: OrderBy,
    pub limit: Option<usize>,
    pub min_calls: u64,
    /// Statements with hidden texts, and the role connected (for the GRANT step).
    pub hidden_texts: usize,
    pub current_user: String,
}

impl TopReport {
    /// Rank `workload` as `request` asks.
    pub fn new(server: ServerInfo, workload: &Workload, request: &TopRequest) -> TopReport {
        let total_ms = workload.total_ms();
        let statements = workload
            .ranked(request.order, request.limit, request.min_calls)
            .into_iter()
            .enumerate()
            .map(|(i, s)| top_statement(i + 1, s, workload, total_ms))
            .collect();
        let (stats_reset, deallocated) = match &workload.source {
            WorkloadSource::PgStatStatements {
                stats_reset,
                deallocated,
            } => (stats_reset.clone(), *deallocated),
            WorkloadSource::Log { .. } => (None, None),
        };
        let mut notes = Vec::new();
        if let Some(n) = deallocated.filter(|n| *n > 0) {
            notes.push(format!(
                "{} entr{} evicted since the reset (pg_stat_statements.max reached): statements run rarely may be missing; raise pg_stat_statements.max (restart) to keep more",
                fmt_count(n as f64),
                if n == 1 { "y was" } else { "ies were" }
            ));
        }
        if request.hidden_texts > 0 {
            notes.push(format!(
                "{} statement{} of other roles show{} <insufficient privilege>: to see every role's texts, as a superuser: {};",
                request.hidden_texts,
                if request.hidden_texts == 1 { "" } else { "s" },
                if request.hidden_texts == 1 { "s" } else { "" },
                crate::pg::stat_statements::grant_read_all_stats_sql(&request.current_user)
            ));
        }
        TopReport {
            schema_version: TOP_SCHEMA_VERSION,
            pgdiag_version: env!("CARGO_PKG_VERSION").to_owned(),
            server,
            database: request.database.clone(),
            order_by: order_name(request.order).to_owned(),
            limit: request.limit,
            min_calls: request.min_calls,
            stats_reset,
            window_seconds: workload.window.map(|w| w.as_secs_f64()),
            deallocated,
            hidden_texts: request.hidden_texts,
            totals: Totals {
                statements: workload.statements.len(),
                calls: workload.statements.iter().map(|s| s.calls).sum(),
                total_ms,
            },
            statements,
            notes,
        }
    }
}

fn top_statement(
    rank: usize,
    s: &WorkloadStatement,
    workload: &Workload,
    total_ms: f64,
) -> TopStatement {
    TopStatement {
        rank,
        share: if total_ms > 0.0 {
            s.total_ms / total_ms
        } else {
            0.0
        },
        queryid: s.queryid,
        database: s.database.clone(),
        user: s.user.clone(),
        calls: s.calls,
        calls_per_hour: workload.calls_per_hour(s),
        total_ms: s.total_ms,
        mean_ms: s.mean_ms,
        stddev_ms: s.stddev_ms,
        min_ms: s.min_ms,
        max_ms: s.max_ms,
        rows: s.rows,
        shared_blks_hit: s.shared_blks_hit,
        shared_blks_read: s.shared_blks_read,
        temp_blks: s.temp_blks,
        query: s.query.clone(),
    }
}

/// The document as pretty-printed JSON.
pub fn render_json(w: &mut impl Write, report: &TopReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, report)?;
    writeln!(w)
}

/// `3 d 4 h`, `2.5 h`, `12 min`, `40 s`: how long the statistics cover.
pub fn fmt_window(seconds: f64) -> String {
    if seconds >= 2.0 * 86_400.0 {
        let days = (seconds / 86_400.0).floor();
        let hours = ((seconds - days * 86_400.0) / 3600.0).floor();
        format!("{days:.0} d {hours:.0} h")
    } else if seconds >= 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

/// The statement's text on one line: runs of whitespace (newlines, tabs) become one space, and
/// it is cut to `width` characters with `…` when longer.
pub fn one_line(query: &str, width: usize) -> String {
    let collapsed = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= width {
        return collapsed;
    }
    let mut cut: String = collapsed.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn opt_count(v: Option<i64>) -> String {
    v.map_or_else(|| "-".into(), |v| fmt_count(v as f64))
}

/// The text report: the target line, the window, notes, then the table. `width` is the
/// terminal's (`None` when not a terminal: the query is then cut at 160 characters).
pub fn render_text(w: &mut impl Write, report: &TopReport, width: Option<u16>) -> io::Result<()> {
    writeln!(
        w,
        "pgdiag top: {}, {}",
        super::describe_target(&report.server.target, &report.server.version),
        match &report.database {
            Some(db) => format!("database {db}"),
            None => "every database".to_owned(),
        }
    )?;
    match (&report.stats_reset, report.window_seconds) {
        (Some(reset), Some(secs)) => writeln!(
            w,
            "statistics since {reset} ({}); {} statements, {} calls, {} ms in all",
            fmt_window(secs),
            fmt_count(report.totals.statements as f64),
            fmt_count(report.totals.calls as f64),
            fmt_ms(report.totals.total_ms)
        )?,
        _ => writeln!(
            w,
            "statistics since the last reset (time unknown); {} statements, {} calls, {} ms in all",
            fmt_count(report.totals.statements as f64),
            fmt_count(report.totals.calls as f64),
            fmt_ms(report.totals.total_ms)
        )?,
    }
    for note in &report.notes {
        writeln!(w, "note: {note}")?;
    }
    let mut by = format!("by {}", order_words(&report.order_by));
    if report.min_calls > 1 {
        by.push_str(&format!(
            ", at least {} calls",
            fmt_count(report.min_calls as f64)
        ));
    }
    if report.statements.is_empty() {
        writeln!(w, "no statement recorded ({by})")?;
        return Ok(());
    }
    writeln!(w, "top {} {by}:", fmt_count(report.statements.len() as f64))?;
    let every_database = report.database.is_none();
    let mut header = vec![
        "#",
        "time %",
        "calls",
        "total ms",
        "mean ms",
        "stddev ms",
        "rows",
        "hit",
        "read",
        "temp",
    ];
    if every_database {
        header.push("database");
    }
    let rows: Vec<Vec<String>> = report
        .statements
        .iter()
        .map(|s| {
            let mut row = vec![
                s.rank.to_string(),
                fmt_pct(s.share),
                fmt_count(s.calls as f64),
                fmt_ms(s.total_ms),
                fmt_ms(s.mean_ms),
                s.stddev_ms.map_or_else(|| "-".into(), fmt_ms),
                s.rows.map_or_else(|| "-".into(), |r| fmt_count(r as f64)),
                opt_count(s.shared_blks_hit),
                opt_count(s.shared_blks_read),
                opt_count(s.temp_blks),
            ];
            if every_database {
                row.push(s.database.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    // The query gets what the other columns leave of the width: each column is as wide as its
    // widest cell, plus a space either side and a border.
    let others: usize = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
                + 3
        })
        .sum();
    let query_width = match width {
        Some(width) => (width as usize)
            .saturating_sub(others + 4)
            .max(MIN_QUERY_WIDTH),
        None => UNBOUNDED_QUERY_WIDTH,
    };
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.force_no_tty();
    let mut header_cells: Vec<Cell> = header.iter().map(|h| Cell::new(*h)).collect();
    header_cells.push(Cell::new("query"));
    table.set_header(header_cells);
    for (s, row) in report.statements.iter().zip(rows) {
        let mut cells: Vec<Cell> = row
            .into_iter()
            .enumerate()
            .map(|(c, text)| {
                let cell = Cell::new(text);
                if c < 10 {
                    cell.set_alignment(CellAlignment::Right)
                } else {
                    cell
                }
            })
            .collect();
        cells.push(Cell::new(one_line(&s.query, query_width)));
        table.add_row(cells);
    }
    writeln!(w, "{table}")?;
    writeln!(
        w,
        "time % is the share of the execution time of every statement recorded; hit/read: shared blocks found in cache / read; temp: temporary blocks read + written"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn statement(query: &str, calls: u64, total_ms: f64) -> WorkloadStatement {
        WorkloadStatement {
            query: query.into(),
            database: Some("shop".into()),
            calls,
            total_ms,
            mean_ms: total_ms / calls as f64,
            stddev_ms: Some(1.5),
            rows: Some(calls),
            shared_blks_hit: Some(1200),
            shared_blks_read: Some(30),
            temp_blks: Some(0),
            ..WorkloadStatement::default()
        }
    }

    fn report(width_query: &str, hidden: usize) -> TopReport {
        let workload = Workload {
            source: WorkloadSource::PgStatStatements {
                stats_reset: Some("2026-12-01 10:00:00+00".into()),
                deallocated: Some(12),
            },
            window: Some(Duration::from_secs(9000)),
            statements: vec![
                statement("SELECT * FROM t WHERE id = $1", 90_000, 900.0),
                statement(width_query, 30, 8_100.0),
                statement("UPDATE t SET v = $1 WHERE id = $2", 5, 1_000.0),
            ],
        };
        TopReport::new(
            ServerInfo {
                version: "15.18".into(),
                version_num: 150018,
                target: "app@db:5432/shop".into(),
            },
            &workload,
            &TopRequest {
                database: Some("shop".into()),
                order: OrderBy::TotalTime,
                limit: Some(2),
                min_calls: 0,
                hidden_texts: hidden,
                current_user: "app".into(),
            },
        )
    }

    #[test]
    fn ranks_with_shares_of_all_statements() {
        let r = report("SELECT count(*)\n  FROM t\tWHERE v > $1", 0);
        assert_eq!(r.statements.len(), 2);
        assert_eq!(r.statements[0].calls, 30);
        assert!((r.statements[0].share - 0.81).abs() < 1e-9);
        assert_eq!(r.totals.statements, 3);
        assert_eq!(r.totals.calls, 90_035);
        // The UPDATE is second (1,000 ms against the SELECT's 900): 5 calls in 2.5 h.
        assert!(r.statements[1].query.starts_with("UPDATE"));
        assert_eq!(r.statements[1].calls_per_hour, Some(2.0));
        assert!(
            r.notes[0].contains("12 entries were evicted"),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn text_names_the_target_and_cuts_queries_to_the_width() {
        let long = format!("SELECT {} FROM t", vec!["col"; 80].join(", "));
        let r = report(&long, 2);
        let mut out = Vec::new();
        render_text(&mut out, &r, Some(120)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("pgdiag top: app@db:5432/shop (PostgreSQL 15.18), database shop\n"),
            "{text}"
        );
        assert!(
            text.contains("statistics since 2026-12-01 10:00:00+00 (2.5 h)"),
            "{text}"
        );
        assert!(
            text.contains("GRANT pg_read_all_stats TO \"app\""),
            "{text}"
        );
        assert!(text.contains("81.0%"), "{text}");
        for line in text.lines().filter(|l| l.starts_with('│')) {
            assert!(
                line.chars().count() <= 120,
                "{} > 120: {line}",
                line.chars().count()
            );
        }
        assert!(text.contains("SELECT col, col"), "{text}");
        assert!(text.contains('…'), "{text}");
        let mut out = Vec::new();
        render_text(&mut out, &r, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.lines()
                .any(|l| l.contains(&one_line(&long, UNBOUNDED_QUERY_WIDTH))),
            "{text}"
        );
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(one_line("SELECT 1\n\t FROM  t", 100), "SELECT 1 FROM t");
        assert_eq!(one_line("SELECT abcdef", 8), "SELECT …");
        assert_eq!(fmt_window(40.0), "40 s");
        assert_eq!(fmt_window(720.0), "12 min");
        assert_eq!(fmt_window(3.0 * 86_400.0 + 4.0 * 3600.0), "3 d 4 h");
    }

    #[test]
    fn json_round_trips() {
        let r = report("SELECT 2", 0);
        let mut out = Vec::new();
        render_json(&mut out, &r).unwrap();
        let back: TopReport = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.schema_version, TOP_SCHEMA_VERSION);
    }

    #[test]
    fn every_field_is_documented() {
        let doc = include_str!("../../docs/top-report.md");
        let value = serde_json::to_value(report("SELECT 2", 1)).unwrap();
        let mut fields: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        fields.extend(value["statements"][0].as_object().unwrap().keys().cloned());
        fields.extend(value["totals"].as_object().unwrap().keys().cloned());
        for field in fields {
            assert!(
                doc.contains(&format!("`{field}`")),
                "docs/top-report.md does not document `{field}`"
            );
        }
    }
}
