//! `pgdiag bench --format html`: the strategies' figures as pictures, drawn from the same
//! [`BenchReport`] the JSON document is: the latency distribution of each strategy (a CDF and a
//! histogram on a log-scale axis, p50 and p99 marked), requests and database calls over time with
//! the herd's expiries marked, the staleness of every write, and the summary table. Every chart
//! is static inline SVG with axes, labels and a legend, one colour per strategy; nothing needs
//! the script.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{Esc, page_end, page_start};
use crate::bench::report::{BenchReport, StrategyResult, Timeline};
use crate::units::fmt_ms;

/// The whole bench report as one page.
pub fn render_bench(w: &mut impl Write, report: &BenchReport) -> io::Result<()> {
    let p = &report.parameters;
    let mut meta = format!(
        "pgdiag {} · scenario {} · {} clients · {} ms after {} ms warm-up · {} keys (zipf {}) · ttl {} ms, soft ttl {} ms",
        report.pgdiag_version,
        report.scenario,
        p.clients,
        p.duration_ms,
        p.warmup_ms,
        p.keys,
        p.zipf,
        p.ttl_ms,
        p.soft_ttl_ms
    );
    if report.scenario == "herd" {
        let _ = write!(
            meta,
            " · {} expiries of {} hot key{}",
            p.expiries,
            p.hot_keys,
            if p.hot_keys == 1 { "" } else { "s" }
        );
    }
    if let (Some(rate), "writes") = (p.write_rate, report.scenario.as_str()) {
        let _ = write!(meta, " · {rate} writes/s, invalidation {}", p.invalidate);
    }
    page_start(w, "pgdiag bench", &meta)?;
    writeln!(
        w,
        "<section class=\"block\"><h2>Query</h2><pre class=\"sql\">{}</pre>",
        Esc(&p.query)
    )?;
    if let Some(write) = &p.write {
        writeln!(
            w,
            "<p class=\"note\">writes:</p><pre class=\"sql\">{}</pre>",
            Esc(write)
        )?;
    }
    if report.interrupted {
        writeln!(
            w,
            "<p class=\"error\">Interrupted: only the strategies below ran; an interrupted strategy's figures cover the time until the stop.</p>"
        )?;
    }
    if report.redis_errors() > 0 {
        writeln!(
            w,
            "<p class=\"error\">Redis failed during the run ({} errors): the affected strategies answered from the database; their figures are not a healthy cache's.</p>",
            report.redis_errors()
        )?;
    }
    writeln!(w, "</section>")?;
    let title = format!("Scenario {}", report.scenario);
    render_strategies(w, &title, &report.strategies)?;
    page_end(w)
}

/// One `<section>` with the charts of `results` (one colour per strategy): the summary table,
/// the latency CDF and histogram, each strategy's requests and database calls over time, and the
/// staleness per write when the results have it.
pub fn render_strategies(
    w: &mut impl Write,
    title: &str,
    results: &[StrategyResult],
) -> io::Result<()> {
    writeln!(w, "<section class=\"block bench\"><h2>{}</h2>", Esc(title))?;
    if results.is_empty() {
        writeln!(w, "<p class=\"note\">No strategy ran.</p></section>")?;
        return Ok(());
    }
    render_table(w, results)?;
    writeln!(w, "<h3>Latency distribution</h3>")?;
    legend(w, results)?;
    writeln!(w, "<div class=\"charts\">")?;
    w.write_all(latency_cdf(results).as_bytes())?;
    w.write_all(latency_histogram(results).as_bytes())?;
    writeln!(w, "</div>")?;
    if results.iter().any(|r| r.timeline.is_some()) {
        writeln!(
            w,
            "<h3>Over time</h3><p class=\"note\">Per bucket: requests by where the answer came from (top) and the database queries they and the strategy's background refreshes ran (bottom); herd expiries marked.</p><div class=\"charts\">"
        )?;
        for (i, result) in results.iter().enumerate() {
            if let Some(timeline) = &result.timeline {
                w.write_all(timeline_chart(result, i, timeline).as_bytes())?;
            }
        }
        writeln!(w, "</div>")?;
    }
    if results.iter().any(|r| r.staleness.is_some()) {
        writeln!(
            w,
            "<h3>Staleness per write</h3><p class=\"note\">Each write: ms from its commit to the first fresh read of its key (hollow: no fresh read before the end, a lower bound).</p>"
        )?;
        legend(w, results)?;
        w.write_all(staleness_chart(results).as_bytes())?;
    }
    writeln!(w, "</section>")
}

/// A strategy's colour: the same for a name wherever it is drawn.
pub fn strategy_colour(name: &str, index: usize) -> &'static str {
    const OTHERS: [&str; 6] = [
        "#8c564b", "#9467bd", "#17becf", "#bcbd22", "#e377c2", "#7f7f7f",
    ];
    match name {
        "none" => "#5f6b7a",
        "cache-aside" => "#1f77b4",
        "swr" => "#2ca02c",
        "xfetch" => "#d62728",
        _ => OTHERS[index % OTHERS.len()],
    }
}

fn legend(w: &mut impl Write, results: &[StrategyResult]) -> io::Result<()> {
    write!(w, "<div class=\"legend\">")?;
    for (i, r) in results.iter().enumerate() {
        write!(
            w,
            "<span><i class=\"swatch\" style=\"background:{}\"></i>{}</span>",
            strategy_colour(&r.strategy, i),
            Esc(&r.strategy)
        )?;
    }
    writeln!(w, "</div>")
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", finite(rate) * 100.0)
}

fn ms2(value: f64) -> String {
    format!("{:.2}", finite(value))
}

/// The figures of the text table, one row per strategy.
fn render_table(w: &mut impl Write, results: &[StrategyResult]) -> io::Result<()> {
    let writes = results.iter().any(|s| s.staleness.is_some());
    write!(
        w,
        "<div class=\"table-wrap\"><table class=\"bench-summary\"><thead><tr><th>strategy</th><th>req/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>hit</th><th>miss</th><th>stale</th><th>fallback</th><th>errors Redis/DB</th><th>DB calls</th><th>refresh p99 ms</th><th>Redis bytes</th>"
    )?;
    if writes {
        write!(w, "<th>stale reads</th><th>staleness max/p99 ms</th>")?;
    }
    writeln!(w, "</tr></thead><tbody>")?;
    for (i, s) in results.iter().enumerate() {
        write!(
            w,
            "<tr data-strategy=\"{}\"><th><i class=\"swatch\" style=\"background:{}\"></i>{}{}</th>",
            Esc(&s.strategy),
            strategy_colour(&s.strategy, i),
            Esc(&s.strategy),
            if s.interrupted { " (interrupted)" } else { "" }
        )?;
        let refresh = s
            .counters
            .refresh_p99_us
            .map_or("-".into(), |us| ms2(us as f64 / 1000.0));
        let bytes = format!(
            "{} ({} per key)",
            s.redis
                .used_memory_delta
                .map_or("-".into(), |d| format!("{d:+}")),
            s.redis
                .sample_key_bytes
                .map_or("-".into(), |b| b.to_string())
        );
        let cells = [
            format!("{:.0}", finite(s.throughput_rps)),
            ms2(s.latency.p50_ms),
            ms2(s.latency.p95_ms),
            ms2(s.latency.p99_ms),
            ms2(s.latency.max_ms),
            percent(s.hit_rate),
            percent(s.miss_rate),
            percent(s.stale_rate),
            percent(s.fallback_rate),
            format!("{} / {}", s.counters.redis_errors, s.errors),
            s.db_calls.to_string(),
            refresh,
            bytes,
        ];
        for cell in cells {
            write!(w, "<td>{}</td>", Esc(&cell))?;
        }
        match &s.staleness {
            Some(st) => {
                let open = if st.unresolved_writes > 0 {
                    format!(" ({} open)", st.unresolved_writes)
                } else {
                    String::new()
                };
                write!(
                    w,
                    "<td>{}</td><td>{} / {}{open}</td>",
                    st.stale_reads,
                    ms2(st.max_ms),
                    ms2(st.p99_ms)
                )?;
            }
            None if writes => write!(w, "<td>-</td><td>-</td>")?,
            None => {}
        }
        writeln!(w, "</tr>")?;
    }
    writeln!(w, "</tbody></table></div>")?;
    let herds: Vec<(usize, &StrategyResult)> = results
        .iter()
        .enumerate()
        .filter(|(_, s)| s.herd.as_ref().is_some_and(|h| !h.rounds.is_empty()))
        .collect();
    if !herds.is_empty() {
        writeln!(
            w,
            "<h3>Thundering herd</h3><div class=\"table-wrap\"><table class=\"bench-summary herd\"><thead><tr><th>strategy</th><th>expiry</th><th>keys</th><th>DB calls</th><th>per key</th><th>p99 ms</th><th>max ms</th><th>steady p50 ms</th></tr></thead><tbody>"
        )?;
        for (i, s) in herds {
            let Some(h) = &s.herd else { continue };
            for (n, round) in h.rounds.iter().enumerate() {
                writeln!(
                    w,
                    "<tr><th><i class=\"swatch\" style=\"background:{}\"></i>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    strategy_colour(&s.strategy, i),
                    Esc(&s.strategy),
                    n + 1,
                    round.keys_expired,
                    round.db_calls,
                    finite(round.db_calls_per_key),
                    ms2(round.p99_ms),
                    ms2(round.max_ms),
                    ms2(h.steady_p50_ms)
                )?;
            }
        }
        writeln!(w, "</tbody></table></div>")?;
    }
    Ok(())
}

/// `value`, or 0 when it is not a finite number (a chart never draws NaN).
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

/// A number for an axis label or a coordinate: integers without decimals, others with up to
/// three significant digits.
fn num(value: f64) -> String {
    let value = finite(value);
    if (value - value.round()).abs() < 1e-9 * value.abs().max(1.0) {
        return format!("{}", value.round() as i64);
    }
    let digits = (2 - value.abs().log10().floor() as i32).clamp(0, 9) as usize;
    let text = format!("{value:.digits$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// A coordinate with one decimal.
fn c(value: f64) -> String {
    format!("{:.1}", finite(value))
}

/// A duration in ms as an axis label: µs, ms or s.
fn tick_label_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", num(ms / 1000.0))
    } else if ms >= 1.0 {
        format!("{} ms", num(ms))
    } else {
        format!("{} µs", num(ms * 1000.0))
    }
}

/// Up to about six round ticks from 0 to at least `max` (a 1-2-5 step).
pub fn linear_ticks(max: f64) -> Vec<f64> {
    let max = finite(max);
    if max <= 0.0 {
        return vec![0.0, 1.0];
    }
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    let count = (max / step).ceil() as usize;
    (0..=count.max(1)).map(|i| i as f64 * step).collect()
}

/// The decades spanning `[lo, hi]` (both > 0): `(first, last)` powers of ten.
pub fn log_range(lo: f64, hi: f64) -> (f64, f64) {
    let lo = if lo.is_finite() && lo > 0.0 {
        lo
    } else {
        0.001
    };
    let hi = if hi.is_finite() && hi > lo {
        hi
    } else {
        lo * 10.0
    };
    let first = 10f64.powf(lo.log10().floor());
    let mut last = 10f64.powf(hi.log10().ceil());
    if last <= first {
        last = first * 10.0;
    }
    (first, last)
}

/// The plot area of a chart in its viewBox.
#[derive(Debug, Clone, Copy)]
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn new(width: f64, height: f64) -> Frame {
        Frame {
            width,
            height,
            left: 62.0,
            right: width - 24.0,
            top: 14.0,
            bottom: height - 38.0,
        }
    }

    /// `value` in `[lo, hi]` on a log axis to x.
    fn log_x(&self, value: f64, lo: f64, hi: f64) -> f64 {
        let v = finite(value).max(lo).min(hi);
        self.left + (v / lo).log10() / (hi / lo).log10() * (self.right - self.left)
    }

    fn log_y(&self, value: f64, lo: f64, hi: f64) -> f64 {
        let v = finite(value).max(lo).min(hi);
        self.bottom - (v / lo).log10() / (hi / lo).log10() * (self.bottom - self.top)
    }

    fn lin_x(&self, value: f64, max: f64) -> f64 {
        self.left
            + finite(value).clamp(0.0, max) / max.max(f64::MIN_POSITIVE) * (self.right - self.left)
    }

    fn lin_y(&self, value: f64, max: f64) -> f64 {
        self.bottom
            - finite(value).clamp(0.0, max) / max.max(f64::MIN_POSITIVE) * (self.bottom - self.top)
    }
}

/// The opening tag of a chart and its accessible title.
fn svg_start(svg: &mut String, class: &str, frame: &Frame, title: &str) {
    let _ = write!(
        svg,
        "<figure class=\"chart\"><svg class=\"chart {class}\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        num(frame.width),
        num(frame.height),
        Esc(title),
        Esc(title)
    );
}

fn svg_end(svg: &mut String, caption: &str) {
    let _ = write!(
        svg,
        "</svg><figcaption>{}</figcaption></figure>",
        Esc(caption)
    );
}

/// A note in the middle of an empty chart.
fn empty_note(svg: &mut String, frame: &Frame, text: &str) {
    let _ = write!(
        svg,
        "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        c((frame.left + frame.right) / 2.0),
        c((frame.top + frame.bottom) / 2.0),
        Esc(text)
    );
}

/// The log-scale x axis in ms: a labelled gridline per decade, a faint one at 2 and 5.
fn log_x_axis(svg: &mut String, frame: &Frame, lo: f64, hi: f64, label: &str) {
    let mut decade = lo;
    while decade <= hi * 1.000_001 {
        for (m, major) in [(1.0, true), (2.0, false), (5.0, false)] {
            let v = decade * m;
            if v > hi * 1.000_001 {
                break;
            }
            let x = c(frame.log_x(v, lo, hi));
            let _ = write!(
                svg,
                "<line class=\"{}\" x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\"/>",
                if major { "grid" } else { "grid minor" },
                c(frame.top),
                c(frame.bottom)
            );
            if major {
                let _ = write!(
                    svg,
                    "<text class=\"tick\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                    c(frame.bottom + 14.0),
                    Esc(&tick_label_ms(v))
                );
            }
        }
        decade *= 10.0;
    }
    axis_lines(svg, frame);
    let _ = write!(
        svg,
        "<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        c((frame.left + frame.right) / 2.0),
        c(frame.height - 6.0),
        Esc(label)
    );
}

fn axis_lines(svg: &mut String, frame: &Frame) {
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{l}\" x2=\"{r}\" y1=\"{b}\" y2=\"{b}\"/><line class=\"axis\" x1=\"{l}\" x2=\"{l}\" y1=\"{t}\" y2=\"{b}\"/>",
        l = c(frame.left),
        r = c(frame.right),
        t = c(frame.top),
        b = c(frame.bottom)
    );
}

/// A linear y axis from 0 to the last tick, labelled with `format`.
fn lin_y_axis(
    svg: &mut String,
    frame: &Frame,
    ticks: &[f64],
    label: &str,
    format: fn(f64) -> String,
) {
    let max = ticks.last().copied().unwrap_or(1.0);
    for &t in ticks {
        y_grid_line(svg, frame, frame.lin_y(t, max), &format(t));
    }
    y_label(svg, frame, label);
}

/// A horizontal grid line at `y` with its tick label left of the frame.
fn y_grid_line(svg: &mut String, frame: &Frame, y: f64, tick: &str) {
    let y = c(y);
    let _ = write!(
        svg,
        "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\"/><text class=\"tick\" x=\"{}\" y=\"{y}\" dy=\"0.32em\" text-anchor=\"end\">{}</text>",
        c(frame.left),
        c(frame.right),
        c(frame.left - 5.0),
        Esc(tick)
    );
}

fn y_label(svg: &mut String, frame: &Frame, label: &str) {
    let y = c((frame.top + frame.bottom) / 2.0);
    let _ = write!(
        svg,
        "<text class=\"axis-label\" x=\"12\" y=\"{y}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {y})\">{}</text>",
        Esc(label)
    );
}

/// The x range (ms, whole decades) of the strategies' latency histograms.
fn latency_range(results: &[StrategyResult]) -> Option<(f64, f64)> {
    let buckets = results.iter().flat_map(|r| &r.latency_histogram);
    let lo = buckets
        .clone()
        .map(|b| finite(b.from_ms))
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let hi = buckets.map(|b| finite(b.to_ms)).fold(0.0, f64::max);
    lo.is_finite().then(|| log_range(lo, hi))
}

/// The latency CDF: per strategy, the share of requests at or below each bucket's upper edge on
/// a log-scale ms axis, with its p50 and p99 marked.
pub fn latency_cdf(results: &[StrategyResult]) -> String {
    let frame = Frame::new(640.0, 300.0);
    let mut svg = String::new();
    svg_start(&mut svg, "cdf", &frame, "Latency CDF per strategy");
    let ticks = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0];
    for t in ticks {
        let y = c(frame.lin_y(t, 1.0));
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\"/><text class=\"tick\" x=\"{}\" y=\"{y}\" dy=\"0.32em\" text-anchor=\"end\">{:.0}%</text>",
            c(frame.left),
            c(frame.right),
            c(frame.left - 5.0),
            t * 100.0
        );
    }
    y_label(&mut svg, &frame, "share of requests ≤ latency");
    let Some((lo, hi)) = latency_range(results) else {
        axis_lines(&mut svg, &frame);
        empty_note(&mut svg, &frame, "no request was measured");
        svg_end(&mut svg, "Latency CDF (log scale)");
        return svg;
    };
    log_x_axis(&mut svg, &frame, lo, hi, "latency (log scale)");
    for (i, r) in results.iter().enumerate() {
        let total: u64 = r.latency_histogram.iter().map(|b| b.count).sum();
        if total == 0 {
            continue;
        }
        let colour = strategy_colour(&r.strategy, i);
        let mut d = format!(
            "M{} {}",
            c(frame.log_x(r.latency_histogram[0].from_ms, lo, hi)),
            c(frame.bottom)
        );
        let mut seen = 0u64;
        for b in &r.latency_histogram {
            seen += b.count;
            let _ = write!(
                d,
                " L{} {}",
                c(frame.log_x(b.to_ms, lo, hi)),
                c(frame.lin_y(seen as f64 / total as f64, 1.0))
            );
        }
        let _ = write!(
            svg,
            "<path class=\"cdf-line\" data-strategy=\"{}\" d=\"{d}\" stroke=\"{colour}\"><title>{}: {} requests</title></path>",
            Esc(&r.strategy),
            Esc(&r.strategy),
            total
        );
        for (name, q, ms) in [
            ("p50", 0.5, r.latency.p50_ms),
            ("p99", 0.99, r.latency.p99_ms),
        ] {
            let _ = write!(
                svg,
                "<circle class=\"mark {name}\" data-strategy=\"{}\" cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{colour}\"><title>{} {name}: {} ms</title></circle>",
                Esc(&r.strategy),
                c(frame.log_x(ms, lo, hi)),
                c(frame.lin_y(q, 1.0)),
                Esc(&r.strategy),
                ms2(ms)
            );
        }
    }
    svg_end(
        &mut svg,
        "Latency CDF (log scale): dots mark each strategy's p50 and p99.",
    );
    svg
}

/// The latency histogram: per strategy, the share of its requests in each log-scale bucket, as
/// a step outline.
pub fn latency_histogram(results: &[StrategyResult]) -> String {
    let frame = Frame::new(640.0, 300.0);
    let mut svg = String::new();
    svg_start(
        &mut svg,
        "histogram",
        &frame,
        "Latency histogram per strategy",
    );
    let shares: Vec<Vec<f64>> = results
        .iter()
        .map(|r| {
            let total: u64 = r.latency_histogram.iter().map(|b| b.count).sum();
            r.latency_histogram
                .iter()
                .map(|b| b.count as f64 / total.max(1) as f64)
                .collect()
        })
        .collect();
    let top = shares.iter().flatten().copied().fold(0.0, f64::max);
    let ticks = linear_ticks(top * 100.0);
    let max = ticks.last().copied().unwrap_or(1.0) / 100.0;
    lin_y_axis(&mut svg, &frame, &ticks, "share of requests", |t| {
        format!("{}%", num(t))
    });
    let Some((lo, hi)) = latency_range(results) else {
        axis_lines(&mut svg, &frame);
        empty_note(&mut svg, &frame, "no request was measured");
        svg_end(&mut svg, "Latency histogram (log scale)");
        return svg;
    };
    log_x_axis(&mut svg, &frame, lo, hi, "latency (log scale)");
    for (i, (r, shares)) in results.iter().zip(&shares).enumerate() {
        if r.latency_histogram.is_empty() {
            continue;
        }
        let colour = strategy_colour(&r.strategy, i);
        let first = &r.latency_histogram[0];
        let mut d = format!(
            "M{} {}",
            c(frame.log_x(first.from_ms, lo, hi)),
            c(frame.bottom)
        );
        for (b, share) in r.latency_histogram.iter().zip(shares) {
            let y = c(frame.lin_y(*share, max));
            let _ = write!(d, " V{y} H{}", c(frame.log_x(b.to_ms, lo, hi)));
        }
        let _ = write!(d, " V{}", c(frame.bottom));
        let _ = write!(
            svg,
            "<path class=\"hist-line\" data-strategy=\"{}\" d=\"{d}\" stroke=\"{colour}\"><title>{}</title></path>",
            Esc(&r.strategy),
            Esc(&r.strategy)
        );
    }
    svg_end(
        &mut svg,
        "Latency histogram (log scale, ten buckets per decade): share of each strategy's requests per bucket.",
    );
    svg
}

/// The series of a timeline panel: class, label, colour and value per bucket.
type Series<'a> = (&'a str, &'a str, &'a str, Vec<f64>);

/// One strategy over time: requests by outcome (top panel) and database calls (bottom panel,
/// its own scale so a herd of a few dozen queries shows beside thousands of hits), the herd
/// phase shaded and every expiry marked.
pub fn timeline_chart(result: &StrategyResult, index: usize, timeline: &Timeline) -> String {
    let frame = Frame::new(640.0, 200.0);
    let lower = Frame {
        top: frame.height + 10.0,
        bottom: frame.height + 150.0,
        height: frame.height + 188.0,
        ..frame
    };
    let colour = strategy_colour(&result.strategy, index);
    let mut svg = String::new();
    let title = format!("{} over time", result.strategy);
    svg_start(&mut svg, "timeline", &lower, &title);
    let _ = write!(
        svg,
        "<g class=\"strategy-name\" data-strategy=\"{}\" data-bucket-ms=\"{}\"><rect x=\"{}\" y=\"2\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"11\">{}</text></g>",
        Esc(&result.strategy),
        timeline.bucket_ms,
        c(frame.left),
        c(frame.left + 14.0),
        Esc(&result.strategy)
    );
    let buckets = &timeline.buckets;
    let width_ms = timeline.bucket_ms.max(1) as f64;
    // Past the last bucket when the last expiry is (its requests may start in the bucket before):
    // every mark stays inside the chart.
    let last_expiry = timeline
        .expiries_at_ms
        .iter()
        .max()
        .map_or(0.0, |&at| at as f64 + width_ms.max(at as f64 / 20.0));
    let end_ms = (buckets.len().max(1) as f64 * width_ms).max(last_expiry);
    let column = |f: fn(&crate::bench::report::TimelineBucket) -> u64| -> Vec<f64> {
        buckets.iter().map(|b| f(b) as f64).collect()
    };
    let requests: [Series; 4] = [
        ("requests", "requests", "#3a3f46", column(|b| b.requests)),
        ("hits", "hits", "#2f8f46", column(|b| b.hits)),
        (
            "misses",
            "misses + database",
            "#d9822b",
            column(|b| b.misses + b.database + b.redis_fallbacks),
        ),
        (
            "stale",
            "stale serves",
            "#8e5bb5",
            column(|b| b.stale_serves),
        ),
    ];
    let calls: [Series; 2] = [
        (
            "db-calls",
            "database calls",
            "#c0392b",
            column(|b| b.db_calls + b.background_db_calls),
        ),
        ("errors", "errors", "#000000", column(|b| b.errors)),
    ];
    let upper = Frame {
        top: frame.top + 12.0,
        bottom: frame.bottom - 8.0,
        ..frame
    };
    for (is_upper, panel, series, label) in [
        (true, upper, &requests[..], "requests / bucket"),
        (false, lower, &calls[..], "DB calls / bucket"),
    ] {
        let top = series
            .iter()
            .flat_map(|s| &s.3)
            .copied()
            .fold(0.0, f64::max);
        let ticks = linear_ticks(top);
        let max = ticks.last().copied().unwrap_or(1.0);
        lin_y_axis(&mut svg, &panel, &ticks, label, num);
        axis_lines(&mut svg, &panel);
        // The herd phase, shaded, and each expiry, a dashed line.
        if let Some(from) = timeline.herd_from_ms {
            let x = panel.lin_x(from as f64, end_ms);
            let _ = write!(
                svg,
                "<rect class=\"herd-phase\" data-from-ms=\"{from}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>expiry rounds from {} ms</title></rect>",
                c(x),
                c(panel.top),
                c((panel.right - x).max(0.0)),
                c(panel.bottom - panel.top),
                from
            );
        }
        for (n, &at) in timeline.expiries_at_ms.iter().enumerate() {
            let x = c(panel.lin_x(at as f64, end_ms));
            let _ = write!(
                svg,
                "<line class=\"expiry\" data-at-ms=\"{at}\" x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\"><title>expiry {} at {at} ms</title></line>",
                c(panel.top),
                c(panel.bottom),
                n + 1
            );
            if is_upper {
                let _ = write!(
                    svg,
                    "<text class=\"expiry-label\" x=\"{x}\" dx=\"-3\" y=\"{}\" text-anchor=\"end\">expiry {}</text>",
                    c(panel.top + 10.0),
                    n + 1
                );
            }
        }
        if buckets.is_empty() {
            empty_note(&mut svg, &panel, "no request was measured");
            continue;
        }
        for (class, name, stroke, values) in series {
            if *class == "errors" && values.iter().all(|v| *v == 0.0) {
                continue;
            }
            let mut d = format!("M{} {}", c(panel.left), c(panel.lin_y(values[0], max)));
            for (i, v) in values.iter().enumerate() {
                let y = c(panel.lin_y(*v, max));
                let _ = write!(
                    d,
                    " V{y} H{}",
                    c(panel.lin_x((i + 1) as f64 * width_ms, end_ms))
                );
            }
            let data: Vec<String> = values.iter().map(|v| num(*v)).collect();
            let _ = write!(
                svg,
                "<path class=\"series {class}\" data-values=\"{}\" d=\"{d}\" stroke=\"{stroke}\"><title>{}</title></path>",
                data.join(" "),
                Esc(name)
            );
        }
        // The panel's legend, top right.
        let mut x = panel.right;
        for (class, name, stroke, values) in series.iter().rev() {
            if *class == "errors" && values.iter().all(|v| *v == 0.0) {
                continue;
            }
            x -= 8.0 + 6.5 * name.chars().count() as f64 + 14.0;
            let _ = write!(
                svg,
                "<g class=\"key\"><rect x=\"{}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{stroke}\"/><text class=\"tick\" x=\"{}\" y=\"{}\">{}</text></g>",
                c(x),
                c(panel.top - 9.0),
                c(x + 13.0),
                c(panel.top - 5.0),
                Esc(name)
            );
        }
    }
    // The shared time axis, under the lower panel.
    for t in linear_ticks(end_ms / 1000.0) {
        if t * 1000.0 > end_ms * 1.000_001 {
            break;
        }
        let x = c(lower.lin_x(t * 1000.0, end_ms));
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{} s</text>",
            c(lower.bottom + 14.0),
            num(t)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">time after the warm-up ({} ms buckets)</text>",
        c((lower.left + lower.right) / 2.0),
        c(lower.height - 6.0),
        timeline.bucket_ms
    );
    let caption = match timeline.expiries_at_ms.len() {
        0 => format!(
            "{}: requests and database calls per {} ms.",
            result.strategy, timeline.bucket_ms
        ),
        n => format!(
            "{}: requests and database calls per {} ms; the shaded part holds the {n} expiry rounds.",
            result.strategy, timeline.bucket_ms
        ),
    };
    svg_end(&mut svg, &caption);
    svg
}

/// Each write's staleness (log-scale ms) against its commit time, one colour per strategy;
/// hollow marks for writes no fresh read followed.
pub fn staleness_chart(results: &[StrategyResult]) -> String {
    let frame = Frame::new(900.0, 300.0);
    let mut svg = String::new();
    svg_start(&mut svg, "staleness", &frame, "Staleness per write");
    let writes = results
        .iter()
        .filter_map(|r| r.staleness.as_ref())
        .flat_map(|s| &s.per_write);
    let end_ms = writes.clone().map(|w| w.at_ms).max().unwrap_or(0).max(1) as f64;
    let top = writes.map(|w| finite(w.staleness_ms)).fold(1.0, f64::max);
    let (lo, hi) = log_range(1.0, top);
    // The log y axis: a labelled line per decade.
    let mut decade = lo;
    while decade <= hi * 1.000_001 {
        y_grid_line(
            &mut svg,
            &frame,
            frame.log_y(decade, lo, hi),
            &tick_label_ms(decade),
        );
        decade *= 10.0;
    }
    y_label(&mut svg, &frame, "staleness (log scale)");
    axis_lines(&mut svg, &frame);
    let ticks = linear_ticks(end_ms / 1000.0);
    let span = ticks.last().copied().unwrap_or(1.0) * 1000.0;
    for t in &ticks {
        let x = c(frame.lin_x(t * 1000.0, span));
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{} s</text>",
            c(frame.bottom + 14.0),
            num(*t)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">commit time after the warm-up</text>",
        c((frame.left + frame.right) / 2.0),
        c(frame.height - 6.0)
    );
    let mut any = false;
    for (i, r) in results.iter().enumerate() {
        let Some(staleness) = &r.staleness else {
            continue;
        };
        let colour = strategy_colour(&r.strategy, i);
        let _ = write!(
            svg,
            "<g class=\"writes\" data-strategy=\"{}\" data-count=\"{}\">",
            Esc(&r.strategy),
            staleness.per_write.len()
        );
        for write in &staleness.per_write {
            any = true;
            let (fill, class) = if write.resolved {
                (colour, "write")
            } else {
                ("none", "write open")
            };
            let _ = write!(
                svg,
                "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"2.6\" fill=\"{fill}\" stroke=\"{colour}\"><title>{}: write at {} ms, stale {}{}</title></circle>",
                c(frame.lin_x(write.at_ms as f64, span)),
                c(frame.log_y(write.staleness_ms.max(lo), lo, hi)),
                Esc(&r.strategy),
                write.at_ms,
                fmt_ms(finite(write.staleness_ms)),
                if write.resolved {
                    ""
                } else {
                    " or more (no fresh read before the end)"
                }
            );
        }
        let _ = write!(svg, "</g>");
    }
    if !any {
        empty_note(&mut svg, &frame, "no write was committed");
    }
    svg_end(
        &mut svg,
        "Staleness per write: each dot one write (at most 1,000 per strategy, evenly sampled).",
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::{
        Latency, LatencyBucket, Parameters, RedisBytes, SCHEMA_VERSION, Staleness, TimelineBucket,
        WriteStaleness,
    };
    use crate::cache::MetricsSnapshot;

    fn result(name: &str) -> StrategyResult {
        StrategyResult {
            strategy: name.into(),
            requests: 30,
            throughput_rps: 300.0,
            latency: Latency {
                samples: 30,
                mean_ms: 0.9,
                p50_ms: 0.5,
                p95_ms: 2.0,
                p99_ms: 4.0,
                max_ms: 4.5,
            },
            counters: MetricsSnapshot {
                requests: 30,
                hits: 20,
                misses: 10,
                db_queries: 10,
                ..MetricsSnapshot::default()
            },
            hit_rate: 2.0 / 3.0,
            miss_rate: 1.0 / 3.0,
            stale_rate: 0.0,
            fallback_rate: 0.0,
            db_calls: 10,
            errors: 0,
            redis: RedisBytes::default(),
            herd: None,
            staleness: None,
            interrupted: false,
            timeline: Some(Timeline {
                bucket_ms: 10,
                buckets: vec![
                    TimelineBucket {
                        at_ms: 0,
                        requests: 10,
                        hits: 5,
                        misses: 5,
                        db_calls: 5,
                        max_ms: 3.0,
                        ..TimelineBucket::default()
                    },
                    TimelineBucket {
                        at_ms: 10,
                        requests: 20,
                        hits: 15,
                        misses: 5,
                        db_calls: 5,
                        max_ms: 4.5,
                        ..TimelineBucket::default()
                    },
                ],
                herd_from_ms: None,
                expiries_at_ms: Vec::new(),
            }),
            latency_histogram: vec![
                LatencyBucket {
                    from_ms: 0.4,
                    to_ms: 0.5,
                    count: 15,
                },
                LatencyBucket {
                    from_ms: 0.5,
                    to_ms: 0.63,
                    count: 10,
                },
                LatencyBucket {
                    from_ms: 4.0,
                    to_ms: 5.0,
                    count: 5,
                },
            ],
        }
    }

    fn report(results: Vec<StrategyResult>) -> BenchReport {
        BenchReport {
            schema_version: SCHEMA_VERSION,
            pgdiag_version: "0.1.0".into(),
            scenario: "herd".into(),
            parameters: Parameters {
                query: "SELECT * FROM t WHERE id = $1 AND note <> '</script>'".into(),
                clients: 4,
                duration_ms: 20,
                warmup_ms: 0,
                keys: 10,
                zipf: 1.0,
                ttl_ms: 60_000,
                soft_ttl_ms: 45_000,
                pool: 2,
                seed: 42,
                expiries: 1,
                hot_keys: 1,
                write: None,
                write_rate: None,
                invalidate: "none".into(),
            },
            strategies: results,
            interrupted: false,
            complete: true,
            leftovers: Vec::new(),
        }
    }

    fn page(report: &BenchReport) -> String {
        let mut out = Vec::new();
        render_bench(&mut out, report).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// In the page's `<main>`: every tag the charts open is closed, and no coordinate is NaN or infinite.
    fn assert_well_formed(html: &str) {
        let start = html.find("<main>").unwrap();
        let end = html.find("</main>").unwrap();
        let html = &html[start..end];
        for tag in [
            "svg", "figure", "section", "table", "g", "path", "circle", "text",
        ] {
            let opened = html.matches(&format!("<{tag} ")).count()
                + html.matches(&format!("<{tag}>")).count();
            let closed = html.matches(&format!("</{tag}>")).count();
            assert_eq!(opened, closed, "<{tag}>");
        }
        for bad in ["NaN", "inf"] {
            assert!(!html.contains(bad), "{bad} in the page");
        }
    }

    #[test]
    fn names_and_text_are_escaped_everywhere() {
        let html = page(&report(vec![
            result("<b>\"odd\" & 'x'</b>"),
            result("none"),
        ]));
        assert!(!html.contains("<b>\"odd\""));
        assert!(html.contains("&lt;b&gt;&quot;odd&quot; &amp; &#39;x&#39;&lt;/b&gt;"));
        assert!(!html.contains("'</script>'"));
        assert!(html.contains("&#39;&lt;/script&gt;&#39;"));
        assert_well_formed(&html);
    }

    #[test]
    fn one_cdf_path_and_two_quantile_marks_per_strategy() {
        let html = page(&report(vec![result("none"), result("cache-aside")]));
        assert_eq!(html.matches("class=\"cdf-line\"").count(), 2);
        assert_eq!(html.matches("class=\"hist-line\"").count(), 2);
        assert_eq!(html.matches("class=\"mark p50\"").count(), 2);
        assert_eq!(html.matches("class=\"mark p99\"").count(), 2);
        // The CDF climbs to 100% at the last bucket's edge.
        let frame = Frame::new(640.0, 300.0);
        assert!(html.contains(&format!(" {}\" stroke=\"#5f6b7a\"", c(frame.top))));
        // One colour per strategy.
        assert!(html.contains("stroke=\"#1f77b4\""));
        // The table has the text table's figures.
        assert!(html.contains("<td>66.7%</td>"));
        assert!(html.contains("<td>0.50</td>"));
        assert_eq!(
            html.matches("class=\"series db-calls\" data-values=\"5 5\"")
                .count(),
            2
        );
        assert_well_formed(&html);
    }

    #[test]
    fn a_run_with_no_request_draws_empty_charts_without_failing() {
        let mut empty = result("swr");
        empty.latency_histogram.clear();
        empty.timeline = Some(Timeline::default());
        empty.latency = Latency::default();
        empty.requests = 0;
        empty.throughput_rps = f64::NAN;
        let html = page(&report(vec![empty]));
        assert!(html.contains("no request was measured"));
        assert!(!html.contains("class=\"cdf-line\""));
        assert_well_formed(&html);
        // No strategy at all (stopped before the first finished).
        let mut stopped = report(Vec::new());
        stopped.interrupted = true;
        let html = page(&stopped);
        assert!(html.contains("No strategy ran."));
        assert!(html.contains("Interrupted"));
        assert_well_formed(&html);
    }

    #[test]
    fn a_single_bucket_and_an_interrupted_strategy_still_draw() {
        let mut one = result("cache-aside");
        if let Some(t) = one.timeline.as_mut() {
            t.buckets.truncate(1);
        }
        one.latency_histogram.truncate(1);
        one.interrupted = true;
        let html = page(&report(vec![one]));
        assert!(html.contains("cache-aside (interrupted)"));
        assert!(html.contains("data-values=\"10\""));
        assert_eq!(html.matches("class=\"cdf-line\"").count(), 1);
        assert_well_formed(&html);
    }

    #[test]
    fn herd_expiries_are_marked_and_their_spike_drawn() {
        let mut herd = result("cache-aside");
        let timeline = herd.timeline.as_mut().unwrap();
        timeline.herd_from_ms = Some(20);
        timeline.expiries_at_ms = vec![25, 45];
        for at_ms in [20, 30, 40, 50] {
            timeline.buckets.push(TimelineBucket {
                at_ms,
                requests: 8 * u64::from(at_ms % 20 == 0),
                misses: 8 * u64::from(at_ms % 20 == 0),
                db_calls: 8 * u64::from(at_ms % 20 == 0),
                ..TimelineBucket::default()
            });
        }
        let html = page(&report(vec![herd]));
        // Both panels mark both expiries; the labels are on the top one.
        assert_eq!(html.matches("class=\"expiry\"").count(), 4);
        assert_eq!(html.matches("class=\"expiry-label\"").count(), 2);
        assert_eq!(html.matches("class=\"herd-phase\"").count(), 2);
        assert!(html.contains("data-values=\"5 5 8 0 8 0\""));
        assert_well_formed(&html);
    }

    #[test]
    fn staleness_is_one_dot_per_listed_write_hollow_when_unresolved() {
        let mut writes = result("cache-aside");
        writes.staleness = Some(Staleness {
            writes: 3,
            stale_reads: 7,
            max_ms: 900.0,
            p99_ms: 900.0,
            unresolved_writes: 1,
            per_write: vec![
                WriteStaleness {
                    at_ms: 0,
                    staleness_ms: 0.0,
                    resolved: true,
                },
                WriteStaleness {
                    at_ms: 100,
                    staleness_ms: 40.0,
                    resolved: true,
                },
                WriteStaleness {
                    at_ms: 200,
                    staleness_ms: 900.0,
                    resolved: false,
                },
            ],
        });
        let mut no_writes = result("none");
        no_writes.staleness = Some(Staleness {
            writes: 0,
            stale_reads: 0,
            max_ms: 0.0,
            p99_ms: 0.0,
            unresolved_writes: 0,
            per_write: Vec::new(),
        });
        let html = page(&report(vec![writes, no_writes]));
        assert_eq!(html.matches("class=\"write\"").count(), 2);
        assert_eq!(html.matches("class=\"write open\"").count(), 1);
        assert!(html.contains("data-count=\"0\""));
        assert!(html.contains("900.00 / 900.00 (1 open)"));
        assert_well_formed(&html);

        let mut none_at_all = result("none");
        none_at_all.staleness = no_writes_staleness();
        let html = page(&report(vec![none_at_all]));
        assert!(html.contains("no write was committed"));
        assert_well_formed(&html);
    }

    fn no_writes_staleness() -> Option<Staleness> {
        Some(Staleness {
            writes: 0,
            stale_reads: 0,
            max_ms: 0.0,
            p99_ms: 0.0,
            unresolved_writes: 0,
            per_write: Vec::new(),
        })
    }

    #[test]
    fn axis_ticks_are_round() {
        assert_eq!(linear_ticks(0.0), [0.0, 1.0]);
        assert_eq!(linear_ticks(f64::NAN), [0.0, 1.0]);
        assert_eq!(linear_ticks(7.0), [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(linear_ticks(100.0), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(
            linear_ticks(1.0),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let close = |(a, b): (f64, f64), (x, y): (f64, f64)| {
            assert!(
                (a / x - 1.0).abs() < 1e-9 && (b / y - 1.0).abs() < 1e-9,
                "{a} {b}"
            );
        };
        close(log_range(0.04, 5.0), (0.01, 10.0));
        close(log_range(1.0, 1.0), (1.0, 10.0));
        close(log_range(0.0, f64::INFINITY), (0.001, 0.01));
        assert_eq!(tick_label_ms(0.01), "10 µs");
        assert_eq!(tick_label_ms(1.0), "1 ms");
        assert_eq!(tick_label_ms(2000.0), "2 s");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(1.0 / 3.0), "0.333");
        assert_eq!(num(1234.6), "1235");
    }
}
