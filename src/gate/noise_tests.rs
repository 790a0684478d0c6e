//! Hysteresis of findings and the statistics of timings, on hand-made records: what every run saw
//! is built run by run as the recorder does, then compared with `compare_with`.

use std::collections::BTreeMap;

use super::*;
use crate::gate::{
    AnalyzeRuns, BASELINE_SCHEMA_VERSION, Baseline, CheckReport, QueryBaseline, QueryResult,
    QueryStatus, ServerVersion, compare_with,
};

fn finding(rule: &str, severity: Severity, relation: &str) -> FindingRecord {
    FindingRecord {
        rule: rule.parse().unwrap(),
        severity,
        relation: Some(relation.to_string()),
        summary: format!("{rule} summary"),
    }
}

fn sort_finding(severity: Severity) -> FindingRecord {
    finding("unindexed-sort", severity, "public.orders")
}

fn plan(findings: Vec<FindingRecord>, timing: Option<Timing>) -> PlanRecord {
    PlanRecord {
        shape: vec![
            "Limit".to_string(),
            "  Sort".to_string(),
            "    Seq Scan on public.orders".to_string(),
        ],
        seq_scans: vec!["public.orders".to_string()],
        indexes: Vec::new(),
        total_cost: 100.0,
        planned_rows: 10.0,
        findings,
        timing,
        relations: vec!["public.orders".to_string()],
    }
}

fn analysed(plan: PlanRecord) -> Baseline {
    Baseline {
        schema_version: BASELINE_SCHEMA_VERSION,
        pgdiag_version: "0.1.0".to_string(),
        server: ServerVersion {
            version: "15.18".to_string(),
            version_num: 150018,
        },
        settings: BTreeMap::new(),
        analyze: Some(AnalyzeRuns { runs: 3 }),
        relations: Default::default(),
        queries: vec![QueryBaseline {
            id: "q.sql#1".to_string(),
            file: "q.sql".to_string(),
            statement: 1,
            line: 1,
            sql: "select 1".to_string(),
            params: Vec::new(),
            plan: Some(plan),
            error: None,
        }],
    }
}

/// One run: what it saw at the normal, strict and loose thresholds.
type Run = (Vec<FindingRecord>, Vec<FindingRecord>, Vec<FindingRecord>);

fn evidence(runs: &[Run]) -> RunEvidence {
    let mut query = QueryRuns::default();
    for (normal, strict, loose) in runs {
        query.add_run(normal, strict, loose);
    }
    RunEvidence {
        queries: BTreeMap::from([("q.sql#1".to_string(), query)]),
    }
}

fn check_with(
    before: PlanRecord,
    now: PlanRecord,
    runs: &[Run],
    config: &CheckConfig,
) -> QueryResult {
    let report: CheckReport = compare_with(
        &analysed(before),
        &analysed(now),
        &BTreeMap::from([("public.orders".to_string(), 300_000.0)]),
        &evidence(runs),
        config,
    );
    report.queries.into_iter().next().unwrap()
}

fn check(before: PlanRecord, now: PlanRecord, runs: &[Run]) -> QueryResult {
    check_with(before, now, runs, &CheckConfig::default())
}

#[test]
fn runs_count_each_key_once_per_run_and_keep_the_lowest_strict_severity() {
    let warning = sort_finding(Severity::Warning);
    let notice = sort_finding(Severity::Notice);
    let mut runs = QueryRuns::default();
    runs.add_run(
        &[warning.clone(), notice.clone()],
        std::slice::from_ref(&warning),
        std::slice::from_ref(&warning),
    );
    runs.add_run(
        std::slice::from_ref(&warning),
        std::slice::from_ref(&notice),
        &[],
    );
    let seen = &runs.findings[0];
    assert_eq!(runs.runs, 2);
    assert_eq!((seen.seen, seen.seen_strict, seen.seen_loose), (2, 2, 1));
    assert_eq!(seen.severity, Some(Severity::Warning));
    assert_eq!(seen.strict_min_severity, Some(Severity::Notice));

    // A run that misses it strictly: no longer strict in every run, whatever comes after.
    runs.add_run(std::slice::from_ref(&warning), &[], &[]);
    runs.add_run(
        std::slice::from_ref(&warning),
        std::slice::from_ref(&warning),
        &[],
    );
    assert_eq!(runs.findings[0].strict_min_severity, None);
    assert_eq!(runs.findings[0].seen_strict, 3);
}

#[test]
fn a_new_finding_seen_in_some_runs_only_is_a_note_not_a_regression() {
    // The flapping finding: the median run of the check saw it, one run did not.
    let warning = sort_finding(Severity::Warning);
    let runs = [
        (
            vec![warning.clone()],
            vec![warning.clone()],
            vec![warning.clone()],
        ),
        (
            vec![warning.clone()],
            vec![warning.clone()],
            vec![warning.clone()],
        ),
        (vec![], vec![], vec![warning.clone()]),
    ];
    let result = check(plan(vec![], None), plan(vec![warning], None), &runs);
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert!(result.regressions.is_empty());
    assert_eq!(
        result.notes,
        [
            "new finding unindexed-sort on public.orders (warning) seen in 2 of 3 runs, within the noise margin (±50%): not counted"
        ]
    );
}

#[test]
fn a_new_finding_in_every_run_but_not_clear_of_the_margin_is_a_note() {
    let warning = sort_finding(Severity::Warning);
    let runs = [
        (vec![warning.clone()], vec![warning.clone()], vec![]),
        (vec![warning.clone()], vec![], vec![]),
        (vec![warning.clone()], vec![warning.clone()], vec![]),
    ];
    let result = check(plan(vec![], None), plan(vec![warning.clone()], None), &runs);
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert_eq!(
        result.notes,
        [
            "new finding unindexed-sort on public.orders (warning) seen in every run, but not clear of its threshold by the noise margin (±50%) in every run: not counted"
        ]
    );

    // Clear of the threshold in every run, but a warning only at the normal tiers.
    let notice = sort_finding(Severity::Notice);
    let runs = [
        (vec![warning.clone()], vec![notice.clone()], vec![]),
        (vec![warning.clone()], vec![warning.clone()], vec![]),
        (vec![warning.clone()], vec![notice], vec![]),
    ];
    let result = check(plan(vec![], None), plan(vec![warning], None), &runs);
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert_eq!(
        result.notes,
        [
            "new finding unindexed-sort on public.orders (warning) only a notice in some run at thresholds 50% stricter: not counted"
        ]
    );
}

#[test]
fn a_new_finding_clear_of_the_margin_in_every_run_is_a_regression() {
    let warning = sort_finding(Severity::Warning);
    let every = (
        vec![warning.clone()],
        vec![warning.clone()],
        vec![warning.clone()],
    );
    let runs = [every.clone(), every.clone(), every];
    let result = check(plan(vec![], None), plan(vec![warning], None), &runs);
    assert_eq!(result.status, QueryStatus::Regressed);
    let change = &result.regressions[0];
    assert_eq!(change.kind, ChangeKind::NewFinding);
    assert_eq!(
        change.message,
        "new finding unindexed-sort on public.orders (warning): unindexed-sort summary"
    );
    assert_eq!(change.baseline.as_deref(), Some("absent"));
    assert_eq!(change.current.as_deref(), Some("warning"));
}

#[test]
fn a_finding_found_by_other_runs_than_the_median_one_counts_too() {
    // The median run missed it (a slow outlier elsewhere), every run saw it strictly: new.
    let critical = sort_finding(Severity::Critical);
    let every = (
        vec![critical.clone()],
        vec![critical.clone()],
        vec![critical],
    );
    let result = check(
        plan(vec![], None),
        plan(vec![], None),
        &[every.clone(), every.clone(), every],
    );
    assert_eq!(result.status, QueryStatus::Regressed);
    assert_eq!(
        result.regressions[0].message,
        "new finding unindexed-sort on public.orders (critical): unindexed-sort summary"
    );
}

#[test]
fn a_baseline_finding_still_seen_at_the_loose_thresholds_is_not_resolved() {
    let warning = sort_finding(Severity::Warning);
    let runs = [
        (vec![], vec![], vec![warning.clone()]),
        (vec![], vec![], vec![]),
        (vec![], vec![], vec![]),
    ];
    let result = check(plan(vec![warning.clone()], None), plan(vec![], None), &runs);
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert!(result.improvements.is_empty());
    assert_eq!(
        result.notes,
        [
            "finding unindexed-sort on public.orders still seen in 1 of 3 runs within the noise margin (±50%): not counted as resolved"
        ]
    );

    // No run sees it at all: resolved.
    let none = (vec![], vec![], vec![]);
    let result = check(
        plan(vec![warning], None),
        plan(vec![], None),
        &[none.clone(), none.clone(), none],
    );
    assert_eq!(result.status, QueryStatus::Improved);
    assert_eq!(result.improvements[0].kind, ChangeKind::FindingResolved);
    assert_eq!(result.improvements[0].baseline.as_deref(), Some("warning"));
    assert_eq!(result.improvements[0].current.as_deref(), Some("absent"));
}

fn timing(runs: u32, median_ms: f64, min_ms: f64, max_ms: f64) -> Timing {
    Timing {
        runs,
        median_ms,
        min_ms,
        max_ms,
    }
}

#[test]
fn a_significant_timing_increase_is_an_advisory_with_both_distributions() {
    let before = timing(5, 12.1, 11.8, 12.6);
    let now = timing(5, 30.2, 29.0, 31.5);
    let result = check(
        plan(vec![], Some(before.clone())),
        plan(vec![], Some(now.clone())),
        &[],
    );
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert!(result.regressions.is_empty());
    let advisory = &result.advisories[0];
    assert_eq!(advisory.kind, ChangeKind::TimingIncrease);
    assert_eq!(
        advisory.message,
        "time 12.10 ms (11.80–12.60, 5 runs) → 30.20 ms (29.00–31.50, 5 runs), +149.6%"
    );
    assert_eq!(advisory.baseline_timing.as_ref(), Some(&before));
    assert_eq!(advisory.current_timing.as_ref(), Some(&now));

    // With `timing = "fail"`, the same change fails the gate.
    let config = CheckConfig {
        timing: TimingVerdict::Fail,
        ..CheckConfig::default()
    };
    let result = check_with(
        plan(vec![], Some(before)),
        plan(vec![], Some(now)),
        &[],
        &config,
    );
    assert_eq!(result.status, QueryStatus::Regressed);
    assert_eq!(result.regressions[0].kind, ChangeKind::TimingIncrease);
}

#[test]
fn timing_within_the_noise_is_not_a_change() {
    let config = CheckConfig::default();
    let before = timing(5, 10.0, 9.0, 30.0);
    // Ranges overlap.
    assert!(!significant_increase(
        &before,
        &timing(5, 25.0, 20.0, 40.0),
        &config
    ));
    // Clear of the range, but growth smaller than the baseline's spread (21 ms).
    assert!(!significant_increase(
        &before,
        &timing(5, 31.0, 30.5, 31.5),
        &config
    ));
    // Smaller than the percentage.
    let steady = timing(5, 100.0, 99.0, 101.0);
    assert!(!significant_increase(
        &steady,
        &timing(5, 140.0, 139.0, 141.0),
        &config
    ));
    assert!(significant_increase(
        &steady,
        &timing(5, 160.0, 159.0, 161.0),
        &config
    ));
    // Smaller than the noise floor: a 0.1 ms query tripling.
    let tiny = timing(5, 0.1, 0.09, 0.11);
    assert!(!significant_increase(
        &tiny,
        &timing(5, 0.3, 0.29, 0.31),
        &config
    ));
    // Growth must exceed the current runs' spread too.
    assert!(!significant_increase(
        &steady,
        &timing(5, 200.0, 150.0, 400.0),
        &config
    ));
}

#[test]
fn too_few_runs_to_judge_timing_is_said() {
    let result = check(
        plan(vec![], Some(timing(2, 10.0, 9.0, 11.0))),
        plan(vec![], Some(timing(5, 100.0, 99.0, 101.0))),
        &[],
    );
    assert!(result.advisories.is_empty());
    assert_eq!(
        result.notes,
        ["too few runs to judge timing (need ≥ 3; baseline 2, now 5)"]
    );
}
