//! Telling a change from noise in what `--analyze` measures: findings (whose existence and severity
//! follow shares of a measured time) and execution times. Pure; the recorder fills
//! [`RunEvidence`] from every run of the current recording, and [`super::compare()`] asks the two
//! judgements here.
//!
//! Findings get hysteresis: each run is diagnosed at the normal thresholds, at *strict* ones
//! ([`crate::diagnose::Thresholds::scaled`] by `1 + finding_margin`) and at *loose* ones (by
//! `1 / (1 + finding_margin)`). A finding absent from the baseline is new only when every run sees
//! it at the strict thresholds, at a severity that fails the gate; one in the baseline is resolved
//! only when no run sees it even at the loose thresholds. A finding hovering around a threshold
//! therefore neither appears nor disappears.
//!
//! Timings are compared as two distributions: a significant increase needs the ranges not to
//! overlap, the median to grow beyond a percentage, a noise floor and both ranges' widths.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnose::{RuleId, Severity};
use crate::units::fmt_ms;

use super::compare::Outcome;
use super::{Change, ChangeKind, CheckConfig, FindingRecord, PlanRecord, Timing, TimingVerdict};

/// Fewer runs than this on either side and timings are not judged.
pub const MIN_TIMING_RUNS: u32 = 3;

/// What every run of the current recording saw, by query id; kept in memory for the comparison,
/// never written to the baseline file (the file keeps the median run).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunEvidence {
    pub queries: BTreeMap<String, QueryRuns>,
}

/// One query's `--analyze` runs, diagnosed at three sets of thresholds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryRuns {
    pub runs: u32,
    /// Every finding key any run saw at any of the three thresholds.
    pub findings: Vec<FindingRuns>,
}

/// How many runs saw one finding (rule and relation), at each set of thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingRuns {
    pub rule: RuleId,
    pub relation: Option<String>,
    /// The summary of one run that saw it (the first at normal thresholds, else at loose ones).
    pub summary: String,
    /// Runs that saw it at the normal thresholds, and its highest severity among them.
    pub seen: u32,
    pub severity: Option<Severity>,
    /// Runs that saw it at the strict thresholds, and its lowest strict severity when every run
    /// did (None otherwise).
    pub seen_strict: u32,
    pub strict_min_severity: Option<Severity>,
    /// Runs that saw it at the loose thresholds.
    pub seen_loose: u32,
}

impl QueryRuns {
    /// Add one run's findings at the normal, strict and loose thresholds.
    pub fn add_run(
        &mut self,
        normal: &[FindingRecord],
        strict: &[FindingRecord],
        loose: &[FindingRecord],
    ) {
        let run = self.runs;
        self.runs += 1;
        for (level, findings) in [(0, normal), (1, strict), (2, loose)] {
            // One count per run and key, whatever number of nodes a rule flags on a relation.
            let mut counted: BTreeMap<(RuleId, Option<String>), Severity> = BTreeMap::new();
            for finding in findings {
                let severity = counted
                    .entry((finding.rule, finding.relation.clone()))
                    .or_insert(finding.severity);
                *severity = (*severity).max(finding.severity);
            }
            for ((rule, relation), severity) in counted {
                let index = match self
                    .findings
                    .iter()
                    .position(|f| f.rule == rule && f.relation == relation)
                {
                    Some(index) => index,
                    None => {
                        let summary = findings
                            .iter()
                            .find(|f| f.rule == rule && f.relation == relation)
                            .map(|f| f.summary.clone())
                            .unwrap_or_default();
                        self.findings.push(FindingRuns {
                            rule,
                            relation,
                            summary,
                            seen: 0,
                            severity: None,
                            seen_strict: 0,
                            strict_min_severity: None,
                            seen_loose: 0,
                        });
                        self.findings.len() - 1
                    }
                };
                let entry = &mut self.findings[index];
                match level {
                    0 => {
                        if entry.seen == 0 {
                            // The summary a reader sees is one of the normal thresholds.
                            if let Some(f) = findings
                                .iter()
                                .find(|f| f.rule == entry.rule && f.relation == entry.relation)
                            {
                                entry.summary = f.summary.clone();
                            }
                        }
                        entry.seen += 1;
                        entry.severity = Some(entry.severity.map_or(severity, |s| s.max(severity)));
                    }
                    1 => {
                        // Every run so far saw it strictly, this one too: keep the lowest tier.
                        entry.strict_min_severity = if entry.seen_strict == run {
                            Some(
                                entry
                                    .strict_min_severity
                                    .map_or(severity, |s| s.min(severity)),
                            )
                        } else {
                            None
                        };
                        entry.seen_strict += 1;
                    }
                    _ => entry.seen_loose += 1,
                }
            }
        }
        // A key this run missed strictly can no longer be strict in every run.
        for entry in &mut self.findings {
            if entry.seen_strict < self.runs {
                entry.strict_min_severity = None;
            }
        }
    }

    fn get(&self, rule: RuleId, relation: &Option<String>) -> Option<&FindingRuns> {
        self.findings
            .iter()
            .find(|f| f.rule == rule && &f.relation == relation)
    }
}

type FindingKey = (RuleId, Option<String>);

fn key(finding: &FindingRecord) -> FindingKey {
    (finding.rule, finding.relation.clone())
}

/// New and resolved findings. Without `runs` (a recording whose runs were not kept), the median
/// runs' findings are compared as they are.
pub(super) fn compare_findings(
    before: &PlanRecord,
    now: &PlanRecord,
    runs: Option<&QueryRuns>,
    config: &CheckConfig,
    fail_on_finding: Severity,
    outcome: &mut Outcome,
) {
    let before_keys: BTreeSet<FindingKey> = before.findings.iter().map(key).collect();
    let mut reported = BTreeSet::new();

    // Candidates for "new": the median run's findings, then what other runs saw.
    let mut candidates: Vec<(FindingKey, String, Option<Severity>)> = now
        .findings
        .iter()
        .map(|f| (key(f), f.summary.clone(), Some(f.severity)))
        .collect();
    if let Some(runs) = runs {
        candidates.extend(
            runs.findings
                .iter()
                .filter(|f| f.seen > 0)
                .map(|f| ((f.rule, f.relation.clone()), f.summary.clone(), f.severity)),
        );
    }
    for ((rule, relation), summary, median_severity) in candidates {
        let finding_key = (rule, relation.clone());
        if before_keys.contains(&finding_key) || !reported.insert(finding_key) {
            continue;
        }
        let on = on_relation(relation.as_deref());
        let Some(runs) = runs else {
            let severity = median_severity.unwrap_or(Severity::Info);
            let message = format!("new finding {rule}{on} ({}): {summary}", severity.as_str());
            if severity >= fail_on_finding {
                outcome.regressions.push(new_finding(message, severity));
            } else {
                outcome.notes.push(message);
            }
            continue;
        };
        let seen = runs.get(rule, &relation);
        let strict = seen.and_then(|f| f.strict_min_severity);
        let severity = median_severity
            .or(seen.and_then(|f| f.severity))
            .unwrap_or(Severity::Info);
        let message = format!("new finding {rule}{on} ({}): {summary}", severity.as_str());
        match strict {
            Some(strict) if strict >= fail_on_finding => {
                outcome.regressions.push(new_finding(message, severity));
            }
            _ if severity < fail_on_finding => outcome.notes.push(message),
            _ => {
                let seen_in = seen.map_or(0, |f| f.seen);
                let margin = margin_text(config.finding_margin);
                let why = if seen_in < runs.runs {
                    format!(
                        "seen in {seen_in} of {} runs, within the noise margin ({margin})",
                        runs.runs
                    )
                } else if let Some(strict) = strict {
                    format!(
                        "only a {} in some run at thresholds {}% stricter",
                        strict.as_str(),
                        trim(config.finding_margin * 100.0)
                    )
                } else {
                    format!(
                        "seen in every run, but not clear of its threshold by the noise margin ({margin}) in every run"
                    )
                };
                outcome.notes.push(format!(
                    "new finding {rule}{on} ({}) {why}: not counted",
                    severity.as_str()
                ));
            }
        }
    }

    let now_keys: BTreeSet<FindingKey> = now.findings.iter().map(key).collect();
    let mut resolved = BTreeSet::new();
    for finding in &before.findings {
        let finding_key = key(finding);
        if now_keys.contains(&finding_key) || !resolved.insert(finding_key) {
            continue;
        }
        let on = on_relation(finding.relation.as_deref());
        if let Some(runs) = runs
            && let Some(seen) = runs.get(finding.rule, &finding.relation)
            && (seen.seen > 0 || seen.seen_loose > 0)
        {
            outcome.notes.push(format!(
                "finding {}{on} still seen in {} of {} runs within the noise margin ({}): not counted as resolved",
                finding.rule,
                seen.seen.max(seen.seen_loose),
                runs.runs,
                margin_text(config.finding_margin)
            ));
            continue;
        }
        outcome.improvements.push(
            Change::new(
                ChangeKind::FindingResolved,
                format!(
                    "finding {}{on} resolved ({})",
                    finding.rule,
                    finding.severity.as_str()
                ),
            )
            .values(finding.severity.as_str(), "absent"),
        );
    }
}

fn new_finding(message: String, severity: Severity) -> Change {
    Change::new(ChangeKind::NewFinding, message).values("absent", severity.as_str())
}

fn margin_text(margin: f64) -> String {
    format!("±{}%", trim(margin * 100.0))
}

fn on_relation(relation: Option<&str>) -> String {
    relation
        .map(|relation| format!(" on {relation}"))
        .unwrap_or_default()
}

/// `12.1 ms (11.8–12.6, 5 runs)`.
pub fn timing_text(timing: &Timing) -> String {
    format!(
        "{} ms ({}–{}, {} {})",
        fmt_ms(timing.median_ms),
        fmt_ms(timing.min_ms),
        fmt_ms(timing.max_ms),
        timing.runs,
        if timing.runs == 1 { "run" } else { "runs" }
    )
}

/// A significant execution-time increase becomes an advisory (or a regression with
/// `[check] timing = "fail"`); too few runs to judge, a note.
pub(super) fn compare_timing(
    before: Option<&Timing>,
    now: Option<&Timing>,
    config: &CheckConfig,
    outcome: &mut Outcome,
) {
    let (Some(before), Some(now)) = (before, now) else {
        return;
    };
    if before.runs < MIN_TIMING_RUNS || now.runs < MIN_TIMING_RUNS {
        outcome.notes.push(format!(
            "too few runs to judge timing (need ≥ {MIN_TIMING_RUNS}; baseline {}, now {})",
            before.runs, now.runs
        ));
        return;
    }
    if !significant_increase(before, now, config) {
        return;
    }
    let change = Change {
        baseline_timing: Some(before.clone()),
        current_timing: Some(now.clone()),
        ..Change::new(
            ChangeKind::TimingIncrease,
            format!(
                "time {} → {}, +{}%",
                timing_text(before),
                timing_text(now),
                trim(
                    (now.median_ms - before.median_ms) / before.median_ms.max(f64::MIN_POSITIVE)
                        * 100.0
                )
            ),
        )
        .values(
            format!("{} ms", fmt_ms(before.median_ms)),
            format!("{} ms", fmt_ms(now.median_ms)),
        )
    };
    match config.timing {
        TimingVerdict::Advisory => outcome.advisories.push(change),
        TimingVerdict::Fail => outcome.regressions.push(change),
    }
}

/// Every condition at once: the ranges do not overlap, and the median grew by more than the
/// percentage, the noise floor, and each side's range width.
pub fn significant_increase(before: &Timing, now: &Timing, config: &CheckConfig) -> bool {
    let growth = now.median_ms - before.median_ms;
    now.min_ms > before.max_ms
        && growth > before.median_ms * config.timing_increase_pct / 100.0
        && growth > config.timing_noise_floor_ms
        && growth > before.max_ms - before.min_ms
        && growth > now.max_ms - now.min_ms
}

/// One decimal, without a trailing `.0`.
fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
#[path = "noise_tests.rs"]
mod tests;
