//! Row counts as the server measured them. EXPLAIN ANALYZE prints a node's rows per loop: the
//! average over its loops, not the total. `Rows Removed by Filter` (and by Join Filter, by Index
//! Recheck) is that average rounded to a whole number in every version (`nfiltered / nloops`
//! printed with no decimals, `show_instrumentation_count` in explain.c); `Actual Rows` is rounded
//! the same way before PostgreSQL 18, which prints two decimals. Over many loops the rounding
//! adds up: 0.4 rows per loop over 10,000 loops is 4,000 rows, printed as 0. So a total derived
//! from a printed figure is known only within half a row per loop, and a printed 0 means "under
//! one row per loop", never "none".
//!
//! A whole number read back from a PostgreSQL 18 plan is treated the same way: its bounds still
//! hold, only wider than they need be.

use crate::units::{fmt_count, fmt_pct};

/// Rows over all of a node's loops, from the per-loop figure EXPLAIN printed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopRows {
    /// The figure as printed: an average per loop.
    pub per_loop: f64,
    pub loops: f64,
}

impl LoopRows {
    pub fn new(per_loop: f64, loops: f64) -> Self {
        LoopRows {
            per_loop,
            loops: loops.max(0.0),
        }
    }

    /// The total as printed figures give it: `per_loop × loops`.
    pub fn total(&self) -> f64 {
        self.per_loop * self.loops
    }

    /// Whether the server's rounding may have changed the total: more than one loop, and a
    /// whole number printed.
    pub fn rounded(&self) -> bool {
        self.loops > 1.0 && self.per_loop.fract() == 0.0
    }

    /// The fewest rows the node can have produced over its loops.
    pub fn low(&self) -> f64 {
        if self.rounded() {
            (self.per_loop - 0.5).max(0.0) * self.loops
        } else {
            self.total()
        }
    }

    /// The most rows the node can have produced over its loops.
    pub fn high(&self) -> f64 {
        if self.rounded() {
            (self.per_loop + 0.5) * self.loops
        } else {
            self.total()
        }
    }

    /// Printed as 0 over several loops: under one row per loop on average, not none.
    pub fn under_one_per_loop(&self) -> bool {
        self.rounded() && self.per_loop == 0.0
    }

    /// The total for people: the count, or, when 0 was printed over several loops, what that
    /// means.
    pub fn describe(&self) -> String {
        if self.under_one_per_loop() {
            format!(
                "under 1 per loop over {} loops (the server printed the rounded average, 0)",
                fmt_count(self.loops)
            )
        } else {
            fmt_count(self.total())
        }
    }
}

/// Share of the rows a node handled that its filter removed, as bounds: `removed` and `kept`
/// per-loop figures, each rounded by the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemovedShare {
    pub low: f64,
    pub high: f64,
}

/// Bounds closer than this are shown as one share.
const EXACT_ENOUGH: f64 = 0.005;

impl RemovedShare {
    pub fn of(removed: LoopRows, kept: LoopRows) -> Self {
        let share = |removed: f64, kept: f64| {
            if removed + kept > 0.0 {
                removed / (removed + kept)
            } else {
                0.0
            }
        };
        let low = share(removed.low(), kept.high());
        let high = share(removed.high(), kept.low());
        // With nothing printed on either side the share is 0 either way.
        RemovedShare {
            low,
            high: high.max(low),
        }
    }

    /// The share to decide on: the middle of the range. For whole numbers printed on both sides
    /// it is about the printed share; a printed 0 kept (really under half a row per loop) counts
    /// for a quarter row per loop rather than none.
    pub fn likely(&self) -> f64 {
        (self.low + self.high) / 2.0
    }

    /// `95.0%`, or `50.0%–100.0%` when the server's rounding leaves that much room.
    pub fn describe(&self) -> String {
        if self.high - self.low < EXACT_ENOUGH {
            fmt_pct((self.low + self.high) / 2.0)
        } else {
            format!("{}–{}", fmt_pct(self.low), fmt_pct(self.high))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LoopRows, RemovedShare};

    #[test]
    fn a_printed_zero_over_many_loops_is_under_one_row_per_loop() {
        // 0.4 rows per loop over 10,000 loops: 4,000 rows, printed as 0 before PostgreSQL 18.
        let kept = LoopRows::new(0.0, 10_000.0);
        assert!(kept.under_one_per_loop());
        assert_eq!((kept.low(), kept.high()), (0.0, 5_000.0));
        assert_eq!(
            kept.describe(),
            "under 1 per loop over 10,000 loops (the server printed the rounded average, 0)"
        );
        // 1.3 removed per loop, printed 1.
        let removed = LoopRows::new(1.0, 10_000.0);
        let share = RemovedShare::of(removed, kept);
        assert_eq!((share.low, share.high), (0.5, 1.0));
        assert_eq!(share.describe(), "50.0%–100.0%");
        assert_eq!(share.likely(), 0.75);
    }

    #[test]
    fn one_loop_or_fractional_figures_are_exact() {
        let once = LoopRows::new(0.0, 1.0);
        assert!(!once.under_one_per_loop());
        assert_eq!(once.describe(), "0");
        // PostgreSQL 18 prints 0.40: exact enough to total.
        let pg18 = LoopRows::new(0.4, 10_000.0);
        assert!(!pg18.rounded());
        assert_eq!(pg18.describe(), "4,000");
        let share = RemovedShare::of(LoopRows::new(190_000.0, 1.0), LoopRows::new(10_000.0, 1.0));
        assert_eq!(share.describe(), "95.0%");
        // Many rows per loop: the rounding is noise.
        let share = RemovedShare::of(LoopRows::new(9_500.0, 20.0), LoopRows::new(500.0, 20.0));
        assert_eq!(share.describe(), "95.0%");
    }
}
