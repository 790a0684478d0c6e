//! The Redis cache layer against real Redis (the shared embedded server, private servers for
//! fail-open, and an embedded three-node cluster): exact counters per strategy, herds, early
//! recomputation, fail-open, and memory figures. The database side is a loader that counts its
//! calls and sleeps like a query; the bench tests count real queries in pg_stat_statements.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use pgdiag::cache::{
    BoxFuture, CacheAside, CacheError, CacheSettings, CacheStrategy, LoadError, Loader,
    MetricsSnapshot, NoCache, RedisClient, ServedFrom, Strategy, Swr, XFetch, strategy,
    strategy_with_refresh_loader,
};
use pgdiag::embedded::{EmbeddedRedis, EmbeddedRedisCluster};

/// Generous for tests on a busy 2-core machine, so only a dead Redis times out.
const TEST_OP_TIMEOUT: Duration = Duration::from_secs(2);
const LONG_TTL_MS: u64 = 60_000;

/// Counts its calls and sleeps `delay` like a query would.
#[derive(Debug)]
struct CountingLoader {
    calls: AtomicU64,
    delay: Duration,
}

impl CountingLoader {
    fn new(delay_ms: u64) -> Arc<Self> {
        Arc::new(CountingLoader {
            calls: AtomicU64::new(0),
            delay: Duration::from_millis(delay_ms),
        })
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Loader for CountingLoader {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, LoadError>> {
        Box::pin(async move {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(self.delay).await;
            Ok(format!("row for {key} (load #{call})").into_bytes())
        })
    }
}

fn shared_redis() -> &'static EmbeddedRedis {
    EmbeddedRedis::shared().unwrap_or_else(|e| {
        panic!("embedded Redis could not start: {e}\n(run scripts/test, which installs it)")
    })
}

async fn client_for(url: &str) -> Arc<RedisClient> {
    Arc::new(
        RedisClient::connect_with_timeout(url, TEST_OP_TIMEOUT)
            .await
            .expect("connect to embedded Redis"),
    )
}

async fn shared_client() -> Arc<RedisClient> {
    client_for(&shared_redis().url()).await
}

/// A key prefix no other test (or earlier run) shares.
fn prefix(test: &str) -> String {
    format!("test:{test}:{:08x}:", rand::random::<u32>())
}

#[track_caller]
fn assert_invariant(m: &MetricsSnapshot) {
    assert_eq!(
        m.hits + m.misses + m.stale_serves + m.database + m.redis_fallbacks,
        m.requests,
        "every request counts in exactly one category: {m:?}"
    );
}

/// `requests` requests spread round-robin over `keys` keys, `concurrency` at a time.
async fn drive(
    strategy: &dyn CacheStrategy,
    loader: &dyn Loader,
    requests: usize,
    keys: usize,
    concurrency: usize,
) -> Vec<ServedFrom> {
    futures_util::stream::iter(0..requests)
        .map(|i| async move {
            let key = format!("key-{}", i % keys);
            strategy.get(&key, loader).await.expect("request").from
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

fn count(from: &[ServedFrom], which: ServedFrom) -> u64 {
    from.iter().filter(|f| **f == which).count() as u64
}

#[tokio::test]
async fn cache_aside_one_key_sequential_is_one_miss_then_hits() {
    let loader = CountingLoader::new(1);
    let cache = CacheAside::new(shared_client().await, prefix("ca-seq"), LONG_TTL_MS);
    let mut first_loaded_at = None;
    for i in 0..50 {
        let served = cache.get("only", &*loader).await.unwrap();
        let expected = if i == 0 {
            ServedFrom::Miss
        } else {
            ServedFrom::Hit
        };
        assert_eq!(served.from, expected, "request {i}");
        assert_eq!(served.value, b"row for only (load #1)");
        // Hits carry the envelope's load time, not their own.
        assert_eq!(
            *first_loaded_at.get_or_insert(served.loaded_at_ms),
            served.loaded_at_ms
        );
    }
    let m = cache.metrics().snapshot();
    assert_eq!((m.requests, m.misses, m.hits, m.db_queries), (50, 1, 49, 1));
    assert_eq!(loader.calls(), 1);
    assert_invariant(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_strategy_counts_exactly_over_many_keys() {
    const REQUESTS: usize = 400;
    const KEYS: usize = 20;
    let client = shared_client().await;

    // none: every request is a query.
    let loader = CountingLoader::new(1);
    let none = NoCache::new();
    let from = drive(&none, &*loader, REQUESTS, KEYS, 16).await;
    let m = none.metrics().snapshot();
    assert_eq!((m.requests, m.database, m.db_queries), (400, 400, 400));
    assert_eq!(count(&from, ServedFrom::Database), 400);
    assert_eq!(loader.calls(), 400);
    assert_invariant(&m);

    // cache-aside, sequential: exactly one miss per key.
    let loader = CountingLoader::new(1);
    let cache = CacheAside::new(client.clone(), prefix("ca-keys"), LONG_TTL_MS);
    drive(&cache, &*loader, REQUESTS, KEYS, 1).await;
    let m = cache.metrics().snapshot();
    assert_eq!(
        (m.requests, m.misses, m.hits, m.db_queries),
        (400, 20, 380, 20)
    );
    assert_invariant(&m);

    // cache-aside, concurrent: concurrent cold readers of a key all miss (no herd protection),
    // but every miss is exactly one query and everything else is a hit.
    let loader = CountingLoader::new(5);
    let cache = CacheAside::new(client.clone(), prefix("ca-conc"), LONG_TTL_MS);
    let from = drive(&cache, &*loader, REQUESTS, KEYS, 16).await;
    let m = cache.metrics().snapshot();
    assert!(m.misses >= KEYS as u64, "{m:?}");
    assert_eq!(m.misses, loader.calls());
    assert_eq!(m.db_queries, m.misses);
    assert_eq!(m.hits, 400 - m.misses);
    assert_eq!(count(&from, ServedFrom::Miss), m.misses);
    assert_invariant(&m);

    // swr, concurrent: the lock makes it exactly one query per key.
    let loader = CountingLoader::new(5);
    let swr = Swr::new(
        client.clone(),
        prefix("swr-conc"),
        45_000,
        LONG_TTL_MS,
        5_000,
    );
    let from = drive(&swr, &*loader, REQUESTS, KEYS, 16).await;
    let m = swr.metrics().snapshot();
    assert_eq!(
        (m.requests, m.misses, m.hits, m.db_queries),
        (400, 20, 380, 20)
    );
    assert_eq!((m.stale_serves, m.refreshes, m.redis_fallbacks), (0, 0, 0));
    assert_eq!(count(&from, ServedFrom::Hit), 380);
    assert_eq!(loader.calls(), 20);
    assert_invariant(&m);

    // xfetch, sequential, far from expiry: one miss per key, never an early recompute.
    let loader = CountingLoader::new(1);
    let xfetch = XFetch::new(client.clone(), prefix("xf-keys"), LONG_TTL_MS, 1.0);
    drive(&xfetch, &*loader, REQUESTS, KEYS, 1).await;
    let m = xfetch.metrics().snapshot();
    assert_eq!(
        (m.requests, m.misses, m.hits, m.db_queries),
        (400, 20, 380, 20)
    );
    assert_eq!(m.refreshes, 0);
    assert_invariant(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_aside_herd_of_200_cold_readers_queries_nearly_200_times() {
    let loader = CountingLoader::new(50);
    let cache = CacheAside::new(shared_client().await, prefix("ca-herd"), LONG_TTL_MS);
    let served = join_all((0..200).map(|_| cache.get("hot", &*loader))).await;
    assert!(served.iter().all(Result::is_ok));
    let m = cache.metrics().snapshot();
    assert!(loader.calls() > 100, "only {} loads: {m:?}", loader.calls());
    assert_eq!(m.db_queries, loader.calls());
    assert_eq!(m.misses, loader.calls());
    assert_invariant(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swr_herd_of_200_cold_readers_makes_exactly_one_query() {
    let loader = CountingLoader::new(50);
    let swr = Swr::new(
        shared_client().await,
        prefix("swr-herd"),
        45_000,
        LONG_TTL_MS,
        5_000,
    );
    let served = join_all((0..200).map(|_| swr.get("hot", &*loader))).await;
    let served: Vec<_> = served.into_iter().map(Result::unwrap).collect();
    assert_eq!(loader.calls(), 1);
    // Everyone got the one loaded value: the waiters re-checked the cache.
    assert!(served.iter().all(|s| s.value == b"row for hot (load #1)"));
    let m = swr.metrics().snapshot();
    assert_eq!(
        (m.requests, m.misses, m.hits, m.db_queries),
        (200, 1, 199, 1)
    );
    assert_eq!(m.lock_contention, 199);
    assert_eq!(m.redis_fallbacks, 0);
    assert_invariant(&m);
}

/// Warm one key, let it go stale, then send a herd of readers.
async fn stale_herd(swr: &Swr, loader: &CountingLoader, readers: usize) -> Vec<ServedFrom> {
    assert_eq!(swr.get("hot", loader).await.unwrap().from, ServedFrom::Miss);
    tokio::time::sleep(Duration::from_millis(150)).await;
    join_all((0..readers).map(|_| swr.get("hot", loader)))
        .await
        .into_iter()
        .map(|s| {
            let s = s.unwrap();
            assert_eq!(
                s.value, b"row for hot (load #1)",
                "the stale value, at once"
            );
            s.from
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swr_stale_herd_serves_200_stale_and_refreshes_once_in_the_background() {
    // The refresh is slow, so the whole herd reads while it runs.
    let loader = CountingLoader::new(500);
    let swr = Swr::new(
        shared_client().await,
        prefix("swr-stale"),
        100,
        LONG_TTL_MS,
        5_000,
    )
    .with_refresh_loader(loader.clone());
    let from = stale_herd(&swr, &loader, 200).await;
    assert_eq!(count(&from, ServedFrom::Stale), 200);
    // Served at once: the herd was done before the background refresh was.
    let m = swr.metrics().snapshot();
    assert_eq!((m.refreshes, m.refresh_max_us), (1, None), "{m:?}");

    let refreshed = tokio::time::timeout(Duration::from_secs(5), async {
        while loader.calls() < 2 || swr.metrics().snapshot().refresh_max_us.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(refreshed.is_ok(), "the background refresh never finished");
    let m = swr.metrics().snapshot();
    assert_eq!((m.requests, m.misses, m.stale_serves), (201, 1, 200));
    assert_eq!((m.refreshes, m.db_queries), (1, 2));
    assert_eq!(m.lock_contention, 199);
    assert!(m.refresh_p99_us.unwrap() >= 500_000, "{m:?}");
    assert_invariant(&m);

    // The refreshed value is now a fresh hit.
    let served = swr.get("hot", &*loader).await.unwrap();
    assert_eq!(served.from, ServedFrom::Hit);
    assert_eq!(served.value, b"row for hot (load #2)");
    assert_eq!(loader.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swr_without_an_owned_loader_refreshes_inline_once() {
    let loader = CountingLoader::new(100);
    let swr = Swr::new(
        shared_client().await,
        prefix("swr-inline"),
        100,
        LONG_TTL_MS,
        5_000,
    );
    let from = stale_herd(&swr, &loader, 50).await;
    assert_eq!(count(&from, ServedFrom::Stale), 50);
    let m = swr.metrics().snapshot();
    assert_eq!(
        (m.requests, m.stale_serves, m.refreshes, m.db_queries),
        (51, 50, 1, 2)
    );
    assert_invariant(&m);
}

#[tokio::test]
async fn xfetch_recomputes_before_expiry() {
    // delta (~20 ms) × beta (50) ≈ 1 s of head start against a 1 s TTL: readers recompute
    // early almost always, so after the warm-up miss the key never expires.
    let loader = CountingLoader::new(20);
    let xfetch = XFetch::new(shared_client().await, prefix("xf-early"), 1_000, 50.0);
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let mut requests = 0;
    while Instant::now() < deadline {
        xfetch.get("hot", &*loader).await.unwrap();
        requests += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let m = xfetch.metrics().snapshot();
    assert_eq!(m.requests, requests);
    assert_eq!(m.misses, 1, "only the warm-up misses: {m:?}");
    assert!(m.refreshes > 0, "{m:?}");
    assert_eq!(m.db_queries, m.misses + m.refreshes);
    assert!(m.refresh_max_us.is_some());
    assert_invariant(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_fail_open_when_redis_stops_mid_run() {
    let redis = EmbeddedRedis::builder()
        .start()
        .expect("start a private Redis");
    // The default 250 ms bound: what a bench run would use.
    let client = Arc::new(RedisClient::connect(&redis.url()).await.unwrap());
    let settings = CacheSettings {
        key_prefix: prefix("fail-open"),
        ..CacheSettings::default()
    };
    let loader = CountingLoader::new(1);
    let strategies: Vec<_> = [Strategy::CacheAside, Strategy::Swr, Strategy::Xfetch]
        .into_iter()
        .map(|name| match name {
            // swr with background refreshes, as the bench builds it.
            Strategy::Swr => {
                strategy_with_refresh_loader(name, Some(client.clone()), &settings, loader.clone())
            }
            _ => strategy(name, Some(client.clone()), &settings),
        })
        .collect::<Result<_, _>>()
        .unwrap();
    for s in &strategies {
        drive(&**s, &*loader, 20, 5, 4).await;
        assert_eq!(s.metrics().snapshot().redis_errors, 0, "{}", s.name());
    }

    redis.stop().unwrap();
    let started = Instant::now();
    for s in &strategies {
        let from = drive(&**s, &*loader, 20, 5, 4).await;
        let m = s.metrics().snapshot();
        assert_eq!(m.requests, 40, "{}", s.name());
        assert!(m.redis_errors > 0, "{}: {m:?}", s.name());
        assert_eq!(m.redis_fallbacks, 20, "{}: {m:?}", s.name());
        assert_eq!(count(&from, ServedFrom::RedisError), 20);
        assert_invariant(&m);
    }
    // 60 requests, 4 at a time, each bounded by the 250 ms timeout.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stalled_redis_costs_each_request_at_most_the_timeout() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let redis = EmbeddedRedis::builder()
        .start()
        .expect("start a private Redis");
    let pid = Pid::from_raw(redis.pid().unwrap() as i32);
    let timeout = Duration::from_millis(200);
    let client = Arc::new(
        RedisClient::connect_with_timeout(&redis.url(), timeout)
            .await
            .unwrap(),
    );
    let loader = CountingLoader::new(1);
    let cache = CacheAside::new(client.clone(), prefix("stalled"), LONG_TTL_MS);
    assert_eq!(
        cache.get("k", &*loader).await.unwrap().from,
        ServedFrom::Miss
    );

    // Stopped, not dead: the socket stays open and only our timeout ends the wait.
    kill(pid, Signal::SIGSTOP).unwrap();
    let started = Instant::now();
    let served = cache.get("k", &*loader).await;
    let elapsed = started.elapsed();
    kill(pid, Signal::SIGCONT).unwrap();

    assert_eq!(served.unwrap().from, ServedFrom::RedisError);
    assert!(elapsed < timeout * 3, "{elapsed:?}");
    let m = cache.metrics().snapshot();
    assert_eq!((m.misses, m.redis_fallbacks, m.redis_errors), (1, 1, 1));
    assert_invariant(&m);
    redis.stop().unwrap();
}

#[tokio::test]
async fn garbage_in_redis_is_a_miss_and_gets_overwritten() {
    let client = shared_client().await;
    let prefix = prefix("garbage");
    client
        .set_px(&format!("{prefix}k"), br#"{"fat": "json"}"#, LONG_TTL_MS)
        .await
        .unwrap();
    let loader = CountingLoader::new(1);
    let cache = CacheAside::new(client, prefix, LONG_TTL_MS);
    assert_eq!(
        cache.get("k", &*loader).await.unwrap().from,
        ServedFrom::Miss
    );
    assert_eq!(
        cache.get("k", &*loader).await.unwrap().from,
        ServedFrom::Hit
    );
    assert_eq!(loader.calls(), 1);
}

/// A database that is down.
#[derive(Debug)]
struct FailingLoader;

impl Loader for FailingLoader {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, LoadError>> {
        Box::pin(async move {
            Err(LoadError {
                key: key.to_string(),
                message: "connection refused".into(),
            })
        })
    }
}

#[tokio::test]
async fn a_failing_database_is_an_error_and_still_counted_once() {
    let client = shared_client().await;
    let settings = CacheSettings {
        key_prefix: prefix("db-down"),
        ..CacheSettings::default()
    };
    for name in Strategy::ALL {
        let strategy = strategy(name, Some(client.clone()), &settings).unwrap();
        for _ in 0..3 {
            let error = strategy.get("k", &FailingLoader).await.unwrap_err();
            assert_eq!(error.key, "k");
        }
        let m = strategy.metrics().snapshot();
        assert_eq!((m.requests, m.db_queries), (3, 3), "{name}: {m:?}");
        assert_invariant(&m);
    }
}

/// Answers once, then the database is down.
#[derive(Debug, Default)]
struct OnceThenFailing {
    calls: AtomicU64,
}

impl Loader for OnceThenFailing {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, LoadError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Ok(b"first".to_vec())
            } else {
                FailingLoader.load(key).await
            }
        })
    }
}

#[tokio::test]
async fn xfetch_serves_the_cached_value_when_an_early_recompute_fails() {
    // A huge beta: every read of a present key recomputes early.
    let xfetch = XFetch::new(shared_client().await, prefix("xf-fail"), LONG_TTL_MS, 1e12);
    let loader = OnceThenFailing::default();
    assert_eq!(
        xfetch.get("k", &loader).await.unwrap().from,
        ServedFrom::Miss
    );
    for _ in 0..3 {
        let served = xfetch.get("k", &loader).await.unwrap();
        assert_eq!(
            (served.from, served.value.as_slice()),
            (ServedFrom::Hit, &b"first"[..])
        );
    }
    let m = xfetch.metrics().snapshot();
    assert_eq!(
        (m.requests, m.misses, m.hits, m.refreshes, m.db_queries),
        (4, 1, 3, 3, 4)
    );
    assert_eq!(m.refresh_max_us, None, "no refresh completed");
    assert_invariant(&m);
}

#[tokio::test]
async fn connect_to_a_port_where_nothing_listens_fails_clearly() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let error = RedisClient::connect(&format!("redis://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            CacheError::Connect { .. } | CacheError::ConnectTimeout { .. }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn memory_usage_and_used_memory_report_bytes() {
    let client = shared_client().await;
    let prefix = prefix("memory");
    let key = format!("{prefix}k");
    client
        .set_px(&key, &[7u8; 1000], LONG_TTL_MS)
        .await
        .unwrap();
    let usage = client.memory_usage(&key).await.unwrap();
    assert!(usage.is_some_and(|bytes| bytes >= 1000), "{usage:?}");
    assert_eq!(
        client
            .memory_usage(&format!("{prefix}absent"))
            .await
            .unwrap(),
        None
    );
    let used = client.used_memory().await.unwrap();
    assert!(used.is_some_and(|bytes| bytes > 0), "{used:?}");
    assert_eq!(client.flush_prefix(&prefix).await.unwrap(), 1);
}

#[tokio::test]
async fn lock_helpers_and_flush_prefix_touch_only_their_keys() {
    let client = shared_client().await;
    let prefix = prefix("locks");
    let lock = format!("{prefix}lock:k");
    assert!(client.set_nx_px(&lock, b"mine", 5_000).await.unwrap());
    assert!(!client.set_nx_px(&lock, b"theirs", 5_000).await.unwrap());
    assert!(!client.compare_and_delete(&lock, b"theirs").await.unwrap());
    assert!(client.compare_and_delete(&lock, b"mine").await.unwrap());
    assert_eq!(client.get(&lock).await.unwrap(), None);

    let other = format!("{}other", prefix.trim_end_matches(':'));
    client.set_px(&other, b"keep", LONG_TTL_MS).await.unwrap();
    for i in 0..30 {
        client
            .set_px(&format!("{prefix}{i}"), b"v", LONG_TTL_MS)
            .await
            .unwrap();
    }
    assert_eq!(client.flush_prefix(&prefix).await.unwrap(), 30);
    assert_eq!(client.get(&other).await.unwrap(), Some(b"keep".to_vec()));
    assert!(client.del(&other).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_runs_cache_aside_and_swr_over_50_keys() {
    let cluster = tokio::task::spawn_blocking(EmbeddedRedisCluster::start)
        .await
        .unwrap()
        .expect("start an embedded Redis Cluster");
    assert_eq!(cluster.urls().len(), 3);
    // Both accepted cluster forms: the scheme, and a list of node URLs.
    let by_list = client_for(&cluster.urls().join(",")).await;
    assert!(by_list.is_cluster());
    let client = client_for(&cluster.cluster_url()).await;
    assert!(client.is_cluster());
    let prefix = prefix("cluster");

    let loader = CountingLoader::new(2);
    let cache = CacheAside::new(client.clone(), format!("{prefix}ca:"), LONG_TTL_MS);
    drive(&cache, &*loader, 100, 50, 1).await;
    let m = cache.metrics().snapshot();
    assert_eq!(
        (m.requests, m.misses, m.hits, m.db_queries),
        (100, 50, 50, 50)
    );
    assert_eq!(m.redis_errors, 0);
    assert_invariant(&m);

    let loader = CountingLoader::new(5);
    let swr = Swr::new(
        client.clone(),
        format!("{prefix}swr:"),
        45_000,
        LONG_TTL_MS,
        5_000,
    );
    drive(&swr, &*loader, 200, 50, 16).await;
    let m = swr.metrics().snapshot();
    assert_eq!(
        (m.requests, m.misses, m.hits, m.db_queries),
        (200, 50, 150, 50)
    );
    assert_eq!(m.redis_errors, 0);
    assert_invariant(&m);

    let usage = client
        .memory_usage(&format!("{prefix}ca:key-0"))
        .await
        .unwrap();
    assert!(usage.is_some_and(|bytes| bytes > 0), "{usage:?}");
    let used = client.used_memory().await.unwrap();
    assert!(used.is_some_and(|bytes| bytes > 0), "{used:?}");
    // 100 values; the swr locks were released.
    assert_eq!(client.flush_prefix(&prefix).await.unwrap(), 100);

    drop((client, by_list));
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap()
        .unwrap();
}
