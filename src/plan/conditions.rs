//! The one reader of EXPLAIN's condition text (`Filter`, `Index Cond`, `Hash Cond`, `Join Filter`,
//! sort and group keys, `Output`), on sqlparser, for every layer above the plan: diagnosis asks it
//! which columns a condition names ([`referenced_columns`]), advice asks which columns of a scanned
//! table a plan filters, joins or sorts on, and how (equality, range, or something an index on a
//! plain column cannot serve: [`parse_condition`], [`parse_sort_key`]).
//!
//! EXPLAIN prints references no SQL parser knows (`(hashed SubPlan 1)`, `(InitPlan 1).col1`,
//! `alternatives: ...`); they are replaced by a placeholder parameter first, so the rest of the qual
//! survives. A conjunct that still does not parse is kept as [`PredicateKind::Other`]. Which
//! expressions can key an expression index lives in `expressions`, which columns a text names in
//! `columns`.

use sqlparser::ast::{
    BinaryOperator, CastKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    InTarget, UnaryOperator, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::{Parser, ParserError};

/// What stands in for a subplan or initplan result: a parameter, like the value it computes.
const PLACEHOLDER: &str = "$999";

/// Condition text longer than this is not parsed: sqlparser takes tens of bytes of memory per
/// byte of input, and only long literal lists (`id = ANY ('{1,2,...}'::integer[])` from a huge
/// `IN (...)`) get there. Such a condition reads as [`PredicateKind::Other`] and names no columns;
/// the other conjuncts of its node are still read.
pub const MAX_PARSED_CONDITION_BYTES: usize = 100_000;

/// A parser over `text`, refused above [`MAX_PARSED_CONDITION_BYTES`].
fn parser(text: &str) -> Result<Parser<'static>, ParserError> {
    if text.len() > MAX_PARSED_CONDITION_BYTES {
        return Err(ParserError::ParserError(format!(
            "condition of {} bytes not parsed (limit {MAX_PARSED_CONDITION_BYTES})",
            text.len()
        )));
    }
    Parser::new(&PostgreSqlDialect {}).try_with_sql(text)
}

/// The table a condition is read for: a column qualified by `alias` or `relation` (or not
/// qualified at all) belongs to it.
#[derive(Debug, Clone, Copy)]
pub struct TableRef<'a> {
    pub relation: &'a str,
    pub alias: Option<&'a str>,
}

impl<'a> TableRef<'a> {
    /// The names its columns are qualified with, for [`referenced_columns`].
    pub fn qualifiers(&self) -> Vec<&'a str> {
        std::iter::once(self.relation).chain(self.alias).collect()
    }
}

/// How an index could use a predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredicateKind {
    /// `=`, `IN (...)`, `= ANY(...)`, `IS NULL`: a btree can seek to it and keep later columns usable.
    Equality,
    /// `<`, `<=`, `>`, `>=`, `BETWEEN`, `LIKE 'prefix%'`: a btree range; columns after it only filter.
    /// (A `LIKE 'prefix%'` says so in [`Predicate::prefix_pattern`].)
    Range,
    /// jsonb or array containment (`@>`): a GIN index (`jsonb_path_ops` when only `@>` is used).
    Contains,
    /// jsonb key existence (`?`, `?|`, `?&`): a GIN index with the default `jsonb_ops`.
    KeyExists,
    /// LIKE/ILIKE/regex a btree cannot serve (`'%x%'`, any ILIKE): a GIN `gin_trgm_ops` index.
    Pattern,
    /// Anything else: other operators, expressions no index can hold, OR, NOT...
    Other,
}

/// The kind of literal a column is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constant {
    Text,
    Number,
    Boolean,
    Null,
}

/// What a predicate constrains on the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A plain column of the table.
    Column(String),
    /// An expression over the table's columns. When it can key an expression index (an immutable
    /// function of one column), the text is in [`normalize_expression`] form (`lower("email")`);
    /// otherwise it is the expression as printed.
    Expression(String),
}

impl Target {
    pub fn column(&self) -> Option<&str> {
        match self {
            Target::Column(c) => Some(c),
            Target::Expression(_) => None,
        }
    }
}

/// One conjunct of a condition that concerns the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicate {
    pub target: Target,
    pub kind: PredicateKind,
    /// True when the other side is a column of another table (a join key).
    pub join_key: bool,
    /// The conjunct as printed (after pre-cleaning).
    pub text: String,
    /// The literal the target is compared with (`'pending'`, `true`, `IS NULL`); `None` for a
    /// parameter, a join key, a subplan or a function of the clock. Only a conjunct on a literal
    /// can be a partial index's predicate.
    pub constant: Option<Constant>,
    /// A `LIKE 'prefix%'`: a btree serves it as a range only under the C collation or with a
    /// pattern operator class on the column.
    pub prefix_pattern: bool,
    /// The conjunct with unqualified, quoted identifiers ([`normalize_expression`] form): what a
    /// partial index's WHERE says.
    pub sql: String,
    /// For [`PredicateKind::Other`]: why no index serves it, in words a user can read.
    pub why_not: Option<String>,
}

/// One sort key: a column (or expression) and its direction, with PostgreSQL's NULLS default made
/// explicit (ASC means NULLS LAST, DESC means NULLS FIRST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// `None` when the key is a column of another table.
    pub target: Option<Target>,
    pub desc: bool,
    pub nulls_first: bool,
    pub text: String,
    /// For an expression key no index can hold, why (the expression is then as printed; otherwise
    /// it is in [`normalize_expression`] form, ready for an expression index).
    pub why_not: Option<String>,
}

/// Replace subplan and initplan references with a placeholder parameter.
pub fn preclean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, end)) = next_plan_reference(rest) {
        out.push_str(&rest[..start]);
        out.push_str(PLACEHOLDER);
        rest = &rest[end..];
    }
    out.push_str(rest);
    // `alternatives: SubPlan 1 or hashed SubPlan 2` has become `alternatives: $999 or $999`.
    let alternatives = format!("alternatives: {PLACEHOLDER} or {PLACEHOLDER}");
    out.replace(&alternatives, PLACEHOLDER)
}

/// The byte range of the next `[(][hashed ]SubPlan N[)][.colM]` or `InitPlan` reference.
fn next_plan_reference(text: &str) -> Option<(usize, usize)> {
    let found = ["SubPlan ", "InitPlan "]
        .iter()
        .filter_map(|word| text.find(word).map(|at| (at, word.len())))
        .min()?;
    let (at, word_len) = found;
    let digits = text[at + word_len..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits == 0 {
        // Not a reference after all: skip past the word and keep looking.
        let skip = at + word_len;
        return next_plan_reference(&text[skip..]).map(|(s, e)| (s + skip, e + skip));
    }
    let mut start = at;
    let mut end = at + word_len + digits;
    if text[..start].ends_with("hashed ") {
        start -= "hashed ".len();
    }
    if text[..start].ends_with('(') && text[end..].starts_with(')') {
        start -= 1;
        end += 1;
    }
    if let Some(after) = text[end..].strip_prefix(".col") {
        let col_digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if col_digits > 0 {
            end += ".col".len() + col_digits;
        }
    }
    Some((start, end))
}

fn parse_expr(text: &str) -> Result<Expr, ParserError> {
    parser(text)?.parse_expr()
}

/// The predicates of `condition` that concern `table`, one per AND-ed conjunct. Conjuncts that only
/// involve other tables are left out.
pub fn parse_condition(condition: &str, table: TableRef<'_>) -> Vec<Predicate> {
    let cleaned = preclean(condition);
    let mut predicates = Vec::new();
    match parse_expr(&cleaned) {
        Ok(expr) => {
            let mut conjuncts = Vec::new();
            split_and(&expr, &mut conjuncts);
            for conjunct in conjuncts {
                if let Some(p) = classify(conjunct, table) {
                    predicates.push(p);
                }
            }
        }
        Err(_) => {
            // Parse the AND-ed parts one by one so one odd conjunct does not lose the others.
            for part in split_top_level_and(strip_outer_parens(&cleaned)) {
                match parse_expr(part) {
                    Ok(expr) => {
                        let mut conjuncts = Vec::new();
                        split_and(&expr, &mut conjuncts);
                        predicates.extend(conjuncts.into_iter().filter_map(|c| classify(c, table)));
                    }
                    Err(_) => predicates.push(Predicate {
                        target: Target::Expression(part.trim().to_owned()),
                        kind: PredicateKind::Other,
                        join_key: false,
                        text: part.trim().to_owned(),
                        constant: None,
                        prefix_pattern: false,
                        sql: part.trim().to_owned(),
                        why_not: Some(format!("the condition could not be read: {}", part.trim())),
                    }),
                }
            }
        }
    }
    predicates
}

fn split_and<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::Nested(inner) => split_and(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        other => out.push(other),
    }
}

fn strip_outer_parens(text: &str) -> &str {
    let trimmed = text.trim();
    if trimmed.starts_with('(') && trimmed.ends_with(')') {
        let inner = &trimmed[1..trimmed.len() - 1];
        let mut depth = 0i32;
        for ch in inner.chars() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return trimmed;
            }
        }
        if depth == 0 {
            return inner;
        }
    }
    trimmed
}

/// Split on ` AND ` outside parentheses and quotes.
fn split_top_level_and(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut in_quote: Option<char> = None;
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        match in_quote {
            Some(q) if c == q => in_quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => in_quote = Some(c),
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 && text[i..].starts_with(" AND ") => {
                    parts.push(&text[start..i]);
                    i += " AND ".len();
                    start = i;
                    continue;
                }
                _ => {}
            },
        }
        i += 1;
    }
    parts.push(&text[start..]);
    parts
}

/// What one side of a comparison is, seen from `table`.
enum Side {
    Column(String),
    /// A literal, parameter, or expression with no column of this table.
    Value,
    Expression(String),
}

fn side(expr: &Expr, table: TableRef<'_>) -> Side {
    match column_of(expr, table) {
        Some(Some(column)) => Side::Column(column),
        Some(None) => Side::Value,
        None if is_value(expr, table) => Side::Value,
        None => Side::Expression(expr.to_string()),
    }
}

/// Types a `varchar`/`char` column is relabelled to without conversion.
const TEXT_TYPES: [&str; 7] = [
    "TEXT",
    "VARCHAR",
    "CHARACTER VARYING",
    "CHAR",
    "CHARACTER",
    "BPCHAR",
    "NAME",
];

fn type_name(data_type: &sqlparser::ast::DataType) -> String {
    data_type.to_string().to_uppercase()
}

/// `Some(Some(col))` for a column of `table`, `Some(None)` for a column of another table, `None`
/// when `expr` is not a bare column reference. Text casts of a column (`(p.city)::text`) count as
/// the column: PostgreSQL prints them for `varchar` relabelling that an index on the column still
/// serves. Other casts (`(qty)::numeric`, `(ts)::date`) convert, so only an expression index on
/// the cast serves them.
fn column_of(expr: &Expr, table: TableRef<'_>) -> Option<Option<String>> {
    match expr {
        Expr::Nested(inner) => column_of(inner, table),
        Expr::Cast {
            kind: CastKind::DoubleColon,
            expr,
            data_type,
            ..
        } if TEXT_TYPES.contains(&type_name(data_type).as_str()) => column_of(expr, table),
        Expr::Identifier(ident) => Some(Some(ident.value.clone())),
        Expr::CompoundIdentifier(parts) => {
            let (column, qualifiers) = parts.split_last()?;
            let qualifier: &Ident = qualifiers.last()?;
            let ours = qualifier.value == table.relation
                || table.alias.is_some_and(|a| a == qualifier.value);
            Some(ours.then(|| column.value.clone()))
        }
        _ => None,
    }
}

/// True when `expr` references no column of `table`: a literal, a parameter, a column of another
/// table, or an expression built only from those.
fn is_value(expr: &Expr, table: TableRef<'_>) -> bool {
    match expr {
        Expr::Value(_) => true,
        Expr::Identifier(_) => false,
        Expr::CompoundIdentifier(_) => matches!(column_of(expr, table), Some(None)),
        Expr::Nested(inner) => is_value(inner, table),
        Expr::Cast { expr, .. } => is_value(expr, table),
        Expr::UnaryOp { expr, .. } => is_value(expr, table),
        Expr::BinaryOp { left, right, .. } => is_value(left, table) && is_value(right, table),
        Expr::Array(array) => array.elem.iter().all(|e| is_value(e, table)),
        Expr::TypedString(_) | Expr::Interval(_) => true,
        Expr::Function(function) => match &function.args {
            FunctionArguments::None => true,
            FunctionArguments::List(list) => list.args.iter().all(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => is_value(e, table),
                _ => false,
            }),
            FunctionArguments::Subquery(_) => false,
        },
        _ => false,
    }
}

/// Whether `expr` mentions the table at all (anything that is not a pure value).
fn mentions(expr: &Expr, table: TableRef<'_>) -> bool {
    !is_value(expr, table)
}

/// What a literal compared with a column is, for deciding whether the conjunct can be a partial
/// index's predicate (a status string, a flag, IS NULL) or is better an index key (a number).
fn constant_of(value: &Expr) -> Option<Constant> {
    match value {
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => constant_of(inner),
        Expr::Value(v) => Some(match &v.value {
            Value::SingleQuotedString(_) | Value::EscapedStringLiteral(_) => Constant::Text,
            Value::Number(..) => Constant::Number,
            Value::Boolean(_) => Constant::Boolean,
            Value::Null => Constant::Null,
            _ => return None,
        }),
        Expr::TypedString(_) => Some(Constant::Text),
        _ => None,
    }
}

fn normalized_sql(conjunct: &Expr) -> String {
    let mut copy = conjunct.clone();
    requote(&mut copy);
    strip_nested(&copy).to_string()
}

/// The kind an operator gives a predicate on a plain column, and whether it is a `LIKE 'prefix%'`.
fn operator_kind(op: &BinaryOperator, value: &Expr) -> (PredicateKind, bool) {
    match op {
        BinaryOperator::Eq => (PredicateKind::Equality, false),
        BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq => {
            (PredicateKind::Range, false)
        }
        BinaryOperator::PGLikeMatch if is_prefix_pattern(value) => (PredicateKind::Range, true),
        BinaryOperator::PGLikeMatch
        | BinaryOperator::PGILikeMatch
        | BinaryOperator::PGRegexMatch
        | BinaryOperator::PGRegexIMatch => (PredicateKind::Pattern, false),
        BinaryOperator::AtArrow => (PredicateKind::Contains, false),
        BinaryOperator::Question | BinaryOperator::QuestionAnd | BinaryOperator::QuestionPipe => {
            (PredicateKind::KeyExists, false)
        }
        _ => (PredicateKind::Other, false),
    }
}

fn classify(conjunct: &Expr, table: TableRef<'_>) -> Option<Predicate> {
    let text = conjunct.to_string();
    let sql = normalized_sql(conjunct);
    let base = |target: Target, kind: PredicateKind| Predicate {
        target,
        kind,
        join_key: false,
        text: text.clone(),
        constant: None,
        prefix_pattern: false,
        sql: sql.clone(),
        why_not: None,
    };
    let other = |target: Target, why: String| Predicate {
        why_not: Some(why),
        ..base(target, PredicateKind::Other)
    };
    let operator_why = || format!("no btree or GIN index serves the operator in {text}");
    // A predicate on `subject` (compared with `value`, when there is one).
    let on_side = |subject: &Expr,
                   kind: PredicateKind,
                   prefix_pattern: bool,
                   value: Option<&Expr>,
                   value_ok: bool| {
        if !mentions(subject, table) {
            return None;
        }
        let column_only = matches!(
            kind,
            PredicateKind::Pattern | PredicateKind::Contains | PredicateKind::KeyExists
        );
        Some(match side(subject, table) {
            Side::Column(c) if value_ok && kind != PredicateKind::Other => Predicate {
                join_key: value.is_some_and(|v| matches!(column_of(v, table), Some(None))),
                constant: value.and_then(constant_of),
                prefix_pattern,
                ..base(Target::Column(c), kind)
            },
            Side::Column(c) => other(Target::Column(c), operator_why()),
            Side::Expression(e) => match indexable_expression(subject, table, value) {
                Ok(expression) if value_ok && !column_only && kind != PredicateKind::Other => {
                    Predicate {
                        constant: value.and_then(constant_of),
                        ..base(Target::Expression(expression), kind)
                    }
                }
                Ok(_) => other(Target::Expression(e), operator_why()),
                Err(why) => other(Target::Expression(e), why),
            },
            Side::Value => return None,
        })
    };
    match conjunct {
        Expr::BinaryOp { left, op, right } => {
            let (subject, value) = match (side(left, table), side(right, table)) {
                (Side::Column(_) | Side::Expression(_), Side::Value) => (left, right),
                (Side::Value, Side::Column(_) | Side::Expression(_))
                    if matches!(
                        op,
                        BinaryOperator::Eq
                            | BinaryOperator::Lt
                            | BinaryOperator::LtEq
                            | BinaryOperator::Gt
                            | BinaryOperator::GtEq
                    ) =>
                {
                    // `5 < x` is `x > 5`: the kind (range) is the same either way.
                    (right, left)
                }
                (Side::Value, Side::Value) => return None,
                (Side::Value, _) => {
                    return Some(other(Target::Expression(text.clone()), operator_why()));
                }
                _ => {
                    return Some(other(
                        Target::Expression(text.clone()),
                        format!("the condition compares two expressions of the table: {text}"),
                    ));
                }
            };
            let (kind, prefix_pattern) = operator_kind(op, value);
            on_side(subject, kind, prefix_pattern, Some(value), true)
        }
        Expr::In {
            expr,
            target,
            negated,
            ..
        } => {
            let values = match target {
                InTarget::List(list) => list.iter().all(|v| is_value(v, table)),
                _ => false,
            };
            let constant = match target {
                InTarget::List(list) => list.first().and_then(constant_of),
                _ => None,
            };
            on_side(
                expr,
                PredicateKind::Equality,
                false,
                None,
                values && !negated,
            )
            .map(|p| Predicate { constant, ..p })
        }
        Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        } => on_side(
            left,
            PredicateKind::Equality,
            false,
            Some(right),
            *compare_op == BinaryOperator::Eq && is_value(right, table),
        ),
        // A btree seeks past the NULLs: a range, rarely selective but servable.
        Expr::IsNotNull(expr) => on_side(expr, PredicateKind::Range, false, None, true),
        Expr::IsNull(expr) => {
            on_side(expr, PredicateKind::Equality, false, None, true).map(|p| Predicate {
                constant: Some(Constant::Null),
                ..p
            })
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => on_side(
            expr,
            PredicateKind::Range,
            false,
            None,
            !negated && is_value(low, table) && is_value(high, table),
        ),
        Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char: None,
        } if !negated => {
            let (kind, prefix_pattern) = operator_kind(&BinaryOperator::PGLikeMatch, pattern);
            on_side(expr, kind, prefix_pattern, Some(pattern), true)
        }
        Expr::ILike {
            negated: false,
            any: false,
            expr,
            pattern,
            escape_char: None,
        } => on_side(expr, PredicateKind::Pattern, false, Some(pattern), true),
        Expr::Value(_) => None,
        // A boolean column as the whole condition (`active`, `NOT active`): an equality on a flag.
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => match column_of(conjunct, table) {
            Some(Some(c)) => Some(Predicate {
                constant: Some(Constant::Boolean),
                ..base(Target::Column(c), PredicateKind::Equality)
            }),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => match column_of(expr, table) {
            Some(Some(c)) => Some(Predicate {
                constant: Some(Constant::Boolean),
                ..base(Target::Column(c), PredicateKind::Equality)
            }),
            Some(None) => None,
            None if !mentions(expr, table) => None,
            None => Some(other(
                Target::Expression(text.clone()),
                format!("a negated condition is not something an index seeks: {text}"),
            )),
        },
        _ if !mentions(conjunct, table) => None,
        _ => Some(other(
            Target::Expression(text.clone()),
            format!("no btree or GIN index serves the condition {text}"),
        )),
    }
}

/// `'abc%'` (possibly cast): a LIKE a btree can serve as a range. Wildcards before the final `%`
/// and a leading `%` cannot.
fn is_prefix_pattern(expr: &Expr) -> bool {
    match expr {
        Expr::Nested(inner) => is_prefix_pattern(inner),
        Expr::Cast { expr, .. } => is_prefix_pattern(expr),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s
                .strip_suffix('%')
                .is_some_and(|prefix| !prefix.is_empty() && !prefix.contains(['%', '_', '\\'])),
            _ => false,
        },
        _ => false,
    }
}

/// One EXPLAIN sort key (`x DESC NULLS LAST`, `t.score DESC`) for `table`.
pub fn parse_sort_key(key: &str, table: TableRef<'_>) -> SortKey {
    let mut rest = key.trim();
    let mut nulls_first = None;
    if let Some(r) = rest.strip_suffix(" NULLS FIRST") {
        nulls_first = Some(true);
        rest = r;
    } else if let Some(r) = rest.strip_suffix(" NULLS LAST") {
        nulls_first = Some(false);
        rest = r;
    }
    let mut desc = false;
    if let Some(r) = rest.strip_suffix(" DESC") {
        desc = true;
        rest = r;
    } else if let Some(r) = rest.strip_suffix(" ASC") {
        rest = r;
    }
    let mut why_not = None;
    let target = match parse_expr(&preclean(rest)) {
        Ok(expr) => match column_of(&expr, table) {
            Some(Some(column)) => Some(Target::Column(column)),
            Some(None) => None,
            None if is_value(&expr, table) => None,
            None => Some(Target::Expression(
                match indexable_expression(&expr, table, None) {
                    Ok(normalized) => normalized,
                    Err(why) => {
                        why_not = Some(why);
                        rest.to_owned()
                    }
                },
            )),
        },
        Err(_) => {
            why_not = Some(format!("the sort key could not be read: {rest}"));
            Some(Target::Expression(rest.to_owned()))
        }
    };
    SortKey {
        why_not,
        target,
        desc,
        nulls_first: nulls_first.unwrap_or(desc),
        text: key.to_owned(),
    }
}

mod columns;
mod expressions;

pub use columns::{
    ColumnRef, is_row_predicate, own_qualifiers, referenced_columns, split_restrictions,
};
pub use expressions::normalize_expression;
use expressions::{indexable_expression, requote, strip_nested};

#[cfg(test)]
mod tests;
