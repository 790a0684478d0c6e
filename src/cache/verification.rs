//! `cache-advice --verify`: what a verification found (the document's `verification` section),
//! and the model's prediction for the conditions a benchmark actually ran under.
//!
//! The advice's model ([`super::advice::expect`]) is a renewal process per key, reads and writes
//! Poisson arrivals spread evenly over the keys. A benchmark draws its keys from its own
//! distribution (zipf over `keys`, uniform at exponent 0), so the prediction it is held to is the
//! same model summed over *its* keys: key `i`, drawn with probability `p_i`, is read at `R·p_i`
//! and written at `W·p_i`, and contributes its share `p_i` of the reads with its own hit rate and
//! stale share. Scaling time (reads and writes × `s`, TTLs ÷ `s`) leaves every key's reads and
//! writes per TTL, and so every figure, unchanged.
//!
//! swr extends the model: after the soft TTL the first read is served the old value and
//! refreshes it in the background, so an entry is renewed without a miss when a read comes
//! between the soft and the hard TTL (and, with invalidation, before a write). xfetch's early
//! recomputation happens within a load's time of the expiry and is counted a hit: the model is
//! cache-aside's.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Strategy;
use super::advice::expect;

/// The `verification` section of one cached statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", content = "details", rename_all = "snake_case")]
pub enum Verification {
    /// The benchmark ran: predicted and measured figures.
    Measured(Box<Measurement>),
    /// No measurement could be taken (exit status 2).
    NotMeasured {
        /// Why not.
        reason: String,
    },
}

/// Predicted and measured figures of a benchmark run on the advised configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Measurement {
    /// The time scale: the benchmark ran each key's reads and writes this many times faster than
    /// the workload and its TTLs this many times shorter, so that hit rate and stale share are
    /// the workload's.
    pub scale: f64,
    /// How the benchmark was run.
    pub bench: BenchSetup,
    /// The advice's expected hit rate (the workload, keys read evenly).
    pub advised_hit_rate: f64,
    /// Share of reads served from the cache (hits and swr's stale serves): the model's for the
    /// benchmark's keys and rates as run, and the benchmark's.
    pub hit_rate: Agreement,
    /// Share of reads served a value older than the latest write to its key; `null` when the
    /// benchmark wrote nothing (no writes to the keyed table, or no `--allow-writes`).
    pub stale_share: Option<Agreement>,
    /// Stale reads per hour at the workload's read rate (stale share × calls per hour), predicted
    /// and measured; `null` with `stale_share`.
    pub stale_reads_per_hour: Option<Pair>,
    /// The benchmark's 99th percentile latency against what the hit rate implies.
    pub p99: TailCheck,
    /// The hit rate and, when measured, the stale share agree within their tolerances.
    pub agrees: bool,
    /// What the reader should know: writes not run, rates the machine could not reach, Redis
    /// errors.
    pub notes: Vec<String>,
}

/// A predicted and a measured figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pair {
    /// The model's figure for the benchmark's keys and rates as run.
    pub predicted: f64,
    /// The benchmark's figure.
    pub measured: f64,
}

/// A predicted figure, the measured one, and whether they agree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Agreement {
    /// The model's figure for the benchmark's keys and rates as run.
    pub predicted: f64,
    /// The benchmark's figure.
    pub measured: f64,
    /// They agree when `|measured − predicted| ≤ tolerance` (absolute, a share of reads): a fixed
    /// allowance for what the model leaves out plus three standard errors of the sample.
    pub tolerance: f64,
    /// `|measured − predicted| ≤ tolerance`.
    pub agrees: bool,
}

impl Agreement {
    pub fn new(predicted: f64, measured: f64, tolerance: f64) -> Agreement {
        Agreement {
            predicted,
            measured,
            tolerance,
            agrees: (measured - predicted).abs() <= tolerance,
        }
    }
}

/// The latency tail: more than 1% of reads missing puts a query's time into the 99th percentile,
/// fewer leaves only cache reads there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TailCheck {
    /// `miss` when the predicted miss share is over 1%, else `hit`.
    pub predicted: Tail,
    /// The statement's mean time in the workload (ms).
    pub query_ms: f64,
    /// The benchmark's p99 (ms).
    pub measured_ms: f64,
    /// The p99 agrees when at most this: for `miss`, three times the query's time plus 5 ms (the
    /// benchmark's machine is not the workload's); for `hit`, the query's time plus 1 ms.
    pub upper_ms: f64,
    /// `measured_ms ≤ upper_ms`; informative, not part of the verification's `agrees` (the
    /// benchmark's machine and load are not the workload's).
    pub agrees: bool,
}

/// What the 99th percentile read is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tail {
    /// More than 1% of reads miss: the p99 read runs the query.
    Miss,
    /// At most 1% miss: the p99 read is a cache read.
    Hit,
}

impl TailCheck {
    pub fn new(predicted_hit_rate: f64, query_ms: f64, measured_ms: f64) -> TailCheck {
        let (predicted, upper_ms) = if 1.0 - predicted_hit_rate > 0.01 {
            (Tail::Miss, 3.0 * query_ms + 5.0)
        } else {
            (Tail::Hit, query_ms + 1.0)
        };
        TailCheck {
            predicted,
            query_ms,
            measured_ms,
            upper_ms,
            agrees: measured_ms <= upper_ms,
        }
    }
}

/// How the verification benchmark ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BenchSetup {
    /// The advised strategy, the one run.
    pub strategy: Strategy,
    /// Distinct keys read (values of the key column).
    pub keys: usize,
    /// Zipf exponent the keys were drawn with (0: uniform, as the advice assumes).
    pub zipf: f64,
    /// Concurrent readers.
    pub clients: usize,
    /// Reads per second asked for (Poisson arrivals).
    pub read_rate_per_s: f64,
    /// Reads per second reached (after the warm-up).
    pub measured_read_rate_per_s: f64,
    /// Reads measured (after the warm-up).
    pub reads: u64,
    /// Writes per second asked for (0: none).
    pub write_rate_per_s: f64,
    /// Writes done (after the warm-up).
    pub writes: u64,
    /// The statement the writer ran, `$1` the key; `null` when none ran.
    pub write: Option<String>,
    /// The advised soft TTL, scaled (seconds); equal to `hard_ttl_s` but for swr.
    pub soft_ttl_s: f64,
    /// The advised hard TTL, scaled (seconds).
    pub hard_ttl_s: f64,
    /// Keys deleted on write by a NOTIFY trigger.
    pub invalidate: bool,
    /// Unmeasured time before the measurement (fills the cache), seconds.
    pub warmup_s: f64,
    /// Measured time, seconds.
    pub duration_s: f64,
}

/// The conditions of a benchmark run, as the model needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    pub strategy: Strategy,
    /// Reads per second, all keys.
    pub read_rate: f64,
    /// Writes per second, all keys (each falls on one key, drawn like the reads).
    pub write_rate: f64,
    /// Each key's probability of being drawn.
    pub probabilities: Vec<f64>,
    pub soft_ttl_s: f64,
    pub hard_ttl_s: f64,
    pub invalidate: bool,
}

/// The model's figures for a run: shares of all reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub hit_rate: f64,
    pub stale_share: f64,
}

/// The model summed over the run's keys, each weighted by its share of the reads.
pub fn predict(conditions: &Conditions) -> Prediction {
    let total: f64 = conditions.probabilities.iter().sum();
    let mut hit_rate = 0.0;
    let mut stale_share = 0.0;
    if total <= 0.0 {
        return Prediction {
            hit_rate,
            stale_share,
        };
    }
    for &p in &conditions.probabilities {
        let share = p / total;
        let key = per_key(
            conditions,
            conditions.read_rate * share,
            conditions.write_rate * share,
        );
        hit_rate += share * key.hit_rate;
        stale_share += share * key.stale_share;
    }
    Prediction {
        hit_rate,
        stale_share,
    }
}

/// One key read at `r` and written at `w` per second.
fn per_key(c: &Conditions, r: f64, w: f64) -> Prediction {
    let (soft, hard) = (c.soft_ttl_s.max(0.0), c.hard_ttl_s.max(0.0));
    if r <= 0.0 || hard <= 0.0 {
        return Prediction {
            hit_rate: 0.0,
            stale_share: 0.0,
        };
    }
    if c.strategy != Strategy::Swr || soft >= hard {
        if c.strategy == Strategy::None {
            return Prediction {
                hit_rate: 0.0,
                stale_share: 0.0,
            };
        }
        // The advice's own model, per key, per hour.
        let e = expect(
            r * 3600.0,
            w * 3600.0,
            1.0,
            std::time::Duration::from_secs_f64(hard),
            c.invalidate,
        );
        return Prediction {
            hit_rate: e.hit_rate,
            stale_share: e.stale_reads_per_hour / (r * 3600.0),
        };
    }
    // swr: a segment runs from a load to the soft TTL (or a write, with invalidation); then the
    // first read before the hard TTL renews it (the old value served, the new one loaded), else
    // the next read misses. `a`: reads in a segment; `q`: the chance a segment is renewed.
    let window = hard - soft;
    let until_write = if w > 0.0 {
        (1.0 - (-w * soft).exp()) / w
    } else {
        soft
    };
    let (a, q) = if c.invalidate {
        let survives = (-w * soft).exp();
        (
            r * until_write,
            survives * r / (r + w) * (1.0 - (-(r + w) * window).exp()),
        )
    } else {
        (r * soft, 1.0 - (-r * window).exp())
    };
    // Segments per cycle (one miss each cycle): geometric.
    let n = 1.0 / (1.0 - q).max(1e-12);
    let served = n * a + (n - 1.0);
    let reads = served + 1.0;
    let stale = if c.invalidate || w <= 0.0 {
        0.0
    } else {
        // Reads of a segment after the first write since its load, and the renewing read when a
        // write came before it.
        n * r * (soft - until_write) + (n - 1.0) * (1.0 - (-w * soft).exp())
    };
    Prediction {
        hit_rate: served / reads,
        stale_share: stale / reads,
    }
}

/// The allowance for what the model leaves out (the reads that arrive while a miss is being
/// loaded miss too, the warm-up's transient, the NOTIFY's delay), as a share of reads.
pub const HIT_RATE_ALLOWANCE: f64 = 0.05;
pub const STALE_SHARE_ALLOWANCE: f64 = 0.02;

/// The hit rate's tolerance over `reads` reads: misses come one per renewal cycle, and a renewal
/// count `M` has a relative standard error of at most `1/√M`, so the hit rate's is at most
/// `√M / reads`; three of them, plus [`HIT_RATE_ALLOWANCE`].
pub fn hit_rate_tolerance(predicted_hit_rate: f64, reads: u64) -> f64 {
    let n = (reads as f64).max(1.0);
    let misses = ((1.0 - predicted_hit_rate) * n).max(1.0);
    HIT_RATE_ALLOWANCE + 3.0 * misses.sqrt() / n
}

/// The stale share's tolerance: stale reads come in runs (those of one entry after a write), up
/// to `run` long, so the count `S` has a standard error of at most `√(S·run)`; three of them over
/// `reads`, plus [`STALE_SHARE_ALLOWANCE`].
pub fn stale_share_tolerance(predicted_share: f64, reads: u64, run: f64) -> f64 {
    let n = (reads as f64).max(1.0);
    let stale = (predicted_share * n).max(1.0);
    STALE_SHARE_ALLOWANCE + 3.0 * (stale * run.max(1.0)).sqrt() / n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(keys: usize) -> Vec<f64> {
        vec![1.0 / keys as f64; keys]
    }

    fn conditions(strategy: Strategy) -> Conditions {
        Conditions {
            strategy,
            read_rate: 100.0,
            write_rate: 10.0,
            probabilities: uniform(100),
            soft_ttl_s: 2.0,
            hard_ttl_s: 2.0,
            invalidate: false,
        }
    }

    #[test]
    fn uniform_keys_give_the_advice_model_and_time_scaling_leaves_it_unchanged() {
        // 1 read and 0.1 writes per key per second, a 2 s TTL.
        let c = conditions(Strategy::CacheAside);
        let p = predict(&c);
        let e = expect(
            360_000.0,
            36_000.0,
            100.0,
            std::time::Duration::from_secs(2),
            false,
        );
        assert!((p.hit_rate - e.hit_rate).abs() < 1e-9, "{p:?} {e:?}");
        assert!((p.stale_share - e.stale_reads_per_hour / 360_000.0).abs() < 1e-9);
        // Ten times faster, TTL ten times shorter: the same figures.
        let fast = Conditions {
            read_rate: 1000.0,
            write_rate: 100.0,
            soft_ttl_s: 0.2,
            hard_ttl_s: 0.2,
            ..c.clone()
        };
        let q = predict(&fast);
        assert!((p.hit_rate - q.hit_rate).abs() < 1e-9);
        assert!((p.stale_share - q.stale_share).abs() < 1e-9);
    }

    #[test]
    fn skewed_keys_hit_more_than_even_ones() {
        let even = predict(&conditions(Strategy::CacheAside));
        let zipf: Vec<f64> = (1..=100).map(|k| 1.0 / f64::from(k)).collect();
        let skewed = predict(&Conditions {
            probabilities: zipf,
            ..conditions(Strategy::CacheAside)
        });
        assert!(
            skewed.hit_rate > even.hit_rate + 0.05,
            "{skewed:?} {even:?}"
        );
    }

    #[test]
    fn swr_renews_between_its_ttls_and_equals_cache_aside_without_a_window() {
        let aside = predict(&conditions(Strategy::CacheAside));
        let same = predict(&conditions(Strategy::Swr));
        assert!((aside.hit_rate - same.hit_rate).abs() < 1e-9);
        let swr = predict(&Conditions {
            soft_ttl_s: 1.5,
            ..conditions(Strategy::Swr)
        });
        // A 0.5 s window at 1 read per second renews ~39% of segments.
        assert!(swr.hit_rate > 0.6 && swr.hit_rate < 0.8, "{swr:?}");
        assert!(swr.stale_share > 0.0);
        let invalidated = predict(&Conditions {
            soft_ttl_s: 1.5,
            invalidate: true,
            ..conditions(Strategy::Swr)
        });
        assert_eq!(invalidated.stale_share, 0.0);
        assert!(invalidated.hit_rate < swr.hit_rate);
    }

    #[test]
    fn swr_agrees_with_a_direct_simulation() {
        // One key: reads at 1/s, writes at 0.1/s, soft TTL 1.5 s, hard 2 s, with and without
        // invalidation; refreshes are instantaneous.
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let exp =
            |rng: &mut rand::rngs::StdRng, rate: f64| -(1.0 - rng.random::<f64>()).ln() / rate;
        for invalidate in [false, true] {
            let (r, w, soft, hard) = (1.0, 0.1, 1.5, 2.0);
            let (mut now, mut next_write) = (0.0_f64, exp(&mut rng, w));
            let mut loaded_at = f64::NEG_INFINITY; // no entry
            let mut last_write = f64::NEG_INFINITY;
            let (mut reads, mut served, mut stale) = (0u64, 0u64, 0u64);
            while now < 200_000.0 {
                now += exp(&mut rng, r);
                while next_write <= now {
                    last_write = next_write;
                    if invalidate {
                        loaded_at = f64::NEG_INFINITY;
                    }
                    next_write += exp(&mut rng, w);
                }
                reads += 1;
                let age = now - loaded_at;
                if age < hard {
                    served += 1;
                    if last_write > loaded_at {
                        stale += 1;
                    }
                    if age >= soft {
                        loaded_at = now;
                    }
                } else {
                    loaded_at = now;
                }
            }
            let model = predict(&Conditions {
                strategy: Strategy::Swr,
                read_rate: r,
                write_rate: w,
                probabilities: vec![1.0],
                soft_ttl_s: soft,
                hard_ttl_s: hard,
                invalidate,
            });
            let hit = served as f64 / reads as f64;
            let share = stale as f64 / reads as f64;
            assert!(
                (model.hit_rate - hit).abs() < 0.01,
                "{invalidate}: {model:?} {hit}"
            );
            assert!(
                (model.stale_share - share).abs() < 0.01,
                "{invalidate}: {model:?} {share}"
            );
        }
    }

    #[test]
    fn tolerances_shrink_with_the_sample_and_agreement_follows_them() {
        let small = hit_rate_tolerance(0.6, 400);
        let large = hit_rate_tolerance(0.6, 40_000);
        assert!(
            small > large && large > HIT_RATE_ALLOWANCE,
            "{small} {large}"
        );
        // 400 reads, 160 misses: 3·√160/400 ≈ 0.095.
        assert!((small - (0.05 + 0.0949)).abs() < 0.001, "{small}");
        assert!(Agreement::new(0.6, 0.64, small).agrees);
        assert!(!Agreement::new(0.6, 0.8, small).agrees);
        assert!(stale_share_tolerance(0.05, 1000, 5.0) > STALE_SHARE_ALLOWANCE);
        let tail = TailCheck::new(0.9, 2.0, 8.0);
        assert_eq!(tail.predicted, Tail::Miss);
        assert!(tail.agrees);
        assert!(!TailCheck::new(0.999, 2.0, 8.0).agrees);
    }
}
