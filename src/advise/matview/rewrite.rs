//! The statement rewritten to read the view: the derived table replaced by the view under its
//! alias, the CTE's body replaced by a read of the view, or the top-level aggregate turned into a
//! read of the view with the key conditions.

use sqlparser::ast::{Expr, OrderByKind, Query, SetExpr, Statement, TableFactor};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::statement::{Aggregate, Item, Unmapped, and_all, factor_mut, ident_name, to_view};
use crate::pg::quote_ident;

/// The view's column read under the name the statement's reader expects.
pub(super) fn read_as(item: &Item) -> String {
    if item.column == item.output {
        quote_ident(&item.column)
    } else {
        format!(
            "{} AS {}",
            quote_ident(&item.column),
            quote_ident(&item.output)
        )
    }
}

/// The top-level aggregate as a read of the view: its columns under their original names, the key
/// conditions on the view's keys, ORDER BY and LIMIT kept.
pub(super) fn rewrite_top(
    query: &Query,
    agg: &Aggregate<'_>,
    view: &str,
    conditions: &[Expr],
) -> Result<String, String> {
    let outputs: Vec<String> = agg.items.iter().map(|i| i.output.clone()).collect();
    let mut sql = format!(
        "SELECT {} FROM {view}",
        agg.items.iter().map(read_as).collect::<Vec<_>>().join(", ")
    );
    if let Some(alias) = &agg.alias {
        sql.push_str(&format!(" AS {}", quote_ident(alias)));
    }
    if let Some(conditions) = and_all(conditions) {
        sql.push_str(&format!(" WHERE {conditions}"));
    }
    if let Some(order_by) = &query.order_by {
        let OrderByKind::Expressions(exprs) = &order_by.kind else {
            return Err("ORDER BY ALL is not handled".into());
        };
        let mut keys = Vec::new();
        for key in exprs {
            let mut key = key.clone();
            key.expr = match &key.expr {
                Expr::Value(_) => key.expr.clone(),
                other => to_view(other, agg, &outputs).map_err(|e| match e {
                    Unmapped::NonKey(column) => {
                        format!("ORDER BY reads {column}, which the view does not keep")
                    }
                    Unmapped::Unreadable(text) => {
                        format!("cannot move the ORDER BY expression {text} onto the view")
                    }
                })?,
            };
            keys.push(key.to_string());
        }
        sql.push_str(&format!(" ORDER BY {}", keys.join(", ")));
    }
    if let Some(limit) = &query.limit_clause {
        sql.push_str(&limit.to_string());
    }
    if let Some(fetch) = &query.fetch {
        sql.push_str(&format!(" {fetch}"));
    }
    if query.with.is_some() || !query.locks.is_empty() {
        return Err("a top-level aggregate with WITH or FOR UPDATE is not handled".into());
    }
    Ok(sql)
}

/// A derived table or CTE read by name needs distinct output names for the view to stand in for it.
pub(super) fn check_distinct_outputs(agg: &Aggregate<'_>) -> Result<(), String> {
    for (i, item) in agg.items.iter().enumerate() {
        if agg.items[..i].iter().any(|o| o.output == item.output) {
            return Err(format!(
                "two output columns are named {}: alias them so the view's columns are distinct",
                item.output
            ));
        }
    }
    Ok(())
}

/// Parse a generated snippet back into the AST (names quoted by [`quote_ident`]).
pub(super) fn parse_query(sql: &str) -> Result<Query, String> {
    match Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| format!("internal: generated SQL does not parse: {e}: {sql}"))?
        .pop()
    {
        Some(Statement::Query(query)) => Ok(*query),
        _ => Err(format!("internal: generated SQL is not a query: {sql}")),
    }
}

/// The derived table replaced by the view under the same alias; generated column names are renamed
/// back by the alias's column list, so the outer query reads what it read before.
pub(super) fn rewrite_derived(
    query: &Query,
    factor: usize,
    agg: &Aggregate<'_>,
    view: &str,
) -> Result<String, String> {
    let mut rewritten = query.clone();
    let SetExpr::Select(select) = rewritten.body.as_mut() else {
        return Err("internal: the derived table is gone".into());
    };
    let target = factor_mut(select, factor).ok_or("internal: the derived table is gone")?;
    let TableFactor::Derived { lateral, alias, .. } = target else {
        return Err("internal: the derived table is gone".into());
    };
    if *lateral {
        return Err("a LATERAL subquery is evaluated per outer row: not handled".into());
    }
    check_distinct_outputs(agg)?;
    let renamed = agg.items.iter().any(|i| i.column != i.output);
    let alias_sql = match alias {
        Some(alias) if !alias.columns.is_empty() => format!(" AS {alias}"),
        Some(alias) if renamed => format!(
            " AS {} ({})",
            quote_ident(&ident_name(&alias.name)),
            agg.items
                .iter()
                .map(|i| quote_ident(&i.output))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(alias) => format!(" AS {}", quote_ident(&ident_name(&alias.name))),
        None => String::new(),
    };
    let snippet = parse_query(&format!("SELECT * FROM {view}{alias_sql}"))?;
    let SetExpr::Select(mut snippet_select) = *snippet.body else {
        return Err("internal: generated SQL is not a SELECT".into());
    };
    *target = snippet_select.from.remove(0).relation;
    Ok(rewritten.to_string())
}

/// The CTE's body replaced by a read of the view, its columns under the CTE's names; every
/// reference to the CTE stays as written.
pub(super) fn rewrite_cte(
    query: &Query,
    index: usize,
    agg: &Aggregate<'_>,
    view: &str,
) -> Result<String, String> {
    let mut rewritten = query.clone();
    check_distinct_outputs(agg)?;
    let cte = rewritten
        .with
        .as_mut()
        .and_then(|w| w.cte_tables.get_mut(index))
        .ok_or("internal: the CTE is gone")?;
    let snippet = parse_query(&format!(
        "SELECT {} FROM {view}",
        agg.items.iter().map(read_as).collect::<Vec<_>>().join(", ")
    ))?;
    *cte.query = snippet;
    Ok(rewritten.to_string())
}
