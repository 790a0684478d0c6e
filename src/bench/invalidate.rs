//! `--invalidate notify`: a trigger that announces every changed key with
//! `pg_notify('pgdiag_invalidate', key)`, and a listener that deletes `<prefix><key>` in Redis.
//!
//! The trigger and its function are created for one run and always dropped afterwards (also on
//! error or Ctrl-C; only a killed process leaves them, named `pgdiag_bench_invalidate_<pid>_<n>`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client};

use super::BenchError;
use super::redis_admin::RedisAdmin;
use crate::pg::{ConnectionSettings, quote_ident};

pub const CHANNEL: &str = "pgdiag_invalidate";

/// A second DEL this long after the first closes the cache-aside race where a reader that loaded
/// the old row before the commit stores it after the first DEL.
const SECOND_DELETE_AFTER: Duration = Duration::from_millis(50);

static TRIGGER_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `schema.table` or `table`, each part quoted.
fn quote_qualified(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// The trigger and function this run created; call [`NotifyTrigger::remove`] when done.
#[derive(Debug)]
pub struct NotifyTrigger {
    client: Client,
    table: String,
    trigger: String,
    function: String,
}

impl NotifyTrigger {
    pub async fn create(
        settings: &ConnectionSettings,
        table: &str,
        key_column: &str,
    ) -> Result<NotifyTrigger, BenchError> {
        let client = settings.connect().await?;
        let n = TRIGGER_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("pgdiag_bench_invalidate_{}_{n}", std::process::id());
        let trigger = NotifyTrigger {
            client,
            table: quote_qualified(table),
            trigger: quote_ident(&name),
            function: quote_ident(&name),
        };
        let column = quote_ident(key_column);
        let sql = format!(
            "BEGIN;
CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $pgdiag$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM pg_notify('{CHANNEL}', OLD.{column}::text);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.{column} IS DISTINCT FROM OLD.{column}) THEN
    PERFORM pg_notify('{CHANNEL}', NEW.{column}::text);
  END IF;
  RETURN NULL;
END
$pgdiag$;
CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {function}();
COMMIT;",
            function = trigger.function,
            trigger = trigger.trigger,
            table = trigger.table,
        );
        if let Err(e) = trigger.client.batch_execute(&sql).await {
            let _ = trigger.client.batch_execute("ROLLBACK").await;
            return Err(BenchError::Invalidation(format!(
                "creating the trigger on {table}: {}",
                crate::pg::Error::from(e)
            )));
        }
        Ok(trigger)
    }

    /// The trigger's name in `pg_trigger`.
    pub fn name(&self) -> String {
        self.trigger.trim_matches('"').to_owned()
    }

    /// Drop the trigger and its function.
    pub async fn remove(self) -> Result<(), BenchError> {
        let sql = format!(
            "DROP TRIGGER IF EXISTS {} ON {}; DROP FUNCTION IF EXISTS {}();",
            self.trigger, self.table, self.function
        );
        self.client.batch_execute(&sql).await.map_err(|e| {
            BenchError::Invalidation(format!(
                "dropping the trigger: {}",
                crate::pg::Error::from(e)
            ))
        })
    }
}

/// The LISTEN connection and the task that deletes invalidated keys; stops when dropped.
#[derive(Debug)]
pub struct Listener {
    _client: Client,
    deleter: tokio::task::JoinHandle<()>,
    pub received: std::sync::Arc<AtomicU64>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.deleter.abort();
    }
}

impl Listener {
    pub async fn start(
        settings: &ConnectionSettings,
        admin: RedisAdmin,
        prefix: String,
    ) -> Result<Listener, BenchError> {
        let tls = settings.tls_connector()?;
        let (client, mut connection) =
            settings
                .config()
                .connect(tls)
                .await
                .map_err(|e| crate::pg::Error::Connect {
                    target: settings.describe(),
                    source: e,
                })?;
        let (sender, mut keys) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) if n.channel() == CHANNEL => {
                        if sender.send(n.payload().to_owned()).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| BenchError::Postgres(e.into()))?;
        let received = std::sync::Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let deleter = tokio::spawn(async move {
            while let Some(key) = keys.recv().await {
                counter.fetch_add(1, Ordering::Relaxed);
                let redis_key = vec![super::strategies::redis_key(&prefix, &key)];
                let _ = admin.del(&redis_key).await;
                let admin = admin.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(SECOND_DELETE_AFTER).await;
                    let _ = admin.del(&redis_key).await;
                });
            }
        });
        Ok(Listener {
            _client: client,
            deleter,
            received,
        })
    }
}
