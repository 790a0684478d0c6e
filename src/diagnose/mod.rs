//! Diagnosis: pure rules over an analysed plan. Each rule lives in its own file, has a kebab-case
//! id and a doc page (`docs/rules/<id>.md`), and turns plan nodes into [`Finding`]s backed by the
//! plan's own numbers, ranked by the time fixing them could save. Nodes a rule looked at and let go
//! become [`Check`]s with the reason, for verbose output.

mod correlated_subplan;
mod disk_spill;
mod heap_fetches;
mod heavy_aggregate;
mod index_filter_waste;
mod jit_overhead;
mod join_full_scan;
mod lossy_bitmap;
mod misestimate;
mod nested_loop_amplification;
mod planning_time;
mod rule_id;
mod seq_scan;
mod unindexed_foreign_key;
mod unindexed_sort;
mod workers_not_launched;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use rule_id::UnknownRule;

// The one list of rules: variant, kebab-case id (JSON, config, doc page), implementation.
rule_id::rule_ids! {
    SeqScan => "seq-scan", seq_scan::SeqScan;
    UnindexedSort => "unindexed-sort", unindexed_sort::UnindexedSort;
    HeavyAggregate => "heavy-aggregate", heavy_aggregate::HeavyAggregate;
    Misestimate => "misestimate", misestimate::Misestimate;
    DiskSpill => "disk-spill", disk_spill::DiskSpill;
    NestedLoopAmplification => "nested-loop-amplification",
        nested_loop_amplification::NestedLoopAmplification;
    IndexFilterWaste => "index-filter-waste", index_filter_waste::IndexFilterWaste;
    HeapFetches => "heap-fetches", heap_fetches::HeapFetches;
    LossyBitmap => "lossy-bitmap", lossy_bitmap::LossyBitmap;
    JitOverhead => "jit-overhead", jit_overhead::JitOverhead;
    WorkersNotLaunched => "workers-not-launched", workers_not_launched::WorkersNotLaunched;
    PlanningTime => "planning-time", planning_time::PlanningTime;
    JoinFullScan => "join-full-scan", join_full_scan::JoinFullScan;
    UnindexedForeignKey => "unindexed-foreign-key", unindexed_foreign_key::UnindexedForeignKey;
    CorrelatedSubplan => "correlated-subplan", correlated_subplan::CorrelatedSubplan;
}

use crate::plan::{Analysis, Explain, NodeMetrics, PeopleNames, PlanNode};

/// How much a finding puts at stake: the lower of two tiers, one for its share of the query's time
/// (the tiers pev2 and depesz use) and one for the absolute time (ms) at stake, so a query that runs
/// in a few milliseconds is never critical however lopsided its plan.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Up to 10% of the execution time, or less than `severity_notice_min_ms` at stake.
    Info,
    /// More than 10%, and at least `severity_notice_min_ms` (1 ms by default).
    Notice,
    /// More than 40%, and at least `severity_warning_min_ms` (10 ms by default).
    Warning,
    /// More than 90%, and at least `severity_critical_min_ms` (100 ms by default).
    Critical,
}

impl Severity {
    /// The tier of a finding: the lower of the share tier and the absolute-time tier. Every rule's
    /// severity comes from here (through [`Context::finding`]).
    pub fn for_stake(share: f64, ms: f64, thresholds: &Thresholds) -> Severity {
        Severity::for_share_with(share, thresholds).min(Severity::for_ms(ms, thresholds))
    }

    /// The tier for a share (0..1) of execution time at stake, at the default share tiers.
    pub fn for_share(share: f64) -> Severity {
        Severity::for_share_with(share, &Thresholds::default())
    }

    /// The tier for a share (0..1) of execution time at stake, from the `severity_*_min_share`
    /// thresholds.
    pub fn for_share_with(share: f64, thresholds: &Thresholds) -> Severity {
        if share > thresholds.severity_critical_min_share {
            Severity::Critical
        } else if share > thresholds.severity_warning_min_share {
            Severity::Warning
        } else if share > thresholds.severity_notice_min_share {
            Severity::Notice
        } else {
            Severity::Info
        }
    }

    /// The tier for an absolute time at stake (ms), from the `severity_*_min_ms` thresholds.
    pub fn for_ms(ms: f64, thresholds: &Thresholds) -> Severity {
        if ms >= thresholds.severity_critical_min_ms {
            Severity::Critical
        } else if ms >= thresholds.severity_warning_min_ms {
            Severity::Warning
        } else if ms >= thresholds.severity_notice_min_ms {
            Severity::Notice
        } else {
            Severity::Info
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Notice => "notice",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One number from the plan that supports a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    pub label: String,
    pub value: String,
}

/// Something worth fixing, with how much time it costs and what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Rule id, e.g. `seq-scan`.
    pub rule: RuleId,
    pub severity: Severity,
    /// The node (`id` and `path` as in the report's `nodes`).
    pub node_id: usize,
    pub node_path: String,
    pub relation: Option<String>,
    /// Columns and expressions involved (filter, sort keys).
    pub expressions: Vec<String>,
    /// One line: what is wrong.
    pub summary: String,
    pub evidence: Vec<Evidence>,
    /// Time that fixing it could save, and its share of execution time.
    pub time_at_stake_ms: f64,
    pub share_at_stake: f64,
    /// What to do.
    pub advice: String,
    /// The rule's documentation page.
    pub doc: String,
}

/// A node a rule examined and did not flag, and why (shown in verbose output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    pub rule: RuleId,
    pub node_id: usize,
    pub reason: String,
}

/// Thresholds every rule reads; defaults are what a senior DBA would use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Severity: time at stake (ms) a finding needs to be a notice, a warning, critical, whatever
    /// its share (the tier is the lower of the two; see [`Severity`]).
    pub severity_notice_min_ms: f64,
    pub severity_warning_min_ms: f64,
    pub severity_critical_min_ms: f64,
    /// Severity: share of execution time a finding needs (strictly more) to be a notice, a
    /// warning, critical (the tiers pev2 and depesz use: 10%, 40%, 90%).
    pub severity_notice_min_share: f64,
    pub severity_warning_min_share: f64,
    pub severity_critical_min_share: f64,
    /// seq-scan: a scan reading fewer rows than this (over all loops) is a small table.
    pub seq_scan_min_rows: f64,
    /// seq-scan: share of the rows read that the filter discards to count as selective.
    pub seq_scan_min_removed_share: f64,
    /// seq-scan: loops from which a repeated scan is flagged even when each one is small.
    pub seq_scan_min_loops: f64,
    /// unindexed-sort, disk-spill: nodes below this share of execution time are not worth a change.
    pub min_share: f64,
    /// jit-overhead: JIT time above this share of execution time.
    pub jit_min_share: f64,
    /// heavy-aggregate: rows consumed (over all loops) from which an aggregate is heavy...
    pub heavy_aggregate_min_rows: f64,
    /// heavy-aggregate: ...or the share of execution time spent in the aggregate itself (its
    /// exclusive time, with its partial aggregates') from which it is heavy anyway.
    pub heavy_aggregate_min_share: f64,
    /// misestimate: planned vs actual rows off by at least this factor (tiers 10/100/1000×).
    pub misestimate_min_factor: f64,
    /// nested-loop-amplification: inner-side executions from which a loop amplifies.
    pub nested_loop_min_loops: f64,
    /// index-filter-waste: rows an index scan fetched and then discarded by its Filter...
    pub index_filter_min_removed_rows: f64,
    /// ...as a share of the rows it fetched.
    pub index_filter_min_removed_share: f64,
    /// heap-fetches: heap fetches (total) from which an index-only scan is flagged...
    pub heap_fetches_min: f64,
    /// ...as a share of the rows it returned.
    pub heap_fetches_min_share_of_rows: f64,
    /// planning-time: planning time at least this multiple of execution time...
    pub planning_min_ratio: f64,
    /// ...and at least this long (ms), so sub-millisecond queries are not flagged.
    pub planning_min_ms: f64,
    /// join-full-scan: a large table (`seq_scan_min_rows`) read to feed a hash or merge join that
    /// keeps at most this share of its rows (and seeks no more rows from the other side).
    pub join_max_kept_share: f64,
    /// unindexed-foreign-key: rows read (over all loops) from which a scan of a table joined
    /// through an unindexed foreign key is named; below it the table is tiny.
    pub unindexed_fk_min_rows: f64,
    /// correlated-subplan: executions of a SubPlan (actual loops, or planned from its parent's
    /// rows) from which one that reads `seq_scan_min_rows` rows per execution is flagged.
    pub correlated_subplan_min_loops: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            // 1 ms is the smallest delay worth a change; 10 ms is felt by an OLTP request and
            // adds up under load; 100 ms is a delay a user sees (docs/json-report.md, README).
            severity_notice_min_ms: 1.0,
            severity_warning_min_ms: 10.0,
            severity_critical_min_ms: 100.0,
            severity_notice_min_share: 0.10,
            severity_warning_min_share: 0.40,
            severity_critical_min_share: 0.90,
            seq_scan_min_rows: 10_000.0,
            seq_scan_min_removed_share: 0.5,
            seq_scan_min_loops: 100.0,
            min_share: 0.05,
            jit_min_share: 0.10,
            heavy_aggregate_min_rows: 100_000.0,
            heavy_aggregate_min_share: 0.20,
            misestimate_min_factor: 10.0,
            nested_loop_min_loops: 1_000.0,
            index_filter_min_removed_rows: 1_000.0,
            index_filter_min_removed_share: 0.5,
            heap_fetches_min: 1_000.0,
            heap_fetches_min_share_of_rows: 0.1,
            planning_min_ratio: 1.0,
            planning_min_ms: 5.0,
            join_max_kept_share: 0.10,
            unindexed_fk_min_rows: 1_000.0,
            correlated_subplan_min_loops: 10.0,
        }
    }
}

impl Thresholds {
    /// The same thresholds made `factor` times harder to clear (`factor` > 1) or easier
    /// (`factor` < 1): every minimum (rows, loops, times, shares, factors, ratios) is multiplied by
    /// `factor`, the one maximum (`join_max_kept_share`) divided by it, and shares stay within
    /// 0..1. The CI gate diagnoses each run at `1 + margin` and `1 / (1 + margin)` so a finding
    /// near a threshold does not flap between runs (hysteresis).
    pub fn scaled(&self, factor: f64) -> Thresholds {
        let factor = if factor.is_finite() && factor > 0.0 {
            factor
        } else {
            1.0
        };
        let min = |value: f64| value * factor;
        let share = |value: f64| (value * factor).min(1.0);
        // A ratio that must stay at least 1 to mean anything (a misestimate factor below 1 would
        // flag every node).
        let ratio = |value: f64| (value * factor).max(1.0);
        Thresholds {
            severity_notice_min_ms: min(self.severity_notice_min_ms),
            severity_warning_min_ms: min(self.severity_warning_min_ms),
            severity_critical_min_ms: min(self.severity_critical_min_ms),
            severity_notice_min_share: share(self.severity_notice_min_share),
            severity_warning_min_share: share(self.severity_warning_min_share),
            severity_critical_min_share: share(self.severity_critical_min_share),
            seq_scan_min_rows: min(self.seq_scan_min_rows),
            seq_scan_min_removed_share: share(self.seq_scan_min_removed_share),
            seq_scan_min_loops: min(self.seq_scan_min_loops),
            min_share: share(self.min_share),
            jit_min_share: share(self.jit_min_share),
            heavy_aggregate_min_rows: min(self.heavy_aggregate_min_rows),
            heavy_aggregate_min_share: share(self.heavy_aggregate_min_share),
            misestimate_min_factor: ratio(self.misestimate_min_factor),
            nested_loop_min_loops: min(self.nested_loop_min_loops),
            index_filter_min_removed_rows: min(self.index_filter_min_removed_rows),
            index_filter_min_removed_share: share(self.index_filter_min_removed_share),
            heap_fetches_min: min(self.heap_fetches_min),
            heap_fetches_min_share_of_rows: share(self.heap_fetches_min_share_of_rows),
            planning_min_ratio: min(self.planning_min_ratio),
            planning_min_ms: min(self.planning_min_ms),
            join_max_kept_share: (self.join_max_kept_share / factor).min(1.0),
            unindexed_fk_min_rows: min(self.unindexed_fk_min_rows),
            correlated_subplan_min_loops: min(self.correlated_subplan_min_loops),
        }
    }
}

/// What a rule sees: the plan, its figures, and the thresholds.
#[derive(Debug)]
pub struct Context<'a> {
    pub explain: &'a Explain,
    pub analysis: &'a Analysis,
    /// Plan nodes in the same order as `analysis.nodes`.
    pub nodes: Vec<&'a PlanNode>,
    pub thresholds: &'a Thresholds,
    /// What the catalog says of the plan's tables (nothing for a saved plan).
    pub facts: &'a SchemaFacts,
}

impl Context<'_> {
    /// The denominator of every share: execution time (or the root's time).
    pub fn total_ms(&self) -> f64 {
        self.analysis.total_time_ms.unwrap_or(0.0)
    }

    pub fn share(&self, ms: f64) -> f64 {
        let total = self.total_ms();
        if total > 0.0 {
            (ms / total).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    pub fn children_of(&self, id: usize) -> impl Iterator<Item = &NodeMetrics> {
        self.analysis
            .nodes
            .iter()
            .filter(move |n| n.parent == Some(id))
    }

    /// A finding for node `id` with `ms` at stake; severity from its share and its absolute time.
    #[allow(clippy::too_many_arguments)]
    pub fn finding(
        &self,
        rule: RuleId,
        id: usize,
        ms: f64,
        expressions: Vec<String>,
        summary: String,
        evidence: Vec<Evidence>,
        advice: String,
    ) -> Finding {
        let metrics = &self.analysis.nodes[id];
        let share = self.share(ms);
        Finding {
            rule,
            severity: Severity::for_stake(share, ms, self.thresholds),
            node_id: id,
            node_path: metrics.path.clone(),
            relation: metrics.relation.clone(),
            expressions,
            summary,
            evidence,
            time_at_stake_ms: ms,
            share_at_stake: share,
            advice,
            doc: format!("docs/rules/{rule}.md"),
        }
    }
}

pub fn evidence(label: &str, value: impl Into<String>) -> Evidence {
    Evidence {
        label: label.to_owned(),
        value: value.into(),
    }
}

/// A diagnosis rule.
pub trait Rule {
    /// Its id, also the doc page's name.
    fn id(&self) -> RuleId;
    /// Examine the plan; push findings, and checks for nodes examined but not flagged.
    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>);
    /// Whether it can judge a plan that was not executed (planner estimates only). Rules that
    /// weigh time cannot; they do not run on such plans.
    fn on_estimates(&self) -> bool {
        false
    }
}

/// Every rule, in documentation order.
pub fn rules() -> Vec<Box<dyn Rule>> {
    RuleId::ALL.iter().map(|id| id.rule()).collect()
}

/// Findings (most time at stake first) and the checks that did not become findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    pub checks: Vec<Check>,
    /// The plan was not executed: only the rules that judge estimates ran, and their findings'
    /// figures are the planner's (their evidence says so; no time is at stake, the share is of
    /// the planned cost).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

/// Which rules run and with what thresholds (`[diagnose]` in pgdiag.toml, and flags).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiagnoseConfig {
    pub thresholds: Thresholds,
    /// Rules not to run.
    pub disabled_rules: Vec<RuleId>,
    /// What the catalog says of the statement's tables: filled per statement by a command that is
    /// connected, never read from pgdiag.toml.
    #[serde(skip)]
    pub facts: SchemaFacts,
}

/// Facts about the schema that a plan does not carry, read from the catalog by the caller so the
/// rules stay pure. `Default` is nothing known: a saved plan is diagnosed from the plan alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaFacts {
    /// Foreign keys between the statement's tables whose referencing columns lead no index
    /// ([`crate::pg::catalog::unindexed_foreign_keys`]).
    pub unindexed_foreign_keys: Vec<crate::pg::catalog::ForeignKey>,
    /// How current the statistics of the statement's tables are
    /// ([`crate::pg::catalog::table_statistics_of_plan`]); a table not listed is not known.
    pub table_statistics: Vec<crate::pg::catalog::TableStatistics>,
}

/// Run every rule over an analysed plan with these thresholds.
pub fn diagnose(explain: &Explain, analysis: &Analysis, thresholds: &Thresholds) -> Diagnosis {
    diagnose_with(
        explain,
        analysis,
        &DiagnoseConfig {
            thresholds: thresholds.clone(),
            ..DiagnoseConfig::default()
        },
    )
}

/// Run the enabled rules over a plan. On an estimated-only plan (no actual figures: plain EXPLAIN,
/// a generic plan, a statement too slow to run) only the rules that judge estimates run
/// ([`Rule::on_estimates`]); the others weigh time, and there is none.
pub fn diagnose_with(explain: &Explain, analysis: &Analysis, config: &DiagnoseConfig) -> Diagnosis {
    let mut diagnosis = Diagnosis {
        estimated: !analysis.analyzed,
        ..Diagnosis::default()
    };
    let ctx = Context {
        explain,
        analysis,
        nodes: explain.plan.preorder(),
        thresholds: &config.thresholds,
        facts: &config.facts,
    };
    for rule in rules() {
        if config.disabled_rules.contains(&rule.id())
            || (diagnosis.estimated && !rule.on_estimates())
        {
            continue;
        }
        rule.check(&ctx, &mut diagnosis.findings, &mut diagnosis.checks);
    }
    // Text for people: the planner's own aliases (`lineitem_1`) read as the table's name.
    // `expressions` stay the plan's own text, for tools that match them against the plan.
    let names = PeopleNames::of(&explain.plan);
    if !names.is_empty() {
        for finding in &mut diagnosis.findings {
            finding.summary = names.apply(&finding.summary);
            finding.advice = names.apply(&finding.advice);
            for evidence in &mut finding.evidence {
                evidence.value = names.apply(&evidence.value);
            }
        }
        for check in &mut diagnosis.checks {
            check.reason = names.apply(&check.reason);
        }
    }
    diagnosis.findings.sort_by(|a, b| {
        b.time_at_stake_ms
            .total_cmp(&a.time_at_stake_ms)
            .then_with(|| b.share_at_stake.total_cmp(&a.share_at_stake))
            .then_with(|| a.node_id.cmp(&b.node_id))
    });
    diagnosis
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
