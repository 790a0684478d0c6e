//! `misestimate`: a row estimate off by 10× or more *where the plan depended on it*: the outer side
//! of a Nested Loop (the planner loops because it expects few outer rows) or the input of a Hash
//! that then had to split into more batches than planned. Misestimates no plan choice hung on are
//! only checks. Column names come out of the conditions through [`crate::plan::conditions`].

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::pg::ident::{quote_ident, quote_qualified};
use crate::plan::conditions::{own_qualifiers, referenced_columns};
use crate::plan::{EstimateDirection, NodeType};
use crate::units::{fmt_count, fmt_ms};

#[derive(Debug)]
pub struct Misestimate;

/// The plan choice a misestimated node fed, and the join whose time it put at stake.
enum Choice {
    /// The node is the outer side of this Nested Loop and was under-estimated.
    NestedLoop { join: usize },
    /// The node feeds this Hash, which grew from `planned` to `actual` batches.
    HashSpill {
        join: usize,
        planned: u64,
        actual: u64,
    },
}

impl Rule for Misestimate {
    fn id(&self) -> RuleId {
        RuleId::Misestimate
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let t = ctx.thresholds;
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            let (Some(factor), Some(direction)) =
                (metrics.estimate_factor, metrics.estimate_direction)
            else {
                continue;
            };
            if factor < t.misestimate_min_factor {
                continue;
            }
            let choice = metrics.parent.and_then(|parent_id| {
                let parent = ctx.nodes[parent_id];
                match parent.node_type {
                    NodeType::NestedLoop
                        if node.parent_relationship.as_deref() == Some("Outer")
                            && direction == EstimateDirection::Under =>
                    {
                        Some(Choice::NestedLoop { join: parent_id })
                    }
                    NodeType::Hash => {
                        let actual = parent.hash_batches?;
                        let planned = parent.original_hash_batches.unwrap_or(actual);
                        let join = ctx.analysis.nodes[parent_id].parent?;
                        (actual > planned).then_some(Choice::HashSpill {
                            join,
                            planned,
                            actual,
                        })
                    }
                    _ => None,
                }
            });
            let direction_text = match direction {
                EstimateDirection::Under => "under-estimated: more rows than planned",
                EstimateDirection::Over => "over-estimated: fewer rows than planned",
                EstimateDirection::Exact => "exact",
            };
            let Some(choice) = choice else {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!(
                        "{}: off by {}× ({}) but no plan choice depended on it",
                        metrics.label,
                        fmt_factor(factor),
                        direction_text.split(':').next().unwrap_or_default()
                    ),
                });
                continue;
            };
            let join_id = match choice {
                Choice::NestedLoop { join } | Choice::HashSpill { join, .. } => join,
            };
            let join = &ctx.analysis.nodes[join_id];
            let ms = join.inclusive_time_ms.unwrap_or(0.0);
            let planned = metrics.planned_rows_total;
            let actual = metrics.actual_rows_total.unwrap_or(0.0);
            let sources = estimate_sources(ctx, metrics.id);
            let what = metrics
                .relation
                .clone()
                .unwrap_or_else(|| metrics.label.clone());
            let mut ev = vec![
                evidence("planned rows", fmt_count(planned)),
                evidence("actual rows", fmt_count(actual)),
                evidence("estimate factor", format!("{}×", fmt_factor(factor))),
                evidence("tier", tier(factor)),
                evidence("direction", direction_text),
                evidence(
                    "affected join",
                    format!("{} ({} ms)", join.label, fmt_ms(ms)),
                ),
            ];
            let summary = match choice {
                Choice::NestedLoop { .. } => format!(
                    "the planner expected {} rows from {what}, got {}: it chose a Nested Loop believing the outer side small",
                    fmt_count(planned),
                    fmt_count(actual)
                ),
                Choice::HashSpill {
                    planned: planned_batches,
                    actual: actual_batches,
                    ..
                } => {
                    ev.push(evidence(
                        "hash batches",
                        format!("{actual_batches} (planned {planned_batches})"),
                    ));
                    format!(
                        "the planner expected {} rows from {what}, got {}: the hash built from them spilled into {actual_batches} batches (planned {planned_batches})",
                        fmt_count(planned),
                        fmt_count(actual)
                    )
                }
            };
            for source in &sources {
                for condition in &source.conditions {
                    ev.push(evidence("condition", condition.clone()));
                }
            }
            let consequence = match choice {
                Choice::NestedLoop { .. } => {
                    "with the right estimate the planner can pick a hash or merge join itself"
                }
                Choice::HashSpill { .. } => {
                    "with the right estimate the planner sizes the hash (or picks the other side to hash)"
                }
            };
            findings.push(
                ctx.finding(
                    self.id(),
                    metrics.id,
                    ms,
                    sources
                        .iter()
                        .flat_map(|s| s.conditions.iter().cloned())
                        .collect(),
                    summary,
                    ev,
                    format!("{}; {consequence}", statistics_advice(&sources)),
                ),
            );
        }
    }
}

/// A relation whose statistics produced (part of) a node's estimate, with the conditions applied
/// to it and the columns they name.
struct EstimateSource {
    /// The schema, when EXPLAIN VERBOSE reported it, and the table: apart, so they quote apart.
    schema: Option<String>,
    table: String,
    conditions: Vec<String>,
    columns: Vec<String>,
}

/// The scans that produced a node's estimate: the node itself when it reads a table, else every
/// table scan below it that applies a condition (a join's estimate multiplies theirs).
fn estimate_sources(ctx: &Context<'_>, id: usize) -> Vec<EstimateSource> {
    let prefix = format!("{}.", ctx.analysis.nodes[id].path);
    let mut sources = Vec::new();
    for metrics in &ctx.analysis.nodes {
        if metrics.id != id && !metrics.path.starts_with(&prefix) {
            continue;
        }
        let node = ctx.nodes[metrics.id];
        let Some(table) = node.relation_name.clone() else {
            continue;
        };
        let conditions: Vec<String> = [&node.index_cond, &node.recheck_cond, &node.filter]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if conditions.is_empty() && metrics.id != id {
            continue;
        }
        let qualifiers = own_qualifiers(node);
        let mut columns = Vec::new();
        for condition in &conditions {
            for column in referenced_columns(condition, &qualifiers) {
                if !columns.contains(&column.name) {
                    columns.push(column.name);
                }
            }
        }
        sources.push(EstimateSource {
            schema: node.schema.clone(),
            table,
            conditions,
            columns,
        });
    }
    sources
}

/// `ANALYZE` for each table, and extended statistics where a table's conditions name two or
/// more columns: the planner assumes columns independent and multiplies their selectivities.
fn statistics_advice(sources: &[EstimateSource]) -> String {
    if sources.is_empty() {
        return "refresh the statistics of the tables below this node (ANALYZE)".into();
    }
    let mut parts = Vec::new();
    for source in sources {
        // Copy-paste SQL: every name quoted, so any table or column name works as printed.
        let relation = quote_qualified(source.schema.as_deref(), &source.table);
        if source.columns.len() >= 2 {
            let statistics = quote_ident(&format!(
                "{}_{}_stats",
                source.table,
                source.columns.join("_")
            ));
            let columns: Vec<String> = source.columns.iter().map(|c| quote_ident(c)).collect();
            parts.push(format!(
                "ANALYZE {relation}; if {} are correlated (the planner multiplies their selectivities as if independent): CREATE STATISTICS {statistics} (dependencies, ndistinct, mcv) ON {} FROM {relation}; ANALYZE {relation}",
                source.columns.join(", "),
                columns.join(", ")
            ));
        } else {
            parts.push(format!("ANALYZE {relation}"));
        }
    }
    parts.join("; ")
}

/// The estimate factor as people say it: `56`, `111`, `12.5`.
fn fmt_factor(factor: f64) -> String {
    if factor >= 100.0 {
        fmt_count(factor)
    } else {
        format!("{factor:.1}")
    }
}

/// The depesz/pev2 tier of an estimate factor.
fn tier(factor: f64) -> &'static str {
    if factor >= 1000.0 {
        "1000× or more"
    } else if factor >= 100.0 {
        "100× or more"
    } else {
        "10× or more"
    }
}

#[cfg(test)]
mod tests {
    use super::{EstimateSource, statistics_advice};
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn misestimate_fires_on_the_outer_side_of_a_nested_loop() {
        // misestimate_nested_loop.json: city and zip are correlated; 18 rows planned, 2,000 found.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("misestimate_nested_loop.json");
        let [f] = findings(&d, "misestimate")[..] else {
            panic!("{:?}", d.findings)
        };
        let scan = &analysis.nodes[f.node_id];
        assert_eq!(scan.label, "Seq Scan");
        assert_eq!(f.relation.as_deref(), Some("public.people"));
        let join = &analysis.nodes[scan.parent.unwrap()];
        assert_eq!(join.label, "Nested Loop");
        assert_eq!(f.time_at_stake_ms, join.inclusive_time_ms.unwrap());
        assert_eq!(
            f.severity,
            Severity::for_stake(f.share_at_stake, f.time_at_stake_ms, &Thresholds::default())
        );
        assert_eq!(evidence_value(f, "planned rows"), "18");
        assert_eq!(evidence_value(f, "actual rows"), "2,000");
        let factor = scan.estimate_factor.unwrap();
        assert_eq!(
            evidence_value(f, "estimate factor"),
            format!("{}×", crate::units::fmt_count(factor))
        );
        assert_eq!(evidence_value(f, "tier"), "100× or more");
        assert!(evidence_value(f, "direction").starts_with("under-estimated"));
        assert!(
            f.advice.contains(r#"ANALYZE "public"."people""#),
            "{}",
            f.advice
        );
        assert!(
            f.advice.contains(
                r#"CREATE STATISTICS "people_city_zip_stats" (dependencies, ndistinct, mcv) ON "city", "zip" FROM "public"."people""#
            ),
            "{}",
            f.advice
        );
        // The loop itself is off by as much, but nothing above it chose anything from that.
        assert!(
            checks(&d, "misestimate")
                .iter()
                .any(|c| c.node_id == join.id
                    && c.reason.contains("no plan choice depended on it")),
            "{:?}",
            d.checks
        );
        insta::assert_json_snapshot!(findings(&d, "misestimate"));
    }

    #[test]
    fn misestimate_fires_on_the_input_of_a_hash_that_spilled() {
        // misestimate_hash_spill.json: the same filter hashed; 1 batch planned, 4 used.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("misestimate_hash_spill.json");
        let [f] = findings(&d, "misestimate")[..] else {
            panic!("{:?}", d.findings)
        };
        let hash = &analysis.nodes[analysis.nodes[f.node_id].parent.unwrap()];
        assert_eq!(hash.label, "Hash");
        let join = &analysis.nodes[hash.parent.unwrap()];
        assert_eq!(join.label, "Hash Join");
        assert_eq!(f.time_at_stake_ms, join.inclusive_time_ms.unwrap());
        assert_eq!(evidence_value(f, "hash batches"), "4 (planned 1)");
        assert_eq!(f.severity, Severity::Critical);
        insta::assert_json_snapshot!(findings(&d, "misestimate"));
    }

    #[test]
    fn misestimate_near_miss_no_plan_choice_at_a_merge_join() {
        // cte.json: the Merge Join expected 60,833 rows and produced 1,085 (×56), at the root.
        let d = diagnose_fixture("cte.json").diagnosis;
        assert!(findings(&d, "misestimate").is_empty(), "{:?}", d.findings);
        let c = checks(&d, "misestimate")
            .into_iter()
            .find(|c| c.node_id == 0)
            .expect("a check on the Merge Join");
        assert_eq!(
            c.reason,
            "Merge Join: off by 56.1× (over-estimated) but no plan choice depended on it"
        );
    }

    fn source(schema: Option<&str>, table: &str, columns: &[&str]) -> EstimateSource {
        EstimateSource {
            schema: schema.map(str::to_owned),
            table: table.to_owned(),
            conditions: Vec::new(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn copy_paste_sql_quotes_hostile_names() {
        let advice = statistics_advice(&[
            source(Some("My Schema"), r#"odd.t"x"#, &["Zip Code", r#"a"b"#]),
            source(None, "Upper", &["city"]),
        ]);
        assert_eq!(
            advice,
            r#"ANALYZE "My Schema"."odd.t""x"; if Zip Code, a"b are correlated (the planner multiplies their selectivities as if independent): CREATE STATISTICS "odd.t""x_Zip Code_a""b_stats" (dependencies, ndistinct, mcv) ON "Zip Code", "a""b" FROM "My Schema"."odd.t""x"; ANALYZE "My Schema"."odd.t""x"; ANALYZE "Upper""#
        );
    }
}
