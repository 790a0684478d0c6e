//! Steps 3 and 5 of the demo: the cache benchmarks, driven through the same library as
//! `pgdiag bench` (src/bench/). Step 3 is the article's first attempt: cache-aside with a long TTL
//! on the whole product page. Step 5 caches only what deserves it, the recommendations, with
//! stale-while-revalidate.

use std::time::Duration;

use crate::bench::{self, BenchConfig, Scenario, Stop};
use crate::cache::Strategy;
use crate::pg::ConnectionSettings;
use crate::seed;

use super::{DemoConfig, Error, NaiveCacheStep, SwrCacheStep, strategy};

/// The naive layer's TTL: long, as caches bolted on in a hurry are.
const NAIVE_TTL: Duration = Duration::from_secs(60);

/// Bound on the warm-up that fills the naive cache: past it, a slow page is shown as it is.
const MAX_PAGE_WARMUP: Duration = Duration::from_secs(20);

/// Page queries per warm-up: enough for the zipf tail of `page_keys` to be requested and cached
/// while 8 clients share 2 cores (measured: about 3 rounds of 8 requests, 4 page times each).
const PAGE_WARMUP_QUERIES: f64 = 16.0;

/// What the stale-price benchmark writes: the price a product page shows.
pub const PRICE_UPDATE: &str = "UPDATE pricing SET price = price + 0.01 WHERE product_id = $1";

/// Step 3: cache-aside on the product page, under steady load (vs no cache), a herd on expiry, and
/// price updates (how long a reader sees the old price). `page_ms` is the page's execution time
/// from step 2: the warm-up grows with it so the cache is full when measuring starts.
pub async fn naive_cache(
    connection: &ConnectionSettings,
    redis_url: &str,
    config: &DemoConfig,
    page_ms: f64,
    stop: &Stop,
) -> Result<NaiveCacheStep, Error> {
    let query = bench_sql("product_page");
    let mut base = base_config(&query, connection, redis_url, config);
    base.keys = config.page_keys;
    base.warmup = page_warmup(config, page_ms);

    let mut steady = base.clone();
    steady.strategies = vec![Strategy::None, Strategy::CacheAside];
    steady.ttl = NAIVE_TTL;
    steady.soft_ttl = NAIVE_TTL;
    let steady = bench::run(&steady, stop.clone()).await?.strategies;

    let herd = herd_config(&base, config, Strategy::CacheAside);
    let herd = bench::run(&herd, stop.clone()).await?.strategies;

    let mut writes = base.clone();
    writes.scenario = Scenario::Writes;
    writes.strategies = vec![Strategy::CacheAside];
    writes.ttl = NAIVE_TTL;
    writes.soft_ttl = NAIVE_TTL;
    writes.write = Some(PRICE_UPDATE.into());
    writes.write_rate = config.write_rate;
    let writes = bench::run(&writes, stop.clone()).await?.strategies;

    let hit = strategy(&steady, Strategy::CacheAside, "3")?;
    let none = strategy(&steady, Strategy::None, "3")?;
    let herd = strategy(&herd, Strategy::CacheAside, "3")?.clone();
    let stale_prices = strategy(&writes, Strategy::CacheAside, "3")?.clone();
    let (stale_reads, staleness_max_ms) = stale_prices
        .staleness
        .as_ref()
        .map_or((0, 0.0), |s| (s.stale_reads, s.max_ms));
    Ok(NaiveCacheStep {
        query: "product_page".into(),
        clients: config.clients,
        herd_clients: config.herd_clients,
        hit_p50_ms: hit.latency.p50_ms,
        no_cache_p50_ms: none.latency.p50_ms,
        herd_db_calls_per_expiry: herd_calls(&herd),
        stale_reads,
        staleness_max_ms,
        steady: steady.clone(),
        herd,
        stale_prices,
        write: PRICE_UPDATE.into(),
        ttl_ms: NAIVE_TTL.as_millis() as u64,
    })
}

/// Step 5: no cache vs `swr` on the recommendations query, with a soft TTL short enough that the
/// run shows stale serves and background refreshes, then a herd on its hottest key.
pub async fn swr_cache(
    connection: &ConnectionSettings,
    redis_url: &str,
    config: &DemoConfig,
    stop: &Stop,
) -> Result<SwrCacheStep, Error> {
    let query = bench_sql("recommendations");
    let base = base_config(&query, connection, redis_url, config);

    let soft_ttl = config.bench_duration / 4;
    let ttl = NAIVE_TTL;
    let mut steady = base.clone();
    steady.strategies = vec![Strategy::None, Strategy::Swr];
    steady.soft_ttl = soft_ttl;
    steady.ttl = ttl;
    let steady = bench::run(&steady, stop.clone()).await?.strategies;

    let herd = herd_config(&base, config, Strategy::Swr);
    let herd = bench::run(&herd, stop.clone()).await?.strategies;

    let swr = strategy(&steady, Strategy::Swr, "5")?;
    let none = strategy(&steady, Strategy::None, "5")?;
    let herd = strategy(&herd, Strategy::Swr, "5")?.clone();
    Ok(SwrCacheStep {
        query: "recommendations".into(),
        clients: config.clients,
        herd_clients: config.herd_clients,
        no_cache_p50_ms: none.latency.p50_ms,
        swr_p50_ms: swr.latency.p50_ms,
        hit_rate: swr.hit_rate,
        miss_rate: swr.miss_rate,
        stale_rate: swr.stale_rate,
        refresh_p99_ms: swr.counters.refresh_p99_us.map(|us| us as f64 / 1000.0),
        herd_db_calls_per_expiry: herd_calls(&herd),
        steady: steady.clone(),
        herd,
        soft_ttl_ms: soft_ttl.as_millis() as u64,
        ttl_ms: ttl.as_millis() as u64,
    })
}

fn page_warmup(config: &DemoConfig, page_ms: f64) -> Duration {
    let filling = Duration::from_secs_f64(
        (page_ms.max(0.0) * PAGE_WARMUP_QUERIES / 1000.0).min(MAX_PAGE_WARMUP.as_secs_f64()),
    );
    config.warmup().max(filling)
}

/// The seed query without its `-- pgdiag: params` line (bench binds the key as $1 itself).
fn bench_sql(name: &str) -> String {
    seed::query(name)
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn base_config(
    query: &str,
    connection: &ConnectionSettings,
    redis_url: &str,
    config: &DemoConfig,
) -> BenchConfig {
    let mut base = BenchConfig::new(query, connection.clone(), redis_url);
    base.clients = config.clients;
    base.duration = config.bench_duration;
    base.warmup = config.warmup();
    base.keys = config.keys;
    base.pool = config.pool;
    base.progress = config.progress;
    base
}

/// A herd run: a short steady phase to warm the keys, then `expiries` rounds in which the hottest
/// key expires under `herd_clients` readers. TTLs are long so no other expiry or refresh adds
/// database calls to a round.
fn herd_config(base: &BenchConfig, config: &DemoConfig, strategy: Strategy) -> BenchConfig {
    let mut herd = base.clone();
    herd.scenario = Scenario::Herd;
    herd.strategies = vec![strategy];
    herd.clients = config.herd_clients;
    herd.duration = config.bench_duration / 4;
    herd.warmup = Duration::ZERO;
    herd.ttl = NAIVE_TTL;
    herd.soft_ttl = NAIVE_TTL;
    herd.expiries = config.expiries;
    herd.hot_keys = 1;
    herd
}

fn herd_calls(result: &crate::bench::report::StrategyResult) -> Vec<u64> {
    result
        .herd
        .as_ref()
        .map(|h| h.rounds.iter().map(|r| r.db_calls).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_warmup_grows_with_the_page_time_within_bounds() {
        let config = DemoConfig::for_scale(1.0);
        assert_eq!(page_warmup(&config, 1.0), config.warmup());
        assert_eq!(page_warmup(&config, 250.0), Duration::from_secs(4));
        assert_eq!(page_warmup(&config, 1e9), MAX_PAGE_WARMUP);
        assert_eq!(page_warmup(&config, f64::NAN), config.warmup());
    }
}
