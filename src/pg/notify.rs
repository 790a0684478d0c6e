//! LISTEN/NOTIFY: a row trigger that announces every changed key on a channel, and a connection
//! that listens to it. `bench --invalidate notify` builds its cache invalidation on these.
//!
//! The session that creates a trigger holds a session-level advisory lock keyed by the trigger
//! function's oid ([`trigger_lock_key`]) for as long as it lives, so another session can tell a
//! trigger whose owner is still running from one left behind by a killed process: the server
//! releases the lock when the owner's connection ends, however it ends.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client};

use super::catalog::RelationName;
use super::{ConnectionSettings, Error, quote_ident};

/// A string literal (`'...'`, quotes doubled); `standard_conforming_strings` is on since 9.1.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The high 32 bits of every trigger lock key (`PGDB`); the low 32 are the function's oid.
const TRIGGER_LOCK_CLASS: i64 = 0x5047_4442;

/// The advisory lock a trigger's creating session holds while it lives.
pub fn trigger_lock_key(function_oid: u32) -> i64 {
    (TRIGGER_LOCK_CLASS << 32) | i64::from(function_oid)
}

/// The function `name` and the row trigger `name` on `table` that `pg_notify(channel, key)` with
/// the old and the new text value of `key_column` on every insert, update (when the key changed,
/// both) and delete. Created in one committed transaction: both or neither; and before that
/// transaction commits this session takes the session-level advisory lock
/// [`trigger_lock_key`]`(function oid)`, so no other session ever sees the trigger unlocked while
/// this one lives. Returns the function's oid.
pub async fn create_trigger(
    client: &Client,
    table: &RelationName,
    key_column: &str,
    name: &str,
    channel: &str,
) -> Result<u32, Error> {
    let column = quote_ident(key_column);
    let channel = quote_literal(channel);
    let body = format!(
        "
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM pg_notify({channel}, OLD.{column}::text);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.{column} IS DISTINCT FROM OLD.{column}) THEN
    PERFORM pg_notify({channel}, NEW.{column}::text);
  END IF;
  RETURN NULL;
END
"
    );
    // A quoted name may contain the dollar-quote tag; pick one the body does not.
    let mut tag = "$pgdiag$".to_string();
    let mut n = 0;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$pgdiag{n}$");
    }
    let sql = format!(
        "CREATE FUNCTION {quoted}() RETURNS trigger LANGUAGE plpgsql AS {tag}{body}{tag};
CREATE TRIGGER {quoted} AFTER INSERT OR UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {quoted}();",
        quoted = quote_ident(name),
        table = table.quoted(),
    );
    super::tx::committed(client, async |client| {
        client.batch_execute(&sql).await?;
        let row = client
            .query_one(
                "SELECT tgfoid FROM pg_trigger WHERE tgrelid = $1::text::regclass AND tgname = $2",
                &[&table.quoted(), &name],
            )
            .await?;
        let oid: u32 = row.get(0);
        client
            .execute(
                "SELECT pg_advisory_lock($1)::text",
                &[&trigger_lock_key(oid)],
            )
            .await?;
        Ok::<_, Error>(oid)
    })
    .await
}

/// A trigger function named like the bench's (`<prefix>%`) and its trigger, if it still has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedTrigger {
    pub function_oid: u32,
    pub function_schema: String,
    pub name: String,
    /// The table the trigger is on; `None` for a function without a trigger.
    pub table: Option<RelationName>,
}

/// Every trigger function whose name starts with `prefix`, with the trigger of the same name
/// that calls it (if any), in this database. None on a standby: its catalog is the primary's,
/// whose sessions' locks it cannot see, and only the primary can drop them.
pub async fn triggers_named(client: &Client, prefix: &str) -> Result<Vec<NamedTrigger>, Error> {
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows = client
        .query(
            "SELECT p.oid, n.nspname::text, p.proname::text, tn.nspname::text, c.relname::text
             FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             LEFT JOIN pg_trigger t ON t.tgfoid = p.oid AND t.tgname = p.proname
             LEFT JOIN pg_class c ON c.oid = t.tgrelid
             LEFT JOIN pg_namespace tn ON tn.oid = c.relnamespace
             WHERE p.proname LIKE $1 AND p.prorettype = 'trigger'::regtype
               AND NOT pg_is_in_recovery()
             ORDER BY p.proname, p.oid",
            &[&pattern],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| NamedTrigger {
            function_oid: row.get(0),
            function_schema: row.get(1),
            name: row.get(2),
            table: match (
                row.get::<_, Option<String>>(3),
                row.get::<_, Option<String>>(4),
            ) {
                (Some(schema), Some(name)) => Some(RelationName { schema, name }),
                _ => None,
            },
        })
        .collect())
}

/// Drop a trigger found by [`triggers_named`] and its function, together, waiting at most
/// `lock_timeout` for the table (a long transaction on it must not hang the caller).
pub async fn drop_named_trigger(
    client: &Client,
    trigger: &NamedTrigger,
    lock_timeout: std::time::Duration,
) -> Result<(), Error> {
    let name = quote_ident(&trigger.name);
    let mut sql = format!(
        "SET LOCAL lock_timeout = '{}ms';",
        lock_timeout.as_millis().max(1)
    );
    if let Some(table) = &trigger.table {
        sql.push_str(&format!(
            " DROP TRIGGER IF EXISTS {name} ON {table};",
            table = table.quoted()
        ));
    }
    sql.push_str(&format!(
        " DROP FUNCTION IF EXISTS {}();",
        super::quote_qualified(Some(&trigger.function_schema), &trigger.name)
    ));
    super::tx::committed(client, async |client| {
        client.batch_execute(&sql).await.map_err(Error::from)
    })
    .await
}

/// Drop what [`create_trigger`] created (if it still exists).
pub async fn drop_trigger(client: &Client, table: &RelationName, name: &str) -> Result<(), Error> {
    let name = quote_ident(name);
    client
        .batch_execute(&format!(
            "DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();",
            table = table.quoted()
        ))
        .await?;
    Ok(())
}

/// A new connection that LISTENs on `channel`. The payload of every notification arrives on the
/// receiver for as long as the returned client lives.
pub async fn listen(
    settings: &ConnectionSettings,
    channel: &str,
) -> Result<(Client, mpsc::UnboundedReceiver<String>), Error> {
    let tls = settings.tls_connector()?;
    let (client, mut connection) = settings
        .config()
        .connect(tls)
        .await
        .map_err(|e| settings.connect_error(e))?;
    let (sender, payloads) = mpsc::unbounded_channel::<String>();
    let wanted = channel.to_owned();
    tokio::spawn(async move {
        // Notifications come only through the connection's message stream, so this task drives
        // the connection (which `ConnectionSettings::connect` would otherwise do).
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) if n.channel() == wanted => {
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
        .batch_execute(&format!("LISTEN {}", quote_ident(channel)))
        .await?;
    Ok((client, payloads))
}
