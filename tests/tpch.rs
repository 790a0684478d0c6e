//! The TPC-H fixtures `scripts/bench-tpch` measures with: the schema has primary keys only, the
//! index-every-FK baseline adds one index per foreign key, and each of the 22 query files is one
//! read-only statement that runs on that schema (on empty tables: the data is the script's).

use crate::support::{database, fixture, pgdiag};

fn read(path: &str) -> String {
    std::fs::read_to_string(fixture(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// (table, indexed columns, is the primary key) of every index in the public schema, sorted.
async fn indexes(client: &tokio_postgres::Client) -> Vec<(String, String, bool)> {
    let rows = client
        .query(
            "SELECT t.relname::text,
                    (SELECT string_agg(a.attname, ',' ORDER BY k.n)
                       FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum),
                    i.indisprimary
               FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
              WHERE t.relnamespace = 'public'::regnamespace
              ORDER BY 1, 2",
            &[],
        )
        .await
        .expect("list indexes");
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn tpch_schema_has_primary_keys_only_and_the_fk_baseline_one_index_per_foreign_key() {
    let (_url, client) = database("tpch_schema", &read("fixtures/tpch/schema.sql")).await;
    let owned = |v: &[(&str, &str, bool)]| -> Vec<(String, String, bool)> {
        v.iter()
            .map(|(t, c, p)| (t.to_string(), c.to_string(), *p))
            .collect()
    };
    let primary_keys = [
        ("customer", "c_custkey", true),
        ("lineitem", "l_orderkey,l_linenumber", true),
        ("nation", "n_nationkey", true),
        ("orders", "o_orderkey", true),
        ("part", "p_partkey", true),
        ("partsupp", "ps_partkey,ps_suppkey", true),
        ("region", "r_regionkey", true),
        ("supplier", "s_suppkey", true),
    ];
    assert_eq!(indexes(&client).await, owned(&primary_keys));

    client
        .batch_execute(&read("fixtures/tpch/fk-indexes.sql"))
        .await
        .expect("fk-indexes.sql");
    let mut expected = owned(&primary_keys);
    expected.extend(owned(&[
        ("customer", "c_nationkey", false),
        ("lineitem", "l_partkey,l_suppkey", false),
        ("lineitem", "l_suppkey", false),
        ("nation", "n_regionkey", false),
        ("orders", "o_custkey", false),
        ("partsupp", "ps_suppkey", false),
        ("supplier", "s_nationkey", false),
    ]));
    expected.sort();
    assert_eq!(indexes(&client).await, expected);
}

#[tokio::test]
async fn the_22_tpch_queries_are_one_read_only_statement_each_and_run_on_the_schema() {
    let (url, _client) = database("tpch_queries", &read("fixtures/tpch/schema.sql")).await;
    let dir = fixture("fixtures/tpch/queries");
    let run = pgdiag(&[
        "explain",
        "--dsn",
        &url,
        "--format",
        "json",
        dir.to_str().expect("UTF-8 path"),
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let statements = report["statements"].as_array().expect("statements");
    let sources: Vec<&str> = statements
        .iter()
        .map(|s| s["source"].as_str().expect("source"))
        .collect();
    let expected: Vec<String> = (1..=22).map(|n| format!("q{n:02}.sql")).collect();
    assert_eq!(sources.len(), 22, "one statement per file: {sources:?}");
    for (source, file) in sources.iter().zip(&expected) {
        assert!(source.ends_with(file.as_str()), "{source} is not {file}");
    }
    for s in statements {
        assert!(s["error"].is_null(), "{}: {}", s["source"], s["error"]);
        assert_eq!(s["analyzed"], true, "{}", s["source"]);
        assert_eq!(s["writes"], false, "{}", s["source"]);
    }
}
