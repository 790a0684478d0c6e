//! What the rules' tests share: a committed real plan (`fixtures/plans/`) parsed, analysed and
//! diagnosed, and lookups of one rule's findings, checks and evidence in the result. Reading a
//! fixture is the only I/O; no server is involved.

use super::{
    Check, DiagnoseConfig, Diagnosis, Evidence, Finding, SchemaFacts, Thresholds, diagnose,
    diagnose_with,
};
use crate::plan::{Analysis, Explain, analyze, parse_explain};

/// A fixture plan with its figures and its diagnosis.
#[derive(Debug)]
pub struct Diagnosed {
    pub explain: Explain,
    pub analysis: Analysis,
    pub diagnosis: Diagnosis,
}

/// Diagnose `fixtures/plans/<name>` with the default thresholds.
pub fn diagnose_fixture(name: &str) -> Diagnosed {
    diagnose_fixture_with(name, &Thresholds::default())
}

/// Diagnose `fixtures/plans/<name>` with `thresholds`.
pub fn diagnose_fixture_with(name: &str, thresholds: &Thresholds) -> Diagnosed {
    diagnose_fixture_edited(name, thresholds, |text| text)
}

/// Diagnose `fixtures/plans/<name>` after `edit` rewrote its text: a real plan with, say, a
/// hostile relation name put in.
pub fn diagnose_fixture_edited(
    name: &str,
    thresholds: &Thresholds,
    edit: impl FnOnce(String) -> String,
) -> Diagnosed {
    let path = format!("{}/fixtures/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let explain = parse_explain(&edit(text))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .remove(0);
    let analysis = analyze(&explain);
    let diagnosis = diagnose(&explain, &analysis, thresholds);
    Diagnosed {
        explain,
        analysis,
        diagnosis,
    }
}

/// Diagnose `fixtures/plans/<name>` with `thresholds` and what the catalog would have said of its
/// tables.
pub fn diagnose_fixture_with_facts(
    name: &str,
    thresholds: &Thresholds,
    facts: SchemaFacts,
) -> Diagnosed {
    let Diagnosed {
        explain, analysis, ..
    } = diagnose_fixture_with(name, thresholds);
    let config = DiagnoseConfig {
        thresholds: thresholds.clone(),
        facts,
        ..DiagnoseConfig::default()
    };
    let diagnosis = diagnose_with(&explain, &analysis, &config);
    Diagnosed {
        explain,
        analysis,
        diagnosis,
    }
}

/// A foreign key as the catalog reads it: `table (columns) → referenced (referenced_columns)`,
/// both in `public`.
pub fn foreign_key(
    name: &str,
    table: &str,
    columns: &[&str],
    referenced: &str,
    referenced_columns: &[&str],
) -> crate::pg::catalog::ForeignKey {
    let relation = |name: &str| crate::pg::catalog::RelationName {
        schema: "public".into(),
        name: name.into(),
    };
    crate::pg::catalog::ForeignKey {
        name: name.into(),
        table: relation(table),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        referenced: relation(referenced),
        referenced_columns: referenced_columns.iter().map(|c| c.to_string()).collect(),
    }
}

/// The findings of `rule`, in ranking order.
pub fn findings<'a>(d: &'a Diagnosis, rule: &str) -> Vec<&'a Finding> {
    d.findings.iter().filter(|f| f.rule == rule).collect()
}

/// The nodes `rule` examined and let go.
pub fn checks<'a>(d: &'a Diagnosis, rule: &str) -> Vec<&'a Check> {
    d.checks.iter().filter(|c| c.rule == rule).collect()
}

/// The rules that fired, in ranking order.
pub fn rules_fired(d: &Diagnosis) -> Vec<&str> {
    d.findings.iter().map(|f| f.rule.as_str()).collect()
}

/// The first finding of `rule`; fails the test when it did not fire.
pub fn finding<'a>(d: &'a Diagnosis, rule: &str) -> &'a Finding {
    d.findings
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} finding in {:?}", d.findings))
}

/// The first check of `rule`, after asserting the rule stayed quiet.
pub fn check<'a>(d: &'a Diagnosis, rule: &str) -> &'a Check {
    assert_quiet(d, rule);
    d.checks
        .iter()
        .find(|c| c.rule == rule)
        .unwrap_or_else(|| panic!("no {rule} check in {:?}", d.checks))
}

/// Fails the test when `rule` produced a finding.
pub fn assert_quiet(d: &Diagnosis, rule: &str) {
    assert!(
        findings(d, rule).is_empty(),
        "{rule} fired: {:?}",
        d.findings
    );
}

/// The value of the evidence labelled `label`; fails the test when there is none.
pub fn evidence_value<'a>(f: &'a Finding, label: &str) -> &'a str {
    f.evidence
        .iter()
        .find(|e| e.label == label)
        .map(|e: &Evidence| e.value.as_str())
        .unwrap_or_else(|| panic!("no evidence {label:?} in {:?}", f.evidence))
}

pub fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}
