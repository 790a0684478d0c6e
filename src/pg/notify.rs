//! LISTEN/NOTIFY: a row trigger that announces every changed key on a channel, and a connection
//! that listens to it. `bench --invalidate notify` builds its cache invalidation on these.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client};

use super::catalog::RelationName;
use super::{ConnectionSettings, Error, quote_ident};

/// A string literal (`'...'`, quotes doubled); `standard_conforming_strings` is on since 9.1.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The function `name` and the row trigger `name` on `table` that `pg_notify(channel, key)` with
/// the old and the new text value of `key_column` on every insert, update (when the key changed,
/// both) and delete. Created in one committed transaction: both or neither.
pub async fn create_trigger(
    client: &Client,
    table: &RelationName,
    key_column: &str,
    name: &str,
    channel: &str,
) -> Result<(), Error> {
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
    let name = quote_ident(name);
    let sql = format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS {tag}{body}{tag};
CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {name}();",
        table = table.quoted(),
    );
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
    let (client, mut connection) =
        settings
            .config()
            .connect(tls)
            .await
            .map_err(|e| Error::Connect {
                target: settings.describe(),
                source: e,
            })?;
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
