//! The aggregate over a join: `FROM products p LEFT JOIN reviews r ON r.product_id = p.id
//! GROUP BY p.id, p.name` with `count(r.id)`, `avg(r.rating)`. The view aggregates the joined
//! table alone by its join column; the rewrite joins the view instead and keeps the GROUP BY.
//!
//! Keeping the GROUP BY makes the rewrite exact without knowing that `p.id` is unique: every row
//! of a group joins the same view row (the join key is a group key), so a group of `k` rows has
//! `count(*) = k`, and the original's count or sum over the joined rows is `k` times the view's
//! per-key value; averages, minima, maxima and DISTINCT aggregates are the view's value itself.
//! With a LEFT JOIN, a row without a match counts one row for `count(*)` and zero for
//! `count(col)`, which `coalesce` restores.

use sqlparser::ast::{
    BinaryOperator, DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArguments, GroupByExpr, Ident, JoinConstraint, JoinOperator, OrderByKind, Query,
    Select, SelectItem, SetExpr, TableFactor, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Word};

use super::plan::PlanContext;
use super::rewrite::parse_query;
use super::statement::{check_view_part, default_name, ident_name, object_part, unique_name};
use super::{MatviewSuggestion, Stake, truncate_with_suffix};
use crate::pg::{quote_ident, quote_qualified};
use crate::units::{fmt_ms, fmt_pct};

const AGGREGATES: [&str; 5] = ["count", "sum", "avg", "min", "max"];

/// One table of the join.
#[derive(Debug)]
struct Side {
    schema: Option<String>,
    table: String,
    alias: Option<String>,
}

impl Side {
    fn read(factor: &TableFactor) -> Result<Side, String> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = factor
        else {
            return Err(format!("the join reads {factor}, not a table"));
        };
        let parts: Option<Vec<String>> = name.0.iter().map(object_part).collect();
        let (schema, table) = match parts.as_deref() {
            Some([table]) => (None, table.clone()),
            Some([schema, table]) => (Some(schema.clone()), table.clone()),
            _ => return Err(format!("cannot read the table name {name}")),
        };
        Ok(Side {
            schema,
            table,
            alias: alias.as_ref().map(|a| ident_name(&a.name)),
        })
    }

    /// The name its columns are qualified with.
    fn reference(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.table)
    }

    /// The column a qualified reference names on this side.
    fn column(&self, expr: &Expr) -> Option<String> {
        let Expr::CompoundIdentifier(idents) = expr else {
            return None;
        };
        match idents.as_slice() {
            [q, c] if ident_name(q) == self.reference() => Some(ident_name(c)),
            _ => None,
        }
    }
}

/// An aggregate call of the original, the view column holding it per key, and what reads it back.
#[derive(Debug)]
struct Moved {
    call: Function,
    column: String,
    replacement: Expr,
}

fn strip(expr: &Expr) -> &Expr {
    match expr {
        Expr::Nested(inner) => strip(inner),
        other => other,
    }
}

fn aggregate_name(function: &Function) -> Option<String> {
    let name = function.name.0.last().and_then(object_part)?;
    AGGREGATES.contains(&name.as_str()).then_some(name)
}

/// The aggregate calls of an expression, in order (nested calls inside other functions too).
fn calls(expr: &Expr, out: &mut Vec<Function>) {
    match expr {
        Expr::Function(function) if aggregate_name(function).is_some() => push_new(out, function),
        Expr::Function(function) => {
            if let FunctionArguments::List(list) = &function.args {
                for arg in &list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                        calls(e, out);
                    }
                }
            }
        }
        Expr::Cast { expr, .. } | Expr::Nested(expr) | Expr::UnaryOp { expr, .. } => {
            calls(expr, out)
        }
        Expr::BinaryOp { left, right, .. } => {
            calls(left, out);
            calls(right, out);
        }
        _ => {}
    }
}

fn push_new(out: &mut Vec<Function>, function: &Function) {
    if !out.contains(function) {
        out.push(function.clone());
    }
}

/// Replace the moved aggregate calls in `expr`; anything else containing an aggregate call in a
/// shape not walked here is refused.
fn replace(expr: &Expr, moved: &[Moved]) -> Result<Expr, String> {
    let recurse = |e: &Expr| replace(e, moved).map(Box::new);
    Ok(match expr {
        Expr::Function(function) if aggregate_name(function).is_some() => moved
            .iter()
            .find(|m| &m.call == function)
            .map(|m| m.replacement.clone())
            .ok_or_else(|| format!("cannot move {function} onto the view"))?,
        Expr::Function(function) => {
            let mut function = function.clone();
            if let FunctionArguments::List(list) = &mut function.args {
                for arg in &mut list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                        *e = replace(e, moved)?;
                    }
                }
            }
            Expr::Function(function)
        }
        Expr::Cast {
            kind,
            expr,
            data_type,
            format,
        } => Expr::Cast {
            kind: kind.clone(),
            expr: recurse(expr)?,
            data_type: data_type.clone(),
            format: format.clone(),
        },
        Expr::Nested(inner) => Expr::Nested(recurse(inner)?),
        Expr::UnaryOp { op, expr } => Expr::UnaryOp {
            op: *op,
            expr: recurse(expr)?,
        },
        Expr::BinaryOp { left, op, right } => Expr::BinaryOp {
            left: recurse(left)?,
            op: op.clone(),
            right: recurse(right)?,
        },
        other => {
            if has_aggregate_call(&other.to_string()) {
                return Err(format!(
                    "cannot move the aggregates of {other} onto the view"
                ));
            }
            other.clone()
        }
    })
}

fn token_name(word: &Word) -> String {
    if word.quote_style.is_some() {
        word.value.clone()
    } else {
        word.value.to_lowercase()
    }
}

fn tokens(text: &str) -> Option<Vec<Token>> {
    Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .ok()
        .map(|t| {
            t.into_iter()
                .filter(|t| !matches!(t, Token::Whitespace(_)))
                .collect()
        })
}

/// True when `text` calls count, sum, avg, min or max (or cannot be read).
fn has_aggregate_call(text: &str) -> bool {
    let Some(tokens) = tokens(text) else {
        return true;
    };
    tokens.windows(2).any(|pair| {
        matches!(&pair[0], Token::Word(w) if w.quote_style.is_none() && AGGREGATES.contains(&token_name(w).as_str()))
            && pair[1] == Token::LParen
    })
}

fn parse_expr(sql: &str) -> Result<Expr, String> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| format!("internal: generated SQL does not parse: {e}: {sql}"))
}

/// A view for an aggregate over a two-table join, or why not.
pub(super) fn join_suggestion(
    query: &Query,
    context: &PlanContext,
    stake: &Stake,
) -> Result<MatviewSuggestion, String> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err("the aggregate over a join is not a plain SELECT".into());
    };
    if query.with.is_some() || !query.locks.is_empty() || select.distinct.is_some() {
        return Err(
            "an aggregate over a join with WITH, DISTINCT or FOR UPDATE is not handled".into(),
        );
    }
    let [from] = select.from.as_slice() else {
        return Err("the aggregate reads more than two tables: not handled".into());
    };
    let [join] = from.joins.as_slice() else {
        return Err("the aggregate reads more than two tables: not handled".into());
    };
    let left = Side::read(&from.relation)?;
    let right = Side::read(&join.relation)?;
    let (outer_join, on) = match &join.join_operator {
        JoinOperator::Left(JoinConstraint::On(on))
        | JoinOperator::LeftOuter(JoinConstraint::On(on)) => (true, on),
        JoinOperator::Join(JoinConstraint::On(on))
        | JoinOperator::Inner(JoinConstraint::On(on)) => (false, on),
        _ => return Err("only an INNER or LEFT JOIN ... ON is handled".into()),
    };
    let mut aggregate_calls = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                calls(e, &mut aggregate_calls)
            }
            other => return Err(format!("the select list has {other}: name its columns")),
        }
    }
    // HAVING and ORDER BY may aggregate what the select list does not: the view holds those too.
    if let Some(having) = &select.having {
        calls(having, &mut aggregate_calls);
    }
    if let Some(order_by) = &query.order_by
        && let OrderByKind::Expressions(keys) = &order_by.kind
    {
        for key in keys {
            calls(&key.expr, &mut aggregate_calls);
        }
    }
    // Which table the aggregates read: every argument is a column of one side.
    let mut aggregated: Option<bool> = None; // Some(true): the right side
    for call in &aggregate_calls {
        for column in call_columns(&qualified(call, &context.output, [&left, &right]))? {
            let side = if right.column(&column).is_some() {
                true
            } else if left.column(&column).is_some() {
                false
            } else {
                return Err(format!(
                    "{call}: qualify its column with {} or {} to tell which table it aggregates",
                    left.reference(),
                    right.reference()
                ));
            };
            if aggregated.is_some_and(|a| a != side) {
                return Err("the aggregates read columns of both tables".into());
            }
            aggregated = Some(side);
        }
    }
    let aggregated = aggregated.unwrap_or(true);
    if outer_join && !aggregated {
        return Err("the aggregates read the preserved side of the LEFT JOIN: not handled".into());
    }
    let (many, one) = if aggregated {
        (&right, &left)
    } else {
        (&left, &right)
    };
    let plan_tables: Vec<&str> = context.relations.iter().map(|(_, r)| r.as_str()).collect();
    if !plan_tables.contains(&many.table.as_str()) || !plan_tables.contains(&one.table.as_str()) {
        return Err(format!(
            "the finding's relations ({}) are not the statement's join of {} and {}",
            plan_tables.join(", "),
            one.table,
            many.table
        ));
    }
    // ON many.fk = one.key, nothing else.
    let Expr::BinaryOp {
        left: a,
        op: BinaryOperator::Eq,
        right: b,
    } = strip(on)
    else {
        return Err(format!(
            "the join condition {on} is not one equality of two columns"
        ));
    };
    let (fk, key) = match (many.column(a), one.column(b), many.column(b), one.column(a)) {
        (Some(fk), Some(key), _, _) | (_, _, Some(fk), Some(key)) => (fk, key),
        _ => {
            return Err(format!(
                "the join condition {on} does not compare a column of {} with one of {}",
                many.reference(),
                one.reference()
            ));
        }
    };
    check_group_keys(select, one, &key)?;
    // HAVING can read the aggregated table only inside aggregates, which move onto the view.
    if let Some(selection) = &select.selection
        && mentions(&selection.to_string(), many.reference())
    {
        return Err(format!(
            "the WHERE reads {}, the aggregated table: not handled",
            many.table
        ));
    }
    let view_name = truncate_with_suffix(&format!("{}_by_{fk}", many.table), "_stats");
    let schema = context
        .relations
        .iter()
        .find(|(_, r)| *r == many.table)
        .and_then(|(s, _)| s.clone())
        .or_else(|| many.schema.clone());
    let view = quote_qualified(schema.as_deref(), &view_name);
    let reader = quote_ident(many.reference());
    let mut moved: Vec<Moved> = Vec::new();
    let mut taken = vec![fk.clone()];
    for call in aggregate_calls {
        let name = aggregate_name(&call).unwrap_or_default();
        let FunctionArguments::List(list) = &call.args else {
            return Err(format!("{call} is not handled"));
        };
        if call.filter.is_some()
            || call.over.is_some()
            || !call.within_group.is_empty()
            || !list.clauses.is_empty()
        {
            return Err(format!(
                "{call}: FILTER, OVER, ORDER BY or WITHIN GROUP in an aggregate over a join is not handled"
            ));
        }
        check_view_part("the aggregate", &call.to_string())?;
        let aliased = select.projection.iter().find_map(|item| match item {
            SelectItem::ExprWithAlias {
                expr: Expr::Function(f),
                alias,
            } if *f == call => Some(ident_name(alias)),
            _ => None,
        });
        let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
        let generated = {
            let arg = call_columns(&qualified(&call, &context.output, [&left, &right]))?
                .first()
                .and_then(|c| many.column(c))
                .unwrap_or_else(|| "all".into());
            format!("{name}_{}{arg}", if distinct { "distinct_" } else { "" })
        };
        let column = unique_name(aliased.unwrap_or(generated), &taken);
        taken.push(column.clone());
        let read = format!("max({reader}.{})", quote_ident(&column));
        let star = call_columns(&qualified(&call, &context.output, [&left, &right]))?.is_empty();
        let replacement = match (name.as_str(), distinct) {
            ("count", true) => format!("coalesce({read}, 0)"),
            ("count", false) if star && outer_join => format!("coalesce({read}, 1) * count(*)"),
            ("count", false) => format!("coalesce({read}, 0) * count(*)"),
            ("sum", false) => format!("{read} * count(*)"),
            _ => read,
        };
        moved.push(Moved {
            call,
            column,
            replacement: parse_expr(&replacement)?,
        });
    }
    if moved.is_empty() {
        return Err(
            "no count, sum, avg, min or max over the joined table to move onto a view".into(),
        );
    }
    let body = format!(
        "SELECT {reader}.{} AS {}, {} FROM {}{} GROUP BY {reader}.{}",
        quote_ident(&fk),
        quote_ident(&fk),
        moved
            .iter()
            .map(|m| format!("{} AS {}", m.call, quote_ident(&m.column)))
            .collect::<Vec<_>>()
            .join(", "),
        quote_qualified(schema.as_deref(), &many.table),
        many.alias
            .as_ref()
            .map(|a| format!(" AS {}", quote_ident(a)))
            .unwrap_or_default(),
        quote_ident(&fk),
    );
    let rewritten = rewrite(query, aggregated, &view, many.reference(), &moved)?;
    let mut suggestion = MatviewSuggestion {
        schema,
        name: view_name.clone(),
        base_table: many.table.clone(),
        key_columns: vec![fk.clone()],
        create_sql: format!("CREATE MATERIALIZED VIEW IF NOT EXISTS {view} AS {body}"),
        unique_index_sql: String::new(),
        refresh_sql: String::new(),
        rewritten: Some(rewritten),
        reason: format!(
            "replaces {} of {} by {fk} for its join with {} on every execution ({} ms, {} of the query)",
            stake.what,
            many.table,
            one.table,
            fmt_ms(stake.ms),
            fmt_pct(stake.share)
        ),
        node_id: stake.node_id,
    };
    suggestion.rename(&view_name);
    Ok(suggestion)
}

/// `call` with its unqualified column arguments qualified as the plan's output qualifies them
/// (`avg(rating)` is `avg(r.rating)` in the Aggregate's VERBOSE output): which table an
/// unqualified column belongs to is the planner's knowledge, not the statement's.
fn qualified(call: &Function, output: &[String], sides: [&Side; 2]) -> Function {
    let mut call = call.clone();
    let FunctionArguments::List(list) = &mut call.args else {
        return call;
    };
    for arg in &mut list.args {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
            continue;
        };
        let Expr::Identifier(column) = expr else {
            continue;
        };
        let name = ident_name(column);
        let owners: Vec<&Side> = sides
            .iter()
            .copied()
            .filter(|side| {
                output.iter().any(|item| {
                    tokens(item).is_some_and(|t| {
                        t.windows(3).any(|w| {
                            matches!(&w[0], Token::Word(q) if token_name(q) == side.reference())
                                && w[1] == Token::Period
                                && matches!(&w[2], Token::Word(c) if token_name(c) == name)
                        })
                    })
                })
            })
            .collect();
        if let [owner] = owners.as_slice() {
            *expr = Expr::CompoundIdentifier(vec![Ident::new(owner.reference()), column.clone()]);
        }
    }
    call
}

/// The column arguments of an aggregate call: none for `count(*)`, else plain qualified columns.
fn call_columns(call: &Function) -> Result<Vec<Expr>, String> {
    let FunctionArguments::List(list) = &call.args else {
        return Ok(Vec::new());
    };
    let mut columns = Vec::new();
    for arg in &list.args {
        match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => {}
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e @ Expr::CompoundIdentifier(_))) => {
                columns.push(e.clone())
            }
            _ => {
                return Err(format!(
                    "{call}: only a qualified column (or *) as an aggregate's argument is handled over a join"
                ));
            }
        }
    }
    Ok(columns)
}

/// The GROUP BY must be columns of the other table, its join key among them: then every row of a
/// group joins the same view row.
fn check_group_keys(select: &Select, one: &Side, key: &str) -> Result<(), String> {
    let GroupByExpr::Expressions(exprs, modifiers) = &select.group_by else {
        return Err("GROUP BY ALL is not handled".into());
    };
    if !modifiers.is_empty() {
        return Err(format!(
            "GROUP BY {} is not a plain list of keys",
            select.group_by
        ));
    }
    let mut has_key = false;
    for expr in exprs {
        let resolved = match expr {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => {
                    n.parse::<usize>()
                        .ok()
                        .and_then(|n| n.checked_sub(1))
                        .and_then(|i| select.projection.get(i))
                        .and_then(|item| match item {
                            SelectItem::UnnamedExpr(e)
                            | SelectItem::ExprWithAlias { expr: e, .. } => Some(e.clone()),
                            _ => None,
                        })
                }
                _ => None,
            },
            other => Some(other.clone()),
        };
        match resolved.as_ref().and_then(|e| one.column(e)) {
            Some(column) => has_key |= column == key,
            None => {
                return Err(format!(
                    "group key {expr} is not a qualified column of {}: not handled",
                    one.table
                ));
            }
        }
    }
    if !has_key {
        return Err(format!(
            "the join key {}.{key} is not a group key: a group could join several view rows",
            one.reference()
        ));
    }
    Ok(())
}

/// True when `text` has a column qualified by `reference` (tokens `reference` `.`), or cannot be
/// read.
fn mentions(text: &str, reference: &str) -> bool {
    let Some(tokens) = tokens(text) else {
        return true;
    };
    tokens.windows(2).any(|pair| {
        matches!(&pair[0], Token::Word(w) if token_name(w) == reference) && pair[1] == Token::Period
    })
}

/// The join aggregate reading the view in the joined table's place, under its alias; the
/// aggregates replaced by reads of the view, the GROUP BY kept.
fn rewrite(
    query: &Query,
    aggregated_right: bool,
    view: &str,
    reference: &str,
    moved: &[Moved],
) -> Result<String, String> {
    let mut rewritten = query.clone();
    let SetExpr::Select(select) = rewritten.body.as_mut() else {
        return Err("internal: the SELECT is gone".into());
    };
    let snippet = parse_query(&format!(
        "SELECT * FROM {view} AS {}",
        quote_ident(reference)
    ))?;
    let SetExpr::Select(mut snippet) = *snippet.body else {
        return Err("internal: generated SQL is not a SELECT".into());
    };
    let factor = snippet.from.remove(0).relation;
    if aggregated_right {
        select.from[0].joins[0].relation = factor;
    } else {
        select.from[0].relation = factor;
    }
    for item in &mut select.projection {
        match item {
            SelectItem::UnnamedExpr(expr) => {
                let replaced = replace(expr, moved)?;
                if replaced != *expr {
                    let output = default_name(expr).unwrap_or_else(|| "?column?".into());
                    *item = SelectItem::ExprWithAlias {
                        expr: replaced,
                        alias: Ident::with_quote('"', output),
                    };
                }
            }
            SelectItem::ExprWithAlias { expr, .. } => *expr = replace(expr, moved)?,
            _ => {}
        }
    }
    if let Some(having) = &mut select.having {
        *having = replace(having, moved)?;
    }
    if let Some(order_by) = &mut rewritten.order_by
        && let OrderByKind::Expressions(exprs) = &mut order_by.kind
    {
        for key in exprs {
            key.expr = replace(&key.expr, moved)?;
        }
    }
    Ok(rewritten.to_string())
}

/// Whether the aggregate calls among a plan node's `Output` items (VERBOSE qualifies their
/// columns: `avg(r.rating)`) read a column of `alias`. Without output, or when an item does not
/// parse, the answer is yes: the statement's own reading decides later.
pub(super) fn aggregates_read_alias(output: Option<&[String]>, alias: &str) -> bool {
    let Some(output) = output else {
        return true;
    };
    let mut found = Vec::new();
    for item in output {
        let Ok(expr) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(item)
            .and_then(|mut p| p.parse_expr())
        else {
            return true;
        };
        calls(&expr, &mut found);
    }
    found.iter().any(|call| {
        let FunctionArguments::List(list) = &call.args else {
            return false;
        };
        list.args.iter().any(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => mentions(&e.to_string(), alias),
            _ => false,
        })
    })
}
