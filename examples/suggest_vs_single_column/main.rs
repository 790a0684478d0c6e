//! Benchmark: pgdiag's suggestions against single-column advice (one btree per filtered column,
//! what the pg_qualstats and Supabase advisors produce) on the seed's product page and category
//! listing, side by side with no indexes at all. The category listing runs twice: as the seed
//! writes it (a derived table of review stats joined to products) and as users often write it
//! (`JOIN reviews r ... GROUP BY p.id` with `avg(r.rating)`, one aggregate over the join).
//!
//! One throwaway PostgreSQL, the seed loaded once; the variants run one after the other on it,
//! each change applied with `pgdiag::suggest::apply` and dropped again before the next variant.
//! Each query is measured as the median `Execution Time` of RUNS `EXPLAIN ANALYZE` runs after one
//! warm-up run. Single-column advice is derived from the no-index plans by
//! [`single_column::single_column_advice`] (this example's own), minus columns an existing index
//! already leads.
//!
//! Run with `scripts/bench-suggest [SCALE] [RUNS]` (defaults 1.0 and 7).

use std::time::Duration;

use anyhow::Context;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use pgdiag::advise::Candidate;
use pgdiag::advise::existing::covered_by;
use pgdiag::embedded::EmbeddedPostgres;
use pgdiag::pg::catalog::existing_indexes;
use pgdiag::pg::{
    ConnectionSettings, ExplainOptions, ParamValue, ProcessEnv, Runner, quote_ident,
    split_statements,
};
use pgdiag::plan::Explain;
use pgdiag::report::ServerInfo;
use pgdiag::seed;
use pgdiag::suggest::{
    ApplyEvent, ApplyOptions, Change, ChangeStatus, StatementInput, SuggestOptions, VerifyRequest,
    apply, change_of, suggest,
};

mod single_column;
use single_column::single_column_advice;

/// The queries measured: two of fixtures/seed/queries/, and the listing as users write it.
const QUERIES: [&str; 3] = [
    "product_page",
    "category_listing",
    "category_listing_joined",
];

/// The category listing as users write it: the aggregate over the join instead of a derived
/// table (products without reviews drop out, as an inner join does).
const LISTING_JOINED: &str = "-- pgdiag: params 7
SELECT p.id, p.name, count(r.id) AS review_count, avg(r.rating) AS avg_rating
FROM products p
JOIN reviews r ON r.product_id = p.id
WHERE p.category_id = $1
GROUP BY p.id
ORDER BY avg(r.rating) DESC NULLS LAST, p.id
LIMIT 24";

/// Every query given to pgdiag's suggest: the seed's three and the listing as users write it.
fn all_queries() -> Vec<(&'static str, &'static str)> {
    let mut all = seed::queries().to_vec();
    all.push(("category_listing_joined", LISTING_JOINED));
    all
}

fn sql_of(name: &str) -> anyhow::Result<&'static str> {
    all_queries()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, sql)| sql)
        .with_context(|| format!("no query {name}"))
}

/// pgdiag's changes for the seed and the queries rewritten to use them.
struct Suggestions {
    changes: Vec<Change>,
    /// (query name, rewritten SQL): the query reading the materialized view instead of
    /// aggregating every review.
    rewritten: Vec<(&'static str, String)>,
}

/// pgdiag's suggestions for the seed, from the suggest library itself: the three story queries and the listing as users write it
/// (`-- pgdiag: params` give their values) planned, advised and verified as `pgdiag suggest
/// --verify hypo` does; what it keeps (and the views HypoPG cannot simulate) become the changes,
/// and each statement a view serves is measured rewritten to read it.
async fn pgdiag_suggestions(runner: &mut Runner, target: String) -> anyhow::Result<Suggestions> {
    let names: Vec<&'static str> = all_queries().iter().map(|(name, _)| *name).collect();
    let mut inputs = Vec::new();
    for (name, sql) in all_queries() {
        let statement = split_statements(sql)?
            .into_iter()
            .next()
            .with_context(|| format!("no statement in {name}"))?;
        inputs.push(StatementInput::with_own_params(
            format!("{name}.sql"),
            statement,
        ));
    }
    let server = ServerInfo {
        version: runner.server_version().to_owned(),
        version_num: runner.server_version_num(),
        target,
    };
    let options = SuggestOptions {
        verify: VerifyRequest::Hypo,
        ..SuggestOptions::default()
    };
    let report = suggest(runner, server, &inputs, &options, &mut |_| {}).await?;
    let mut changes = Vec::new();
    let mut rewritten = Vec::new();
    for s in report.actionable() {
        eprintln!("   {} {}: {}", s.id, s.status.as_str(), s.ddl.join("; "));
        changes.extend(change_of(s));
        for r in s.matview().iter().flat_map(|m| &m.rewritten) {
            let name = names[r.statement - 1];
            // Keep the original's `-- pgdiag: params` line so the measurement binds the same values.
            let params: Vec<String> = seed::query_params(sql_of(name).unwrap_or_default());
            let sql = if params.is_empty() {
                r.sql.clone()
            } else {
                format!("-- pgdiag: params {}\n{}", params.join(", "), r.sql)
            };
            rewritten.push((name, sql));
        }
    }
    Ok(Suggestions { changes, rewritten })
}

/// One query measured under one variant.
struct Measurement {
    median_ms: f64,
    /// The scans of the last run's plan: `Seq Scan reviews`, `Index Scan reviews_product_id_idx`...
    scans: String,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn scans(explain: &Explain) -> String {
    let mut seen: Vec<String> = Vec::new();
    for node in explain.plan.preorder() {
        let target = node.index_name.as_deref().or(node.relation_name.as_deref());
        if let Some(target) = target {
            let scan = format!("{} {target}", node.label());
            if !seen.contains(&scan) {
                seen.push(scan);
            }
        }
    }
    seen.join(", ")
}

async fn measure(
    runner: &mut Runner,
    sql: &str,
    runs: usize,
) -> anyhow::Result<(Measurement, Explain)> {
    let statement = split_statements(sql)?
        .into_iter()
        .next()
        .context("no statement in the query file")?;
    let options = ExplainOptions {
        analyze: true,
        timeout: Duration::from_secs(300),
        params: seed::query_params(sql)
            .into_iter()
            .map(ParamValue::Text)
            .collect(),
    };
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    // One warm-up run first: the variants should compare plans, not cache states.
    for run in 0..=runs {
        let output = runner
            .explain(&statement, &options, std::future::pending())
            .await?;
        let explain = output.document.explains()?.remove(0);
        if run > 0 {
            times.push(
                explain
                    .execution_time_ms
                    .context("EXPLAIN ANALYZE without an execution time")?,
            );
        }
        last = Some(explain);
    }
    let explain = last.context("no run")?;
    Ok((
        Measurement {
            median_ms: median(times),
            scans: scans(&explain),
        },
        explain,
    ))
}

/// Apply `changes`, printing progress; every change must succeed (or already exist).
async fn apply_all(
    client: &tokio_postgres::Client,
    watcher: &tokio_postgres::Client,
    changes: &[Change],
) -> anyhow::Result<()> {
    let options = ApplyOptions {
        lock_timeout: Duration::from_secs(5),
        ..ApplyOptions::default()
    };
    let report = apply(
        client,
        watcher,
        changes,
        &options,
        &mut |event| match event {
            ApplyEvent::Started { change, .. } => {
                eprintln!("   applying {} {}", change.kind(), change.name())
            }
            ApplyEvent::Waiting { wait, .. } => eprintln!("   {wait}"),
            ApplyEvent::Finished { outcome, .. } => eprintln!(
                "   {:?} in {:.0} ms, {} kB",
                outcome.status,
                outcome.elapsed_ms,
                outcome.size_bytes.unwrap_or(0) / 1024
            ),
        },
    )
    .await?;
    if let Some(failed) = report.failure() {
        anyhow::bail!(
            "applying {} failed: {:?}",
            failed.change.name(),
            failed.status
        );
    }
    anyhow::ensure!(
        report
            .outcomes
            .iter()
            .all(|o| o.status == ChangeStatus::Created),
        "a change already existed: the variants would not be independent"
    );
    Ok(())
}

/// Undo `changes` so the next variant starts from the primary keys only.
async fn drop_all(client: &tokio_postgres::Client, changes: &[Change]) -> anyhow::Result<()> {
    for change in changes.iter().rev() {
        let sql = match change {
            Change::Index { schema, name, .. } => {
                format!("DROP INDEX {}", qualified(schema.as_deref(), name))
            }
            Change::Matview { schema, name, .. } => format!(
                "DROP MATERIALIZED VIEW {}",
                qualified(schema.as_deref(), name)
            ),
        };
        client.batch_execute(&sql).await?;
    }
    Ok(())
}

fn qualified(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
        None => quote_ident(name),
    }
}

/// Single-column advice over the plans of all queries, one index per column (across queries
/// too), leaving out columns an existing index already leads: what such an advisor would create.
async fn single_column_changes(
    client: &tokio_postgres::Client,
    plans: &[Explain],
) -> anyhow::Result<Vec<Change>> {
    let mut advice: Vec<Candidate> = Vec::new();
    for candidate in plans.iter().flat_map(single_column_advice) {
        if advice
            .iter()
            .any(|c| c.table == candidate.table && c.columns == candidate.columns)
        {
            continue;
        }
        let existing =
            existing_indexes(client, candidate.schema.as_deref(), &candidate.table).await?;
        if let Some(index) = covered_by(&candidate, &existing) {
            eprintln!(
                "   single-column advice skips {}({}): {} exists",
                candidate.table,
                candidate.columns[0].label(),
                index.name
            );
            continue;
        }
        advice.push(candidate);
    }
    Ok(advice
        .into_iter()
        .map(|candidate| {
            let name = candidate.index_name();
            Change::Index {
                schema: candidate.schema.clone(),
                table: candidate.table.clone(),
                ddl: candidate.ddl(&name),
                name,
            }
        })
        .collect())
}

fn cell(measurement: Option<&Measurement>, none_ms: f64) -> Cell {
    match measurement {
        Some(m) => Cell::new(format!(
            "{:.1} ms ({:.0}x)",
            m.median_ms,
            none_ms / m.median_ms.max(0.001)
        ))
        .set_alignment(CellAlignment::Right),
        None => Cell::new("-").set_alignment(CellAlignment::Center),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scale: f64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()
        .context("SCALE must be a number")?
        .unwrap_or(1.0);
    let runs: usize = std::env::args()
        .nth(2)
        .map(|a| a.parse())
        .transpose()
        .context("RUNS must be a positive integer")?
        .unwrap_or(7)
        .max(1);

    eprintln!("== starting PostgreSQL");
    let pg = EmbeddedPostgres::builder().start().await?;
    pg.create_database("seed").await?;
    let client = pg.connect("seed").await?;
    let watcher = pg.connect("seed").await?;
    eprintln!("== loading the seed at scale {scale}");
    let summary = seed::load(&client, scale, |p| {
        eprintln!("   [{}/{}] {}", p.completed, p.total, p.step)
    })
    .await?;
    let settings = ConnectionSettings::resolve(Some(&pg.url("seed")), &ProcessEnv)?;
    let mut runner = Runner::connect(&settings).await?;

    let mut none = Vec::new();
    let mut plans = Vec::new();
    eprintln!("== variant: no indexes (primary keys only)");
    for name in QUERIES {
        let (m, explain) = measure(&mut runner, sql_of(name)?, runs).await?;
        none.push(m);
        plans.push(explain);
    }

    eprintln!("== variant: single-column advice");
    let single_changes = single_column_changes(&client, &plans).await?;
    apply_all(&client, &watcher, &single_changes).await?;
    let mut single = Vec::new();
    for name in QUERIES {
        single.push(measure(&mut runner, sql_of(name)?, runs).await?.0);
    }
    drop_all(&client, &single_changes).await?;

    eprintln!("== variant: pgdiag's suggestions");
    let suggestions = pgdiag_suggestions(&mut runner, settings.describe()).await?;
    apply_all(&client, &watcher, &suggestions.changes).await?;
    let mut pgdiag_same = Vec::new();
    let mut pgdiag_rewritten = Vec::new();
    for name in QUERIES {
        pgdiag_same.push(measure(&mut runner, sql_of(name)?, runs).await?.0);
        let rewritten = suggestions
            .rewritten
            .iter()
            .find(|(query, _)| *query == name);
        pgdiag_rewritten.push(match rewritten {
            Some((_, sql)) => Some(measure(&mut runner, sql, runs).await?.0),
            None => None,
        });
    }

    let rows = summary
        .tables
        .iter()
        .map(|t| format!("{} {}", t.table, t.rows))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "\nSeed at scale {scale} ({rows}); median EXPLAIN ANALYZE execution time of {runs} runs \
         after one warm-up, speedup over no indexes in parentheses; PostgreSQL {}.\n",
        pg.server_version()
    );
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(vec![
        "query",
        "no indexes",
        "single-column advice",
        "pgdiag, query as is",
        "pgdiag, query rewritten to the matview",
    ]);
    for (i, name) in QUERIES.iter().enumerate() {
        let base = none[i].median_ms;
        table.add_row(vec![
            Cell::new(name),
            cell(Some(&none[i]), base),
            cell(Some(&single[i]), base),
            cell(Some(&pgdiag_same[i]), base),
            cell(pgdiag_rewritten[i].as_ref(), base),
        ]);
    }
    println!("{table}");

    let mut plans_table = Table::new();
    plans_table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(140)
        .set_header(vec!["query", "variant", "scans in the plan"]);
    for (i, name) in QUERIES.iter().enumerate() {
        let variants = [
            ("no indexes", Some(&none[i])),
            ("single-column", Some(&single[i])),
            ("pgdiag, as is", Some(&pgdiag_same[i])),
            ("pgdiag, rewritten", pgdiag_rewritten[i].as_ref()),
        ];
        for (variant, m) in variants {
            if let Some(m) = m {
                plans_table.add_row(vec![name.to_string(), variant.to_string(), m.scans.clone()]);
            }
        }
    }
    println!("\n{plans_table}");

    println!("\nSingle-column advice created:");
    for change in &single_changes {
        println!("  {}", change.statements().join("; "));
    }
    println!("pgdiag's suggestions created:");
    for change in &suggestions.changes {
        for statement in change.statements() {
            println!("  {statement}");
        }
    }
    drop(runner);
    pg.stop().await?;
    Ok(())
}
