//! Telling data growth from a change of code. The baseline records the size of every relation its
//! plans read; when a query keeps its plan shape and its cost grows no faster than the fastest
//! growing of those relations (within the usual cost threshold), the cost followed the data, and
//! the change is advisory rather than a regression.
//!
//! Sizes are rounded to two significant digits, and a size within [`SETTLE_BAND`] of the one the
//! baseline recorded keeps the recorded one: `reltuples` is an estimate that VACUUM and ANALYZE
//! move a little each time, and the committed file should change when the data does, not on every
//! autovacuum (nor flip between `1,200,000` and `1,300,000` for a table of 1,250,000 rows). Both
//! errors (up to 5% each) stay inside the judgement's tolerance, which is the cost threshold (10%
//! by default) on top of the growth factor; unchanged data compares as exactly ×1.0.
use crate::units::fmt_count;

use super::{RelationSize, RelationSizes};

/// A re-recorded size within this share of the recorded one keeps the recorded one.
pub const SETTLE_BAND: f64 = 0.05;

/// How many relations a message names before "and N more".
const NAMED_RELATIONS: usize = 3;

/// `value` rounded to two significant digits (`1,234,567` → `1,200,000`; below 100 exact).
pub fn round_size(value: f64) -> u64 {
    if !value.is_finite() || value <= 0.0 {
        return 0;
    }
    let value = value.round() as u64;
    let mut step = 1u64;
    while value / step >= 100 {
        step *= 10;
    }
    // Round half up at the step: 1,250 → 1,300.
    (value + step / 2) / step * step
}

/// A relation's size as recorded from `reltuples` (negative: unknown) and `relpages`: each is the
/// `previous` recorded value when within [`SETTLE_BAND`] of it, else rounded.
pub fn relation_size(
    reltuples: f64,
    relpages: i64,
    previous: Option<&RelationSize>,
) -> RelationSize {
    let settle = |recorded: Option<u64>, value: f64| match recorded {
        Some(recorded) if recorded > 0 && (value / recorded as f64 - 1.0).abs() <= SETTLE_BAND => {
            recorded
        }
        _ => round_size(value),
    };
    RelationSize {
        rows: (reltuples >= 0.0).then(|| settle(previous.and_then(|p| p.rows), reltuples)),
        pages: settle(previous.map(|p| p.pages), relpages as f64),
    }
}

/// What a size is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeUnit {
    Rows,
    /// When a side has no row count (a table never analysed).
    Pages,
}

impl SizeUnit {
    fn as_str(self) -> &'static str {
        match self {
            SizeUnit::Rows => "rows",
            SizeUnit::Pages => "pages",
        }
    }
}

/// How one relation's size changed between the baseline and now.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeChange {
    pub relation: String,
    pub unit: SizeUnit,
    pub before: u64,
    pub now: u64,
}

impl SizeChange {
    /// `now / before`; an empty table counts as one row (or page), so growth from empty is
    /// large but finite.
    pub fn factor(&self) -> f64 {
        self.now as f64 / self.before.max(1) as f64
    }

    /// `public.orders 300,000 → 600,000 rows`.
    fn describe(&self) -> String {
        format!(
            "{} {} → {} {}",
            self.relation,
            fmt_count(self.before as f64),
            fmt_count(self.now as f64),
            self.unit.as_str(),
        )
    }
}

/// The size change of each of `relations` whose size is known on both sides: rows when both
/// sides have a row count, else pages when both have some. Relations of unknown size are left out.
pub fn size_changes(
    relations: &[String],
    before: &RelationSizes,
    now: &RelationSizes,
) -> Vec<SizeChange> {
    relations
        .iter()
        .filter_map(|relation| {
            let (then, now) = (before.get(relation)?, now.get(relation)?);
            let (unit, before, now) = match (then.rows, now.rows) {
                (Some(before), Some(now)) => (SizeUnit::Rows, before, now),
                _ if then.pages > 0 && now.pages > 0 => (SizeUnit::Pages, then.pages, now.pages),
                _ => return None,
            };
            Some(SizeChange {
                relation: relation.clone(),
                unit,
                before,
                now,
            })
        })
        .collect()
}

/// The verdict on a cost increase beyond the threshold, plan shape unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum CostGrowth {
    /// The cost grew no faster than the fastest growing relation (within the threshold).
    WithData(String),
    /// The cost grew faster than the data explains; the message says how much the data grew.
    BeyondData(String),
    /// No relation of the plan has a size known on both sides.
    Unknown,
}

/// Judge a cost increase from `cost_before` to `cost_now` against the relations' size changes:
/// in line with the data when `cost_now / cost_before ≤ largest factor × (1 + threshold)`. The
/// fastest growing relation is the bound, not an average: a nested loop driven by a small table
/// that grew tenfold costs ten times more even when the big table it probes did not grow; an
/// `n log n` sort of a doubled table fits inside the threshold. Superlinear growth (two joined
/// tables both doubling under a many-to-many join) is not explained and stays a regression.
pub fn judge(
    cost_before: f64,
    cost_now: f64,
    cost_increase_pct: f64,
    changes: &[SizeChange],
) -> CostGrowth {
    // The fastest growing relation; among equals the largest, which a reader looks at first.
    let Some(largest) = changes.iter().max_by(|a, b| {
        a.factor()
            .total_cmp(&b.factor())
            .then_with(|| a.now.cmp(&b.now))
            .then_with(|| b.relation.cmp(&a.relation))
    }) else {
        return CostGrowth::Unknown;
    };
    let allowed = largest.factor() * (1.0 + cost_increase_pct / 100.0);
    let in_line = cost_before > 0.0 && cost_now <= cost_before * allowed;
    if in_line {
        CostGrowth::WithData(format!(
            "in line with data growth: {}",
            describe_grown(changes)
        ))
    } else {
        CostGrowth::BeyondData(format!(
            "more than data growth explains: {} grew ×{} at most ({})",
            largest.unit.as_str(),
            format_factor(largest.factor()),
            largest.describe()
        ))
    }
}

/// The relations that grew, fastest first (ties by name), at most [`NAMED_RELATIONS`] of them.
fn describe_grown(changes: &[SizeChange]) -> String {
    let mut grown: Vec<&SizeChange> = changes.iter().filter(|c| c.now > c.before).collect();
    grown.sort_by(|a, b| {
        b.factor()
            .total_cmp(&a.factor())
            .then_with(|| a.relation.cmp(&b.relation))
    });
    let mut parts: Vec<String> = grown
        .iter()
        .take(NAMED_RELATIONS)
        .map(|change| {
            format!(
                "{} (×{})",
                change.describe(),
                format_factor(change.factor())
            )
        })
        .collect();
    if grown.len() > NAMED_RELATIONS {
        parts.push(format!("and {} more", grown.len() - NAMED_RELATIONS));
    }
    parts.join(", ")
}

/// `2.0`, `1.5`, `12`, `1,000`: one decimal below 10, whole numbers above.
fn format_factor(factor: f64) -> String {
    if factor < 10.0 {
        format!("{factor:.1}")
    } else {
        fmt_count(factor.round())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(entries: &[(&str, Option<u64>, u64)]) -> RelationSizes {
        entries
            .iter()
            .map(|(name, rows, pages)| {
                (
                    name.to_string(),
                    RelationSize {
                        rows: *rows,
                        pages: *pages,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn sizes_round_to_two_significant_digits() {
        let cases = [
            (-1.0, 0),
            (0.0, 0),
            (7.0, 7),
            (99.4, 99),
            (99.6, 100),
            (149.0, 150),
            (1_234_567.0, 1_200_000),
            (1_250_000.0, 1_300_000),
            (299_871.0, 300_000),
            (f64::NAN, 0),
        ];
        for (value, rounded) in cases {
            assert_eq!(round_size(value), rounded, "{value}");
        }
        assert_eq!(
            relation_size(-1.0, 0, None),
            RelationSize {
                rows: None,
                pages: 0
            }
        );
        assert_eq!(
            relation_size(200_345.0, 1_472, None),
            RelationSize {
                rows: Some(200_000),
                pages: 1_500
            }
        );
    }

    #[test]
    fn sizes_near_the_recorded_ones_keep_them() {
        let recorded = RelationSize {
            rows: Some(1_300_000),
            pages: 16_000,
        };
        // 1,249,000 rows would round to 1,200,000; it is within 5% of 1,300,000, so it stays.
        assert_eq!(
            relation_size(1_249_000.0, 16_420, Some(&recorded)),
            recorded
        );
        // Doubled: new sizes, rounded.
        assert_eq!(
            relation_size(2_600_871.0, 32_011, Some(&recorded)),
            RelationSize {
                rows: Some(2_600_000),
                pages: 32_000
            }
        );
        // Analysed since: a row count where there was none.
        let unknown = RelationSize {
            rows: None,
            pages: 0,
        };
        assert_eq!(
            relation_size(4_012.0, 51, Some(&unknown)),
            RelationSize {
                rows: Some(4_000),
                pages: 51
            }
        );
        // Emptied: 0 is not within 5% of anything.
        assert_eq!(
            relation_size(0.0, 0, Some(&recorded)),
            RelationSize {
                rows: Some(0),
                pages: 0
            }
        );
    }

    #[test]
    fn size_changes_use_rows_then_pages_and_skip_unknown_sizes() {
        let before = sizes(&[
            ("public.a", Some(100_000), 1_000),
            ("public.b", None, 40),
            ("public.c", None, 0),
            ("public.gone", Some(5), 1),
        ]);
        let now = sizes(&[
            ("public.a", Some(200_000), 2_000),
            ("public.b", Some(9_000), 80),
            ("public.c", None, 0),
        ]);
        let relations: Vec<String> = ["public.a", "public.b", "public.c", "public.gone"]
            .map(String::from)
            .to_vec();
        let changes = size_changes(&relations, &before, &now);
        assert_eq!(
            changes,
            [
                SizeChange {
                    relation: "public.a".into(),
                    unit: SizeUnit::Rows,
                    before: 100_000,
                    now: 200_000
                },
                SizeChange {
                    relation: "public.b".into(),
                    unit: SizeUnit::Pages,
                    before: 40,
                    now: 80
                },
            ]
        );
        assert_eq!(changes[0].factor(), 2.0);
    }

    fn change(relation: &str, before: u64, now: u64) -> SizeChange {
        SizeChange {
            relation: relation.into(),
            unit: SizeUnit::Rows,
            before,
            now,
        }
    }

    #[test]
    fn cost_growth_within_the_largest_factor_and_threshold_is_data_growth() {
        let changes = [
            change("public.orders", 300_000, 600_000),
            change("public.customers", 10_000, 10_000),
        ];
        assert_eq!(
            judge(1000.0, 1950.0, 10.0, &changes),
            CostGrowth::WithData(
                "in line with data growth: public.orders 300,000 → 600,000 rows (×2.0)".into()
            )
        );
        // ×2.2 is the bound with a 10% threshold; just above it is not data growth.
        assert!(matches!(
            judge(1000.0, 2200.0, 10.0, &changes),
            CostGrowth::WithData(_)
        ));
        assert_eq!(
            judge(1000.0, 2210.0, 10.0, &changes),
            CostGrowth::BeyondData(
                "more than data growth explains: rows grew ×2.0 at most (public.orders 300,000 → 600,000 rows)".into()
            )
        );
    }

    #[test]
    fn cost_growth_without_data_growth_or_sizes() {
        let unchanged = [change("public.orders", 300_000, 300_000)];
        assert_eq!(
            judge(1000.0, 1500.0, 10.0, &unchanged),
            CostGrowth::BeyondData(
                "more than data growth explains: rows grew ×1.0 at most (public.orders 300,000 → 300,000 rows)".into()
            )
        );
        // Ten times the cost for twice the rows is not the data.
        let doubled = [change("public.orders", 300_000, 600_000)];
        assert!(matches!(
            judge(1000.0, 10_000.0, 10.0, &doubled),
            CostGrowth::BeyondData(_)
        ));
        assert_eq!(judge(1000.0, 1500.0, 10.0, &[]), CostGrowth::Unknown);
        // A zero cost before cannot be in proportion to anything.
        assert!(matches!(
            judge(0.0, 10.0, 10.0, &doubled),
            CostGrowth::BeyondData(_)
        ));
    }

    #[test]
    fn growth_from_empty_and_many_relations_read_clearly() {
        let changes = [
            change("public.a", 0, 50_000),
            change("public.b", 1_000, 2_000),
            change("public.c", 1_000, 3_000),
            change("public.d", 1_000, 1_500),
            change("public.e", 1_000, 1_000),
        ];
        assert_eq!(
            judge(10.0, 5_000.0, 10.0, &changes),
            CostGrowth::WithData(
                "in line with data growth: public.a 0 → 50,000 rows (×50,000), public.c 1,000 → 3,000 rows (×3.0), public.b 1,000 → 2,000 rows (×2.0), and 1 more".into()
            )
        );
    }
}
