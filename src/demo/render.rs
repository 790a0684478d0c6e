//! The demo's text output: one section per step, written as the step finishes, then the summary
//! table. Everything printed comes from the report structs, so text and JSON tell the same story.

use std::io::{self, Write};

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::bench::report::StrategyResult;
use crate::seed::SeedSummary;
use crate::suggest::report::{Measure, Verdict};

use super::{
    ApplyStep, BeforeAfter, CacheAdviceStep, NaiveCacheStep, NextStep, QueryDiagnosis, SummaryRow,
    SwrCacheStep, Timing,
};
use crate::cache::advice::{DontCache, Verdict as CacheVerdict};

/// How many findings a query shows: the ones a newcomer should read first.
const FINDINGS_SHOWN: usize = 4;

pub fn heading(out: &mut impl Write, step: usize, title: &str) -> io::Result<()> {
    writeln!(out, "\n== {step}. {title}")
}

pub fn seed(out: &mut impl Write, summary: &SeedSummary) -> io::Result<()> {
    let tables: Vec<String> = summary
        .tables
        .iter()
        .map(|t| format!("{} {}", t.table, thousands(t.rows)))
        .collect();
    writeln!(
        out,
        "loaded scale {} in {:.1} s: {}",
        summary.scale,
        summary.elapsed_ms / 1000.0,
        tables.join(", ")
    )?;
    writeln!(
        out,
        "indexes: primary keys only (nothing on reviews.product_id, nothing on recommendations(product_id, score))"
    )
}

pub fn diagnosis(out: &mut impl Write, d: &QueryDiagnosis) -> io::Result<()> {
    let jit = d
        .jit_ms
        .map_or(String::new(), |ms| format!(", JIT {}", millis(ms)));
    writeln!(
        out,
        "{} ($1 = {}): execution {}{jit}",
        d.query,
        d.params.join(", "),
        d.execution_ms.map_or("-".into(), millis)
    )?;
    if d.findings.is_empty() {
        writeln!(out, "  no findings")?;
    }
    for f in d.findings.iter().take(FINDINGS_SHOWN) {
        writeln!(
            out,
            "  {:<8} {:<16} {} ({:.0}%)",
            format!("{:?}", f.severity).to_uppercase(),
            f.rule,
            millis(f.time_at_stake_ms),
            f.share_at_stake * 100.0
        )?;
        writeln!(out, "           {}", f.summary)?;
    }
    if d.findings.len() > FINDINGS_SHOWN {
        writeln!(
            out,
            "  ... {} more (pgdiag explain shows them all)",
            d.findings.len() - FINDINGS_SHOWN
        )?;
    }
    Ok(())
}

pub fn naive_cache(out: &mut impl Write, step: &NaiveCacheStep) -> io::Result<()> {
    writeln!(
        out,
        "cache-aside on the whole product page, TTL {} s, {} clients:",
        step.ttl_ms / 1000,
        step.clients
    )?;
    strategy_table(out, &step.steady)?;
    writeln!(
        out,
        "fast hits: p50 {} with the cache vs {} without",
        millis(step.hit_p50_ms),
        millis(step.no_cache_p50_ms)
    )?;
    writeln!(
        out,
        "the herd: when the hottest page expires, {} readers at once cost {} database calls per expiry",
        step.herd_clients,
        join(&step.herd_db_calls_per_expiry)
    )?;
    let writes = step.stale_prices.staleness.as_ref().map_or(0, |s| s.writes);
    writeln!(
        out,
        "stale prices: {writes} price updates, {} reads served the old price, up to {} after the update ({})",
        step.stale_reads,
        millis(step.staleness_max_ms),
        step.write
    )
}

/// `width`: the columns the before/after table wraps its cells to.
pub fn apply(
    out: &mut impl Write,
    step: &ApplyStep,
    timings: &[BeforeAfter],
    width: u16,
) -> io::Result<()> {
    writeln!(out, "{}", step.note)?;
    for s in &step.applied {
        let built = match (s.status.as_str(), s.build_ms) {
            ("created", Some(ms)) => format!("created in {}", millis(ms)),
            (status, _) => status.replace('_', " "),
        };
        let size = s
            .size_bytes
            .map_or(String::new(), |b| format!(", {}", bytes(b)));
        writeln!(
            out,
            "  {} {} {} on {} ({}): {built}{size}",
            s.id,
            s.kind,
            s.name,
            s.table,
            s.columns.join(", ")
        )?;
        if let Some(message) = &s.message {
            writeln!(out, "     {message}")?;
        }
        if let Some(proof) = &s.proof {
            let figures: Vec<String> = proof
                .per_query
                .iter()
                .map(|q| {
                    let change = match (q.before.time_ms, q.after.time_ms) {
                        (Some(before), Some(after)) => {
                            format!("{} → {}", millis(before), millis(after))
                        }
                        _ => format!(
                            "cost {} → {}",
                            q.before
                                .cost
                                .map_or("-".into(), |c| thousands(c.round() as i64)),
                            q.after
                                .cost
                                .map_or("-".into(), |c| thousands(c.round() as i64))
                        ),
                    };
                    let used = if q.used { "" } else { ", not used" };
                    format!("{} {change}{used}", q.query)
                })
                .collect();
            let rows = match proof.results_match {
                Some(true) => ", same rows",
                Some(false) => ", different rows",
                None => "",
            };
            let alongside = if proof.alongside.is_empty() {
                String::new()
            } else {
                format!(", with {} in place", proof.alongside.join(", "))
            };
            writeln!(
                out,
                "     proof ({}{alongside}): {}{rows}",
                proof.method,
                figures.join("; ")
            )?;
        } else {
            writeln!(out, "     not verified ({})", s.suggest_status)?;
        }
        for ddl in &s.ddl {
            writeln!(out, "     {ddl};")?;
        }
    }
    for r in &step.rejected {
        writeln!(
            out,
            "  not kept: {} {} {}: {}",
            r.id, r.kind, r.name, r.reason
        )?;
    }
    let runs = timings.first().map_or(0, |t| t.before.runs);
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(vec![
            "query".to_owned(),
            format!("before: median (range) of {runs} runs"),
            format!("after: median (range) of {runs} runs"),
            "speedup".to_owned(),
            "plan change".to_owned(),
        ]);
    // The query names are short: whole, so that a test (or a reader's grep) finds them.
    if let Some(column) = table.column_mut(0) {
        column.set_constraint(ColumnConstraint::ContentWidth);
    }
    let mut rows: Vec<[String; 5]> = Vec::new();
    for t in timings {
        let query = if t.after_sql_rewritten {
            format!("{}, rewritten to the view", t.query)
        } else {
            t.query.clone()
        };
        rows.push([
            query,
            timed(&t.before),
            timed(&t.after),
            speedup(&t.before, &t.after),
            plan_change(&t.before.plan, &t.after.plan),
        ]);
        if let Some(as_written) = &t.after_as_written {
            rows.push([
                format!("{}, as written", t.query),
                timed(&t.before),
                timed(as_written),
                speedup(&t.before, as_written),
                plan_change(&t.before.plan, &as_written.plan),
            ]);
        }
    }
    for row in &rows {
        table.add_row(row.to_vec());
    }
    // Under 100 columns the table's cells would wrap mid-word: one block per query instead.
    if width < 100 {
        writeln!(out, "median (range) of {runs} runs, before → after:")?;
        for [query, before, after, speedup, plan] in &rows {
            writeln!(out, "  {query}: {before} → {after}, {speedup}")?;
            for line in plan.lines() {
                writeln!(out, "    {line}")?;
            }
        }
    } else {
        writeln!(out, "{table}")?;
    }
    if let Some(page) = timings.iter().find(|t| t.query == "product_page") {
        writeln!(
            out,
            "the article's product page went from 2.4 s to 180 ms; on this machine: {} → {}",
            timed(&page.before),
            timed(&page.after)
        )?;
    }
    if !step.rewritten.is_empty() {
        let names: Vec<&str> = step.rewritten.iter().map(|(q, _)| q.as_str()).collect();
        writeln!(
            out,
            "(rewritten: {} read the view instead of aggregating every review; `pgdiag suggest` prints the rewrites)",
            names.join(", ")
        )?;
    }
    Ok(())
}

pub fn swr_cache(out: &mut impl Write, step: &SwrCacheStep) -> io::Result<()> {
    writeln!(
        out,
        "swr on the recommendations query only, soft TTL {} ms, TTL {} s, {} clients:",
        step.soft_ttl_ms,
        step.ttl_ms / 1000,
        step.clients
    )?;
    strategy_table(out, &step.steady)?;
    writeln!(
        out,
        "hit {:.0}% · miss {:.0}% · stale served {:.0}% · refresh p99 {}",
        step.hit_rate * 100.0,
        step.miss_rate * 100.0,
        step.stale_rate * 100.0,
        step.refresh_p99_ms.map_or("-".into(), millis)
    )?;
    writeln!(
        out,
        "the herd: {} readers of an expired key cost {} database calls per expiry",
        step.herd_clients,
        join(&step.herd_db_calls_per_expiry)
    )
}

/// Step 6: one line per query (its verdict; for a cache, its strategy, TTLs and expected hit
/// rate; else the reason), after the inputs the verdicts were made on.
pub fn cache_advice(out: &mut impl Write, step: &CacheAdviceStep) -> io::Result<()> {
    let rates: Vec<String> = step
        .call_rates
        .iter()
        .map(|r| format!("{} {}/h", r.query, thousands_f(r.calls_per_hour)))
        .collect();
    let writes: Vec<String> = step
        .table_writes
        .iter()
        .map(|t| format!("{} {}/h", t.table, thousands_f(t.writes_per_hour)))
        .collect();
    writeln!(
        out,
        "cache-advice's model on this run's times: calls stated ({}), writes measured in step 3 ({}), max staleness {} s",
        rates.join(", "),
        writes.join(", "),
        step.settings.max_staleness_s
    )?;
    for s in &step.statements {
        let name = s.source.as_deref().unwrap_or("?");
        match &s.advice {
            CacheVerdict::FixInDatabase { reason, .. } => {
                writeln!(out, "  {name:<17} FIX IN THE DATABASE  {reason}")?;
            }
            CacheVerdict::DontCache { reason, detail } => {
                let why = match reason {
                    DontCache::CallerDependent => "caller-dependent",
                    DontCache::LowHitRate => "low hit rate",
                    DontCache::CheapAndRare => "cheap and rare",
                };
                writeln!(out, "  {name:<17} DON'T CACHE ({why})  {detail}")?;
            }
            CacheVerdict::Cache(plan) => {
                writeln!(
                    out,
                    "  {name:<17} CACHE  {}, soft TTL {}, hard TTL {}{}, expected hit rate {:.1}%",
                    plan.strategy.as_str(),
                    seconds(plan.soft_ttl_s),
                    seconds(plan.hard_ttl_s),
                    plan.invalidate.as_ref().map_or(String::new(), |i| format!(
                        ", invalidated on writes to {} ({})",
                        i.table, i.key_column
                    )),
                    plan.expected_hit_rate * 100.0
                )?;
            }
        }
    }
    Ok(())
}

/// The closing table's row for step 6: each query's verdict in a word.
pub fn cache_advice_row(step: &CacheAdviceStep) -> SummaryRow {
    let verdicts: Vec<String> = step
        .statements
        .iter()
        .map(|s| {
            let verdict = match &s.advice {
                CacheVerdict::FixInDatabase { .. } => "fix in the database".to_owned(),
                CacheVerdict::DontCache { .. } => "don't cache".to_owned(),
                CacheVerdict::Cache(plan) => format!("cache ({})", plan.strategy.as_str()),
            };
            format!("{}: {verdict}", s.source.as_deref().unwrap_or("?"))
        })
        .collect();
    SummaryRow {
        step: "6 cache advice".into(),
        what: "which queries deserve a cache".into(),
        measured: verdicts.join("; "),
    }
}

fn seconds(s: f64) -> String {
    if s >= 120.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{s:.0} s")
    }
}

fn thousands_f(value: f64) -> String {
    thousands(value.round().max(0.0) as i64)
}

/// `width`: the columns the summary table wraps its cells to.
pub fn summary(
    out: &mut impl Write,
    rows: &[SummaryRow],
    next: &[NextStep],
    kept: bool,
    width: u16,
) -> io::Result<()> {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(vec!["step", "what", "measured"]);
    for row in rows {
        table.add_row(vec![
            row.step.clone(),
            row.what.clone(),
            row.measured.clone(),
        ]);
    }
    writeln!(out, "{table}")?;
    if !kept || next.is_empty() {
        writeln!(
            out,
            "\nWhere to go next: `pgdiag demo --keep` leaves the servers running, writes the demo's queries beside them and prints the commands to try on them."
        )?;
        return Ok(());
    }
    writeln!(out, "\nWhere to go next, on the demo's database:")?;
    for step in next {
        writeln!(out, "  {}\n      {}", step.command, step.why)?;
    }
    Ok(())
}

/// The closing table's rows, from the steps' claims.
pub fn summary_rows(
    diagnoses: &[QueryDiagnosis],
    naive: &NaiveCacheStep,
    apply: &ApplyStep,
    timings: &[BeforeAfter],
    swr: &SwrCacheStep,
) -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    for d in diagnoses {
        let top = d
            .findings
            .first()
            .map_or("no finding".to_string(), |f| match &f.relation {
                Some(relation) => format!("{} on {relation}", f.rule),
                None => f.rule.to_string(),
            });
        rows.push(SummaryRow {
            step: "2 explain".into(),
            what: format!("{}: where the time goes", d.query),
            measured: format!(
                "{} execution; first: {top}",
                d.execution_ms.map_or("-".into(), millis)
            ),
        });
    }
    rows.push(SummaryRow {
        step: "3 cache-aside".into(),
        what: "product page p50, hit vs no cache".into(),
        measured: format!(
            "{} vs {}",
            millis(naive.hit_p50_ms),
            millis(naive.no_cache_p50_ms)
        ),
    });
    rows.push(SummaryRow {
        step: "3 cache-aside".into(),
        what: "DB calls per expiry of one hot key".into(),
        measured: join(&naive.herd_db_calls_per_expiry),
    });
    rows.push(SummaryRow {
        step: "3 cache-aside".into(),
        what: "old price served after an update".into(),
        measured: format!(
            "{} reads, up to {}",
            naive.stale_reads,
            millis(naive.staleness_max_ms)
        ),
    });
    rows.push(SummaryRow {
        step: "4 suggestions".into(),
        what: "applied".into(),
        measured: if apply.applied.is_empty() {
            "none".into()
        } else {
            let created = |kind: &str| {
                apply
                    .applied
                    .iter()
                    .filter(|s| s.kind == kind && s.status == "created")
                    .count()
            };
            format!(
                "{} of {} created: {} index(es), {} materialized view(s)",
                created("index") + created("matview"),
                apply.applied.len(),
                created("index"),
                created("matview")
            )
        },
    });
    for t in timings {
        rows.push(SummaryRow {
            step: "4 before → after".into(),
            what: t.query.clone(),
            measured: match verdict(&t.before, &t.after) {
                Verdict::SamePlan => format!(
                    "{} → {}, same plan",
                    millis(t.before.execution_ms),
                    millis(t.after.execution_ms)
                ),
                Verdict::WithinNoise => format!(
                    "{} → {}, within noise",
                    millis(t.before.execution_ms),
                    millis(t.after.execution_ms)
                ),
                _ => format!(
                    "{} → {} ({})",
                    millis(t.before.execution_ms),
                    millis(t.after.execution_ms),
                    times(t.speedup)
                ),
            },
        });
    }
    rows.push(SummaryRow {
        step: "5 swr".into(),
        what: "recommendations p50, swr vs no cache".into(),
        measured: format!(
            "{} vs {} (hit {:.0}%, stale {:.0}%)",
            millis(swr.swr_p50_ms),
            millis(swr.no_cache_p50_ms),
            swr.hit_rate * 100.0,
            swr.stale_rate * 100.0
        ),
    });
    rows.push(SummaryRow {
        step: "5 swr".into(),
        what: "DB calls per expiry of one hot key".into(),
        measured: join(&swr.herd_db_calls_per_expiry),
    });
    rows
}

/// The commands to try next, pointed at the demo's database and at `queries`, the directory
/// the demo wrote its queries to (`<stem>.sql` for each of [`crate::seed::queries`]): nothing
/// they name needs pgdiag's source checkout.
pub fn next_steps(postgres_url: &str, queries: &std::path::Path) -> Vec<NextStep> {
    let dir = queries.display();
    vec![
        NextStep {
            command: format!(
                "pgdiag explain --dsn {postgres_url} --param 42 {dir}/product_page.sql"
            ),
            why: "the whole plan, every finding, and its evidence".into(),
        },
        NextStep {
            command: format!("pgdiag suggest --dsn {postgres_url} {dir}/"),
            why: "indexes and materialized views, proven before you create them".into(),
        },
        NextStep {
            command: format!(
                "pgdiag baseline --dsn {postgres_url} {dir}/ && pgdiag check --dsn {postgres_url}"
            ),
            why: "record today's plans and fail CI when one regresses".into(),
        },
        NextStep {
            command: format!(
                "pgdiag bench --dsn {postgres_url} --scenario herd --strategies cache-aside,swr {dir}/recommendations.sql"
            ),
            why: "cache strategies on your own query, with the herd and staleness".into(),
        },
    ]
}

fn strategy_table(out: &mut impl Write, results: &[StrategyResult]) -> io::Result<()> {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .force_no_tty()
        .set_header(vec![
            "strategy", "req/s", "p50 ms", "p99 ms", "hit", "stale", "DB calls",
        ]);
    for s in results {
        table.add_row(vec![
            s.strategy.clone(),
            format!("{:.0}", s.throughput_rps),
            format!("{:.2}", s.latency.p50_ms),
            format!("{:.2}", s.latency.p99_ms),
            format!("{:.0}%", s.hit_rate * 100.0),
            format!("{:.0}%", s.stale_rate * 100.0),
            s.db_calls.to_string(),
        ]);
    }
    writeln!(out, "{table}")
}

fn join(values: &[u64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    values
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `12.3 ms` below a second, `1.23 s` above.
pub fn millis(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// The scans that went and came between two plan lines (`Seq Scan on public.reviews → Index Only
/// Scan using ... on public.reviews`); the full plans are in the JSON.
fn plan_change(before: &str, after: &str) -> String {
    let before: Vec<&str> = before.split(" · ").collect();
    let after: Vec<&str> = after.split(" · ").collect();
    let gone: Vec<&str> = before
        .iter()
        .copied()
        .filter(|p| !after.contains(p))
        .collect();
    let new: Vec<&str> = after
        .iter()
        .copied()
        .filter(|p| !before.contains(p))
        .collect();
    if gone.is_empty() && new.is_empty() {
        return "unchanged".into();
    }
    format!("{} → {}", gone.join(", "), new.join(", "))
}

/// The speedup cell: a factor only where the plan changed and the difference is beyond noise
/// (the rule of `suggest`, [`crate::suggest::noise`]). With the same plan before and after, a
/// difference in time is the machine's noise, not something the change did; no speedup or
/// slowdown is claimed.
fn speedup(before: &Timing, after: &Timing) -> String {
    match verdict(before, after) {
        Verdict::SamePlan => "none (same plan)".into(),
        Verdict::WithinNoise => "none (within noise)".into(),
        Verdict::Faster | Verdict::Slower => {
            times(before.execution_ms / after.execution_ms.max(1e-6))
        }
    }
}

/// The noise rule's verdict on two timings of a query.
fn verdict(before: &Timing, after: &Timing) -> Verdict {
    crate::suggest::noise::verdict(&measure(before), &measure(after))
}

fn measure(t: &Timing) -> Measure {
    Measure {
        time_ms: Some(t.execution_ms),
        time_min_ms: t.execution_min_ms,
        time_max_ms: t.execution_max_ms,
        runs: Some(t.runs),
        plan: t.plan.clone(),
        ..Measure::default()
    }
}

/// A median with the fastest and slowest of its runs, in the median's unit: `638 ms (600–700)`,
/// `1.54 s (1.50–1.60)` (the run count is in the table's header).
fn timed(t: &Timing) -> String {
    let median = millis(t.execution_ms);
    match (t.execution_min_ms, t.execution_max_ms) {
        (Some(lo), Some(hi)) if t.runs > 1 => {
            let unit = |ms: f64| {
                if t.execution_ms >= 1000.0 {
                    format!("{:.2}", ms / 1000.0)
                } else {
                    millis(ms).trim_end_matches(" ms").to_owned()
                }
            };
            format!("{median} ({}–{})", unit(lo), unit(hi))
        }
        _ => median,
    }
}

/// A speedup: `2.7×`, `56×`, `3,416×`.
fn times(factor: f64) -> String {
    if factor >= 10.0 {
        format!("{}×", thousands(factor.round() as i64))
    } else {
        format!("{factor:.1}×")
    }
}

/// `26 MB`, `512 kB`.
fn bytes(n: i64) -> String {
    if n >= 10 * 1024 * 1024 {
        format!("{} MB", n / (1024 * 1024))
    } else {
        format!("{} kB", n / 1024)
    }
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(thousands(1_200_000), "1,200,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(millis(2400.0), "2.40 s");
        assert_eq!(millis(180.4), "180 ms");
        assert_eq!(millis(0.456), "0.46 ms");
        assert_eq!(bytes(544 * 1024), "544 kB");
        assert_eq!(times(2.71), "2.7×");
        assert_eq!(times(3415.7), "3,416×");
        assert_eq!(bytes(26 * 1024 * 1024 + 5), "26 MB");
    }

    #[test]
    fn plan_change_shows_the_scans_that_went_and_came() {
        assert_eq!(
            plan_change(
                "Seq Scan on reviews · Index Scan using products_pkey on products",
                "Index Scan using products_pkey on products · Index Scan using r_idx on reviews"
            ),
            "Seq Scan on reviews → Index Scan using r_idx on reviews"
        );
        assert_eq!(plan_change("Seq Scan on t", "Seq Scan on t"), "unchanged");
    }

    fn timing(median: f64, lo: f64, hi: f64, plan: &str) -> Timing {
        Timing {
            runs: 3,
            execution_ms: median,
            execution_min_ms: Some(lo),
            execution_max_ms: Some(hi),
            planning_ms: 0.1,
            plan: plan.into(),
            nodes: Vec::new(),
        }
    }

    #[test]
    fn no_speedup_is_claimed_for_an_unchanged_plan_or_within_noise() {
        let before = timing(638.0, 600.0, 700.0, "Seq Scan on t");
        assert_eq!(
            speedup(&before, &timing(1540.0, 1500.0, 1600.0, "Seq Scan on t")),
            "none (same plan)"
        );
        assert_eq!(
            speedup(
                &before,
                &timing(233.0, 230.0, 240.0, "Index Scan using i on t")
            ),
            "2.7×"
        );
        assert_eq!(
            speedup(
                &before,
                &timing(620.0, 560.0, 690.0, "Index Scan using i on t")
            ),
            "none (within noise)"
        );
        assert_eq!(timed(&before), "638 ms (600–700)");
        assert_eq!(
            timed(&timing(1540.0, 1500.0, 1600.0, "Seq Scan on t")),
            "1.54 s (1.50–1.60)"
        );
        assert_eq!(timed(&timing(1.52, 1.45, 1.58, "p")), "1.52 ms (1.45–1.58)");
    }

    #[test]
    fn cache_verdicts_one_line_per_query() {
        use crate::cache::advice::{
            AdviceSettings, CacheKey, Fix, KeyPart, StatementFacts, TableActivity, advise,
        };
        use crate::cache::advising::{StatementAdvice, settings_used};
        let settings = AdviceSettings::default();
        let keyed = |table: &str, column: &str| CacheKey {
            parts: vec![KeyPart {
                parameter: 1,
                column: Some(format!("{table}.{column}")),
                table: Some(table.into()),
            }],
        };
        let judged = |number: usize, name: &str, facts: StatementFacts| StatementAdvice {
            statement: number,
            source: Some(name.into()),
            query: format!("SELECT ... -- {name}"),
            calls_per_hour: facts.calls_per_hour,
            mean_ms: facts.mean_ms,
            db_ms_per_hour: facts.calls_per_hour * facts.mean_ms,
            tables: facts.tables.clone(),
            key: facts.key.clone(),
            distinct_keys: facts.distinct_keys,
            advice: advise(&facts, &settings),
            verification: None,
        };
        let pricing = TableActivity {
            table: "pricing".into(),
            writes_per_hour: 36_000.0,
            rows: 1_000.0,
        };
        let page = StatementFacts {
            calls_per_hour: 360_000.0,
            mean_ms: 300.0,
            key: keyed("products", "id"),
            distinct_keys: Some(1_000.0),
            tables: vec![pricing.clone()],
            caller_dependent: None,
            fix: Some(Fix {
                suggestions: vec!["s1".into(), "s3".into()],
                expected_ms: 0.15,
            }),
        };
        let recommendations = StatementFacts {
            calls_per_hour: 360_000.0,
            mean_ms: 50.0,
            key: keyed("recommendations", "product_id"),
            distinct_keys: Some(20.0),
            tables: Vec::new(),
            caller_dependent: None,
            fix: None,
        };
        let listing = StatementFacts {
            calls_per_hour: 36_000.0,
            mean_ms: 20.0,
            key: keyed("products", "category_id"),
            distinct_keys: Some(20.0),
            tables: vec![pricing],
            caller_dependent: None,
            fix: None,
        };
        let step = CacheAdviceStep {
            settings: settings_used(&settings),
            call_rates: crate::demo::advice::CALL_RATES
                .iter()
                .map(
                    |(query, calls_per_hour, why)| crate::demo::advice::StatedRate {
                        query: (*query).into(),
                        calls_per_hour: *calls_per_hour,
                        why: (*why).into(),
                    },
                )
                .collect(),
            table_writes: vec![crate::demo::advice::StatedWrites {
                table: "pricing".into(),
                writes_per_hour: 36_000.0,
                source: "step 3".into(),
            }],
            statements: vec![
                judged(1, "product_page", page),
                judged(2, "recommendations", recommendations),
                judged(3, "category_listing", listing),
            ],
        };
        let mut out = Vec::new();
        cache_advice(&mut out, &step).unwrap();
        let text = String::from_utf8(out).unwrap();
        insta::assert_snapshot!(text);
        let row = cache_advice_row(&step);
        assert_eq!(
            row.measured,
            "product_page: fix in the database; recommendations: cache (swr); category_listing: don't cache"
        );
    }
}
