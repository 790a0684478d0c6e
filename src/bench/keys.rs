//! The key set a benchmark reads, and the zipf sampler that decides which keys are hot.

use rand::RngExt;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::BenchError;
use super::loader::require_read_only;

/// `count` key values: the first `count` rows of `keys_from` (first column, text form), or
/// `1..=count` as text. The first key is the hottest for the sampler.
pub async fn load_keys(
    client: &Client,
    keys_from: Option<&str>,
    count: usize,
) -> Result<Vec<String>, BenchError> {
    if count == 0 {
        return Err(BenchError::Query("--keys must be at least 1".into()));
    }
    let Some(sql) = keys_from else {
        return Ok((1..=count).map(|k| k.to_string()).collect());
    };
    let sql = require_read_only(sql, "--keys-from")?;
    let messages = client
        .simple_query(&sql)
        .await
        .map_err(|e| BenchError::Postgres(e.into()))?;
    let keys: Vec<String> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .take(count)
        .collect();
    if keys.is_empty() {
        return Err(BenchError::Query(
            "--keys-from returned no (non-NULL) keys".into(),
        ));
    }
    Ok(keys)
}

/// Zipf-distributed ranks `0..n`: rank `k` (0-based) has weight `1 / (k + 1)^s`. The CDF is
/// precomputed once; a sample is one uniform draw and a binary search.
#[derive(Debug, Clone)]
pub struct ZipfSampler {
    cdf: Vec<f64>,
}

impl ZipfSampler {
    pub fn new(n: usize, exponent: f64) -> ZipfSampler {
        let n = n.max(1);
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(exponent);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        ZipfSampler { cdf }
    }

    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// A rank in `0..len()`.
    pub fn sample(&self, rng: &mut impl rand::Rng) -> usize {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }

    /// Probability of rank `k`.
    pub fn probability(&self, rank: usize) -> f64 {
        let before = if rank == 0 { 0.0 } else { self.cdf[rank - 1] };
        self.cdf[rank] - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn zipf_frequencies_follow_the_weights() {
        let sampler = ZipfSampler::new(100, 1.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut counts = vec![0u32; 100];
        let draws = 200_000;
        for _ in 0..draws {
            counts[sampler.sample(&mut rng)] += 1;
        }
        for rank in [0, 1, 9] {
            let expected = sampler.probability(rank) * draws as f64;
            let got = f64::from(counts[rank]);
            assert!(
                (got - expected).abs() < expected * 0.05,
                "rank {rank}: {got} vs {expected}"
            );
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[50]);
    }

    #[test]
    fn zero_exponent_is_uniform_and_one_key_always_wins() {
        let uniform = ZipfSampler::new(4, 0.0);
        assert!((uniform.probability(3) - 0.25).abs() < 1e-9);
        let single = ZipfSampler::new(1, 1.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(single.sample(&mut rng), 0);
    }
}
