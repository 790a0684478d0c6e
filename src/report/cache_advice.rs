//! The text of `pgdiag cache-advice`: the target and the settings the verdicts were made with,
//! then one block per statement (its cost to the database, its verdict, the configuration or the
//! reason, the numbers to expect), and what the advised caches save in all.

use std::io::{self, Write};

use crate::cache::advice::{CacheKey, CachePlan, DontCache, Verdict};
use crate::cache::advising::CacheAdviceReport;
use crate::units::{fmt_count, fmt_ms};

/// Render the report; `width` cuts each statement's text to fit (default 120).
pub fn render_text(
    w: &mut impl Write,
    report: &CacheAdviceReport,
    width: Option<u16>,
) -> io::Result<()> {
    let width = usize::from(width.filter(|w| *w >= 40).unwrap_or(120));
    let version = report
        .server
        .version
        .split_whitespace()
        .next()
        .unwrap_or("");
    writeln!(
        w,
        "Cache advice on {} (PostgreSQL {version}): {} {} from {}{}; tables' writes counted over {}",
        report.server.target,
        report.statements.len(),
        if report.statements.len() == 1 {
            "statement"
        } else {
            "statements"
        },
        report.source,
        report
            .workload_window_s
            .map(|s| format!(" over {}", span(s)))
            .unwrap_or_default(),
        span(report.counters_window_s)
    )?;
    let s = &report.settings;
    writeln!(
        w,
        "max staleness {}, fast enough at {} ms, hit rate at least {}%",
        span(s.max_staleness_s),
        fmt_ms(s.fast_enough_ms),
        fmt_count(s.min_hit_rate * 100.0)
    )?;
    for statement in &report.statements {
        writeln!(w)?;
        let head = match &statement.source {
            Some(source) => format!("#{} {source}: ", statement.statement),
            None => format!("#{} ", statement.statement),
        };
        let figures = format!(
            "  {} calls/h × {} ms = {} of database time per hour",
            fmt_count(statement.calls_per_hour),
            fmt_ms(statement.mean_ms),
            span(statement.db_ms_per_hour / 1000.0)
        );
        writeln!(
            w,
            "{head}{}",
            one_line(&statement.query, width.saturating_sub(head.len()))
        )?;
        writeln!(w, "{figures}")?;
        match &statement.advice {
            Verdict::FixInDatabase { reason, .. } => {
                writeln!(w, "  FIX IN THE DATABASE  {reason}")?;
            }
            Verdict::DontCache { reason, detail } => {
                let why = match reason {
                    DontCache::CallerDependent => "caller-dependent",
                    DontCache::LowHitRate => "low hit rate",
                    DontCache::CheapAndRare => "cheap and rare",
                };
                writeln!(w, "  DON'T CACHE ({why})  {detail}")?;
            }
            Verdict::Cache(plan) => render_plan(w, plan, &statement.key)?,
        }
    }
    if !report.skipped.is_empty() {
        writeln!(w)?;
        writeln!(w, "Not judged: {}", report.skipped.len())?;
        for skip in report.skipped.iter().take(5) {
            writeln!(w, "  {}: {}", one_line(&skip.query, 60), skip.reason)?;
        }
    }
    writeln!(w)?;
    writeln!(
        w,
        "The advised caches save {} of database time per hour.",
        span(report.db_ms_saved_per_hour / 1000.0)
    )
}

fn render_plan(w: &mut impl Write, plan: &CachePlan, key: &CacheKey) -> io::Result<()> {
    let ttl = if (plan.soft_ttl_s - plan.hard_ttl_s).abs() < 1e-9 {
        format!("TTL {}", span(plan.hard_ttl_s))
    } else {
        format!(
            "soft TTL {}, hard TTL {}",
            span(plan.soft_ttl_s),
            span(plan.hard_ttl_s)
        )
    };
    let strategy = match plan.strategy {
        crate::cache::Strategy::Swr => "swr with a refresh lock".to_owned(),
        other => other.as_str().to_owned(),
    };
    writeln!(w, "  CACHE  {strategy}; {ttl}; key {key}")?;
    if let Some(invalidate) = &plan.invalidate {
        writeln!(
            w,
            "         invalidate on write: a NOTIFY trigger on {} deletes the key of the changed row ({})",
            invalidate.table, invalidate.key_column
        )?;
    }
    writeln!(
        w,
        "         expect {}% hits, {} of database time saved per hour, {} reads per hour served stale",
        fmt_count(plan.expected_hit_rate * 100.0),
        span(plan.db_ms_saved_per_hour / 1000.0),
        fmt_count(plan.stale_reads_per_hour)
    )?;
    for reason in &plan.reasons {
        writeln!(w, "         {reason}")?;
    }
    Ok(())
}

/// `42 s`, `3.5 min`, `2.0 h`.
pub(crate) fn span(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{} ms", fmt_ms(seconds * 1000.0))
    } else if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// The statement on one line, cut with `…` to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
