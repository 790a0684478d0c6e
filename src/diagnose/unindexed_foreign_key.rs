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
                    "CREATE INDEX ON {table} ({}) if {referenced} rows are deleted or their key updated (each one otherwise reads {relation} whole to check {}), or other statements fetch {relation} rows by it; this join keeps most of the rows it reads, so it would not gain",
                    columns.join(", "),
                    fk.name
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {}
