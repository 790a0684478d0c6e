//! `index-filter-waste`: an index scan (or bitmap heap scan) that fetches rows through its index
//! condition and then throws most of them away with a Filter. The index narrows on the wrong
//! columns; adding the filter's columns to it (or a partial index) stops fetching the waste.

use super::{Check, Context, Finding, Rule, RuleId, evidence};
use crate::pg::{quote_ident, quote_qualified};
use crate::plan::conditions::{ColumnRef, is_row_predicate, own_qualifiers, referenced_columns};
use crate::plan::{LoopRows, NodeType, RemovedShare};
use crate::units::{fmt_count, fmt_ms};

#[derive(Debug)]
pub struct IndexFilterWaste;

const INDEX_SCANS: [NodeType; 3] = [
    NodeType::IndexScan,
    NodeType::IndexOnlyScan,
    NodeType::BitmapHeapScan,
];

impl Rule for IndexFilterWaste {
    fn id(&self) -> RuleId {
        RuleId::IndexFilterWaste
    }

    fn check(&self, ctx: &Context<'_>, findings: &mut Vec<Finding>, checks: &mut Vec<Check>) {
        let t = ctx.thresholds;
        for (metrics, node) in ctx.analysis.nodes.iter().zip(&ctx.nodes) {
            if !INDEX_SCANS.contains(&node.node_type) {
                continue;
            }
            let Some(filter) = &node.filter else {
                continue;
            };
            let loops = metrics.loops.unwrap_or(0.0);
            if loops == 0.0 {
                continue;
            }
            let relation = metrics.relation.clone().unwrap_or_default();
            // Per-loop averages the server rounded: over many loops, the share is a range.
            let returned_rows = LoopRows::new(node.actual_rows.unwrap_or(0.0), loops);
            let removed_rows = LoopRows::new(node.rows_removed_by_filter.unwrap_or(0.0), loops);
            let returned = returned_rows.total();
            let removed = removed_rows.total();
            let fetched = returned + removed;
            let share = RemovedShare::of(removed_rows, returned_rows);
            let removed_share = share.likely();
            if removed < t.index_filter_min_removed_rows
                || removed_share < t.index_filter_min_removed_share
            {
                checks.push(Check {
                    rule: self.id(),
                    node_id: metrics.id,
                    reason: format!(
                        "{relation}: the filter discards {} of {} fetched rows ({}); a small waste",
                        fmt_count(removed),
                        fmt_count(fetched),
                        share.describe()
                    ),
                });
                continue;
            }
            let exclusive_ms = metrics.exclusive_time_ms.unwrap_or(0.0);
            let ms = exclusive_ms * removed_share;
            // A bitmap heap scan repeats its index condition as the Recheck Cond.
            let index_cond = node.index_cond.as_ref().or(node.recheck_cond.as_ref());
            let qualifiers = own_qualifiers(node);
            let index_columns = index_cond
                .map(|c| referenced_columns(c, &qualifiers))
                .unwrap_or_default();
            let filter_columns = referenced_columns(filter, &qualifiers);
            let mut ev = vec![
                evidence("rows fetched", fmt_count(fetched)),
                evidence("rows returned", returned_rows.describe()),
                evidence(
                    "rows removed by filter",
                    format!("{} ({})", fmt_count(removed), share.describe()),
                ),
                evidence("loops", fmt_count(loops)),
                evidence("exclusive time", format!("{} ms", fmt_ms(exclusive_ms))),
                evidence("filter", filter.clone()),
            ];
            let mut expressions = Vec::new();
            if let Some(cond) = index_cond {
                ev.push(evidence("index condition", cond.clone()));
                expressions.push(cond.clone());
            }
            expressions.push(filter.clone());
            let index = metrics
                .index_name
                .clone()
                .or_else(|| {
                    ctx.children_of(metrics.id)
                        .find_map(|c| c.index_name.clone())
                })
                .unwrap_or_else(|| "its index".into());
            // Copy-paste SQL: names quoted (the filter is PostgreSQL's own deparse, already quoted).
            let table = quote_qualified(
                node.schema.as_deref(),
                node.relation_name.as_deref().unwrap_or_default(),
            );
            let columns: Vec<String> = composite_columns(&index_columns, &filter_columns)
                .iter()
                .map(|c| quote_ident(c))
                .collect();
            let mut advice = format!(
                "add the filter's columns to the index (equality columns first, then one range column), replacing {index}: `CREATE INDEX ON {table} ({})`",
                columns.join(", ")
            );
            if is_row_predicate(filter, &qualifiers) {
                let index_list: Vec<String> =
                    index_columns.iter().map(|c| quote_ident(&c.name)).collect();
                let list = if index_list.is_empty() {
                    columns.join(", ")
                } else {
                    index_list.join(", ")
                };
                advice.push_str(&format!(
                    "; or, if the query always filters this way, a partial index holding only the rows kept: `CREATE INDEX ON {table} ({list}) WHERE {}`",
                    unqualified(filter, &qualifiers)
                ));
            }
            findings.push(ctx.finding(
                self.id(),
                metrics.id,
                ms,
                expressions,
                format!(
                    "{} on {relation} fetches {} rows through {index} and its filter discards {}",
                    metrics.label,
                    fmt_count(fetched),
                    share.describe()
                ),
                ev,
                advice,
            ));
        }
    }
}

/// A composite index's columns: equality columns (index condition's, then filter's) first, then
/// the range columns, each once.
fn composite_columns(index: &[ColumnRef], filter: &[ColumnRef]) -> Vec<String> {
    let all: Vec<&ColumnRef> = index.iter().chain(filter).collect();
    let mut columns: Vec<String> = Vec::new();
    for column in all
        .iter()
        .filter(|c| c.equality)
        .chain(all.iter().filter(|c| !c.equality))
    {
        if !columns.contains(&column.name) {
            columns.push(column.name.clone());
        }
    }
    columns
}

/// The filter text without the scan's own qualifiers (`people.score` → `score`), as CREATE INDEX
/// wants it.
fn unqualified(filter: &str, qualifiers: &[&str]) -> String {
    let mut text = String::with_capacity(filter.len());
    let mut rest = filter;
    while let Some(c) = rest.chars().next() {
        let at_word_start = !text.ends_with(|p: char| p.is_alphanumeric() || p == '_');
        let qualifier = qualifiers
            .iter()
            .find(|q| at_word_start && rest.starts_with(&format!("{q}.")));
        match qualifier {
            Some(q) => rest = &rest[q.len() + 1..],
            None => {
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_support::*;
    use crate::diagnose::{Severity, Thresholds};

    #[test]
    fn index_filter_waste_fires_on_a_bitmap_scan_filtering_95_percent() {
        // index_filter_waste.json: status = 'dormant' via the index, score < 50 filtered after.
        let Diagnosed {
            diagnosis: d,
            analysis,
            ..
        } = diagnose_fixture("index_filter_waste.json");
        let [f] = findings(&d, "index-filter-waste")[..] else {
            panic!("{:?}", d.findings)
        };
        let scan = &analysis.nodes[f.node_id];
        assert_eq!(scan.label, "Bitmap Heap Scan");
        let removed_share = 190_000.0 / 200_000.0;
        assert_eq!(
            f.time_at_stake_ms,
            scan.exclusive_time_ms.unwrap() * removed_share
        );
        assert_eq!(
            f.severity,
            Severity::for_stake(f.share_at_stake, f.time_at_stake_ms, &Thresholds::default())
        );
        assert_eq!(
            evidence_value(f, "rows removed by filter"),
            "190,000 (95.0%)"
        );
        assert_eq!(
            f.expressions,
            vec![
                "(people.status = 'dormant'::text)".to_string(),
                "(people.score < 50)".to_string()
            ]
        );
        assert!(
            f.advice
                .contains(r#"CREATE INDEX ON "public"."people" ("status", "score")"#),
            "{}",
            f.advice
        );
        assert!(
            f.advice
                .contains(r#"CREATE INDEX ON "public"."people" ("status") WHERE (score < 50)"#),
            "{}",
            f.advice
        );
        insta::assert_json_snapshot!(findings(&d, "index-filter-waste"));
    }

    #[test]
    fn index_filter_waste_fires_on_an_index_scan_with_equality_filter_first() {
        // nested_loop_many_loops.json: customers by id < 10000, filtered on country = 'FR'.
        let d = diagnose_fixture("nested_loop_many_loops.json").diagnosis;
        let [f] = findings(&d, "index-filter-waste")[..] else {
            panic!("{:?}", d.findings)
        };
        assert_eq!(f.relation.as_deref(), Some("customers"));
        assert!(
            f.advice
                .contains(r#"CREATE INDEX ON "customers" ("country", "id")"#),
            "{}",
            f.advice
        );
        insta::assert_json_snapshot!(findings(&d, "index-filter-waste"));
    }

    #[test]
    fn index_filter_waste_sql_quotes_a_hostile_table_name() {
        // The same real plan with the table renamed `Odd "Cust.omers"` in schema `My App`.
        let d = diagnose_fixture_edited(
            "nested_loop_many_loops.json",
            &crate::diagnose::Thresholds::default(),
            |text| {
                text.replace(
                    r#""Relation Name": "customers","#,
                    r#""Relation Name": "Odd \"Cust.omers\"", "Schema": "My App","#,
                )
            },
        )
        .diagnosis;
        let [f] = findings(&d, "index-filter-waste")[..] else {
            panic!("{:?}", d.findings)
        };
        assert!(
            f.advice
                .contains(r#"CREATE INDEX ON "My App"."Odd ""Cust.omers""" ("country", "id")"#),
            "{}",
            f.advice
        );
        assert!(
            f.advice.contains(
                r#"CREATE INDEX ON "My App"."Odd ""Cust.omers""" ("id") WHERE (country = 'FR'::text)"#
            ),
            "{}",
            f.advice
        );
    }

    #[test]
    fn index_filter_waste_near_miss_small_waste() {
        // initplan.json: the filter on amount > $0 discards 50 rows.
        let d = diagnose_fixture("initplan.json").diagnosis;
        assert!(
            findings(&d, "index-filter-waste").is_empty(),
            "{:?}",
            d.findings
        );
        let [c] = checks(&d, "index-filter-waste")[..] else {
            panic!("{:?}", d.checks)
        };
        assert_eq!(
            c.reason,
            "orders: the filter discards 50 of 50 fetched rows (100.0%); a small waste"
        );
    }

    /// The semi join's inner Index Scan of `semi_anti_join_rounded_rows.json`, its per-loop
    /// `Actual Rows` set to `rows` (PostgreSQL 18 prints two decimals).
    fn with_inner_rows(text: String, rows: f64) -> String {
        let mut plan: serde_json::Value = serde_json::from_str(&text).unwrap();
        let inner = &mut plan[0]["Plan"]["Plans"][0]["Plans"][1];
        assert_eq!(inner["Node Type"], "Index Scan");
        inner["Actual Rows"] = serde_json::json!(rows);
        plan.to_string()
    }

    #[test]
    fn index_filter_waste_never_reads_a_rounded_zero_as_none() {
        // semi_anti_join_rounded_rows.json (PostgreSQL 15): the EXISTS side of a q21-shaped
        // query, an Index Scan run 48,000 times; per loop it printed 0 rows returned and 6
        // removed by its filter, averages rounded to whole rows. 0 may be up to half a row per
        // loop (24,000 rows in all), 6 anything from 5.5 to 6.5.
        let d = diagnose_fixture("semi_anti_join_rounded_rows.json").diagnosis;
        let f = finding(&d, "index-filter-waste");
        assert_eq!(
            evidence_value(f, "rows returned"),
            "under 1 per loop over 48,000 loops (the server printed the rounded average, 0)"
        );
        assert_eq!(
            evidence_value(f, "rows removed by filter"),
            "288,000 (91.7%–100.0%)"
        );
        assert!(
            f.summary.ends_with("its filter discards 91.7%–100.0%"),
            "{}",
            f.summary
        );
        // The time at stake counts the middle of that range.
        let scan = &diagnose_fixture("semi_anti_join_rounded_rows.json")
            .analysis
            .nodes[f.node_id];
        assert_close(
            f.time_at_stake_ms,
            scan.exclusive_time_ms.unwrap() * (264_000.0 / 288_000.0 + 1.0) / 2.0,
        );
        // The filter names the outer query's alias: no partial index can hold it.
        assert!(!f.advice.contains("WHERE"), "{}", f.advice);
    }

    #[test]
    fn index_filter_waste_takes_fractional_rows_as_printed() {
        // The same plan as PostgreSQL 18 prints it: 0.40 rows per loop is 19,200 rows.
        let d = diagnose_fixture_edited(
            "semi_anti_join_rounded_rows.json",
            &Thresholds::default(),
            |text| with_inner_rows(text, 0.4),
        )
        .diagnosis;
        let f = finding(&d, "index-filter-waste");
        assert_eq!(evidence_value(f, "rows returned"), "19,200");
        // Rows Removed by Filter stays a whole number in every version: 6 is 5.5 to 6.5.
        assert_eq!(
            evidence_value(f, "rows removed by filter"),
            "288,000 (93.2%–94.2%)"
        );
    }
}
