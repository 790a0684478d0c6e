//! Suggestions onto a live database, the one way every caller does it (`pgdiag suggest --apply`,
//! the demo's step 4): the extensions they need created once, each suggestion turned into a
//! [`Change`] and applied by [`super::apply()`] (advisory lock, `CONCURRENTLY` under a lock
//! timeout, views all-or-nothing), each outcome recorded as the report's [`ChangeEntry`], then
//! every statement measured again against its first measurement ([`after_apply`]).

use super::apply::{self, ApplyEvent, ApplyOptions, Change, ChangeOutcome};
use super::pipeline::{StatementInput, observe_now, replays};
use super::report::{
    AfterApply, ApplySection, ChangeEntry, ChangeStatus, Measure, SuggestReport, SuggestedObject,
    Suggestion, SuggestionKind,
};
use super::verify::PlannedStatement;
use crate::pg::{self, Runner};

/// A suggestion as [`super::apply()`] takes it: the index DDL (`CREATE INDEX CONCURRENTLY IF NOT
/// EXISTS`), or the view's statements run in one transaction. Extensions a GIN index needs are not
/// part of it: [`apply_suggestions`] creates them first (`CREATE EXTENSION` is not concurrent-safe
/// DDL on a table).
pub fn change_of(suggestion: &Suggestion) -> Option<Change> {
    match &suggestion.object {
        SuggestedObject::Index(index) => {
            let ddl =
                suggestion.ddl.iter().rev().find(|d| {
                    d.starts_with("CREATE INDEX") || d.starts_with("CREATE UNIQUE INDEX")
                })?;
            Some(Change::Index {
                schema: index.schema.clone(),
                table: index.table.clone(),
                name: index.name.clone(),
                ddl: ddl.clone(),
            })
        }
        SuggestedObject::Matview(mv) => {
            let view = pg::quote_qualified(mv.schema.as_deref(), &mv.name);
            Some(Change::Matview {
                schema: mv.schema.clone(),
                name: mv.name.clone(),
                statements: vec![
                    mv.create_sql.clone(),
                    mv.unique_index_sql.clone(),
                    format!("ANALYZE {view}"),
                ],
            })
        }
    }
}

/// Extensions the chosen indexes need (`pg_trgm` for trigram GIN), to create before applying.
pub fn required_extensions(chosen: &[&Suggestion]) -> Vec<String> {
    let mut names: Vec<String> = chosen
        .iter()
        .filter_map(|s| s.index()?.requires_extension.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The report entry of a suggestion that was not applied, and why.
pub fn skipped(suggestion: &Suggestion, why: &str) -> ChangeEntry {
    ChangeEntry {
        id: suggestion.id.clone(),
        kind: suggestion.kind(),
        name: suggestion.name().to_owned(),
        status: ChangeStatus::Skipped,
        elapsed_ms: None,
        size_bytes: None,
        dropped_invalid: false,
        message: Some(why.to_owned()),
    }
}

/// The report entry of a change that [`super::apply()`] ran (or skipped after a failure).
fn entry(suggestion: &Suggestion, outcome: &ChangeOutcome) -> ChangeEntry {
    let message = match outcome.status {
        ChangeStatus::Created => outcome.dropped_invalid.then(|| {
            "an INVALID index of that name, left by an earlier failed run, was dropped and rebuilt"
                .to_owned()
        }),
        ChangeStatus::AlreadyExisted => None,
        ChangeStatus::Failed => {
            let mut message = outcome
                .failure
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            if let Some(cleanup) = &outcome.cleanup_error {
                message.push_str(&format!(
                    "; dropping the INVALID index it left failed too: {cleanup}"
                ));
            }
            Some(message)
        }
        ChangeStatus::Skipped => Some("not attempted after an earlier failure".to_owned()),
    };
    ChangeEntry {
        id: suggestion.id.clone(),
        kind: suggestion.kind(),
        name: suggestion.name().to_owned(),
        status: outcome.status,
        elapsed_ms: Some(outcome.elapsed_ms),
        size_bytes: outcome.size_bytes,
        dropped_invalid: outcome.dropped_invalid,
        message,
    }
}

/// Create `chosen` on `runner`'s database: the extensions they need, then the changes through
/// [`super::apply()`], stopping at the first failure. Nothing here is an error: what went wrong is
/// in the section (`error`, and each change's status), with every chosen suggestion accounted for.
/// `after` is left empty: see [`after_apply`].
pub async fn apply_suggestions(
    runner: &Runner,
    chosen: &[&Suggestion],
    options: &ApplyOptions,
    on_event: &mut dyn FnMut(ApplyEvent<'_>),
) -> ApplySection {
    let mut section = ApplySection {
        changes: Vec::new(),
        after: Vec::new(),
        error: None,
    };
    let not_attempted = |section: &mut ApplySection, error: String| {
        section.error = Some(error);
        for s in chosen {
            section.changes.push(skipped(s, "not attempted"));
        }
    };
    for extension in required_extensions(chosen) {
        if let Err(e) = pg::admin::create_extension(runner.client(), &extension).await {
            let sql = pg::admin::create_extension_sql(&extension);
            not_attempted(&mut section, format!("{sql}: {e}"));
            return section;
        }
    }
    let pairs: Vec<(&Suggestion, Change)> = chosen
        .iter()
        .filter_map(|s| Some((*s, change_of(s)?)))
        .collect();
    if pairs.is_empty() {
        return section;
    }
    let changes: Vec<Change> = pairs.iter().map(|(_, c)| c.clone()).collect();
    let applied = match apply::apply(runner.client(), &changes, options, on_event).await {
        Ok(report) => report,
        Err(e) => {
            not_attempted(&mut section, e.to_string());
            return section;
        }
    };
    for ((s, _), outcome) in pairs.iter().zip(&applied.outcomes) {
        section.changes.push(entry(s, outcome));
    }
    if let Some(failure) = applied.failure() {
        section.error = Some(format!(
            "{} {} failed; the changes after it were not attempted",
            failure.change.kind(),
            failure.change.name()
        ));
    }
    section
}

/// A statement that could not be measured again after applying.
#[derive(Debug, thiserror::Error)]
pub enum AfterApplyError {
    #[error("re-running statement #{statement} after applying")]
    Rerun {
        statement: usize,
        #[source]
        source: pg::Error,
    },
    #[error("running statement #{statement} rewritten to read {view}")]
    Rewritten {
        statement: usize,
        view: String,
        #[source]
        source: pg::Error,
    },
}

/// Each statement of `report` again, now that its `apply` section's changes exist, against its
/// first measurement; a statement a created view serves is measured rewritten to read it too.
/// Nothing is measured when no change is in place.
pub async fn after_apply(
    runner: &Runner,
    report: &SuggestReport,
    inputs: &[StatementInput],
) -> Result<Vec<AfterApply>, AfterApplyError> {
    let in_place: Vec<&ChangeEntry> = report
        .apply
        .iter()
        .flat_map(|a| &a.changes)
        .filter(|c| c.status.in_place())
        .collect();
    let mut after = Vec::new();
    if in_place.is_empty() {
        return Ok(after);
    }
    for replay in replays(report, inputs) {
        let Some(entry) = report.statement(replay.index) else {
            continue;
        };
        let observed =
            observe_now(runner, &replay, 1)
                .await
                .map_err(|source| AfterApplyError::Rerun {
                    statement: replay.index,
                    source,
                })?;
        let before = Measure {
            cost: entry.cost,
            time_ms: entry.time_ms,
            plan: entry.plan.clone(),
        };
        let mut rewritten = None;
        for change in in_place
            .iter()
            .filter(|c| c.kind == SuggestionKind::Matview)
        {
            let Some(sql) = report
                .suggestions
                .iter()
                .filter(|s| s.id == change.id)
                .filter_map(Suggestion::matview)
                .flat_map(|m| &m.rewritten)
                .find(|r| r.statement == replay.index)
                .map(|r| r.sql.clone())
            else {
                continue;
            };
            let statement = PlannedStatement {
                sql,
                ..replay.clone()
            };
            let observed = observe_now(runner, &statement, 1).await.map_err(|source| {
                AfterApplyError::Rewritten {
                    statement: replay.index,
                    view: change.name.clone(),
                    source,
                }
            })?;
            rewritten = Some(observed.measure);
        }
        after.push(AfterApply {
            statement: replay.index,
            plan_change: plan_change(&before.plan, &observed.measure.plan),
            before,
            after: observed.measure,
            rewritten,
        });
    }
    Ok(after)
}

/// What changed in the plan's accesses: `Seq Scan on reviews → Index Scan using ... on reviews`.
pub fn plan_change(before: &str, after: &str) -> Option<String> {
    if before == after {
        return None;
    }
    let before_parts: Vec<&str> = before.split(", ").collect();
    let after_parts: Vec<&str> = after.split(", ").collect();
    let gone: Vec<&str> = before_parts
        .iter()
        .copied()
        .filter(|p| !after_parts.contains(p))
        .collect();
    let new: Vec<&str> = after_parts
        .iter()
        .copied()
        .filter(|p| !before_parts.contains(p))
        .collect();
    if gone.is_empty() && new.is_empty() {
        return Some(format!("{before} → {after}"));
    }
    Some(format!("{} → {}", gone.join(", "), new.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::plan_change;

    #[test]
    fn plan_change_shows_what_changed() {
        assert_eq!(plan_change("Seq Scan on t", "Seq Scan on t"), None);
        assert_eq!(
            plan_change(
                "Seq Scan on reviews, Index Scan using products_pkey on products",
                "Index Scan using reviews_product_id_idx on reviews, Index Scan using products_pkey on products"
            )
            .as_deref(),
            Some("Seq Scan on reviews → Index Scan using reviews_product_id_idx on reviews")
        );
    }
}
