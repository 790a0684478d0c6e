//! `correlated-subplan`: a SubPlan (a correlated subquery: `x < (SELECT avg(..) FROM big WHERE
//! big.k = outer.k)`) executed once per outer row, each execution reading a large table. The plan
//! looks cheap node by node; the executions multiply. Found on analysed plans (actual loops, rows
//! read per execution) and on estimated ones (a statement too slow to run under ANALYZE): there the
//! executions are at least the rows the planner expects its parent to produce, and the reading is
//! judged by the planner's cost.

use super::{Check, Context, Finding, Rule, RuleId, Severity, evidence};
use crate::plan::conditions::{PredicateKind, TableRef, Target, parse_condition};
use crate::plan::{NodeType, PlanNode};
use crate::units::{fmt_count, fmt_ms, fmt_pct};

#[derive(Debug)]
pub struct CorrelatedSubplan;

/// The planner's charge for one row read (`cpu_tuple_cost`, default 0.01): a Seq Scan estimated
/// at `seq_scan_min_rows` × this per execution reads at least that many rows' worth of table.
const CPU_TUPLE_COST: f64 = 0.01;

impl Rule for CorrelatedSubplan {
    fn id(&self) -> RuleId {
        RuleId::CorrelatedSubplan
    }

    fn on_estimates(&self) -> bool {
        true
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            if node.parent_relationship.as_deref() != Some("SubPlan") {
                continue;
            }
            let Some(parent) = metrics.parent else {
                continue;
            };
            let parent_node = ctx.nodes[parent];
            let name = node.subplan_name.as_deref().unwrap_or("SubPlan");
            if let Some(reason) = runs_once(parent_node, name) {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!("{name} {reason}"),
                });
                continue;
            }
            let subplan = Subplan {
                id: metrics.id,
                name,
                parent,
                place: place(parent_node, name),
            };
            let outcome = if ctx.analysis.analyzed {
                analysed(ctx, &subplan)
            } else {
                estimated(ctx, &subplan)
            };
            match outcome {
                Ok(finding) => findings.push(finding),
                Err(reason) => checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!("{name}: {reason}"),
                }),
            }
        }
    }
}

/// A SubPlan's root node and where its parent uses it.
struct Subplan<'a> {
    id: usize,
    name: &'a str,
    parent: usize,
    /// `the Join Filter of Hash Join`, as evidence says it.
    place: String,
}

/// Why a SubPlan does not run per outer row, when it does not: a hashed SubPlan is built once and
/// probed; an `alternatives:` pair lets the executor pick the hashed one.
fn runs_once(parent: &PlanNode, name: &str) -> Option<&'static str> {
    let texts = condition_texts(parent);
    let hashed = format!("hashed {name}");
    let mentions = |text: &str, needle: &str| {
        text.match_indices(needle).any(|(at, _)| {
            !text[at + needle.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
    };
    if texts.iter().any(|(_, t)| mentions(t.as_str(), &hashed)) {
        return Some("is hashed: it runs once and is probed per row");
    }
    let alternative = format!("alternatives: {name} or hashed");
    if texts
        .iter()
        .any(|(_, t)| mentions(t.as_str(), &alternative))
    {
        return Some("has a hashed alternative the executor can run once instead");
    }
    None
}

/// The parent's expressions that may reference a SubPlan, with their names as EXPLAIN prints them.
fn condition_texts(node: &PlanNode) -> Vec<(&'static str, String)> {
    let mut texts: Vec<(&'static str, String)> = [
        ("Filter", &node.filter),
        ("Join Filter", &node.join_filter),
        ("Index Cond", &node.index_cond),
        ("Recheck Cond", &node.recheck_cond),
        ("Hash Cond", &node.hash_cond),
        ("Merge Cond", &node.merge_cond),
    ]
    .into_iter()
    .filter_map(|(label, text)| text.clone().map(|t| (label, t)))
    .collect();
    if let Some(output) = &node.output {
        texts.push(("output", output.join(", ")));
    }
    texts
}

/// `the Join Filter of Hash Join`: where the parent evaluates the SubPlan, once per row it sees.
fn place(parent: &PlanNode, name: &str) -> String {
    let label = match &parent.relation_name {
        Some(relation) => format!("{} on {relation}", parent.label()),
        None => parent.label(),
    };
    let field = condition_texts(parent)
        .into_iter()
        .find(|(_, text)| text.contains(name))
        .map(|(field, _)| field);
    match field {
        Some(field) => format!("the {field} of {label}"),
        None => label,
    }
}

/// The table scans inside the SubPlan (its subtree in preorder).
fn scans_of(ctx: &Context<'_>, root: usize) -> Vec<usize> {
    let depth = ctx.analysis.nodes[root].depth;
    ctx.analysis.nodes[root + 1..]
        .iter()
        .take_while(|m| m.depth > depth)
        .filter(|m| {
            let node = ctx.nodes[m.id];
            node.node_type.is_table_scan() && node.relation_name.is_some()
        })
        .map(|m| m.id)
        .collect()
}

/// The equality conditions of a scan that tie its table to the outer row (`l_partkey =
/// part.p_partkey`), and the scan's own columns in them: what an index must lead with.
fn correlation(node: &PlanNode) -> (Vec<String>, Vec<String>) {
    let Some(relation) = node.relation_name.as_deref() else {
        return (Vec::new(), Vec::new());
    };
    let table = TableRef {
        relation,
        alias: node.alias.as_deref(),
    };
    let mut conditions = Vec::new();
    let mut columns = Vec::new();
    for text in [&node.index_cond, &node.filter].into_iter().flatten() {
        for predicate in parse_condition(text, table) {
            if !predicate.join_key || predicate.kind != PredicateKind::Equality {
                continue;
            }
            if let Target::Column(column) = &predicate.target
                && !columns.contains(column)
            {
                columns.push(column.clone());
            }
            conditions.push(table_named(&predicate.text, node));
        }
    }
    (conditions, columns)
}

/// A condition with the planner's alias of the scanned table (`lineitem_1.l_partkey`, for a
/// table read twice) replaced by the table's name: text for people.
fn table_named(condition: &str, node: &PlanNode) -> String {
    match (node.alias.as_deref(), node.relation_name.as_deref()) {
        (Some(alias), Some(relation)) if alias != relation => {
            condition.replace(&format!("{alias}."), &format!("{relation}."))
        }
        _ => condition.to_owned(),
    }
}

/// The advice: an index on the correlated columns, or a rewrite that reads the table once.
fn advice(relation: &str, columns: &[String], indexed: Option<&str>) -> String {
    let index = match (indexed, columns.is_empty()) {
        (Some(index), _) => format!(
            "each execution already uses {index} but still reads many rows: narrow it with the subquery's other conditions as index keys"
        ),
        (None, false) => format!(
            "index {relation} ({}) so each execution seeks the outer row's rows instead of reading the table",
            columns.join(", ")
        ),
        (None, true) => format!(
            "index the columns of {relation} the subquery compares with the outer row, so each execution seeks"
        ),
    };
    format!(
        "{index}; or rewrite the correlated subquery as a join (or LATERAL) against a derived table that aggregates {relation} once, grouped by the correlated columns, so the table is read once rather than per outer row"
    )
}

/// Rows a scan read per execution of the SubPlan, from the actual figures: rows it returned and
/// the rows its filters discarded, over all its loops, divided by the SubPlan's executions.
fn rows_read_per_execution(node: &PlanNode, executions: f64) -> f64 {
    let per_loop = node.actual_rows.unwrap_or(0.0)
        + node.rows_removed_by_filter.unwrap_or(0.0)
        + node.rows_removed_by_index_recheck.unwrap_or(0.0);
    per_loop * node.actual_loops.unwrap_or(0.0) / executions.max(1.0)
}

fn analysed(ctx: &Context<'_>, subplan: &Subplan<'_>) -> Result<Finding, String> {
    let t = ctx.thresholds;
    let metrics = &ctx.analysis.nodes[subplan.id];
    let executions = metrics.loops.unwrap_or(0.0);
    if executions < t.correlated_subplan_min_loops {
        return Err(format!(
            "runs {} times (< {}): few executions",
            fmt_count(executions),
            fmt_count(t.correlated_subplan_min_loops)
        ));
    }
    let Some((scan, per_execution)) = scans_of(ctx, subplan.id)
        .into_iter()
        .map(|id| (id, rows_read_per_execution(ctx.nodes[id], executions)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
    else {
        return Err("reads no table".into());
    };
    let scan_node = ctx.nodes[scan];
    let relation = scan_node.relation_name.clone().unwrap_or_default();
    if per_execution < t.seq_scan_min_rows {
        return Err(format!(
            "each execution reads {} rows of {relation} (< {}): cheap per run",
            fmt_count(per_execution),
            fmt_count(t.seq_scan_min_rows)
        ));
    }
    let ms = metrics.inclusive_time_ms.unwrap_or(0.0);
    let share = ctx.share(ms);
    if share < t.min_share {
        return Err(format!(
            "takes {} of the execution time (< {})",
            fmt_pct(share),
            fmt_pct(t.min_share)
        ));
    }
    let (conditions, columns) = correlation(scan_node);
    let mut ev = vec![
        evidence("subplan", format!("{} in {}", subplan.name, subplan.place)),
        evidence("executions", fmt_count(executions)),
        evidence(
            "rows read per execution",
            format!(
                "{} of {relation} ({})",
                fmt_count(per_execution),
                scan_node.label()
            ),
        ),
        evidence("rows read in all", fmt_count(per_execution * executions)),
        evidence(
            "time per execution",
            format!("{} ms", fmt_ms(ms / executions)),
        ),
        evidence("subplan time", format!("{} ms", fmt_ms(ms))),
    ];
    for condition in &conditions {
        ev.push(evidence("correlated by", condition.clone()));
    }
    Ok(ctx.finding(
        RuleId::CorrelatedSubplan,
        scan,
        ms,
        conditions,
        format!(
            "{} runs {} times, once per row of {}, each time reading {} rows of {relation}",
            subplan.name,
            fmt_count(executions),
            subplan.place,
            fmt_count(per_execution)
        ),
        ev,
        advice(&relation, &columns, scan_node.index_name.as_deref()),
    ))
}

/// How many times the planner expects node `id` to run: once, times the outer side's rows for each
/// nested loop it is the inner side of, times its parent's rows for each SubPlan it sits in, up to
/// the first Materialize or Hash above it (which runs its input once, however often it is read).
fn planned_executions(ctx: &Context<'_>, id: usize) -> f64 {
    let mut executions = 1.0;
    let mut child = id;
    while let Some(parent) = ctx.analysis.nodes[child].parent {
        let node = ctx.nodes[parent];
        let relationship = ctx.nodes[child].parent_relationship.as_deref();
        if matches!(node.node_type, NodeType::Materialize | NodeType::Hash) {
            break;
        }
        if relationship == Some("SubPlan") {
            executions *= node.plan_rows.unwrap_or(1.0).max(1.0);
        } else if node.node_type == NodeType::NestedLoop && relationship == Some("Inner") {
            let outer = ctx
                .children_of(parent)
                .find(|c| ctx.nodes[c.id].parent_relationship.as_deref() == Some("Outer"));
            if let Some(outer) = outer {
                executions *= ctx.nodes[outer.id].plan_rows.unwrap_or(1.0).max(1.0);
            }
        }
        child = parent;
    }
    executions
}

/// The executions of a SubPlan the planner charged its parent for, per run of the parent: the
/// parent's own cost (without its other children's) over one execution's cost. Zero when the
/// planner did not charge it (a Join Filter's SubPlan is costed once).
fn charged_executions(ctx: &Context<'_>, parent: usize, per_execution_cost: f64) -> f64 {
    if per_execution_cost <= 0.0 {
        return 0.0;
    }
    let children: f64 = ctx
        .children_of(parent)
        .filter(|c| {
            !matches!(
                ctx.nodes[c.id].parent_relationship.as_deref(),
                Some("SubPlan" | "InitPlan")
            )
        })
        .map(|c| ctx.nodes[c.id].total_cost.unwrap_or(0.0))
        .sum();
    let own = ctx.nodes[parent].total_cost.unwrap_or(0.0) - children;
    (own / per_execution_cost).floor().max(0.0)
}

fn estimated(ctx: &Context<'_>, subplan: &Subplan<'_>) -> Result<Finding, String> {
    let t = ctx.thresholds;
    // The parent evaluates the SubPlan on every row it sees and keeps some: at least the rows it
    // is planned to produce. Where the planner charged the parent for the executions (a scan's
    // Filter), its own cost over one execution's is the count it assumed, often higher.
    let parent_loops = planned_executions(ctx, subplan.parent);
    let by_rows = planned_executions(ctx, subplan.id);
    let per_execution_cost = ctx.nodes[subplan.id].total_cost.unwrap_or(0.0);
    let by_cost = charged_executions(ctx, subplan.parent, per_execution_cost) * parent_loops;
    let executions = by_rows.max(by_cost);
    if executions < t.correlated_subplan_min_loops {
        return Err(format!(
            "planned to run {} times (< {}): few executions",
            fmt_count(executions),
            fmt_count(t.correlated_subplan_min_loops)
        ));
    }
    let heavy = |id: &usize| {
        let node = ctx.nodes[*id];
        match node.node_type {
            NodeType::SeqScan => {
                node.total_cost.unwrap_or(0.0) >= t.seq_scan_min_rows * CPU_TUPLE_COST
            }
            _ => node.plan_rows.unwrap_or(0.0) >= t.seq_scan_min_rows,
        }
    };
    let Some(scan) = scans_of(ctx, subplan.id)
        .into_iter()
        .filter(heavy)
        .max_by(|a, b| {
            let cost = |id: &usize| ctx.nodes[*id].total_cost.unwrap_or(0.0);
            cost(a).total_cmp(&cost(b))
        })
    else {
        return Err(format!(
            "no scan inside it is planned to read {} rows or more per execution",
            fmt_count(t.seq_scan_min_rows)
        ));
    };
    let scan_node = ctx.nodes[scan];
    let relation = scan_node.relation_name.clone().unwrap_or_default();
    let all_cost = per_execution_cost * executions;
    let total = ctx.explain.plan.total_cost.unwrap_or(0.0);
    // The planner does not always charge a SubPlan per row in its parent's cost (a Join Filter's
    // is not), so the share is of the larger of the two.
    let share = if all_cost > 0.0 {
        (all_cost / total.max(all_cost)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (conditions, columns) = correlation(scan_node);
    let parent_rows = ctx.nodes[subplan.parent].plan_rows.unwrap_or(0.0);
    let mut ev = vec![
        evidence(
            "figures",
            "planner estimates: the statement was not executed",
        ),
        evidence("subplan", format!("{} in {}", subplan.name, subplan.place)),
        evidence(
            "executions (planned)",
            if by_cost > by_rows {
                format!(
                    "at least {} (the executions the planner charged its parent for)",
                    fmt_count(executions)
                )
            } else {
                format!(
                    "at least {} (the rows planned for its parent, {} per run)",
                    fmt_count(executions),
                    fmt_count(parent_rows)
                )
            },
        ),
        evidence(
            "per execution",
            format!(
                "{} on {relation}, cost {per_execution_cost:.0}",
                scan_node.label()
            ),
        ),
        evidence(
            "planned cost of all executions",
            format!(
                "{all_cost:.0} ({} of the statement's, plan total {total:.0})",
                fmt_pct(share)
            ),
        ),
    ];
    for condition in &conditions {
        ev.push(evidence("correlated by", condition.clone()));
    }
    let mut finding = ctx.finding(
        RuleId::CorrelatedSubplan,
        scan,
        0.0,
        conditions,
        format!(
            "{} is planned to run at least {} times, once per row of {}, each time with a {} on {relation} (estimated)",
            subplan.name,
            fmt_count(executions),
            subplan.place,
            scan_node.label()
        ),
        ev,
        advice(&relation, &columns, scan_node.index_name.as_deref()),
    );
    // No time is known: the share is of the planned cost, and so is the severity.
    finding.share_at_stake = share;
    finding.severity = Severity::for_share(share);
    Ok(finding)
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn correlated_subplan_fires_on_an_analysed_aggregate_subquery_reading_lineitem_per_part() {
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("correlated_subplan_analyzed.json");
        let [f] = findings(&d, "correlated-subplan")[..] else {
            panic!("{:?}", d.findings)
        };
        assert_eq!(f.relation.as_deref(), Some("public.lineitem"));
        assert_eq!(analysis.nodes[f.node_id].label, "Seq Scan");
        assert_eq!(evidence_value(f, "executions"), "250");
        assert_eq!(
            evidence_value(f, "rows read per execution"),
            "20,000 of lineitem (Seq Scan)"
        );
        assert_eq!(evidence_value(f, "rows read in all"), "5,000,000");
        assert!(
            f.advice
                .starts_with("index lineitem (l_partkey) so each execution seeks"),
            "{}",
            f.advice
        );
        assert!(f.advice.contains("LATERAL"), "{}", f.advice);
        assert_eq!(
            f.severity,
            Severity::for_stake(f.share_at_stake, f.time_at_stake_ms, &Thresholds::default())
        );
        insta::assert_json_snapshot!(findings(&d, "correlated-subplan"));
    }

    #[test]
    fn correlated_subplan_fires_on_the_estimated_plan_with_planned_executions() {
        let d = diagnose_fixture("correlated_subplan_estimated.json").diagnosis;
        assert!(d.estimated);
        // Only the rules that can judge estimates ran.
        assert_eq!(rules_fired(&d), ["correlated-subplan"]);
        let f = finding(&d, "correlated-subplan");
        assert_eq!(f.relation.as_deref(), Some("public.lineitem"));
        assert_eq!(
            evidence_value(f, "figures"),
            "planner estimates: the statement was not executed"
        );
        assert!(
            evidence_value(f, "executions (planned)").starts_with("at least "),
            "{:?}",
            f.evidence
        );
        assert!(f.summary.ends_with("(estimated)"), "{}", f.summary);
        assert_eq!(f.time_at_stake_ms, 0.0);
        assert_eq!(f.severity, Severity::for_share(f.share_at_stake));
        assert!(f.advice.contains("(l_partkey)"), "{}", f.advice);
        insta::assert_json_snapshot!(findings(&d, "correlated-subplan"));
    }

    #[test]
    fn correlated_subplan_in_a_filter_names_every_correlated_column() {
        let d = diagnose_fixture("correlated_subplan_filter_estimated.json").diagnosis;
        let f = finding(&d, "correlated-subplan");
        assert_eq!(f.relation.as_deref(), Some("public.lineitem"));
        assert!(
            evidence_value(f, "subplan").contains("the Filter of Index Scan on partsupp"),
            "{:?}",
            f.evidence
        );
        assert!(f.advice.contains("(l_partkey, l_suppkey)"), "{}", f.advice);
        insta::assert_json_snapshot!(findings(&d, "correlated-subplan"));
    }

    #[test]
    fn correlated_subplan_fires_on_tpch_q17_and_q20_planned_at_scale_0_2() {
        // Plain EXPLAIN at SF 0.2 (lineitem 1.2 M rows): both ran past 60 s under ANALYZE.
        let q17 = diagnose_fixture("correlated_subplan_tpch_q17_estimated.json").diagnosis;
        let f = finding(&q17, "correlated-subplan");
        assert_eq!(f.relation.as_deref(), Some("public.lineitem"));
        assert_eq!(
            evidence_value(f, "subplan"),
            "SubPlan 1 in the Join Filter of Hash Join"
        );
        assert!(
            f.advice.starts_with("index lineitem (l_partkey) "),
            "{}",
            f.advice
        );
        assert_eq!(f.severity, Severity::Critical);
        let q20 = diagnose_fixture("correlated_subplan_tpch_q20_estimated.json").diagnosis;
        let f = finding(&q20, "correlated-subplan");
        // Below a Materialize the loops above it do not multiply: 404 parts, and the planner
        // charged the partsupp scan for 4 executions per part.
        assert_eq!(
            evidence_value(f, "executions (planned)"),
            "at least 1,616 (the executions the planner charged its parent for)"
        );
        assert_eq!(f.severity, Severity::Critical);
        assert!(
            f.advice
                .starts_with("index lineitem (l_partkey, l_suppkey) "),
            "{}",
            f.advice
        );
        insta::assert_json_snapshot!([q17.findings, q20.findings]);
    }

    #[test]
    fn correlated_subplan_near_miss_an_index_seek_per_execution() {
        // subplan.json: a count per customer, each execution an index-only seek of 50 rows.
        let d = diagnose_fixture("subplan.json").diagnosis;
        let c = check(&d, "correlated-subplan");
        assert_eq!(
            c.reason,
            "SubPlan 1: each execution reads 50 rows of orders (< 10,000): cheap per run"
        );
    }

    #[test]
    fn correlated_subplan_near_miss_few_rows_per_execution() {
        let thresholds = Thresholds {
            seq_scan_min_rows: 1_000_000.0,
            ..Thresholds::default()
        };
        let d = diagnose_fixture_with("correlated_subplan_analyzed.json", &thresholds).diagnosis;
        let c = check(&d, "correlated-subplan");
        assert_eq!(
            c.reason,
            "SubPlan 1: each execution reads 20,000 rows of lineitem (< 1,000,000): cheap per run"
        );
    }
}
