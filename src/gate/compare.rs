//! Comparing a current run with the baseline: the environment first (server major version,
//! planner settings), then every query by id, sorting what changed into regressions, improvements
//! and notes.
//!
//! Structural changes (a new sequential scan, an index no longer used) are judged on their own and
//! explain a change of shape; a shape change counts by itself only when the seq-scanned relations
//! and the indexes are the same on both sides. Costs are compared only when the environment matches:
//! after a settings change or an upgrade, cost moves are notes. A cost increase with the plan shape
//! unchanged is judged against the growth of the tables the plan reads ([`super::growth`]): in
//! proportion, it is an advisory (or a regression, by configuration); beyond it, a regression.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnose::Severity;

use super::growth::{self, CostGrowth};
use super::noise::{self, RunEvidence};
use super::{
    Baseline, CHECK_SCHEMA_VERSION, Change, ChangeKind, CheckConfig, CheckReport, CheckSummary,
    DataGrowth, EnvironmentDiff, PlanRecord, QueryBaseline, QueryResult, QueryStatus,
    RelationSizes, SettingChange,
};

/// Said once when the baseline predates table sizes.
pub const NO_SIZES_NOTE: &str = "the baseline has no table sizes (baseline schema version 1), so \
     a cost increase cannot be told from data growth: re-record it with `pgdiag check --update`";

/// Compare `current` (recorded now, same format) with `baseline`. `relation_rows` holds the
/// current `pg_class.reltuples` of every relation the plans read (`schema.table`), for the
/// seq-scan size threshold. Findings are compared as the median runs recorded them; see
/// [`compare_with`] for the hysteresis that needs every run.
pub fn compare(
    baseline: &Baseline,
    current: &Baseline,
    relation_rows: &BTreeMap<String, f64>,
    config: &CheckConfig,
) -> CheckReport {
    compare_with(
        baseline,
        current,
        relation_rows,
        &RunEvidence::default(),
        config,
    )
}

/// [`compare`], with what every run of the current recording saw (`runs`, from
/// [`super::record_runs`]): findings are then judged with hysteresis ([`super::noise`]).
pub fn compare_with(
    baseline: &Baseline,
    current: &Baseline,
    relation_rows: &BTreeMap<String, f64>,
    runs: &RunEvidence,
    config: &CheckConfig,
) -> CheckReport {
    let environment = environment_diff(baseline, current);
    let context = Context {
        relation_rows,
        runs,
        config,
        environment: &environment,
        // Findings need `--analyze`; comparing an analysed run with an estimated one would report
        // every finding as new (or resolved).
        compare_findings: baseline.analyze.is_some() == current.analyze.is_some(),
        sizes: baseline
            .has_relation_sizes()
            .then_some((&baseline.relations, &current.relations)),
    };

    let mut current_by_id: BTreeMap<&str, &QueryBaseline> = BTreeMap::new();
    for query in &current.queries {
        current_by_id.entry(query.id.as_str()).or_insert(query);
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();

    let mut queries = Vec::new();
    for before in &baseline.queries {
        if !seen.insert(before.id.as_str()) {
            continue;
        }
        let now = current_by_id.get(before.id.as_str()).copied();
        queries.push(context.compare_query(Some(before), now));
    }
    for now in &current.queries {
        if seen.insert(now.id.as_str()) {
            queries.push(context.compare_query(None, Some(now)));
        }
    }

    let summary = summarize(&queries);
    let mut notes = Vec::new();
    if !baseline.has_relation_sizes() {
        notes.push(NO_SIZES_NOTE.to_string());
    }
    CheckReport {
        schema_version: CHECK_SCHEMA_VERSION,
        pgdiag_version: env!("CARGO_PKG_VERSION").to_string(),
        environment,
        queries,
        summary,
        notes,
    }
}

fn environment_diff(baseline: &Baseline, current: &Baseline) -> EnvironmentDiff {
    let (major_before, major_now) = (baseline.server.major(), current.server.major());
    let major_version_mismatch = (major_before != major_now).then_some((major_before, major_now));

    let names: BTreeSet<&String> = baseline
        .settings
        .keys()
        .chain(current.settings.keys())
        .collect();
    let settings_changed: Vec<SettingChange> = names
        .into_iter()
        .filter_map(|name| {
            let before = baseline.settings.get(name);
            let now = current.settings.get(name);
            (before != now).then(|| SettingChange {
                name: name.clone(),
                baseline: before.cloned(),
                current: now.cloned(),
            })
        })
        .collect();

    let cost_advisory = major_version_mismatch.is_some() || !settings_changed.is_empty();
    EnvironmentDiff {
        major_version_mismatch,
        settings_changed,
        cost_advisory,
    }
}

fn summarize(queries: &[QueryResult]) -> CheckSummary {
    let mut summary = CheckSummary {
        total: queries.len(),
        ..CheckSummary::default()
    };
    for query in queries {
        let count = match query.status {
            QueryStatus::Regressed => &mut summary.regressed,
            QueryStatus::Improved => &mut summary.improved,
            QueryStatus::Unchanged => &mut summary.unchanged,
            QueryStatus::New => &mut summary.new,
            QueryStatus::Missing => &mut summary.missing,
            QueryStatus::Ignored => &mut summary.ignored,
        };
        *count += 1;
    }
    summary
}

/// The global thresholds with a query's overrides applied.
#[derive(Debug, Clone, Copy)]
struct QueryThresholds {
    cost_increase_pct: f64,
    seq_scan_min_rows: f64,
    shape_change_is_regression: bool,
    fail_on_finding: Severity,
}

#[derive(Debug)]
struct Context<'a> {
    relation_rows: &'a BTreeMap<String, f64>,
    runs: &'a RunEvidence,
    config: &'a CheckConfig,
    environment: &'a EnvironmentDiff,
    compare_findings: bool,
    /// The table sizes of the baseline and of the current run, when the baseline has them.
    sizes: Option<(&'a RelationSizes, &'a RelationSizes)>,
}

/// What one query's comparison found.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) regressions: Vec<Change>,
    pub(super) improvements: Vec<Change>,
    pub(super) advisories: Vec<Change>,
    pub(super) notes: Vec<String>,
}

impl Outcome {
    fn regression(&mut self, change: Change) {
        self.regressions.push(change);
    }

    fn improvement(&mut self, change: Change) {
        self.improvements.push(change);
    }

    fn advisory(&mut self, change: Change) {
        self.advisories.push(change);
    }

    fn has_regression(&self, kinds: &[ChangeKind]) -> bool {
        self.regressions
            .iter()
            .any(|change| kinds.contains(&change.kind))
    }
}

impl Context<'_> {
    fn compare_query(
        &self,
        before: Option<&QueryBaseline>,
        now: Option<&QueryBaseline>,
    ) -> QueryResult {
        // One of the two is always present; the current run's file and line are the ones a user
        // can open.
        let Some(identity) = now.or(before) else {
            unreachable!("compare_query needs a baseline or a current query")
        };
        let before_plan = before.and_then(|query| query.plan.as_ref());
        let now_plan = now.and_then(|query| query.plan.as_ref());
        let mut outcome = Outcome::default();

        let status = if self.is_ignored(identity) {
            QueryStatus::Ignored
        } else {
            match (before, now) {
                (Some(_), None) => QueryStatus::Missing,
                (None, _) => QueryStatus::New,
                (Some(before), Some(now)) => {
                    let thresholds = self.thresholds(&identity.id);
                    self.compare_present(before, now, &thresholds, &mut outcome);
                    if !outcome.regressions.is_empty() {
                        QueryStatus::Regressed
                    } else if !outcome.improvements.is_empty() {
                        QueryStatus::Improved
                    } else {
                        QueryStatus::Unchanged
                    }
                }
            }
        };

        QueryResult {
            id: identity.id.clone(),
            file: identity.file.clone(),
            line: identity.line,
            status,
            regressions: outcome.regressions,
            improvements: outcome.improvements,
            advisories: outcome.advisories,
            notes: outcome.notes,
            baseline_shape: before_plan
                .map(|plan| plan.shape.clone())
                .unwrap_or_default(),
            current_shape: now_plan.map(|plan| plan.shape.clone()).unwrap_or_default(),
            baseline_cost: before_plan.map(|plan| plan.total_cost),
            current_cost: now_plan.map(|plan| plan.total_cost),
            current_plan: None,
        }
    }

    fn is_ignored(&self, query: &QueryBaseline) -> bool {
        let by_override = self
            .config
            .queries
            .get(&query.id)
            .is_some_and(|query_override| query_override.ignore);
        by_override
            || self.config.ignore.iter().any(|pattern| {
                glob_matches(pattern, &query.id) || glob_matches(pattern, &query.file)
            })
    }

    fn thresholds(&self, id: &str) -> QueryThresholds {
        let config = self.config;
        let query_override = config.queries.get(id).cloned().unwrap_or_default();
        QueryThresholds {
            cost_increase_pct: query_override
                .cost_increase_pct
                .unwrap_or(config.cost_increase_pct),
            seq_scan_min_rows: query_override
                .seq_scan_min_rows
                .unwrap_or(config.seq_scan_min_rows),
            shape_change_is_regression: query_override
                .shape_change_is_regression
                .unwrap_or(config.shape_change_is_regression),
            fail_on_finding: config.fail_on_finding,
        }
    }

    fn compare_present(
        &self,
        before: &QueryBaseline,
        now: &QueryBaseline,
        thresholds: &QueryThresholds,
        outcome: &mut Outcome,
    ) {
        match (&before.plan, &now.plan) {
            (Some(before_plan), Some(now_plan)) => {
                self.compare_plans(&now.id, before_plan, now_plan, thresholds, outcome);
            }
            (Some(_), None) => {
                let error = now.error.as_deref().unwrap_or("no plan recorded");
                outcome.regression(
                    Change::new(
                        ChangeKind::NewlyFailing,
                        format!("query now fails: \"{error}\""),
                    )
                    .values("planned", error),
                );
            }
            (None, Some(_)) => {
                let message = match before.error.as_deref() {
                    Some(error) => format!("query now succeeds (baseline failed: \"{error}\")"),
                    None => "query now succeeds".to_string(),
                };
                let failed = before.error.as_deref().unwrap_or("failed");
                outcome.improvement(
                    Change::new(ChangeKind::NowSucceeds, message).values(failed, "planned"),
                );
            }
            (None, None) => {
                if before.error != now.error
                    && let Some(error) = now.error.as_deref()
                {
                    outcome
                        .notes
                        .push(format!("still fails, with a different error: \"{error}\""));
                }
            }
        }
    }

    fn compare_plans(
        &self,
        id: &str,
        before: &PlanRecord,
        now: &PlanRecord,
        thresholds: &QueryThresholds,
        outcome: &mut Outcome,
    ) {
        self.compare_seq_scans(before, now, thresholds, outcome);
        compare_indexes(before, now, outcome);
        compare_shapes(before, now, thresholds, outcome);
        self.compare_costs(before, now, thresholds, outcome);
        if self.compare_findings {
            noise::compare_findings(
                before,
                now,
                self.runs.queries.get(id),
                self.config,
                thresholds.fail_on_finding,
                outcome,
            );
            noise::compare_timing(
                before.timing.as_ref(),
                now.timing.as_ref(),
                self.config,
                outcome,
            );
        }
    }

    fn compare_seq_scans(
        &self,
        before: &PlanRecord,
        now: &PlanRecord,
        thresholds: &QueryThresholds,
        outcome: &mut Outcome,
    ) {
        for relation in difference(&now.seq_scans, &before.seq_scans) {
            // pg_class.reltuples is -1 for a table never vacuumed or analysed (PG14+): unknown.
            let rows = self
                .relation_rows
                .get(relation)
                .copied()
                .filter(|rows| *rows >= 0.0);
            match rows {
                None => outcome.regression(
                    Change::new(
                        ChangeKind::NewSeqScan,
                        format!("new Seq Scan on {relation} (size unknown)"),
                    )
                    .values("no Seq Scan", format!("Seq Scan on {relation}")),
                ),
                Some(rows) if rows >= thresholds.seq_scan_min_rows => outcome.regression(
                    Change::new(
                        ChangeKind::NewSeqScan,
                        format!(
                            "new Seq Scan on {relation} ({} rows)",
                            crate::units::fmt_count(rows)
                        ),
                    )
                    .values(
                        "no Seq Scan",
                        format!(
                            "Seq Scan on {relation} ({} rows)",
                            crate::units::fmt_count(rows)
                        ),
                    ),
                ),
                Some(rows) => outcome.notes.push(format!(
                    "new Seq Scan on small table {relation} ({} rows)",
                    crate::units::fmt_count(rows)
                )),
            }
        }
        for relation in difference(&before.seq_scans, &now.seq_scans) {
            outcome.improvement(
                Change::new(
                    ChangeKind::SeqScanGone,
                    format!("Seq Scan on {relation} gone"),
                )
                .values(format!("Seq Scan on {relation}"), "no Seq Scan"),
            );
        }
    }

    fn compare_costs(
        &self,
        before: &PlanRecord,
        now: &PlanRecord,
        thresholds: &QueryThresholds,
        outcome: &mut Outcome,
    ) {
        let (cost_before, cost_now) = (before.total_cost, now.total_cost);
        let factor = thresholds.cost_increase_pct / 100.0;
        let increased = cost_now > cost_before * (1.0 + factor);
        let decreased = cost_now < cost_before * (1.0 - factor);
        if !increased && !decreased {
            return;
        }
        let change = format!(
            "cost {} from {} to {}",
            percent_change(cost_before, cost_now),
            format_cost(cost_before),
            format_cost(cost_now)
        );
        if self.environment.cost_advisory {
            outcome
                .notes
                .push(format!("{change} (advisory: {})", self.advisory_reason()));
        } else if increased {
            let threshold = format!(
                "(threshold +{}%)",
                trim_number(thresholds.cost_increase_pct)
            );
            let values =
                |change: Change| change.values(format_cost(cost_before), format_cost(cost_now));
            match self.cost_growth(before, now, thresholds) {
                CostGrowth::WithData(why) => match self.config.data_growth {
                    DataGrowth::Advisory => outcome.advisory(values(Change::new(
                        ChangeKind::CostGrowthWithData,
                        format!("{change}, {why}"),
                    ))),
                    DataGrowth::Fail => outcome.regression(values(Change::new(
                        ChangeKind::CostGrowthWithData,
                        format!("{change} {threshold}, {why}"),
                    ))),
                },
                CostGrowth::BeyondData(why) => outcome.regression(values(Change::new(
                    ChangeKind::CostIncrease,
                    format!("{change} {threshold}, {why}"),
                ))),
                CostGrowth::Unknown => outcome.regression(values(Change::new(
                    ChangeKind::CostIncrease,
                    format!("{change} {threshold}"),
                ))),
            }
        } else {
            outcome.improvement(
                Change::new(ChangeKind::CostDecrease, change)
                    .values(format_cost(cost_before), format_cost(cost_now)),
            );
        }
    }

    /// Whether a cost increase follows the data. Judged only when the plan shape is unchanged (a
    /// new plan is a change of its own) and the baseline recorded table sizes.
    fn cost_growth(
        &self,
        before: &PlanRecord,
        now: &PlanRecord,
        thresholds: &QueryThresholds,
    ) -> CostGrowth {
        let Some((sizes_before, sizes_now)) = self.sizes else {
            return CostGrowth::Unknown;
        };
        if before.shape != now.shape {
            return CostGrowth::Unknown;
        }
        let relations: BTreeSet<&String> = before.relations.iter().chain(&now.relations).collect();
        let relations: Vec<String> = relations.into_iter().cloned().collect();
        let changes = growth::size_changes(&relations, sizes_before, sizes_now);
        growth::judge(
            before.total_cost,
            now.total_cost,
            thresholds.cost_increase_pct,
            &changes,
        )
    }

    fn advisory_reason(&self) -> &'static str {
        match (
            self.environment.major_version_mismatch.is_some(),
            self.environment.settings_changed.is_empty(),
        ) {
            (true, true) => "server major version differs",
            (true, false) => "server major version and planner settings differ",
            (false, _) => "planner settings differ",
        }
    }
}

fn compare_indexes(before: &PlanRecord, now: &PlanRecord, outcome: &mut Outcome) {
    for index in difference(&before.indexes, &now.indexes) {
        outcome.regression(
            Change::new(
                ChangeKind::IndexNoLongerUsed,
                format!("index {index} no longer used"),
            )
            .values(format!("{index} used"), format!("{index} not used")),
        );
    }
    for index in difference(&now.indexes, &before.indexes) {
        outcome.improvement(
            Change::new(
                ChangeKind::IndexNewlyUsed,
                format!("index {index} now used"),
            )
            .values(format!("{index} not used"), format!("{index} used")),
        );
    }
}

/// Runs after the seq-scan and index comparisons, whose results explain most shape changes.
fn compare_shapes(
    before: &PlanRecord,
    now: &PlanRecord,
    thresholds: &QueryThresholds,
    outcome: &mut Outcome,
) {
    if before.shape == now.shape {
        return;
    }
    let explained_by_regression =
        outcome.has_regression(&[ChangeKind::NewSeqScan, ChangeKind::IndexNoLongerUsed]);
    if explained_by_regression {
        return;
    }
    let message = match lines_differing(&before.shape, &now.shape) {
        1 => "plan shape changed (1 line differs)".to_string(),
        lines => format!("plan shape changed ({lines} lines differ)"),
    };
    // A new seq scan on a small table, or a newly used index, also changes the shape; those are
    // reported on their own and must not turn into a shape regression.
    let scans_same = before.seq_scans == now.seq_scans && before.indexes == now.indexes;
    if scans_same && thresholds.shape_change_is_regression {
        outcome.regression(
            Change::new(ChangeKind::ShapeChanged, message)
                .values(shape_summary(&before.shape), shape_summary(&now.shape)),
        );
    } else {
        outcome.notes.push(message);
    }
}

/// `Hash Join (Inner), 4 nodes`: the root and the size of a plan, for a shape change's two sides
/// (the plan diff shows the rest).
fn shape_summary(shape: &[String]) -> String {
    let root = shape.first().map(|line| line.trim()).unwrap_or("no plan");
    match shape.len() {
        1 => format!("{root}, 1 node"),
        nodes => format!("{root}, {nodes} nodes"),
    }
}

/// Items of `left` not in `right`, in `left`'s order.
fn difference<'a>(left: &'a [String], right: &[String]) -> impl Iterator<Item = &'a String> {
    left.iter().filter(move |item| !right.contains(item))
}

/// How many lines a reader has to look at: the larger of lines removed and lines added, after
/// matching the longest common subsequence (so one replaced node counts once, one inserted node
/// counts once).
fn lines_differing(before: &[String], now: &[String]) -> usize {
    // Changed rows pair one removed with one added line, so this is max(removed, added).
    super::diff::align(before, now)
        .iter()
        .filter(|row| row.op != super::diff::DiffOp::Equal)
        .count()
}

/// `+35%`, `-12.5%`; `+inf%` from a zero baseline.
fn percent_change(before: f64, now: f64) -> String {
    if before == 0.0 {
        return "+inf%".to_string();
    }
    let percent = (now - before) / before * 100.0;
    let sign = if percent >= 0.0 { "+" } else { "-" };
    format!("{sign}{}%", trim_number(percent.abs()))
}

/// One decimal, without a trailing `.0`.
fn trim_number(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

fn format_cost(cost: f64) -> String {
    format!("{cost:.2}")
}

/// `*` matches any run of characters (including `/`), `?` exactly one; everything else itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it is currently assumed to stretch to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
