//! `join-full-scan`: a large table read in full (or mostly) to feed a hash or merge join that
//! keeps only a small share of its rows. The classic case is a foreign key with no index on the
//! referencing side: `orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.customer_id = 77`
//! reads every item to keep the few of one customer's orders, where a nested loop over an index on
//! `order_items (order_id)` would fetch only those. The seq-scan rule does not see it: the scan
//! has no filter, the join does the discarding.
//!
//! Also the join walk that `unindexed-foreign-key` shares: which table scan feeds each side of a
//! join (through nodes that pass rows on unchanged), and the foreign key a join condition follows.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::pg::catalog::ForeignKey;
use crate::pg::quote_ident;
use crate::plan::conditions::{PredicateKind, TableRef, Target, parse_condition};
use crate::plan::{NodeType, PlanNode};
use crate::units::{fmt_count, fmt_ms, fmt_pct};

#[derive(Debug)]
pub struct JoinFullScan;

/// Which input of the join a scan feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Outer,
    Inner,
}

/// A table scan feeding one side of a hash or merge join.
#[derive(Debug)]
pub(super) struct JoinInput {
    pub join: usize,
    pub scan: usize,
    /// The pass-through nodes between them (Hash, Sort, ...), nearest the join first.
    pub through: Vec<usize>,
    pub side: Side,
    /// The join's other input (its top node).
    pub other: usize,
}

/// The join's input nodes (not its InitPlans or SubPlans), outer first.
fn inputs(ctx: &Context<'_>, id: usize) -> Vec<usize> {
    ctx.children_of(id)
        .map(|c| c.id)
        .filter(|&c| {
            matches!(
                ctx.nodes[c].parent_relationship.as_deref(),
                Some("Outer" | "Inner") | None
            )
        })
        .collect()
}

/// Every table scan that feeds a hash or merge join, directly or through pass-through nodes.
pub(super) fn join_inputs(ctx: &Context<'_>) -> Vec<JoinInput> {
    let mut found = Vec::new();
    for (join, node) in ctx.nodes.iter().enumerate() {
        if !matches!(node.node_type, NodeType::HashJoin | NodeType::MergeJoin) {
            continue;
        }
        let [outer, inner] = inputs(ctx, join)[..] else {
            continue;
        };
        for (side, top, other) in [(Side::Outer, outer, inner), (Side::Inner, inner, outer)] {
            let mut current = top;
            let mut through = Vec::new();
            while ctx.nodes[current].node_type.passes_rows_through() {
                match inputs(ctx, current)[..] {
                    [only] => {
                        through.push(current);
                        current = only;
                    }
                    _ => break,
                }
            }
            let scan = ctx.nodes[current];
            if scan.node_type.is_table_scan() && scan.relation_name.is_some() {
                found.push(JoinInput {
                    join,
                    scan: current,
                    through,
                    side,
                    other,
                });
            }
        }
    }
    found
}

/// The join's conditions as EXPLAIN prints them: the hash or merge condition, then its Join Filter.
pub(super) fn join_conditions(join: &PlanNode) -> Vec<String> {
    join.hash_cond
        .iter()
        .chain(&join.merge_cond)
        .chain(&join.join_filter)
        .cloned()
        .collect()
}

fn table_ref(node: &PlanNode) -> Option<TableRef<'_>> {
    Some(TableRef {
        relation: node.relation_name.as_deref()?,
        alias: node.alias.as_deref(),
    })
}

/// The columns of `scan`'s table that the join's conditions equate with another table's.
pub(super) fn join_key_columns(join: &PlanNode, scan: &PlanNode) -> Vec<String> {
    let Some(table) = table_ref(scan) else {
        return Vec::new();
    };
    let mut columns: Vec<String> = Vec::new();
    for condition in join_conditions(join) {
        for p in parse_condition(&condition, table) {
            if p.join_key
                && p.kind == PredicateKind::Equality
                && let Target::Column(c) = p.target
                && !columns.contains(&c)
            {
                columns.push(c);
            }
        }
    }
    columns
}

/// Whether `node` reads `table` (`schema` compared only when the plan names it).
fn reads(node: &PlanNode, schema: &str, name: &str) -> bool {
    node.relation_name.as_deref() == Some(name)
        && node.schema.as_deref().is_none_or(|s| s == schema)
}

/// The node and every node below it.
fn subtree(ctx: &Context<'_>, top: usize) -> Vec<usize> {
    let mut ids = vec![top];
    let mut i = 0;
    while i < ids.len() {
        ids.extend(ctx.children_of(ids[i]).map(|c| c.id));
        i += 1;
    }
    ids
}

/// The unindexed foreign key from the scanned table that the join follows: its conditions equate
/// each of the key's referencing columns (on `scan`) with the referenced column (on a scan of the
/// referenced table in the join's `other` input).
pub(super) fn foreign_key_followed<'f>(
    ctx: &Context<'f>,
    join: usize,
    scan: usize,
    other: usize,
) -> Option<&'f ForeignKey> {
    let scan_node = ctx.nodes[scan];
    let ours = table_ref(scan_node)?;
    let conditions = join_conditions(ctx.nodes[join]);
    // Conjunct text → our column, for each equality of one of our columns with another table's.
    let mut our_keys: Vec<(String, String)> = Vec::new();
    for condition in &conditions {
        for p in parse_condition(condition, ours) {
            if p.join_key
                && p.kind == PredicateKind::Equality
                && let Target::Column(c) = p.target
            {
                our_keys.push((p.text, c));
            }
        }
    }
    if our_keys.is_empty() {
        return None;
    }
    let others = subtree(ctx, other);
    ctx.facts.unindexed_foreign_keys.iter().find(|fk| {
        reads(scan_node, &fk.table.schema, &fk.table.name)
            && others.iter().any(|&id| {
                let node = ctx.nodes[id];
                let Some(theirs) = table_ref(node) else {
                    return false;
                };
                if !node.node_type.is_table_scan()
                    || !reads(node, &fk.referenced.schema, &fk.referenced.name)
                {
                    return false;
                }
                // The same conjunct read from the referenced table's side names its column.
                let mut pairs: Vec<(&str, String)> = Vec::new();
                for condition in &conditions {
                    for p in parse_condition(condition, theirs) {
                        if let Target::Column(c) = p.target
                            && let Some((_, mine)) = our_keys.iter().find(|(t, _)| *t == p.text)
                        {
                            pairs.push((mine.as_str(), c));
                        }
                    }
                }
                fk.columns
                    .iter()
                    .zip(&fk.referenced_columns)
                    .all(|(mine, theirs)| pairs.iter().any(|(m, t)| m == mine && t == theirs))
            })
    })
}

/// `order_items_order_id_fkey (order_id) → public.orders (id)`.
pub(super) fn describe_foreign_key(fk: &ForeignKey) -> String {
    format!(
        "{} ({}) → {}.{} ({})",
        fk.name,
        fk.columns.join(", "),
        fk.referenced.schema,
        fk.referenced.name,
        fk.referenced_columns.join(", ")
    )
}

/// Rows a scan read: those it returned and those its filter or a recheck discarded, over all loops.
pub(super) fn rows_read(ctx: &Context<'_>, scan: usize) -> f64 {
    let metrics = &ctx.analysis.nodes[scan];
    let node = ctx.nodes[scan];
    let loops = metrics.loops.unwrap_or(0.0);
    metrics.actual_rows_total.unwrap_or(0.0)
        + (node.rows_removed_by_filter.unwrap_or(0.0)
            + node.rows_removed_by_index_recheck.unwrap_or(0.0))
            * loops
}

/// A share that may be far below a tenth of a percent, which `fmt_pct` would print as `0.0%`.
fn fmt_small_pct(share: f64) -> String {
    if share > 0.0 && share < 0.001 {
        "<0.1%".to_owned()
    } else {
        fmt_pct(share)
    }
}

/// The join's name with its kind, as a reader knows it: `Parallel Hash Join (inner)`.
fn join_kind(join: &PlanNode) -> String {
    match &join.join_type {
        Some(kind) => format!("{} ({})", join.label(), kind.to_lowercase()),
        None => join.label(),
    }
}

/// Whether the join returns every row of that side, matched or not: then no index spares reading
/// them.
fn preserves(join: &PlanNode, side: Side) -> bool {
    matches!(
        (join.join_type.as_deref(), side),
        (Some("Full"), _)
            | (Some("Left" | "Anti"), Side::Outer)
            | (Some("Right" | "Right Anti"), Side::Inner)
    )
}

impl Rule for JoinFullScan {
    fn id(&self) -> RuleId {
        RuleId::JoinFullScan
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let t = ctx.thresholds;
        for input in join_inputs(ctx) {
            let scan_metrics = &ctx.analysis.nodes[input.scan];
            let join_metrics = &ctx.analysis.nodes[input.join];
            let scan = ctx.nodes[input.scan];
            let join = ctx.nodes[input.join];
            if scan_metrics.loops.unwrap_or(0.0) == 0.0 {
                continue;
            }
            let relation = scan_metrics.relation.clone().unwrap_or_default();
            let mut not_a_finding = |reason: String| {
                checks.push(Check {
                    rule: self.id(),
                    node_id: input.scan,
                    reason,
                })
            };
            let read = rows_read(ctx, input.scan);
            let produced = scan_metrics.actual_rows_total.unwrap_or(0.0);
            let kept = join_metrics.actual_rows_total.unwrap_or(0.0);
            let seeks = ctx.analysis.nodes[input.other]
                .actual_rows_total
                .unwrap_or(0.0);
            let kind = join_kind(join);
            if read < t.seq_scan_min_rows {
                not_a_finding(format!(
                    "{relation}: small ({} rows read < {}); reading it whole for the {kind} is cheap",
                    fmt_count(read),
                    fmt_count(t.seq_scan_min_rows)
                ));
                continue;
            }
            if preserves(join, input.side) {
                not_a_finding(format!(
                    "{relation}: the {kind} returns each of its rows, matched or not; every row is needed"
                ));
                continue;
            }
            if produced <= 0.0 {
                continue;
            }
            let kept_share = kept / produced;
            // Rows the join's Join Filter discarded still matched its key: an index on the key
            // would fetch them too.
            let matched = kept
                + join.rows_removed_by_join_filter.unwrap_or(0.0)
                    * join_metrics.loops.unwrap_or(0.0);
            if matched > kept && matched / produced > t.join_max_kept_share {
                not_a_finding(format!(
                    "{relation}: the {kind} keeps {} of its {} rows, but {} match its key before the Join Filter; an index on the key would fetch them all",
                    fmt_count(kept),
                    fmt_count(produced),
                    fmt_count(matched)
                ));
                continue;
            }
            if kept_share > t.join_max_kept_share {
                not_a_finding(format!(
                    "{relation}: the {kind} keeps {} of the {} rows it reads from it; reading them all is the right plan",
                    fmt_pct(kept_share.min(1.0)),
                    fmt_count(produced)
                ));
                continue;
            }
            if seeks > t.join_max_kept_share * produced {
                not_a_finding(format!(
                    "{relation}: the {kind} keeps {} of its {} rows, but the other side brings {} rows: a nested loop would seek that many times, no cheaper than reading the table",
                    fmt_count(kept),
                    fmt_count(produced),
                    fmt_count(seeks)
                ));
                continue;
            }
            // seq-scan ran first: a scan whose own filter is already flagged keeps that finding
            // (its advice narrows the same read), and this rule adds nothing on top.
            if findings
                .iter()
                .any(|f| f.rule == RuleId::SeqScan && f.node_id == input.scan)
            {
                not_a_finding(format!(
                    "{relation}: seq-scan already reports this scan; the {kind} keeps {} of the {} rows its filter returns",
                    fmt_count(kept),
                    fmt_count(produced)
                ));
                continue;
            }
            let columns = join_key_columns(join, scan);
            if columns.is_empty() {
                not_a_finding(format!(
                    "{relation}: the {kind} keeps {} of its {} rows, but its condition equates no plain column of {relation} that an index could seek",
                    fmt_count(kept),
                    fmt_count(produced)
                ));
                continue;
            }
            // Exclusive times can come out a hair below zero from rounding: count them as none.
            let exclusive = |id: usize| {
                ctx.analysis.nodes[id]
                    .exclusive_time_ms
                    .unwrap_or(0.0)
                    .max(0.0)
            };
            let scan_ms = exclusive(input.scan);
            let through_ms: f64 = input.through.iter().map(|&id| exclusive(id)).sum();
            let join_ms = exclusive(input.join);
            let ms = scan_ms + through_ms + join_ms;
            let conditions = join_conditions(join);
            let fk = foreign_key_followed(ctx, input.join, input.scan, input.other);
            let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();

            let mut ev = vec![
                evidence("rows read", fmt_count(read)),
                evidence(
                    "rows the join keeps",
                    format!("{} ({})", fmt_count(kept), fmt_small_pct(kept_share)),
                ),
                evidence("rows from the other side", fmt_count(seeks)),
                evidence("join", format!("{kind}, node #{}", input.join)),
                evidence("join condition", conditions.join(" AND ")),
                evidence("time at stake", {
                    let mut parts = vec![format!("scan {} ms", fmt_ms(scan_ms))];
                    if !input.through.is_empty() {
                        parts.push(format!("passing rows on {} ms", fmt_ms(through_ms)));
                    }
                    parts.push(format!("join {} ms", fmt_ms(join_ms)));
                    format!("{} ms ({})", fmt_ms(ms), parts.join(", "))
                }),
            ];
            let mut summary = format!(
                "{} on {relation} reads {} rows to feed a {kind} that keeps {} ({})",
                scan_metrics.label,
                fmt_count(read),
                fmt_count(kept),
                fmt_small_pct(kept_share)
            );
            let mut advice = format!(
                "index the join key of {relation} ({}), so a nested loop fetches only the matching rows instead of reading {}",
                quoted.join(", "),
                fmt_count(read)
            );
            if let Some(fk) = fk {
                let described = format!(
                    "{} has no index on {}",
                    describe_foreign_key(fk),
                    fk.table.name
                );
                summary.push_str(&format!("; foreign key {described}"));
                ev.push(evidence("foreign key", described));
                advice.push_str(&format!(
                    "; the same index serves the checks of {} when {}.{} rows are deleted or their key updated",
                    fk.name, fk.referenced.schema, fk.referenced.name
                ));
            }
            findings.push(ctx.finding(self.id(), input.scan, ms, conditions, summary, ev, advice));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{SchemaFacts, Severity, Thresholds};

    fn order_items_fk() -> SchemaFacts {
        SchemaFacts {
            unindexed_foreign_keys: vec![foreign_key(
                "order_items_order_id_fkey",
                "order_items",
                &["order_id"],
                "orders",
                &["id"],
            )],
            ..SchemaFacts::default()
        }
    }

    #[test]
    fn join_full_scan_fires_on_the_probe_side_of_a_hash_join() {
        // join_probe_side.json: all 1,000,000 order items read by a Parallel Seq Scan, probed
        // against one customer's 10 orders; the Parallel Hash Join keeps 51.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("join_probe_side.json");
        let f = finding(&d, "join-full-scan");
        let scan = &analysis.nodes[f.node_id];
        assert_eq!(scan.label, "Parallel Seq Scan");
        assert_eq!(f.relation.as_deref(), Some("public.order_items"));
        let join = &analysis.nodes[scan.parent.unwrap()];
        assert_eq!(join.label, "Parallel Hash Join");
        // No pass-through node between a probe side and its join.
        assert_close(
            f.time_at_stake_ms,
            scan.exclusive_time_ms.unwrap() + join.exclusive_time_ms.unwrap(),
        );
        assert_eq!(f.severity, Severity::for_share(f.share_at_stake));
        assert_eq!(f.expressions, ["(oi.order_id = o.id)"]);
        assert_eq!(evidence_value(f, "rows the join keeps"), "51 (<0.1%)");
        assert!(
            f.advice
                .contains(r#"index the join key of public.order_items ("order_id")"#),
            "{}",
            f.advice
        );
        // Nothing known of the catalog: no foreign key named.
        assert!(!f.summary.contains("foreign key"), "{}", f.summary);
        // The filtered orders scan on the other side keeps all its rows through the join.
        let c = checks(&d, "join-full-scan");
        assert!(
            c.iter()
                .any(|c| c.reason.contains("reading them all is the right plan")),
            "{c:?}"
        );
        insta::assert_json_snapshot!(findings(&d, "join-full-scan"));
    }

    #[test]
    fn join_full_scan_names_the_unindexed_foreign_key_the_join_follows() {
        let d = diagnose_fixture_with_facts(
            "join_probe_side.json",
            &Thresholds::default(),
            order_items_fk(),
        )
        .diagnosis;
        let f = finding(&d, "join-full-scan");
        let named =
            "order_items_order_id_fkey (order_id) → public.orders (id) has no index on order_items";
        assert!(
            f.summary.ends_with(&format!("; foreign key {named}")),
            "{}",
            f.summary
        );
        assert_eq!(evidence_value(f, "foreign key"), named);
        // The join finding names the key: the low-severity rule adds nothing for that scan.
        let c = check(&d, "unindexed-foreign-key");
        assert_eq!(c.node_id, f.node_id);
        assert!(
            c.reason.contains("join-full-scan reports this scan"),
            "{c:?}"
        );

        // A key on other columns, or from the other table, is not the one this join follows.
        for fk in [
            foreign_key("x_fkey", "order_items", &["sku"], "orders", &["id"]),
            foreign_key("y_fkey", "orders", &["id"], "order_items", &["order_id"]),
        ] {
            let facts = SchemaFacts {
                unindexed_foreign_keys: vec![fk],
                ..SchemaFacts::default()
            };
            let d =
                diagnose_fixture_with_facts("join_probe_side.json", &Thresholds::default(), facts)
                    .diagnosis;
            let f = finding(&d, "join-full-scan");
            assert!(!f.summary.contains("foreign key"), "{}", f.summary);
        }
    }

    #[test]
    fn join_full_scan_fires_on_the_build_side_of_a_hash_join() {
        // join_build_side.json: order_items hashed whole (the planner expected 2,000,000 rows
        // from the function scan it probes with; there were 9).
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("join_build_side.json");
        let f = finding(&d, "join-full-scan");
        let scan = &analysis.nodes[f.node_id];
        assert_eq!(scan.label, "Seq Scan");
        let hash = &analysis.nodes[scan.parent.unwrap()];
        assert_eq!(hash.label, "Hash");
        let join = &analysis.nodes[hash.parent.unwrap()];
        // The Hash between the scan and the join counts in the time at stake.
        assert_close(
            f.time_at_stake_ms,
            [scan, hash, join]
                .iter()
                .map(|n| n.exclusive_time_ms.unwrap().max(0.0))
                .sum(),
        );
        assert_eq!(f.expressions, ["(g.id = oi.order_id)"]);
        insta::assert_json_snapshot!(findings(&d, "join-full-scan"));
    }

    #[test]
    fn join_full_scan_fires_at_a_merge_join_through_its_sort() {
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("join_merge.json");
        let f = finding(&d, "join-full-scan");
        let scan = &analysis.nodes[f.node_id];
        assert_eq!(analysis.nodes[scan.parent.unwrap()].label, "Sort");
        assert!(evidence_value(f, "join").starts_with("Merge Join (inner)"));
        assert!(evidence_value(f, "time at stake").contains("passing rows on"));
        insta::assert_json_snapshot!(findings(&d, "join-full-scan"));
    }

    #[test]
    fn join_full_scan_fires_on_each_large_table_of_a_chain() {
        // join_chain.json: customers → orders → order_items, each join keeping a few rows.
        let d = diagnose_fixture("join_chain.json").diagnosis;
        let relations: Vec<_> = findings(&d, "join-full-scan")
            .iter()
            .map(|f| f.relation.as_deref().unwrap())
            .collect();
        assert_eq!(relations, ["public.order_items", "public.orders"]);
    }

    #[test]
    fn join_full_scan_near_miss_a_join_that_keeps_most_rows() {
        let d = diagnose_fixture("join_keeps_most.json").diagnosis;
        let c = check(&d, "join-full-scan");
        assert!(
            c.reason
                .ends_with("keeps 99.5% of the 999,999 rows it reads from it; reading them all is the right plan"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn join_full_scan_leaves_a_scan_seq_scan_reports_to_it() {
        // join_seq_scan_overlap.json: order_items' own filter (qty < 3) discards 60%: seq-scan
        // reports it, and the join rule adds a check, not a second finding.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("join_seq_scan_overlap.json");
        let seq = findings(&d, "seq-scan");
        let items = seq
            .iter()
            .find(|f| f.relation.as_deref() == Some("public.order_items"))
            .expect("seq-scan on order_items");
        assert_eq!(analysis.nodes[items.node_id].label, "Parallel Seq Scan");
        let c = check(&d, "join-full-scan");
        assert_eq!(c.node_id, items.node_id);
        assert!(
            c.reason.contains("seq-scan already reports this scan"),
            "{c:?}"
        );
    }

    #[test]
    fn join_full_scan_near_miss_the_preserved_side_of_an_outer_join() {
        // The same plan as a LEFT JOIN from order_items: every item is returned, matched or not.
        let d = diagnose_fixture_edited("join_probe_side.json", &Thresholds::default(), |text| {
            text.replace(r#""Join Type": "Inner""#, r#""Join Type": "Left""#)
        })
        .diagnosis;
        let c = check(&d, "join-full-scan");
        assert!(c.reason.contains("matched or not"), "{c:?}");
    }

    #[test]
    fn join_full_scan_near_miss_rows_a_join_filter_discards() {
        // The same plan with 600,000 more items matching the key, discarded by a Join Filter:
        // an index on the key would fetch them all.
        let d = diagnose_fixture_edited("join_probe_side.json", &Thresholds::default(), |text| {
            text.replace(
                r#""Join Type": "Inner","#,
                r#""Join Type": "Inner", "Rows Removed by Join Filter": 200000,"#,
            )
        })
        .diagnosis;
        let c = check(&d, "join-full-scan");
        assert!(c.reason.contains("600,051 match its key"), "{c:?}");
    }

    #[test]
    fn join_full_scan_threshold_is_configurable() {
        let thresholds = Thresholds {
            join_max_kept_share: 0.00001,
            ..Thresholds::default()
        };
        let d = diagnose_fixture_with("join_probe_side.json", &thresholds).diagnosis;
        assert_quiet(&d, "join-full-scan");
    }
}
