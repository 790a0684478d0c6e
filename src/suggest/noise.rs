//! When a difference between two measurements is a real change and when it is the machine's noise:
//! the one rule every before/after of `suggest` (verification, the check with every kept suggestion
//! together, `--apply`) and its wording go by. Pure: figures in, verdict out.
//!
//! Times (EXPLAIN ANALYZE, median of several runs): `after` is slower only when its median exceeds
//! the `before` median by more than both [`TIME_MARGIN_PCT`] of it and [`TIME_FLOOR_MS`], and the
//! runs do not overlap: its fastest run is slower than the slowest `before` run (so its median is
//! beyond the whole spread of the `before` runs); faster the same way round. The spread is
//! judged by the overlap rather than added to the margin: a noisy `before` (3.8–14 ms) must not
//! hide a change to 0.3 ms whose every run is faster than every run before it. Planned costs (no
//! timings: HypoPG, generic plans) do not jitter, but small differences are the planner's
//! estimates, not the statement: cheaper beyond [`COST_MARGIN_PCT`] only. Costlier is asymmetric:
//! the planner picks the cheapest plan it costs, so a changed plan whose planned cost rises at all
//! was chosen through a misestimate or a cost comparison made below the top of the plan (a semi
//! join, a subplan), and that is how a "helpful" index slows a statement down (issue 19: +5% as
//! planned, 2.3× slower as run). Only [`COST_HARM_PCT`], the planner's own fuzz (it treats paths
//! within 1% of each other as equal, `STD_FUZZ_FACTOR`), is forgiven. A plan that did not change
//! claims nothing either way.

use super::report::{Measure, Verdict, number};

/// A time difference smaller than this share of the `before` median is noise.
pub const TIME_MARGIN_PCT: f64 = 20.0;
/// A time difference smaller than this is noise, however small the statement.
pub const TIME_FLOOR_MS: f64 = 1.0;
/// A planned cost decrease smaller than this share of the `before` cost is not a gain.
pub const COST_MARGIN_PCT: f64 = 10.0;
/// A planned cost increase (with a changed plan) beyond this share of the `before` cost is harm:
/// the planner's fuzz factor, within which it holds two paths equal.
pub const COST_HARM_PCT: f64 = 1.0;

/// Which way `after` differs from `before` beyond noise, whatever the plans: `Some(true)` slower,
/// `Some(false)` faster, `None` within noise (or nothing to compare).
pub fn direction(before: &Measure, after: &Measure) -> Option<bool> {
    if let (Some(b), Some(a)) = (before.time_ms, after.time_ms) {
        let margin = (b * TIME_MARGIN_PCT / 100.0).max(TIME_FLOOR_MS);
        let slowest_before = before.time_max_ms.unwrap_or(b);
        let fastest_before = before.time_min_ms.unwrap_or(b);
        let fastest_after = after.time_min_ms.unwrap_or(a);
        let slowest_after = after.time_max_ms.unwrap_or(a);
        if a - b > margin && fastest_after > slowest_before {
            return Some(true);
        }
        if b - a > margin && slowest_after < fastest_before {
            return Some(false);
        }
        return None;
    }
    let (Some(b), Some(a)) = (before.cost, after.cost) else {
        return None;
    };
    if a - b > b.abs() * COST_HARM_PCT / 100.0 {
        Some(true)
    } else if b - a > b.abs() * COST_MARGIN_PCT / 100.0 {
        Some(false)
    } else {
        None
    }
}

/// The verdict on `before` → `after`: nothing claimed when the plan is the same.
pub fn verdict(before: &Measure, after: &Measure) -> Verdict {
    if before.plan == after.plan {
        return Verdict::SamePlan;
    }
    match direction(before, after) {
        Some(true) => Verdict::Slower,
        Some(false) => Verdict::Faster,
        None => Verdict::WithinNoise,
    }
}

/// Whether `after` is slower than `before` beyond noise because its plan changed: what makes a
/// suggestion responsible for harm.
pub fn slower(before: &Measure, after: &Measure) -> bool {
    verdict(before, after) == Verdict::Slower
}

/// `12.1 ms (11.8–12.6, 5 runs) → 30.4 ms (29.9–31.2, 5 runs)`, or `cost 25.9 → 13.5`: time
/// when both sides have it.
pub fn figures(before: &Measure, after: &Measure) -> String {
    match (before.time_ms, after.time_ms) {
        (Some(_), Some(_)) => format!("{} → {}", before.figure(), after.figure()),
        _ => match (before.cost, after.cost) {
            (Some(b), Some(a)) => format!("cost {} → {}", number(b), number(a)),
            _ => "?".into(),
        },
    }
}

/// A comparison for a reader, claiming only what the verdict allows: `same plan; 12.1 ms (…) →
/// 12.4 ms (…), within noise`, `… , faster`, `…, slower`.
pub fn describe(before: &Measure, after: &Measure) -> String {
    let figures = figures(before, after);
    match verdict(before, after) {
        Verdict::SamePlan => match direction(before, after) {
            None => format!("same plan; {figures}, within noise"),
            Some(_) => format!("same plan; {figures}, not a change of plan: nothing claimed"),
        },
        Verdict::WithinNoise => format!("{figures}, within noise"),
        Verdict::Faster if timed(before, after) => format!("{figures}, faster"),
        Verdict::Slower if timed(before, after) => format!("{figures}, slower"),
        Verdict::Faster => format!("{figures}, cheaper as planned"),
        Verdict::Slower => format!("{figures}, costlier as planned"),
    }
}

/// Both sides have a measured time (else the comparison is on planned cost).
fn timed(before: &Measure, after: &Measure) -> bool {
    before.time_ms.is_some() && after.time_ms.is_some()
}

/// Why a suggestion is not kept: `makes #2 slower: 12.1 ms (11.8–12.6, 5 runs) → 30.4 ms
/// (29.9–31.2, 5 runs); Seq Scan on t → Index Scan using t_b_idx on t`.
pub fn slower_reason(statement: usize, before: &Measure, after: &Measure) -> String {
    let mut reason = format!("makes #{statement} slower: {}", figures(before, after));
    if let Some(change) = super::applying::plan_change(&before.plan, &after.plan) {
        reason.push_str(&format!("; {change}"));
    }
    reason
}

/// A harm as a rejection states it: `#4 2.3× slower: 72.8 ms (…) → 168.7 ms (…); Seq Scan on l →
/// …`, `#4 5% costlier as planned: cost 100 → 105; …`.
pub fn harm(statement: usize, before: &Measure, after: &Measure) -> String {
    let how = match (before.time_ms, after.time_ms, before.cost, after.cost) {
        (Some(b), Some(a), ..) if b > 0.0 && a / b >= 1.5 => format!("{:.1}× slower", a / b),
        (Some(b), Some(a), ..) if b > 0.0 => format!("{:.0}% slower", (a - b) / b * 100.0),
        (_, _, Some(b), Some(a)) if b > 0.0 && a / b >= 1.5 => {
            format!("{:.1}× costlier as planned", a / b)
        }
        (_, _, Some(b), Some(a)) if b > 0.0 => {
            format!("{:.0}% costlier as planned", (a - b) / b * 100.0)
        }
        _ => "slower".to_owned(),
    };
    let mut text = format!("#{statement} {how}: {}", figures(before, after));
    if let Some(change) = super::applying::plan_change(&before.plan, &after.plan) {
        text.push_str(&format!("; {change}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(median: f64, lo: f64, hi: f64, plan: &str) -> Measure {
        Measure {
            cost: Some(100.0),
            time_ms: Some(median),
            time_min_ms: Some(lo),
            time_max_ms: Some(hi),
            runs: Some(5),
            plan: plan.into(),
            plan_nodes: None,
        }
    }

    fn cost(cost: f64, plan: &str) -> Measure {
        Measure {
            cost: Some(cost),
            plan: plan.into(),
            ..Measure::default()
        }
    }

    #[test]
    fn slower_only_beyond_the_margin_the_floor_and_the_spread_of_the_runs() {
        let before = timed(12.1, 11.8, 12.6, "Seq Scan on t");
        let worse = timed(30.4, 29.9, 31.2, "Index Scan using t_b_idx on t");
        assert_eq!(verdict(&before, &worse), Verdict::Slower);
        assert!(slower(&before, &worse));
        // 20% of 12.1 is 2.4: 14 ms is within the relative margin.
        let a_bit = timed(14.0, 13.5, 14.6, "Index Scan using t_b_idx on t");
        assert_eq!(verdict(&before, &a_bit), Verdict::WithinNoise);
        // A wide before spread (8–30 ms) swallows a 15 ms difference: the runs overlap.
        let noisy = timed(12.0, 8.0, 30.0, "Seq Scan on t");
        let later = timed(27.0, 26.0, 29.0, "Index Scan using t_b_idx on t");
        assert_eq!(verdict(&noisy, &later), Verdict::WithinNoise);
        // Overlapping runs: not slower, whatever the medians.
        let overlap = timed(16.0, 12.0, 17.0, "Index Scan using t_b_idx on t");
        assert_eq!(verdict(&before, &overlap), Verdict::WithinNoise);
        // 0.1 ms → 0.6 ms is six times, but under the 1 ms floor.
        let fast = timed(0.1, 0.09, 0.11, "Seq Scan on t");
        let less_fast = timed(0.6, 0.55, 0.65, "Index Scan using t_b_idx on t");
        assert_eq!(verdict(&fast, &less_fast), Verdict::WithinNoise);
        // And the other way round.
        assert_eq!(verdict(&worse, &before), Verdict::Faster);
        // A noisy before does not hide a change whose every run is faster than every run before.
        let noisy = timed(8.2, 3.8, 14.0, "Seq Scan on t");
        let view = timed(0.26, 0.23, 0.35, "Seq Scan on v");
        assert_eq!(verdict(&noisy, &view), Verdict::Faster);
    }

    #[test]
    fn the_same_plan_claims_nothing() {
        let before = timed(638.0, 620.0, 650.0, "Seq Scan on t");
        let after = timed(1540.0, 1500.0, 1600.0, "Seq Scan on t");
        assert_eq!(verdict(&before, &after), Verdict::SamePlan);
        assert!(!slower(&before, &after));
        assert_eq!(
            describe(&before, &after),
            "same plan; 638 ms (620–650, 5 runs) → 1540 ms (1500–1600, 5 runs), not a change of plan: nothing claimed"
        );
        let close = timed(12.4, 12.0, 12.9, "Seq Scan on t");
        let before = timed(12.1, 11.8, 12.6, "Seq Scan on t");
        assert_eq!(
            describe(&before, &close),
            "same plan; 12.1 ms (11.8–12.6, 5 runs) → 12.4 ms (12.0–12.9, 5 runs), within noise"
        );
    }

    #[test]
    fn costs_change_beyond_a_relative_margin_only() {
        let before = cost(100.0, "Seq Scan on t");
        assert_eq!(
            verdict(&before, &cost(95.0, "Index Scan using i on t")),
            Verdict::WithinNoise
        );
        assert_eq!(
            verdict(&before, &cost(100.8, "Index Scan using i on t")),
            Verdict::WithinNoise
        );
        // Issue 19's q4: +5% as planned with a new plan is harm, not noise.
        assert_eq!(
            verdict(&before, &cost(105.0, "Index Scan using i on t")),
            Verdict::Slower
        );
        assert_eq!(
            verdict(&before, &cost(125.0, "Index Scan using i on t")),
            Verdict::Slower
        );
        // The same plan claims nothing, however the cost moved.
        assert_eq!(
            verdict(&before, &cost(105.0, "Seq Scan on t")),
            Verdict::SamePlan
        );
        assert_eq!(
            verdict(&before, &cost(13.5, "Index Scan using i on t")),
            Verdict::Faster
        );
    }

    #[test]
    fn the_reason_names_the_statement_the_numbers_and_the_plan_change() {
        let before = timed(12.1, 11.8, 12.6, "Seq Scan on t");
        let after = timed(30.4, 29.9, 31.2, "Index Scan using t_b_idx on t");
        assert_eq!(
            slower_reason(2, &before, &after),
            "makes #2 slower: 12.1 ms (11.8–12.6, 5 runs) → 30.4 ms (29.9–31.2, 5 runs); Seq Scan on t → Index Scan using t_b_idx on t"
        );
        assert_eq!(
            harm(4, &before, &after),
            "#4 2.5× slower: 12.1 ms (11.8–12.6, 5 runs) → 30.4 ms (29.9–31.2, 5 runs); Seq Scan on t → Index Scan using t_b_idx on t"
        );
        assert_eq!(
            harm(
                4,
                &cost(100.0, "Seq Scan on t"),
                &cost(105.0, "Index Scan using i on t")
            ),
            "#4 5% costlier as planned: cost 100 → 105; Seq Scan on t → Index Scan using i on t"
        );
        let one = Measure::timed(None, Some(3.0), "p".into());
        assert_eq!(one.figure(), "3.0 ms (1 run)");
    }
}
