//! Materialized views for heavy aggregates: a `heavy-aggregate` finding over one table becomes a
//! `CREATE MATERIALIZED VIEW` holding the aggregate, a unique index on its group keys (which
//! `REFRESH MATERIALIZED VIEW CONCURRENTLY` requires), the refresh statement, and the statement
//! rewritten to read the view; or a reason why no view reproduces the query's results.
//!
//! The statement is read with sqlparser, and the aggregate node is tied to the part of the
//! statement it computes through the plan (its scanned relation, and the Subquery Scan alias or CTE
//! name above it), never by guessing. Three shapes are understood:
//! - a derived table or CTE `SELECT keys.., agg(..) FROM base [WHERE constants] GROUP BY keys`
//!   joined by the outer query: the view is that subquery, and the rewrite reads the view in its
//!   place under the same alias;
//! - a top-level aggregate over one table whose WHERE compares group keys with parameters or
//!   constants: the view is grouped by those keys without that WHERE, and the rewrite applies the
//!   WHERE to the view;
//! - a top-level aggregate over a two-table join whose aggregates read one table joined on a
//!   group key of the other (`join.rs`): the view aggregates that table by its join column, and the
//!   rewrite joins the view instead.
//!
//! The files below split the work: `plan.rs` ties the node to its place, `statement.rs` reads the
//! GROUP BY query, `rewrite.rs` writes the statement that reads the view. Proof on the database is
//! the suggest pipeline's (`src/suggest/matview_proof.rs`).
//!
//! A view freezes its result until the next refresh, so anything that would make the view differ
//! from the query (volatile functions, parameters inside the aggregated part, window functions,
//! ordered aggregates) is refused with a reason.

mod join;
mod plan;
mod rewrite;
mod share;
mod statement;

use sqlparser::ast::{GroupByExpr, Query, Select, SetExpr, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::candidates::NoSuggestion;
use crate::diagnose::{Finding, RuleId};
use crate::pg::{quote_ident, quote_qualified};
use crate::plan::{Explain, NodeType};
use crate::units::{fmt_ms, fmt_pct};
use plan::{PlanContext, PlanIndex, aggregate_over_join, aggregate_over_scan, plan_context};
use rewrite::{rewrite_cte, rewrite_derived, rewrite_top};
pub use share::share_views;
use statement::{
    Aggregate, Site, Unmapped, and_all, base_table, check_subquery_clauses, check_view_part,
    conjuncts, has_group_by, hazards, ident_name, read_aggregate, sites, to_view,
};

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A materialized view that replaces a heavy aggregate, with everything needed to create, index,
/// refresh and use it.
#[derive(Debug, Clone, PartialEq)]
pub struct MatviewSuggestion {
    /// Schema of the base table when known (the view goes in the same schema).
    pub schema: Option<String>,
    /// e.g. `reviews_by_product_id_stats` (deterministic, at most 63 bytes).
    pub name: String,
    pub base_table: String,
    /// The view's columns holding the GROUP BY keys: unique in the view.
    pub key_columns: Vec<String>,
    pub create_sql: String,
    pub unique_index_sql: String,
    pub refresh_sql: String,
    /// The statement rewritten to read the view.
    pub rewritten: Option<String>,
    /// What it replaces, in one line.
    pub reason: String,
    /// The heavy-aggregate node.
    pub node_id: usize,
}

impl MatviewSuggestion {
    /// The view's name as written in SQL, schema-qualified when the schema is known.
    pub fn qualified_name(&self) -> String {
        quote_qualified(self.schema.as_deref(), &self.name)
    }
}

/// Everything concluded about materialized views for one statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatviewAdvice {
    pub suggestions: Vec<MatviewSuggestion>,
    pub no_suggestions: Vec<NoSuggestion>,
}

/// The findings on a scan whose aggregate above (straight, or through a join) a view can replace.
const SCAN_RULES: [RuleId; 3] = [
    RuleId::SeqScan,
    RuleId::IndexFilterWaste,
    RuleId::JoinFullScan,
];

/// Materialized views for the heavy aggregates of one statement's plan: the `heavy-aggregate`
/// findings, and aggregates whose own input is cheap but which sit straight over a scan finding
/// (`seq-scan`, `index-filter-waste`) — the product page's per-product review count reads the
/// whole reviews table to aggregate a hundred rows, and a view keyed by product replaces the
/// scan and the aggregate together.
pub fn matview_suggestions(sql: &str, explain: &Explain, findings: &[Finding]) -> MatviewAdvice {
    let mut advice = MatviewAdvice::default();
    let plan = PlanIndex::new(&explain.plan);
    let mut stakes: Vec<Stake> = findings
        .iter()
        .filter(|f| f.rule == RuleId::HeavyAggregate)
        .map(|f| Stake {
            node_id: f.node_id,
            what: format!("aggregating {} rows", evidence_value(f, "rows aggregated")),
            ms: f.time_at_stake_ms,
            share: f.share_at_stake,
        })
        .collect();
    for finding in findings.iter().filter(|f| SCAN_RULES.contains(&f.rule)) {
        if let Some(aggregate) = aggregate_over_scan(&plan, finding.node_id)
            && !stakes.iter().any(|s| s.node_id == aggregate)
        {
            let read = evidence_value(finding, "rows read");
            stakes.push(Stake {
                node_id: aggregate,
                what: format!("a {} reading {read} rows to aggregate them", finding.rule),
                ms: finding.time_at_stake_ms,
                share: finding.share_at_stake,
            });
        }
    }
    // A scan read through a join into an aggregate of its columns: the category listing's
    // `JOIN reviews r ... GROUP BY p.id` with `avg(r.rating)` reads every review to feed the join.
    // Only the aggregated table's scan counts (the other table's is the join's filter).
    for finding in findings.iter().filter(|f| SCAN_RULES.contains(&f.rule)) {
        let Some(scan) = plan.nodes.get(finding.node_id) else {
            continue;
        };
        let Some(aggregate) = aggregate_over_join(&plan, finding.node_id) else {
            continue;
        };
        let reference = scan.alias.as_deref().or(scan.relation_name.as_deref());
        if stakes.iter().any(|s| s.node_id == aggregate)
            || !reference.is_some_and(|r| {
                join::aggregates_read_alias(plan.nodes[aggregate].output.as_deref(), r)
            })
        {
            continue;
        }
        stakes.push(Stake {
            node_id: aggregate,
            what: format!(
                "joining and aggregating {} rows",
                evidence_value(finding, "rows read")
            ),
            ms: finding.time_at_stake_ms,
            share: finding.share_at_stake,
        });
    }
    if stakes.is_empty() {
        return advice;
    }
    let parsed = parse_statement(sql);
    for stake in stakes {
        let result = parsed
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|statement| suggest(statement, &plan, &stake));
        match result {
            Ok(suggestion) => advice.suggestions.push(suggestion),
            Err(reason) => advice.no_suggestions.push(NoSuggestion {
                node_id: stake.node_id,
                reason,
            }),
        }
    }
    unique_view_names(&mut advice.suggestions);
    advice
}

/// A finding's evidence figure by label ("many" when the rule did not give it).
fn evidence_value<'a>(finding: &'a Finding, label: &str) -> &'a str {
    finding
        .evidence
        .iter()
        .find(|e| e.label == label)
        .map(|e| e.value.as_str())
        .unwrap_or("many")
}

/// Give views with the same name but different definitions distinct names (`_2`, `_3`...), in
/// order; identical views keep one name, so their DDL runs once. `IF NOT EXISTS` would otherwise
/// keep the first and the second rewrite would read the wrong view. Call it again on the
/// suggestions of several statements together.
pub fn unique_view_names(suggestions: &mut [MatviewSuggestion]) {
    for i in 1..suggestions.len() {
        let (earlier, rest) = suggestions.split_at_mut(i);
        let suggestion = &mut rest[0];
        let base = suggestion.name.clone();
        let mut n = 1;
        while earlier.iter().any(|s| {
            s.schema == suggestion.schema
                && s.name == suggestion.name
                && s.create_sql != suggestion.create_sql
        }) {
            n += 1;
            suggestion.rename(&truncate_with_suffix(&base, &format!("_{n}")));
        }
    }
}

/// The aggregate node a suggestion is for, and what it costs.
#[derive(Debug)]
struct Stake {
    node_id: usize,
    /// What the view saves, e.g. "aggregating 200,000 rows".
    what: String,
    ms: f64,
    share: f64,
}

fn parse_statement(sql: &str) -> Result<Query, String> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| format!("the statement does not parse: {e}"))?;
    if statements.len() != 1 {
        return Err(format!(
            "expected one statement, found {}",
            statements.len()
        ));
    }
    match statements.remove(0) {
        Statement::Query(query) => Ok(*query),
        _ => Err("only a SELECT can read a materialized view instead of aggregating".into()),
    }
}

fn suggest(
    query: &Query,
    plan: &PlanIndex<'_>,
    stake: &Stake,
) -> Result<MatviewSuggestion, String> {
    let node = plan
        .nodes
        .get(stake.node_id)
        .ok_or_else(|| format!("node {} is not in the plan", stake.node_id))?;
    if node.node_type != NodeType::Aggregate {
        return Err(format!(
            "node {} is a {}, not an Aggregate",
            stake.node_id, node.node_type
        ));
    }
    let context = plan_context(plan, stake.node_id);
    let (plan_schema, relation) = match context.relations.as_slice() {
        [] => return Err("the aggregate reads no table".into()),
        [one] => one.clone(),
        [_, _] if top_level_join_aggregate(query) => {
            return join::join_suggestion(query, &context, stake);
        }
        several => {
            let names: Vec<&str> = several.iter().map(|(_, r)| r.as_str()).collect();
            return Err(format!(
                "the aggregate reads more than one base table ({}): a view over one table's aggregate joined by the query is not possible here",
                names.join(", ")
            ));
        }
    };
    let all_sites = sites(query);
    if all_sites.is_empty() {
        return Err(
            "no GROUP BY in the statement: a total without groups is left to an index (or a cache); a view keyed by group is suggested only for GROUP BY queries"
                .into(),
        );
    }
    let cte_names: Vec<String> = query
        .with
        .iter()
        .flat_map(|w| w.cte_tables.iter().map(|c| ident_name(&c.alias.name)))
        .collect();
    // The sites over the plan's relation; the others only explain a refusal.
    let mut over_relation = Vec::new();
    let mut other_tables = Vec::new();
    let mut not_one_table = None;
    for (site, select, subquery) in &all_sites {
        match base_table(select) {
            Some((_, table)) if cte_names.contains(&table) => {
                other_tables.push(format!("the CTE {table}"));
            }
            Some((schema, table))
                if table == relation
                    && (schema.is_none() || plan_schema.is_none() || schema == plan_schema) =>
            {
                over_relation.push((site.clone(), *select, *subquery));
            }
            Some((_, table)) => other_tables.push(table),
            None => {
                not_one_table.get_or_insert_with(|| {
                    read_aggregate(select)
                        .err()
                        .unwrap_or_else(|| "the aggregate does not read one table".into())
                });
            }
        }
    }
    if over_relation.is_empty() {
        return Err(match (other_tables.is_empty(), not_one_table) {
            (false, _) => format!(
                "the finding's relation {relation} is not what the statement's GROUP BY reads ({})",
                other_tables.join(", ")
            ),
            (true, Some(reason)) => reason,
            (true, None) => {
                format!(
                    "no aggregate over {relation} in the statement matches the plan's aggregate"
                )
            }
        });
    }
    let index = pick_site(&over_relation, &context).ok_or_else(|| {
        format!(
            "several aggregates over {relation} in the statement and the plan does not say which one this is"
        )
    })?;
    let (site, select, subquery) = &over_relation[index];
    if let Some(subquery) = subquery {
        check_subquery_clauses(subquery)?;
    }
    let agg = read_aggregate(select)?;
    let schema = plan_schema.or_else(|| agg.schema.clone());
    build(query, site, &agg, schema, stake)
}

/// The statement itself aggregates over a two-table join (the third shape, in [`join`]).
fn top_level_join_aggregate(query: &Query) -> bool {
    match query.body.as_ref() {
        SetExpr::Select(select) => {
            has_group_by(select) && select.from.len() == 1 && select.from[0].joins.len() == 1
        }
        _ => false,
    }
}

/// Which site the plan's aggregate computes: by the CTE name or Subquery Scan alias above it, else
/// the only candidate, else the statement's own aggregate when no subquery is around it, else by
/// group key.
fn pick_site(sites: &[(Site, &Select, Option<&Query>)], context: &PlanContext) -> Option<usize> {
    if let Some(cte) = &context.cte {
        return sites
            .iter()
            .position(|(site, _, _)| matches!(site, Site::Cte { name, .. } if name == cte));
    }
    if let Some(alias) = &context.subquery_alias
        && let Some(found) = sites.iter().position(|(site, _, _)| match site {
            Site::Derived { alias: a, .. } => a.as_deref() == Some(alias.as_str()),
            Site::Cte {
                name, references, ..
            } => name == alias || references.iter().any(|r| r == alias),
            Site::Top => false,
        })
    {
        return Some(found);
    }
    if sites.len() == 1 {
        return Some(0);
    }
    if context.subquery_alias.is_none()
        && let Some(top) = sites.iter().position(|(site, _, _)| *site == Site::Top)
    {
        return Some(top);
    }
    // The plan prints group keys as `alias.column` (VERBOSE) or `column`.
    let plan_keys: Vec<String> = context
        .group_key
        .iter()
        .map(|k| {
            k.rsplit('.')
                .next()
                .unwrap_or(k)
                .trim_matches('"')
                .to_owned()
        })
        .collect();
    let matching: Vec<usize> = sites
        .iter()
        .enumerate()
        .filter(|(_, (_, select, _))| {
            read_aggregate(select).is_ok_and(|agg| {
                let keys: Vec<String> = agg
                    .keys
                    .iter()
                    .filter_map(|&k| agg.column_of(&agg.items[k].expr))
                    .collect();
                keys == plan_keys
            })
        })
        .map(|(i, _)| i)
        .collect();
    match matching.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn build(
    query: &Query,
    site: &Site,
    agg: &Aggregate<'_>,
    schema: Option<String>,
    stake: &Stake,
) -> Result<MatviewSuggestion, String> {
    let select = agg.select;
    let items_text = agg
        .items
        .iter()
        .map(|item| item.expr.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    check_view_part("the aggregate's select list", &items_text)?;
    if let Some(having) = &select.having {
        check_view_part("the aggregate's HAVING", &having.to_string())?;
    }
    let mut where_conjuncts = Vec::new();
    if let Some(selection) = &select.selection {
        conjuncts(selection, &mut where_conjuncts);
    }
    // The view keeps conditions on non-key columns (constants only); on the top-level aggregate,
    // conditions on the keys alone move to the rewritten statement, so one view serves every value.
    let mut view_where = Vec::new();
    let mut rewrite_where = Vec::new();
    for conjunct in where_conjuncts {
        if *site == Site::Top {
            match to_view(&conjunct, agg, &[]) {
                Ok(mapped) => {
                    rewrite_where.push(mapped);
                    continue;
                }
                Err(Unmapped::NonKey(column)) => {
                    if hazards(&conjunct.to_string()).parameter.is_some() {
                        return Err(format!(
                            "the condition {conjunct} has a parameter on {column}, which is not a group key: a view cannot be computed for every value"
                        ));
                    }
                }
                Err(Unmapped::Unreadable(_)) => {}
            }
            check_view_part("the aggregate's WHERE", &conjunct.to_string())?;
            view_where.push(conjunct);
        } else {
            check_view_part("the aggregated subquery's WHERE", &conjunct.to_string())?;
            view_where.push(conjunct);
        }
    }
    let key_names: Vec<String> = agg.key_columns();
    let mut name = format!("{}_by_{}", agg.table, key_names.join("_"));
    let filtered = !view_where.is_empty() || select.having.is_some();
    let table = quote_qualified(schema.as_deref().or(agg.schema.as_deref()), &agg.table);
    let alias = agg
        .alias
        .as_ref()
        .map(|a| format!(" AS {}", quote_ident(a)))
        .unwrap_or_default();
    let group_by = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        GroupByExpr::All(_) => String::new(),
    };
    let body = format!(
        "SELECT {} FROM {table}{alias}{} GROUP BY {group_by}{}",
        agg.items
            .iter()
            .map(|item| format!("{} AS {}", item.expr, quote_ident(&item.column)))
            .collect::<Vec<_>>()
            .join(", "),
        and_all(&view_where)
            .map(|w| format!(" WHERE {w}"))
            .unwrap_or_default(),
        select
            .having
            .as_ref()
            .map(|h| format!(" HAVING {h}"))
            .unwrap_or_default()
    );
    if filtered {
        // A filtered view is another view: its name says so, deterministically.
        name.push_str(&format!("_{:08x}", fnv1a(&body)));
    }
    let name = truncate_with_suffix(&name, "_stats");
    let view = quote_qualified(schema.as_deref(), &name);
    let rewritten = match site {
        Site::Top => rewrite_top(query, agg, &view, &rewrite_where)?,
        Site::Derived { factor, .. } => rewrite_derived(query, *factor, agg, &view)?,
        Site::Cte { index, .. } => rewrite_cte(query, *index, agg, &view)?,
    };
    let mut reason = format!(
        "replaces {} of {} by {} on every execution ({} ms, {} of the query)",
        stake.what,
        agg.table,
        key_names.join(", "),
        fmt_ms(stake.ms),
        fmt_pct(stake.share)
    );
    if let Some(kept) = and_all(&view_where) {
        // The view holds the rows of these conditions only: say so, where the user reads.
        reason.push_str(&format!(
            "; it serves only the values it was built from ({kept}): the same query with other values needs another view"
        ));
    }
    let mut suggestion = MatviewSuggestion {
        schema,
        name: name.clone(),
        base_table: agg.table.clone(),
        key_columns: key_names,
        create_sql: format!("CREATE MATERIALIZED VIEW IF NOT EXISTS {view} AS {body}"),
        unique_index_sql: String::new(),
        refresh_sql: String::new(),
        rewritten: Some(rewritten),
        reason,
        node_id: stake.node_id,
    };
    suggestion.rename(&name);
    Ok(suggestion)
}

impl MatviewSuggestion {
    /// Give the view another name, everywhere it is written.
    fn rename(&mut self, name: &str) {
        let old = self.qualified_name();
        self.name = name.to_owned();
        let view = self.qualified_name();
        if old != view {
            self.create_sql = self.create_sql.replacen(&old, &view, 1);
            if let Some(rewritten) = &mut self.rewritten {
                *rewritten = rewritten.replace(&old, &view);
            }
        }
        let keys: Vec<String> = self.key_columns.iter().map(|k| quote_ident(k)).collect();
        self.unique_index_sql = format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {view} ({})",
            quote_ident(&truncate_with_suffix(name, "_key")),
            keys.join(", ")
        );
        self.refresh_sql = format!("REFRESH MATERIALIZED VIEW CONCURRENTLY {view}");
    }
}

/// `name` plus `suffix`, the name cut (on a character boundary) so the whole fits in 63 bytes.
fn truncate_with_suffix(name: &str, suffix: &str) -> String {
    let limit = MAX_IDENTIFIER_BYTES - suffix.len();
    let mut base = name.to_owned();
    if base.len() > limit {
        let mut cut = limit;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    base.push_str(suffix);
    base
}

/// A stable 32-bit FNV-1a hash, to tell filtered views apart by name across runs and machines.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests;
