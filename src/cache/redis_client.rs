//! The one Redis client the strategies use: a single node through a reconnecting
//! `ConnectionManager`, or a Redis Cluster through the async cluster connection, behind the same
//! small set of operations. Every operation is bounded by a short timeout (250 ms by default), so
//! a dead or stalled Redis costs a request at most that long before the strategy fails open.
//!
//! Accepted URLs:
//! - `redis://host:port[/db]` (or `rediss://`, `unix://`): one node.
//! - `redis+cluster://host1:port1,host2:port2,...` (or `rediss+cluster://`): a cluster, given by
//!   any of its nodes (seeds); the rest are discovered.
//! - A comma-separated list of node URLs, `redis://h1:p1,redis://h2:p2` (a scheme-less
//!   `host:port` entry means `redis://host:port`): a cluster too, since a list only makes sense
//!   for one.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Value};

/// The longest expiry sent to Redis (a century): Redis refuses a `PX` that overflows its clock.
const MAX_TTL_MS: u64 = 100 * 365 * 86_400 * 1000;

/// The default bound on one Redis operation.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(250);

/// Deletes the key only while it still holds our lock token, so a refresher whose lock expired
/// cannot release a lock someone else now holds.
const COMPARE_AND_DELETE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// What a Redis operation can fail with. Strategies never surface these to callers (they fail
/// open); `connect` does.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid Redis URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("could not connect to Redis at {target}")]
    Connect {
        target: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("connecting to Redis at {target} timed out after {timeout_ms} ms")]
    ConnectTimeout { target: String, timeout_ms: u64 },
    #[error("Redis {op} timed out after {timeout_ms} ms")]
    Timeout { op: &'static str, timeout_ms: u64 },
    #[error("Redis {op} failed")]
    Command {
        op: &'static str,
        #[source]
        source: redis::RedisError,
    },
    #[error("Redis {op} returned an unexpected reply: {detail}")]
    UnexpectedReply { op: &'static str, detail: String },
    #[error("unknown cache strategy {name:?}; expected one of {names}", names = super::Strategy::names())]
    UnknownStrategy { name: String },
    #[error("cache strategy {name} needs a Redis client")]
    MissingClient { name: String },
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// One Redis node or a cluster; cheap to share behind an `Arc` (connections are multiplexed).
pub struct RedisClient {
    connection: Connection,
    /// Where we connected, for messages (never holds a password: see `redact`).
    target: String,
    op_timeout: Duration,
    compare_and_delete: redis::Script,
}

impl fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClient")
            .field("target", &self.target)
            .field("cluster", &self.is_cluster())
            .field("op_timeout", &self.op_timeout)
            .finish()
    }
}

/// How a URL string was read: one node, or the seeds of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    Single(String),
    Cluster(Vec<String>),
}

/// Parse the URL forms listed in the module docs. Only splits and rewrites schemes; each node URL
/// is then parsed by the `redis` crate.
pub fn parse_target(url: &str) -> Result<RedisTarget, CacheError> {
    let invalid = |reason: &str| CacheError::InvalidUrl {
        url: redact_url(url),
        reason: reason.to_string(),
    };
    let url = url.trim();
    if url.is_empty() {
        return Err(invalid("empty"));
    }
    let (cluster_scheme, rest) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
        (Some("redis"), rest)
    } else if let Some(rest) = url.strip_prefix("rediss+cluster://") {
        (Some("rediss"), rest)
    } else {
        (None, url)
    };
    let entries: Vec<&str> = rest
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.is_empty() {
        return Err(invalid("no host given"));
    }
    let default_scheme = cluster_scheme.unwrap_or("redis");
    let nodes: Vec<String> = entries
        .iter()
        .map(|entry| {
            if entry.contains("://") {
                entry.to_string()
            } else {
                format!("{default_scheme}://{entry}")
            }
        })
        .collect();
    if cluster_scheme.is_none() && nodes.len() == 1 {
        Ok(RedisTarget::Single(
            nodes.into_iter().next().unwrap_or_default(),
        ))
    } else {
        Ok(RedisTarget::Cluster(nodes))
    }
}

/// A Redis URL as the user gave it (password included), for connecting. Its `Display` and
/// `Debug` show it redacted ([`redact_url`]), so a struct holding one can derive `Debug` and a
/// message can format it without leaking the password; [`RedisUrl::expose`] (or deref to `str`)
/// gives the raw text to the client library only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn new(url: impl Into<String>) -> Self {
        RedisUrl(url.into())
    }

    /// The URL with its password, for the Redis client; never for messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for RedisUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for RedisUrl {
    fn from(url: String) -> Self {
        RedisUrl(url)
    }
}

impl From<&str> for RedisUrl {
    fn from(url: &str) -> Self {
        RedisUrl(url.to_owned())
    }
}

impl From<&String> for RedisUrl {
    fn from(url: &String) -> Self {
        RedisUrl(url.clone())
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({:?})", redact_url(&self.0))
    }
}

/// The URL without its password, for messages. Works on any text, parsable or not, and on the
/// comma-separated cluster forms: in every `userinfo@` (after a `scheme://`, else from the start)
/// whatever follows the first `:` is replaced by `***`, up to the last `@` of that node. The text
/// is never parsed and re-printed, so nothing of the password survives in any spelling
/// (percent-encoded, holding `@`, `,` or `/`); when in doubt more is hidden, never less.
pub fn redact_url(url: &str) -> String {
    // Each node starts after a `://`; the text before the first one is a node of its own
    // (a scheme-less `user:pw@host` entry).
    let mut starts = vec![0];
    starts.extend(url.match_indices("://").map(|(i, sep)| i + sep.len()));
    let mut out = String::with_capacity(url.len());
    let mut copied = 0;
    for (n, &start) in starts.iter().enumerate() {
        let end = starts
            .get(n + 1)
            .map_or(url.len(), |&next| next - "://".len());
        if start > end {
            continue;
        }
        let node = &url[start..end];
        let Some(at) = node.rfind('@') else {
            continue;
        };
        let userinfo = &node[..at];
        let Some(colon) = userinfo.find(':') else {
            // `user@host`: a user name, no password.
            continue;
        };
        let secret_start = start + colon + 1;
        out.push_str(&url[copied..secret_start]);
        out.push_str("***");
        copied = start + at;
    }
    out.push_str(&url[copied..]);
    out
}

impl RedisClient {
    /// Connect with the default 250 ms operation timeout. Connecting is eager: a Redis that is
    /// not there fails here, with the address in the message, rather than on the first request.
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        Self::connect_with_timeout(url, DEFAULT_OP_TIMEOUT).await
    }

    /// Connect; `op_timeout` bounds every later operation. Connecting itself is bounded by
    /// `max(1 s, 4 × op_timeout)`.
    pub async fn connect_with_timeout(url: &str, op_timeout: Duration) -> Result<Self, CacheError> {
        let target = parse_target(url)?;
        let connect_timeout = (op_timeout * 4).max(Duration::from_secs(1));
        let described = match &target {
            RedisTarget::Single(node) => redact_url(node),
            RedisTarget::Cluster(nodes) => {
                let nodes: Vec<String> = nodes.iter().map(|n| redact_url(n)).collect();
                format!("cluster {}", nodes.join(","))
            }
        };
        let connect_error = |source| CacheError::Connect {
            target: described.clone(),
            source,
        };
        let connecting = async {
            match &target {
                RedisTarget::Single(node) => {
                    let client = redis::Client::open(node.as_str()).map_err(connect_error)?;
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(op_timeout.max(Duration::from_millis(100))))
                        .set_response_timeout(Some(op_timeout))
                        .set_number_of_retries(2)
                        .set_max_delay(Duration::from_millis(200));
                    let manager = ConnectionManager::new_with_config(client, config)
                        .await
                        .map_err(connect_error)?;
                    Ok(Connection::Single(manager))
                }
                RedisTarget::Cluster(nodes) => {
                    let client = redis::cluster::ClusterClientBuilder::new(nodes.clone())
                        .connection_timeout(op_timeout.max(Duration::from_millis(100)))
                        .response_timeout(op_timeout)
                        .retries(2)
                        .build()
                        .map_err(connect_error)?;
                    let connection = client.get_async_connection().await.map_err(connect_error)?;
                    Ok(Connection::Cluster(connection))
                }
            }
        };
        let connection = tokio::time::timeout(connect_timeout, connecting)
            .await
            .map_err(|_| CacheError::ConnectTimeout {
                target: described.clone(),
                timeout_ms: connect_timeout.as_millis() as u64,
            })??;
        Ok(RedisClient {
            connection,
            target: described,
            op_timeout,
            compare_and_delete: redis::Script::new(COMPARE_AND_DELETE),
        })
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.connection, Connection::Cluster(_))
    }

    /// Where this client connected (password redacted).
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn op_timeout(&self) -> Duration {
        self.op_timeout
    }

    /// Run `op` on a clone of the (multiplexed) connection, bounded by the operation timeout.
    async fn bounded<T, F, Fut>(&self, op: &'static str, run: F) -> Result<T, CacheError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.op_timeout, run(self.connection.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(CacheError::Command { op, source }),
            Err(_) => Err(CacheError::Timeout {
                op,
                timeout_ms: self.op_timeout.as_millis() as u64,
            }),
        }
    }

    async fn query<T: FromRedisValue>(&self, op: &'static str, cmd: Cmd) -> Result<T, CacheError> {
        self.bounded(op, |connection| async move {
            match connection {
                Connection::Single(mut c) => cmd.query_async(&mut c).await,
                Connection::Cluster(mut c) => cmd.query_async(&mut c).await,
            }
        })
        .await
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.query("GET", redis::cmd("GET").arg(key).to_owned())
            .await
    }

    /// `SET key value PX ttl_ms`.
    pub async fn set_px(&self, key: &str, value: &[u8], ttl_ms: u64) -> Result<(), CacheError> {
        let cmd = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl_ms.clamp(1, MAX_TTL_MS))
            .to_owned();
        self.query::<()>("SET", cmd).await
    }

    /// `SET key value NX PX ttl_ms`: true when this call set it (took the lock).
    pub async fn set_nx_px(
        &self,
        key: &str,
        value: &[u8],
        ttl_ms: u64,
    ) -> Result<bool, CacheError> {
        let cmd = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.clamp(1, MAX_TTL_MS))
            .to_owned();
        // `OK` when set, nil when the key exists.
        let reply: Option<String> = self.query("SET NX", cmd).await?;
        Ok(reply.is_some())
    }

    /// `DEL key`: true when the key existed.
    pub async fn del(&self, key: &str) -> Result<bool, CacheError> {
        let removed: u64 = self
            .query("DEL", redis::cmd("DEL").arg(key).to_owned())
            .await?;
        Ok(removed > 0)
    }

    /// Delete `key` only if its value is still `token` (atomically, in Lua): true when deleted.
    pub async fn compare_and_delete(&self, key: &str, token: &[u8]) -> Result<bool, CacheError> {
        let script = &self.compare_and_delete;
        let removed: u64 = self
            .bounded("compare-and-delete", |connection| async move {
                let mut invocation = script.key(key);
                invocation.arg(token);
                match connection {
                    Connection::Single(mut c) => invocation.invoke_async(&mut c).await,
                    Connection::Cluster(mut c) => invocation.invoke_async(&mut c).await,
                }
            })
            .await?;
        Ok(removed > 0)
    }

    /// `MEMORY USAGE key`: bytes Redis spends on the key and its value, `None` when absent.
    pub async fn memory_usage(&self, key: &str) -> Result<Option<u64>, CacheError> {
        let cmd = redis::cmd("MEMORY").arg("USAGE").arg(key).to_owned();
        self.query("MEMORY USAGE", cmd).await
    }

    /// `used_memory` from `INFO memory`. On a cluster it is the sum over all masters (each
    /// master holds its own slots' keys, so the sum is the dataset's footprint; replicas are left
    /// out since they duplicate it). `None` if any node's reply lacks the field.
    pub async fn used_memory(&self) -> Result<Option<u64>, CacheError> {
        let info_cmd = || redis::cmd("INFO").arg("memory").to_owned();
        match &self.connection {
            Connection::Single(_) => {
                let info: String = self.query("INFO memory", info_cmd()).await?;
                Ok(parse_used_memory(&info))
            }
            Connection::Cluster(_) => {
                let reply = self
                    .bounded("INFO memory", |connection| async move {
                        let Connection::Cluster(mut c) = connection else {
                            unreachable!("matched a cluster connection above")
                        };
                        let routing =
                            RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                        c.route_command(info_cmd(), routing).await
                    })
                    .await?;
                let Value::Map(per_node) = reply else {
                    return Err(CacheError::UnexpectedReply {
                        op: "INFO memory",
                        detail: format!("expected a reply per node, got {reply:?}"),
                    });
                };
                let mut total = 0u64;
                for (_node, info) in per_node {
                    let info =
                        String::from_redis_value(info).map_err(|source| CacheError::Command {
                            op: "INFO memory",
                            source: source.into(),
                        })?;
                    match parse_used_memory(&info) {
                        Some(bytes) => total += bytes,
                        None => return Ok(None),
                    }
                }
                Ok(Some(total))
            }
        }
    }

    /// Delete every key starting with `prefix` (`SCAN MATCH` + `DEL`); returns how many went.
    /// On a cluster each master is scanned in turn (found with `CLUSTER NODES`). For cleanup
    /// between bench strategies, not for the hot path.
    pub async fn flush_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
        let pattern = format!("{}*", escape_glob(prefix));
        let nodes: Vec<Option<(String, u16)>> = match &self.connection {
            Connection::Single(_) => vec![None],
            Connection::Cluster(_) => self
                .cluster_masters()
                .await?
                .into_iter()
                .map(Some)
                .collect(),
        };
        let mut deleted = 0;
        for node in nodes {
            let mut cursor: u64 = 0;
            loop {
                let scan = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .to_owned();
                let (next, keys): (u64, Vec<String>) = match &node {
                    None => self.query("SCAN", scan).await?,
                    Some((host, port)) => {
                        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        });
                        let reply = self
                            .bounded("SCAN", |connection| async move {
                                let Connection::Cluster(mut c) = connection else {
                                    unreachable!("only cluster nodes are listed")
                                };
                                c.route_command(scan, routing).await
                            })
                            .await?;
                        FromRedisValue::from_redis_value(reply).map_err(|source| {
                            CacheError::Command {
                                op: "SCAN",
                                source: source.into(),
                            }
                        })?
                    }
                };
                // One DEL per key: on a cluster the keys of one scan span many slots.
                for key in keys {
                    if self.del(&key).await? {
                        deleted += 1;
                    }
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    /// The masters' addresses, from `CLUSTER NODES`.
    async fn cluster_masters(&self) -> Result<Vec<(String, u16)>, CacheError> {
        let nodes: String = self
            .query(
                "CLUSTER NODES",
                redis::cmd("CLUSTER").arg("NODES").to_owned(),
            )
            .await?;
        Ok(parse_cluster_masters(&nodes))
    }
}

/// The `used_memory:N` line of `INFO memory`.
fn parse_used_memory(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
}

/// `<id> <ip:port@bus[,hostname]> <flags> ...` lines; keep healthy masters.
fn parse_cluster_masters(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _id = fields.next()?;
            let address = fields.next()?;
            let flags = fields.next()?;
            let healthy_master = flags.split(',').any(|f| f == "master") && !flags.contains("fail");
            if !healthy_master {
                return None;
            }
            let host_port = address.split(['@', ',']).next()?;
            let (host, port) = host_port.rsplit_once(':')?;
            Some((host.to_string(), port.parse().ok()?))
        })
        .collect()
}

/// Escape `SCAN MATCH` glob characters so a prefix matches literally.
fn escape_glob(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_urls() {
        assert_eq!(
            parse_target("redis://127.0.0.1:6379/").unwrap(),
            RedisTarget::Single("redis://127.0.0.1:6379/".into())
        );
    }

    #[test]
    fn cluster_urls_by_scheme_or_list() {
        let expected = RedisTarget::Cluster(vec![
            "redis://10.0.0.1:7000".into(),
            "redis://10.0.0.2:7001".into(),
        ]);
        assert_eq!(
            parse_target("redis+cluster://10.0.0.1:7000,10.0.0.2:7001").unwrap(),
            expected
        );
        assert_eq!(
            parse_target("redis://10.0.0.1:7000, redis://10.0.0.2:7001").unwrap(),
            expected
        );
        assert_eq!(
            parse_target("redis+cluster://10.0.0.1:7000").unwrap(),
            RedisTarget::Cluster(vec!["redis://10.0.0.1:7000".into()])
        );
        assert!(matches!(
            parse_target(" , "),
            Err(CacheError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn messages_redact_passwords() {
        let error = parse_target("").unwrap_err().to_string();
        assert!(error.contains("empty"), "{error}");
        assert_eq!(
            redact_url("redis://user:secret@host:6379/"),
            "redis://user:***@host:6379/"
        );
    }

    #[test]
    fn redaction_covers_unparsable_and_cluster_urls() {
        let cases = [
            ("redis://host:6379/0", "redis://host:6379/0"),
            ("redis://user@host", "redis://user@host"),
            ("redis://:secret@h:notaport", "redis://:***@h:notaport"),
            (
                "redis://:secret@h1:6379,redis://:secret@h2:6380",
                "redis://:***@h1:6379,redis://:***@h2:6380",
            ),
            (
                "redis+cluster://u:secret@h1:1,h2:2",
                "redis+cluster://u:***@h1:1,h2:2",
            ),
            // A password on a scheme-less second node hides the first node too: more, never less.
            (
                "redis+cluster://:secret@h1:1,:secret@h2:2",
                "redis+cluster://:***@h2:2",
            ),
            ("rediss://u:secret@[bad", "rediss://u:***@[bad"),
            ("rediss://u:se%40cr@t@h", "rediss://u:***@h"),
            ("u:secret@h:6379", "u:***@h:6379"),
            ("redis://:secret/with/slash@h", "redis://:***@h"),
            ("", ""),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "{url}");
        }
        for bad in [
            "redis://:secret@h1:6379,redis://:secret@[x",
            "redis+cluster://:secret@",
            "redis://:secret@",
        ] {
            if let Err(e) = parse_target(bad) {
                assert!(!e.to_string().contains("secret"), "{e}");
            }
            assert!(!redact_url(bad).contains("secret"), "{bad}");
            assert!(
                !format!("{:?}", redact_url(bad)).contains("secret"),
                "{bad}"
            );
        }
    }

    #[test]
    fn used_memory_and_masters_parse() {
        assert_eq!(
            parse_used_memory("# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n"),
            Some(1_048_576)
        );
        assert_eq!(parse_used_memory("# Memory\r\n"), None);
        let nodes = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
                     b2 127.0.0.1:7001@17001,host master - 0 0 2 connected 5461-10922\n\
                     c3 127.0.0.1:7002@17002 slave a1 0 0 1 connected\n\
                     d4 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected\n";
        assert_eq!(
            parse_cluster_masters(nodes),
            vec![("127.0.0.1".into(), 7000), ("127.0.0.1".into(), 7001)]
        );
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("pgdiag:bench:"), "pgdiag:bench:");
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
