//! Step 4 of the demo: pgdiag's own suggestions for the three seed queries, from the suggest
//! library exactly as `pgdiag suggest --apply --yes --with-matviews` makes them, applied to the
//! seed database, with the proof and the applying recorded for the report.
//!
//! Indexes are verified with HypoPG (planned cost with hypothetical indexes: seconds even at
//! scale 1.0, nothing built twice); HypoPG cannot simulate a view, so the review-stats view is
//! proven the way `--verify build` proves it, built in a rolled-back transaction with the original
//! and rewritten statements timed and their results compared. Applying goes through the apply API
//! `suggest --apply` uses, [`crate::suggest::apply_suggestions`]: `CREATE INDEX CONCURRENTLY` under
//! a lock timeout, the view in one transaction. This module only reshapes suggest's report into
//! the demo's.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Error;
use crate::pg::{Runner, split_statements};
use crate::seed;
use crate::suggest::report::{
    ApplySection, ChangeEntry, ChangeStatus, Measure, Suggestion, SuggestionStatus, VerifyMode,
};
use crate::suggest::{
    ApplyOptions, StatementInput, SuggestOptions, VerifyRequest, after_apply, before_apply,
    change_of, suggest,
};

/// Generous: at scale 1.0 the slowest seed query takes about a second, an index build a few.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);

/// EXPLAIN ANALYZE runs per query when judging, before and after applying, whether a created
/// index makes a query slower (after one warm-up run).
const HARM_RUNS: usize = 3;

/// What step 4 suggested, proved and applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApplyStep {
    /// Whether the suggestions come from the suggest library (true since the integration).
    pub wired: bool,
    /// How the indexes were verified: `hypo`, or `none` when HypoPG is not available (views are
    /// proven by building them either way).
    pub verify: String,
    /// The suggestions chosen for applying (kept, or unverified for want of HypoPG), in order,
    /// each with its proof and what applying it did.
    pub applied: Vec<AppliedSuggestion>,
    /// Suggestions the proof rejected, with the reason: not applied.
    pub rejected: Vec<RejectedSuggestion>,
    /// Queries to time "after" in a rewritten form (a rewrite that reads a materialized view that
    /// was created): (query name, SQL with the same `$n`). Queries not listed are timed as they are.
    pub rewritten: Vec<(String, String)>,
    /// One line for the reader: what happened, or why nothing did.
    pub note: String,
}

impl ApplyStep {
    /// The SQL to time after the suggestions for `query`: its rewrite, if any.
    pub fn rewritten_sql(&self, query: &str) -> Option<&str> {
        self.rewritten
            .iter()
            .find(|(name, _)| name == query)
            .map(|(_, sql)| sql.as_str())
    }

    /// The applied suggestion named `name` (index or view name).
    pub fn suggestion(&self, name: &str) -> Option<&AppliedSuggestion> {
        self.applied.iter().find(|s| s.name == name)
    }
}

/// One suggestion, as proven and applied (the shape of `suggest`'s `suggestions[]` and
/// `apply.changes[]`, docs/suggest-report.md, with statements named by query).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AppliedSuggestion {
    /// `suggest`'s id (`s1`, ...).
    pub id: String,
    /// `index` or `matview`.
    pub kind: String,
    /// The index or view name.
    pub name: String,
    /// The indexed table, or the view's base table.
    pub table: String,
    /// Index columns as written (`product_id`, `score DESC`); a view's key columns.
    pub columns: Vec<String>,
    /// The statements run, in order.
    pub ddl: Vec<String>,
    /// The seed queries it serves (file stems).
    pub serves: Vec<String>,
    /// `kept`, or `unverified` when there was no way to verify it.
    pub suggest_status: String,
    /// Why suggest proposed it.
    pub reason: String,
    pub proof: Option<Proof>,
    /// `created`, `already_existed`, `failed`, `skipped` (after an earlier failure) or
    /// `reverted` (created, then dropped again: it made a query slower beyond noise).
    pub status: String,
    /// The failure, when `status` is `failed`; what it made slower, when `reverted`.
    pub message: Option<String>,
    /// How long applying took (the concurrent build, or the view's transaction).
    pub build_ms: Option<f64>,
    /// On-disk size once created.
    pub size_bytes: Option<i64>,
}

/// The evidence a suggestion was kept on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Proof {
    /// `hypo` (planned cost with a hypothetical index) or `build` (built in a rolled-back
    /// transaction, EXPLAIN ANALYZE timings).
    pub method: String,
    pub per_query: Vec<QueryProof>,
    /// The best improvement over the queries it serves, percent.
    pub improvement_pct: Option<f64>,
    /// Estimated (hypo) or measured (build) size.
    pub size_bytes: Option<i64>,
    /// Views: whether the rewritten queries returned exactly the original's rows.
    pub results_match: Option<bool>,
    /// Suggestions already in place during the measurement (greedy verification).
    pub alongside: Vec<String>,
}

/// One query measured without and with the suggestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueryProof {
    pub query: String,
    /// `cost` and `plan` (hypo), or `time_ms` (build).
    pub before: Measure,
    pub after: Measure,
    /// Whether the planner used it (a view: whether the rewrite returned the same rows).
    pub used: bool,
    pub improvement_pct: Option<f64>,
}

/// A suggestion the proof did not keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RejectedSuggestion {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub ddl: Vec<String>,
    pub reason: String,
}

/// Runs the suggest library on the three seed queries (their `-- pgdiag: params` values bound),
/// proves the views HypoPG cannot simulate by building them, applies what was kept (views
/// included), and returns what happened; the queries a created view serves come back rewritten
/// to read it, for the "after" timing.
///
/// A change that fails to apply does not stop the demo: it is reported with its status, and the
/// timings show the database as it is.
pub async fn apply_suggestions(runner: &mut Runner, target: String) -> Result<ApplyStep, Error> {
    let inputs = seed_inputs()?;
    let server = runner.server_info(target);
    let options = SuggestOptions {
        // hypo where HypoPG can be used (the embedded server), else unverified with a note.
        verify: VerifyRequest::Auto,
        timeout: STATEMENT_TIMEOUT,
        // HypoPG cannot simulate the review-stats view: build it, one timed run per statement.
        build_views: true,
        runs: 1,
        ..SuggestOptions::default()
    };
    let report = suggest(runner, server, &inputs, &options, &mut |_| {}).await?;

    let names: Vec<&str> = seed::queries().iter().map(|(name, _)| *name).collect();
    let query_of = |statement: usize| {
        names
            .get(statement.wrapping_sub(1))
            .map_or_else(|| format!("statement {statement}"), |n| (*n).to_string())
    };

    // Owned: the report takes the apply section (and any revert) below.
    let owned: Vec<Suggestion> = report.actionable().cloned().collect();
    let chosen: Vec<&Suggestion> = owned.iter().collect();
    let rejected = report
        .suggestions
        .iter()
        .filter(|s| s.status == SuggestionStatus::Rejected)
        .map(|s| RejectedSuggestion {
            id: s.id.clone(),
            kind: s.kind().as_str().into(),
            name: s.name().to_owned(),
            ddl: s.ddl.clone(),
            reason: s.rejected_reason.clone().unwrap_or_default(),
        })
        .collect();

    let apply_options = ApplyOptions {
        lock_timeout: options.lock_timeout,
        statement_timeout: Some(STATEMENT_TIMEOUT),
        build_wait: crate::suggest::DEFAULT_BUILD_WAIT,
    };
    // Do no harm, as `suggest --apply` does: every query measured just before and again after,
    // and an index created now that makes one slower beyond noise dropped again (`reverted`).
    let before = if chosen.is_empty() {
        Default::default()
    } else {
        before_apply(runner, &report, &inputs, HARM_RUNS).await?
    };
    let section =
        crate::suggest::apply_suggestions(runner, &chosen, &apply_options, &mut |_| {}).await;
    let mut report = report;
    let failed = section.error.is_some();
    report.apply = Some(section);
    if !failed {
        after_apply(
            runner,
            &mut report,
            &inputs,
            &before,
            HARM_RUNS,
            &apply_options,
            STATEMENT_TIMEOUT,
        )
        .await?;
    }
    let section = report.apply.take().unwrap_or_default();
    let entry_of = |s: &Suggestion| section.changes.iter().find(|c| c.id == s.id);
    let applied: Vec<AppliedSuggestion> = chosen
        .iter()
        .map(|s| described(s, entry_of(s), &section, &query_of))
        .collect();
    let failure = match section
        .changes
        .iter()
        .find(|c| c.status == ChangeStatus::Failed)
    {
        Some(failed) => Some(format!(
            "{}: {}",
            failed.name,
            failed.message.as_deref().unwrap_or_default()
        )),
        None => section.error.clone(),
    };

    // The rewrites of the views that exist now.
    let mut rewritten = Vec::new();
    for s in &chosen {
        if !entry_of(s).is_some_and(|c| c.status.in_place()) {
            continue;
        }
        for r in s.matview().iter().flat_map(|m| &m.rewritten) {
            let query = query_of(r.statement);
            if !rewritten
                .iter()
                .any(|(q, _): &(String, String)| *q == query)
            {
                rewritten.push((query, r.sql.clone()));
            }
        }
    }

    let created = applied
        .iter()
        .filter(|a| a.status == ChangeStatus::Created.as_str())
        .count();
    let reverted = applied
        .iter()
        .filter(|a| a.status == ChangeStatus::Reverted.as_str())
        .count();
    let note = match &failure {
        Some(e) => format!(
            "pgdiag suggest found {} suggestion(s); applying stopped: {e}",
            applied.len()
        ),
        None if applied.is_empty() => format!(
            "pgdiag suggest found nothing worth applying ({} rejected)",
            report.suggestions.len()
        ),
        None => format!(
            "pgdiag suggest found {} suggestion(s) (indexes verified with {}, views proven by building them); {created} created{}",
            applied.len(),
            verify_label(report.verify.mode),
            match reverted {
                0 => String::new(),
                n => format!(", {n} dropped again (made a query slower)"),
            }
        ),
    };
    Ok(ApplyStep {
        wired: true,
        verify: report.verify.mode.as_str().to_owned(),
        applied,
        rejected,
        rewritten,
        note,
    })
}

/// The seed queries as suggest's input, with their `-- pgdiag: params` values.
fn seed_inputs() -> Result<Vec<StatementInput>, Error> {
    let mut inputs = Vec::new();
    for (name, sql) in seed::queries() {
        let plan_error = |message: String| Error::Plan {
            query: name.to_string(),
            message,
        };
        let statement = split_statements(sql)
            .map_err(|e| plan_error(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| plan_error("no statement".into()))?;
        inputs.push(StatementInput::with_own_params(
            format!("{name}.sql"),
            statement,
        ));
    }
    Ok(inputs)
}

/// A chosen suggestion in the demo's shape, with what applying it did (`change`, its entry in
/// suggest's `apply.changes[]`).
fn described(
    s: &Suggestion,
    change: Option<&ChangeEntry>,
    section: &ApplySection,
    query_of: &dyn Fn(usize) -> String,
) -> AppliedSuggestion {
    AppliedSuggestion {
        id: s.id.clone(),
        kind: s.kind().as_str().into(),
        name: s.name().to_owned(),
        table: s.object.table().to_owned(),
        columns: s.object.key_columns(),
        ddl: match change_of(s) {
            Some(change) => change.statements().iter().map(|d| d.to_string()).collect(),
            None => s.ddl.clone(),
        },
        serves: s.serves.iter().map(|&i| query_of(i)).collect(),
        suggest_status: s.status.as_str().to_owned(),
        reason: s.reason.clone(),
        proof: s.verification.as_ref().map(|v| Proof {
            method: v.method.as_str().to_owned(),
            per_query: v
                .per_statement
                .iter()
                .map(|p| QueryProof {
                    query: query_of(p.statement),
                    before: p.before.clone(),
                    after: p.after.clone(),
                    used: p.used,
                    improvement_pct: p.improvement_pct,
                })
                .collect(),
            improvement_pct: v.improvement_pct,
            size_bytes: v.size_bytes,
            results_match: s.matview().and_then(|m| m.results_match),
            alongside: v.alongside.clone(),
        }),
        status: change
            .map_or(ChangeStatus::Skipped, |c| c.status)
            .as_str()
            .into(),
        // The failure; or, when applying never started, why.
        message: change.and_then(|c| match c.status {
            ChangeStatus::Failed | ChangeStatus::Reverted => c.message.clone(),
            ChangeStatus::Skipped if c.elapsed_ms.is_none() => section.error.clone(),
            _ => None,
        }),
        build_ms: change.and_then(|c| c.elapsed_ms),
        size_bytes: change.and_then(|c| c.size_bytes),
    }
}

fn verify_label(mode: VerifyMode) -> &'static str {
    match mode {
        VerifyMode::Hypo => "HypoPG",
        VerifyMode::Build => "builds",
        VerifyMode::None => "nothing (HypoPG unavailable)",
    }
}
