//! Cache advice (pure): for one statement of a workload, whether a cache is worth having, and how
//! to configure it, from what the database already knows — how often the statement runs and how
//! long it takes, how many distinct keys it is read with, how often the tables it reads change,
//! what pgdiag's own suggestions would make of it — and the staleness the user accepts.
//!
//! The model is a renewal process per key, reads and writes as Poisson arrivals spread evenly over
//! the keys (an even spread is the pessimistic case: real traffic is skewed, and hot keys hit more
//! often than this says). After a miss fills a key, the entry serves every read until it ends:
//! at its TTL, or at the first write to its key when writes invalidate it. The next read misses.
//! So, with `r` reads per key per second and an entry living `E` seconds on average:
//!
//! - hit rate = r·E / (r·E + 1);
//! - with invalidation on write (rate `w` per key), E = (1 − e^(−w·T)) / w; without, E = T;
//! - stale reads (TTL only): in each cycle, the reads after the first write and before expiry,
//!   r · (T − (1 − e^(−w·T)) / w).
//!
//! A cache is worth having when enough reads get the *current* value from it: with the TTL
//! alone, the hits less the stale reads; with invalidation on write, every hit. A table written
//! faster than it is read gives few of either, whatever the TTL.
//!
//! The same figures are what `bench --scenario writes` measures; `cache-advice --verify` compares
//! the two.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Strategy;

/// What the user accepts and where the lines are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdviceSettings {
    /// How old a value served from the cache may be (`--max-staleness`).
    pub max_staleness: Duration,
    /// A statement whose time (after pgdiag's suggestions) is at most this is fast enough to be
    /// fixed in the database instead (`--fast-enough`, 5 ms by default).
    pub fast_enough_ms: f64,
    /// Below this expected hit rate a cache costs more than it saves (0.5).
    pub min_hit_rate: f64,
    /// A statement the database spends less than this on per hour is not worth a cache (1 s).
    pub min_db_ms_per_hour: f64,
}

impl Default for AdviceSettings {
    fn default() -> Self {
        AdviceSettings {
            max_staleness: Duration::from_secs(60),
            fast_enough_ms: 5.0,
            min_hit_rate: 0.5,
            min_db_ms_per_hour: 1000.0,
        }
    }
}

/// The cache key of a statement: its parameters and the columns they are compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CacheKey {
    /// `$1`, `$2`, … in order, each with the column it is compared with when one is.
    pub parts: Vec<KeyPart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyPart {
    pub parameter: usize,
    /// `table.column` the parameter is compared with (`=`, `IN`, a range), when it is one.
    pub column: Option<String>,
    /// The table of that column, as written in the statement.
    pub table: Option<String>,
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.parts.is_empty() {
            return f.write_str("(the statement: no parameter)");
        }
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|p| match &p.column {
                Some(column) => format!("${} ({column})", p.parameter),
                None => format!("${}", p.parameter),
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// A table the statement reads, with how often it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TableActivity {
    pub table: String,
    /// Rows inserted, updated and deleted per hour (from the statistics collector).
    pub writes_per_hour: f64,
    /// Rows in the table now (`reltuples`).
    pub rows: f64,
}

/// What pgdiag's suggestions would make of the statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Fix {
    /// The suggestion ids (`s1`, …) that serve the statement.
    pub suggestions: Vec<String>,
    /// The statement's expected time with them in place (measured, or its time scaled by the
    /// planned cost's reduction).
    pub expected_ms: f64,
}

/// Everything known about one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementFacts {
    pub calls_per_hour: f64,
    pub mean_ms: f64,
    /// The key the statement is read with.
    pub key: CacheKey,
    /// How many distinct keys it is read with (the key columns' distinct values), when known; a
    /// statement without parameters has one.
    pub distinct_keys: Option<f64>,
    /// The tables it reads.
    pub tables: Vec<TableActivity>,
    /// Why its result depends on the caller or the moment (`now()`, `current_user`, a volatile
    /// function), when it does.
    pub caller_dependent: Option<String>,
    pub fix: Option<Fix>,
}

/// The verdict for one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "verdict", content = "details", rename_all = "snake_case")]
pub enum Verdict {
    /// pgdiag's suggestions make it fast enough: fix it in the database, no cache.
    FixInDatabase {
        suggestions: Vec<String>,
        expected_ms: f64,
        reason: String,
    },
    /// A cache would not pay, or would serve wrong results.
    DontCache { reason: DontCache, detail: String },
    /// Cache it, configured so.
    Cache(CachePlan),
}

/// Why not to cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DontCache {
    /// Its result depends on who asks or when (`now()`, `current_user`, volatile functions).
    CallerDependent,
    /// The tables it reads change about as fast as it is read: few reads would hit.
    LowHitRate,
    /// The database spends too little on it for a cache to matter.
    CheapAndRare,
}

/// How to cache a statement, and what to expect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CachePlan {
    pub strategy: Strategy,
    /// When a value starts being refreshed (swr: served stale meanwhile; xfetch: refreshed early
    /// with rising probability); equal to `hard_ttl_s` for cache-aside.
    pub soft_ttl_s: f64,
    /// When a value is gone.
    pub hard_ttl_s: f64,
    /// Delete the key when its row changes (a NOTIFY trigger), when that is what keeps staleness
    /// within bounds.
    pub invalidate: Option<Invalidation>,
    pub expected_hit_rate: f64,
    /// Database time the cache saves per hour (the hits' time).
    pub db_ms_saved_per_hour: f64,
    /// Reads per hour served a value older than the latest write to its key.
    pub stale_reads_per_hour: f64,
    /// Why this strategy.
    pub reasons: Vec<String>,
}

/// Invalidation on write: which table's changes delete which key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Invalidation {
    pub table: String,
    pub key_column: String,
}

/// The expected hit rate and stale reads of one configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    pub hit_rate: f64,
    /// Per hour, over every key.
    pub stale_reads_per_hour: f64,
}

/// Hit rate and staleness for `reads_per_hour` spread over `keys`, `writes_per_hour` to those
/// keys, entries living `ttl` (ended early by a write when `invalidate`).
pub fn expect(
    reads_per_hour: f64,
    writes_per_hour: f64,
    keys: f64,
    ttl: Duration,
    invalidate: bool,
) -> Expectation {
    let keys = keys.max(1.0);
    let r = (reads_per_hour / keys / 3600.0).max(0.0);
    let w = (writes_per_hour / keys / 3600.0).max(0.0);
    let t = ttl.as_secs_f64();
    if r == 0.0 || t == 0.0 {
        return Expectation {
            hit_rate: 0.0,
            stale_reads_per_hour: 0.0,
        };
    }
    // E[min(T, Exp(w))]: how long an entry serves when a write ends it.
    let until_write = if w > 0.0 {
        (1.0 - (-w * t).exp()) / w
    } else {
        t
    };
    let lifetime = if invalidate { until_write } else { t };
    let hit_rate = r * lifetime / (r * lifetime + 1.0);
    let stale_reads_per_hour = if invalidate {
        0.0
    } else {
        // Per cycle: the reads between the first write and the expiry.
        let stale_per_cycle = r * (t - until_write).max(0.0);
        let cycles_per_second = 1.0 / (t + 1.0 / r);
        stale_per_cycle * cycles_per_second * keys * 3600.0
    };
    Expectation {
        hit_rate,
        stale_reads_per_hour,
    }
}

/// The verdict for one statement.
pub fn advise(facts: &StatementFacts, settings: &AdviceSettings) -> Verdict {
    if let Some(why) = &facts.caller_dependent {
        return Verdict::DontCache {
            reason: DontCache::CallerDependent,
            detail: format!("its result depends on the caller or the moment: {why}"),
        };
    }
    if let Some(fix) = &facts.fix
        && fix.expected_ms <= settings.fast_enough_ms
    {
        return Verdict::FixInDatabase {
            suggestions: fix.suggestions.clone(),
            expected_ms: fix.expected_ms,
            reason: format!(
                "{} bring{} it from {} ms to about {} ms, within {} ms: no cache to keep fresh",
                fix.suggestions.join(", "),
                if fix.suggestions.len() == 1 { "s" } else { "" },
                round(facts.mean_ms),
                round(fix.expected_ms),
                round(settings.fast_enough_ms)
            ),
        };
    }
    let db_ms_per_hour = facts.calls_per_hour * facts.mean_ms;
    if db_ms_per_hour < settings.min_db_ms_per_hour {
        return Verdict::DontCache {
            reason: DontCache::CheapAndRare,
            detail: format!(
                "the database spends {} ms an hour on it ({} calls × {} ms): a cache would save little and add a system to run",
                round(db_ms_per_hour),
                round(facts.calls_per_hour),
                round(facts.mean_ms)
            ),
        };
    }

    let keys = if facts.key.parts.is_empty() {
        1.0
    } else {
        // Unknown: as many keys as calls in an hour (every read a new key), the pessimistic case.
        facts.distinct_keys.unwrap_or(facts.calls_per_hour).max(1.0)
    };
    // Writes that change what a key reads: every write to the keyed table falls on one key; a
    // write to another table the statement reads (a join) may change any key's result.
    let keyed_table = facts.key.parts.iter().find_map(|p| p.table.clone());
    let (keyed_writes, shared_writes) =
        facts.tables.iter().fold((0.0, 0.0), |(keyed, shared), t| {
            if Some(&t.table) == keyed_table.as_ref() {
                (keyed + t.writes_per_hour, shared)
            } else {
                (keyed, shared + t.writes_per_hour)
            }
        });
    // A shared write can change every key: as if each key saw it.
    let writes_per_hour = keyed_writes + shared_writes * keys;
    let max_staleness = settings.max_staleness;

    // TTL only: values live up to the staleness accepted.
    let ttl_only = expect(
        facts.calls_per_hour,
        writes_per_hour,
        keys,
        max_staleness,
        false,
    );
    // Invalidation on write, possible when the writes that matter are to the keyed table and
    // the key is one column of it: entries may then live longer, the TTL a safety net.
    let invalidation = match (&keyed_table, facts.key.parts.as_slice()) {
        (Some(table), [part]) if shared_writes == 0.0 && keyed_writes > 0.0 => {
            part.column.as_ref().map(|column| Invalidation {
                table: table.clone(),
                key_column: column
                    .rsplit('.')
                    .next()
                    .unwrap_or(column.as_str())
                    .to_owned(),
            })
        }
        _ => None,
    };
    let safety_ttl = (max_staleness * 10).min(Duration::from_secs(3600));
    let invalidated = invalidation.as_ref().map(|_| {
        expect(
            facts.calls_per_hour,
            writes_per_hour,
            keys,
            safety_ttl,
            true,
        )
    });

    let reads_per_key_hour = facts.calls_per_hour / keys;
    let writes_per_key_hour = writes_per_hour / keys;
    // What counts is the share of reads a cache answers with the current value: a hit that
    // serves a value older than the latest write to it is tolerated, not earned. With the TTL
    // alone those are the hits less the stale reads; with invalidation every hit is current.
    let fresh = |e: &Expectation| {
        (e.hit_rate - e.stale_reads_per_hour / facts.calls_per_hour.max(f64::MIN_POSITIVE)).max(0.0)
    };
    let best_hit_rate = invalidated.map_or(fresh(&ttl_only), |i| i.hit_rate.max(fresh(&ttl_only)));
    if best_hit_rate < settings.min_hit_rate {
        return Verdict::DontCache {
            reason: DontCache::LowHitRate,
            detail: format!(
                "about {}% of reads would get a current value from a cache: each of ~{} keys is read {} times an hour and {} (a {} s TTL)",
                round(best_hit_rate * 100.0),
                round(keys),
                round(reads_per_key_hour),
                if writes_per_key_hour > 0.0 {
                    format!("written {} times an hour", round(writes_per_key_hour))
                } else {
                    "never written".to_owned()
                },
                round(max_staleness.as_secs_f64())
            ),
        };
    }

    let mut reasons = Vec::new();
    // Invalidate when TTL alone would serve a noticeable share of reads stale (over 1%), or
    // when it keeps many more reads hitting.
    let stale_share = ttl_only.stale_reads_per_hour / facts.calls_per_hour.max(f64::MIN_POSITIVE);
    let use_invalidation = match invalidated {
        Some(i) => stale_share > 0.01 || i.hit_rate > ttl_only.hit_rate + 0.05,
        None => false,
    };
    let (expectation, hard_ttl) = if use_invalidation {
        reasons.push(format!(
            "invalidate on write: with the TTL alone {}% of reads would be served a value older than its row",
            round(stale_share * 100.0)
        ));
        (invalidated.unwrap_or(ttl_only), safety_ttl)
    } else {
        (ttl_only, max_staleness)
    };

    // A herd: readers of one key arriving while it is being recomputed all miss together.
    let reads_per_key_second = reads_per_key_hour / 3600.0;
    let concurrent_misses = reads_per_key_second * facts.mean_ms / 1000.0;
    let (strategy, soft_ttl) = if concurrent_misses >= 0.1 {
        if max_staleness >= Duration::from_secs(2) {
            reasons.push(format!(
                "swr with a refresh lock: about {} reads of a key arrive during one {} ms recompute, so an expiry would send them all to the database; serving the old value meanwhile stays within the staleness accepted",
                round(concurrent_misses),
                round(facts.mean_ms)
            ));
            (Strategy::Swr, hard_ttl.mul_f64(0.75))
        } else {
            reasons.push(format!(
                "xfetch: about {} reads of a key arrive during one {} ms recompute, and the staleness accepted leaves no room to serve old values: recompute early, before expiry",
                round(concurrent_misses),
                round(facts.mean_ms)
            ));
            (Strategy::Xfetch, hard_ttl)
        }
    } else {
        reasons.push(format!(
            "cache-aside: a key is rarely read twice during its {} ms recompute, so no herd to guard against",
            round(facts.mean_ms)
        ));
        (Strategy::CacheAside, hard_ttl)
    };
    let db_ms_saved_per_hour = expectation.hit_rate * facts.calls_per_hour * facts.mean_ms;
    Verdict::Cache(CachePlan {
        strategy,
        soft_ttl_s: soft_ttl.as_secs_f64(),
        hard_ttl_s: hard_ttl.as_secs_f64(),
        invalidate: if use_invalidation { invalidation } else { None },
        expected_hit_rate: expectation.hit_rate,
        db_ms_saved_per_hour,
        stale_reads_per_hour: expectation.stale_reads_per_hour,
        reasons,
    })
}

/// Two significant figures, for messages.
fn round(value: f64) -> String {
    if !value.is_finite() {
        return "?".to_owned();
    }
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        format!("{value:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(table: &str, column: &str) -> CacheKey {
        CacheKey {
            parts: vec![KeyPart {
                parameter: 1,
                column: Some(format!("{table}.{column}")),
                table: Some(table.to_owned()),
            }],
        }
    }

    fn facts() -> StatementFacts {
        StatementFacts {
            calls_per_hour: 36_000.0,
            mean_ms: 180.0,
            key: keyed("reviews", "product_id"),
            distinct_keys: Some(1_000.0),
            tables: vec![TableActivity {
                table: "reviews".into(),
                writes_per_hour: 100.0,
                rows: 1_200_000.0,
            }],
            caller_dependent: None,
            fix: None,
        }
    }

    #[test]
    fn the_model_agrees_with_a_direct_simulation() {
        // One key, reads at 1/s, writes at 1/60 s, TTL 30 s; simulate a day of Poisson arrivals.
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (r, w, t) = (1.0_f64, 1.0 / 60.0, 30.0_f64);
        let exp = |rng: &mut rand::rngs::StdRng, rate: f64| -> f64 {
            -(1.0 - rng.random::<f64>()).ln() / rate
        };
        for invalidate in [false, true] {
            let (mut now, mut next_write) = (0.0, exp(&mut rng, w));
            let (mut expires, mut filled_at, mut hits, mut stale, mut reads) =
                (f64::NEG_INFINITY, 0.0, 0u64, 0u64, 0u64);
            let mut last_write = f64::NEG_INFINITY;
            while now < 86_400.0 * 5.0 {
                now += exp(&mut rng, r);
                while next_write <= now {
                    last_write = next_write;
                    if invalidate && next_write < expires {
                        expires = next_write;
                    }
                    next_write += exp(&mut rng, w);
                }
                reads += 1;
                if now < expires {
                    hits += 1;
                    if last_write > filled_at {
                        stale += 1;
                    }
                } else {
                    filled_at = now;
                    expires = now + t;
                }
            }
            let hours = now / 3600.0;
            let model = expect(3600.0, 60.0, 1.0, Duration::from_secs(30), invalidate);
            let simulated_hit = hits as f64 / reads as f64;
            assert!(
                (model.hit_rate - simulated_hit).abs() < 0.01,
                "invalidate {invalidate}: model {} simulated {simulated_hit}",
                model.hit_rate
            );
            let simulated_stale = stale as f64 / hours;
            assert!(
                (model.stale_reads_per_hour - simulated_stale).abs()
                    < 0.05 * simulated_stale.max(20.0),
                "invalidate {invalidate}: model {} simulated {simulated_stale}",
                model.stale_reads_per_hour
            );
        }
    }

    #[test]
    fn a_lookup_read_more_often_than_its_row_changes_is_cached_with_invalidation() {
        // 36 reads per key per hour, a write per key every 10 hours, 180 ms each: a 60 s TTL
        // alone would hit 37.5% of reads; deleting the key on write lets entries live 10 min.
        let Verdict::Cache(plan) = advise(&facts(), &AdviceSettings::default()) else {
            panic!("cache");
        };
        assert_eq!(plan.strategy, Strategy::CacheAside, "{plan:?}");
        assert_eq!(
            plan.invalidate,
            Some(Invalidation {
                table: "reviews".into(),
                key_column: "product_id".into()
            })
        );
        assert_eq!(plan.hard_ttl_s, 600.0);
        assert!(
            (plan.expected_hit_rate - 0.855).abs() < 0.01,
            "{}",
            plan.expected_hit_rate
        );
        assert!((plan.db_ms_saved_per_hour - 0.855 * 36_000.0 * 180.0).abs() < 0.01 * 5.5e6);
        // TTL alone, within the staleness accepted, when the key is not one column of a table.
        let mut facts = facts();
        facts.key.parts[0].column = None;
        facts.calls_per_hour = 360_000.0;
        let Verdict::Cache(plan) = advise(&facts, &AdviceSettings::default()) else {
            panic!("cache");
        };
        assert_eq!(plan.invalidate, None);
        assert_eq!(plan.hard_ttl_s, 60.0);
        assert!(plan.stale_reads_per_hour > 0.0);
    }

    #[test]
    fn caller_dependent_statements_are_never_cached() {
        let mut facts = facts();
        facts.caller_dependent = Some("now()".into());
        assert!(matches!(
            advise(&facts, &AdviceSettings::default()),
            Verdict::DontCache {
                reason: DontCache::CallerDependent,
                ..
            }
        ));
    }

    #[test]
    fn a_fix_that_makes_it_fast_enough_wins() {
        let mut facts = facts();
        facts.fix = Some(Fix {
            suggestions: vec!["s1".into()],
            expected_ms: 1.2,
        });
        let verdict = advise(&facts, &AdviceSettings::default());
        let Verdict::FixInDatabase { reason, .. } = &verdict else {
            panic!("{verdict:?}");
        };
        assert!(
            reason.starts_with("s1 brings it from 180 ms to about 1.2 ms"),
            "{reason}"
        );
        // Not fast enough: caching is still considered.
        facts.fix = Some(Fix {
            suggestions: vec!["s1".into()],
            expected_ms: 40.0,
        });
        assert!(matches!(
            advise(&facts, &AdviceSettings::default()),
            Verdict::Cache(_)
        ));
    }

    #[test]
    fn cheap_and_rare_is_not_worth_a_cache() {
        let mut facts = facts();
        facts.calls_per_hour = 10.0;
        facts.mean_ms = 3.0;
        assert!(matches!(
            advise(&facts, &AdviceSettings::default()),
            Verdict::DontCache {
                reason: DontCache::CheapAndRare,
                ..
            }
        ));
    }

    #[test]
    fn tables_that_change_faster_than_they_are_read_give_a_low_hit_rate() {
        let mut facts = facts();
        facts.calls_per_hour = 3_600.0; // 3.6 reads per key per hour
        facts.tables[0].writes_per_hour = 1_000_000.0; // 1,000 writes per key per hour
        let verdict = advise(&facts, &AdviceSettings::default());
        assert!(
            matches!(
                verdict,
                Verdict::DontCache {
                    reason: DontCache::LowHitRate,
                    ..
                }
            ),
            "{verdict:?}"
        );
    }

    #[test]
    fn frequent_writes_to_the_keyed_row_bring_invalidation_on_write() {
        let mut facts = facts();
        facts.tables[0].writes_per_hour = 20_000.0; // 20 per key per hour, reads 36
        facts.calls_per_hour = 360_000.0; // 360 reads per key per hour
        let Verdict::Cache(plan) = advise(&facts, &AdviceSettings::default()) else {
            panic!("cache");
        };
        assert_eq!(
            plan.invalidate,
            Some(Invalidation {
                table: "reviews".into(),
                key_column: "product_id".into()
            }),
            "{plan:?}"
        );
        assert_eq!(plan.stale_reads_per_hour, 0.0);
    }

    #[test]
    fn a_herd_calls_for_swr_or_xfetch_when_no_staleness_is_accepted() {
        let mut facts = facts();
        facts.calls_per_hour = 3_600_000.0; // 1 read per key per second, 180 ms each
        let Verdict::Cache(plan) = advise(&facts, &AdviceSettings::default()) else {
            panic!("cache");
        };
        assert_eq!(plan.strategy, Strategy::Swr, "{plan:?}");
        assert!(plan.soft_ttl_s < plan.hard_ttl_s);
        let strict = AdviceSettings {
            max_staleness: Duration::from_secs(1),
            ..AdviceSettings::default()
        };
        let Verdict::Cache(plan) = advise(&facts, &strict) else {
            panic!("cache");
        };
        assert_eq!(plan.strategy, Strategy::Xfetch, "{plan:?}");
        // A rare key: no herd, cache-aside.
        facts.calls_per_hour = 36_000.0;
        facts.mean_ms = 20.0;
        let Verdict::Cache(plan) = advise(&facts, &AdviceSettings::default()) else {
            panic!("cache");
        };
        assert_eq!(plan.strategy, Strategy::CacheAside, "{plan:?}");
    }
}
