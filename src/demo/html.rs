//! `pgdiag demo --format html`: the whole seed story on one self-contained page, rendered from the
//! [`DemoReport`] the JSON document is serialized from. Each step is a section: the data loaded,
//! the two slow queries' plans drawn with their findings, the naive cache measured, pgdiag's
//! suggestions with their proof and every query's plan before and after, the cache kept for what
//! deserves it, and the summary. The pictures are the report module's (`report::html`).

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::{
    ApplyStep, BeforeAfter, CacheAdviceStep, DemoReport, NaiveCacheStep, QueryDiagnosis,
    SwrCacheStep,
};
use crate::report::html::bench::render_strategies;
use crate::report::html::cache_advice::render_advice_section;
use crate::report::html::diff::{DiffSide, SidePlan, plan_diff, render_plan_diff};
use crate::report::html::plan::{PlanView, render_findings, render_plan};
use crate::report::html::{Esc, page_end, page_start};
use crate::report::model::FindingReport;
use crate::units::{fmt_bytes, fmt_count, fmt_ms, fmt_pct};

/// The whole demo as one page.
pub fn render_demo(w: &mut impl Write, report: &DemoReport) -> io::Result<()> {
    let meta = format!(
        "pgdiag {} · scale {} · PostgreSQL {} ({}) · Redis {} ({}) · measured in {:.0} s on this machine",
        report.pgdiag_version,
        report.scale,
        report.servers.postgres_url,
        report.servers.postgres,
        report.servers.redis_url,
        report.servers.redis,
        report.elapsed_ms / 1000.0
    );
    page_start(w, "pgdiag demo: explain before you cache", &meta)?;
    writeln!(
        w,
        "<section class=\"block intro\"><p>A product API is slow. The reflex is to put Redis in \
         front of it; this page replays that story on this machine: what the database spends its \
         time on, what a naive cache does about it, what pgdiag's own suggestions do, and the one \
         cache worth keeping afterwards. Every number below was measured on this run.</p>"
    )?;
    render_summary_table(w, report)?;
    writeln!(w, "<nav class=\"toc\"><ol>")?;
    for (id, title) in STEPS {
        writeln!(w, "<li><a href=\"#{id}\">{}</a></li>", Esc(title))?;
    }
    writeln!(w, "</ol></nav></section>")?;

    step(w, 0, |w| render_seed(w, report))?;
    step(w, 1, |w| {
        for (i, d) in report.diagnosis.iter().enumerate() {
            render_diagnosis(w, i, d)?;
        }
        Ok(())
    })?;
    step(w, 2, |w| render_naive(w, &report.naive_cache))?;
    step(w, 3, |w| {
        render_suggestions(w, &report.suggestions)?;
        render_before_after(w, &report.before_after)
    })?;
    step(w, 4, |w| render_swr(w, &report.swr_cache))?;
    step(w, 5, |w| render_cache_advice(w, &report.cache_advice))?;
    step(w, 6, |w| {
        render_summary_table(w, report)?;
        if report.next_steps.is_empty() {
            return Ok(());
        }
        writeln!(w, "<h3>Try it on the same data</h3><ul class=\"next\">")?;
        for next in &report.next_steps {
            writeln!(
                w,
                "<li><pre class=\"sql\">{}</pre><span class=\"note\">{}</span></li>",
                Esc(&next.command),
                Esc(&next.why)
            )?;
        }
        writeln!(w, "</ul>")
    })?;
    page_end(w)
}

/// Each step's anchor and title, in the order of the story.
const STEPS: [(&str, &str); 7] = [
    (
        "seed",
        "1. The seed: a product catalogue, indexed by primary keys only",
    ),
    (
        "diagnosis",
        "2. Explain before you cache: where the time goes",
    ),
    (
        "naive-cache",
        "3. The naive cache: cache-aside on the whole product page",
    ),
    ("suggestions", "4. pgdiag's own suggestions, before → after"),
    (
        "swr-cache",
        "5. Cache what deserves it: swr on the recommendations only",
    ),
    (
        "cache-advice",
        "6. The verdict: which queries still deserve a cache",
    ),
    ("summary", "7. Summary"),
];

/// Step `index` of the story: its section, heading and `body`.
fn step<W: Write>(
    w: &mut W,
    index: usize,
    body: impl FnOnce(&mut W) -> io::Result<()>,
) -> io::Result<()> {
    let (id, title) = STEPS[index];
    writeln!(
        w,
        "<section class=\"block step\" id=\"{id}\"><h2>{}</h2>",
        Esc(title)
    )?;
    body(w)?;
    writeln!(w, "</section>")
}

fn render_summary_table(w: &mut impl Write, report: &DemoReport) -> io::Result<()> {
    writeln!(
        w,
        "<table class=\"kv summary\"><thead><tr><th>step</th><th>what</th><th>measured</th></tr></thead><tbody>"
    )?;
    for row in &report.summary {
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            Esc(&row.step),
            Esc(&row.what),
            Esc(&row.measured)
        )?;
    }
    writeln!(w, "</tbody></table>")
}

fn render_seed(w: &mut impl Write, report: &DemoReport) -> io::Result<()> {
    writeln!(
        w,
        "<p>Loaded at scale {} in {}; only primary keys are indexed.</p>",
        report.seed.scale,
        Esc(&format!("{} ms", fmt_ms(report.seed.elapsed_ms)))
    )?;
    writeln!(
        w,
        "<table class=\"kv seed\"><thead><tr><th>table</th><th>rows</th></tr></thead><tbody>"
    )?;
    for t in &report.seed.tables {
        writeln!(
            w,
            "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
            Esc(&t.table),
            fmt_count(t.rows as f64)
        )?;
    }
    writeln!(w, "</tbody></table>")
}

fn render_diagnosis(w: &mut impl Write, i: usize, d: &QueryDiagnosis) -> io::Result<()> {
    writeln!(
        w,
        "<section class=\"statement\" id=\"diag-{}\"><h3>{}</h3>",
        Esc(&d.query),
        Esc(&d.query)
    )?;
    let mut facts = Vec::new();
    if let Some(ms) = d.execution_ms {
        facts.push(format!("<b>Execution</b> {} ms", fmt_ms(ms)));
    }
    if let Some(ms) = d.planning_ms {
        facts.push(format!("<b>Planning</b> {} ms", fmt_ms(ms)));
    }
    if !d.params.is_empty() {
        facts.push(format!("<b>Parameters</b> {}", Esc(&d.params.join(", "))));
    }
    facts.push(format!("<b>Findings</b> {}", d.findings.len()));
    writeln!(w, "<p class=\"facts\">{}</p>", facts.join(" · "))?;
    if d.nodes.is_empty() {
        // A document from before the nodes were kept: the node labels are all there is.
        writeln!(w, "<ol class=\"tree\">")?;
        for label in &d.plan_nodes {
            writeln!(w, "<li>{}</li>", Esc(label))?;
        }
        return writeln!(w, "</ol></section>");
    }
    let findings: Vec<FindingReport> = d.findings.iter().cloned().map(Into::into).collect();
    let key = format!("d{i}");
    let view = PlanView {
        key: &key,
        nodes: &d.nodes,
        findings: &findings,
        changed: &BTreeSet::new(),
        analyzed: true,
    };
    render_plan(w, &view)?;
    render_findings(w, &key, &findings)?;
    writeln!(w, "</section>")
}

fn render_naive(w: &mut impl Write, step: &NaiveCacheStep) -> io::Result<()> {
    writeln!(
        w,
        "<p>The team's first reflex: cache the product page (<code>{}</code>) for {} ms. {} \
         readers, then {} readers released together on an expired key, then price updates while \
         readers hit the cache.</p>",
        Esc(&step.query),
        step.ttl_ms,
        step.clients,
        step.herd_clients
    )?;
    let claims = [
        (
            "a hit",
            format!(
                "p50 {} ms, against {} ms without the cache",
                fmt_ms(step.hit_p50_ms),
                fmt_ms(step.no_cache_p50_ms)
            ),
        ),
        (
            "the herd",
            format!(
                "database calls per expiry: {}",
                step.herd_db_calls_per_expiry
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        (
            "stale prices",
            format!(
                "{} stale reads, up to {} ms old (write: {})",
                step.stale_reads,
                fmt_ms(step.staleness_max_ms),
                step.write
            ),
        ),
    ];
    render_claims(w, &claims)?;
    render_strategies(w, "Steady load", &step.steady)?;
    render_strategies(
        w,
        "The herd: the hottest key expires under load",
        std::slice::from_ref(&step.herd),
    )?;
    render_strategies(
        w,
        "Stale prices: updates while the cache serves",
        std::slice::from_ref(&step.stale_prices),
    )
}

fn render_swr(w: &mut impl Write, step: &SwrCacheStep) -> io::Result<()> {
    writeln!(
        w,
        "<p>After the fixes, one query is still expensive: <code>{}</code>. It gets \
         stale-while-revalidate (soft TTL {} ms, hard TTL {} ms) with a refresh lock against \
         herds.</p>",
        Esc(&step.query),
        step.soft_ttl_ms,
        step.ttl_ms
    )?;
    let mut claims = vec![
        (
            "latency",
            format!(
                "p50 {} ms with swr, {} ms without",
                fmt_ms(step.swr_p50_ms),
                fmt_ms(step.no_cache_p50_ms)
            ),
        ),
        (
            "served",
            format!(
                "{} hits, {} misses, {} stale while refreshing",
                fmt_pct(step.hit_rate),
                fmt_pct(step.miss_rate),
                fmt_pct(step.stale_rate)
            ),
        ),
        (
            "the herd",
            format!(
                "database calls per expiry: {}",
                step.herd_db_calls_per_expiry
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    ];
    if let Some(p99) = step.refresh_p99_ms {
        claims.push(("refresh", format!("p99 {} ms", fmt_ms(p99))));
    }
    render_claims(w, &claims)?;
    render_strategies(w, "Steady load", &step.steady)?;
    render_strategies(
        w,
        "The herd, with swr's refresh lock",
        std::slice::from_ref(&step.herd),
    )
}

fn render_cache_advice(w: &mut impl Write, step: &CacheAdviceStep) -> io::Result<()> {
    writeln!(
        w,
        "<p>pgdiag cache-advice's model on this run's figures: each query's time before and after \
         the suggestions, the price updates of step 3 as the pricing table's write rate, and these \
         call rates, the only stated inputs:</p><ul class=\"rates\">"
    )?;
    for rate in &step.call_rates {
        writeln!(
            w,
            "<li><b>{}</b>: {} calls per hour ({})</li>",
            Esc(&rate.query),
            fmt_count(rate.calls_per_hour),
            Esc(&rate.why)
        )?;
    }
    for writes in &step.table_writes {
        writeln!(
            w,
            "<li><b>{}</b>: {} writes per hour ({})</li>",
            Esc(&writes.table),
            fmt_count(writes.writes_per_hour),
            Esc(&writes.source)
        )?;
    }
    writeln!(w, "</ul>")?;
    render_advice_section(w, &step.statements, &step.settings)
}

fn render_claims(w: &mut impl Write, claims: &[(&str, String)]) -> io::Result<()> {
    writeln!(w, "<table class=\"kv claims\"><tbody>")?;
    for (what, value) in claims {
        writeln!(w, "<tr><th>{}</th><td>{}</td></tr>", Esc(what), Esc(value))?;
    }
    writeln!(w, "</tbody></table>")
}

fn render_suggestions(w: &mut impl Write, step: &ApplyStep) -> io::Result<()> {
    writeln!(w, "<p>{}</p>", Esc(&step.note))?;
    for s in &step.applied {
        let class = if s.status == "created" || s.status == "already_existed" {
            "ok"
        } else {
            "sev-warning"
        };
        writeln!(
            w,
            "<div class=\"suggestion\" id=\"sg-{}\"><h3><span class=\"badge {class}\">{}</span> {} <code>{}</code> on {} ({})</h3>",
            Esc(&s.id),
            Esc(&s.status),
            Esc(&s.kind),
            Esc(&s.name),
            Esc(&s.table),
            Esc(&s.columns.join(", "))
        )?;
        writeln!(w, "<p>{}</p>", Esc(&s.reason))?;
        if let Some(message) = &s.message {
            writeln!(w, "<p class=\"error\">{}</p>", Esc(message))?;
        }
        writeln!(w, "<pre class=\"ddl\">{}</pre>", Esc(&s.ddl.join("\n")))?;
        let mut facts = Vec::new();
        if let Some(ms) = s.build_ms {
            facts.push(format!("built in {} ms", fmt_ms(ms)));
        }
        if let Some(bytes) = s.size_bytes {
            facts.push(format!("size {}", fmt_bytes(bytes)));
        }
        if let Some(proof) = &s.proof {
            let mut words = format!("proof: {}", proof.method);
            if let Some(pct) = proof.improvement_pct {
                words.push_str(&format!(", {pct:.1}% better"));
            }
            if proof.results_match == Some(true) {
                words.push_str(", the rewrite returns the same rows");
            }
            facts.push(words);
        }
        if !facts.is_empty() {
            writeln!(w, "<p class=\"proof\">{}</p>", Esc(&facts.join(" · ")))?;
        }
        if let Some(proof) = &s.proof {
            writeln!(w, "<ul class=\"proof\">")?;
            for q in &proof.per_query {
                let gain = q
                    .improvement_pct
                    .map(|p| format!(" ({p:+.1}%)"))
                    .unwrap_or_default();
                writeln!(
                    w,
                    "<li><b>{}</b>: {} → {}{}{}</li>",
                    Esc(&q.query),
                    Esc(&q.before.figure()),
                    Esc(&q.after.figure()),
                    Esc(&gain),
                    if q.used { "" } else { " · not used" }
                )?;
            }
            writeln!(w, "</ul>")?;
        }
        writeln!(w, "</div>")?;
    }
    for r in &step.rejected {
        writeln!(
            w,
            "<div class=\"suggestion rejected\"><h3><span class=\"badge sev-critical\">rejected</span> {} <code>{}</code></h3><p>{}</p><pre class=\"ddl\">{}</pre></div>",
            Esc(&r.kind),
            Esc(&r.name),
            Esc(&r.reason),
            Esc(&r.ddl.join("\n"))
        )?;
    }
    Ok(())
}

/// Every query's time before and after the suggestions as bars on one log scale, then each
/// query's plan before and after side by side.
fn render_before_after(w: &mut impl Write, rows: &[BeforeAfter]) -> io::Result<()> {
    writeln!(w, "<h3>Every query, before and after</h3>")?;
    render_timing_bars(w, rows)?;
    for (i, row) in rows.iter().enumerate() {
        writeln!(
            w,
            "<section class=\"statement before-after\" id=\"ba-{}\"><h3>{}: {} ms → {} ms ({:.1}×){}</h3>",
            Esc(&row.query),
            Esc(&row.query),
            fmt_ms(row.before.execution_ms),
            fmt_ms(row.after.execution_ms),
            row.speedup,
            if row.after_sql_rewritten {
                " · rewritten to read the view"
            } else {
                ""
            }
        )?;
        if row.before.nodes.is_empty() || row.after.nodes.is_empty() {
            // A document from before the nodes were kept: the one-line plans.
            writeln!(
                w,
                "<p class=\"plans\"><code>{}</code> → <code>{}</code></p></section>",
                Esc(&row.before.plan),
                Esc(&row.after.plan)
            )?;
            continue;
        }
        let figures = [
            format!("{} ms", fmt_ms(row.before.execution_ms)),
            format!("{} ms", fmt_ms(row.after.execution_ms)),
        ];
        let before = DiffSide {
            label: "before",
            figure: &figures[0],
            plan: SidePlan::Nodes {
                nodes: &row.before.nodes,
                analyzed: true,
            },
            cost: None,
        };
        let after = DiffSide {
            label: "after",
            figure: &figures[1],
            plan: SidePlan::Nodes {
                nodes: &row.after.nodes,
                analyzed: true,
            },
            cost: None,
        };
        let diff = plan_diff(&before, &after, None);
        render_plan_diff(w, &format!("ba{i}"), &before, &after, &diff)?;
        writeln!(w, "</section>")?;
    }
    Ok(())
}

/// Horizontal bars, before and after per query, on a log scale so 2 s and 2 ms both show.
fn render_timing_bars(w: &mut impl Write, rows: &[BeforeAfter]) -> io::Result<()> {
    const LABEL: f64 = 170.0;
    const PLOT: f64 = 520.0;
    const BAR: f64 = 14.0;
    const GROUP: f64 = 2.0 * BAR + 14.0;
    let values = rows
        .iter()
        .flat_map(|r| [r.before.execution_ms, r.after.execution_ms])
        .filter(|v| v.is_finite() && *v > 0.0);
    let max = values.clone().fold(f64::MIN, f64::max);
    let min = values.fold(f64::MAX, f64::min);
    if rows.is_empty() || !max.is_finite() || max <= 0.0 {
        return Ok(());
    }
    // Whole decades around the values.
    let low = 10f64.powf((min.max(1e-3)).log10().floor());
    let high = 10f64.powf(max.log10().ceil()).max(low * 10.0);
    let x = |ms: f64| {
        let ms = ms.clamp(low, high);
        LABEL + PLOT * (ms / low).log10() / (high / low).log10()
    };
    let height = 24.0 + GROUP * rows.len() as f64;
    writeln!(
        w,
        "<svg class=\"chart timing-bars\" role=\"img\" viewBox=\"0 0 {:.0} {height:.0}\" width=\"{:.0}\" height=\"{height:.0}\"><title>Execution time before and after, log scale</title>",
        LABEL + PLOT + 90.0,
        LABEL + PLOT + 90.0
    )?;
    let mut decade = low;
    while decade <= high * 1.0001 {
        let at = x(decade);
        writeln!(
            w,
            "<line x1=\"{at:.1}\" y1=\"0\" x2=\"{at:.1}\" y2=\"{:.0}\" stroke=\"#ccc\"/><text x=\"{at:.1}\" y=\"{:.0}\" font-size=\"10\" text-anchor=\"middle\">{} ms</text>",
            height - 14.0,
            height - 2.0,
            fmt_ms(decade)
        )?;
        decade *= 10.0;
    }
    for (i, row) in rows.iter().enumerate() {
        let top = 4.0 + GROUP * i as f64;
        writeln!(
            w,
            "<text x=\"{:.0}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
            LABEL - 8.0,
            top + BAR + 4.0,
            Esc(&row.query)
        )?;
        for (j, (side, ms, colour)) in [
            ("before", row.before.execution_ms, "#d9534f"),
            ("after", row.after.execution_ms, "#2e8b57"),
        ]
        .into_iter()
        .enumerate()
        {
            let y = top + j as f64 * BAR;
            let end = x(ms);
            writeln!(
                w,
                "<rect class=\"{side}\" x=\"{LABEL:.0}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.0}\" fill=\"{colour}\"><title>{} {side}: {} ms</title></rect><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{} ms</text>",
                (end - LABEL).max(1.0),
                BAR - 2.0,
                Esc(&row.query),
                fmt_ms(ms),
                end + 4.0,
                y + BAR - 4.0,
                fmt_ms(ms)
            )?;
        }
    }
    writeln!(w, "</svg>")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real run's document (`pgdiag demo --scale 0.005 --format json`, kept in fixtures/).
    fn report() -> DemoReport {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/report.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn page(report: &DemoReport) -> String {
        let mut out = Vec::new();
        render_demo(&mut out, report).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_step_and_every_plan_is_on_the_page() {
        let report = report();
        let html = page(&report);
        for (id, _) in STEPS {
            assert_eq!(html.matches(&format!("id=\"{id}\"")).count(), 1, "{id}");
        }
        // A flame graph per diagnosed query, and two per query timed before and after.
        let plans = report.diagnosis.len() + 2 * report.before_after.len();
        assert_eq!(html.matches("<svg class=\"flame\"").count(), plans);
        assert_eq!(
            html.matches("class=\"before\"").count(),
            report.before_after.len()
        );
        for row in &report.summary {
            assert!(html.contains(&Esc(&row.measured).to_string()), "{row:?}");
        }
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn names_and_claims_are_text_never_markup() {
        let mut report = report();
        report.diagnosis[0].query = "</section><script>x()</script>".into();
        report.suggestions.note = "a <b>note</b> & more".into();
        report.summary[0].measured = "<img src=x>".into();
        let html = page(&report);
        assert!(!html.contains("<script>x()"));
        assert!(html.contains("&lt;/section&gt;&lt;script&gt;x()&lt;/script&gt;"));
        assert!(html.contains("a &lt;b&gt;note&lt;/b&gt; &amp; more"));
        assert!(!html.contains("<img src=x>"));
    }

    #[test]
    fn a_document_without_plan_nodes_shows_the_node_labels() {
        let mut report = report();
        for d in &mut report.diagnosis {
            d.nodes.clear();
        }
        for row in &mut report.before_after {
            row.before.nodes.clear();
            row.after.nodes.clear();
        }
        let html = page(&report);
        assert!(!html.contains("<svg class=\"flame\""));
        for label in &report.diagnosis[0].plan_nodes {
            assert!(html.contains(&Esc(label).to_string()), "{label}");
        }
        assert!(html.contains(&Esc(&report.before_after[0].after.plan).to_string()));
    }

    #[test]
    fn timing_bars_survive_zero_and_equal_times() {
        fn bars(report: &DemoReport) -> String {
            let mut out = Vec::new();
            render_timing_bars(&mut out, &report.before_after).unwrap();
            String::from_utf8(out).unwrap()
        }
        let mut report = report();
        assert!(bars(&report).contains("<rect class=\"after\""));
        for row in &mut report.before_after {
            row.before.execution_ms = 0.0;
            row.after.execution_ms = 0.0;
        }
        // Nothing measured: no chart rather than a broken one.
        assert_eq!(bars(&report), "");
        report.before_after[0].before.execution_ms = 5.0;
        report.before_after[0].after.execution_ms = 5.0;
        let svg = bars(&report);
        assert!(svg.contains("<rect class=\"after\""), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
}
