//! `--invalidate notify`: a trigger that announces every changed key with
//! `pg_notify('pgdiag_invalidate', key)`, and a listener that deletes `<prefix><key>` in Redis.
//!
//! The trigger and its function are created for one run and always dropped afterwards (also on
//! error and on a stop: Ctrl-C, SIGTERM, SIGHUP). Only a killed process (SIGKILL, a crash, a lost
//! machine) leaves them, named `pgdiag_bench_invalidate_<pid>_<n>`; the next run removes them
//! ([`remove_leftovers`]). It tells a leftover from the trigger of a bench running right now
//! elsewhere by the advisory lock the creating session holds while it lives (see
//! `crate::pg::notify`): the server frees that lock when the owner's connection ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_postgres::Client;

use super::BenchError;
use super::redis_admin::RedisAdmin;
use super::report::Leftover;
use crate::pg::catalog::{self, RelationName};
use crate::pg::{ConnectionSettings, admin, notify};

pub const CHANNEL: &str = "pgdiag_invalidate";

/// Every trigger and function this module creates is named `<NAME_PREFIX><pid>_<n>`.
pub const NAME_PREFIX: &str = "pgdiag_bench_invalidate_";

/// How long removing a leftover may wait for its table's lock before giving up (and saying so).
const LEFTOVER_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// A second DEL this long after the first closes the cache-aside race where a reader that loaded
/// the old row before the commit stores it after the first DEL.
pub const SECOND_DELETE_AFTER: Duration = Duration::from_millis(50);

static TRIGGER_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The trigger and function this run created; call [`NotifyTrigger::remove`] when done. Its
/// connection holds the trigger's advisory lock for as long as it is open.
#[derive(Debug)]
pub struct NotifyTrigger {
    client: Client,
    table: RelationName,
    name: String,
}

impl NotifyTrigger {
    /// `table` is read as SQL reads a table name (`pricing`, `app.pricing`, `"Odd.Name"`), by the
    /// server itself, so any name it accepts works.
    pub async fn create(
        settings: &ConnectionSettings,
        table: &str,
        key_column: &str,
    ) -> Result<NotifyTrigger, BenchError> {
        let client = settings.connect().await?;
        let creating = |e: crate::pg::Error| {
            BenchError::Invalidation(format!("creating the trigger on {table}: {e}"))
        };
        let resolved = catalog::resolve_relation(&client, table)
            .await
            .map_err(creating)?
            .ok_or_else(|| {
                BenchError::Invalidation(format!("creating the trigger on {table}: no such table"))
            })?;
        let n = TRIGGER_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NAME_PREFIX}{}_{n}", std::process::id());
        notify::create_trigger(&client, &resolved, key_column, &name, CHANNEL)
            .await
            .map_err(creating)?;
        Ok(NotifyTrigger {
            client,
            table: resolved,
            name,
        })
    }

    /// The trigger's name in `pg_trigger` (its function has the same name in `pg_proc`).
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The table the trigger is on, as the catalog names it.
    pub fn table(&self) -> &RelationName {
        &self.table
    }

    /// Drop the trigger and its function.
    pub async fn remove(self) -> Result<(), BenchError> {
        notify::drop_trigger(&self.client, &self.table, &self.name)
            .await
            .map_err(|e| BenchError::Invalidation(format!("dropping the trigger: {e}")))
    }
}

/// Find the bench's triggers (and trigger functions) in the database `client` is connected to
/// whose creating session is gone, and drop them. A trigger whose owner still holds its lock (a
/// bench running now) is left alone. A leftover that cannot be dropped (not the table's owner, a
/// lock wait past 5 s) is reported with why, not an error: the run goes on.
pub async fn remove_leftovers(client: &Client) -> Result<Vec<Leftover>, BenchError> {
    let found = notify::triggers_named(client, NAME_PREFIX)
        .await
        .map_err(|e| BenchError::Invalidation(format!("looking for leftover triggers: {e}")))?;
    let mut leftovers = Vec::new();
    for trigger in found {
        let key = notify::trigger_lock_key(trigger.function_oid);
        // Taken only when its owner is gone; held while we drop, so nobody else races us.
        let orphaned = admin::try_advisory_lock(client, key)
            .await
            .map_err(|e| BenchError::Invalidation(format!("looking for leftover triggers: {e}")))?;
        if !orphaned {
            continue;
        }
        let dropped = notify::drop_named_trigger(client, &trigger, LEFTOVER_LOCK_TIMEOUT).await;
        let _ = admin::advisory_unlock(client, key).await;
        leftovers.push(Leftover {
            trigger: trigger.name.clone(),
            table: trigger.table.as_ref().map(|t| t.quoted()),
            function: crate::pg::quote_qualified(Some(&trigger.function_schema), &trigger.name),
            removed: dropped.is_ok(),
            error: dropped.err().map(|e| e.to_string()),
        });
    }
    Ok(leftovers)
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
        let (client, mut keys) = notify::listen(settings, CHANNEL).await?;
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
