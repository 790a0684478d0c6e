//! `pgdiag suggest` on the embedded PostgreSQL: the seed's indexes found and proven (HypoPG and
//! built), generic plans, reasons for no suggestion, hostile names, the DDL outputs, refusing to
//! apply without a yes, bad input; through the binary and through the library.

use pgdiag::advise::report::{Planning, SuggestReport, SuggestionStatus, VerifyMode};
use pgdiag::advise::suggest::{StatementInput, SuggestOptions, VerifyRequest, suggest};
use pgdiag::pg::catalog::existing_indexes;
use pgdiag::pg::{ConnectionSettings, ProcessEnv, Runner, split_statements};
use pgdiag::report::ServerInfo;

use crate::support::{database, pgdiag, temp_file};

const SEED: &str = "
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, category_id int NOT NULL);
INSERT INTO products SELECT g, 'product ' || g, 1 + g % 40 FROM generate_series(1, 2000) g;
CREATE TABLE reviews (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, product_id int NOT NULL, rating int NOT NULL);
INSERT INTO reviews (product_id, rating) SELECT 1 + g % 2000, 1 + g % 5 FROM generate_series(1, 200000) g;
CREATE TABLE recommendations (product_id int NOT NULL, other_id int NOT NULL, score double precision NOT NULL);
INSERT INTO recommendations SELECT 1 + g % 2000, 1 + (g * 7) % 2000, (g * 7919 % 1000) / 10.0 FROM generate_series(1, 200000) g;
CREATE TABLE tiny (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO tiny SELECT g, g % 7 FROM generate_series(1, 50) g;
-- One plan shape whatever the machine: no parallel workers.
ALTER TABLE reviews SET (parallel_workers = 0);
ALTER TABLE recommendations SET (parallel_workers = 0);
";

const REVIEWS_QUERY: &str = "SELECT avg(rating) FROM reviews WHERE product_id = 42";
const RECOMMENDATIONS_QUERY: &str = "SELECT other_id, score FROM recommendations WHERE product_id = 42 ORDER BY score DESC LIMIT 10";

/// A fresh database with `setup`, vacuumed and analysed (outside the setup's transaction).
async fn prepared(prefix: &str, setup: &str) -> (String, tokio_postgres::Client) {
    let (url, client) = database(prefix, setup).await;
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    (url, client)
}

fn parse_report(stdout: &str) -> SuggestReport {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not a suggest report: {e}\n{stdout}"))
}

/// `table (col, col DESC)` for each suggestion with the given status.
fn shapes(report: &SuggestReport, status: SuggestionStatus) -> Vec<String> {
    report
        .suggestions
        .iter()
        .filter(|s| s.status == status)
        .filter_map(|s| s.index.as_ref())
        .map(|i| {
            let columns: Vec<String> = i
                .columns
                .iter()
                .map(|c| {
                    if c.desc {
                        format!("{} DESC", c.name)
                    } else {
                        c.name.clone()
                    }
                })
                .collect();
            format!("{} ({})", i.table, columns.join(", "))
        })
        .collect()
}

async fn user_indexes(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
    existing_indexes(client, None, table)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .filter(|n| !n.ends_with("_pkey"))
        .collect()
}

/// The library, on statements given as text.
async fn suggest_library(url: &str, sql: &str, options: &SuggestOptions) -> SuggestReport {
    let settings = ConnectionSettings::resolve(Some(url), &ProcessEnv).unwrap();
    let mut runner = Runner::connect(&settings).await.unwrap();
    let inputs: Vec<StatementInput> = split_statements(sql)
        .unwrap()
        .into_iter()
        .map(|statement| StatementInput {
            source: "-c".into(),
            statement,
            params: None,
        })
        .collect();
    let server = ServerInfo {
        version: runner.server_version().to_owned(),
        version_num: runner.server_version_num(),
        target: settings.describe(),
    };
    suggest(&mut runner, server, &inputs, options, &mut |_| {})
        .await
        .unwrap()
}

#[tokio::test]
async fn hypo_finds_and_proves_the_seed_indexes_across_files() {
    let (url, client) = prepared("suggest_hypo", SEED).await;
    let (_d1, product) = temp_file("product.sql", format!("{REVIEWS_QUERY};\n").as_bytes());
    let (_d2, recs) = temp_file("recs.sql", format!("{RECOMMENDATIONS_QUERY};\n").as_bytes());
    let run = pgdiag(&[
        "suggest",
        "--dsn",
        &url,
        "--format",
        "json",
        product.to_str().unwrap(),
        recs.to_str().unwrap(),
    ]);
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{}", run.all_output());
    let report = parse_report(&run.stdout);
    assert_eq!(report.verify.mode, VerifyMode::Hypo);
    assert_eq!(report.verify.requested, "auto");
    assert_eq!(report.statements.len(), 2);
    assert!(
        report
            .statements
            .iter()
            .all(|s| s.planning == Planning::Analyze && s.error.is_none())
    );
    let kept = shapes(&report, SuggestionStatus::Kept);
    assert!(
        kept.contains(&"reviews (product_id)".into()),
        "{kept:?}\n{}",
        run.stdout
    );
    assert!(
        kept.contains(&"recommendations (product_id, score DESC)".into()),
        "{kept:?}"
    );
    for s in report.kept() {
        let v = s.verification.as_ref().expect("kept means verified");
        assert_eq!(v.method, VerifyMode::Hypo);
        assert!(v.improvement_pct.unwrap() >= report.min_improvement_pct);
        assert!(v.size_bytes.unwrap() > 0);
        assert!(v.per_statement.iter().any(|p| p.used));
        assert_eq!(s.serves.len(), 1);
        let served = report.statement(s.serves[0]).unwrap();
        assert!(served.source.ends_with(".sql"), "{served:?}");
        assert!(s.ddl[0].starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS"));
    }
    // Together, each statement is still served and cheaper.
    assert_eq!(report.combined.len(), 2, "{:?}", report.combined);
    for c in &report.combined {
        assert!(c.after.cost.unwrap() < c.before.cost.unwrap(), "{c:?}");
        assert!(c.after.plan.contains("Index"), "{c:?}");
    }
    // Verification left nothing behind: no index, no extension.
    assert!(user_indexes(&client, "reviews").await.is_empty());
    let hypopg = client
        .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'", &[])
        .await
        .unwrap();
    assert!(hypopg.is_none());
}
