//! Comparison of baselines: records built from real fixtures where the plan matters, and small
//! hand-made records where only one figure does.

use super::*;
use crate::gate::{
    AnalyzeRuns, BASELINE_SCHEMA_VERSION, FindingRecord, QueryOverride, RelationSize,
    ServerVersion, record_plan,
};
use crate::plan::{Explain, NodeType, PlanNode, parse_explain};

fn explain(name: &str) -> Explain {
    let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    parse_explain(&text).unwrap().remove(0)
}

fn for_each_node(node: &mut PlanNode, edit: &mut impl FnMut(&mut PlanNode)) {
    edit(node);
    for child in &mut node.plans {
        for_each_node(child, edit);
    }
}

/// `nested_loop_many_loops.json` as EXPLAIN VERBOSE would name it (schema-qualified), and the same
/// query after the planner gave up `orders_customer_id_idx` for a sequential scan of orders.
fn index_plan_and_seq_scan_plan() -> (PlanRecord, PlanRecord) {
    let mut with_index = explain("nested_loop_many_loops.json");
    for_each_node(&mut with_index.plan, &mut |node| {
        if node.relation_name.is_some() {
            node.schema = Some("public".to_string());
        }
    });
    let mut with_seq_scan = with_index.clone();
    let inner = &mut with_seq_scan.plan.plans[1];
    assert_eq!(inner.index_name.as_deref(), Some("orders_customer_id_idx"));
    inner.node_type = NodeType::SeqScan;
    inner.index_name = None;
    (
        record_plan(&with_index, None, None),
        record_plan(&with_seq_scan, None, None),
    )
}

fn plan(cost: f64) -> PlanRecord {
    PlanRecord {
        shape: vec![
            "Hash Join (Inner)".to_string(),
            "  Seq Scan on public.t".to_string(),
            "  Hash".to_string(),
            "    Index Scan using u_pkey on public.u".to_string(),
        ],
        seq_scans: vec!["public.t".to_string()],
        indexes: vec!["u_pkey".to_string()],
        relations: vec!["public.t".to_string(), "public.u".to_string()],
        total_cost: cost,
        planned_rows: 10.0,
        findings: Vec::new(),
        timing: None,
    }
}

fn query(id: &str, plan: Option<PlanRecord>, error: Option<&str>) -> QueryBaseline {
    let (file, statement) = id.split_once('#').unwrap();
    let statement: usize = statement.parse().unwrap();
    QueryBaseline {
        id: id.to_string(),
        file: file.to_string(),
        statement,
        line: statement * 10,
        sql: "select 1".to_string(),
        params: Vec::new(),
        plan,
        error: error.map(str::to_string),
    }
}

fn planned(id: &str, plan: PlanRecord) -> QueryBaseline {
    query(id, Some(plan), None)
}

fn baseline(queries: Vec<QueryBaseline>) -> Baseline {
    Baseline {
        schema_version: BASELINE_SCHEMA_VERSION,
        pgdiag_version: "0.1.0".to_string(),
        server: ServerVersion {
            version: "15.18".to_string(),
            version_num: 150018,
        },
        settings: BTreeMap::from([
            ("random_page_cost".to_string(), "1.1".to_string()),
            ("work_mem".to_string(), "4MB".to_string()),
        ]),
        analyze: None,
        relations: BTreeMap::new(),
        queries,
    }
}

fn large_tables() -> BTreeMap<String, f64> {
    BTreeMap::from([
        ("public.orders".to_string(), 1_200_000.0),
        ("public.t".to_string(), 50_000.0),
    ])
}

fn check(before: &Baseline, now: &Baseline) -> CheckReport {
    compare(before, now, &large_tables(), &CheckConfig::default())
}

fn one_query(before: PlanRecord, now: PlanRecord) -> QueryResult {
    let report = check(
        &baseline(vec![planned("q.sql#1", before)]),
        &baseline(vec![planned("q.sql#1", now)]),
    );
    assert_eq!(report.queries.len(), 1);
    report.queries.into_iter().next().unwrap()
}

fn messages(changes: &[Change]) -> Vec<(ChangeKind, &str)> {
    changes
        .iter()
        .map(|change| (change.kind, change.message.as_str()))
        .collect()
}

#[test]
fn index_scan_replaced_by_seq_scan_is_a_regression() {
    let (with_index, with_seq_scan) = index_plan_and_seq_scan_plan();
    let result = one_query(with_index.clone(), with_seq_scan.clone());
    assert_eq!(result.status, QueryStatus::Regressed);
    assert_eq!(
        messages(&result.regressions),
        [
            (
                ChangeKind::NewSeqScan,
                "new Seq Scan on public.orders (1,200,000 rows)"
            ),
            (
                ChangeKind::IndexNoLongerUsed,
                "index orders_customer_id_idx no longer used"
            ),
        ]
    );
    // The shape change is explained by the two above, so it is not reported again.
    assert!(result.improvements.is_empty());
    assert!(result.notes.is_empty());
    assert_eq!(result.baseline_shape, with_index.shape);
    assert_eq!(result.current_shape, with_seq_scan.shape);
    assert_eq!(
        result.current_shape[2], "  Seq Scan on public.orders",
        "{:?}",
        result.current_shape
    );
    assert_eq!(result.baseline_cost, Some(38997.25));
    assert_eq!(result.current_cost, Some(38997.25));
}

#[test]
fn seq_scan_replaced_by_index_scan_is_an_improvement() {
    let (with_index, with_seq_scan) = index_plan_and_seq_scan_plan();
    let result = one_query(with_seq_scan, with_index);
    assert_eq!(result.status, QueryStatus::Improved);
    assert!(result.regressions.is_empty());
    assert_eq!(
        messages(&result.improvements),
        [
            (ChangeKind::SeqScanGone, "Seq Scan on public.orders gone"),
            (
                ChangeKind::IndexNewlyUsed,
                "index orders_customer_id_idx now used"
            ),
        ]
    );
    assert_eq!(result.notes, ["plan shape changed (1 line differs)"]);
}

#[test]
fn seq_scan_of_unknown_size_counts_as_large() {
    let (with_index, with_seq_scan) = index_plan_and_seq_scan_plan();
    let report = compare(
        &baseline(vec![planned("q.sql#1", with_index)]),
        &baseline(vec![planned("q.sql#1", with_seq_scan)]),
        // reltuples = -1: never analysed.
        &BTreeMap::from([("public.orders".to_string(), -1.0)]),
        &CheckConfig::default(),
    );
    assert_eq!(
        report.queries[0].regressions[0].message,
        "new Seq Scan on public.orders (size unknown)"
    );
}

#[test]
fn new_seq_scan_on_a_small_table_is_a_note() {
    let before = PlanRecord {
        seq_scans: Vec::new(),
        ..plan(100.0)
    };
    let mut now = plan(100.0);
    now.shape[1] = "  Seq Scan on t".to_string();
    now.seq_scans = vec!["t".to_string()];
    let report = compare(
        &baseline(vec![planned("q.sql#1", before)]),
        &baseline(vec![planned("q.sql#1", now)]),
        &BTreeMap::from([("t".to_string(), 40.0)]),
        &CheckConfig::default(),
    );
    let result = &report.queries[0];
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert!(result.regressions.is_empty());
    assert_eq!(
        result.notes,
        [
            "new Seq Scan on small table t (40 rows)",
            "plan shape changed (1 line differs)"
        ]
    );
    assert!(!report.has_regressions());
}

#[test]
fn shape_change_alone_is_a_regression_unless_configured_otherwise() {
    let mut now = plan(100.0);
    now.shape[0] = "Merge Join (Inner)".to_string();
    now.shape.insert(2, "  Sort".to_string());
    let before_baseline = baseline(vec![planned("q.sql#1", plan(100.0))]);
    let now_baseline = baseline(vec![planned("q.sql#1", now)]);

    let report = check(&before_baseline, &now_baseline);
    assert_eq!(report.queries[0].status, QueryStatus::Regressed);
    assert_eq!(
        messages(&report.queries[0].regressions),
        [(
            ChangeKind::ShapeChanged,
            "plan shape changed (2 lines differ)"
        )]
    );

    let lenient = CheckConfig {
        shape_change_is_regression: false,
        ..CheckConfig::default()
    };
    let report = compare(&before_baseline, &now_baseline, &large_tables(), &lenient);
    assert_eq!(report.queries[0].status, QueryStatus::Unchanged);
    assert_eq!(
        report.queries[0].notes,
        ["plan shape changed (2 lines differ)"]
    );
}

#[test]
fn cost_within_threshold_is_unchanged_and_beyond_it_regressed() {
    let result = one_query(plan(1000.0), plan(1050.0));
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert!(result.regressions.is_empty() && result.notes.is_empty());

    let result = one_query(plan(1000.0), plan(1200.0));
    assert_eq!(result.status, QueryStatus::Regressed);
    assert_eq!(
        messages(&result.regressions),
        [(
            ChangeKind::CostIncrease,
            "cost +20% from 1000.00 to 1200.00 (threshold +10%)"
        )]
    );
}

#[test]
fn cost_decrease_beyond_threshold_is_an_improvement() {
    let result = one_query(plan(1000.0), plan(750.0));
    assert_eq!(result.status, QueryStatus::Improved);
    assert_eq!(
        messages(&result.improvements),
        [(ChangeKind::CostDecrease, "cost -25% from 1000.00 to 750.00")]
    );
    assert_eq!(
        one_query(plan(1000.0), plan(950.0)).status,
        QueryStatus::Unchanged
    );
}

#[test]
fn cost_increase_after_a_settings_change_is_advisory() {
    let before = baseline(vec![planned("q.sql#1", plan(1000.0))]);
    let mut now = baseline(vec![planned("q.sql#1", plan(1200.0))]);
    now.settings
        .insert("work_mem".to_string(), "64MB".to_string());
    now.settings.remove("random_page_cost");
    now.settings
        .insert("enable_seqscan".to_string(), "off".to_string());

    let report = check(&before, &now);
    assert!(report.environment.cost_advisory);
    assert_eq!(report.environment.major_version_mismatch, None);
    assert_eq!(
        report.environment.settings_changed,
        [
            SettingChange {
                name: "enable_seqscan".to_string(),
                baseline: None,
                current: Some("off".to_string()),
            },
            SettingChange {
                name: "random_page_cost".to_string(),
                baseline: Some("1.1".to_string()),
                current: None,
            },
            SettingChange {
                name: "work_mem".to_string(),
                baseline: Some("4MB".to_string()),
                current: Some("64MB".to_string()),
            },
        ]
    );
    let result = &report.queries[0];
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert!(result.regressions.is_empty());
    assert_eq!(
        result.notes,
        ["cost +20% from 1000.00 to 1200.00 (advisory: planner settings differ)"]
    );
    assert!(!report.has_regressions());
}

#[test]
fn major_version_mismatch_makes_costs_advisory() {
    let before = baseline(vec![planned("q.sql#1", plan(1000.0))]);
    let mut now = baseline(vec![planned("q.sql#1", plan(1350.0))]);
    now.server = ServerVersion {
        version: "17.2".to_string(),
        version_num: 170002,
    };
    let report = check(&before, &now);
    assert_eq!(report.environment.major_version_mismatch, Some((15, 17)));
    assert!(report.environment.settings_changed.is_empty());
    assert!(report.environment.cost_advisory);
    assert_eq!(
        report.queries[0].notes,
        ["cost +35% from 1000.00 to 1350.00 (advisory: server major version differs)"]
    );
    assert_eq!(report.queries[0].status, QueryStatus::Unchanged);

    // A minor upgrade is not a mismatch.
    now.server.version_num = 150020;
    let report = check(&before, &now);
    assert_eq!(report.environment, EnvironmentDiff::default());
    assert_eq!(report.queries[0].status, QueryStatus::Regressed);
}

#[test]
fn new_query_is_new_and_removed_query_is_missing() {
    let before = baseline(vec![
        planned("a.sql#1", plan(100.0)),
        planned("a.sql#2", plan(100.0)),
    ]);
    let now = baseline(vec![
        planned("a.sql#1", plan(100.0)),
        planned("b.sql#1", plan(5000.0)),
    ]);
    let report = check(&before, &now);
    let statuses: Vec<(&str, QueryStatus)> = report
        .queries
        .iter()
        .map(|query| (query.id.as_str(), query.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("a.sql#1", QueryStatus::Unchanged),
            ("a.sql#2", QueryStatus::Missing),
            ("b.sql#1", QueryStatus::New),
        ]
    );
    let missing = &report.queries[1];
    assert_eq!((missing.file.as_str(), missing.line), ("a.sql", 20));
    assert_eq!(missing.baseline_cost, Some(100.0));
    assert_eq!(missing.current_cost, None);
    let new = &report.queries[2];
    assert!(new.regressions.is_empty() && new.baseline_shape.is_empty());
    assert_eq!(new.current_cost, Some(5000.0));
    assert!(!report.has_regressions());
}

#[test]
fn queries_are_ignored_by_glob_by_id_and_by_override() {
    let regressed = || plan(9999.0);
    let before = baseline(vec![
        planned("legacy/old.sql#1", plan(100.0)),
        planned("reports/a.sql#1", plan(100.0)),
        planned("reports/a.sql#2", plan(100.0)),
        planned("reports/b.sql#1", plan(100.0)),
        planned("reports/c.sql#1", plan(100.0)),
    ]);
    let now = baseline(vec![
        planned("legacy/old.sql#1", regressed()),
        planned("reports/a.sql#1", regressed()),
        planned("reports/a.sql#2", regressed()),
        planned("reports/b.sql#1", regressed()),
        planned("reports/c.sql#1", regressed()),
        planned("legacy/new.sql#1", regressed()),
    ]);
    let config = CheckConfig {
        // `*` crosses `/`; `?` is one character; a plain id matches only itself.
        ignore: vec![
            "*old*".to_string(),
            "legacy/new.sq?".to_string(),
            "reports/a.sql#2".to_string(),
        ],
        queries: BTreeMap::from([(
            "reports/b.sql#1".to_string(),
            QueryOverride {
                ignore: true,
                ..QueryOverride::default()
            },
        )]),
        ..CheckConfig::default()
    };
    let report = compare(&before, &now, &large_tables(), &config);
    let statuses: Vec<(&str, QueryStatus)> = report
        .queries
        .iter()
        .map(|query| (query.id.as_str(), query.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("legacy/old.sql#1", QueryStatus::Ignored),
            ("reports/a.sql#1", QueryStatus::Regressed),
            ("reports/a.sql#2", QueryStatus::Ignored),
            ("reports/b.sql#1", QueryStatus::Ignored),
            ("reports/c.sql#1", QueryStatus::Regressed),
            ("legacy/new.sql#1", QueryStatus::Ignored),
        ]
    );
    assert!(
        report
            .queries
            .iter()
            .filter(|query| query.status == QueryStatus::Ignored)
            .all(|query| query.regressions.is_empty() && query.notes.is_empty())
    );
}

#[test]
fn glob_matcher() {
    assert!(glob_matches("legacy/*.sql", "legacy/a/b.sql"));
    assert!(glob_matches("*", ""));
    assert!(glob_matches("a?c", "abc"));
    assert!(!glob_matches("a?c", "ac"));
    assert!(glob_matches("*.sql#?", "x.sql#2"));
    assert!(!glob_matches("*.sql#?", "x.sql#12"));
    assert!(glob_matches("a*b*c", "aXbYbZc"));
    assert!(!glob_matches("a*b*c", "aXbYbZ"));
    assert!(!glob_matches("a.sql", "a.sql#1"));
}

#[test]
fn per_query_override_of_cost_threshold() {
    let before = baseline(vec![
        planned("a.sql#1", plan(1000.0)),
        planned("a.sql#2", plan(1000.0)),
    ]);
    let now = baseline(vec![
        planned("a.sql#1", plan(1200.0)),
        planned("a.sql#2", plan(1200.0)),
    ]);
    let config = CheckConfig {
        queries: BTreeMap::from([(
            "a.sql#2".to_string(),
            QueryOverride {
                cost_increase_pct: Some(50.0),
                ..QueryOverride::default()
            },
        )]),
        ..CheckConfig::default()
    };
    let report = compare(&before, &now, &large_tables(), &config);
    assert_eq!(report.queries[0].status, QueryStatus::Regressed);
    assert_eq!(report.queries[1].status, QueryStatus::Unchanged);

    let strict = CheckConfig {
        queries: BTreeMap::from([(
            "a.sql#1".to_string(),
            QueryOverride {
                cost_increase_pct: Some(1.0),
                ..QueryOverride::default()
            },
        )]),
        ..CheckConfig::default()
    };
    let report = compare(
        &baseline(vec![planned("a.sql#1", plan(1000.0))]),
        &baseline(vec![planned("a.sql#1", plan(1050.0))]),
        &large_tables(),
        &strict,
    );
    assert_eq!(
        report.queries[0].regressions[0].message,
        "cost +5% from 1000.00 to 1050.00 (threshold +1%)"
    );
}

#[test]
fn per_query_override_of_seq_scan_size() {
    let (with_index, with_seq_scan) = index_plan_and_seq_scan_plan();
    let config = CheckConfig {
        queries: BTreeMap::from([(
            "q.sql#1".to_string(),
            QueryOverride {
                seq_scan_min_rows: Some(5_000_000.0),
                ..QueryOverride::default()
            },
        )]),
        ..CheckConfig::default()
    };
    let report = compare(
        &baseline(vec![planned("q.sql#1", with_index)]),
        &baseline(vec![planned("q.sql#1", with_seq_scan)]),
        &large_tables(),
        &config,
    );
    let result = &report.queries[0];
    assert_eq!(
        result.notes,
        ["new Seq Scan on small table public.orders (1,200,000 rows)"]
    );
    // Still regressed: the index is no longer used.
    assert_eq!(
        messages(&result.regressions),
        [(
            ChangeKind::IndexNoLongerUsed,
            "index orders_customer_id_idx no longer used"
        )]
    );
}

#[test]
fn newly_failing_and_now_succeeding_queries() {
    let before = baseline(vec![
        planned("a.sql#1", plan(100.0)),
        query("a.sql#2", None, Some("relation \"gone\" does not exist")),
        query("a.sql#3", None, Some("syntax error at or near \"selct\"")),
    ]);
    let now = baseline(vec![
        query("a.sql#1", None, Some("column \"price\" does not exist")),
        planned("a.sql#2", plan(100.0)),
        query("a.sql#3", None, Some("syntax error at or near \"selct\"")),
    ]);
    let report = check(&before, &now);
    assert_eq!(report.queries[0].status, QueryStatus::Regressed);
    assert_eq!(
        messages(&report.queries[0].regressions),
        [(
            ChangeKind::NewlyFailing,
            "query now fails: \"column \"price\" does not exist\""
        )]
    );
    assert_eq!(report.queries[0].current_cost, None);
    assert_eq!(report.queries[1].status, QueryStatus::Improved);
    assert_eq!(
        messages(&report.queries[1].improvements),
        [(
            ChangeKind::NowSucceeds,
            "query now succeeds (baseline failed: \"relation \"gone\" does not exist\")"
        )]
    );
    assert_eq!(report.queries[2].status, QueryStatus::Unchanged);
}

fn finding(rule: &str, severity: Severity, relation: &str) -> FindingRecord {
    FindingRecord {
        rule: rule.parse().unwrap(),
        severity,
        relation: Some(relation.to_string()),
        summary: format!("{rule} summary"),
    }
}

fn analysed(mut baseline: Baseline) -> Baseline {
    baseline.analyze = Some(AnalyzeRuns { runs: 3 });
    baseline
}

#[test]
fn new_findings_at_and_below_the_severity_threshold() {
    let mut before_plan = plan(100.0);
    before_plan.findings = vec![finding("misestimate", Severity::Warning, "public.u")];
    let mut at_threshold = plan(100.0);
    at_threshold.findings = vec![
        finding("misestimate", Severity::Critical, "public.u"),
        finding("seq-scan", Severity::Warning, "public.t"),
    ];
    let mut below_threshold = plan(100.0);
    below_threshold.findings = vec![
        finding("misestimate", Severity::Warning, "public.u"),
        finding("seq-scan", Severity::Notice, "public.t"),
    ];

    let before = analysed(baseline(vec![
        planned("a.sql#1", before_plan.clone()),
        planned("a.sql#2", before_plan.clone()),
        planned("a.sql#3", before_plan),
    ]));
    let now = analysed(baseline(vec![
        planned("a.sql#1", at_threshold),
        planned("a.sql#2", below_threshold),
        planned("a.sql#3", plan(100.0)),
    ]));
    let report = check(&before, &now);

    // Same rule on the same relation with another severity is not new.
    let at = &report.queries[0];
    assert_eq!(at.status, QueryStatus::Regressed);
    assert_eq!(
        messages(&at.regressions),
        [(
            ChangeKind::NewFinding,
            "new finding seq-scan on public.t (warning): seq-scan summary"
        )]
    );
    let below = &report.queries[1];
    assert_eq!(below.status, QueryStatus::Unchanged);
    assert_eq!(
        below.notes,
        ["new finding seq-scan on public.t (notice): seq-scan summary"]
    );
    let resolved = &report.queries[2];
    assert_eq!(resolved.status, QueryStatus::Improved);
    assert_eq!(
        messages(&resolved.improvements),
        [(
            ChangeKind::FindingResolved,
            "finding misestimate on public.u resolved (warning)"
        )]
    );
}

#[test]
fn findings_are_not_compared_between_analysed_and_estimated_runs() {
    let mut now_plan = plan(100.0);
    now_plan.findings = vec![finding("seq-scan", Severity::Critical, "public.t")];
    let before = baseline(vec![planned("a.sql#1", plan(100.0))]);
    let now = analysed(baseline(vec![planned("a.sql#1", now_plan)]));
    assert_eq!(
        check(&before, &now).queries[0].status,
        QueryStatus::Unchanged
    );
}

#[test]
fn summary_counts_every_status() {
    let before = baseline(vec![
        planned("a.sql#1", plan(100.0)),
        planned("a.sql#2", plan(100.0)),
        planned("a.sql#3", plan(100.0)),
        planned("a.sql#4", plan(100.0)),
        planned("a.sql#5", plan(100.0)),
        planned("ignored.sql#1", plan(100.0)),
    ]);
    let now = baseline(vec![
        planned("a.sql#1", plan(100.0)),
        planned("a.sql#2", plan(500.0)),
        planned("a.sql#3", plan(10.0)),
        planned("a.sql#4", plan(101.0)),
        planned("b.sql#1", plan(100.0)),
        planned("ignored.sql#1", plan(500.0)),
    ]);
    let config = CheckConfig {
        ignore: vec!["ignored.sql".to_string()],
        ..CheckConfig::default()
    };
    let report = compare(&before, &now, &large_tables(), &config);
    assert_eq!(
        report.summary,
        CheckSummary {
            total: 7,
            regressed: 1,
            improved: 1,
            unchanged: 2,
            new: 1,
            missing: 1,
            ignored: 1,
        }
    );
    assert!(report.has_regressions());
    assert_eq!(report.schema_version, CHECK_SCHEMA_VERSION);
    assert_eq!(report.pgdiag_version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn identical_baselines_are_unchanged_and_report_round_trips_as_json() {
    let (with_index, _) = index_plan_and_seq_scan_plan();
    let both = baseline(vec![planned("q.sql#1", with_index)]);
    let report = check(&both, &both);
    assert_eq!(report.queries[0].status, QueryStatus::Unchanged);
    assert!(report.queries[0].notes.is_empty());
    let json = serde_json::to_string(&report).unwrap();
    let back: CheckReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

// --- data growth -----------------------------------------------------------------------------

/// `baseline` with table sizes: `(relation, rows)`, pages at one per hundred rows.
fn sized(mut baseline: Baseline, sizes: &[(&str, Option<u64>)]) -> Baseline {
    baseline.relations = sizes
        .iter()
        .map(|(relation, rows)| {
            let pages = rows.map_or(0, |rows| rows / 100);
            (relation.to_string(), RelationSize { rows: *rows, pages })
        })
        .collect();
    baseline
}

/// One query, `plan(cost)` before and after, with t and u at the given row counts.
fn grown(
    cost_before: f64,
    t_before: u64,
    cost_now: f64,
    t_now: u64,
    config: &CheckConfig,
) -> CheckReport {
    let before = sized(
        baseline(vec![planned("q.sql#1", plan(cost_before))]),
        &[("public.t", Some(t_before)), ("public.u", Some(5_000))],
    );
    let now = sized(
        baseline(vec![planned("q.sql#1", plan(cost_now))]),
        &[("public.t", Some(t_now)), ("public.u", Some(5_000))],
    );
    compare(&before, &now, &large_tables(), config)
}

#[test]
fn cost_growing_with_the_data_is_advisory_and_passes() {
    let report = grown(1000.0, 300_000, 1950.0, 600_000, &CheckConfig::default());
    let result = &report.queries[0];
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert!(result.regressions.is_empty(), "{result:?}");
    assert_eq!(
        messages(&result.advisories),
        [(
            ChangeKind::CostGrowthWithData,
            "cost +95% from 1000.00 to 1950.00, in line with data growth: public.t 300,000 → 600,000 rows (×2.0)"
        )]
    );
    assert!(!report.has_regressions());
    assert!(report.notes.is_empty());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["queries"][0]["advisories"][0]["kind"],
        "cost_growth_with_data"
    );
}

#[test]
fn data_growth_fails_when_configured_to() {
    let config = CheckConfig {
        data_growth: DataGrowth::Fail,
        ..CheckConfig::default()
    };
    let report = grown(1000.0, 300_000, 1950.0, 600_000, &config);
    let result = &report.queries[0];
    assert_eq!(result.status, QueryStatus::Regressed);
    assert!(result.advisories.is_empty());
    assert_eq!(
        messages(&result.regressions),
        [(
            ChangeKind::CostGrowthWithData,
            "cost +95% from 1000.00 to 1950.00 (threshold +10%), in line with data growth: public.t 300,000 → 600,000 rows (×2.0)"
        )]
    );
}

#[test]
fn cost_jump_beyond_the_data_growth_stays_a_regression() {
    // Same data, half again the cost: a change of code (or of statistics), not of data.
    let report = grown(1000.0, 300_000, 1500.0, 300_000, &CheckConfig::default());
    let result = &report.queries[0];
    assert_eq!(result.status, QueryStatus::Regressed);
    assert!(result.advisories.is_empty());
    assert_eq!(
        messages(&result.regressions),
        [(
            ChangeKind::CostIncrease,
            "cost +50% from 1000.00 to 1500.00 (threshold +10%), more than data growth explains: rows grew ×1.0 at most (public.t 300,000 → 300,000 rows)"
        )]
    );

    // Ten times the cost for twice the rows.
    let report = grown(1000.0, 300_000, 10_000.0, 600_000, &CheckConfig::default());
    assert_eq!(
        messages(&report.queries[0].regressions),
        [(
            ChangeKind::CostIncrease,
            "cost +900% from 1000.00 to 10000.00 (threshold +10%), more than data growth explains: rows grew ×2.0 at most (public.t 300,000 → 600,000 rows)"
        )]
    );

    // The per-query threshold widens the allowance as it widens the cost threshold.
    let mut config = CheckConfig::default();
    config.queries.insert(
        "q.sql#1".to_string(),
        QueryOverride {
            cost_increase_pct: Some(60.0),
            ..QueryOverride::default()
        },
    );
    let report = grown(1000.0, 300_000, 3000.0, 600_000, &config);
    assert_eq!(report.queries[0].status, QueryStatus::Unchanged);
    assert_eq!(report.queries[0].advisories.len(), 1);
}

#[test]
fn cost_growth_without_known_sizes_is_a_regression_as_before() {
    // Sizes recorded, but t was never analysed on either side and has no pages: unknown.
    let before = sized(
        baseline(vec![planned("q.sql#1", plan(1000.0))]),
        &[("public.t", None)],
    );
    let now = sized(
        baseline(vec![planned("q.sql#1", plan(1950.0))]),
        &[("public.t", None)],
    );
    let report = check(&before, &now);
    assert_eq!(
        messages(&report.queries[0].regressions),
        [(
            ChangeKind::CostIncrease,
            "cost +95% from 1000.00 to 1950.00 (threshold +10%)"
        )]
    );
    assert!(report.notes.is_empty());
}

#[test]
fn a_version_1_baseline_has_no_sizes_and_says_so_once() {
    let mut before = baseline(vec![
        planned("a.sql#1", plan(1000.0)),
        planned("b.sql#1", plan(1000.0)),
    ]);
    before.schema_version = 1;
    for query in &mut before.queries {
        query.plan.as_mut().unwrap().relations.clear();
    }
    let now = sized(
        baseline(vec![
            planned("a.sql#1", plan(1950.0)),
            planned("b.sql#1", plan(1950.0)),
        ]),
        &[("public.t", Some(600_000)), ("public.u", Some(5_000))],
    );
    let report = check(&before, &now);
    assert_eq!(report.notes, [NO_SIZES_NOTE]);
    assert!(NO_SIZES_NOTE.contains("check --update"));
    for result in &report.queries {
        assert_eq!(result.status, QueryStatus::Regressed);
        assert_eq!(result.regressions[0].kind, ChangeKind::CostIncrease);
        assert!(result.notes.is_empty());
    }
}

#[test]
fn growth_is_not_judged_across_a_shape_change_or_an_environment_change() {
    let sizes_before = [("public.t", Some(300_000)), ("public.u", Some(5_000))];
    let sizes_now = [("public.t", Some(600_000)), ("public.u", Some(5_000))];
    let mut changed = plan(1950.0);
    changed.shape[0] = "Merge Join (Inner)".to_string();
    let before = sized(
        baseline(vec![planned("q.sql#1", plan(1000.0))]),
        &sizes_before,
    );
    let now = sized(baseline(vec![planned("q.sql#1", changed)]), &sizes_now);
    let result = &check(&before, &now).queries[0];
    assert_eq!(
        messages(&result.regressions),
        [
            (
                ChangeKind::ShapeChanged,
                "plan shape changed (1 line differs)"
            ),
            (
                ChangeKind::CostIncrease,
                "cost +95% from 1000.00 to 1950.00 (threshold +10%)"
            ),
        ]
    );
    assert!(result.advisories.is_empty());

    let mut now = sized(baseline(vec![planned("q.sql#1", plan(1950.0))]), &sizes_now);
    now.settings
        .insert("work_mem".to_string(), "64MB".to_string());
    let result = &check(&before, &now).queries[0];
    assert_eq!(result.status, QueryStatus::Unchanged);
    assert!(result.advisories.is_empty());
    assert_eq!(
        result.notes,
        ["cost +95% from 1000.00 to 1950.00 (advisory: planner settings differ)"]
    );
}

#[test]
fn data_shrinking_with_the_cost_is_an_improvement() {
    let report = grown(1000.0, 600_000, 520.0, 300_000, &CheckConfig::default());
    let result = &report.queries[0];
    assert_eq!(result.status, QueryStatus::Improved);
    assert_eq!(
        messages(&result.improvements),
        [(ChangeKind::CostDecrease, "cost -48% from 1000.00 to 520.00")]
    );
    assert!(result.advisories.is_empty());
}

#[test]
fn the_current_plan_is_kept_for_a_changed_query_only() {
    let (with_index, with_seq_scan) = index_plan_and_seq_scan_plan();
    let mut report = check(
        &baseline(vec![
            planned("a.sql#1", with_index.clone()),
            planned("b.sql#1", with_index.clone()),
        ]),
        &baseline(vec![
            planned("a.sql#1", with_seq_scan),
            planned("b.sql#1", with_index),
        ]),
    );
    let plan = crate::plan::PlanNodes::of(&explain("nested_loop_many_loops.json"));
    let plans = BTreeMap::from([
        ("a.sql#1".to_string(), plan.clone()),
        ("b.sql#1".to_string(), plan.clone()),
    ]);
    report.keep_current_plans(&plans);
    assert_eq!(report.queries[0].status, QueryStatus::Regressed);
    assert_eq!(report.queries[0].current_plan.as_ref(), Some(&plan));
    assert_eq!(report.queries[1].status, QueryStatus::Unchanged);
    assert_eq!(report.queries[1].current_plan, None);
    // Serialized only where kept.
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["queries"][0]["current_plan"]["nodes"].is_array());
    assert!(json["queries"][1].get("current_plan").is_none());
}
