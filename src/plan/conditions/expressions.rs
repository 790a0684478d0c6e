//! Expression index keys: which expressions over a table's columns an index can hold (immutable
//! functions and casts of one column), in the one canonical text form that both candidates and
//! what the catalog prints for existing indexes are compared in.

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, InTarget, UnaryOperator,
    Value,
};

use super::{TEXT_TYPES, TableRef, column_of, parse_expr, type_name};

/// Numeric and text targets: casts to them are immutable whatever the (numeric or text) source.
const IMMUTABLE_CAST_TYPES: [&str; 11] = [
    "SMALLINT",
    "INT",
    "INTEGER",
    "BIGINT",
    "INT2",
    "INT4",
    "INT8",
    "NUMERIC",
    "REAL",
    "DOUBLE PRECISION",
    "BOOLEAN",
];

/// Functions an expression index may use: immutable whatever their argument types. `date_trunc`
/// is handled apart (immutable on `timestamp`, only stable on `timestamptz`).
const IMMUTABLE_FUNCTIONS: [&str; 14] = [
    "lower",
    "upper",
    "btrim",
    "ltrim",
    "rtrim",
    "md5",
    "abs",
    "length",
    "char_length",
    "coalesce",
    "jsonb_extract_path_text",
    "jsonb_extract_path",
    "left",
    "substr",
];

/// Functions whose result depends on the clock, a setting or a sequence: no index can hold them.
const NOT_IMMUTABLE_FUNCTIONS: [&str; 13] = [
    "now",
    "random",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timeofday",
    "to_char",
    "to_date",
    "to_timestamp",
    "age",
    "nextval",
    "current_setting",
    "gen_random_uuid",
];

fn function_name(function: &sqlparser::ast::Function) -> String {
    function
        .name
        .0
        .last()
        .map(|part| match part {
            sqlparser::ast::ObjectNamePart::Identifier(ident) => ident.value.to_lowercase(),
            other => other.to_string().to_lowercase(),
        })
        .unwrap_or_default()
}

fn function_args(function: &sqlparser::ast::Function) -> Option<Vec<&Expr>> {
    match &function.args {
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        FunctionArguments::Subquery(_) => None,
    }
}

/// A literal (possibly cast or parenthesized): `'day'::text`, `42`, `true`.
fn is_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Value(v) => !matches!(v.value, Value::Placeholder(_)),
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => is_literal(inner),
        Expr::TypedString(_) => true,
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => is_literal(expr),
        _ => false,
    }
}

/// The type a value was cast to, upper-cased (`TIMESTAMP WITHOUT TIME ZONE`), if it was.
fn cast_type(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Nested(inner) => cast_type(inner),
        Expr::Cast { data_type, .. } => Some(data_type.to_string().to_uppercase()),
        _ => None,
    }
}

/// Whether `expr` (compared with `value`) can key an expression index on `table`: an immutable
/// function of exactly one of its columns (other arguments literal), or a jsonb field extraction.
/// `Ok` holds the index expression in [`normalize_expression`] form, `Err` the reason in words.
pub(super) fn indexable_expression(
    expr: &Expr,
    table: TableRef<'_>,
    value: Option<&Expr>,
) -> Result<String, String> {
    let text = expr.to_string();
    let mut columns = Vec::new();
    check_expression(expr, table, value, &mut columns)?;
    columns.sort();
    columns.dedup();
    if columns.len() != 1 {
        return Err(format!(
            "the filter is on an expression over {} columns, not a function of one: {text}",
            columns.len()
        ));
    }
    let mut normalized = expr.clone();
    requote(&mut normalized);
    Ok(strip_nested(&normalized).to_string())
}

fn check_expression(
    expr: &Expr,
    table: TableRef<'_>,
    value: Option<&Expr>,
    columns: &mut Vec<String>,
) -> Result<(), String> {
    if let Some(found) = column_of(expr, table) {
        return match found {
            Some(column) => {
                columns.push(column);
                Ok(())
            }
            None => Err(format!(
                "the expression {expr} mixes columns of two tables: no index serves it"
            )),
        };
    }
    if is_literal(expr) {
        return Ok(());
    }
    let text = expr.to_string();
    match expr {
        Expr::Nested(inner) => check_expression(inner, table, value, columns),
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => {
            let target = type_name(data_type);
            if TEXT_TYPES.contains(&target.as_str())
                || IMMUTABLE_CAST_TYPES
                    .iter()
                    .any(|t| target == *t || target.starts_with(&format!("{t}(")))
            {
                check_expression(inner, table, value, columns)
            } else {
                Err(format!(
                    "a cast to {} may depend on settings (from timestamptz, for one), and the plan does not show the column's type: no expression index suggested for {text}",
                    target.to_lowercase()
                ))
            }
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::LongArrow | BinaryOperator::Arrow,
            right,
        } if is_literal(right) => check_expression(left, table, value, columns),
        Expr::Function(function) => {
            let name = function_name(function);
            if NOT_IMMUTABLE_FUNCTIONS.contains(&name.as_str()) {
                return Err(format!(
                    "{name}() is not immutable (its result changes with the clock or settings): no index can be built on {text}"
                ));
            }
            let args = function_args(function).ok_or_else(|| {
                format!("{name}() has arguments an index expression cannot hold: {text}")
            })?;
            if name == "date_trunc" {
                date_trunc_is_immutable(&args, value, &text)?;
            } else if !IMMUTABLE_FUNCTIONS.contains(&name.as_str()) {
                return Err(format!(
                    "{name}() is not known to be immutable: no expression index suggested for {text}"
                ));
            }
            for arg in args {
                check_expression(arg, table, value, columns)?;
            }
            Ok(())
        }
        _ => Err(format!(
            "the filter is not on a plain column or a known immutable function of one: {text}"
        )),
    }
}

/// `date_trunc(unit, ts)` is immutable on `timestamp` but only stable on `timestamptz` (it depends on
/// the TimeZone setting); the plan shows which through the cast of the value compared with it.
/// `date_trunc(unit, ts, zone)` names its zone and is immutable.
fn date_trunc_is_immutable(args: &[&Expr], value: Option<&Expr>, text: &str) -> Result<(), String> {
    if !args.first().is_some_and(|unit| is_literal(unit)) {
        return Err(format!(
            "date_trunc() with a unit that is not a literal cannot key an index: {text}"
        ));
    }
    match args.len() {
        3 if is_literal(args[2]) => Ok(()),
        2 => match value.and_then(cast_type) {
            Some(t) if t.contains("WITHOUT TIME ZONE") || t == "TIMESTAMP" => Ok(()),
            Some(t) if t.contains("WITH TIME ZONE") || t == "TIMESTAMPTZ" => Err(format!(
                "date_trunc() on a timestamptz is not immutable (it depends on the TimeZone setting): no index can be built on {text}; date_trunc(unit, column, 'UTC') can be"
            )),
            _ => Err(format!(
                "date_trunc() is immutable only on timestamp, and the plan does not show whether {text} is on timestamp or timestamptz"
            )),
        },
        _ => Err(format!(
            "date_trunc() with these arguments cannot key an index: {text}"
        )),
    }
}

/// An expression or predicate in one canonical text form: every column reference unqualified and
/// double-quoted, outer parentheses dropped. Index keys and partial-index predicates are stored in
/// this form, and what `pg_get_indexdef`/`pg_get_expr` print for an existing index is brought to it
/// before comparing (both come from PostgreSQL's deparser, so casts and inner parentheses agree).
/// Text that does not parse is returned trimmed.
pub fn normalize_expression(text: &str) -> String {
    match parse_expr(text.trim()) {
        Ok(mut expr) => {
            requote(&mut expr);
            strip_nested(&expr).to_string()
        }
        Err(_) => text.trim().to_owned(),
    }
}

pub(super) fn strip_nested(expr: &Expr) -> &Expr {
    match expr {
        Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

/// Rewrite column references in place: qualifiers dropped, names double-quoted. Function names and
/// literals are left alone.
pub(crate) fn requote(expr: &mut Expr) {
    match expr {
        Expr::Identifier(ident) => ident.quote_style = Some('"'),
        Expr::CompoundIdentifier(parts) => {
            if let Some(mut last) = parts.pop() {
                last.quote_style = Some('"');
                *expr = Expr::Identifier(last);
            }
        }
        Expr::Nested(inner)
        | Expr::Cast { expr: inner, .. }
        | Expr::UnaryOp { expr: inner, .. }
        | Expr::IsNull(inner)
        | Expr::IsNotNull(inner)
        | Expr::IsTrue(inner)
        | Expr::IsFalse(inner)
        | Expr::IsNotTrue(inner)
        | Expr::IsNotFalse(inner) => requote(inner),
        Expr::BinaryOp { left, right, .. } => {
            requote(left);
            requote(right);
        }
        Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. } => {
            requote(left);
            requote(right);
        }
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            requote(expr);
            requote(pattern);
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            requote(expr);
            requote(low);
            requote(high);
        }
        Expr::In { expr, target, .. } => {
            requote(expr);
            if let InTarget::List(list) = target {
                list.iter_mut().for_each(requote);
            }
        }
        Expr::Array(array) => array.elem.iter_mut().for_each(requote),
        Expr::Function(function) => {
            if let FunctionArguments::List(list) = &mut function.args {
                for arg in &mut list.args {
                    match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                        | FunctionArg::Named {
                            arg: FunctionArgExpr::Expr(e),
                            ..
                        }
                        | FunctionArg::ExprNamed {
                            arg: FunctionArgExpr::Expr(e),
                            ..
                        } => requote(e),
                        _ => {}
                    }
                }
            }
        }
        _ => {}
    }
}
