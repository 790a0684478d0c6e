//! The run over time and the latency distribution of the report: the bucket maths, and the
//! recorder every reader task keeps for itself (merged once at the end, so recording takes no
//! lock and shares no counter on the request path).

use std::time::Duration;

use hdrhistogram::Histogram;

use super::report::{LatencyBucket, Timeline, TimelineBucket, WriteStaleness};
use crate::cache::ServedFrom;

/// Buckets a timeline holds at most; later requests are counted in the last one (a run that
/// long has a bucket width that keeps it far from this).
pub const MAX_BUCKETS: usize = 10_000;

/// At most this many writes are listed per strategy in the `writes` scenario.
pub const MAX_WRITES_LISTED: usize = 1_000;

/// The bucket width for a measured phase of `duration`: the smallest of 10, 20, 50, 100, 200,
/// 500 ms, … that gives at most 100 buckets.
pub fn bucket_width_ms(duration: Duration) -> u64 {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let wanted = ms.div_ceil(100);
    let mut decade: u64 = 10;
    loop {
        for step in [1, 2, 5] {
            let width = decade.saturating_mul(step);
            if width >= wanted || width == u64::MAX {
                return width;
            }
        }
        decade = decade.saturating_mul(10);
    }
}

/// One bucket's counts while recording (latency in µs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    requests: u64,
    hits: u64,
    misses: u64,
    stale_serves: u64,
    database: u64,
    redis_fallbacks: u64,
    errors: u64,
    db_calls: u64,
    background_db_calls: u64,
    max_us: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.hits += other.hits;
        self.misses += other.misses;
        self.stale_serves += other.stale_serves;
        self.database += other.database;
        self.redis_fallbacks += other.redis_fallbacks;
        self.errors += other.errors;
        self.db_calls += other.db_calls;
        self.background_db_calls += other.background_db_calls;
        self.max_us = self.max_us.max(other.max_us);
    }
}

/// A timeline being recorded by one task: requests go in the bucket of their start, measured
/// from the common origin (the end of the warm-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRecorder {
    width: Duration,
    buckets: Vec<Counts>,
}

impl TimelineRecorder {
    pub fn new(width_ms: u64) -> Self {
        TimelineRecorder {
            width: Duration::from_millis(width_ms.max(1)),
            buckets: Vec::new(),
        }
    }

    pub fn width_ms(&self) -> u64 {
        u64::try_from(self.width.as_millis()).unwrap_or(u64::MAX)
    }

    fn bucket(&mut self, offset: Duration) -> &mut Counts {
        let index = usize::try_from(offset.as_nanos() / self.width.as_nanos())
            .unwrap_or(usize::MAX)
            .min(MAX_BUCKETS - 1);
        if self.buckets.len() <= index {
            self.buckets.resize(index + 1, Counts::default());
        }
        &mut self.buckets[index]
    }

    /// A request that started `offset` after the origin: its outcome, whether it failed, the
    /// queries it ran itself, and its latency (failed requests count no latency).
    pub fn request(
        &mut self,
        offset: Duration,
        from: ServedFrom,
        failed: bool,
        db_calls: u64,
        latency_us: u64,
    ) {
        let bucket = self.bucket(offset);
        bucket.requests += 1;
        match from {
            ServedFrom::Hit => bucket.hits += 1,
            ServedFrom::Miss => bucket.misses += 1,
            ServedFrom::Stale => bucket.stale_serves += 1,
            ServedFrom::Database => bucket.database += 1,
            ServedFrom::RedisError => bucket.redis_fallbacks += 1,
        }
        if failed {
            bucket.errors += 1;
        } else {
            bucket.max_us = bucket.max_us.max(latency_us);
        }
        bucket.db_calls += db_calls;
    }

    /// A query a strategy ran on its own, started `offset` after the origin.
    pub fn background_call(&mut self, offset: Duration) {
        self.bucket(offset).background_db_calls += 1;
    }

    /// Add another task's recording (same origin and width).
    pub fn merge(&mut self, other: &TimelineRecorder) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), Counts::default());
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.add(theirs);
        }
    }

    /// The report's timeline.
    pub fn finish(self, herd_from_ms: Option<u64>, expiries_at_ms: Vec<u64>) -> Timeline {
        let width_ms = self.width_ms();
        Timeline {
            bucket_ms: width_ms,
            buckets: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, c)| TimelineBucket {
                    at_ms: (i as u64).saturating_mul(width_ms),
                    requests: c.requests,
                    hits: c.hits,
                    misses: c.misses,
                    stale_serves: c.stale_serves,
                    database: c.database,
                    redis_fallbacks: c.redis_fallbacks,
                    errors: c.errors,
                    db_calls: c.db_calls,
                    background_db_calls: c.background_db_calls,
                    max_ms: c.max_us as f64 / 1000.0,
                })
                .collect(),
            herd_from_ms,
            expiries_at_ms,
        }
    }
}

/// The bucket edges of [`latency_buckets`] in µs: ten per decade (the R10 series 1, 1.25, 1.6,
/// 2, 2.5, 3.15, 4, 5, 6.3, 8) from 1 µs to beyond an hour.
fn latency_edges_us() -> Vec<f64> {
    const MANTISSAS: [f64; 10] = [1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0];
    (0..10)
        .flat_map(|decade| MANTISSAS.iter().map(move |m| m * 10f64.powi(decade)))
        .collect()
}

/// A latency histogram (µs) as log-scale buckets in ms, ten per decade, from the first bucket
/// holding a value to the last (the empty ones between included). Each recorded value counts
/// at its hdrhistogram bin's median (3 significant digits).
pub fn latency_buckets(histogram: &Histogram<u64>) -> Vec<LatencyBucket> {
    if histogram.is_empty() {
        return Vec::new();
    }
    let edges = latency_edges_us();
    let mut counts = vec![0u64; edges.len()];
    for value in histogram.iter_recorded() {
        let us = histogram.median_equivalent(value.value_iterated_to()) as f64;
        // The last edge at or below the value (values under 1 µs count in the first bucket).
        let index = edges.partition_point(|&e| e <= us).saturating_sub(1);
        counts[index] += value.count_at_value();
    }
    let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
    let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
    (first..=last)
        .map(|i| LatencyBucket {
            from_ms: edges[i] / 1000.0,
            to_ms: edges.get(i + 1).copied().unwrap_or(edges[i] * 1.25) / 1000.0,
            count: counts[i],
        })
        .collect()
}

/// `writes` in commit order, at most `limit` of them: all when there are that few, else
/// `limit` evenly spaced ones, the first and the last included.
pub fn sample_writes(mut writes: Vec<WriteStaleness>, limit: usize) -> Vec<WriteStaleness> {
    writes.sort_by_key(|w| w.at_ms);
    if writes.len() <= limit {
        return writes;
    }
    if limit <= 1 {
        writes.truncate(limit);
        return writes;
    }
    let last = writes.len() - 1;
    (0..limit)
        .map(|i| writes[i * last / (limit - 1)].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenarios::latency_histogram;

    #[test]
    fn bucket_width_is_a_one_two_five_step_of_at_most_a_hundred_buckets() {
        let width = |ms| bucket_width_ms(Duration::from_millis(ms));
        assert_eq!(width(0), 10);
        assert_eq!(width(300), 10);
        assert_eq!(width(1000), 10);
        assert_eq!(width(1001), 20);
        assert_eq!(width(3000), 50);
        assert_eq!(width(10_000), 100);
        assert_eq!(width(60_000), 1000);
        for ms in [1, 999, 12_345, 86_400_000] {
            let w = width(ms);
            assert!(w >= 10 && ms.div_ceil(w) <= 100, "{ms} ms → {w}");
        }
        // A duration too long to ever end does not overflow.
        assert!(bucket_width_ms(Duration::MAX) > 0);
    }

    #[test]
    fn requests_count_in_the_bucket_they_started_in() {
        let mut a = TimelineRecorder::new(10);
        a.request(Duration::from_millis(0), ServedFrom::Hit, false, 0, 300);
        a.request(
            Duration::from_micros(9_999),
            ServedFrom::Miss,
            false,
            1,
            5_000,
        );
        a.request(Duration::from_millis(10), ServedFrom::Miss, true, 1, 99_000);
        let mut b = TimelineRecorder::new(10);
        b.request(Duration::from_millis(35), ServedFrom::Stale, false, 0, 700);
        b.background_call(Duration::from_millis(36));
        b.request(Duration::from_millis(1), ServedFrom::Hit, false, 0, 8_000);
        a.merge(&b);
        let timeline = a.finish(None, Vec::new());
        assert_eq!(timeline.bucket_ms, 10);
        let at: Vec<u64> = timeline.buckets.iter().map(|b| b.at_ms).collect();
        assert_eq!(at, [0, 10, 20, 30]);
        let first = &timeline.buckets[0];
        assert_eq!(
            (first.requests, first.hits, first.misses, first.db_calls),
            (3, 2, 1, 1)
        );
        assert_eq!(first.max_ms, 8.0);
        // A failed request counts, with its query, but not in the latency.
        let second = &timeline.buckets[1];
        assert_eq!((second.requests, second.errors, second.db_calls), (1, 1, 1));
        assert_eq!(second.max_ms, 0.0);
        assert_eq!(
            timeline.buckets[2],
            TimelineBucket {
                at_ms: 20,
                ..TimelineBucket::default()
            }
        );
        let last = &timeline.buckets[3];
        assert_eq!((last.stale_serves, last.background_db_calls), (1, 1));
    }

    #[test]
    fn an_empty_recording_is_an_empty_timeline_and_a_late_request_the_last_bucket() {
        let empty = TimelineRecorder::new(20).finish(Some(0), vec![5]);
        assert!(empty.buckets.is_empty());
        assert_eq!(
            (empty.herd_from_ms, empty.expiries_at_ms),
            (Some(0), vec![5])
        );

        let mut late = TimelineRecorder::new(10);
        late.request(Duration::from_secs(86_400), ServedFrom::Hit, false, 0, 1);
        let timeline = late.finish(None, Vec::new());
        assert_eq!(timeline.buckets.len(), MAX_BUCKETS);
        assert_eq!(timeline.buckets[MAX_BUCKETS - 1].requests, 1);
    }

    #[test]
    fn latency_buckets_are_ten_per_decade_and_hold_every_request() {
        assert!(latency_buckets(&latency_histogram()).is_empty());

        let mut one = latency_histogram();
        one.record(1_000).unwrap();
        assert_eq!(
            latency_buckets(&one),
            vec![LatencyBucket {
                from_ms: 1.0,
                to_ms: 1.25,
                count: 1
            }]
        );

        let mut h = latency_histogram();
        for (us, n) in [(110, 10), (120, 5), (4_100, 3), (2_000_000, 1)] {
            h.record_n(us, n).unwrap();
        }
        let buckets = latency_buckets(&h);
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 19);
        assert_eq!(buckets.first().unwrap().from_ms, 0.1);
        assert_eq!(buckets.first().unwrap().count, 15);
        assert_eq!(buckets.last().unwrap().from_ms, 2000.0);
        // Contiguous: each starts where the one before ended, empty ones included.
        for pair in buckets.windows(2) {
            assert_eq!(pair[0].to_ms, pair[1].from_ms);
        }
        let four = buckets.iter().find(|b| b.from_ms == 4.0).unwrap();
        assert_eq!(four.count, 3);
        // Three and a half decades, ten buckets each.
        assert_eq!(buckets.len(), 44);
    }

    #[test]
    fn writes_are_sampled_evenly_keeping_the_first_and_the_last() {
        let write = |at_ms| WriteStaleness {
            at_ms,
            staleness_ms: at_ms as f64,
            resolved: true,
        };
        let few: Vec<_> = (0..5).rev().map(write).collect();
        let kept = sample_writes(few, 10);
        assert_eq!(
            kept.iter().map(|w| w.at_ms).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        let many: Vec<_> = (0..10_001).map(write).collect();
        let kept = sample_writes(many, 1_000);
        assert_eq!(kept.len(), 1_000);
        assert_eq!(kept[0].at_ms, 0);
        assert_eq!(kept[999].at_ms, 10_000);
        assert!(kept.windows(2).all(|p| p[0].at_ms < p[1].at_ms));
        assert!(sample_writes(Vec::new(), 1_000).is_empty());
        assert_eq!(sample_writes((0..3).map(write).collect(), 1).len(), 1);
    }
}
