//! `suggest` end to end, as a library: plan every statement (EXPLAIN ANALYZE through the runner, or
//! the generic plan for `$n` without values), diagnose, derive candidates, merge them across
//! statements (INCLUDE kept to columns of bounded size, before and after), drop what an existing
//! index already serves (and `text_pattern_ops` where the column's collation is C), verify the
//! rest ([`super::verify`]) and assemble the [`SuggestReport`]. Nothing here changes the database:
//! applying is [`super::applying`]'s business, after the user has seen this report.

use std::collections::BTreeMap;
use std::time::Duration;

use super::matview_proof::verify_matview;
use super::report::{
    Basis, IndexColumnInfo, IndexInfo, MatviewInfo, Measure, NoSuggestionEntry, Planning,
    RewrittenStatement, SCHEMA_VERSION, StatementEntry, StatementError, StatementVerification,
    SuggestReport, SuggestedObject, Suggestion, SuggestionStatus, Verification, VerifyInfo,
    VerifyMode,
};
use super::verify::{self, Observed, PlannedStatement, VerifySettings};
use crate::advise::PATTERN_OPCLASS;
use crate::advise::candidates::{Advice, Candidate, FindingRule, IndexMethod, merge};
use crate::advise::existing::{AlreadyIndexed, covered_by};
use crate::advise::matview::{
    MatviewAdvice, MatviewSuggestion, matview_suggestions, share_views, unique_view_names,
};
use crate::advise::row_size::bound_include;
use crate::advise::statement::{estimated_candidates, index_candidates};
use crate::advise::{OmittedInclude, drop_useless_include};
use crate::diagnose::{DiagnoseConfig, RuleId, diagnose_with};
use crate::pg::ServerInfo;
use crate::pg::catalog::{
    ColumnType, ExistingIndex, column_is_c_collated, column_types, existing_indexes,
};
use crate::pg::{self, ParamValue, Runner, SqlStatement, hypopg, planner};
use crate::plan::{Explain, analyze};

/// Which verification the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyRequest {
    /// hypo when HypoPG can be used, else none with a note.
    Auto,
    Hypo,
    Build,
    None,
}

impl VerifyRequest {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyRequest::Auto => "auto",
            VerifyRequest::Hypo => "hypo",
            VerifyRequest::Build => "build",
            VerifyRequest::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SuggestOptions {
    pub verify: VerifyRequest,
    pub min_improvement_pct: f64,
    /// How much an index's size must buy ([`super::benefit::SIZE_WEIGHT`]); 0 leaves size out.
    pub size_weight: f64,
    /// statement_timeout for every statement and build.
    pub timeout: Duration,
    pub runs: usize,
    pub lock_timeout: Duration,
    pub diagnose: DiagnoseConfig,
    /// Prove materialized views by building them (as `--verify build` does) whatever verifies the
    /// indexes: HypoPG cannot simulate a view. The demo does; `pgdiag suggest` builds them only
    /// under `--verify build`.
    pub build_views: bool,
    /// What the statements' weights are per ([`StatementInput::weight`]).
    pub basis: Basis,
}

impl Default for SuggestOptions {
    fn default() -> Self {
        SuggestOptions {
            verify: VerifyRequest::Auto,
            min_improvement_pct: 10.0,
            size_weight: super::benefit::SIZE_WEIGHT,
            timeout: Duration::from_secs(60),
            runs: 3,
            lock_timeout: Duration::from_secs(5),
            diagnose: DiagnoseConfig::default(),
            build_views: false,
            basis: Basis::Once,
        }
    }
}

/// One statement to advise on, with where it comes from.
#[derive(Debug, Clone)]
pub struct StatementInput {
    /// File as given, `<stdin>` or `-c`.
    pub source: String,
    pub statement: SqlStatement,
    /// `$n` values; `None` plans generically when the statement has parameters.
    pub params: Option<Vec<ParamValue>>,
    /// How many times it counts in the workload (see [`super::benefit::Weights`]): 1 for a
    /// statement given as SQL; its calls per hour (or calls, [`SuggestOptions::basis`]) in
    /// workload mode.
    pub weight: f64,
}

impl StatementInput {
    /// A statement with the values of its own `-- pgdiag: params` comment, if it has one.
    pub fn with_own_params(source: impl Into<String>, statement: SqlStatement) -> Self {
        let params = statement.params.clone().map(|values| {
            values
                .into_iter()
                .map(|v| v.map_or(ParamValue::Null, ParamValue::Text))
                .collect()
        });
        StatementInput {
            source: source.into(),
            statement,
            params,
            weight: 1.0,
        }
    }
}

/// Progress for a spinner or a log.
#[derive(Debug, Clone, Copy)]
pub enum SuggestEvent<'a> {
    Planning {
        statement: usize,
        total: usize,
        line: usize,
    },
    Verifying(&'a str),
    /// Something the user must see now (stderr), e.g. that `build` locks tables.
    Warning(&'a str),
}

/// Errors that stop the whole run; a statement that cannot be explained is reported in it instead.
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    #[error("{0}")]
    Pg(#[from] pg::Error),
    #[error("--verify hypo: {0} (install hypopg, or use --verify build or --verify none)")]
    HypoUnavailable(String),
}

/// A statement's plan and what the advisor made of it.
struct Planned {
    entry: StatementEntry,
    replay: Option<PlannedStatement>,
    advice: Advice,
    matviews: Vec<MatviewSuggestion>,
    no_suggestions: Vec<NoSuggestionEntry>,
}

/// Plan, advise and verify `inputs`.
pub async fn suggest(
    runner: &mut Runner,
    server: ServerInfo,
    inputs: &[StatementInput],
    options: &SuggestOptions,
    on_event: &mut dyn FnMut(SuggestEvent<'_>),
) -> Result<SuggestReport, SuggestError> {
    let (mode, verify_note) = resolve_mode(runner, options.verify).await?;
    let mut notes = Vec::new();
    if let Some(note) = &verify_note {
        notes.push(note.clone());
    }
    if mode == VerifyMode::Build {
        on_event(SuggestEvent::Warning(
            "--verify build creates each index inside a transaction that is rolled back: while an index builds, writes to its table wait (bounded by --lock-timeout and --timeout); prefer a replica or a quiet moment",
        ));
    }

    let mut planned = Vec::new();
    let total = inputs.len();
    for (i, input) in inputs.iter().enumerate() {
        on_event(SuggestEvent::Planning {
            statement: i + 1,
            total,
            line: input.statement.line,
        });
        planned.push(plan_statement(runner, i + 1, input, options).await?);
    }

    let mut no_suggestions: Vec<NoSuggestionEntry> = planned
        .iter()
        .flat_map(|p| p.no_suggestions.iter().cloned())
        .collect();

    // Before merging, so that the merged candidates and the ones they serve agree on it, and so
    // that merging and the coverage checks see only INCLUDE columns of bounded size.
    let mut column_types = ColumnTypes::default();
    for p in &mut planned {
        for candidate in &mut p.advice.candidates {
            drop_needless_pattern_opclass(runner.client(), candidate).await?;
            *candidate = drop_useless_include(
                bound_include_of(runner.client(), &mut column_types, candidate.clone()).await?,
            );
        }
    }

    // Merge across statements, then find which statements each merged candidate serves.
    let all: Vec<Candidate> = planned
        .iter()
        .flat_map(|p| p.advice.candidates.iter().cloned())
        .collect();
    let serves = |candidate: &Candidate| -> Vec<usize> {
        planned
            .iter()
            .filter(|p| p.advice.candidates.iter().any(|c| served_by(c, candidate)))
            .map(|p| p.entry.index)
            .collect()
    };
    // Merging unites INCLUDE lists, whose sizes together may pass the bound each kept alone.
    let mut merged = Vec::new();
    for candidate in merge(all) {
        merged.push(bound_include_of(runner.client(), &mut column_types, candidate).await?);
    }
    let (keep, covered) = split_covered(runner.client(), merged).await?;
    for already in covered {
        for statement in serves(&already.candidate) {
            no_suggestions.push(NoSuggestionEntry {
                statement,
                node_id: None,
                relation: Some(already.candidate.table.clone()),
                reason: format!(
                    "already served by index {}",
                    pg::quote_ident(&already.index)
                ),
            });
        }
    }
    // Each covering candidate competes with its variant without INCLUDE, proven the same way:
    // the index-only scan INCLUDE buys may save little for its size, or its plan may slow another
    // statement where the plain index does not (selection on net benefit, [`super::benefit`]).
    // Without proof (`--verify none`) there is no selection: only the candidates themselves.
    // Likewise each shorter prefix of a btree candidate's keys: equal keys deduplicate, so the
    // index on the leading key alone can be a fraction of the size for nearly the same gain.
    let mut narrow: Vec<(Candidate, Vec<usize>)> = Vec::new();
    for candidate in keep.iter().filter(|_| mode != VerifyMode::None) {
        for variant in without_include(candidate)
            .into_iter()
            .chain(key_prefixes(candidate))
        {
            let name = variant.index_name();
            if keep.iter().any(|k| k.index_name() == name)
                || narrow.iter().any(|(n, _)| n.index_name() == name)
            {
                continue;
            }
            narrow.push((variant, serves(candidate)));
        }
    }
    let (uncovered, _) = split_covered(
        runner.client(),
        narrow.iter().map(|(n, _)| n.clone()).collect(),
    )
    .await?;
    let mut suggestions: Vec<Suggestion> = keep
        .iter()
        .map(|candidate| index_suggestion(candidate, serves(candidate)))
        .collect();
    for (variant, serves) in narrow {
        if uncovered
            .iter()
            .any(|u| u.index_name() == variant.index_name())
        {
            suggestions.push(index_suggestion(&variant, serves));
        }
    }

    // Views: those over the same table and keys share one definition holding every statement's
    // aggregates; identical definitions become one suggestion serving them all.
    let mut views: Vec<(usize, MatviewSuggestion)> = planned
        .iter()
        .flat_map(|p| p.matviews.iter().map(|m| (p.entry.index, m.clone())))
        .collect();
    {
        let mut only: Vec<MatviewSuggestion> = views.iter().map(|(_, m)| m.clone()).collect();
        share_views(&mut only);
        unique_view_names(&mut only);
        for ((_, view), renamed) in views.iter_mut().zip(only) {
            *view = renamed;
        }
    }
    let mut view_suggestions: Vec<(Suggestion, Vec<(usize, MatviewSuggestion)>)> = Vec::new();
    for (statement, view) in views {
        match view_suggestions.iter_mut().find(|(s, _)| {
            s.matview()
                .is_some_and(|m| m.create_sql == view.create_sql && m.name == view.name)
        }) {
            Some((suggestion, members)) => {
                add_view_statement(suggestion, statement, &view);
                members.push((statement, view));
            }
            None => {
                let suggestion = matview_suggestion(statement, &view);
                view_suggestions.push((suggestion, vec![(statement, view)]));
            }
        }
    }

    let replays: Vec<PlannedStatement> = planned.iter().filter_map(|p| p.replay.clone()).collect();
    let settings = VerifySettings {
        mode,
        min_improvement_pct: options.min_improvement_pct,
        runs: options.runs.max(1),
        timeout: options.timeout,
        lock_timeout: options.lock_timeout,
        server_version_num: runner.server_version_num(),
        size_weight: options.size_weight,
        basis: options.basis,
    };
    // Views first: the share of a statement a kept view takes away is gone from the workload the
    // indexes' sizes are weighed against (a view turning a 1.4 s aggregate into 15 ms leaves the
    // other statements a larger share of what remains).
    let mut views = Vec::new();
    for (mut suggestion, members) in view_suggestions {
        if mode == VerifyMode::Build || options.build_views {
            on_event(SuggestEvent::Verifying(&format!(
                "building materialized view {}",
                suggestion.name()
            )));
            prove_view(runner, &mut suggestion, &members, &replays, &settings).await?;
        }
        views.push(suggestion);
    }
    let relief = view_relief(&views);
    let combined = verify::verify(
        runner.client(),
        &replays,
        &mut suggestions,
        &settings,
        &relief,
        &mut |what| on_event(SuggestEvent::Verifying(what)),
    )
    .await?;
    suggestions.extend(views);

    // Kept first, then unverified, then rejected; ids follow that order.
    suggestions.sort_by_key(|s| match s.status {
        SuggestionStatus::Kept => 0,
        SuggestionStatus::Unverified => 1,
        SuggestionStatus::Rejected => 2,
    });
    for (i, s) in suggestions.iter_mut().enumerate() {
        s.id = format!("s{}", i + 1);
    }
    if mode == VerifyMode::Hypo
        && suggestions
            .iter()
            .any(|s| s.status == SuggestionStatus::Unverified)
    {
        notes.push(
            "HypoPG simulates btree indexes only: GIN indexes and materialized views are listed unverified; --verify build proves them (and compares the rewritten statements' results)".into(),
        );
    }
    if planned
        .iter()
        .any(|p| p.entry.planning == Planning::Generic)
    {
        notes.push(
            "statements with $n and no values were planned generically and are judged on estimated cost (give values with --param or a `-- pgdiag: params` comment to measure them)".into(),
        );
    }
    if planned
        .iter()
        .any(|p| p.entry.planning == Planning::EstimatedAfterTimeout)
    {
        notes.push(format!(
            "statements that ran longer than the timeout of {} under EXPLAIN ANALYZE were planned without running and are diagnosed and judged on estimated cost (verification and the measures around --apply compare their planned costs; raise --timeout to measure them)",
            pg::humanize(options.timeout)
        ));
    }
    if planned.iter().any(|p| {
        p.entry
            .notes
            .iter()
            .any(|n| n.starts_with("estimates unreliable"))
    }) {
        notes.push(
            "some tables were never analyzed or are empty: their estimates are unreliable; run ANALYZE first".into(),
        );
    }

    Ok(SuggestReport {
        schema_version: SCHEMA_VERSION,
        pgdiag_version: env!("CARGO_PKG_VERSION").to_owned(),
        server,
        verify: VerifyInfo {
            mode,
            requested: options.verify.as_str().to_owned(),
            runs: settings.runs,
            note: verify_note,
        },
        min_improvement_pct: options.min_improvement_pct,
        statements: planned.into_iter().map(|p| p.entry).collect(),
        suggestions,
        no_suggestions,
        combined,
        notes,
        apply: None,
        workload: None,
        drops: None,
    })
}

async fn resolve_mode(
    runner: &Runner,
    request: VerifyRequest,
) -> Result<(VerifyMode, Option<String>), SuggestError> {
    Ok(match request {
        VerifyRequest::None => (VerifyMode::None, None),
        VerifyRequest::Build => (VerifyMode::Build, None),
        VerifyRequest::Hypo => match hypopg::unavailable_reason(runner.client()).await? {
            None => (VerifyMode::Hypo, None),
            Some(reason) => return Err(SuggestError::HypoUnavailable(reason)),
        },
        VerifyRequest::Auto => match hypopg::unavailable_reason(runner.client()).await? {
            None => (VerifyMode::Hypo, None),
            Some(reason) => (
                VerifyMode::None,
                Some(format!(
                    "suggestions are not verified: {reason}; for proof install hypopg (https://github.com/HypoPG/hypopg) or use --verify build"
                )),
            ),
        },
    })
}

async fn plan_statement(
    runner: &mut Runner,
    index: usize,
    input: &StatementInput,
    options: &SuggestOptions,
) -> Result<Planned, SuggestError> {
    let statement = &input.statement;
    let mut entry = StatementEntry {
        index,
        source: input.source.clone(),
        line: statement.line,
        sql: statement.text.clone(),
        planning: Planning::Failed,
        parameters: 0,
        cost: None,
        time_ms: None,
        plan: String::new(),
        findings: Vec::new(),
        notes: Vec::new(),
        error: None,
    };
    let params = input.params.clone().unwrap_or_default();
    let explain_options = pg::ExplainOptions {
        analyze: true,
        timeout: options.timeout,
        params: params.clone(),
    };
    let explained = runner
        .explain(statement, &explain_options, std::future::pending())
        .await;
    let (explain, planning) = match explained {
        Ok(output) => match output.document.explains() {
            Ok(mut explains) if !explains.is_empty() => (explains.remove(0), Planning::Analyze),
            Ok(_) => return Ok(failed(entry, "EXPLAIN returned no plan".into(), None)),
            Err(e) => {
                return Ok(failed(
                    entry,
                    format!("unreadable EXPLAIN output: {e}"),
                    None,
                ));
            }
        },
        Err(pg::Error::ParamCount { given: 0, .. }) if input.params.is_none() => {
            match generic_plan(runner, &statement.text).await {
                Ok(explain) => (explain, Planning::Generic),
                Err(e) => return failed_pg(entry, e),
            }
        }
        // Too slow to measure: the plan it would run, not executed, judged on its estimates. A
        // statement that never finishes in time is often the one that most needs an index.
        Err(pg::Error::Timeout(limit)) => {
            let plain = pg::ExplainOptions {
                analyze: false,
                ..explain_options.clone()
            };
            match runner
                .explain(statement, &plain, std::future::pending())
                .await
                .map(|output| output.document.explains())
            {
                Ok(Ok(mut explains)) if !explains.is_empty() => {
                    entry.notes.push(format!(
                        "ran longer than the timeout of {} under EXPLAIN ANALYZE (cancelled, rolled back): planned without running it, judged on estimated cost",
                        pg::humanize(limit)
                    ));
                    (explains.remove(0), Planning::EstimatedAfterTimeout)
                }
                Ok(Ok(_)) => return Ok(failed(entry, "EXPLAIN returned no plan".into(), None)),
                Ok(Err(e)) => {
                    return Ok(failed(
                        entry,
                        format!("unreadable EXPLAIN output: {e}"),
                        None,
                    ));
                }
                Err(e) => return failed_pg(entry, e),
            }
        }
        Err(e) => return failed_pg(entry, e),
    };
    let generic = planning == Planning::Generic;
    entry.planning = planning;
    entry.parameters = if generic { 0 } else { params.len() };
    entry.cost = explain.plan.total_cost;
    entry.time_ms = explain.execution_time_ms;
    entry.plan = verify::plan_line(&explain.plan.preorder());
    if generic {
        entry
            .notes
            .push("planned generically ($n without values): judged on estimated cost".into());
    }
    entry
        .notes
        .extend(statistics_notes(runner, &explain).await?);

    let analysis = analyze(&explain);
    // The catalog's facts (unindexed foreign keys, current statistics) for the rules, as `explain`
    // reads them.
    let diagnose = DiagnoseConfig {
        facts: crate::diagnose::SchemaFacts {
            unindexed_foreign_keys: pg::catalog::unindexed_foreign_keys_of_plan(
                runner.client(),
                &explain,
            )
            .await?,
            table_statistics: pg::catalog::table_statistics_of_plan(runner.client(), &explain)
                .await?,
        },
        ..options.diagnose.clone()
    };
    let diagnosis = diagnose_with(&explain, &analysis, &diagnose);
    entry.findings = diagnosis.findings.iter().map(|f| f.rule).collect();
    let advice = if analysis.analyzed {
        index_candidates(&explain, &diagnosis.findings)
    } else {
        estimated_candidates(&explain, &diagnosis.findings, ESTIMATED_MIN_COST_SHARE)
    };
    // Views need the findings' timings: plans without them get none.
    let matviews = if analysis.analyzed {
        matview_suggestions(&statement.text, &explain, &diagnosis.findings)
    } else {
        MatviewAdvice::default()
    };
    let nodes = explain.plan.preorder();
    let no_suggestions = advice
        .no_suggestions
        .iter()
        .chain(&matviews.no_suggestions)
        .map(|n| NoSuggestionEntry {
            statement: index,
            node_id: Some(n.node_id),
            relation: nodes.get(n.node_id).and_then(|node| node.relation()),
            reason: n.reason.clone(),
        })
        .collect();
    Ok(Planned {
        no_suggestions,
        matviews: matviews.suggestions,
        replay: Some(PlannedStatement {
            index,
            sql: statement.text.clone(),
            params,
            generic,
            estimated: planning == Planning::EstimatedAfterTimeout,
            weight: input.weight,
        }),
        entry,
        advice,
    })
}

/// A plan without timings (generic, or of a statement that ran past its timeout): scans and sorts
/// carrying at least this share of the estimated cost are worth an index.
const ESTIMATED_MIN_COST_SHARE: f64 = 0.2;

async fn generic_plan(runner: &Runner, sql: &str) -> Result<Explain, pg::Error> {
    let version = runner.server_version_num();
    pg::tx::rolled_back(runner.client(), async |client| {
        planner::explain_generic(client, sql, version).await
    })
    .await
}

/// "estimates unreliable" for every table of the plan never analyzed or empty.
async fn statistics_notes(runner: &Runner, explain: &Explain) -> Result<Vec<String>, pg::Error> {
    let mut notes = Vec::new();
    let mut seen = Vec::new();
    for node in explain.plan.preorder() {
        let Some(table) = node.relation_name.as_deref() else {
            continue;
        };
        let key = (node.schema.clone(), table.to_owned());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if let Some(tuples) =
            planner::reltuples(runner.client(), node.schema.as_deref(), table).await?
            && tuples <= 0.0
        {
            notes.push(format!(
                "estimates unreliable: table {} was never analyzed or is empty (reltuples = {tuples})",
                pg::quote_ident(table)
            ));
        }
    }
    Ok(notes)
}

fn failed(mut entry: StatementEntry, message: String, sqlstate: Option<String>) -> Planned {
    entry.planning = Planning::Failed;
    entry.error = Some(StatementError { message, sqlstate });
    Planned {
        entry,
        replay: None,
        advice: Advice::default(),
        matviews: Vec::new(),
        no_suggestions: Vec::new(),
    }
}

/// A statement-level failure is reported; a lost connection or an interrupt stops the run.
fn failed_pg(entry: StatementEntry, e: pg::Error) -> Result<Planned, SuggestError> {
    match e {
        pg::Error::Interrupted | pg::Error::Client(_) | pg::Error::Connect { .. } => Err(e.into()),
        e => {
            let sqlstate = e.sqlstate().map(str::to_owned);
            Ok(failed(entry, e.to_string(), sqlstate))
        }
    }
}

/// The report entry for an index candidate, not yet verified.
pub fn index_suggestion(candidate: &Candidate, serves: Vec<usize>) -> Suggestion {
    let name = candidate.index_name();
    Suggestion {
        id: String::new(),
        status: SuggestionStatus::Unverified,
        rejected_reason: None,
        reason: candidate.reason.clone(),
        serves,
        ddl: candidate
            .extension_ddl()
            .into_iter()
            .chain([candidate.ddl(&name)])
            .collect(),
        object: SuggestedObject::Index(IndexInfo {
            schema: candidate.schema.clone(),
            table: candidate.table.clone(),
            name,
            method: candidate.method.as_str().to_owned(),
            columns: candidate
                .columns
                .iter()
                .map(|c| IndexColumnInfo {
                    name: c.label().to_owned(),
                    desc: c.desc,
                    nulls_first: c.nulls_first,
                    opclass: c.opclass.clone(),
                })
                .collect(),
            include: candidate.include.clone(),
            include_omitted: candidate.include_omitted.clone(),
            predicate: candidate.predicate.clone(),
            requires_extension: candidate.requires_extension.clone(),
            finding_rules: candidate.finding_rules.clone(),
        }),
        verification: None,
    }
}

/// Re-plan one statement as it runs now (after applying): EXPLAIN ANALYZE, or the generic plan.
pub async fn observe_now(
    runner: &Runner,
    statement: &PlannedStatement,
    runs: usize,
) -> Result<Observed, pg::Error> {
    let version = runner.server_version_num();
    pg::tx::rolled_back(runner.client(), async |client| {
        verify::observe(client, statement, true, runs, version).await
    })
    .await
}

/// The statements of a report as verification and `--apply` replay them.
pub fn replays(report: &SuggestReport, inputs: &[StatementInput]) -> Vec<PlannedStatement> {
    report
        .statements
        .iter()
        .zip(inputs)
        .filter(|(entry, _)| entry.planning != Planning::Failed)
        .map(|(entry, input)| PlannedStatement {
            index: entry.index,
            sql: entry.sql.clone(),
            params: input.params.clone().unwrap_or_default(),
            generic: entry.planning == Planning::Generic,
            estimated: entry.planning == Planning::EstimatedAfterTimeout,
            weight: input.weight,
        })
        .collect()
}

/// The report entry for a materialized view, not yet verified.
fn matview_suggestion(statement: usize, view: &MatviewSuggestion) -> Suggestion {
    let mut suggestion = Suggestion {
        id: String::new(),
        status: SuggestionStatus::Unverified,
        rejected_reason: None,
        reason: view.reason.clone(),
        serves: Vec::new(),
        ddl: vec![view.create_sql.clone(), view.unique_index_sql.clone()],
        object: SuggestedObject::Matview(MatviewInfo {
            schema: view.schema.clone(),
            name: view.name.clone(),
            base_table: view.base_table.clone(),
            key_columns: view.key_columns.clone(),
            create_sql: view.create_sql.clone(),
            unique_index_sql: view.unique_index_sql.clone(),
            refresh_sql: view.refresh_sql.clone(),
            rewritten: Vec::new(),
            results_match: None,
        }),
        verification: None,
    };
    add_view_statement(&mut suggestion, statement, view);
    suggestion
}

fn add_view_statement(suggestion: &mut Suggestion, statement: usize, view: &MatviewSuggestion) {
    if !suggestion.serves.contains(&statement) {
        suggestion.serves.push(statement);
    }
    if !suggestion.reason.lines().any(|l| l == view.reason) {
        suggestion.reason.push('\n');
        suggestion.reason.push_str(&view.reason);
    }
    if let (Some(info), Some(sql)) = (suggestion.matview_mut(), &view.rewritten) {
        info.rewritten.push(RewrittenStatement {
            statement,
            sql: sql.clone(),
        });
    }
}

/// `--verify build` for a view: built in a rolled-back transaction per statement it serves, the
/// original and the rewritten statement timed and their results compared. A rewrite that changes
/// results is rejected whatever it gains. Also under `build_views`, when HypoPG verifies the
/// indexes (fast at scale; the demo does so) and cannot simulate a view.
async fn prove_view(
    runner: &Runner,
    suggestion: &mut Suggestion,
    members: &[(usize, MatviewSuggestion)],
    replays: &[PlannedStatement],
    settings: &VerifySettings,
) -> Result<(), SuggestError> {
    let mut per_statement = Vec::new();
    let mut size_bytes = None;
    let mut build_ms = None;
    let mut all_match = true;
    let mut difference = None;
    for (statement, view) in members {
        let Some(replay) = replays.iter().find(|r| r.index == *statement) else {
            continue;
        };
        let proof = match verify_matview(
            runner.client(),
            view,
            &replay.sql,
            &replay.params,
            settings.runs,
            settings.timeout,
        )
        .await
        {
            Ok(proof) => proof,
            Err(e @ (pg::Error::Client(_) | pg::Error::Interrupted)) => return Err(e.into()),
            Err(e) => {
                suggestion.status = SuggestionStatus::Rejected;
                suggestion.rejected_reason = Some(format!("could not try it: {e}"));
                return Ok(());
            }
        };
        size_bytes = Some(proof.view_size_bytes);
        build_ms = Some(proof.build_ms);
        all_match &= proof.results_match;
        if difference.is_none() {
            difference = proof.difference.clone();
        }
        let before = Measure {
            time_ms: Some(proof.before_ms),
            plan: "original statement".into(),
            ..Measure::default()
        };
        let after = Measure {
            time_ms: Some(proof.after_ms),
            plan: format!("rewritten to read {}", view.name),
            ..Measure::default()
        };
        per_statement.push(StatementVerification {
            statement: *statement,
            improvement_pct: before.improvement_pct(&after),
            before,
            after,
            used: proof.results_match,
        });
    }
    if let Some(info) = suggestion.matview_mut() {
        info.results_match = Some(all_match);
    }
    suggestion.verification = Some(Verification {
        method: VerifyMode::Build,
        per_statement,
        improvement_pct: None,
        size_bytes,
        build_ms,
        alongside: Vec::new(),
        estimated_size_bytes: None,
        harms: Vec::new(),
        weighed: None,
        lost_to: None,
    });
    verify::decide(suggestion, settings.min_improvement_pct);
    if !all_match {
        suggestion.status = SuggestionStatus::Rejected;
        suggestion.rejected_reason = Some(
            difference
                .unwrap_or_else(|| "the rewritten statement returns different results".into()),
        );
    }
    Ok(())
}

/// Schema and table, as a candidate names them.
type TableKey = (Option<String>, String);

/// Split candidates into those still worth suggesting and those an existing index already serves
/// ("already indexed", naming the index), reading each table's indexes once.
pub async fn split_covered(
    client: &tokio_postgres::Client,
    candidates: Vec<Candidate>,
) -> Result<(Vec<Candidate>, Vec<AlreadyIndexed>), pg::Error> {
    let mut indexes: Vec<(TableKey, Vec<ExistingIndex>)> = Vec::new();
    let mut keep = Vec::new();
    let mut covered = Vec::new();
    for candidate in candidates {
        let table = (candidate.schema.clone(), candidate.table.clone());
        let position = match indexes.iter().position(|(t, _)| *t == table) {
            Some(position) => position,
            None => {
                let found =
                    existing_indexes(client, candidate.schema.as_deref(), &candidate.table).await?;
                indexes.push((table, found));
                indexes.len() - 1
            }
        };
        match covered_by(&candidate, &indexes[position].1) {
            Some(index) => covered.push(AlreadyIndexed {
                reason: format!(
                    "already indexed: {} on {} is served by the existing index {}",
                    candidate
                        .columns
                        .iter()
                        .map(|c| c.label())
                        .collect::<Vec<_>>()
                        .join(", "),
                    candidate.table,
                    index.name
                ),
                index: index.name.clone(),
                candidate,
            }),
            None => keep.push(candidate),
        }
    }
    Ok((keep, covered))
}

/// Each table's columns with their types' size facts, read once per table.
type ColumnTypes = Vec<(TableKey, Vec<ColumnType>)>;

/// The candidate with INCLUDE kept to columns of bounded size ([`bound_include`]), its table's
/// column types read from the catalog the first time they are needed.
async fn bound_include_of(
    client: &tokio_postgres::Client,
    cache: &mut ColumnTypes,
    candidate: Candidate,
) -> Result<Candidate, pg::Error> {
    if candidate.include.is_empty() {
        return Ok(candidate);
    }
    let table = (candidate.schema.clone(), candidate.table.clone());
    let position = match cache.iter().position(|(t, _)| *t == table) {
        Some(position) => position,
        None => {
            let found = column_types(client, candidate.schema.as_deref(), &candidate.table).await?;
            cache.push((table, found));
            cache.len() - 1
        }
    };
    Ok(bound_include(candidate, &cache[position].1))
}

/// For each statement a kept view serves, the share of its time the view takes away (the largest
/// when several do).
fn view_relief(views: &[Suggestion]) -> BTreeMap<usize, f64> {
    let mut relief: BTreeMap<usize, f64> = BTreeMap::new();
    for view in views.iter().filter(|v| v.status == SuggestionStatus::Kept) {
        for p in view.verification.iter().flat_map(|v| &v.per_statement) {
            let (Some(before), Some(after)) = (p.before.time_ms, p.after.time_ms) else {
                continue;
            };
            if p.used && before > 0.0 && after < before {
                let share = (before - after) / before;
                let entry = relief.entry(p.statement).or_default();
                *entry = entry.max(share);
            }
        }
    }
    relief
}

/// A btree candidate with INCLUDE columns, without them: the plain index on the same keys, its
/// INCLUDE columns listed as left out with why.
fn without_include(candidate: &Candidate) -> Option<Candidate> {
    if candidate.method != IndexMethod::Btree || candidate.include.is_empty() {
        return None;
    }
    let mut variant = candidate.clone();
    for column in std::mem::take(&mut variant.include) {
        variant.include_omitted.push(OmittedInclude {
            column,
            reason: "a variant without INCLUDE, weighed against the covering one: smaller, without index-only scans".into(),
        });
    }
    Some(variant)
}

/// A btree candidate's shorter variants: each proper prefix of its keys without INCLUDE (the
/// predicate of a partial index kept), longest first. The keys left out and the INCLUDE columns
/// are listed as left out with why. None for a candidate meant to deliver a sort's order: its
/// later keys spare the sort and let a LIMIT stop early, which no prefix does.
fn key_prefixes(candidate: &Candidate) -> Vec<Candidate> {
    let orders = candidate.finding_rules.iter().any(|r| {
        matches!(
            r,
            FindingRule::SortOrder | FindingRule::Rule(RuleId::UnindexedSort)
        )
    });
    if candidate.method != IndexMethod::Btree || candidate.columns.len() < 2 || orders {
        return Vec::new();
    }
    (1..candidate.columns.len())
        .rev()
        .map(|keys| {
            let mut variant = candidate.clone();
            let dropped: Vec<String> = variant
                .columns
                .drain(keys..)
                .map(|c| c.label().to_owned())
                .chain(std::mem::take(&mut variant.include))
                .collect();
            for column in dropped {
                if variant.include_omitted.iter().all(|o| o.column != column) {
                    variant.include_omitted.push(OmittedInclude {
                        column,
                        reason: format!(
                            "a variant on the first {} alone, weighed against the longer one: smaller (equal keys are deduplicated), its other conditions checked on the table's rows",
                            if keys == 1 { "key".to_owned() } else { format!("{keys} keys") }
                        ),
                    });
                }
            }
            variant
        })
        .collect()
}

/// Whether a statement's candidate is served by a merged one, the INCLUDE columns the merged one
/// had to leave out aside.
fn served_by(candidate: &Candidate, merged: &Candidate) -> bool {
    if merged.include_omitted.is_empty() {
        return candidate.is_covered_by(merged);
    }
    let mut trimmed = candidate.clone();
    trimmed
        .include
        .retain(|c| !merged.include_omitted.iter().any(|o| o.column == *c));
    trimmed.is_covered_by(merged)
}

/// Drop `text_pattern_ops` from the candidate's plain-column keys whose collation is C: there the
/// default operator class already serves `LIKE 'prefix%'`, and the index then serves ordinary
/// comparisons and ORDER BY too.
pub async fn drop_needless_pattern_opclass(
    client: &tokio_postgres::Client,
    candidate: &mut Candidate,
) -> Result<(), pg::Error> {
    for column in &mut candidate.columns {
        if column.opclass.as_deref() != Some(PATTERN_OPCLASS) {
            continue;
        }
        let Some(name) = column.name() else { continue };
        let c = column_is_c_collated(client, candidate.schema.as_deref(), &candidate.table, name)
            .await?;
        if c == Some(true) {
            column.opclass = None;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_served_by_a_merged_index_that_left_out_some_of_its_include() {
        use crate::advise::{IndexColumn, OmittedInclude};
        let mut statement = Candidate::btree(None, "t", vec![IndexColumn::asc("a")]);
        statement.include = vec!["id".into(), "title".into()];
        let mut merged = statement.clone();
        merged.include = vec!["id".into()];
        assert!(!served_by(&statement, &merged));
        merged.include_omitted = vec![OmittedInclude {
            column: "title".into(),
            reason: "too large".into(),
        }];
        assert!(served_by(&statement, &merged));
    }

    #[test]
    fn a_multi_column_candidate_has_each_shorter_prefix_as_a_variant() {
        use crate::advise::IndexColumn;
        let mut candidate = Candidate::btree(
            None,
            "lineitem",
            vec![
                IndexColumn::asc("l_partkey"),
                IndexColumn::asc("l_suppkey"),
                IndexColumn::asc("l_shipdate"),
            ],
        );
        candidate.include = vec!["l_quantity".into()];
        candidate.finding_rules = vec![FindingRule::Rule(RuleId::CorrelatedSubplan)];
        let variants = key_prefixes(&candidate);
        let shapes: Vec<String> = variants.iter().map(Candidate::index_name).collect();
        assert_eq!(
            shapes,
            ["lineitem_l_partkey_l_suppkey_idx", "lineitem_l_partkey_idx"]
        );
        let left_out: Vec<&str> = variants[1]
            .include_omitted
            .iter()
            .map(|o| o.column.as_str())
            .collect();
        assert_eq!(left_out, ["l_suppkey", "l_shipdate", "l_quantity"]);
        assert!(variants.iter().all(|v| v.include.is_empty()));
        // Meant to deliver a sort's order: no prefix does; nor has a single key any.
        candidate.finding_rules = vec![FindingRule::Rule(RuleId::UnindexedSort)];
        assert!(key_prefixes(&candidate).is_empty());
        candidate.finding_rules = vec![FindingRule::SortOrder];
        assert!(key_prefixes(&candidate).is_empty());
        let single = Candidate::btree(None, "t", vec![IndexColumn::asc("a")]);
        assert!(key_prefixes(&single).is_empty());
    }

    #[test]
    fn a_kept_view_relieves_the_statements_it_serves_by_the_share_it_takes_away() {
        let timed = |ms: f64| Measure {
            time_ms: Some(ms),
            ..Measure::default()
        };
        let proof = |statement: usize, before: f64, after: f64, used: bool| StatementVerification {
            statement,
            before: timed(before),
            after: timed(after),
            used,
            improvement_pct: None,
        };
        let view =
            |status: SuggestionStatus, per_statement: Vec<StatementVerification>| Suggestion {
                status,
                verification: Some(Verification {
                    method: VerifyMode::Build,
                    per_statement,
                    improvement_pct: None,
                    size_bytes: None,
                    build_ms: None,
                    alongside: Vec::new(),
                    estimated_size_bytes: None,
                    harms: Vec::new(),
                    weighed: None,
                    lost_to: None,
                }),
                ..index_suggestion(
                    &Candidate::btree(None, "t", vec![crate::advise::IndexColumn::asc("a")]),
                    vec![1],
                )
            };
        let relief = view_relief(&[
            view(
                SuggestionStatus::Kept,
                vec![
                    proof(1, 1400.0, 14.0, true),
                    proof(2, 100.0, 150.0, true),
                    proof(3, 100.0, 10.0, false),
                ],
            ),
            view(SuggestionStatus::Kept, vec![proof(1, 1400.0, 700.0, true)]),
            view(SuggestionStatus::Rejected, vec![proof(4, 100.0, 1.0, true)]),
        ]);
        // #1: the larger of the two shares; #2 slower, #3 results differ, #4 rejected: none.
        assert_eq!(relief.len(), 1, "{relief:?}");
        assert!((relief[&1] - 0.99).abs() < 1e-9, "{relief:?}");
    }

    #[test]
    fn views_merge_statements_and_their_rewrites() {
        let view = MatviewSuggestion {
            schema: Some("public".into()),
            name: "reviews_by_product_id_stats".into(),
            base_table: "reviews".into(),
            key_columns: vec!["product_id".into()],
            create_sql: "CREATE MATERIALIZED VIEW ...".into(),
            unique_index_sql: "CREATE UNIQUE INDEX ...".into(),
            refresh_sql: "REFRESH MATERIALIZED VIEW CONCURRENTLY ...".into(),
            rewritten: Some("SELECT 1".into()),
            reason: "replaces aggregating reviews".into(),
            node_id: 3,
        };
        let mut suggestion = matview_suggestion(1, &view);
        add_view_statement(&mut suggestion, 2, &view);
        assert_eq!(suggestion.serves, [1, 2]);
        assert_eq!(suggestion.reason, "replaces aggregating reviews");
        let info = suggestion.matview().unwrap();
        assert_eq!(info.rewritten.len(), 2);
        assert_eq!(suggestion.ddl.len(), 2);
        match super::super::applying::change_of(&suggestion) {
            Some(super::super::apply::Change::Matview { statements, .. }) => assert_eq!(
                statements.last().map(String::as_str),
                Some(r#"ANALYZE "public"."reviews_by_product_id_stats""#)
            ),
            other => panic!("{other:?}"),
        }
    }
}
