//! Every piece of SQL pgdiag proposes runs: over a corpus of statements written to trip a
//! condition reader (self-joins under aliases, correlated EXISTS / NOT EXISTS, LATERAL, CTEs,
//! subqueries in WHERE, `$n` parameters with and without values, quoted mixed-case names), each
//! suggestion's DDL (`suggest`), each finding's copy-paste SQL and suggested index (`explain`) is
//! executed on the throwaway cluster inside a transaction that is rolled back. A predicate naming
//! another relation's column, an expression over two tables or an unquoted mixed-case name fails
//! here as the server's error, with the statement that produced it.

use serde_json::Value;

use crate::support::{database, pgdiag, temp_file};

const SETUP: &str = r#"
CREATE SCHEMA "Sales";
CREATE TABLE "Sales"."Order Items" (
    id int PRIMARY KEY,
    "Order Id" int NOT NULL,
    sku int NOT NULL,
    qty int NOT NULL,
    "Status" text NOT NULL,
    shipped date NOT NULL,
    "Due" date NOT NULL,
    flagged boolean NOT NULL,
    note text
);
INSERT INTO "Sales"."Order Items"
SELECT g, 1 + g % 20000, 1 + (g * 7) % 500, 1 + g % 9,
       CASE WHEN g % 100 = 0 THEN 'held' ELSE 'done' END,
       date '2024-01-01' + (g % 365), date '2024-01-01' + (g % 365) + (g % 5) - 2,
       g % 250 = 0, CASE WHEN g % 3 = 0 THEN 'x' END
  FROM generate_series(1, 120000) g;
CREATE INDEX "Order Items_Order Id_idx" ON "Sales"."Order Items" ("Order Id");
CREATE TABLE "Sales"."Orders" (
    id int PRIMARY KEY,
    "Customer" int NOT NULL,
    placed date NOT NULL,
    priority text NOT NULL
);
INSERT INTO "Sales"."Orders"
SELECT g, 1 + g % 3000, date '2024-01-01' + (g % 365),
       CASE WHEN g % 50 = 0 THEN 'URGENT' ELSE 'LOW' END
  FROM generate_series(1, 20000) g;
CREATE TABLE "Customers" (id int PRIMARY KEY, "Name" text NOT NULL, region int NOT NULL);
INSERT INTO "Customers" SELECT g, 'C' || g, g % 25 FROM generate_series(1, 3000) g;
ALTER TABLE "Sales"."Order Items" SET (parallel_workers = 0);
ALTER TABLE "Sales"."Orders" SET (parallel_workers = 0);
"#;

/// The corpus: each statement is one the readers of conditions could get wrong.
const STATEMENTS: &[&str] = &[
    // A self-join under aliases, with a condition between the two sides.
    r#"SELECT a.id FROM "Sales"."Order Items" a JOIN "Sales"."Order Items" b ON b."Order Id" = a."Order Id" AND b.sku <> a.sku WHERE a."Status" = 'held' AND a.qty = 3"#,
    // TPC-H q21's shape: correlated EXISTS and NOT EXISTS over the same table.
    r#"SELECT count(*) FROM "Sales"."Order Items" l1 WHERE l1."Due" < l1.shipped AND EXISTS (SELECT 1 FROM "Sales"."Order Items" l2 WHERE l2."Order Id" = l1."Order Id" AND l2.sku <> l1.sku) AND NOT EXISTS (SELECT 1 FROM "Sales"."Order Items" l3 WHERE l3."Order Id" = l1."Order Id" AND l3.sku <> l1.sku AND l3."Due" < l3.shipped)"#,
    // LATERAL, correlated with the outer row.
    r#"SELECT o.id, x.qty FROM "Sales"."Orders" o CROSS JOIN LATERAL (SELECT i.qty FROM "Sales"."Order Items" i WHERE i."Order Id" = o.id AND i.qty > o."Customer" % 5 ORDER BY i.qty DESC LIMIT 1) x WHERE o.priority = 'URGENT'"#,
    // A materialized CTE joined back.
    r#"WITH recent AS MATERIALIZED (SELECT * FROM "Sales"."Orders" WHERE placed > date '2024-11-01') SELECT count(*) FROM recent r JOIN "Sales"."Order Items" i ON i."Order Id" = r.id WHERE i."Status" = 'held'"#,
    // TPC-H q17's shape: the same table unaliased in a correlated subquery (the planner names it
    // "Order Items_1").
    r#"SELECT sum("Order Items".qty) FROM "Sales"."Order Items" JOIN "Sales"."Orders" o ON o.id = "Order Items"."Order Id" WHERE o.priority = 'URGENT' AND o.id < 500 AND "Order Items".qty < (SELECT 0.5 * avg(qty) FROM "Sales"."Order Items" WHERE sku = o."Customer" % 500)"#,
    // Subqueries in WHERE: IN, NOT IN, a scalar subquery.
    r#"SELECT * FROM "Sales"."Orders" WHERE id IN (SELECT "Order Id" FROM "Sales"."Order Items" WHERE flagged AND "Status" = 'held')"#,
    r#"SELECT count(*) FROM "Customers" c WHERE c.id NOT IN (SELECT "Customer" FROM "Sales"."Orders" WHERE priority = 'URGENT') AND c.region = 3"#,
    r#"SELECT * FROM "Sales"."Order Items" WHERE qty = (SELECT max(qty) FROM "Sales"."Order Items" WHERE sku = 7) AND sku = 7"#,
    // `$n`: with values from the comment, then without (a generic plan).
    "-- pgdiag: params 7, 2024-03-01\nSELECT * FROM \"Sales\".\"Orders\" WHERE \"Customer\" = $1 AND placed >= $2::date",
    // A rare flag next to another key (a partial index), a rare status.
    r#"SELECT id, qty FROM "Sales"."Order Items" WHERE flagged AND sku = 17"#,
    r#"SELECT id FROM "Sales"."Order Items" WHERE "Status" = 'held' AND qty = 4"#,
    // Through an index, then a filter that throws most rows away.
    r#"SELECT * FROM "Sales"."Order Items" WHERE "Order Id" BETWEEN 100 AND 900 AND "Status" = 'held'"#,
    // An expression, a sort, OR, = ANY.
    r#"SELECT * FROM "Customers" WHERE lower("Name") = 'c42'"#,
    r#"SELECT * FROM "Sales"."Orders" WHERE "Customer" = 9 ORDER BY placed DESC LIMIT 5"#,
    r#"SELECT * FROM "Sales"."Order Items" WHERE sku = 3 OR qty = 99"#,
    r#"SELECT * FROM "Sales"."Order Items" WHERE sku = ANY ('{1,2,3}'::int[]) AND "Status" <> 'done'"#,
    // Aggregates a view could hold: TPC-H q1's range on a date, q15's CTE, a join.
    r#"SELECT sku, "Status", sum(qty) AS total, count(*) AS n FROM "Sales"."Order Items" WHERE shipped <= date '2024-12-01' - interval '90 day' GROUP BY sku, "Status""#,
    r#"WITH revenue AS (SELECT sku, sum(qty) AS total FROM "Sales"."Order Items" WHERE shipped >= date '2024-03-01' AND shipped < date '2024-03-01' + interval '3 month' GROUP BY sku) SELECT sku, total FROM revenue WHERE total = (SELECT max(total) FROM revenue)"#,
    r#"SELECT c.region, count(*) FROM "Customers" c JOIN "Sales"."Orders" o ON o."Customer" = c.id GROUP BY c.region"#,
    r#"SELECT o."Customer", sum(i.qty) FROM "Sales"."Orders" o JOIN "Sales"."Order Items" i ON i."Order Id" = o.id WHERE o.placed >= date '2024-06-01' GROUP BY o."Customer""#,
];

/// `$n` without values: `suggest` plans them generically (`explain` would need `--no-analyze`).
const GENERIC: &[&str] = &[
    r#"SELECT id, qty FROM "Sales"."Order Items" WHERE sku = $1 AND "Status" = $2"#,
    r#"SELECT o.id FROM "Sales"."Orders" o WHERE o."Customer" = $1 AND EXISTS (SELECT 1 FROM "Sales"."Order Items" i WHERE i."Order Id" = o.id AND i.qty > $2)"#,
];

/// Statements as one file, separated by `;`.
fn corpus(statements: &[&str]) -> String {
    let mut text = String::new();
    for statement in statements {
        text.push_str(statement);
        text.push_str(";\n\n");
    }
    text
}

/// The SQL a finding's advice writes between backticks: what it offers to copy and run (a
/// `pgdiag …` command it names is not SQL: the render tests run those).
fn quoted_sql(advice: &str) -> Vec<String> {
    advice
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| !quoted.starts_with("pgdiag "))
        .map(str::to_owned)
        .collect()
}

/// One group of statements to run together (a view, then its index and rewrites), and where it
/// came from.
struct Proposal {
    origin: String,
    statements: Vec<String>,
}

/// As proposed, but able to run inside a transaction block: `CREATE INDEX CONCURRENTLY` cannot.
fn in_transaction(statement: &str) -> String {
    statement.replacen("CREATE INDEX CONCURRENTLY ", "CREATE INDEX ", 1)
}

#[tokio::test]
async fn every_proposed_statement_runs_on_the_database() {
    let (url, mut client) = database("ddl_runs", SETUP).await;
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    let (_dir, path) = temp_file("corpus.sql", corpus(STATEMENTS).as_bytes());
    let path = path.to_str().unwrap();
    let everything: Vec<&str> = STATEMENTS.iter().chain(GENERIC).copied().collect();
    let (_all_dir, all_path) = temp_file("all.sql", corpus(&everything).as_bytes());
    let all_path = all_path.to_str().unwrap();

    let mut proposals: Vec<Proposal> = Vec::new();
    let mut human_text: Vec<String> = Vec::new();

    let explain = pgdiag(&["explain", "--dsn", &url, "--format", "json", path]);
    explain.assert_no_panic();
    assert!(explain.code <= 1, "{}", explain.all_output());
    let report: Value = serde_json::from_str(&explain.stdout).unwrap();
    let statements = report["statements"].as_array().unwrap();
    assert_eq!(statements.len(), STATEMENTS.len());
    for statement in statements {
        assert!(
            statement["error"].is_null(),
            "statement {} failed: {}",
            statement["index"],
            statement["error"]
        );
        for finding in statement["findings"].as_array().unwrap() {
            let origin = format!(
                "explain #{} {} on node {}",
                statement["index"], finding["rule"], finding["node_id"]
            );
            let advice = finding["advice"].as_str().unwrap();
            human_text.push(advice.to_owned());
            human_text.push(finding["summary"].as_str().unwrap().to_owned());
            for evidence in finding["evidence"].as_array().unwrap() {
                human_text.push(evidence["value"].as_str().unwrap().to_owned());
            }
            for sql in quoted_sql(advice) {
                proposals.push(Proposal {
                    origin: format!("{origin}: advice"),
                    statements: vec![sql],
                });
            }
            if let Some(ddl) = finding["suggested_index"].as_str() {
                proposals.push(Proposal {
                    origin: format!("{origin}: suggested index"),
                    statements: vec![ddl.to_owned()],
                });
            }
        }
    }

    let suggest = pgdiag(&[
        "suggest", "--dsn", &url, "--format", "json", "--verify", "none", all_path,
    ]);
    suggest.assert_no_panic();
    assert_eq!(suggest.code, 0, "{}", suggest.all_output());
    let report: Value = serde_json::from_str(&suggest.stdout).unwrap();
    for suggestion in report["suggestions"].as_array().unwrap() {
        let mut statements: Vec<String> = suggestion["ddl"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        let matview = &suggestion["matview"];
        if !matview.is_null() {
            statements.push(matview["refresh_sql"].as_str().unwrap().to_owned());
            for rewritten in matview["rewritten"].as_array().unwrap() {
                statements.push(rewritten["sql"].as_str().unwrap().to_owned());
            }
        }
        human_text.push(suggestion["reason"].as_str().unwrap().to_owned());
        proposals.push(Proposal {
            origin: format!(
                "suggest {} ({}): {}",
                suggestion["id"], suggestion["kind"], suggestion["reason"]
            ),
            statements,
        });
    }
    for no in report["no_suggestions"].as_array().into_iter().flatten() {
        if let Some(reason) = no["reason"].as_str() {
            human_text.push(reason.to_owned());
        }
    }

    // Not a vacuous pass: the corpus makes pgdiag propose each kind of statement.
    let all: Vec<&str> = proposals
        .iter()
        .flat_map(|p| p.statements.iter().map(String::as_str))
        .collect();
    for kind in [
        "CREATE INDEX CONCURRENTLY",
        "CREATE MATERIALIZED VIEW",
        "CREATE UNIQUE INDEX",
        "REFRESH MATERIALIZED VIEW",
    ] {
        assert!(
            all.iter().any(|s| s.starts_with(kind)),
            "no {kind} proposed:\n{all:#?}"
        );
    }
    assert!(
        all.iter()
            .any(|s| s.starts_with("CREATE INDEX") && s.contains(" WHERE ")),
        "no partial index proposed:\n{all:#?}"
    );
    assert!(
        all.iter().any(|s| s.starts_with("CREATE INDEX ON")),
        "no finding's copy-paste index:\n{all:#?}"
    );

    let mut failures = Vec::new();
    for proposal in &proposals {
        let mut tx = client.transaction().await.unwrap();
        for statement in &proposal.statements {
            // VACUUM cannot run in a transaction; it changes no data.
            let result = if statement.starts_with("VACUUM ") {
                drop(tx);
                let result = client.batch_execute(statement).await;
                tx = client.transaction().await.unwrap();
                result
            } else {
                tx.batch_execute(&in_transaction(statement)).await
            };
            if let Err(e) = result {
                failures.push(format!(
                    "{}\n  {statement}\n  -> {}",
                    proposal.origin,
                    e.as_db_error()
                        .map(|d| d.message().to_owned())
                        .unwrap_or_else(|| e.to_string())
                ));
                break;
            }
        }
        tx.rollback().await.unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} of {} proposals do not run:\n{}",
        failures.len(),
        proposals.len(),
        failures.join("\n\n")
    );

    // Text meant for people names tables as the user wrote them, never the planner's alias.
    let planner_alias: Vec<&String> = human_text
        .iter()
        .filter(|t| t.contains("Order Items_1") || t.contains("Orders_1"))
        .collect();
    assert!(planner_alias.is_empty(), "{planner_alias:#?}");
}
