//! Proof before advice: each suggested index is tried, alone and then all kept ones together,
//! inside one transaction that is always rolled back, and kept only when the planner uses it and
//! some statement it serves improves by at least the threshold, and when, with every kept one in
//! place, no statement given is slower beyond noise ([`super::noise`]) because of it.
//!
//! - `hypo`: HypoPG hypothetical indexes and plain EXPLAIN: planned cost, nothing built, no lock
//!   beyond the catalog reads. GIN and materialized views cannot be simulated: left unverified.
//! - `build`: each index really built (not concurrently: this is inside a transaction) in a
//!   savepoint, `EXPLAIN ANALYZE` before and after (median of several runs), rolled back. Real
//!   timings and sizes, but the build holds a SHARE lock on the table (writes wait): bounded by
//!   `lock_timeout` and `statement_timeout`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::report::{
    Basis, IndexInfo, Measure, StatementComparison, StatementVerification, Suggestion,
    SuggestionKind, SuggestionStatus, Verdict, Verification, VerifyMode, number,
};
use super::{benefit, noise};
use crate::advise::index_size::estimate_btree_bytes;
use crate::pg::catalog::{ColumnStats, TableActivity};
use crate::pg::hypopg::HypoIndex;
use crate::pg::{self, ParamValue, hypopg, planner};
use crate::plan::{Explain, PlanNode, PlanNodes};
use crate::units::{fmt_bytes, median};

/// A statement as verification replays it.
#[derive(Debug, Clone)]
pub struct PlannedStatement {
    pub index: usize,
    pub sql: String,
    pub params: Vec<ParamValue>,
    /// `$n` without values: only the generic plan's cost can be compared.
    pub generic: bool,
    /// It ran longer than the timeout under EXPLAIN ANALYZE: only its plain EXPLAIN's cost is
    /// compared, whatever the mode (it is never run again for minutes).
    pub estimated: bool,
    /// How many times it counts in the workload ([`benefit::Weights`]): 1 for SQL given, its
    /// calls per hour (or calls) in workload mode.
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct VerifySettings {
    pub mode: VerifyMode,
    pub min_improvement_pct: f64,
    /// EXPLAIN ANALYZE runs per measurement in `build` mode; the median is kept.
    pub runs: usize,
    /// `statement_timeout` for each statement and each build (zero: none).
    pub timeout: Duration,
    pub lock_timeout: Duration,
    pub server_version_num: i32,
    /// How much an index's size must buy ([`benefit::SIZE_WEIGHT`]); 0 leaves size out.
    pub size_weight: f64,
    /// What the statements' weights are per ([`PlannedStatement::weight`]).
    pub basis: Basis,
}

/// A plan and what it tells verification.
#[derive(Debug, Clone)]
pub struct Observed {
    pub measure: Measure,
    /// Index names the plan uses (Index Scan, Index Only Scan, Bitmap Index Scan).
    pub indexes: Vec<String>,
    /// Relations the plan reads.
    pub relations: Vec<String>,
}

impl Observed {
    /// The plan of `explain` with the execution times of the runs that measured it (none for a
    /// plain EXPLAIN): their median, fastest, slowest and count.
    pub fn from_explain(explain: &Explain, times: &[f64]) -> Observed {
        let nodes = explain.plan.preorder();
        let mut sorted = times.to_vec();
        Observed {
            measure: Measure {
                cost: explain.plan.total_cost,
                time_ms: median(&mut sorted),
                time_min_ms: times.iter().copied().reduce(f64::min),
                time_max_ms: times.iter().copied().reduce(f64::max),
                runs: (!times.is_empty()).then_some(times.len()),
                plan: plan_line(&nodes),
                plan_nodes: Some(PlanNodes::of(explain)),
            },
            indexes: nodes.iter().filter_map(|n| n.index_name.clone()).collect(),
            relations: nodes
                .iter()
                .filter_map(|n| n.relation_name.clone())
                .collect(),
        }
    }
}

/// The plan's table and index accesses on one line, in plan order:
/// `Index Scan using reviews_product_id_idx on reviews, Seq Scan on products`.
pub fn plan_line(nodes: &[&PlanNode]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for node in nodes {
        let label = node.label();
        let part = match (&node.index_name, &node.relation_name) {
            (Some(index), Some(relation)) => format!("{label} using {index} on {relation}"),
            (Some(index), None) => format!("{label} on {index}"),
            (None, Some(relation)) => format!("{label} on {relation}"),
            (None, None) => continue,
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    if parts.is_empty() {
        nodes.first().map(|n| n.label()).unwrap_or_default()
    } else {
        parts.join(", ")
    }
}

/// Measure one statement in the caller's transaction: the generic plan's cost, the plain EXPLAIN
/// cost, or the execution times of `runs` EXPLAIN ANALYZE after one unmeasured warm-up run (so a
/// before and an after both find the cache warm, and the first run's reads from disk are no one's
/// fault).
pub async fn observe(
    client: &Client,
    statement: &PlannedStatement,
    analyze: bool,
    runs: usize,
    server_version_num: i32,
) -> Result<Observed, pg::Error> {
    if statement.generic {
        let explain = planner::explain_generic(client, &statement.sql, server_version_num).await?;
        return Ok(Observed::from_explain(&explain, &[]));
    }
    if !analyze || statement.estimated {
        let explain =
            planner::explain_in_transaction(client, &statement.sql, &statement.params, false)
                .await?;
        return Ok(Observed::from_explain(&explain, &[]));
    }
    planner::explain_in_transaction(client, &statement.sql, &statement.params, true).await?;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let explain =
            planner::explain_in_transaction(client, &statement.sql, &statement.params, true)
                .await?;
        times.extend(explain.execution_time_ms);
        last = Some(explain);
    }
    let explain = last.ok_or_else(|| pg::Error::Config("no EXPLAIN run".into()))?;
    Ok(Observed::from_explain(&explain, &times))
}

/// `CREATE INDEX CONCURRENTLY IF NOT EXISTS ...` as `CREATE INDEX ...`: what can run inside a
/// transaction and what HypoPG accepts. The prefix is ours ([`crate::advise::Candidate::ddl`]), so
/// replacing it is exact.
pub fn transactional_ddl(ddl: &str) -> String {
    for (from, to) in [
        ("CREATE INDEX CONCURRENTLY IF NOT EXISTS ", "CREATE INDEX "),
        (
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ",
            "CREATE UNIQUE INDEX ",
        ),
    ] {
        if let Some(rest) = ddl.strip_prefix(from) {
            return format!("{to}{rest}");
        }
    }
    ddl.to_owned()
}

/// The index DDL of a suggestion (the last statement: an extension may come first).
fn index_ddl(suggestion: &Suggestion) -> Option<String> {
    suggestion
        .ddl
        .iter()
        .rev()
        .find(|d| d.starts_with("CREATE INDEX") || d.starts_with("CREATE UNIQUE INDEX"))
        .map(|d| transactional_ddl(d))
}

fn hypo_supported(suggestion: &Suggestion) -> bool {
    suggestion.index().is_some_and(|i| i.method == "btree")
}

/// Decide kept or rejected from the per-statement figures.
pub fn decide(suggestion: &mut Suggestion, min_improvement_pct: f64) {
    let table = suggestion.object.table().to_owned();
    let Some(verification) = &mut suggestion.verification else {
        return;
    };
    let used: Vec<&StatementVerification> = verification
        .per_statement
        .iter()
        .filter(|s| s.used)
        .collect();
    let best = used
        .iter()
        .filter_map(|s| s.improvement_pct)
        .max_by(f64::total_cmp);
    verification.improvement_pct = verification
        .per_statement
        .iter()
        .filter_map(|s| s.improvement_pct)
        .max_by(f64::total_cmp);
    if used.is_empty() {
        suggestion.status = SuggestionStatus::Rejected;
        suggestion.rejected_reason = Some(format!(
            "planner does not use it: {}",
            chosen_plans(&verification.per_statement, "keeps", &table)
        ));
        return;
    }
    // Do no harm: a statement it makes slower beyond noise (a changed plan), served or not,
    // rejects it whatever it gains elsewhere; the reason gives both.
    let harmed: Vec<&StatementVerification> = verification
        .per_statement
        .iter()
        .chain(&verification.harms)
        .filter(|p| noise::slower(&p.before, &p.after))
        .collect();
    if !harmed.is_empty() {
        let gain = used
            .iter()
            .filter(|p| p.improvement_pct.is_some_and(|i| i > 0.0))
            .max_by(|a, b| {
                a.improvement_pct
                    .unwrap_or(0.0)
                    .total_cmp(&b.improvement_pct.unwrap_or(0.0))
            })
            .map(|p| {
                format!(
                    "helps #{} by {}% but ",
                    p.statement,
                    format_pct(p.improvement_pct.unwrap_or(0.0))
                )
            })
            .unwrap_or_default();
        let harms: Vec<String> = harmed
            .iter()
            .map(|p| noise::harm(p.statement, &p.before, &p.after))
            .collect();
        suggestion.status = SuggestionStatus::Rejected;
        suggestion.rejected_reason =
            Some(format!("{gain}makes {}: rejected", harms.join(", and ")));
        return;
    }
    let on = if used.iter().all(|s| s.after.time_ms.is_some()) {
        "time"
    } else {
        "cost"
    };
    match best {
        Some(best) if best >= min_improvement_pct => {
            suggestion.status = SuggestionStatus::Kept;
            suggestion.rejected_reason = None;
        }
        best => {
            suggestion.status = SuggestionStatus::Rejected;
            let used: Vec<StatementVerification> = used.into_iter().cloned().collect();
            suggestion.rejected_reason = Some(format!(
                "improves {on} by {}% < {}%: {}",
                format_pct(best.unwrap_or(0.0)),
                format_pct(min_improvement_pct),
                chosen_plans(&used, "uses it:", &table)
            ));
        }
    }
}

/// What the planner chose for each statement on the suggestion's table, with the numbers: `#1
/// keeps Seq Scan on t (cost 25.9 → 25.4)`, `#1 uses it: Index Scan using t_a_idx on t (cost 25.9 →
/// 25.4)`; so that a rejection is never a bare claim.
fn chosen_plans(per_statement: &[StatementVerification], verb: &str, table: &str) -> String {
    per_statement
        .iter()
        .map(|p| {
            format!(
                "#{} {verb} {} ({})",
                p.statement,
                accesses_of(&p.after.plan, table),
                noise::figures(&p.before, &p.after)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The parts of a one-line plan ([`plan_line`]) that read `table`; the whole line when none does.
fn accesses_of(plan: &str, table: &str) -> String {
    let suffix = format!(" on {table}");
    let parts: Vec<&str> = plan
        .split(", ")
        .filter(|part| part.ends_with(&suffix))
        .collect();
    if parts.is_empty() {
        plan.to_owned()
    } else {
        parts.join(", ")
    }
}

fn format_pct(value: f64) -> String {
    if value.abs() >= 1.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Verify every suggestion in place (status, verification, rejected reason) and return the
/// statements' figures with all kept suggestions together. Everything happens in one transaction
/// that is rolled back, whatever happens.
pub async fn verify(
    client: &Client,
    statements: &[PlannedStatement],
    suggestions: &mut [Suggestion],
    settings: &VerifySettings,
    relief: &BTreeMap<usize, f64>,
    on_progress: &mut dyn FnMut(&str),
) -> Result<Vec<StatementComparison>, pg::Error> {
    if settings.mode == VerifyMode::None {
        return Ok(Vec::new());
    }
    pg::tx::rolled_back(client, async |client| {
        let result = verify_in_transaction(
            client,
            statements,
            suggestions,
            settings,
            relief,
            on_progress,
        )
        .await;
        if settings.mode == VerifyMode::Hypo && result.is_ok() {
            // Hypothetical indexes live in the session, not the transaction: the rollback keeps
            // them, and every later plain EXPLAIN (a statement judged on estimates, measured
            // around --apply) would plan with the kept ones.
            hypopg::reset(client).await?;
        }
        result
    })
    .await
}

async fn verify_in_transaction(
    client: &Client,
    statements: &[PlannedStatement],
    suggestions: &mut [Suggestion],
    settings: &VerifySettings,
    relief: &BTreeMap<usize, f64>,
    on_progress: &mut dyn FnMut(&str),
) -> Result<Vec<StatementComparison>, pg::Error> {
    let build = settings.mode == VerifyMode::Build;
    if build {
        pg::admin::set_local_timeouts(client, Some(settings.lock_timeout), settings.timeout)
            .await?;
    } else {
        hypopg::ensure_extension(client).await?;
        pg::admin::set_local_timeouts(client, None, settings.timeout).await?;
    }

    on_progress("measuring the statements as they run today");
    let mut before: BTreeMap<usize, Measure> = BTreeMap::new();
    let mut reads: Reads = BTreeMap::new();
    for statement in statements {
        // A statement that cannot be measured here was reported when it was planned.
        if let Ok(observed) = observe_with(client, statement, settings).await {
            before.insert(statement.index, observed.measure);
            reads.insert(statement.index, observed.relations);
        }
    }
    let weights = benefit::Weights::new(
        settings.basis,
        statements.iter().map(|s| (s.index, s.weight)).collect(),
    );
    let weights = &weights;
    let total = (
        before
            .iter()
            .filter_map(|(s, m)| Some(m.time_ms? * weights.of(*s)))
            .sum::<f64>(),
        before
            .iter()
            .filter_map(|(s, m)| Some(m.cost? * weights.of(*s)))
            .sum::<f64>(),
    );
    let mut tables = TableFactsCache::default();
    let data_bytes = data_bytes(client, &reads).await;
    // The workload as it stands: each statement's figure, less the share a kept view takes away.
    let scale = |now: &BTreeMap<usize, Measure>| {
        let left = |(statement, figure): (&usize, f64)| {
            figure * weights.of(*statement) * (1.0 - relief.get(statement).copied().unwrap_or(0.0))
        };
        Scale {
            weights,
            total,
            now: (
                now.iter()
                    .filter_map(|(s, m)| Some((s, m.time_ms?)))
                    .map(left)
                    .sum::<f64>(),
                now.iter()
                    .filter_map(|(s, m)| Some((s, m.cost?)))
                    .map(left)
                    .sum::<f64>(),
            ),
            data_bytes,
        }
    };

    // Pass 1: each suggestion alone against the statements as they are: those it serves, and
    // every other statement reading its table (harm).
    for suggestion in suggestions.iter_mut() {
        let supported = if build {
            suggestion.kind() == SuggestionKind::Index
        } else {
            hypo_supported(suggestion)
        };
        if !supported || index_ddl(suggestion).is_none() {
            suggestion.status = SuggestionStatus::Unverified;
            continue;
        }
        on_progress(&format!("trying {}", suggestion.name()));
        match trial(
            client, statements, suggestion, settings, &before, &reads, false,
        )
        .await
        {
            Ok((verification, _)) => {
                suggestion.verification = Some(verification);
                judge(
                    client,
                    suggestion,
                    settings,
                    &reads,
                    scale(&before),
                    &mut tables,
                )
                .await;
            }
            Err(e) => {
                suggestion.status = SuggestionStatus::Rejected;
                suggestion.rejected_reason = Some(format!("could not try it: {e}"));
            }
        }
    }

    // Pass 2, greedy on net benefit: the most beneficial first (a smaller near-equal competitor
    // before a larger one, [`benefit::order`]), each next one judged on what it adds to those
    // already kept, on every statement reading its table. A statement's cost can be dominated by
    // a problem another suggestion fixes; alone, a useful index then looks negligible, and two
    // indexes serving the same need would both look useful.
    // Every suggestion the planner used alone, unless it did harm: one below the threshold alone
    // may pass it beside the others (the statement's cost was dominated by what they fix).
    let candidates: Vec<usize> = (0..suggestions.len())
        .filter(|&i| {
            suggestions[i].verification.as_ref().is_some_and(|v| {
                v.per_statement.iter().any(|p| p.used)
                    && !v
                        .per_statement
                        .iter()
                        .chain(&v.harms)
                        .any(|p| noise::slower(&p.before, &p.after))
            })
        })
        .collect();
    let contenders: Vec<benefit::Contender> = candidates
        .iter()
        .map(|&i| contender(&suggestions[i]))
        .collect();
    let order: Vec<usize> = benefit::order(&contenders)
        .into_iter()
        .map(|position| candidates[position])
        .collect();
    if build {
        // Where the kept indexes can all be taken away again, to judge them for harm.
        client.batch_execute("SAVEPOINT pgdiag_kept").await?;
    }
    let mut current = before.clone();
    // The kept suggestions in place, in order, with their hypothetical index (hypo).
    let mut placed: Vec<Placed> = Vec::new();
    for i in order {
        let hypo = if !placed.is_empty() {
            let suggestion = &suggestions[i];
            on_progress(&format!("trying {} with the kept ones", suggestion.name()));
            let renames = renames(&placed);
            let mut now = Vec::new();
            for statement in statements
                .iter()
                .filter(|s| measured_for(suggestion, s.index, &reads))
            {
                if let Ok(observed) = observe_with(client, statement, settings).await {
                    now.push((statement.index, renamed(&renames, observed.measure)));
                }
            }
            current.extend(now);
            let tried = trial(
                client, statements, suggestion, settings, &current, &reads, true,
            )
            .await;
            let suggestion = &mut suggestions[i];
            match tried {
                Ok((mut verification, hypo)) => {
                    verification.alongside = placed.iter().map(|p| p.name.clone()).collect();
                    for p in verification
                        .per_statement
                        .iter_mut()
                        .chain(verification.harms.iter_mut())
                    {
                        p.after = renamed(&renames, p.after.clone());
                    }
                    suggestion.verification = Some(verification);
                    judge(
                        client,
                        suggestion,
                        settings,
                        &reads,
                        scale(&current),
                        &mut tables,
                    )
                    .await;
                    if suggestion.status == SuggestionStatus::Kept {
                        beside_competitor(i, &placed, suggestions, &before, settings);
                    } else {
                        note_smaller_competitor(i, &placed, suggestions);
                    }
                    if suggestions[i].status != SuggestionStatus::Kept {
                        undo_trial(client, settings, hypo.as_ref()).await?;
                        continue;
                    }
                    hypo
                }
                Err(e) => {
                    // trial has already taken it away.
                    suggestion.status = SuggestionStatus::Rejected;
                    suggestion.rejected_reason = Some(format!("could not try it: {e}"));
                    continue;
                }
            }
        } else if suggestions[i].status == SuggestionStatus::Kept {
            // The first one: its alone figures stand; put it in place for the next ones.
            let (_, hypo) = trial(
                client,
                statements,
                &suggestions[i],
                settings,
                &current,
                &reads,
                true,
            )
            .await?;
            hypo
        } else {
            continue;
        };
        keep_trial(client, settings).await?;
        // The workload as it stands now, for the next ones' size price: what this one's trial
        // measured with it in place (the others are measured again before each trial).
        if let Some(v) = &suggestions[i].verification {
            for p in v.per_statement.iter().chain(&v.harms) {
                current.insert(p.statement, p.after.clone());
            }
        }
        placed.push(Placed {
            suggestion: i,
            name: suggestions[i].name().to_owned(),
            hypo,
        });
    }

    // Kept early, outdone later: a kept suggestion competing with one kept after it (the same
    // table, statements in common; a plain index and its covering variant) is judged again with
    // every other kept one in place, and stays only if it still adds the threshold on a statement.
    placed = drop_redundant(
        client,
        statements,
        suggestions,
        settings,
        placed,
        on_progress,
    )
    .await?;

    // Do no harm: every statement given, not only those a kept suggestion serves, measured again
    // with every kept suggestion in place. A statement slower beyond noise with a new plan makes
    // the kept suggestions responsible for it rejected, and the rest is measured again.
    if placed.is_empty() {
        return Ok(Vec::new());
    }
    let mut unattributed: Vec<usize> = Vec::new();
    loop {
        on_progress("measuring every statement with the kept suggestions together");
        let renames = renames(&placed);
        let mut combined = Vec::new();
        let mut uses: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for statement in statements {
            let (Some(base), Ok(after)) = (
                before.get(&statement.index),
                observe_with(client, statement, settings).await,
            ) else {
                continue;
            };
            uses.insert(
                statement.index,
                after
                    .indexes
                    .iter()
                    .map(|name| renamed_name(&renames, name))
                    .collect(),
            );
            let after = renamed(&renames, after.measure);
            combined.push(StatementComparison {
                statement: statement.index,
                verdict: noise::verdict(base, &after),
                before: base.clone(),
                after,
            });
        }
        let Some(harmed) = combined
            .iter()
            .find(|c| c.verdict == Verdict::Slower && !unattributed.contains(&c.statement))
            .cloned()
        else {
            return Ok(combined);
        };
        let Some(statement) = statements.iter().find(|s| s.index == harmed.statement) else {
            unattributed.push(harmed.statement);
            continue;
        };
        on_progress(&format!(
            "statement #{} is slower with the kept suggestions: finding which",
            harmed.statement
        ));
        // Suspects: the kept suggestions its new plan uses; when it uses none, any of them may
        // have changed its plan.
        let used = uses.remove(&harmed.statement).unwrap_or_default();
        let mut suspects: Vec<usize> = placed
            .iter()
            .filter(|p| used.contains(&p.name))
            .map(|p| p.suggestion)
            .collect();
        if suspects.is_empty() {
            suspects = placed.iter().map(|p| p.suggestion).collect();
        }
        let kept: Vec<usize> = placed.iter().map(|p| p.suggestion).collect();
        let mut responsible = Vec::new();
        for &suspect in &suspects {
            let others: Vec<usize> = kept.iter().copied().filter(|&i| i != suspect).collect();
            placed = put_in_place(client, settings, suggestions, placed, &others).await?;
            if restores(client, statement, settings, &placed, &harmed.before).await {
                responsible.push(suspect);
            }
        }
        if responsible.is_empty() && suspects.len() > 1 {
            // Only together: each alone would do the harm the others do.
            let others: Vec<usize> = kept
                .iter()
                .copied()
                .filter(|i| !suspects.contains(i))
                .collect();
            placed = put_in_place(client, settings, suggestions, placed, &others).await?;
            if restores(client, statement, settings, &placed, &harmed.before).await {
                responsible = suspects.clone();
            }
        }
        if responsible.is_empty() {
            // Not the suggestions' doing (the machine got busier): nothing to reject for it.
            unattributed.push(harmed.statement);
            placed = put_in_place(client, settings, suggestions, placed, &kept).await?;
            continue;
        }
        let reason = noise::slower_reason(harmed.statement, &harmed.before, &harmed.after);
        for &i in &responsible {
            suggestions[i].status = SuggestionStatus::Rejected;
            suggestions[i].rejected_reason = Some(reason.clone());
        }
        let remaining: Vec<usize> = kept
            .into_iter()
            .filter(|i| !responsible.contains(i))
            .collect();
        placed = put_in_place(client, settings, suggestions, placed, &remaining).await?;
        if placed.is_empty() {
            return Ok(Vec::new());
        }
    }
}

/// The relations each statement's plan reads, as measured before anything.
type Reads = BTreeMap<usize, Vec<String>>;

/// Whether a trial of `suggestion` measures `statement`: one it serves, or one reading its table.
fn measured_for(suggestion: &Suggestion, statement: usize, reads: &Reads) -> bool {
    suggestion.serves.contains(&statement)
        || reads
            .get(&statement)
            .is_some_and(|r| r.iter().any(|t| t == suggestion.object.table()))
}

/// What a table's statistics say, read once per table: its rows, its columns' statistics, its
/// activity.
#[derive(Default)]
struct TableFactsCache(BTreeMap<(Option<String>, String), TableFacts>);

#[derive(Clone)]
struct TableFacts {
    rows: Option<f64>,
    columns: Vec<ColumnStats>,
    activity: Option<TableActivity>,
}

impl TableFactsCache {
    async fn get(
        &mut self,
        client: &Client,
        schema: Option<&str>,
        table: &str,
    ) -> Result<TableFacts, pg::Error> {
        let key = (schema.map(str::to_owned), table.to_owned());
        if let Some(facts) = self.0.get(&key) {
            return Ok(facts.clone());
        }
        let facts = TableFacts {
            rows: planner::reltuples(client, schema, table).await?,
            columns: pg::catalog::column_stats(client, schema, table).await?,
            activity: pg::catalog::table_activity(client, schema, table).await?,
        };
        self.0.insert(key, facts.clone());
        Ok(facts)
    }
}

/// pgdiag's estimate of a btree suggestion's size ([`crate::advise::index_size`]): the table's
/// rows (those the predicate keeps, for a partial index) and its columns' statistics.
async fn estimate_size(
    client: &Client,
    index: &IndexInfo,
    facts: &TableFacts,
    server_version_num: i32,
) -> Option<i64> {
    if index.method != "btree" {
        return None;
    }
    let mut rows = facts.rows.filter(|r| *r > 0.0)?;
    if let Some(predicate) = &index.predicate {
        let kept =
            planner::estimated_rows(client, index.schema.as_deref(), &index.table, predicate)
                .await
                .ok()??;
        rows = kept.min(rows);
    }
    let find = |name: &str| facts.columns.iter().find(|c| c.name == name);
    let keys: Vec<&ColumnStats> = index
        .columns
        .iter()
        .map(|c| find(&c.name))
        .collect::<Option<_>>()?;
    let include: Vec<&ColumnStats> = index
        .include
        .iter()
        .map(|c| find(c))
        .collect::<Option<_>>()?;
    estimate_btree_bytes(rows, &keys, &include, server_version_num >= 130_000)
}

/// pgdiag's estimate of the size `index` will have once built, read from its table's statistics
/// ([`crate::advise::index_size`]) in a rolled-back transaction; `None` when it cannot be made.
pub async fn estimated_index_size(
    client: &Client,
    index: &IndexInfo,
    server_version_num: i32,
) -> Result<Option<i64>, pg::Error> {
    pg::tx::rolled_back(client, async |client| {
        let facts = TableFactsCache::default()
            .get(client, index.schema.as_deref(), &index.table)
            .await?;
        Ok(estimate_size(client, index, &facts, server_version_num).await)
    })
    .await
}

/// Decide a tried suggestion ([`decide`]) and weigh it ([`benefit::weigh`]): its estimated size,
/// and its upkeep from its table's writes; one kept whose upkeep outweighs what it saves is
/// rejected. Statistics that cannot be read leave the estimate and the upkeep out.
async fn judge(
    client: &Client,
    suggestion: &mut Suggestion,
    settings: &VerifySettings,
    reads: &Reads,
    scale: Scale<'_>,
    tables: &mut TableFactsCache,
) {
    let Some(index) = suggestion.index().cloned() else {
        decide(suggestion, settings.min_improvement_pct);
        return;
    };
    let facts = tables
        .get(client, index.schema.as_deref(), &index.table)
        .await
        .ok();
    let estimated = match &facts {
        Some(facts) => estimate_size(client, &index, facts, settings.server_version_num).await,
        None => None,
    };
    let table_reads: f64 = reads
        .iter()
        .filter(|(_, r)| r.contains(&index.table))
        .map(|(s, _)| scale.weights.of(*s))
        .sum();
    let upkeep = benefit::Upkeep {
        entries_per_read: facts
            .as_ref()
            .and_then(|f| f.activity.as_ref())
            .map(benefit::entries_per_read),
        reads: table_reads,
        rows: facts.as_ref().and_then(|f| f.rows).unwrap_or(0.0),
    };
    if let Some(verification) = &mut suggestion.verification {
        verification.estimated_size_bytes = estimated;
        let measured: Vec<&StatementVerification> = verification
            .per_statement
            .iter()
            .chain(&verification.harms)
            .collect();
        verification.weighed = Some(benefit::weigh(
            &measured,
            scale.weights,
            upkeep,
            verification.weighed_size(),
            scale.total,
            scale.now,
            scale.data_bytes,
        ));
    }
    decide(suggestion, settings.min_improvement_pct);
    let Some(weighed) = suggestion
        .verification
        .as_ref()
        .and_then(|v| v.weighed.clone())
    else {
        return;
    };
    if suggestion.status == SuggestionStatus::Kept && weighed.upkeep > 0.0 && weighed.net <= 0.0 {
        suggestion.status = SuggestionStatus::Rejected;
        suggestion.rejected_reason = Some(format!(
            "its upkeep outweighs its gain: it saves {} {unit} {per}, but {} takes {} index entries per read of it, read {} times {per}: ≈ {} {unit} of upkeep",
            number(weighed.saved - weighed.lost),
            index.table,
            number(weighed.entries_per_read.unwrap_or(0.0)),
            number(table_reads),
            number(weighed.upkeep),
            unit = weighed.unit,
            per = weighed.basis.phrase(),
        ));
        return;
    }
    // Size in the balance: what it saves beside the kept ones must pay for what it adds.
    let (Some(saves), Some(adds), Some(size), Some(data)) = (
        weighed.saves_now_pct,
        weighed.size_share_pct,
        weighed.size_bytes,
        scale.data_bytes,
    ) else {
        return;
    };
    let price = benefit::SizePrice {
        saves_pct: saves,
        adds_pct: adds,
    };
    if suggestion.status == SuggestionStatus::Kept && !price.paid(settings.size_weight) {
        let now = if weighed.unit == "ms" {
            scale.now.0
        } else {
            scale.now.1
        };
        let beside = suggestion
            .verification
            .as_ref()
            .is_some_and(|v| !v.alongside.is_empty());
        suggestion.status = SuggestionStatus::Rejected;
        suggestion.rejected_reason = Some(format!(
            "does not pay for its size: it makes the workload {:.3}× faster (it saves {}% of its {}: {} of {} {unit}{}) but the data the statements read {:.3}× larger (+{}%, ≈ {} on {}); it must speed the workload up at least as many times as it grows the data (size weight {})",
            price.speedup(),
            format_pct(saves),
            if weighed.unit == "ms" {
                "time"
            } else {
                "planned cost"
            },
            number(weighed.net),
            number(now),
            if beside {
                ", beside the suggestions kept before it"
            } else {
                ""
            },
            price.growth(),
            format_pct(adds),
            fmt_bytes(size),
            fmt_bytes(data),
            settings.size_weight,
            unit = weighed.unit,
        ));
    }
}

/// The workload's figures a suggestion is weighed against ([`benefit::weigh`]).
#[derive(Debug, Clone, Copy)]
struct Scale<'a> {
    /// How many times each statement counts.
    weights: &'a benefit::Weights,
    /// Time and planned cost of every statement, before anything.
    total: (f64, f64),
    /// The same, as the workload stands when the suggestion is judged.
    now: (f64, f64),
    /// The size of the data the statements read; `None` when it cannot be read.
    data_bytes: Option<i64>,
}

/// The size of the relations the statements read (tables with their indexes and TOAST), before
/// anything; `None` when none can be found.
async fn data_bytes(client: &Client, reads: &Reads) -> Option<i64> {
    let mut relations: Vec<&String> = reads.values().flatten().collect();
    relations.sort();
    relations.dedup();
    let mut total = 0;
    for relation in relations {
        if let Ok(Some(bytes)) = pg::catalog::total_relation_size(client, relation).await {
            total += bytes;
        }
    }
    (total > 0).then_some(total)
}

/// A suggestion as [`benefit::order`] sees it.
fn contender(suggestion: &Suggestion) -> benefit::Contender {
    let verification = suggestion.verification.as_ref();
    benefit::Contender {
        table: pg::quote_qualified(
            suggestion.index().and_then(|i| i.schema.as_deref()),
            suggestion.object.table(),
        ),
        serves: suggestion.serves.clone(),
        net_share_pct: verification
            .and_then(|v| v.weighed.as_ref())
            .map_or(0.0, |w| w.net_share_pct),
        improvement_pct: verification
            .and_then(|v| v.improvement_pct)
            .unwrap_or(f64::MIN),
        size_bytes: verification.and_then(Verification::weighed_size),
    }
}

/// Net benefit beside a competitor: a suggestion tried beside a kept one competing with it (the
/// same table, statements in common: a covering index beside its plain variant) must take the
/// threshold off some statement's cost as it was before anything, not only off what the other
/// left: a covering index whose index-only scan turns 250 into 5 on a statement that cost 3,600
/// adds 7%, which its size does not buy. Rejected otherwise, naming the competitor and sizes.
fn beside_competitor(
    i: usize,
    placed: &[Placed],
    suggestions: &mut [Suggestion],
    original: &BTreeMap<usize, Measure>,
    settings: &VerifySettings,
) {
    let this = contender(&suggestions[i]);
    let Some(rival) = placed
        .iter()
        .map(|p| p.suggestion)
        .find(|&k| benefit::compete(&contender(&suggestions[k]), &this))
    else {
        return;
    };
    let Some(verification) = &suggestions[i].verification else {
        return;
    };
    let mut best: Option<(usize, f64, String)> = None;
    for p in verification.per_statement.iter().filter(|p| p.used) {
        let Some(first) = original.get(&p.statement) else {
            continue;
        };
        let (saved, whole) = match (p.before.time_ms, p.after.time_ms, first.time_ms) {
            (Some(b), Some(a), Some(f)) => (b - a, f),
            _ => match (p.before.cost, p.after.cost, first.cost) {
                (Some(b), Some(a), Some(f)) => (b - a, f),
                _ => continue,
            },
        };
        if whole <= 0.0 {
            continue;
        }
        let share = saved / whole * 100.0;
        if best.as_ref().is_none_or(|(_, s, _)| share > *s) {
            best = Some((
                p.statement,
                share,
                format!(
                    "#{} {} beside it, {}% of its {} before any index",
                    p.statement,
                    noise::figures(&p.before, &p.after),
                    format_pct(share),
                    first.figure()
                ),
            ));
        }
    }
    if best
        .as_ref()
        .is_some_and(|(_, share, _)| *share >= settings.min_improvement_pct)
    {
        return;
    }
    let size = |k: usize| {
        contender(&suggestions[k]).size_bytes.map_or_else(
            || "size unknown".to_owned(),
            |b| format!("≈ {}", fmt_bytes(b)),
        )
    };
    let reason = format!(
        "beside {} (kept for the same statements, {}) it takes less than {}% off any statement's cost before any index, for {}: {}",
        suggestions[rival].name(),
        size(rival),
        format_pct(settings.min_improvement_pct),
        size(i),
        best.map_or_else(|| "it is not used".to_owned(), |(_, _, text)| text),
    );
    let rival = suggestions[rival].name().to_owned();
    let suggestion = &mut suggestions[i];
    suggestion.status = SuggestionStatus::Rejected;
    suggestion.rejected_reason = Some(reason);
    if let Some(v) = &mut suggestion.verification {
        v.lost_to = Some(rival);
    }
}

/// A suggestion rejected beside kept ones says which smaller competitor it lost to, with both
/// sizes: the net-benefit selection's reason.
fn note_smaller_competitor(i: usize, placed: &[Placed], suggestions: &mut [Suggestion]) {
    let this = contender(&suggestions[i]);
    let Some(winner) = placed.iter().map(|p| p.suggestion).find(|&k| {
        let other = contender(&suggestions[k]);
        other.table == this.table && other.serves.iter().any(|s| this.serves.contains(s))
    }) else {
        return;
    };
    let size = |k: usize| {
        contender(&suggestions[k]).size_bytes.map_or_else(
            || "size unknown".to_owned(),
            |b| format!("≈ {}", fmt_bytes(b)),
        )
    };
    let note = format!(
        "; {} ({}) is kept for the same statements, this one would take {}",
        suggestions[winner].name(),
        size(winner),
        size(i)
    );
    let winner = suggestions[winner].name().to_owned();
    let suggestion = &mut suggestions[i];
    if let Some(reason) = &mut suggestion.rejected_reason {
        reason.push_str(&note);
    }
    // Lost to the winner, unless it did harm of its own: then it is no runner-up.
    if let Some(v) = &mut suggestion.verification
        && !v
            .per_statement
            .iter()
            .chain(&v.harms)
            .any(|p| noise::slower(&p.before, &p.after))
    {
        v.lost_to = Some(winner);
    }
}

/// Reject the kept suggestions that add less than the threshold beside the others kept after
/// them that compete with them ([`benefit::compete`]): each is taken away, the others staying, and
/// the statements it serves measured again. Returns what stays in place.
async fn drop_redundant(
    client: &Client,
    statements: &[PlannedStatement],
    suggestions: &mut [Suggestion],
    settings: &VerifySettings,
    mut placed: Vec<Placed>,
    on_progress: &mut dyn FnMut(&str),
) -> Result<Vec<Placed>, pg::Error> {
    let order: Vec<usize> = placed.iter().map(|p| p.suggestion).collect();
    for (position, &i) in order.iter().enumerate() {
        let kept: Vec<usize> = placed.iter().map(|p| p.suggestion).collect();
        let this = contender(&suggestions[i]);
        let Some(&rival) = order[position + 1..]
            .iter()
            .find(|k| kept.contains(k) && benefit::compete(&this, &contender(&suggestions[**k])))
        else {
            continue;
        };
        on_progress(&format!(
            "judging {} again beside {}",
            suggestions[i].name(),
            suggestions[rival].name()
        ));
        let served: Vec<&PlannedStatement> = statements
            .iter()
            .filter(|s| suggestions[i].serves.contains(&s.index))
            .collect();
        let renames_with = renames(&placed);
        let mut with = BTreeMap::new();
        for statement in &served {
            if let Ok(observed) = observe_with(client, statement, settings).await {
                with.insert(statement.index, renamed(&renames_with, observed.measure));
            }
        }
        let others: Vec<usize> = kept.iter().copied().filter(|&k| k != i).collect();
        placed = put_in_place(client, settings, suggestions, placed, &others).await?;
        let renames_without = renames(&placed);
        let mut adds: Option<(usize, f64, Measure, Measure)> = None;
        for statement in &served {
            let (Some(with), Ok(observed)) = (
                with.get(&statement.index),
                observe_with(client, statement, settings).await,
            ) else {
                continue;
            };
            let without = renamed(&renames_without, observed.measure);
            let pct = without.improvement_pct(with).unwrap_or(0.0);
            if adds.as_ref().is_none_or(|(_, best, ..)| pct > *best) {
                adds = Some((statement.index, pct, without, with.clone()));
            }
        }
        match adds {
            Some((_, pct, ..)) if pct >= settings.min_improvement_pct => {
                placed = put_in_place(client, settings, suggestions, placed, &kept).await?;
            }
            _ => {
                let figures = adds.map_or_else(String::new, |(statement, pct, without, with)| {
                    format!(
                        ": beside them it takes #{statement} {} ({}%)",
                        noise::figures(&without, &with),
                        format_pct(pct)
                    )
                });
                let rival_size = contender(&suggestions[rival])
                    .size_bytes
                    .map_or_else(String::new, |b| format!(" (≈ {})", fmt_bytes(b)));
                let reason = format!(
                    "adds less than {}% beside {}{rival_size}, kept for the same statements{figures}",
                    format_pct(settings.min_improvement_pct),
                    suggestions[rival].name(),
                );
                let rival = suggestions[rival].name().to_owned();
                let suggestion = &mut suggestions[i];
                suggestion.status = SuggestionStatus::Rejected;
                suggestion.rejected_reason = Some(reason);
                if let Some(v) = &mut suggestion.verification {
                    v.lost_to = Some(rival);
                }
            }
        }
    }
    Ok(placed)
}

/// A kept suggestion in place during verification.
struct Placed {
    /// Its position among the suggestions.
    suggestion: usize,
    /// The name it would be created with.
    name: String,
    /// HypoPG's index standing in for it (`hypo` mode).
    hypo: Option<HypoIndex>,
}

/// Hypothetical index names as plans show them, and the names they stand for.
fn renames(placed: &[Placed]) -> Vec<(String, String)> {
    placed
        .iter()
        .filter_map(|p| Some((p.hypo.as_ref()?.name.clone(), p.name.clone())))
        .collect()
}

/// A plan's hypothetical index names shown as the names the indexes would be created with.
fn renamed(renames: &[(String, String)], mut measure: Measure) -> Measure {
    for (hypothetical, real) in renames {
        measure.plan = measure.plan.replace(hypothetical, real);
    }
    measure
}

fn renamed_name(renames: &[(String, String)], name: &str) -> String {
    renames
        .iter()
        .find(|(hypothetical, _)| hypothetical == name)
        .map_or_else(|| name.to_owned(), |(_, real)| real.clone())
}

/// Take every kept suggestion away and put `wanted` (positions among `suggestions`) in place:
/// hypothetical indexes dropped and created again, or built indexes rolled back to the savepoint
/// taken before the first was kept and built again.
async fn put_in_place(
    client: &Client,
    settings: &VerifySettings,
    suggestions: &[Suggestion],
    placed: Vec<Placed>,
    wanted: &[usize],
) -> Result<Vec<Placed>, pg::Error> {
    let build = settings.mode == VerifyMode::Build;
    if build {
        client
            .batch_execute("ROLLBACK TO SAVEPOINT pgdiag_kept")
            .await?;
    } else {
        for p in &placed {
            if let Some(index) = &p.hypo {
                hypopg::drop_index(client, index.oid).await?;
            }
        }
    }
    let mut now = Vec::new();
    for &i in wanted {
        let suggestion = &suggestions[i];
        let ddl = index_ddl(suggestion)
            .ok_or_else(|| pg::Error::Config("no CREATE INDEX statement".into()))?;
        let hypo = if build {
            for statement in suggestion
                .ddl
                .iter()
                .filter(|d| d.starts_with("CREATE EXTENSION"))
            {
                client.batch_execute(statement).await?;
            }
            client.batch_execute(&ddl).await?;
            None
        } else {
            Some(hypopg::create_index(client, &ddl).await?)
        };
        now.push(Placed {
            suggestion: i,
            name: suggestion.name().to_owned(),
            hypo,
        });
    }
    Ok(now)
}

/// Whether `statement`, measured with `placed` in place, is no longer slower than `before`.
async fn restores(
    client: &Client,
    statement: &PlannedStatement,
    settings: &VerifySettings,
    placed: &[Placed],
    before: &Measure,
) -> bool {
    match observe_with(client, statement, settings).await {
        Ok(observed) => !noise::slower(before, &renamed(&renames(placed), observed.measure)),
        Err(_) => false,
    }
}

/// Observe under the settings' mode: EXPLAIN ANALYZE when building, plain EXPLAIN otherwise.
async fn observe_with(
    client: &Client,
    statement: &PlannedStatement,
    settings: &VerifySettings,
) -> Result<Observed, pg::Error> {
    observe(
        client,
        statement,
        settings.mode == VerifyMode::Build,
        settings.runs,
        settings.server_version_num,
    )
    .await
}

/// Put `suggestion` in place (hypothetically, or built inside a savepoint), measure the statements
/// it serves against `baseline`, and take it away again unless `stay` (then [`keep_trial`] or
/// [`undo_trial`] must follow, with the hypothetical index's oid returned here).
#[allow(clippy::too_many_arguments)]
async fn trial(
    client: &Client,
    statements: &[PlannedStatement],
    suggestion: &Suggestion,
    settings: &VerifySettings,
    baseline: &BTreeMap<usize, Measure>,
    reads: &Reads,
    stay: bool,
) -> Result<(Verification, Option<HypoIndex>), pg::Error> {
    let ddl = index_ddl(suggestion)
        .ok_or_else(|| pg::Error::Config("no CREATE INDEX statement".into()))?;
    let build = settings.mode == VerifyMode::Build;
    let mut hypo = None;
    let result = async {
        let (name, size_bytes, build_ms) = if build {
            client.batch_execute("SAVEPOINT pgdiag_candidate").await?;
            // An extension the operator class needs (pg_trgm), created and rolled back with it.
            for statement in suggestion
                .ddl
                .iter()
                .filter(|d| d.starts_with("CREATE EXTENSION"))
            {
                client.batch_execute(statement).await?;
            }
            let started = Instant::now();
            client.batch_execute(&ddl).await?;
            let build_ms = started.elapsed().as_secs_f64() * 1000.0;
            let name = suggestion.name().to_owned();
            let qualified =
                pg::quote_qualified(suggestion.index().and_then(|i| i.schema.as_deref()), &name);
            let size = pg::catalog::relation_size(client, &qualified).await?;
            (name, size, Some(build_ms))
        } else {
            let index = hypopg::create_index(client, &ddl).await?;
            let size = hypopg::relation_size(client, &index).await?;
            let name = index.name.clone();
            hypo = Some(index);
            (name, Some(size), None)
        };
        let mut per_statement = Vec::new();
        let mut harms = Vec::new();
        for statement in statements
            .iter()
            .filter(|s| measured_for(suggestion, s.index, reads))
        {
            let (Some(base), Ok(observed)) = (
                baseline.get(&statement.index),
                observe_with(client, statement, settings).await,
            ) else {
                continue;
            };
            let mut after = observed.measure;
            // Show the hypothetical index under the name it would be created with.
            after.plan = after.plan.replace(&name, suggestion.name());
            let measured = StatementVerification {
                statement: statement.index,
                improvement_pct: base.improvement_pct(&after),
                before: base.clone(),
                used: observed.indexes.contains(&name),
                after,
            };
            if suggestion.serves.contains(&statement.index) {
                per_statement.push(measured);
            } else if noise::slower(&measured.before, &measured.after) {
                harms.push(measured);
            }
        }
        Ok::<_, pg::Error>(Verification {
            method: settings.mode,
            per_statement,
            improvement_pct: None,
            size_bytes,
            build_ms,
            alongside: Vec::new(),
            estimated_size_bytes: None,
            harms,
            weighed: None,
            lost_to: None,
        })
    }
    .await;
    if result.is_err() || !stay {
        undo_trial(client, settings, hypo.as_ref()).await?;
    }
    result.map(|verification| (verification, hypo))
}

/// Take the last trial's suggestion away (`hypo`: the hypothetical index `oid`).
async fn undo_trial(
    client: &Client,
    settings: &VerifySettings,
    hypo: Option<&HypoIndex>,
) -> Result<(), pg::Error> {
    if settings.mode == VerifyMode::Build {
        client
            .batch_execute(
                "ROLLBACK TO SAVEPOINT pgdiag_candidate; RELEASE SAVEPOINT pgdiag_candidate",
            )
            .await?;
    } else if let Some(index) = hypo {
        hypopg::drop_index(client, index.oid).await?;
    }
    Ok(())
}

/// Leave the last trial's suggestion in place for the rest of the verification (the final
/// ROLLBACK still removes it).
async fn keep_trial(client: &Client, settings: &VerifySettings) -> Result<(), pg::Error> {
    if settings.mode == VerifyMode::Build {
        client
            .batch_execute("RELEASE SAVEPOINT pgdiag_candidate")
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::report::{IndexInfo, SuggestedObject};
    use super::*;

    fn measure(cost: f64, plan: &str) -> Measure {
        Measure {
            cost: Some(cost),
            plan: plan.into(),
            ..Measure::default()
        }
    }

    fn suggestion(per_statement: Vec<(bool, f64, f64)>) -> Suggestion {
        Suggestion {
            id: "s1".into(),
            status: SuggestionStatus::Unverified,
            rejected_reason: None,
            reason: String::new(),
            serves: vec![1],
            ddl: vec![r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "t_a_idx" ON "t" ("a")"#.into()],
            object: SuggestedObject::Index(IndexInfo {
                schema: None,
                table: "t".into(),
                name: "t_a_idx".into(),
                method: "btree".into(),
                columns: Vec::new(),
                include: Vec::new(),
                include_omitted: Vec::new(),
                predicate: None,
                requires_extension: None,
                finding_rules: Vec::new(),
            }),
            verification: Some(Verification {
                method: VerifyMode::Hypo,
                per_statement: per_statement
                    .into_iter()
                    .enumerate()
                    .map(|(i, (used, before, after))| {
                        let plan = if used {
                            "Index Scan using t_a_idx on t"
                        } else {
                            "Seq Scan on t"
                        };
                        StatementVerification {
                            statement: i + 1,
                            improvement_pct: measure(before, "Seq Scan on t")
                                .improvement_pct(&measure(after, plan)),
                            before: measure(before, "Seq Scan on t"),
                            after: measure(after, plan),
                            used,
                        }
                    })
                    .collect(),
                improvement_pct: None,
                size_bytes: None,
                build_ms: None,
                alongside: Vec::new(),
                estimated_size_bytes: None,
                harms: Vec::new(),
                weighed: None,
                lost_to: None,
            }),
        }
    }

    #[test]
    fn kept_only_when_used_and_paying() {
        let mut kept = suggestion(vec![(true, 100.0, 20.0)]);
        decide(&mut kept, 10.0);
        assert_eq!(kept.status, SuggestionStatus::Kept);
        assert_eq!(kept.verification.unwrap().improvement_pct, Some(80.0));

        let mut unused = suggestion(vec![(false, 100.0, 100.0)]);
        decide(&mut unused, 10.0);
        assert_eq!(unused.status, SuggestionStatus::Rejected);
        assert_eq!(
            unused.rejected_reason.as_deref(),
            Some("planner does not use it: #1 keeps Seq Scan on t (cost 100 → 100)")
        );

        let mut small = suggestion(vec![(true, 100.0, 97.0), (false, 50.0, 50.0)]);
        decide(&mut small, 10.0);
        assert_eq!(small.status, SuggestionStatus::Rejected);
        assert_eq!(
            small.rejected_reason.as_deref(),
            Some(
                "improves cost by 3% < 10%: #1 uses it: Index Scan using t_a_idx on t (cost 100 → 97.0)"
            )
        );
    }

    #[test]
    fn a_rejection_names_what_the_planner_chose_on_the_table() {
        assert_eq!(
            accesses_of(
                "Index Scan using products_pkey on products, Seq Scan on t, Seq Scan on tt",
                "t"
            ),
            "Seq Scan on t"
        );
        assert_eq!(
            accesses_of("rewritten to read v", "t"),
            "rewritten to read v"
        );
    }

    #[test]
    fn ddl_for_a_transaction_drops_concurrently_and_if_not_exists() {
        assert_eq!(
            transactional_ddl(r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "a b" ON "s"."t" ("c")"#),
            r#"CREATE INDEX "a b" ON "s"."t" ("c")"#
        );
        assert_eq!(
            transactional_ddl(r#"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "u" ON "t" ("c")"#),
            r#"CREATE UNIQUE INDEX "u" ON "t" ("c")"#
        );
        assert_eq!(
            index_ddl(&suggestion(Vec::new())).as_deref(),
            Some(r#"CREATE INDEX "t_a_idx" ON "t" ("a")"#)
        );
    }
}
