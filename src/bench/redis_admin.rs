//! The benchmark's own Redis connection: checking Redis is there, measuring memory, clearing the
//! benchmark's key prefix and deleting invalidated keys. Strategies use their own connections.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::BenchError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection manager for `url`, failing fast (one attempt, 3 s) when Redis is not there.
pub async fn connection_manager(url: &str) -> Result<ConnectionManager, BenchError> {
    let target = redact(url);
    let error = |message: String| BenchError::Redis {
        target: target.clone(),
        message,
    };
    let client = redis::Client::open(url).map_err(|e| error(e.to_string()))?;
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(Duration::from_secs(5)));
    match tokio::time::timeout(
        CONNECT_TIMEOUT * 2,
        client.get_connection_manager_with_config(config),
    )
    .await
    {
        Ok(Ok(manager)) => Ok(manager),
        Ok(Err(e)) => Err(error(e.to_string())),
        Err(_) => Err(error("no answer within 6 s".into())),
    }
}

/// `url` without its password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The benchmark's administrative Redis connection.
#[derive(Clone)]
pub struct RedisAdmin {
    conn: ConnectionManager,
    target: String,
}

impl std::fmt::Debug for RedisAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdmin")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl RedisAdmin {
    /// Connect and `PING`: an unreachable Redis is an error here, before any work starts.
    pub async fn connect(url: &str) -> Result<RedisAdmin, BenchError> {
        let admin = RedisAdmin {
            conn: connection_manager(url).await?,
            target: redact(url),
        };
        let _: String = admin.query(redis::cmd("PING")).await?;
        Ok(admin)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, BenchError> {
        let mut conn = self.conn.clone();
        cmd.query_async::<T>(&mut conn)
            .await
            .map_err(|e| BenchError::Redis {
                target: self.target.clone(),
                message: e.to_string(),
            })
    }

    /// `used_memory` from `INFO memory`.
    pub async fn used_memory(&self) -> Result<u64, BenchError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("memory");
        let info: String = self.query(cmd).await?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// `MEMORY USAGE key`: bytes the key and its value take, `None` when the key is absent.
    pub async fn memory_usage(&self, key: &str) -> Result<Option<u64>, BenchError> {
        let mut cmd = redis::cmd("MEMORY");
        cmd.arg("USAGE").arg(key);
        self.query(cmd).await
    }

    pub async fn del(&self, keys: &[String]) -> Result<u64, BenchError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut cmd = redis::cmd("DEL");
        cmd.arg(keys);
        self.query(cmd).await
    }

    /// Delete every key under `prefix` (SCAN, so Redis is never blocked by KEYS).
    pub async fn clear_prefix(&self, prefix: &str) -> Result<u64, BenchError> {
        let pattern = format!("{}*", escape_glob(prefix));
        let mut cursor = 0u64;
        let mut deleted = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<String>) = self.query(cmd).await?;
            deleted += self.del(&keys).await?;
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
