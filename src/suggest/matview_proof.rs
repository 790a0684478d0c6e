//! Proof for a materialized-view suggestion: build the view for real inside a transaction that is
//! always rolled back, time the original and the rewritten statement with EXPLAIN ANALYZE, and
//! compare their results row for row. A rewrite that changes results must never be suggested, so
//! the comparison is part of the proof, not an option.
//!
//! Building the view reads the whole base table and takes a lock that blocks writes to it until
//! the rollback; the statement timeout bounds every step.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::advise::matview::MatviewSuggestion;
use crate::pg::{self, Error, ParamValue, split_statements};

/// What building the view showed.
#[derive(Debug, Clone, PartialEq)]
pub struct MatviewProof {
    /// Median execution time of the original statement (EXPLAIN ANALYZE), ms.
    pub before_ms: f64,
    /// Median execution time of the rewritten statement reading the view, ms.
    pub after_ms: f64,
    /// Time to create the view and its unique index, ms: roughly what each refresh costs.
    pub build_ms: f64,
    /// The view with its indexes.
    pub view_size_bytes: i64,
    pub results_match: bool,
    /// Rows of the original statement's result that were compared.
    pub rows_compared: usize,
    /// When the results differ: "results differ: ..." with the first differing row.
    pub difference: Option<String>,
}

/// Build `mv` in a rolled-back transaction and measure it against `original_sql` (with `params`
/// bound as the runner binds them). `runs` EXPLAIN ANALYZE runs per statement (at least one);
/// `timeout` is the statement timeout of each step (zero: none).
///
/// A relation that already has the view's name must be that very view (same query), or this
/// fails rather than measure something else. The client must not be inside a transaction. The rollback runs when this future completes,
/// errors included, and is queued when the future is dropped half-way ([`pg::tx::rolled_back`]).
pub async fn verify_matview(
    client: &Client,
    mv: &MatviewSuggestion,
    original_sql: &str,
    params: &[ParamValue],
    runs: usize,
    timeout: Duration,
) -> Result<MatviewProof, Error> {
    let rewritten = mv.rewritten.as_deref().ok_or_else(|| {
        Error::Config(format!(
            "the suggestion for {} has no rewritten statement to compare",
            mv.name
        ))
    })?;
    // The view is always undone, whatever happens inside.
    pg::tx::rolled_back(client, async |client| {
        measure(client, mv, original_sql, rewritten, params, runs, timeout)
            .await
            .map_err(|e| timeout_error(e, timeout))
    })
    .await
}

async fn measure(
    client: &Client,
    mv: &MatviewSuggestion,
    original: &str,
    rewritten: &str,
    params: &[ParamValue],
    runs: usize,
    timeout: Duration,
) -> Result<MatviewProof, Error> {
    pg::admin::set_local_timeouts(client, None, timeout).await?;
    // The statement as the runner sends it: without its semicolon (and what follows it).
    let statements = split_statements(original)
        .map_err(|e| Error::Config(format!("cannot read the original statement: {e}")))?;
    let [statement] = statements.as_slice() else {
        return Err(Error::Config(format!(
            "expected one original statement, found {}",
            statements.len()
        )));
    };
    let original = statement.text.as_str();
    let before_ms = median_execution_ms(client, original, params, runs).await?;
    let view = mv.qualified_name();
    check_existing_view(client, mv).await?;
    let started = Instant::now();
    client.batch_execute(&mv.create_sql).await?;
    client.batch_execute(&mv.unique_index_sql).await?;
    let build_ms = started.elapsed().as_secs_f64() * 1000.0;
    client.batch_execute(&format!("ANALYZE {view}")).await?;
    let view_size_bytes = pg::catalog::total_relation_size(client, &view)
        .await?
        .ok_or_else(|| Error::Config(format!("{view} was not created")))?;
    let after_ms = median_execution_ms(client, rewritten, params, runs).await?;
    let before_rows = rows_as_text(client, original, params).await?;
    let after_rows = rows_as_text(client, rewritten, params).await?;
    let difference = first_difference(&before_rows, &after_rows);
    Ok(MatviewProof {
        before_ms,
        after_ms,
        build_ms,
        view_size_bytes,
        results_match: difference.is_none(),
        rows_compared: before_rows.len(),
        difference,
    })
}

/// `CREATE ... IF NOT EXISTS` keeps a relation that already has the view's name, whatever it
/// holds: the proof (and the rewrite) would then read something else. An existing materialized
/// view passes only when PostgreSQL deparses its query exactly as the suggestion's. Applying a
/// view should check this too.
pub async fn check_existing_view(client: &Client, mv: &MatviewSuggestion) -> Result<(), Error> {
    let view = mv.qualified_name();
    let view = view.as_str();
    let Some(existing) = pg::catalog::matview_definition(client, view).await? else {
        return Ok(());
    };
    let conflict = || {
        Error::Config(format!(
            "{view} already exists and is not the suggested view: choose another name or drop it"
        ))
    };
    let Some(definition) = existing else {
        return Err(conflict());
    };
    let body = mv
        .create_sql
        .strip_prefix(&format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {view} AS "
        ))
        .ok_or_else(|| Error::Config(format!("unexpected view DDL: {}", mv.create_sql)))?;
    // The same query, deparsed the same way.
    let suggested = pg::catalog::deparsed_view_query(client, body).await?;
    if suggested != definition {
        return Err(conflict());
    }
    Ok(())
}

async fn median_execution_ms(
    client: &Client,
    sql: &str,
    params: &[ParamValue],
    runs: usize,
) -> Result<f64, Error> {
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let rows = pg::explain::query_with_params(
            client,
            &format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"),
            params,
        )
        .await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::Config("EXPLAIN returned no rows".into()))?;
        let explain = pg::explain::explain_document(row)?
            .explains()
            .map_err(|e| Error::Config(format!("cannot read the EXPLAIN output: {e}")))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Config("EXPLAIN returned no plan".into()))?;
        times.push(explain.execution_time_ms.unwrap_or(0.0));
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Every row of the statement's result as PostgreSQL's own text of the row (`(42,"a b",3.5)`),
/// so values of any type compare exactly as the server renders them.
async fn rows_as_text(
    client: &Client,
    sql: &str,
    params: &[ParamValue],
) -> Result<Vec<String>, Error> {
    let rows = pg::explain::query_with_params(
        client,
        // The newline ends a trailing `--` comment before the closing parenthesis.
        &format!("SELECT pgdiag_row::text FROM ({sql}\n) AS pgdiag_row"),
        params,
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(row
                .try_get::<_, Option<String>>(0)?
                .unwrap_or_else(|| "NULL".into()))
        })
        .collect()
}

/// Compare two results as multisets of rows; describe the first row found in one and not in the
/// other (in the original's order, then the rewrite's).
pub(crate) fn first_difference(before: &[String], after: &[String]) -> Option<String> {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for row in before {
        *counts.entry(row).or_default() += 1;
    }
    for row in after {
        *counts.entry(row).or_default() -= 1;
    }
    let missing = before.iter().find(|r| counts[r.as_str()] > 0);
    let extra = after.iter().find(|r| counts[r.as_str()] < 0);
    match (missing, extra) {
        (None, None) => None,
        (Some(row), _) => Some(format!(
            "results differ: the original returns {row} ({} rows) and the rewrite does not ({} rows)",
            before.len(),
            after.len()
        )),
        (None, Some(row)) => Some(format!(
            "results differ: the rewrite returns {row} ({} rows) and the original does not ({} rows)",
            after.len(),
            before.len()
        )),
    }
}

fn timeout_error(err: Error, timeout: Duration) -> Error {
    match err.sqlstate() {
        Some(code) if code == SqlState::QUERY_CANCELED.code() && !timeout.is_zero() => {
            Error::Timeout(timeout)
        }
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    fn rows(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn same_rows_in_another_order_match() {
        assert_eq!(
            first_difference(
                &rows(&["(1,2)", "(2,3)", "(1,2)"]),
                &rows(&["(1,2)", "(1,2)", "(2,3)"])
            ),
            None
        );
    }

    #[test]
    fn a_missing_duplicate_is_a_difference() {
        let diff = first_difference(&rows(&["(1,2)", "(1,2)"]), &rows(&["(1,2)"])).unwrap();
        assert!(
            diff.starts_with("results differ: the original returns (1,2)"),
            "{diff}"
        );
    }

    #[test]
    fn an_extra_row_in_the_rewrite_is_a_difference() {
        let diff = first_difference(&rows(&["(1,2)"]), &rows(&["(1,2)", "(3,4)"])).unwrap();
        assert!(diff.contains("the rewrite returns (3,4)"), "{diff}");
    }
}
