//! `pgdiag suggest` on statements too slow to measure (issue 19): a statement that runs longer than
//! `--timeout` under EXPLAIN ANALYZE is diagnosed and advised from its estimated plan, marked so,
//! and neither it nor a statement that cannot be explained at all blocks `--apply` for the others;
//! the report says what was applied, what was not, and why.

use pgdiag::pg::catalog::existing_indexes;
use pgdiag::suggest::report::{ApplyStatus, Planning, SuggestReport, SuggestionStatus};

use crate::support::{database, pgdiag};

/// A correlated subquery reading a 300,000-row table once per part: hundreds of executions, far
/// longer than 200 ms (seconds), while its plain EXPLAIN is instant. Plus the seed's reviews for a
/// statement that runs fast.
const SETUP: &str = "
CREATE TABLE part (p_partkey int PRIMARY KEY, p_brand text NOT NULL);
INSERT INTO part SELECT g, 'Brand#' || (1 + g % 5) FROM generate_series(1, 2000) g;
CREATE TABLE lineitem (l_orderkey int NOT NULL, l_partkey int NOT NULL, l_quantity int NOT NULL);
INSERT INTO lineitem SELECT g, 1 + g % 2000, 1 + g % 50 FROM generate_series(1, 300000) g;
CREATE TABLE reviews (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
INSERT INTO reviews (product_id, rating) SELECT 1 + g % 2000, 1 + g % 5 FROM generate_series(1, 200000) g;
ALTER TABLE lineitem SET (parallel_workers = 0);
ALTER TABLE reviews SET (parallel_workers = 0);
";

const SLOW_QUERY: &str = "SELECT count(*) FROM part p WHERE p.p_brand = 'Brand#3' AND (SELECT avg(l.l_quantity) FROM lineitem l WHERE l.l_partkey = p.p_partkey) > 20";
const FAST_QUERY: &str = "SELECT avg(rating) FROM reviews WHERE product_id = 42";

async fn prepared(prefix: &str) -> (String, tokio_postgres::Client) {
    let (url, client) = database(prefix, SETUP).await;
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    (url, client)
}

fn parse_report(stdout: &str) -> SuggestReport {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not a suggest report: {e}\n{stdout}"))
}

async fn user_indexes(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
    existing_indexes(client, None, table)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| !i.name.ends_with("_pkey"))
        .map(|i| {
            let columns: Vec<String> = i.columns.iter().filter_map(|c| c.name.clone()).collect();
            format!("{} ({})", i.name, columns.join(", "))
        })
        .collect()
}

#[tokio::test]
async fn a_statement_past_the_timeout_is_advised_from_its_estimated_plan() {
    let (url, client) = prepared("timeout_estimated").await;
    let run = pgdiag(&[
        "suggest",
        "--dsn",
        &url,
        "--timeout",
        "200ms",
        "--format",
        "json",
        "-c",
        SLOW_QUERY,
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = parse_report(&run.stdout);
    let statement = &report.statements[0];
    assert_eq!(statement.planning, Planning::EstimatedAfterTimeout);
    assert!(statement.error.is_none(), "{statement:?}");
    assert_eq!(statement.time_ms, None);
    assert!(statement.cost.is_some_and(|c| c > 0.0), "{statement:?}");
    assert_eq!(
        statement.notes[0],
        "ran longer than the timeout of 200ms under EXPLAIN ANALYZE (cancelled, rolled back): planned without running it, judged on estimated cost"
    );
    assert_eq!(statement.findings, ["correlated-subplan"]);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("statements that ran longer than the timeout of 200ms")),
        "{:?}",
        report.notes
    );
    // The index on the correlated column, proven on planned cost (HypoPG), never by running it.
    let lineitem = report
        .suggestions
        .iter()
        .find(|s| s.index().is_some_and(|i| i.table == "lineitem"))
        .unwrap_or_else(|| panic!("{:#?}", report.suggestions));
    assert_eq!(lineitem.status, SuggestionStatus::Kept, "{lineitem:#?}");
    assert_eq!(lineitem.index().unwrap().columns[0].name, "l_partkey");
    assert!(
        lineitem.reason.starts_with("Seq Scan on lineitem"),
        "{}",
        lineitem.reason
    );
    let verification = lineitem.verification.as_ref().unwrap();
    let per_statement = &verification.per_statement[0];
    assert!(per_statement.used);
    assert_eq!(per_statement.before.time_ms, None);
    assert!(
        per_statement.after.cost.unwrap() < per_statement.before.cost.unwrap() / 10.0,
        "{per_statement:?}"
    );
    // Nothing was created.
    assert!(user_indexes(&client, "lineitem").await.is_empty());

    // The text report says it was not measured, and why.
    let run = pgdiag(&[
        "suggest",
        "--dsn",
        &url,
        "--timeout",
        "200ms",
        "-c",
        SLOW_QUERY,
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout.contains(
            "#1 -c:1  not measured: ran longer than the timeout of 200ms under EXPLAIN ANALYZE"
        ),
        "{}",
        run.stdout
    );

    // --verify build judges it on estimated cost too: the statement (seconds long) is not run
    // again, while the index builds within the timeout.
    let started = std::time::Instant::now();
    let run = pgdiag(&[
        "suggest",
        "--dsn",
        &url,
        "--timeout",
        "2s",
        "--verify",
        "build",
        "--format",
        "json",
        "-c",
        SLOW_QUERY,
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = parse_report(&run.stdout);
    let suggestion = report
        .suggestions
        .iter()
        .find(|s| s.index().is_some_and(|i| i.table == "lineitem"))
        .unwrap_or_else(|| panic!("{:#?}", report.suggestions));
    assert_eq!(suggestion.status, SuggestionStatus::Kept, "{suggestion:#?}");
    let per_statement = &suggestion.verification.as_ref().unwrap().per_statement[0];
    assert_eq!(per_statement.after.time_ms, None, "{per_statement:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn apply_goes_on_past_a_timed_out_and_a_failed_statement_and_says_so() {
    let (url, client) = prepared("timeout_apply").await;
    let sql = format!("{FAST_QUERY}; {SLOW_QUERY}; SELECT no_such_column FROM reviews");
    // Size left out: each statement counts once, and beside the slow one's remaining planned
    // cost the fast one's 1.3 MB index would not pay for its size (the point here is the apply).
    let run = pgdiag(&[
        "suggest",
        "--dsn",
        &url,
        "--size-weight",
        "0",
        "--timeout",
        "200ms",
        "--apply",
        "--yes",
        "--format",
        "json",
        "-c",
        &sql,
    ]);
    run.assert_no_panic();
    // A statement could not be explained: exit 2 says the input was not all read...
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr.contains(
            "pgdiag: applying what was kept for the other statements; not explained, so not taken into account: #3 (-c:1)"
        ),
        "{}",
        run.stderr
    );
    // ...and yet what was kept for the others is applied: the fast statement's index and the
    // timed-out statement's, advised from its estimated plan.
    let report = parse_report(&run.stdout);
    let planning: Vec<Planning> = report.statements.iter().map(|s| s.planning).collect();
    assert_eq!(
        planning,
        [
            Planning::Analyze,
            Planning::EstimatedAfterTimeout,
            Planning::Failed
        ]
    );
    let reviews = user_indexes(&client, "reviews").await;
    assert_eq!(reviews.len(), 1, "{reviews:?}: {:#?}", report.suggestions);
    assert!(reviews[0].contains("(product_id)"), "{reviews:?}");
    let lineitem = user_indexes(&client, "lineitem").await;
    assert_eq!(lineitem.len(), 1, "{lineitem:?}");
    assert!(lineitem[0].ends_with("(l_partkey)"), "{lineitem:?}");

    let apply = report.apply.as_ref().expect("an apply section");
    assert_eq!(apply.status, ApplyStatus::Applied, "{apply:#?}");
    assert!(apply.error.is_none(), "{apply:#?}");
    let created = apply
        .changes
        .iter()
        .filter(|c| c.status == pgdiag::suggest::report::ChangeStatus::Created)
        .count();
    assert!(created >= 2, "{apply:#?}");
    assert!(
        apply
            .reason
            .starts_with(&format!("{created} created, 0 already existed")),
        "{}",
        apply.reason
    );
    assert!(
        apply.reason.ends_with(
            "; not explained, left out: #3; judged on estimates (ran past --timeout): #2"
        ),
        "{}",
        apply.reason
    );
    let left_out: Vec<(usize, Planning)> = apply
        .statements_left_out
        .iter()
        .map(|s| (s.statement, s.planning))
        .collect();
    assert_eq!(
        left_out,
        [(2, Planning::EstimatedAfterTimeout), (3, Planning::Failed)]
    );
    assert!(
        apply.statements_left_out[1]
            .reason
            .starts_with("not explained (ERROR:  column \"no_such_column\" does not exist"),
        "{:?}",
        apply.statements_left_out[1]
    );
    // Measured after applying: the timed-out statement by planned cost, much lower now.
    let after = apply
        .after
        .iter()
        .find(|a| a.statement == 2)
        .expect("statement #2 measured after applying");
    assert_eq!(after.after.time_ms, None, "{after:?}");
    assert!(
        after.after.cost.unwrap() < after.before.cost.unwrap() / 10.0,
        "{after:?}"
    );
    // And it now runs within the timeout it once ran past.
    client
        .batch_execute("SET statement_timeout = '5s'")
        .await
        .unwrap();
    client.simple_query(SLOW_QUERY).await.unwrap();
}
