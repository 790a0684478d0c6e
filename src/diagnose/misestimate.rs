//! `misestimate`: a row estimate off by 10× or more *where the plan depended on it*: the outer side
//! of a Nested Loop (the planner loops because it expects few outer rows) or the input of a Hash
//! that then had to split into more batches than planned. Misestimates no plan choice hung on are
//! only checks. Column names come out of the conditions through [`crate::plan::conditions`].

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::pg::catalog::TableStatistics;
use crate::pg::ident::{quote_ident, quote_qualified};
use crate::plan::conditions::{own_qualifiers, referenced_columns, split_restrictions};
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
        // Tables whose statistics advice an earlier finding of this plan already gave, by node.
        let mut advised: Vec<(TableKey, usize)> = Vec::new();
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
                    format!(
                        "{}; {consequence}",
                        statistics_advice(
                            &sources,
                            &ctx.facts.table_statistics,
                            &mut advised,
                            metrics.id
                        )
                    ),
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
    /// The columns of the conditions that restrict this table's own rows (a filter or index
    /// condition over its own columns only): what its statistics, and extended statistics on
    /// it, estimate. Columns compared only with another relation's are not among them.
    restriction_columns: Vec<String>,
    /// Conjuncts that compare this table's rows with another relation's (a join condition
    /// pushed into an index scan, a correlated subquery's outer reference).
    cross_conditions: Vec<String>,
}

/// A table as the facts and the advice name it.
type TableKey = (Option<String>, String);

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
        let mut restriction_columns = Vec::new();
        let mut cross_conditions = Vec::new();
        for condition in &conditions {
            let (restrictions, others) = split_restrictions(condition, &qualifiers);
            for restriction in &restrictions {
                for column in referenced_columns(restriction, &qualifiers) {
                    if !restriction_columns.contains(&column.name) {
                        restriction_columns.push(column.name);
                    }
                }
            }
            cross_conditions.extend(others);
        }
        sources.push(EstimateSource {
            schema: node.schema.clone(),
            table,
            conditions,
            restriction_columns,
            cross_conditions,
        });
    }
    sources
}

/// The statistics facts of a table, when the caller read them.
fn facts_of<'f>(facts: &'f [TableStatistics], key: &TableKey) -> Option<&'f TableStatistics> {
    facts.iter().find(|f| {
        f.table.name == key.1
            && key
                .0
                .as_deref()
                .is_none_or(|schema| f.table.schema == schema)
    })
}

/// What to do about the statistics of the tables below a misestimated node, each table once per
/// plan (`advised` remembers which finding said it): `ANALYZE` only where the catalog says the
/// statistics are missing or stale (or when nothing is known of them, a saved plan); extended
/// statistics where two or more columns restrict one table's own rows together (the planner
/// multiplies their selectivities as if independent). Never for columns that appear only in
/// conditions against another relation: extended statistics describe one table's columns, not
/// how two tables match. When the statistics are current and nothing per table applies, says so
/// and why the estimate is off.
fn statistics_advice(
    sources: &[EstimateSource],
    facts: &[TableStatistics],
    advised: &mut Vec<(TableKey, usize)>,
    node_id: usize,
) -> String {
    if sources.is_empty() {
        return "refresh the statistics of the tables below this node (ANALYZE) if they changed much since their last ANALYZE".into();
    }
    let mut parts = Vec::new();
    let mut current: Vec<(String, Vec<&str>)> = Vec::new();
    let mut elsewhere: Vec<(String, usize)> = Vec::new();
    let mut seen: Vec<TableKey> = Vec::new();
    for source in sources {
        let key: TableKey = (source.schema.clone(), source.table.clone());
        // A table read several times (a self-join) is one table.
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        let reads: Vec<&EstimateSource> = sources
            .iter()
            .filter(|s| s.schema == source.schema && s.table == source.table)
            .collect();
        // Extended statistics estimate the restrictions of one scan together.
        let restriction_columns: Vec<&String> = reads
            .iter()
            .find(|s| s.restriction_columns.len() >= 2)
            .map(|s| s.restriction_columns.iter().collect())
            .unwrap_or_default();
        let cross: Vec<&str> = reads
            .iter()
            .flat_map(|s| s.cross_conditions.iter().map(String::as_str))
            .collect();
        // Copy-paste SQL: every name quoted, so any table or column name works as printed.
        let relation = quote_qualified(source.schema.as_deref(), &source.table);
        if let Some((_, node)) = advised.iter().find(|(k, _)| *k == key) {
            elsewhere.push((relation, *node));
            continue;
        }
        let stale = match facts_of(facts, &key) {
            Some(stats) => stats.stale(),
            None => Some(String::new()),
        };
        let mut part = match &stale {
            Some(why) if why.is_empty() => {
                format!("`ANALYZE {relation}` if it changed much since its last ANALYZE")
            }
            Some(why) => {
                format!("statistics of {relation} out of date ({why}): `ANALYZE {relation}`")
            }
            None => String::new(),
        };
        if restriction_columns.len() >= 2 {
            let names: Vec<&str> = restriction_columns.iter().map(|c| c.as_str()).collect();
            let statistics = quote_ident(&format!("{}_{}_stats", source.table, names.join("_")));
            let columns: Vec<String> = names.iter().map(|c| quote_ident(c)).collect();
            if !part.is_empty() {
                part.push_str("; ");
            }
            part.push_str(&format!(
                "if {} are correlated (the planner multiplies their selectivities as if independent): `CREATE STATISTICS {statistics} (dependencies, ndistinct, mcv) ON {} FROM {relation}`, then `ANALYZE {relation}`",
                names.join(", "),
                columns.join(", ")
            ));
        }
        if part.is_empty() {
            current.push((relation, cross));
        } else {
            advised.push((key, node_id));
            parts.push(part);
        }
    }
    // Tables whose statistics are current: said only where it explains the error (conditions
    // against another relation), or when nothing else was advised.
    let explained: Vec<&(String, Vec<&str>)> = current
        .iter()
        .filter(|(_, cross)| !cross.is_empty())
        .collect();
    if !explained.is_empty() {
        let names: Vec<&str> = explained.iter().map(|(r, _)| r.as_str()).collect();
        let cross: Vec<&str> = explained
            .iter()
            .flat_map(|(_, cross)| cross.iter().copied())
            .collect();
        parts.push(format!(
            "the statistics of {} are current (a new ANALYZE would change nothing): the error comes from conditions comparing two relations ({}), which the planner estimates from each side's distinct values; neither ANALYZE nor extended statistics (which describe one table's columns) change that",
            names.join(", "),
            cross.join(" AND ")
        ));
    } else if parts.is_empty() && elsewhere.is_empty() && !current.is_empty() {
        let names: Vec<&str> = current.iter().map(|(r, _)| r.as_str()).collect();
        parts.push(format!(
            "the statistics of {} are current (a new ANALYZE would change nothing): the error comes from how the planner combines the conditions, which per-table statistics do not describe",
            names.join(", ")
        ));
    }
    for (relation, node) in elsewhere {
        parts.push(format!(
            "the statistics of {relation}: see the misestimate finding on node #{node}"
        ));
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
    use crate::pg::catalog::{RelationName, TableStatistics};
    use crate::plan::conditions::split_restrictions;

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
            restriction_columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            cross_conditions: Vec::new(),
        }
    }

    fn statistics(schema: &str, table: &str, modified: i64, rows: f64) -> TableStatistics {
        TableStatistics {
            table: RelationName {
                schema: schema.to_owned(),
                name: table.to_owned(),
            },
            has_statistics: true,
            last_analyzed: Some("2026-12-02 10:00:00 UTC".to_owned()),
            modified_since_analyze: modified,
            reltuples: rows,
        }
    }

    #[test]
    fn copy_paste_sql_quotes_hostile_names() {
        let advice = statistics_advice(
            &[
                source(Some("My Schema"), r#"odd.t"x"#, &["Zip Code", r#"a"b"#]),
                source(None, "Upper", &["city"]),
            ],
            &[],
            &mut Vec::new(),
            0,
        );
        assert_eq!(
            advice,
            r#"`ANALYZE "My Schema"."odd.t""x"` if it changed much since its last ANALYZE; if Zip Code, a"b are correlated (the planner multiplies their selectivities as if independent): `CREATE STATISTICS "odd.t""x_Zip Code_a""b_stats" (dependencies, ndistinct, mcv) ON "Zip Code", "a""b" FROM "My Schema"."odd.t""x"`, then `ANALYZE "My Schema"."odd.t""x"`; `ANALYZE "Upper"` if it changed much since its last ANALYZE"#
        );
    }

    #[test]
    fn analyze_only_where_the_catalog_says_the_statistics_are_stale_and_once_per_table() {
        let facts = [
            // 200 of 1,000,000 rows changed: current.
            statistics("public", "lineitem", 200, 1_000_000.0),
            // 30,000 of 100,000 changed: beyond autovacuum's 50 + 10%.
            statistics("public", "orders", 30_000, 100_000.0),
            TableStatistics {
                has_statistics: false,
                last_analyzed: None,
                ..statistics("public", "part", 0, -1.0)
            },
        ];
        let mut advised = Vec::new();
        let first = statistics_advice(
            &[
                source(Some("public"), "lineitem", &["l_shipdate"]),
                source(Some("public"), "orders", &["o_orderdate"]),
                source(Some("public"), "part", &[]),
            ],
            &facts,
            &mut advised,
            3,
        );
        assert_eq!(
            first,
            r#"statistics of "public"."orders" out of date (30,000 rows changed since its last ANALYZE (2026-12-02 10:00:00 UTC), against about 100,000 rows in its statistics): `ANALYZE "public"."orders"`; statistics of "public"."part" out of date (it has no statistics (never analyzed)): `ANALYZE "public"."part"`"#
        );
        // A second misestimate over the same tables does not repeat it.
        let second = statistics_advice(
            &[source(Some("public"), "orders", &["o_orderdate"])],
            &facts,
            &mut advised,
            7,
        );
        assert_eq!(
            second,
            r#"the statistics of "public"."orders": see the misestimate finding on node #3"#
        );
    }

    #[test]
    fn current_statistics_with_nothing_to_advise_say_so() {
        let advice = statistics_advice(
            &[source(Some("public"), "lineitem", &["l_shipdate"])],
            &[statistics("public", "lineitem", 0, 1_200_000.0)],
            &mut Vec::new(),
            0,
        );
        assert_eq!(
            advice,
            r#"the statistics of "public"."lineitem" are current (a new ANALYZE would change nothing): the error comes from how the planner combines the conditions, which per-table statistics do not describe"#
        );
    }

    #[test]
    fn join_conditions_get_no_extended_statistics() {
        // l2's index condition and filter both compare it with l1: a join, not a restriction.
        let mut join = source(Some("public"), "lineitem", &[]);
        join.cross_conditions = vec![
            "(l2.l_orderkey = l1.l_orderkey)".to_owned(),
            "(l2.l_suppkey <> l1.l_suppkey)".to_owned(),
        ];
        let advice = statistics_advice(
            &[join],
            &[statistics("public", "lineitem", 0, 1_200_000.0)],
            &mut Vec::new(),
            0,
        );
        assert!(!advice.contains("CREATE STATISTICS"), "{advice}");
        assert_eq!(
            advice,
            r#"the statistics of "public"."lineitem" are current (a new ANALYZE would change nothing): the error comes from conditions comparing two relations ((l2.l_orderkey = l1.l_orderkey) AND (l2.l_suppkey <> l1.l_suppkey)), which the planner estimates from each side's distinct values; neither ANALYZE nor extended statistics (which describe one table's columns) change that"#
        );
    }

    #[test]
    fn restrictions_and_join_conditions_are_told_apart() {
        let (restrictions, others) = split_restrictions(
            "((l2.l_orderkey = l1.l_orderkey) AND (l2.l_receiptdate > l2.l_commitdate) AND (l2.l_quantity < (SubPlan 1)))",
            &["l2", "lineitem"],
        );
        assert_eq!(
            restrictions,
            ["l2.l_receiptdate > l2.l_commitdate", "l2.l_quantity < $999"]
        );
        assert_eq!(others, ["l2.l_orderkey = l1.l_orderkey"]);
    }

    #[test]
    fn misestimate_over_a_self_join_advises_the_table_once_and_analyze_only_when_stale() {
        // semi_anti_join_rounded_rows.json: the Hash Join of l1 and l3 (both "Order Items",
        // each filtered on "Due" < shipped) expected 1 row and got 48,000.
        let facts = |modified: i64| crate::diagnose::SchemaFacts {
            table_statistics: vec![statistics("Sales", "Order Items", modified, 120_000.0)],
            ..crate::diagnose::SchemaFacts::default()
        };
        let fresh = diagnose_fixture_with_facts(
            "semi_anti_join_rounded_rows.json",
            &Thresholds::default(),
            facts(0),
        )
        .diagnosis;
        let f = finding(&fresh, "misestimate");
        assert_eq!(
            f.advice,
            r#"if Due, shipped are correlated (the planner multiplies their selectivities as if independent): `CREATE STATISTICS "Order Items_Due_shipped_stats" (dependencies, ndistinct, mcv) ON "Due", "shipped" FROM "Sales"."Order Items"`, then `ANALYZE "Sales"."Order Items"`; with the right estimate the planner can pick a hash or merge join itself"#
        );
        let stale = diagnose_fixture_with_facts(
            "semi_anti_join_rounded_rows.json",
            &Thresholds::default(),
            facts(50_000),
        )
        .diagnosis;
        let f = finding(&stale, "misestimate");
        assert!(
            f.advice.starts_with(r#"statistics of "Sales"."Order Items" out of date (50,000 rows changed since its last ANALYZE (2026-12-02 10:00:00 UTC), against about 120,000 rows in its statistics): `ANALYZE "Sales"."Order Items"`; if Due, shipped"#),
            "{}",
            f.advice
        );
        assert_eq!(f.advice.matches("out of date").count(), 1, "{}", f.advice);
    }
}
