//! The text of `pgdiag cache-advice`: the target and the settings the verdicts were made with,
//! then one block per statement (its cost to the database, its verdict, the configuration or the
//! reason, the numbers to expect), and what the advised caches save in all.

use std::io::{self, Write};

use crate::cache::advice::{CacheKey, CachePlan, DontCache, Verdict};
use crate::cache::advising::CacheAdviceReport;
use crate::cache::verification::{Agreement, Tail, Verification};
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
        if let Some(verification) = &statement.verification {
            render_verification(w, verification)?;
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

/// The `--verify` lines under a cached statement: the run, then predicted against measured.
fn render_verification(w: &mut impl Write, verification: &Verification) -> io::Result<()> {
    let m = match verification {
        Verification::NotMeasured { reason } => {
            return writeln!(w, "  NOT VERIFIED  {reason}");
        }
        Verification::Measured(m) => m,
    };
    let b = &m.bench;
    let ttl = if (b.soft_ttl_s - b.hard_ttl_s).abs() < 1e-9 {
        format!("TTL {}", span(b.hard_ttl_s))
    } else {
        format!(
            "soft TTL {}, hard TTL {}",
            span(b.soft_ttl_s),
            span(b.hard_ttl_s)
        )
    };
    let writes = if b.write.is_some() {
        format!(
            ", {} writes/s{}",
            fmt_count(b.write_rate_per_s),
            if b.invalidate {
                ", invalidated on write"
            } else {
                ""
            }
        )
    } else {
        ", no writes".to_owned()
    };
    writeln!(
        w,
        "  VERIFIED  {}: {} reads at {} reads/s over {} keys in {}, {} times the workload's pace ({ttl}{writes})",
        if m.agrees { "agrees" } else { "DISAGREES" },
        fmt_count(b.reads as f64),
        fmt_count(b.measured_read_rate_per_s),
        fmt_count(b.keys as f64),
        span(b.duration_s),
        if m.scale < 100.0 {
            format!("{:.1}", m.scale)
        } else {
            fmt_count(m.scale)
        }
    )?;
    let pct = |share: f64| format!("{:.1}%", share * 100.0);
    let line = |w: &mut dyn Write, what: &str, a: &Agreement, extra: String| {
        writeln!(
            w,
            "         {what:<9} predicted {}, measured {} (± {:.1} points: {}){extra}",
            pct(a.predicted),
            pct(a.measured),
            a.tolerance * 100.0,
            if a.agrees { "agrees" } else { "disagrees" }
        )
    };
    line(w, "hit rate", &m.hit_rate, String::new())?;
    match (&m.stale_share, &m.stale_reads_per_hour) {
        (Some(stale), Some(per_hour)) => line(
            w,
            "stale",
            stale,
            format!(
                "; {} vs {} stale reads/h at the workload's rate",
                fmt_count(per_hour.predicted),
                fmt_count(per_hour.measured)
            ),
        )?,
        _ => writeln!(w, "         stale     not measured (no writes ran)")?,
    }
    writeln!(
        w,
        "         p99       {} ms; {}: at most {} ms ({}; informative)",
        fmt_ms(m.p99.measured_ms),
        match m.p99.predicted {
            Tail::Miss => "over 1% of reads miss, so a query's time",
            Tail::Hit => "under 1% of reads miss, so a cache read",
        },
        fmt_ms(m.p99.upper_ms),
        if m.p99.agrees { "agrees" } else { "disagrees" }
    )?;
    for note in &m.notes {
        writeln!(w, "         note: {note}")?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Strategy;
    use crate::cache::advice::{Invalidation, KeyPart, TableActivity};
    use crate::cache::advising::{SettingsUsed, StatementAdvice};
    use crate::cache::verification::{BenchSetup, Measurement, Pair, TailCheck};
    use crate::pg::ServerInfo;

    fn statement(n: usize, verification: Verification) -> StatementAdvice {
        StatementAdvice {
            statement: n,
            source: None,
            query: "SELECT count(*), avg(stars) FROM ratings WHERE item_id = $1".into(),
            calls_per_hour: 144_000.0,
            mean_ms: 2.0,
            db_ms_per_hour: 288_000.0,
            tables: vec![TableActivity {
                table: "ratings".into(),
                writes_per_hour: 36_000.0,
                rows: 4000.0,
            }],
            key: CacheKey {
                parts: vec![KeyPart {
                    parameter: 1,
                    column: Some("ratings.item_id".into()),
                    table: Some("ratings".into()),
                }],
            },
            distinct_keys: Some(200.0),
            advice: Verdict::Cache(CachePlan {
                strategy: Strategy::CacheAside,
                soft_ttl_s: 100.0,
                hard_ttl_s: 100.0,
                invalidate: Some(Invalidation {
                    table: "ratings".into(),
                    key_column: "item_id".into(),
                }),
                expected_hit_rate: 0.667,
                db_ms_saved_per_hour: 192_000.0,
                stale_reads_per_hour: 0.0,
                reasons: vec!["cache-aside: no herd".into()],
            }),
            verification: Some(verification),
        }
    }

    #[test]
    fn verification_lines_under_a_cached_statement() {
        let measured = Measurement {
            scale: 4.8,
            bench: BenchSetup {
                strategy: Strategy::CacheAside,
                keys: 200,
                zipf: 0.0,
                clients: 16,
                read_rate_per_s: 192.3,
                measured_read_rate_per_s: 198.8,
                reads: 1593,
                write_rate_per_s: 96.1,
                writes: 706,
                write: Some("UPDATE ratings SET item_id = item_id WHERE item_id = $1".into()),
                soft_ttl_s: 20.8,
                hard_ttl_s: 20.8,
                invalidate: true,
                warmup_s: 4.7,
                duration_s: 8.0,
            },
            advised_hit_rate: 0.667,
            hit_rate: Agreement::new(0.693, 0.707, 0.092),
            stale_share: Some(Agreement::new(0.0, 0.0013, 0.029)),
            stale_reads_per_hour: Some(Pair {
                predicted: 0.0,
                measured: 181.0,
            }),
            p99: TailCheck::new(0.693, 2.0, 39.0),
            agrees: true,
            notes: vec![
                "the machine read 150/s of the 192/s asked; predicted for the rate reached".into(),
            ],
        };
        let report = CacheAdviceReport {
            schema_version: 1,
            pgdiag_version: "0.0.0".into(),
            server: ServerInfo {
                version: "15.18".into(),
                version_num: 150_018,
                target: "app@db:5432/shop".into(),
            },
            settings: SettingsUsed {
                max_staleness_s: 10.0,
                fast_enough_ms: 0.0,
                min_hit_rate: 0.0,
                min_db_ms_per_hour: 1000.0,
            },
            source: "log".into(),
            workload_window_s: Some(60.0),
            counters_window_s: 2.0,
            statements: vec![
                statement(1, Verification::Measured(Box::new(measured))),
                statement(
                    2,
                    Verification::NotMeasured {
                        reason: "the benchmark failed: cannot use Redis at redis://127.0.0.1:1/"
                            .into(),
                    },
                ),
            ],
            skipped: Vec::new(),
            db_ms_saved_per_hour: 384_000.0,
        };
        let mut out = Vec::new();
        render_text(&mut out, &report, Some(120)).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }
}
