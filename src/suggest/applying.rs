//! Suggestions onto a live database, the one way every caller does it (`pgdiag suggest --apply`,
//! the demo's step 4): the extensions they need created once, each suggestion turned into a
//! [`Change`] and applied by [`super::apply()`] (advisory lock, a taken name compared by
//! definition, `CONCURRENTLY` watched from a second session that bounds the lock wait and the wait
//! for older transactions apart, views all-or-nothing), each outcome recorded as the report's
//! [`ChangeEntry`] under the name it has in the database, then
//! every statement measured again against its measurement before applying ([`before_apply`],
//! [`after_apply`]), and an index this run created that makes one slower dropped again.

use std::collections::BTreeMap;
use std::time::Duration;

use super::apply::{self, ApplyEvent, ApplyOptions, Change, ChangeOutcome};
use super::noise;
use super::pipeline::{StatementInput, observe_now, replays};
use super::report::{
    AfterApply, ApplySection, ChangeEntry, ChangeStatus, Measure, Planning, SuggestReport,
    SuggestedObject, Suggestion, SuggestionKind, SuggestionStatus, Verdict,
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
        suggested_name: None,
        waits: Vec::new(),
        invalid_left: None,
    }
}

/// The report entry of a change that [`super::apply()`] ran (or skipped after a failure).
fn entry(suggestion: &Suggestion, outcome: &ChangeOutcome) -> ChangeEntry {
    let mut notes: Vec<String> = outcome.note.iter().cloned().collect();
    let message = match outcome.status {
        ChangeStatus::Created => {
            if outcome.dropped_invalid {
                notes.push(
                    "an INVALID index with this name and definition, left by an earlier failed build, was dropped and rebuilt"
                        .to_owned(),
                );
            }
            (!notes.is_empty()).then(|| notes.join("; "))
        }
        ChangeStatus::AlreadyExisted => {
            if outcome.name != outcome.change.name() {
                notes.push(format!(
                    "the same index is already there as {}",
                    pg::quote_ident(&outcome.name)
                ));
            }
            (!notes.is_empty()).then(|| notes.join("; "))
        }
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
            if let Some(note) = &outcome.note {
                message.push_str(&format!(" ({note})"));
            }
            Some(message)
        }
        ChangeStatus::Skipped => Some("not attempted after an earlier failure".to_owned()),
        // Only after_apply reverts, after this entry is written.
        ChangeStatus::Reverted => None,
    };
    ChangeEntry {
        id: suggestion.id.clone(),
        kind: suggestion.kind(),
        name: outcome.name.clone(),
        status: outcome.status,
        elapsed_ms: Some(outcome.elapsed_ms),
        size_bytes: outcome.size_bytes,
        dropped_invalid: outcome.dropped_invalid,
        message,
        suggested_name: (outcome.name != suggestion.name()).then(|| suggestion.name().to_owned()),
        waits: outcome.waits.clone(),
        invalid_left: outcome.invalid_left.clone(),
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
    let mut section = ApplySection::default();
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
    // The second session that watches each build: what it waits for, who blocks it.
    let watcher = match runner.settings().connect().await {
        Ok(watcher) => watcher,
        Err(e) => {
            not_attempted(&mut section, apply::ApplyError::Watcher(e).to_string());
            return section;
        }
    };
    let applied = match apply::apply(runner.client(), &watcher, &changes, options, on_event).await {
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

/// Each statement of `report` measured before anything is applied, the way [`after_apply`]
/// measures it afterwards (one unmeasured warm-up run, then `runs` EXPLAIN ANALYZE), so that the
/// two compare like with like.
pub async fn before_apply(
    runner: &Runner,
    report: &SuggestReport,
    inputs: &[StatementInput],
    runs: usize,
) -> Result<BTreeMap<usize, Measure>, AfterApplyError> {
    let mut before = BTreeMap::new();
    for replay in replays(report, inputs) {
        let observed =
            observe_now(runner, &replay, runs)
                .await
                .map_err(|source| AfterApplyError::Rerun {
                    statement: replay.index,
                    source,
                })?;
        before.insert(replay.index, observed.measure);
    }
    Ok(before)
}

/// Each statement of `report` again, now that its `apply` section's changes exist, against its
/// measurement `before` applying ([`before_apply`]; a statement missing there against its first
/// run); a statement a created view serves is measured rewritten to read it too.
///
/// Do no harm: a statement slower beyond noise ([`super::noise`]) whose new plan uses an index this
/// run created has that index dropped again (`DROP INDEX CONCURRENTLY IF EXISTS`, nothing this run
/// did not create), its change marked `reverted` with the statement and the numbers, and every
/// statement measured again. The section's `after` is the final state. Nothing is measured when no
/// change is in place.
///
/// A harm the index's gains outweigh many times over is kept as a trade-off instead ([`trade_off`]:
/// the harmed statement less than [`TRADE_OFF_MAX_SLOWDOWN`] times slower, the statements the
/// index makes faster saving at least [`TRADE_OFF_FACTOR`] times what it loses), the change's
/// message saying so: dropping it would give back far more than it costs.
///
/// A reverted index's runner-up takes its place: the suggestion rejected only because it was kept
/// for the same statements ([`runner_up`]) is created (with `options`), marked kept, and judged the
/// same way; a runner-up that does harm too is dropped again and the next one tried.
pub async fn after_apply(
    runner: &Runner,
    report: &mut SuggestReport,
    inputs: &[StatementInput],
    before: &BTreeMap<usize, Measure>,
    runs: usize,
    options: &ApplyOptions,
    timeout: Duration,
) -> Result<(), AfterApplyError> {
    let lock_timeout = options.lock_timeout;
    let past_timeout: Vec<usize> = report
        .statements
        .iter()
        .filter(|s| s.planning == Planning::EstimatedAfterTimeout)
        .map(|s| s.index)
        .collect();
    let mut tried: Vec<String> = Vec::new();
    loop {
        let (after, uses) = measure_after(runner, report, inputs, before, runs).await?;
        let Some(section) = report.apply.as_mut() else {
            return Ok(());
        };
        let harmful: Vec<(usize, &AfterApply)> = after
            .iter()
            .filter(|a| a.verdict == Verdict::Slower)
            .flat_map(|a| {
                let uses = uses.get(&a.statement).cloned().unwrap_or_default();
                section
                    .changes
                    .iter()
                    .enumerate()
                    .filter(move |(_, c)| {
                        c.status == ChangeStatus::Created
                            && c.kind == SuggestionKind::Index
                            && uses.contains(&c.name)
                    })
                    .map(|(i, _)| (i, a))
                    .collect::<Vec<_>>()
            })
            .filter(|(i, _)| !tried.contains(&section.changes[*i].id))
            .collect();
        // Each index once, with every statement it makes slower.
        let mut harms: BTreeMap<usize, Vec<&AfterApply>> = BTreeMap::new();
        for (i, a) in harmful {
            harms.entry(i).or_default().push(a);
        }
        let harmful: Vec<(usize, String, Option<String>)> = harms
            .into_iter()
            .map(|(i, harmed)| {
                let reason = harmed
                    .iter()
                    .map(|a| noise::slower_reason(a.statement, &a.before, &a.after))
                    .collect::<Vec<_>>()
                    .join("; ");
                let gains = Gains {
                    after: &after,
                    uses: &uses,
                    past_timeout: &past_timeout,
                    timeout,
                };
                let kept = trade_off(&harmed, &gains, &section.changes[i].name);
                (i, reason, kept)
            })
            .collect();
        section.after = after;
        if harmful.is_empty() {
            return Ok(());
        }
        let mut dropped_any = false;
        for (i, reason, kept) in harmful {
            let change = &section.changes[i];
            if tried.contains(&change.id) {
                continue;
            }
            tried.push(change.id.clone());
            if let Some(why) = kept {
                let note = format!("{reason}; kept: {why}");
                let change = &mut section.changes[i];
                let id = change.id.clone();
                change.message = Some(match change.message.take() {
                    Some(m) => format!("{m}; {note}"),
                    None => note.clone(),
                });
                if let Some(s) = report.suggestions.iter_mut().find(|s| s.id == id) {
                    s.reason
                        .push_str(&format!("\nkept as a trade-off once created: {note}"));
                }
                continue;
            }
            dropped_any = true;
            let schema = report
                .suggestions
                .iter()
                .find(|s| s.id == change.id)
                .and_then(|s| s.index()?.schema.clone());
            let dropped = drop_created(runner, schema.as_deref(), &change.name, lock_timeout).await;
            let change = &mut section.changes[i];
            match dropped {
                Ok(()) => {
                    change.status = ChangeStatus::Reverted;
                    change.message = Some(format!("{reason}; dropped again"));
                    let reverted = change.id.clone();
                    let applied: Vec<String> =
                        section.changes.iter().map(|c| c.id.clone()).collect();
                    if let Some(next) = runner_up(&report.suggestions, &reverted, &applied) {
                        let created =
                            apply_suggestions(runner, &[&next], options, &mut |_| {}).await;
                        for mut entry in created.changes {
                            let note = format!("in place of {reverted}, dropped again");
                            entry.message = Some(match entry.message.take() {
                                Some(m) => format!("{note}; {m}"),
                                None => note,
                            });
                            section.changes.push(entry);
                        }
                        if let Some(s) = report.suggestions.iter_mut().find(|s| s.id == next.id) {
                            s.status = SuggestionStatus::Kept;
                            s.rejected_reason = None;
                            s.reason.push_str(&format!(
                                "\nkept in place of {reverted}, which made a statement slower once created"
                            ));
                        }
                    }
                }
                Err(e) => {
                    change.message = Some(format!(
                        "{reason}; dropping it again failed: {e}; drop it with: {}",
                        pg::admin::drop_index_concurrently_sql(schema.as_deref(), &change.name)
                    ));
                }
            }
        }
        // Only trade-offs: nothing changed, nothing to measure again.
        if !dropped_any {
            return Ok(());
        }
    }
}

/// A measured harm an index may be kept despite: the harmed statement is less than this many
/// times slower...
pub const TRADE_OFF_MAX_SLOWDOWN: f64 = 1.5;
/// ...and the statements the index makes faster save at least this many times the time the
/// harmed ones lose.
pub const TRADE_OFF_FACTOR: f64 = 10.0;

/// What the statements measured after applying say about one index's gains.
#[derive(Debug)]
pub struct Gains<'a> {
    /// Every statement measured after applying.
    pub after: &'a [AfterApply],
    /// The index names each statement's plan uses now.
    pub uses: &'a BTreeMap<usize, Vec<String>>,
    /// The statements that ran past the timeout (judged on planned costs).
    pub past_timeout: &'a [usize],
    pub timeout: Duration,
}

impl Gains<'_> {
    /// The time, in ms, the statements whose plans use `index` and are faster beyond noise save,
    /// each with its number. A statement measured on both sides saves its medians' difference; one
    /// that ran past the timeout at least the timeout times its planned cost's reduction (it ran
    /// that long at least before); one only planned (generically) nothing that can be counted.
    pub fn saved_by(&self, index: &str) -> (f64, Vec<usize>) {
        let mut total = 0.0;
        let mut statements = Vec::new();
        for a in self.after {
            if a.verdict != Verdict::Faster
                || !self
                    .uses
                    .get(&a.statement)
                    .is_some_and(|u| u.iter().any(|n| n == index))
            {
                continue;
            }
            let saved = match (
                a.before.time_ms,
                a.after.time_ms,
                a.before.cost,
                a.after.cost,
            ) {
                (Some(b), Some(t), ..) => b - t,
                (None, None, Some(b), Some(t))
                    if b > 0.0 && self.past_timeout.contains(&a.statement) =>
                {
                    self.timeout.as_secs_f64() * 1000.0 * (1.0 - t / b)
                }
                _ => 0.0,
            };
            if saved > 0.0 {
                total += saved;
                statements.push(a.statement);
            }
        }
        (total, statements)
    }
}

/// Whether `index`, which makes the `harmed` statements slower beyond noise, is kept all the same:
/// each harm measured in time and less than [`TRADE_OFF_MAX_SLOWDOWN`] times slower, and what the
/// index saves elsewhere ([`Gains::saved_by`]) at least [`TRADE_OFF_FACTOR`] times what they lose.
/// The reason, for the change's message: `#17, #20 save at least 118.80 s with it, 756× the
/// 157.0 ms #9 loses (…)`.
pub fn trade_off(harmed: &[&AfterApply], gains: &Gains<'_>, index: &str) -> Option<String> {
    let mut lost = 0.0;
    for a in harmed {
        let (Some(b), Some(t)) = (a.before.time_ms, a.after.time_ms) else {
            return None;
        };
        if b <= 0.0 || t / b >= TRADE_OFF_MAX_SLOWDOWN {
            return None;
        }
        lost += t - b;
    }
    let (saved, statements) = gains.saved_by(index);
    if statements.is_empty() || saved < TRADE_OFF_FACTOR * lost.max(0.0) {
        return None;
    }
    let list = |ns: &mut dyn Iterator<Item = usize>| {
        ns.map(|n| format!("#{n}")).collect::<Vec<_>>().join(", ")
    };
    let at_least = if statements.iter().any(|s| gains.past_timeout.contains(s)) {
        "at least "
    } else {
        ""
    };
    Some(format!(
        "{} {} {at_least}{} with it, {:.0}× the {} {} {} (slower beyond noise, but under {TRADE_OFF_MAX_SLOWDOWN}×)",
        list(&mut statements.iter().copied()),
        if statements.len() == 1 {
            "saves"
        } else {
            "save"
        },
        duration(saved),
        saved / lost.max(f64::MIN_POSITIVE),
        duration(lost),
        list(&mut harmed.iter().map(|a| a.statement)),
        if harmed.len() == 1 { "loses" } else { "lose" },
    ))
}

/// `12.3 ms`, `4.56 s`.
fn duration(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

/// The runner-up of the suggestion `reverted`: among the index suggestions rejected beside it
/// (`Verification::lost_to`: competing for the same statements, no harm of their own), and not in
/// `applied` yet, the one of most net benefit.
pub fn runner_up(
    suggestions: &[Suggestion],
    reverted: &str,
    applied: &[String],
) -> Option<Suggestion> {
    let lost = suggestions.iter().find(|s| s.id == reverted)?;
    lost.index()?;
    let net = |s: &Suggestion| {
        s.verification
            .as_ref()
            .and_then(|v| v.weighed.as_ref())
            .map_or(f64::MIN, |w| w.net)
    };
    suggestions
        .iter()
        .filter(|s| {
            s.status == SuggestionStatus::Rejected
                && !applied.contains(&s.id)
                && s.index().is_some()
                && s.verification.as_ref().and_then(|v| v.lost_to.as_deref()) == Some(lost.name())
        })
        .max_by(|a, b| net(a).total_cmp(&net(b)))
        .cloned()
}

/// Drop an index this run created, waiting for the table's transactions no longer than
/// `lock_timeout`; the session's timeouts are restored afterwards.
async fn drop_created(
    runner: &Runner,
    schema: Option<&str>,
    name: &str,
    lock_timeout: Duration,
) -> Result<(), pg::Error> {
    let client = runner.client();
    let (saved_lock, saved_statement) = pg::admin::timeouts(client).await?;
    pg::admin::set_timeouts(
        client,
        &format!("{}ms", lock_timeout.as_millis()),
        &saved_statement,
    )
    .await?;
    let dropped = pg::admin::drop_index_concurrently(client, schema, name).await;
    let _ = pg::admin::set_timeouts(client, &saved_lock, &saved_statement).await;
    dropped
}

/// Every statement measured once with what is in place now, and the index names each plan uses.
async fn measure_after(
    runner: &Runner,
    report: &SuggestReport,
    inputs: &[StatementInput],
    before: &BTreeMap<usize, Measure>,
    runs: usize,
) -> Result<(Vec<AfterApply>, BTreeMap<usize, Vec<String>>), AfterApplyError> {
    let changes: Vec<&ChangeEntry> = report.apply.iter().flat_map(|a| &a.changes).collect();
    let in_place: Vec<&ChangeEntry> = changes
        .iter()
        .copied()
        .filter(|c| c.status.in_place())
        .collect();
    let mut after = Vec::new();
    let mut uses = BTreeMap::new();
    // Nothing changed: nothing to measure. (After a revert, the statements are measured as they
    // are left.)
    if in_place.is_empty() && !changes.iter().any(|c| c.status == ChangeStatus::Reverted) {
        return Ok((after, uses));
    }
    for replay in replays(report, inputs) {
        let Some(entry) = report.statement(replay.index) else {
            continue;
        };
        let observed =
            observe_now(runner, &replay, runs)
                .await
                .map_err(|source| AfterApplyError::Rerun {
                    statement: replay.index,
                    source,
                })?;
        let before = before
            .get(&replay.index)
            .cloned()
            .unwrap_or_else(|| Measure::timed(entry.cost, entry.time_ms, entry.plan.clone()));
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
            let observed = observe_now(runner, &statement, runs)
                .await
                .map_err(|source| AfterApplyError::Rewritten {
                    statement: replay.index,
                    view: change.name.clone(),
                    source,
                })?;
            rewritten = Some(observed.measure);
        }
        uses.insert(replay.index, observed.indexes.clone());
        after.push(AfterApply {
            statement: replay.index,
            plan_change: plan_change(&before.plan, &observed.measure.plan),
            verdict: noise::verdict(&before, &observed.measure),
            before,
            after: observed.measure,
            rewritten,
        });
    }
    Ok((after, uses))
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
    use super::{Gains, SuggestionStatus, plan_change, runner_up, trade_off};
    use crate::suggest::report::{AfterApply, Measure, Verdict};
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn timed(before: f64, after: f64, verdict: Verdict, statement: usize) -> AfterApply {
        let m = |t: f64, plan: &str| Measure {
            cost: Some(100.0),
            time_ms: Some(t),
            time_min_ms: Some(t * 0.95),
            time_max_ms: Some(t * 1.05),
            runs: Some(5),
            plan: plan.into(),
            plan_nodes: None,
        };
        AfterApply {
            statement,
            before: m(before, "Seq Scan on lineitem"),
            after: m(after, "Index Scan using l_partkey_idx on lineitem"),
            plan_change: None,
            rewritten: None,
            verdict,
        }
    }

    fn planned(before: f64, after: f64, statement: usize) -> AfterApply {
        let m = |c: f64, plan: &str| Measure {
            cost: Some(c),
            plan: plan.into(),
            ..Measure::default()
        };
        AfterApply {
            statement,
            before: m(before, "Seq Scan on lineitem"),
            after: m(after, "Bitmap Index Scan on l_partkey_idx"),
            plan_change: None,
            rewritten: None,
            verdict: Verdict::Faster,
        }
    }

    #[test]
    fn a_small_harm_stays_when_the_index_saves_ten_times_more_elsewhere() {
        let uses: BTreeMap<usize, Vec<String>> = [9, 17, 20, 5]
            .into_iter()
            .map(|n| (n, vec!["l_partkey_idx".to_owned()]))
            .collect();
        let q09 = timed(784.0, 941.0, Verdict::Slower, 9);
        // q17 ran past the 60 s timeout: it saves at least 60 s × 99%.
        let after = vec![q09.clone(), planned(1_000_000.0, 10_000.0, 17)];
        let gains = Gains {
            after: &after,
            uses: &uses,
            past_timeout: &[17],
            timeout: Duration::from_secs(60),
        };
        let kept = trade_off(&[&q09], &gains, "l_partkey_idx").expect("a trade-off");
        assert!(
            kept.starts_with("#17 saves at least 59.40 s with it"),
            "{kept}"
        );
        assert!(kept.contains("378× the 157.0 ms #9 loses"), "{kept}");
        // Another index's gains do not count.
        assert_eq!(trade_off(&[&q09], &gains, "other_idx"), None);
        // Planned only, not past the timeout (a generic plan): nothing that can be counted.
        let generic = Gains {
            past_timeout: &[],
            ..gains
        };
        assert_eq!(trade_off(&[&q09], &generic, "l_partkey_idx"), None);

        // Gains measured in time: 20 ms saved against 157 ms lost is no trade-off.
        let after = vec![q09.clone(), timed(100.0, 80.0, Verdict::Faster, 5)];
        let small = Gains {
            after: &after,
            uses: &uses,
            past_timeout: &[],
            timeout: Duration::from_secs(60),
        };
        assert_eq!(trade_off(&[&q09], &small, "l_partkey_idx"), None);
        // 2 s saved is.
        let after = vec![q09.clone(), timed(2100.0, 100.0, Verdict::Faster, 5)];
        let large = Gains {
            after: &after,
            ..small
        };
        assert!(trade_off(&[&q09], &large, "l_partkey_idx").is_some());
        // Within noise is no gain.
        let after = vec![q09.clone(), timed(2100.0, 100.0, Verdict::WithinNoise, 5)];
        let noise = Gains {
            after: &after,
            ..small
        };
        assert_eq!(trade_off(&[&q09], &noise, "l_partkey_idx"), None);

        // A statement 2.3× slower is never traded, whatever the gains (issue 19's q4).
        let q04 = timed(72.8, 168.7, Verdict::Slower, 4);
        let after = vec![q04.clone(), timed(100_000.0, 100.0, Verdict::Faster, 5)];
        let huge = Gains {
            after: &after,
            ..small
        };
        assert_eq!(trade_off(&[&q04], &huge, "l_partkey_idx"), None);
        // Nor a harm known only as planned cost (its size in time is unknown).
        let costlier = planned(100.0, 120.0, 9);
        assert_eq!(trade_off(&[&costlier], &huge, "l_partkey_idx"), None);
        // Every harm counts: two statements losing 157 ms each against 2 s is still ≥ 10× less.
        assert!(trade_off(&[&q09, &q09], &large, "l_partkey_idx").is_none());
    }

    use crate::advise::{Candidate, IndexColumn};
    use crate::suggest::pipeline::index_suggestion;
    use crate::suggest::report::{Verification, VerifyMode};

    #[test]
    fn a_reverted_index_gives_way_to_the_competitor_rejected_beside_it() {
        let index = |id: &str, keys: &[&str], status, reason: Option<&str>| {
            let columns = keys.iter().map(|k| IndexColumn::asc(*k)).collect();
            let mut s =
                index_suggestion(&Candidate::btree(None, "lineitem", columns), vec![17, 20]);
            s.id = id.into();
            s.status = status;
            s.rejected_reason = reason.map(str::to_owned);
            // Selection records the competitor it lost to (`beside …` in the reason).
            let lost_to = reason
                .and_then(|r| r.strip_prefix("beside "))
                .and_then(|r| r.split(' ').next())
                .map(str::to_owned);
            s.verification = Some(Verification {
                method: VerifyMode::Hypo,
                per_statement: Vec::new(),
                improvement_pct: None,
                size_bytes: None,
                build_ms: None,
                alongside: Vec::new(),
                estimated_size_bytes: None,
                harms: Vec::new(),
                weighed: None,
                lost_to,
            });
            s
        };
        let suggestions = vec![
            index("s1", &["l_partkey"], SuggestionStatus::Kept, None),
            index(
                "s2",
                &["l_partkey", "l_suppkey"],
                SuggestionStatus::Rejected,
                Some(
                    "beside lineitem_l_partkey_idx (kept for the same statements, ≈ 8.6 MB) it takes less than 10% off any statement's cost",
                ),
            ),
            index(
                "s3",
                &["l_shipdate"],
                SuggestionStatus::Rejected,
                Some(
                    "planner does not use it: #17 keeps Index Scan using lineitem_l_partkey_idx on lineitem",
                ),
            ),
        ];
        let next = runner_up(&suggestions, "s1", &["s1".into()]).unwrap();
        assert_eq!(next.id, "s2");
        // Already tried (in the apply section), or not a competitor: none.
        assert!(runner_up(&suggestions, "s1", &["s1".into(), "s2".into()]).is_none());
        assert!(runner_up(&suggestions, "s3", &[]).is_none());
    }

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
