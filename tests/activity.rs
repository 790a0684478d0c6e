//! What cache advice reads besides the workload (`pg::activity`), on a real server: a table's
//! write counters after known inserts, updates and deletes, a key column's distinct values, the
//! volatile functions among those a statement calls, row-level security.

use pgdiag::pg::activity::{counters_age, distinct_values, table_writes, volatile_functions};

use crate::support::database;

const SETUP: &str = "
    CREATE TABLE items (id int PRIMARY KEY, k int NOT NULL, name text NOT NULL);
    INSERT INTO items SELECT g, g % 50, 'i' || g FROM generate_series(1, 1000) g;
    ANALYZE items;
    UPDATE items SET name = 'changed' WHERE id <= 10;
    DELETE FROM items WHERE id > 995;
    CREATE TABLE private (id int PRIMARY KEY);
    ALTER TABLE private ENABLE ROW LEVEL SECURITY;
    CREATE FUNCTION roll() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 4';
    CREATE FUNCTION fixed() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 4';
";

#[tokio::test]
async fn write_counters_distinct_keys_volatility_and_row_security() {
    let (_url, client) = database("activity", SETUP).await;
    // The writer's counters reach shared memory when it goes idle after asking for a flush.
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    client.batch_execute("SELECT 1").await.unwrap();

    let mut writes = Vec::new();
    for _ in 0..50 {
        writes = table_writes(
            &client,
            &["items".into(), "public.private".into(), "nope".into()],
        )
        .await
        .unwrap();
        if writes.first().is_some_and(|w| w.writes == 1015) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(writes.len(), 2, "an unknown table is left out: {writes:?}");
    assert_eq!(writes[0].table, "items");
    assert_eq!(writes[0].writes, 1000 + 10 + 5, "{writes:?}");
    assert!(!writes[0].row_security);
    assert!(writes[1].row_security, "{writes:?}");

    assert_eq!(
        distinct_values(&client, "items", "k").await.unwrap(),
        Some(50.0)
    );
    // id is unique: n_distinct is -1, a share of the rows.
    let ids = distinct_values(&client, "public.items", "id")
        .await
        .unwrap()
        .unwrap();
    assert!((ids - 1000.0).abs() < 1.0, "{ids}");
    assert_eq!(
        distinct_values(&client, "items", "nope").await.unwrap(),
        None
    );

    let names: Vec<String> = ["roll", "fixed", "lower", "random", "now"]
        .map(String::from)
        .to_vec();
    assert_eq!(
        volatile_functions(&client, &names).await.unwrap(),
        ["random", "roll"]
    );
    assert!(counters_age(&client).await.unwrap() > std::time::Duration::ZERO);
}
