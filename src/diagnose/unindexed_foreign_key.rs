//! `unindexed-foreign-key`: the statement joins two tables through a foreign key whose
//! referencing columns lead no index, on a scan of the referencing table that is more than tiny.
//! Low severity on purpose: when the join keeps a small share of the rows, `join-full-scan`
//! reports the scan with the time at stake and names the key there; this rule covers the joins
//! that keep most rows, where the index would not speed this statement but the key is still
//! unserved (every `DELETE` of a referenced row, or update of its key, reads the whole
//! referencing table to check it). The facts come from the catalog ([`super::SchemaFacts`]); a
//! saved plan has none, and this rule then says nothing.

use super::join_full_scan::{describe_foreign_key, foreign_key_followed, join_inputs, rows_read};
use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::pg::{quote_ident, quote_qualified};
use crate::units::fmt_count;

#[derive(Debug)]
pub struct UnindexedForeignKey;

impl Rule for UnindexedForeignKey {
    fn id(&self) -> RuleId {
        RuleId::UnindexedForeignKey
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        if ctx.facts.unindexed_foreign_keys.is_empty() {
            return;
        }
        let mut named: Vec<(usize, &str)> = Vec::new();
        for input in join_inputs(ctx) {
            let metrics = &ctx.analysis.nodes[input.scan];
            if metrics.loops.unwrap_or(0.0) == 0.0 {
                continue;
            }
            let Some(fk) = foreign_key_followed(ctx, input.join, input.scan, input.other) else {
                continue;
            };
            if named.contains(&(input.scan, fk.name.as_str())) {
                continue;
            }
            named.push((input.scan, fk.name.as_str()));
            let relation = metrics.relation.clone().unwrap_or_default();
            let described = describe_foreign_key(fk);
            let read = rows_read(ctx, input.scan);
            let mut not_a_finding = |reason: String| {
                checks.push(Check {
                    rule: self.id(),
                    node_id: input.scan,
                    reason,
                })
            };
            // join-full-scan ran first and already names the key, with the time at stake.
            if findings
                .iter()
                .any(|f| f.rule == RuleId::JoinFullScan && f.node_id == input.scan)
            {
                not_a_finding(format!(
                    "{relation}: join-full-scan reports this scan and names foreign key {}",
                    fk.name
                ));
                continue;
            }
            if read < ctx.thresholds.unindexed_fk_min_rows {
                not_a_finding(format!(
                    "{relation}: foreign key {described} has no index, but the table is tiny ({} rows read < {})",
                    fmt_count(read),
                    fmt_count(ctx.thresholds.unindexed_fk_min_rows)
                ));
                continue;
            }
            let table = quote_qualified(Some(&fk.table.schema), &fk.table.name);
            let columns: Vec<String> = fk.columns.iter().map(|c| quote_ident(c)).collect();
            let referenced = format!("{}.{}", fk.referenced.schema, fk.referenced.name);
            let join = ctx.nodes[input.join];
            let conditions = super::join_full_scan::join_conditions(join);
            findings.push(ctx.finding(
                self.id(),
                input.scan,
                // Nothing of this statement's time: its join needs the rows it reads.
                0.0,
                conditions.clone(),
                format!(
                    "the statement joins {relation} through foreign key {described}, which has no index on {}",
                    fk.table.name
                ),
                vec![
                    evidence("foreign key", described.clone()),
                    evidence("rows read", fmt_count(read)),
                    evidence("join condition", conditions.join(" AND ")),
                ],
                format!(
                    "`CREATE INDEX ON {table} ({})` if {referenced} rows are deleted or their key updated (each one otherwise reads {relation} whole to check {}), or other statements fetch {relation} rows by it; this join keeps most of the rows it reads, so it would not gain",
                    columns.join(", "),
                    fk.name
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{SchemaFacts, Severity, Thresholds};

    fn facts() -> SchemaFacts {
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
    fn unindexed_foreign_key_fires_on_a_join_that_keeps_most_rows() {
        // join_keeps_most.json: every order item joined to its order; the join needs them all, so
        // join-full-scan is quiet, but the key it follows has no index on order_items.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture_with_facts("join_keeps_most.json", &Thresholds::default(), facts());
        assert_quiet(&d, "join-full-scan");
        let f = finding(&d, "unindexed-foreign-key");
        assert_eq!(analysis.nodes[f.node_id].label, "Parallel Seq Scan");
        assert_eq!(f.relation.as_deref(), Some("public.order_items"));
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(f.time_at_stake_ms, 0.0);
        assert!(
            f.summary.ends_with(
                "foreign key order_items_order_id_fkey (order_id) → public.orders (id), which has no index on order_items"
            ),
            "{}",
            f.summary
        );
        assert!(
            f.advice
                .starts_with(r#"`CREATE INDEX ON "public"."order_items" ("order_id")`"#),
            "{}",
            f.advice
        );
        insta::assert_json_snapshot!(findings(&d, "unindexed-foreign-key"));
    }

    #[test]
    fn unindexed_foreign_key_is_quiet_without_catalog_facts() {
        let d = diagnose_fixture("join_keeps_most.json").diagnosis;
        assert_quiet(&d, "unindexed-foreign-key");
        assert!(checks(&d, "unindexed-foreign-key").is_empty());
    }

    #[test]
    fn unindexed_foreign_key_near_miss_a_tiny_table() {
        let thresholds = Thresholds {
            unindexed_fk_min_rows: 10_000_000.0,
            ..Thresholds::default()
        };
        let d = diagnose_fixture_with_facts("join_keeps_most.json", &thresholds, facts()).diagnosis;
        let c = check(&d, "unindexed-foreign-key");
        assert!(c.reason.contains("the table is tiny"), "{c:?}");
    }
}
