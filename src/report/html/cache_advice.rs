//! `pgdiag cache-advice --format html`: the settings the verdicts were made with, then one card
//! per statement (its verdict as a badge, the reasons with their numbers, the cache plan: strategy,
//! soft and hard TTL, invalidation table and key, the expected hit rate, database time saved per
//! hour and reads served stale, with a bar of hits and stale reads). [`render_advice_section`]
//! writes the cards alone, for any page that holds verdicts (the demo's too).

use std::io::{self, Write};

use super::{Esc, page_end, page_start};
use crate::cache::Strategy;
use crate::cache::advice::{CachePlan, DontCache, Verdict};
use crate::cache::advising::{CacheAdviceReport, SettingsUsed, StatementAdvice};
use crate::report::cache_advice::span;
use crate::units::{fmt_count, fmt_ms};

/// The cards' own style: classes prefixed `ca-`, so the section fits any page.
const STYLE: &str = "\
.ca-card { border-top: 1px solid var(--line, #ddd); padding: 10px 0 6px; }
.ca-card:first-of-type { border-top: none; }
.ca-card h3 { margin: 0 0 4px; }
.ca-card .badge.ca-cache { background: #2f7d32; }
.ca-card .badge.ca-fix { background: #1f5fbf; }
.ca-card .badge.ca-dont { background: #8a5a00; }
.ca-card ul.ca-reasons { margin: 4px 0; padding-left: 18px; }
.ca-card svg.ca-bar { display: block; margin: 6px 0; }
.ca-legend { color: var(--muted, #666); font-size: 12px; }
.ca-legend i { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; vertical-align: middle; }
";

/// The whole cache-advice report as one page.
pub fn render_cache_advice(w: &mut impl Write, report: &CacheAdviceReport) -> io::Result<()> {
    let meta = format!(
        "pgdiag {} · PostgreSQL {} · {} · {} statements from {}{} · tables' writes counted over {}",
        report.pgdiag_version,
        report.server.version,
        report.server.target,
        report.statements.len(),
        report.source,
        report
            .workload_window_s
            .map(|s| format!(" over {}", span(s)))
            .unwrap_or_default(),
        span(report.counters_window_s)
    );
    page_start(w, "pgdiag cache-advice", &meta)?;
    render_advice_section(w, &report.statements, &report.settings)?;
    if !report.skipped.is_empty() {
        writeln!(
            w,
            "<section class=\"block\"><h2>Not judged ({})</h2><ul>",
            report.skipped.len()
        )?;
        for skip in &report.skipped {
            writeln!(
                w,
                "<li><code>{}</code> — {}</li>",
                Esc(&one_line(&skip.query)),
                Esc(&skip.reason)
            )?;
        }
        writeln!(w, "</ul></section>")?;
    }
    writeln!(
        w,
        "<p class=\"note\">The advised caches save {} of database time per hour.</p>",
        Esc(&span(report.db_ms_saved_per_hour / 1000.0))
    )?;
    page_end(w)
}

/// One `<section>` of verdicts, one card (`article.ca-card`) per statement, with the settings
/// they were made with.
pub fn render_advice_section(
    w: &mut impl Write,
    statements: &[StatementAdvice],
    settings: &SettingsUsed,
) -> io::Result<()> {
    writeln!(w, "<style>\n{STYLE}</style>")?;
    writeln!(
        w,
        "<section class=\"block cache-advice\"><h2>Cache verdicts</h2><p class=\"note\">max staleness {}, fast enough at {} ms, hit rate at least {}%</p>",
        Esc(&span(settings.max_staleness_s)),
        Esc(&fmt_ms(settings.fast_enough_ms)),
        Esc(&fmt_count(settings.min_hit_rate * 100.0))
    )?;
    if statements.is_empty() {
        writeln!(w, "<p class=\"note\">No statement was judged.</p>")?;
    }
    for statement in statements {
        render_card(w, statement)?;
    }
    writeln!(w, "</section>")
}

fn render_card(w: &mut impl Write, s: &StatementAdvice) -> io::Result<()> {
    let (class, badge) = match &s.advice {
        Verdict::Cache(_) => ("ca-cache", "cache"),
        Verdict::FixInDatabase { .. } => ("ca-fix", "fix in the database"),
        Verdict::DontCache { .. } => ("ca-dont", "don't cache"),
    };
    let name = s
        .source
        .clone()
        .unwrap_or_else(|| format!("statement #{}", s.statement));
    writeln!(
        w,
        "<article class=\"ca-card\" id=\"ca{}\" data-verdict=\"{class}\"><h3><span class=\"badge {class}\">{}</span> #{} {}</h3>",
        s.statement,
        Esc(badge),
        s.statement,
        Esc(&name)
    )?;
    writeln!(w, "<pre class=\"sql\">{}</pre>", Esc(&s.query))?;
    let tables: Vec<String> = s
        .tables
        .iter()
        .map(|t| format!("{} ({} writes/h)", t.table, fmt_count(t.writes_per_hour)))
        .collect();
    writeln!(
        w,
        "<div class=\"facts\"><span><b>{}</b> calls/h</span><span><b>{} ms</b> mean</span><span><b>{}</b> of database time per hour</span><span>key <b>{}</b>{}</span><span>reads {}</span></div>",
        Esc(&fmt_count(s.calls_per_hour)),
        Esc(&fmt_ms(s.mean_ms)),
        Esc(&span(s.db_ms_per_hour / 1000.0)),
        Esc(&s.key.to_string()),
        Esc(&s
            .distinct_keys
            .map(|k| if k <= 1.0 {
                ", one key".to_owned()
            } else {
                format!(", ~{} keys", fmt_count(k))
            })
            .unwrap_or_default()),
        Esc(&if tables.is_empty() {
            "no table".to_owned()
        } else {
            tables.join(", ")
        })
    )?;
    match &s.advice {
        Verdict::FixInDatabase {
            suggestions,
            expected_ms,
            reason,
        } => {
            writeln!(
                w,
                "<ul class=\"ca-reasons\"><li>{}</li></ul><table class=\"kv\"><tr><th>suggestions</th><td>{}</td></tr><tr><th>expected time</th><td>{} ms</td></tr></table>",
                Esc(reason),
                Esc(&suggestions.join(", ")),
                Esc(&fmt_ms(*expected_ms))
            )?;
        }
        Verdict::DontCache { reason, detail } => {
            let why = match reason {
                DontCache::CallerDependent => "caller-dependent",
                DontCache::LowHitRate => "low hit rate",
                DontCache::CheapAndRare => "cheap and rare",
            };
            writeln!(
                w,
                "<ul class=\"ca-reasons\"><li><b>{}</b>: {}</li></ul>",
                Esc(why),
                Esc(detail)
            )?;
        }
        Verdict::Cache(plan) => render_plan(w, s, plan)?,
    }
    writeln!(w, "</article>")
}

fn render_plan(w: &mut impl Write, s: &StatementAdvice, plan: &CachePlan) -> io::Result<()> {
    writeln!(w, "<ul class=\"ca-reasons\">")?;
    for reason in &plan.reasons {
        writeln!(w, "<li>{}</li>", Esc(reason))?;
    }
    writeln!(w, "</ul>")?;
    let strategy = match plan.strategy {
        Strategy::Swr => "swr with a refresh lock".to_owned(),
        other => other.as_str().to_owned(),
    };
    let invalidation = match &plan.invalidate {
        Some(i) => format!(
            "on write: a NOTIFY trigger on {} deletes the key of the changed row ({})",
            i.table, i.key_column
        ),
        None => "none: entries end at their TTL".to_owned(),
    };
    let stale_share = plan.stale_reads_per_hour / s.calls_per_hour.max(f64::MIN_POSITIVE);
    writeln!(
        w,
        "<table class=\"kv\"><tr><th>strategy</th><td>{}</td></tr><tr><th>soft TTL</th><td>{}</td></tr><tr><th>hard TTL</th><td>{}</td></tr><tr><th>invalidation</th><td>{}</td></tr><tr><th>key</th><td>{}</td></tr><tr><th>expected hit rate</th><td>{}%</td></tr><tr><th>database time saved</th><td>{} per hour</td></tr><tr><th>staleness exposure</th><td>{} reads per hour served stale ({}% of reads)</td></tr></table>",
        Esc(&strategy),
        Esc(&span(plan.soft_ttl_s)),
        Esc(&span(plan.hard_ttl_s)),
        Esc(&invalidation),
        Esc(&s.key.to_string()),
        Esc(&percent(plan.expected_hit_rate)),
        Esc(&span(plan.db_ms_saved_per_hour / 1000.0)),
        Esc(&fmt_count(plan.stale_reads_per_hour)),
        Esc(&percent(stale_share))
    )?;
    bar(w, plan.expected_hit_rate, stale_share)
}

/// A static bar: fresh hits, stale hits, misses, as shares of the reads.
fn bar(w: &mut impl Write, hit_rate: f64, stale_share: f64) -> io::Result<()> {
    const WIDTH: f64 = 240.0;
    let hits = hit_rate.clamp(0.0, 1.0);
    let stale = stale_share.clamp(0.0, hits);
    let fresh = hits - stale;
    writeln!(
        w,
        "<svg class=\"ca-bar\" width=\"{WIDTH}\" height=\"12\" viewBox=\"0 0 {WIDTH} 12\" role=\"img\" aria-label=\"{}% hits, {}% stale\"><rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"12\" fill=\"#d9dce1\"/><rect class=\"ca-fresh\" x=\"0\" y=\"0\" width=\"{:.1}\" height=\"12\" fill=\"#2f7d32\"/><rect class=\"ca-stale\" x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"12\" fill=\"#d18b00\"/></svg>",
        Esc(&percent(hits)),
        Esc(&percent(stale)),
        fresh * WIDTH,
        fresh * WIDTH,
        stale * WIDTH
    )?;
    writeln!(
        w,
        "<div class=\"ca-legend\"><i style=\"background:#2f7d32\"></i>current hits<i style=\"background:#d18b00\"></i>stale hits<i style=\"background:#d9dce1\"></i>misses</div>"
    )
}

fn percent(share: f64) -> String {
    let pct = share * 100.0;
    if pct > 0.0 && pct < 1.0 {
        format!("{pct:.2}")
    } else {
        format!("{pct:.0}")
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::advice::{AdviceSettings, CacheKey, StatementFacts, TableActivity, advise};
    use crate::cache::advising::settings_used;

    fn judged(number: usize, query: &str, facts: StatementFacts) -> StatementAdvice {
        let settings = AdviceSettings::default();
        StatementAdvice {
            statement: number,
            source: Some(format!("q.sql:{number}")),
            query: query.into(),
            calls_per_hour: facts.calls_per_hour,
            mean_ms: facts.mean_ms,
            db_ms_per_hour: facts.calls_per_hour * facts.mean_ms,
            tables: facts.tables.clone(),
            key: facts.key.clone(),
            distinct_keys: facts.distinct_keys,
            advice: advise(&facts, &settings),
            verification: None,
        }
    }

    #[test]
    fn one_card_per_statement_its_text_escaped() {
        let facts =
            |calls_per_hour: f64, writes_per_hour: f64, dependent: Option<&str>| StatementFacts {
                calls_per_hour,
                mean_ms: 40.0,
                key: CacheKey { parts: Vec::new() },
                distinct_keys: None,
                tables: vec![TableActivity {
                    table: "t<x>".into(),
                    writes_per_hour,
                    rows: 10.0,
                }],
                caller_dependent: dependent.map(str::to_owned),
                fix: None,
            };
        let statements = [
            judged(1, "SELECT '</pre><script>'", facts(3600.0, 0.0, None)),
            judged(2, "SELECT now()", facts(3600.0, 0.0, Some("now()"))),
            judged(3, "SELECT 3", facts(1.0, 0.0, None)),
        ];
        let mut out = Vec::new();
        render_advice_section(
            &mut out,
            &statements,
            &settings_used(&AdviceSettings::default()),
        )
        .unwrap();
        let html = String::from_utf8(out).unwrap();
        assert_eq!(html.matches("<article class=\"ca-card\"").count(), 3);
        assert_eq!(html.matches("data-verdict=\"ca-cache\"").count(), 1);
        assert_eq!(html.matches("data-verdict=\"ca-dont\"").count(), 2);
        assert!(
            html.contains("SELECT &#39;&lt;/pre&gt;&lt;script&gt;&#39;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("t&lt;x&gt; (0 writes/h)"), "{html}");
        assert!(html.contains("caller-dependent"), "{html}");
        assert!(html.contains("cheap and rare"), "{html}");
        // The cached one: its plan and its bar, all hits current (nobody writes).
        assert_eq!(html.matches("<svg class=\"ca-bar\"").count(), 1);
        assert!(html.contains("staleness exposure"), "{html}");
    }
}
