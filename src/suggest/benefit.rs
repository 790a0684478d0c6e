//! What a suggestion is worth to the whole input, and in which order verification tries them:
//! the net benefit selection goes by. Pure: measures in, figures out.
//!
//! Every statement given counts once (one run of the workload), or, in workload mode, as many
//! times as it runs per hour ([`Weights`]). A suggestion's net benefit is
//! - **saved**: time (or planned cost) it takes off the statements whose plan it changes,
//! - minus **lost**: what it adds to statements it makes slower beyond noise ([`super::noise`];
//!   any such harm rejects it anyway, the figure says how much),
//! - minus **upkeep**: the index entries its table's writes add per read of the table
//!   ([`entries_per_read`]) times the reads of the table (the weights of the statements that read
//!   it), times the cost of one entry
//!   ([`INDEX_ENTRY_MS`] measured, [`index_entry_cost`] planned).
//!
//! Suggestions are tried most effective first (their best improvement on a statement, then their
//! net benefit as a share of the workload's time or cost, so that measured and planned figures
//! compare), except that of two competing for the same statements on the same table, a smaller one
//! giving at least [`NEAR_EQUAL_SHARE`] of the other's net benefit goes first: the larger is then
//! judged on what it adds beside it, which is little.

use std::collections::BTreeMap;

use super::noise;
use super::report::{Basis, StatementVerification, Weighed};
use crate::pg::catalog::TableActivity;

/// How many times each statement counts in the workload: 1 for a statement given as SQL (each
/// once, [`Basis::Once`]); its calls per hour ([`Basis::PerHour`]), or its calls when the workload
/// has no time span ([`Basis::Calls`]), in workload mode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weights {
    pub basis: Basis,
    weights: BTreeMap<usize, f64>,
}

impl Weights {
    /// Every statement once.
    pub fn once() -> Self {
        Weights::default()
    }

    /// `weights` (statement number → weight) on `basis`; a statement without one counts once.
    pub fn new(basis: Basis, weights: BTreeMap<usize, f64>) -> Self {
        Weights { basis, weights }
    }

    /// The weight of statement `statement`.
    pub fn of(&self, statement: usize) -> f64 {
        self.weights.get(&statement).copied().unwrap_or(1.0)
    }
}

/// The time one btree entry costs its table's writes: about 2.6 µs was measured per entry (random
/// int keys, 500,000 rows, WAL included) on a busy two-core machine; twice that, for wider keys
/// and colder pages.
pub const INDEX_ENTRY_MS: f64 = 0.005;

/// A smaller competitor giving at least this share of a larger one's net benefit is tried first.
pub const NEAR_EQUAL_SHARE: f64 = 0.9;

/// How much an index's size must buy, by default (`[suggest] size_weight`, `--size-weight`): an
/// index is kept only if it makes the workload (as it stands beside the suggestions kept before
/// it) at least as many times faster as it makes the data the workload reads larger, the weight
/// an exponent on the latter: `now / (now − net) ≥ ((data + size) / data)^weight`. For small
/// shares that is share for share (an index adding 5% to the data must take about 5% off the
/// workload); an index that takes nearly all of the workload's time away pays for any size (a
/// trigram index larger than its table that turns 60 ms into 0.2 ms). 0 leaves size out.
pub const SIZE_WEIGHT: f64 = 1.0;

/// An index's size against what it saves: the two shares [`SIZE_WEIGHT`] compares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizePrice {
    /// Its net benefit as a share (%) of the workload as it stood when it was judged (beside the
    /// suggestions kept before it).
    pub saves_pct: f64,
    /// Its size as a share (%) of the data the workload reads (tables, their indexes and TOAST).
    pub adds_pct: f64,
}

impl SizePrice {
    /// `None` when a figure is missing or not positive (size cannot be weighed then).
    pub fn of(net: f64, workload_now: f64, size_bytes: i64, data_bytes: i64) -> Option<Self> {
        (workload_now > 0.0 && size_bytes > 0 && data_bytes > 0).then(|| SizePrice {
            saves_pct: net / workload_now * 100.0,
            adds_pct: size_bytes as f64 / data_bytes as f64 * 100.0,
        })
    }

    /// How many times faster the workload gets.
    pub fn speedup(&self) -> f64 {
        if self.saves_pct >= 100.0 {
            f64::INFINITY
        } else {
            100.0 / (100.0 - self.saves_pct)
        }
    }

    /// How many times larger the data gets.
    pub fn growth(&self) -> f64 {
        1.0 + self.adds_pct / 100.0
    }

    /// Whether what it saves pays for its size at `weight` ([`SIZE_WEIGHT`]).
    pub fn paid(&self, weight: f64) -> bool {
        weight <= 0.0 || self.speedup().ln() >= weight * self.growth().ln()
    }
}

/// What the planner charges for one descent of a btree of `rows` entries to a leaf
/// (`btcostestimate`: a comparison per level of a binary search, `cpu_operator_cost` 0.0025 each,
/// and 50 operator costs per page of the path): the planned cost of writing one entry.
pub fn index_entry_cost(rows: f64) -> f64 {
    const CPU_OPERATOR_COST: f64 = 0.0025;
    let rows = rows.max(2.0);
    let height = (rows.ln() / 256.0_f64.ln()).ceil().max(1.0);
    rows.log2().ceil() * CPU_OPERATOR_COST + (height + 1.0) * 50.0 * CPU_OPERATOR_COST
}

/// Index entries the table's writes made per read of it since its statistics were reset: every
/// version an update wrote outside HOT, and every inserted row the table no longer holds as
/// inserted (deleted since). The rows it holds now are indexed once, by the build, so a bulk load
/// followed by reads costs no upkeep; steady growth by inserts alone is not counted either.
pub fn entries_per_read(activity: &TableActivity) -> f64 {
    let updates = (activity.updated - activity.hot_updated).max(0);
    let churn = (activity.inserted - activity.live).max(0);
    (updates + churn) as f64 / activity.scans.max(1) as f64
}

/// One side's figure in the unit the comparison uses: time when both sides are timed.
fn figures(p: &StatementVerification) -> Option<(f64, f64, bool)> {
    match (p.before.time_ms, p.after.time_ms) {
        (Some(b), Some(a)) => Some((b, a, true)),
        _ => Some((p.before.cost?, p.after.cost?, false)),
    }
}

/// The upkeep of an index: how its table is written and how many statements given read it.
#[derive(Debug, Clone, Copy)]
pub struct Upkeep {
    pub entries_per_read: Option<f64>,
    /// Reads of the table per run of the workload: the weights of the statements given that read
    /// it ([`Weights`]; their number when each counts once).
    pub reads: f64,
    /// The table's rows (for the planned cost of one entry).
    pub rows: f64,
}

/// Weigh a suggestion from its measures: `measured` are the statements it was measured on (those
/// it serves and those it harms); `total` the time (ms) and the cost of every statement given
/// before anything, for the share.
/// `now` the same figures for the workload as it stands when the suggestion is judged (beside
/// those kept before it), and `data_bytes` the size of the data the workload reads, for the price
/// of its size ([`SizePrice`]).
pub fn weigh(
    measured: &[&StatementVerification],
    weights: &Weights,
    upkeep: Upkeep,
    size_bytes: Option<i64>,
    total: (f64, f64),
    now: (f64, f64),
    data_bytes: Option<i64>,
) -> Weighed {
    let mut saved = 0.0;
    let mut lost = 0.0;
    let mut timed = !measured.is_empty();
    for p in measured {
        let Some((before, after, is_timed)) = figures(p) else {
            continue;
        };
        timed &= is_timed;
        if p.before.plan == p.after.plan {
            continue;
        }
        let weight = weights.of(p.statement);
        if noise::slower(&p.before, &p.after) {
            lost += (after - before) * weight;
        } else if after < before {
            saved += (before - after) * weight;
        }
    }
    let per_entry = if timed {
        INDEX_ENTRY_MS
    } else {
        index_entry_cost(upkeep.rows)
    };
    let upkeep_figure = upkeep.entries_per_read.unwrap_or(0.0) * upkeep.reads * per_entry;
    let net = saved - lost - upkeep_figure;
    let total = if timed { total.0 } else { total.1 };
    let now = if timed { now.0 } else { now.1 };
    let price = size_bytes
        .zip(data_bytes)
        .and_then(|(size, data)| SizePrice::of(net, now, size, data));
    Weighed {
        unit: if timed { "ms" } else { "cost" }.to_owned(),
        basis: weights.basis,
        saved,
        lost,
        upkeep: upkeep_figure,
        entries_per_read: upkeep.entries_per_read,
        index_entries: upkeep.entries_per_read.map(|e| e * upkeep.reads),
        net,
        net_share_pct: if total > 0.0 {
            net / total * 100.0
        } else {
            0.0
        },
        size_bytes,
        saves_now_pct: price.map(|p| p.saves_pct),
        size_share_pct: price.map(|p| p.adds_pct),
    }
}

/// A suggestion as the order of trials sees it.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Schema-qualified table, as the suggestion names it.
    pub table: String,
    pub serves: Vec<usize>,
    pub net_share_pct: f64,
    /// The best improvement it brought a statement it serves, tried alone.
    pub improvement_pct: f64,
    pub size_bytes: Option<i64>,
}

/// Whether `a` and `b` compete: an index on the same table for some of the same statements.
pub fn compete(a: &Contender, b: &Contender) -> bool {
    a.table == b.table && a.serves.iter().any(|s| b.serves.contains(s))
}

/// `smaller` is preferred to `larger`: it competes with it, is smaller, and gives nearly as much.
pub fn preferred(smaller: &Contender, larger: &Contender) -> bool {
    compete(smaller, larger)
        && matches!((smaller.size_bytes, larger.size_bytes), (Some(s), Some(l)) if s < l)
        && larger.net_share_pct > 0.0
        && smaller.net_share_pct >= larger.net_share_pct * NEAR_EQUAL_SHARE
}

/// Positions of `contenders` in the order to try them: the most effective on a statement first
/// (a statement whose cost another problem dominates must not hide a useful index, so the relative
/// improvement leads), then the most net benefit, and a smaller near-equal competitor before the
/// larger one ([`preferred`]).
pub fn order(contenders: &[Contender]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..contenders.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&contenders[a], &contenders[b]);
        b.improvement_pct
            .total_cmp(&a.improvement_pct)
            .then(b.net_share_pct.total_cmp(&a.net_share_pct))
    });
    // Move each preferred smaller one just before the first larger one it beats; a bounded number
    // of passes (each move places a contender earlier, never later).
    for _ in 0..contenders.len() {
        let mut moved = false;
        for position in 0..order.len() {
            let larger = order[position];
            let Some(offset) = order[position + 1..]
                .iter()
                .position(|&s| preferred(&contenders[s], &contenders[larger]))
            else {
                continue;
            };
            let smaller = order.remove(position + 1 + offset);
            order.insert(position, smaller);
            moved = true;
            break;
        }
        if !moved {
            break;
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::super::report::Measure;
    use super::*;

    fn cost(cost: f64, plan: &str) -> Measure {
        Measure {
            cost: Some(cost),
            plan: plan.into(),
            ..Measure::default()
        }
    }

    fn on(statement: usize, before: f64, after: f64, plan: &str) -> StatementVerification {
        StatementVerification {
            statement,
            before: cost(before, "Seq Scan on t"),
            after: cost(after, plan),
            used: plan.contains("idx"),
            improvement_pct: None,
        }
    }

    fn contender(table: &str, serves: &[usize], net: f64, size: i64) -> Contender {
        Contender {
            table: table.into(),
            serves: serves.to_vec(),
            net_share_pct: net,
            improvement_pct: net,
            size_bytes: Some(size),
        }
    }

    #[test]
    fn net_benefit_is_what_it_saves_less_what_it_costs_others_and_its_upkeep() {
        let helps = on(5, 1000.0, 790.0, "Index Scan using o_idx on orders");
        let harms = on(
            4,
            400.0,
            420.0,
            "Index Only Scan using o_idx on orders, Seq Scan on l",
        );
        let same = on(6, 50.0, 50.0, "Seq Scan on t");
        let upkeep = Upkeep {
            entries_per_read: Some(10.0),
            reads: 2.0,
            rows: 1_000_000.0,
        };
        let w = weigh(
            &[&helps, &harms, &same],
            &Weights::once(),
            upkeep,
            Some(8192),
            (0.0, 2000.0),
            (0.0, 1000.0),
            Some(819_200),
        );
        assert_eq!(w.unit, "cost");
        assert_eq!(w.saved, 210.0);
        assert_eq!(w.lost, 20.0);
        // 10 entries a read × 2 readers × the planner's descent of a 1M-row btree: 20 comparisons
        // (0.05) and 4 pages of the path (0.5).
        assert!(
            (index_entry_cost(1e6) - 0.55).abs() < 1e-9,
            "{}",
            index_entry_cost(1e6)
        );
        assert!((w.upkeep - 20.0 * 0.55).abs() < 1e-9);
        assert!((w.net - (190.0 - w.upkeep)).abs() < 1e-9);
        assert!((w.net_share_pct - w.net / 20.0).abs() < 1e-9);
        // Against the workload as it stands now (half of what it was) and 1% of the data.
        assert!((w.saves_now_pct.unwrap() - w.net / 10.0).abs() < 1e-9);
        assert!((w.size_share_pct.unwrap() - 1.0).abs() < 1e-9);

        // Workload mode: #5 runs 100 times an hour, #4 once; the upkeep counts the table's reads
        // per hour the same way.
        let weights = Weights::new(Basis::PerHour, [(5, 100.0), (4, 1.0)].into_iter().collect());
        let hourly = weigh(
            &[&helps, &harms, &same],
            &weights,
            Upkeep {
                reads: 101.0,
                ..upkeep
            },
            Some(8192),
            (0.0, 2000.0),
            (0.0, 1000.0),
            Some(819_200),
        );
        assert_eq!(hourly.basis, Basis::PerHour);
        assert_eq!(hourly.saved, 21_000.0);
        assert_eq!(hourly.lost, 20.0);
        assert!((hourly.upkeep - 1010.0 * 0.55).abs() < 1e-9);
        // A statement without a weight counts once.
        assert_eq!(weights.of(6), 1.0);
    }

    #[test]
    fn an_index_must_speed_the_workload_up_as_many_times_as_it_grows_the_data() {
        // 12 MiB on 240 MiB of data (1.05×) saving 30 of 1,000 (1.03×): not paid at weight 1; paid
        // at weight 0.5, and at 0 (size left out).
        let price = SizePrice::of(30.0, 1000.0, 12 << 20, 240 << 20).unwrap();
        assert!((price.saves_pct - 3.0).abs() < 1e-9);
        assert!((price.adds_pct - 5.0).abs() < 1e-9);
        assert!(!price.paid(SIZE_WEIGHT));
        assert!(price.paid(0.5));
        assert!(price.paid(0.0));
        // Saving 60 (1.064×) pays for it.
        assert!(
            SizePrice::of(60.0, 1000.0, 12 << 20, 240 << 20)
                .unwrap()
                .paid(1.0)
        );
        // Larger than the data it serves, but taking nearly all of the time away: paid; all of
        // it: paid at any weight. Twice as fast for 2.5 times the data: not paid.
        let trigram = SizePrice::of(62.7, 62.9, 9_300_000, 9_100_000).unwrap();
        assert!(
            trigram.speedup() > 300.0 && trigram.paid(1.0),
            "{trigram:?}"
        );
        assert!(
            SizePrice::of(10.0, 10.0, 1 << 30, 1 << 20)
                .unwrap()
                .paid(1000.0)
        );
        assert!(!SizePrice::of(50.0, 100.0, 150, 100).unwrap().paid(1.0));
        // Nothing to weigh against: no price.
        assert_eq!(SizePrice::of(30.0, 0.0, 12 << 20, 240 << 20), None);
        assert_eq!(SizePrice::of(30.0, 1000.0, 0, 240 << 20), None);
        assert_eq!(SizePrice::of(30.0, 1000.0, 12 << 20, 0), None);
    }

    #[test]
    fn a_bulk_load_is_no_upkeep_updates_and_deletes_are() {
        let loaded = TableActivity {
            inserted: 1_200_000,
            live: 1_200_000,
            scans: 40,
            ..TableActivity::default()
        };
        assert_eq!(entries_per_read(&loaded), 0.0);
        let busy = TableActivity {
            inserted: 1_000,
            updated: 5_000,
            hot_updated: 1_000,
            deleted: 200,
            live: 800,
            scans: 100,
        };
        assert_eq!(entries_per_read(&busy), 42.0);
    }

    #[test]
    fn a_smaller_index_giving_nearly_as_much_is_tried_first() {
        let wide = contender("public.orders", &[4, 5], 20.0, 54 << 20);
        let narrow = contender("public.orders", &[5], 19.0, 8 << 20);
        let other = contender("public.lineitem", &[3], 30.0, 90 << 20);
        assert_eq!(
            order(&[wide.clone(), narrow.clone(), other.clone()]),
            [2, 1, 0]
        );
        // Far from equal: the larger one's benefit wins.
        let weak = contender("public.orders", &[5], 10.0, 8 << 20);
        assert_eq!(order(&[wide.clone(), weak]), [0, 1]);
        // Not competing: another table, or no statement in common.
        let elsewhere = contender("public.part", &[4], 19.5, 1 << 20);
        assert_eq!(order(&[wide.clone(), elsewhere]), [0, 1]);
        let apart = contender("public.orders", &[7], 19.5, 1 << 20);
        assert_eq!(order(&[wide, apart]), [0, 1]);
    }
}
