//! What holds across the rules: the registry, the ranking of findings, severity tiers, disabling
//! rules, and estimated-only plans. Each rule's own tests (firing and near-miss fixtures, with a
//! snapshot of its findings) live beside it, in its file.

use std::collections::BTreeSet;

use super::test_support::*;
use super::*;

#[test]
fn every_rule_has_a_unique_kebab_case_id_and_a_doc_page() {
    let ids: Vec<String> = rules().iter().map(|r| r.id().to_string()).collect();
    assert_eq!(ids.len(), 15, "{ids:?}");
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate rule id in {ids:?}");
    for id in &ids {
        assert!(
            !id.is_empty()
                && id
                    .split('-')
                    .all(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase())),
            "{id} is not kebab-case"
        );
        let page = format!("{}/docs/rules/{id}.md", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&page).is_file(), "no doc page {page}");
    }
}

#[test]
fn estimated_plans_give_no_findings() {
    let d = diagnose_fixture("estimated_only.json").diagnosis;
    assert!(d.findings.is_empty());
    // Nor checks: no rule looked at a plan without actual figures.
    assert!(d.checks.is_empty(), "{:?}", d.checks);
}

#[test]
fn findings_are_sorted_by_time_at_stake() {
    for name in [
        "sort_external.json",
        "jit.json",
        "hash_join_batches.json",
        "misestimate_nested_loop.json",
    ] {
        let d = diagnose_fixture(name).diagnosis;
        // Two findings at least, or the order below would hold by default.
        assert!(d.findings.len() >= 2, "{name}: {:?}", d.findings);
        assert!(
            d.findings
                .windows(2)
                .all(|w| w[0].time_at_stake_ms >= w[1].time_at_stake_ms)
        );
    }
    // The ranking is not the order the rules run in: seq-scan runs before heavy-aggregate, and
    // jit-overhead last. (The JIT compile time is out of the Seq Scan's and the aggregate's times.)
    let d = diagnose_fixture("jit.json").diagnosis;
    assert_eq!(
        rules_fired(&d),
        ["jit-overhead", "heavy-aggregate", "seq-scan"]
    );
}

#[test]
fn severity_tiers() {
    assert_eq!(Severity::for_share(0.05), Severity::Info);
    assert_eq!(Severity::for_share(0.2), Severity::Notice);
    assert_eq!(Severity::for_share(0.5), Severity::Warning);
    assert_eq!(Severity::for_share(0.95), Severity::Critical);
}

#[test]
fn severity_is_the_lower_of_the_share_and_the_absolute_time_tiers() {
    let t = Thresholds::default();
    // One node is 95% of a 6.7 ms query: a notice (under 10 ms at stake), not critical.
    assert_eq!(Severity::for_stake(0.95, 6.4, &t), Severity::Notice);
    assert_eq!(Severity::for_stake(0.95, 0.5, &t), Severity::Info);
    assert_eq!(Severity::for_stake(0.95, 10.0, &t), Severity::Warning);
    assert_eq!(Severity::for_stake(0.95, 100.0, &t), Severity::Critical);
    // A long query: the share decides.
    assert_eq!(Severity::for_stake(0.05, 500.0, &t), Severity::Info);
    assert_eq!(Severity::for_stake(0.2, 500.0, &t), Severity::Notice);
    assert_eq!(Severity::for_stake(0.5, 500.0, &t), Severity::Warning);
    // Tiers at zero give the share tiers alone.
    let share_only = Thresholds {
        severity_notice_min_ms: 0.0,
        severity_warning_min_ms: 0.0,
        severity_critical_min_ms: 0.0,
        ..Thresholds::default()
    };
    assert_eq!(
        Severity::for_stake(0.95, 0.01, &share_only),
        Severity::Critical
    );
}

#[test]
fn every_finding_takes_its_severity_from_the_one_function() {
    // Stricter absolute tiers lower every finding of a fixture; none keeps a tier of its own.
    let strict = Thresholds {
        severity_notice_min_ms: 1e9,
        severity_warning_min_ms: 1e9,
        severity_critical_min_ms: 1e9,
        ..Thresholds::default()
    };
    for fixture in [
        "jit.json",
        "nested_loop_many_loops.json",
        "misestimate_hash_spill.json",
        "planning_partitions.json",
        "sort_external.json",
    ] {
        let d = diagnose_fixture_with(fixture, &strict).diagnosis;
        assert!(!d.findings.is_empty(), "{fixture}");
        for f in &d.findings {
            assert_eq!(f.severity, Severity::Info, "{fixture}: {f:?}");
        }
    }
}

#[test]
fn disabled_rules_neither_fire_nor_list_checks() {
    let Diagnosed {
        explain, analysis, ..
    } = diagnose_fixture("jit.json");
    // As `[diagnose]` in pgdiag.toml spells it.
    let config: DiagnoseConfig =
        serde_json::from_str(r#"{"disabled_rules": ["seq-scan", "misestimate"]}"#).unwrap();
    let d = diagnose_with(&explain, &analysis, &config);
    assert_eq!(rules_fired(&d), ["jit-overhead", "heavy-aggregate"]);
    assert!(checks(&d, "misestimate").is_empty(), "{:?}", d.checks);
    // The other rules still list what they let go.
    assert!(!checks(&d, "planning-time").is_empty(), "{:?}", d.checks);
}

#[test]
fn scaled_thresholds_are_harder_above_one_and_easier_below() {
    let base = Thresholds::default();
    let strict = base.scaled(1.5);
    assert_eq!(strict.min_share, base.min_share * 1.5);
    assert_eq!(strict.severity_warning_min_ms, 15.0);
    assert_eq!(strict.severity_warning_min_share, 0.4 * 1.5);
    assert_eq!(strict.seq_scan_min_rows, 15_000.0);
    // The one maximum gets smaller: a join must keep fewer of its rows to be flagged.
    assert!(strict.join_max_kept_share < base.join_max_kept_share);
    // Shares stay shares.
    assert_eq!(strict.severity_critical_min_share, 1.0);
    assert_eq!(base.scaled(3.0).seq_scan_min_removed_share, 1.0);

    let loose = base.scaled(1.0 / 1.5);
    assert!(loose.min_share < base.min_share);
    assert!(loose.severity_warning_min_ms < base.severity_warning_min_ms);
    assert!(loose.join_max_kept_share > base.join_max_kept_share);
    // A factor of at least 1 stays at least 1.
    assert_eq!(base.scaled(0.01).misestimate_min_factor, 1.0);
    // 1 changes nothing; nonsense factors change nothing.
    assert_eq!(base.scaled(1.0), base);
    assert_eq!(base.scaled(f64::NAN), base);
    assert_eq!(base.scaled(-2.0), base);
}

#[test]
fn share_tiers_follow_the_thresholds() {
    let strict = Thresholds::default().scaled(1.5);
    // 50% of the time is a warning at the default tiers (> 40%), a notice at the strict ones (> 60%).
    assert_eq!(Severity::for_share(0.5), Severity::Warning);
    assert_eq!(Severity::for_share_with(0.5, &strict), Severity::Notice);
    assert_eq!(Severity::for_stake(0.5, 500.0, &strict), Severity::Notice);
}
