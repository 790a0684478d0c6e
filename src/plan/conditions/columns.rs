//! Which columns a piece of EXPLAIN text names (a condition, a sort or group key, an `Output`
//! item), read from the same sqlparser tree as the predicates: function and type names, keywords,
//! literals, parameters and subplan references are never mistaken for columns, and quoted names
//! keep their spaces, dots and quotes.

use sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, Ident, InTarget, Value, WindowType,
};
use sqlparser::parser::ParserError;
use sqlparser::tokenizer::Token;

use super::{TEXT_TYPES, preclean, split_top_level_and, strip_outer_parens, type_name};
use crate::plan::PlanNode;

/// A column named in EXPLAIN text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRef {
    /// The column's name, unquoted (`Mixed "Case"` for `"Mixed ""Case"""`).
    pub name: String,
    /// Compared with `=` (or `= ANY (...)`) somewhere in the text, directly or through a text
    /// cast: an index wants those columns first.
    pub equality: bool,
}

/// The names a scan's own columns are qualified with in its conditions: its alias and its table's
/// name (EXPLAIN VERBOSE qualifies with the alias, which defaults to the table name). Empty for a
/// node that reads no relation.
pub fn own_qualifiers(node: &PlanNode) -> Vec<&str> {
    node.alias
        .as_deref()
        .into_iter()
        .chain(node.relation_name.as_deref())
        .collect()
}

/// The columns `text` names, in order of first mention, once each. A qualified name (`p.city`,
/// `public.reviews.rating`) counts only when its qualifier, the part before the column, is one of
/// `qualifiers` (see [`own_qualifiers`]): columns of other tables, such as the outer side of a join,
/// are left out. Bare names always count: EXPLAIN leaves them bare when the plan reads one table.
/// With `qualifiers` empty, every column counts.
///
/// Sort keys may keep their `DESC` / `NULLS FIRST` suffix. Text that does not parse is read conjunct
/// by conjunct (top-level `AND`s); a conjunct that still does not parse names no column.
pub fn referenced_columns(text: &str, qualifiers: &[&str]) -> Vec<ColumnRef> {
    let mut columns: Vec<ColumnRef> = Vec::new();
    for column in read(text).mentions {
        if !column.is_ours(qualifiers) {
            continue;
        }
        match columns.iter_mut().find(|c| c.name == column.name) {
            Some(existing) => existing.equality |= column.equality,
            None => columns.push(ColumnRef {
                name: column.name,
                equality: column.equality,
            }),
        }
    }
    columns
}

/// True when `text` depends on nothing but the row it is read on: its columns are all the scan's own
/// (qualified by one of `qualifiers`, or bare) and it holds literals and operators only, no
/// parameter, subplan or function call (which may not be immutable). Such a condition can be a
/// partial index's `WHERE`. Text that cannot be read whole is not.
pub fn is_row_predicate(text: &str, qualifiers: &[&str]) -> bool {
    let reading = read(text);
    !reading.beyond_the_row && reading.mentions.iter().all(|m| m.is_ours(qualifiers))
}

/// The conjuncts (top-level `AND`s) of `text` split in two: those that restrict the scan's own
/// rows (each names at least one column, and every column it names is the scan's own, see
/// [`referenced_columns`]), then the others. A conjunct naming a column of another relation (a
/// join condition, an outer query's column in a correlated subquery: `l2.l_suppkey <>
/// l1.l_suppkey`) compares rows of two relations, which no statistics of one table describe.
/// Parameters and subplan results may stand on the other side of a restriction (`l_quantity <
/// $0`): the table's own values are still what is compared. A conjunct that does not parse is
/// among the others.
pub fn split_restrictions(text: &str, qualifiers: &[&str]) -> (Vec<String>, Vec<String>) {
    let cleaned = explain_only_syntax_removed(text);
    let mut parts: Vec<String> = Vec::new();
    match parse_whole(&cleaned) {
        Ok(expr) => {
            let mut conjuncts = Vec::new();
            super::split_and(&expr, &mut conjuncts);
            parts.extend(conjuncts.into_iter().map(ToString::to_string));
        }
        Err(_) => parts.extend(
            split_top_level_and(strip_outer_parens(&cleaned))
                .into_iter()
                .map(|p| p.trim().to_owned()),
        ),
    }
    parts.into_iter().partition(|part| {
        let mut reading = Reading::default();
        match parse_whole(part) {
            Ok(expr) => visit(&expr, false, &mut reading),
            Err(_) => return false,
        }
        !reading.mentions.is_empty() && reading.mentions.iter().all(|m| m.is_ours(qualifiers))
    })
}

/// What a walk over a text found.
#[derive(Default)]
struct Reading {
    mentions: Vec<Mention>,
    /// A parameter, subplan, function call, unreadable part or syntax the walk does not follow.
    beyond_the_row: bool,
}

fn read(text: &str) -> Reading {
    let mut reading = Reading::default();
    read_columns(&explain_only_syntax_removed(text), &mut reading);
    reading
}

/// One mention of a column, before filtering and merging.
struct Mention {
    qualifier: Option<String>,
    name: String,
    equality: bool,
}

impl Mention {
    fn is_ours(&self, qualifiers: &[&str]) -> bool {
        match &self.qualifier {
            Some(qualifier) => qualifiers.is_empty() || qualifiers.contains(&qualifier.as_str()),
            None => true,
        }
    }
}

/// EXPLAIN's own additions around expressions, brought back to SQL: subplan references become a
/// parameter, `OVER (?)` (a window PostgreSQL does not print) an empty window, and a sort
/// direction or an aggregate's `PARTIAL` / `FINALIZE` mark is dropped.
fn explain_only_syntax_removed(text: &str) -> String {
    let mut cleaned = preclean(text).replace("OVER (?)", "OVER ()");
    for suffix in [" NULLS FIRST", " NULLS LAST", " DESC", " ASC"] {
        if let Some(rest) = cleaned.trim_end().strip_suffix(suffix) {
            cleaned = rest.to_owned();
        }
    }
    for mark in ["PARTIAL ", "FINALIZE "] {
        if let Some(rest) = cleaned.trim_start().strip_prefix(mark) {
            cleaned = rest.to_owned();
        }
        cleaned = cleaned.replace(&format!("({mark}"), "(");
    }
    cleaned
}

/// The whole of `text` as one expression: unlike `Parser::parse_expr` alone, trailing text is an
/// error, so nothing after a readable prefix is silently skipped.
fn parse_whole(text: &str) -> Result<Expr, ParserError> {
    let mut parser = super::parser(text)?;
    let expr = parser.parse_expr()?;
    match parser.peek_token().token {
        Token::EOF => Ok(expr),
        other => Err(ParserError::ParserError(format!("unexpected {other}"))),
    }
}

fn read_columns(text: &str, found: &mut Reading) {
    if let Ok(expr) = parse_whole(text) {
        visit(&expr, false, found);
        return;
    }
    let parts = split_top_level_and(strip_outer_parens(text));
    if parts.len() > 1 {
        for part in parts {
            read_columns(part, found);
        }
    } else {
        found.beyond_the_row = true;
    }
}

/// The name parts of a column reference, through parentheses and text casts (PostgreSQL's
/// relabelling of `varchar`, which leaves the column itself compared).
fn column_parts(expr: &Expr) -> Option<&[Ident]> {
    match expr {
        Expr::Nested(inner) => column_parts(inner),
        Expr::Cast {
            expr, data_type, ..
        } if TEXT_TYPES.contains(&type_name(data_type).as_str()) => column_parts(expr),
        Expr::Identifier(ident) => Some(std::slice::from_ref(ident)),
        Expr::CompoundIdentifier(parts) => Some(parts),
        _ => None,
    }
}

fn mention(parts: &[Ident], equality: bool, found: &mut Reading) {
    if let Some((name, qualifiers)) = parts.split_last() {
        found.mentions.push(Mention {
            qualifier: qualifiers.last().map(|q| q.value.clone()),
            name: name.value.clone(),
            equality,
        });
    }
}

/// Record the columns of `expr`; `equality` says `expr` is itself an operand of `=`.
fn visit(expr: &Expr, equality: bool, found: &mut Reading) {
    if equality && let Some(parts) = column_parts(expr) {
        mention(parts, true, found);
        return;
    }
    // The operators that make their operands equality columns first, then everything else.
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            visit(left, true, found);
            visit(right, true, found);
            return;
        }
        Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        } => {
            visit(left, *compare_op == BinaryOperator::Eq, found);
            visit(right, false, found);
            return;
        }
        Expr::In { expr, target, .. } => {
            // `x IN (1, 2)` is how an index condition's `= ANY` reads in SQL: an equality.
            visit(expr, matches!(target, InTarget::List(_)), found);
            match target {
                InTarget::List(list) => list.iter().for_each(|e| visit(e, false, found)),
                InTarget::Unnest(array) => visit(array, false, found),
                _ => {}
            }
            return;
        }
        _ => {}
    }
    let mut each = |e: &Expr| visit(e, false, found);
    match expr {
        Expr::Identifier(ident) => mention(std::slice::from_ref(ident), false, found),
        Expr::CompoundIdentifier(parts) => mention(parts, false, found),
        Expr::BinaryOp { left, right, .. }
        | Expr::AllOp { left, right, .. }
        | Expr::IsDistinctFrom(left, right)
        | Expr::IsNotDistinctFrom(left, right) => {
            each(left);
            each(right);
        }
        Expr::Nested(inner)
        | Expr::Cast { expr: inner, .. }
        | Expr::UnaryOp { expr: inner, .. }
        | Expr::Collate { expr: inner, .. }
        | Expr::Extract { expr: inner, .. }
        | Expr::Ceil { expr: inner, .. }
        | Expr::Floor { expr: inner, .. }
        | Expr::Prefixed { value: inner, .. }
        | Expr::JsonAccess { value: inner, .. }
        | Expr::IsNull(inner)
        | Expr::IsNotNull(inner)
        | Expr::IsTrue(inner)
        | Expr::IsNotTrue(inner)
        | Expr::IsFalse(inner)
        | Expr::IsNotFalse(inner)
        | Expr::IsUnknown(inner)
        | Expr::IsNotUnknown(inner) => each(inner),
        Expr::Like { expr, pattern, .. }
        | Expr::ILike { expr, pattern, .. }
        | Expr::SimilarTo { expr, pattern, .. }
        | Expr::RLike { expr, pattern, .. } => {
            each(expr);
            each(pattern);
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            each(expr);
            each(low);
            each(high);
        }
        Expr::AtTimeZone {
            timestamp,
            time_zone,
        } => {
            each(timestamp);
            each(time_zone);
        }
        Expr::Position { expr, r#in } => {
            each(expr);
            each(r#in);
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            each(expr);
            substring_from.iter().for_each(|e| each(e));
            substring_for.iter().for_each(|e| each(e));
        }
        Expr::Trim {
            expr,
            trim_what,
            trim_characters,
            ..
        } => {
            each(expr);
            trim_what.iter().for_each(|e| each(e));
            trim_characters.iter().flatten().for_each(each);
        }
        Expr::Overlay {
            expr,
            overlay_what,
            overlay_from,
            overlay_for,
        } => {
            each(expr);
            each(overlay_what);
            each(overlay_from);
            overlay_for.iter().for_each(|e| each(e));
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.iter().for_each(|e| each(e));
            for when in conditions {
                each(&when.condition);
                each(&when.result);
            }
            else_result.iter().for_each(|e| each(e));
        }
        Expr::CompoundFieldAccess { root, access_chain } => {
            each(root);
            for access in access_chain {
                if let AccessExpr::Subscript(subscript) = access {
                    visit_subscript(subscript, found);
                }
            }
        }
        Expr::Array(array) => array.elem.iter().for_each(each),
        Expr::Tuple(items) => items.iter().for_each(each),
        Expr::Function(function) => {
            found.beyond_the_row = true;
            visit_arguments(&function.parameters, found);
            visit_arguments(&function.args, found);
            function.filter.iter().for_each(|e| visit(e, false, found));
            for order in &function.within_group {
                visit(&order.expr, false, found);
            }
            if let Some(WindowType::WindowSpec(window)) = &function.over {
                window
                    .partition_by
                    .iter()
                    .for_each(|e| visit(e, false, found));
                for order in &window.order_by {
                    visit(&order.expr, false, found);
                }
            }
        }
        Expr::Value(value) => {
            if matches!(value.value, Value::Placeholder(_)) {
                found.beyond_the_row = true;
            }
        }
        Expr::TypedString(_) | Expr::Interval(_) => {}
        // Wildcards, subqueries (EXPLAIN prints none: they are subplans) and syntax of other
        // dialects: no column of the plan is read out of them.
        _ => found.beyond_the_row = true,
    }
}

fn visit_subscript(subscript: &sqlparser::ast::Subscript, found: &mut Reading) {
    match subscript {
        sqlparser::ast::Subscript::Index { index } => visit(index, false, found),
        sqlparser::ast::Subscript::Slice {
            lower_bound,
            upper_bound,
            stride,
        } => {
            for bound in [lower_bound, upper_bound, stride].into_iter().flatten() {
                visit(bound, false, found);
            }
        }
    }
}

fn visit_arguments(arguments: &FunctionArguments, found: &mut Reading) {
    let FunctionArguments::List(list) = arguments else {
        return;
    };
    for arg in &list.args {
        match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
            | FunctionArg::Named {
                arg: FunctionArgExpr::Expr(e),
                ..
            }
            | FunctionArg::ExprNamed {
                arg: FunctionArgExpr::Expr(e),
                ..
            } => visit(e, false, found),
            _ => {}
        }
    }
    for clause in &list.clauses {
        match clause {
            FunctionArgumentClause::OrderBy(orders) => {
                for order in orders {
                    visit(&order.expr, false, found);
                }
            }
            FunctionArgumentClause::Having(bound) => visit(&bound.1, false, found),
            FunctionArgumentClause::Limit(e) => visit(e, false, found),
            _ => {}
        }
    }
}
