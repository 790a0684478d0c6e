//! The statement side of a view suggestion, read with sqlparser: the GROUP BY queries a view could
//! replace, their base table, output columns and group keys, what in them a view cannot
//! reproduce, and moving conditions onto the view's columns.

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    InTarget, ObjectNamePart, Query, Select, SelectItem, SetExpr, TableFactor, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// Functions whose value changes from call to call or session to session: a view would freeze one.
pub(super) const VOLATILE_FUNCTIONS: &[&str] = &[
    "now",
    "random",
    "random_normal",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timeofday",
    "nextval",
    "currval",
    "lastval",
    "setval",
    "setseed",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "txid_current",
    "pg_current_xact_id",
    "pg_backend_pid",
    "current_setting",
    "inet_client_addr",
    "pg_sleep",
];

/// SQL value functions written without parentheses that depend on the moment or the session.
pub(super) const VOLATILE_KEYWORDS: &[&str] = &[
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "current_user",
    "session_user",
    "current_role",
];

/// Where in the statement an aggregate over one table sits.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Site {
    /// The statement itself.
    Top,
    /// The `n`th table factor (in [`for_each_factor`] order) of the top-level FROM.
    Derived {
        factor: usize,
        alias: Option<String>,
    },
    /// The `n`th CTE, with the aliases the top-level FROM reads it under.
    Cte {
        index: usize,
        name: String,
        references: Vec<String>,
    },
}

/// Every GROUP BY query of the statement a view could replace, with its SELECT.
pub(super) fn sites(query: &Query) -> Vec<(Site, &Select, Option<&Query>)> {
    let mut found = Vec::new();
    let top = match query.body.as_ref() {
        SetExpr::Select(select) => Some(select.as_ref()),
        _ => None,
    };
    if let Some(select) = top
        && has_group_by(select)
    {
        found.push((Site::Top, select, None));
    }
    if let Some(with) = &query.with {
        for (index, cte) in with.cte_tables.iter().enumerate() {
            if let SetExpr::Select(select) = cte.query.body.as_ref()
                && has_group_by(select)
            {
                let name = ident_name(&cte.alias.name);
                let mut references = Vec::new();
                if let Some(top) = top {
                    for_each_factor(top, &mut |_, factor| {
                        if let TableFactor::Table {
                            name: table, alias, ..
                        } = factor
                            && table.0.len() == 1
                            && object_part(&table.0[0]).as_deref() == Some(name.as_str())
                        {
                            references.push(
                                alias
                                    .as_ref()
                                    .map(|a| ident_name(&a.name))
                                    .unwrap_or_else(|| name.clone()),
                            );
                        }
                    });
                }
                found.push((
                    Site::Cte {
                        index,
                        name,
                        references,
                    },
                    select.as_ref(),
                    Some(cte.query.as_ref()),
                ));
            }
        }
    }
    if let Some(top) = top {
        for_each_factor(top, &mut |n, factor| {
            if let TableFactor::Derived {
                subquery, alias, ..
            } = factor
                && let SetExpr::Select(select) = subquery.body.as_ref()
                && has_group_by(select)
            {
                found.push((
                    Site::Derived {
                        factor: n,
                        alias: alias.as_ref().map(|a| ident_name(&a.name)),
                    },
                    select.as_ref(),
                    Some(subquery.as_ref()),
                ));
            }
        });
    }
    found
}

pub(super) fn has_group_by(select: &Select) -> bool {
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => !exprs.is_empty() || !modifiers.is_empty(),
        GroupByExpr::All(_) => true,
    }
}

/// Visit the table factors of a SELECT's FROM in a fixed order, numbering them.
pub(super) fn for_each_factor<'q>(select: &'q Select, f: &mut impl FnMut(usize, &'q TableFactor)) {
    fn visit<'q>(
        factor: &'q TableFactor,
        n: &mut usize,
        f: &mut impl FnMut(usize, &'q TableFactor),
    ) {
        f(*n, factor);
        *n += 1;
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = factor
        {
            visit(&table_with_joins.relation, n, f);
            for join in &table_with_joins.joins {
                visit(&join.relation, n, f);
            }
        }
    }
    let mut n = 0;
    for table in &select.from {
        visit(&table.relation, &mut n, f);
        for join in &table.joins {
            visit(&join.relation, &mut n, f);
        }
    }
}

/// The mutable twin of [`for_each_factor`]: the same numbering.
pub(super) fn factor_mut(select: &mut Select, wanted: usize) -> Option<&mut TableFactor> {
    fn visit<'q>(
        factor: &'q mut TableFactor,
        n: &mut usize,
        wanted: usize,
    ) -> Option<&'q mut TableFactor> {
        if *n == wanted {
            return Some(factor);
        }
        *n += 1;
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = factor
        {
            if let Some(found) = visit(&mut table_with_joins.relation, n, wanted) {
                return Some(found);
            }
            for join in &mut table_with_joins.joins {
                if let Some(found) = visit(&mut join.relation, n, wanted) {
                    return Some(found);
                }
            }
        }
        None
    }
    let mut n = 0;
    for table in &mut select.from {
        if let Some(found) = visit(&mut table.relation, &mut n, wanted) {
            return Some(found);
        }
        for join in &mut table.joins {
            if let Some(found) = visit(&mut join.relation, &mut n, wanted) {
                return Some(found);
            }
        }
    }
    None
}

/// An identifier as PostgreSQL resolves it: unquoted names fold to lower case.
pub(super) fn ident_name(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

pub(super) fn object_part(part: &ObjectNamePart) -> Option<String> {
    part.as_ident().map(ident_name)
}

/// One output column of the aggregated SELECT.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) expr: Expr,
    /// The name the query's reader sees (alias, column name, or PostgreSQL's default name).
    pub(super) output: String,
    /// The name of the view's column.
    pub(super) column: String,
}

/// An aggregated SELECT over one table, read.
#[derive(Debug)]
pub(super) struct Aggregate<'q> {
    pub(super) select: &'q Select,
    pub(super) schema: Option<String>,
    pub(super) table: String,
    pub(super) alias: Option<String>,
    pub(super) items: Vec<Item>,
    /// Indexes into `items` of the group keys.
    pub(super) keys: Vec<usize>,
}

impl Aggregate<'_> {
    /// The item a column reference of the base table resolves to, when it is a plain column item.
    pub(super) fn column_item(&self, expr: &Expr) -> Option<usize> {
        let column = self.column_of(expr)?;
        self.items
            .iter()
            .position(|item| self.column_of(&item.expr).as_deref() == Some(column.as_str()))
    }

    /// The base table's column a reference names, if it names one (qualified by the table or its
    /// alias, or not at all).
    pub(super) fn column_of(&self, expr: &Expr) -> Option<String> {
        let parts: Vec<String> = match expr {
            Expr::Identifier(ident) => vec![ident_name(ident)],
            Expr::CompoundIdentifier(idents) => idents.iter().map(ident_name).collect(),
            _ => return None,
        };
        let (column, qualifiers) = parts.split_last()?;
        let ok = match qualifiers {
            [] => true,
            [q] => Some(q) == self.alias.as_ref() || (self.alias.is_none() && *q == self.table),
            [s, t] => self.alias.is_none() && *t == self.table && Some(s) == self.schema.as_ref(),
            _ => false,
        };
        ok.then(|| column.clone())
    }

    pub(super) fn key_columns(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|&k| self.items[k].column.clone())
            .collect()
    }
}

/// Read a GROUP BY over one table: the table, the output columns with the names the view gives
/// them, and the group keys among them (the view's unique key); or why no view can hold it.
pub(super) fn read_aggregate(select: &Select) -> Result<Aggregate<'_>, String> {
    if select.distinct.is_some() {
        return Err("SELECT DISTINCT over the aggregate is not handled".into());
    }
    if select.from.len() != 1 || !select.from[0].joins.is_empty() {
        let tables: Vec<String> = select
            .from
            .iter()
            .flat_map(|t| {
                std::iter::once(&t.relation)
                    .chain(t.joins.iter().map(|j| &j.relation))
                    .map(|r| r.to_string())
            })
            .collect();
        return Err(format!(
            "the aggregate reads more than one base table ({}): a view over several tables is not suggested",
            tables.join(", ")
        ));
    }
    let TableFactor::Table {
        name, alias, args, ..
    } = &select.from[0].relation
    else {
        return Err(format!(
            "the aggregate reads {} rather than a table",
            select.from[0].relation
        ));
    };
    if args.is_some() {
        return Err(format!(
            "the aggregate reads a function ({name}), not a table"
        ));
    }
    let parts: Option<Vec<String>> = name.0.iter().map(object_part).collect();
    let (schema, table) = match parts.as_deref() {
        Some([table]) => (None, table.clone()),
        Some([schema, table]) => (Some(schema.clone()), table.clone()),
        _ => return Err(format!("cannot read the table name {name}")),
    };
    let GroupByExpr::Expressions(group_exprs, modifiers) = &select.group_by else {
        return Err("GROUP BY ALL is not handled".into());
    };
    if !modifiers.is_empty() || group_exprs.is_empty() {
        return Err(format!(
            "GROUP BY {} is not a plain list of keys",
            select.group_by
        ));
    }
    // (expression, output name, named): a named item keeps its name as the view's column; an
    // unnamed one (an unaliased aggregate) gets a generated column name, read back under its
    // output name.
    let mut items = Vec::new();
    for item in &select.projection {
        let (expr, output, named) = match item {
            SelectItem::UnnamedExpr(expr) => (
                expr,
                default_name(expr),
                matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)),
            ),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(ident_name(alias)), true),
            other => {
                return Err(format!(
                    "the aggregate's select list has {other}: name its columns so the view's columns are known"
                ));
            }
        };
        items.push((expr.clone(), output, named));
    }
    let mut aggregate = Aggregate {
        select,
        schema,
        table,
        alias: alias.as_ref().map(|a| ident_name(&a.name)),
        items: Vec::new(),
        keys: Vec::new(),
    };
    let mut taken: Vec<String> = items
        .iter()
        .filter(|(_, _, named)| *named)
        .filter_map(|(_, output, _)| output.clone())
        .collect();
    for (i, (expr, output, named)) in items.into_iter().enumerate() {
        let column = match (&output, named) {
            (Some(output), true) => output.clone(),
            _ => {
                let generated = unique_name(generated_name(&expr, i), &taken);
                taken.push(generated.clone());
                generated
            }
        };
        aggregate.items.push(Item {
            expr,
            output: output.unwrap_or_else(|| "?column?".into()),
            column,
        });
    }
    for (i, item) in aggregate.items.iter().enumerate() {
        if aggregate.items[..i].iter().any(|o| o.column == item.column) {
            return Err(format!("two view columns would be named {}", item.column));
        }
    }
    for key in group_exprs {
        let index = match key {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1 && n <= aggregate.items.len())
                    .map(|n| n - 1),
                _ => None,
            },
            _ => aggregate
                .items
                .iter()
                .position(|item| &item.expr == key)
                .or_else(|| aggregate.column_item(key)),
        };
        let Some(index) = index else {
            return Err(format!(
                "group key {key} is not in the select list: the view needs every key as a column for its unique index"
            ));
        };
        if !aggregate.keys.contains(&index) {
            aggregate.keys.push(index);
        }
    }
    Ok(aggregate)
}

/// PostgreSQL's name for an unaliased output column (FigureColname): a column's name, a
/// function's name, through casts; `None` for `?column?`.
pub(super) fn default_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(ident_name(ident)),
        Expr::CompoundIdentifier(idents) => idents.last().map(ident_name),
        Expr::Function(function) => function.name.0.last().and_then(object_part),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => default_name(expr),
        Expr::Case { .. } => Some("case".into()),
        _ => None,
    }
}

/// A view column name for an unaliased expression: `count_all`, `avg_rating`, `sum_2`...
pub(super) fn generated_name(expr: &Expr, position: usize) -> String {
    let inner = match expr {
        Expr::Cast { expr, .. } | Expr::Nested(expr) => expr.as_ref(),
        other => other,
    };
    if let Expr::Function(function) = inner
        && let Some(name) = function.name.0.last().and_then(object_part)
    {
        let suffix = match &function.args {
            FunctionArguments::List(list) => match list.args.as_slice() {
                [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] => Some("all".to_owned()),
                [] => Some("all".to_owned()),
                [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] => match arg {
                    Expr::Identifier(i) => Some(ident_name(i)),
                    Expr::CompoundIdentifier(ids) => ids.last().map(ident_name),
                    _ => None,
                },
                _ => None,
            },
            FunctionArguments::None => Some("all".to_owned()),
            FunctionArguments::Subquery(_) => None,
        };
        return match suffix {
            Some(suffix) => format!("{name}_{suffix}"),
            None => format!("{name}_{}", position + 1),
        };
    }
    format!("column_{}", position + 1)
}

pub(super) fn unique_name(name: String, taken: &[String]) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (2..)
        .map(|n| format!("{name}_{n}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(name)
}

/// What a tokenized piece of SQL contains that a view cannot reproduce.
#[derive(Debug, Default)]
pub(super) struct Hazards {
    pub(super) volatile: Option<String>,
    pub(super) parameter: Option<String>,
    pub(super) window: bool,
    pub(super) ordered_aggregate: bool,
    pub(super) subquery: bool,
}

/// Read hazards from the tokens of `text` (complete whatever the expression's shape).
pub(super) fn hazards(text: &str) -> Hazards {
    let mut found = Hazards::default();
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, text).tokenize() else {
        return found;
    };
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Placeholder(p) if found.parameter.is_none() => {
                found.parameter = Some(p.clone());
            }
            Token::Word(word) if word.quote_style.is_none() => {
                let lower = word.value.to_lowercase();
                let called = matches!(tokens.get(i + 1), Some(Token::LParen));
                let after_dot = i > 0 && matches!(tokens[i - 1], Token::Period);
                if found.volatile.is_none()
                    && !after_dot
                    && ((called && VOLATILE_FUNCTIONS.contains(&lower.as_str()))
                        || VOLATILE_KEYWORDS.contains(&lower.as_str()))
                {
                    found.volatile = Some(lower.clone());
                }
                match lower.as_str() {
                    "over" => found.window = true,
                    "within" | "order" => found.ordered_aggregate = true,
                    "select" => found.subquery = true,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    found
}

/// Refuse the parts that go into the view when they contain anything it cannot reproduce.
pub(super) fn check_view_part(what: &str, text: &str) -> Result<(), String> {
    let h = hazards(text);
    if let Some(function) = h.volatile {
        return Err(format!(
            "{what} calls {function}, whose value changes over time: a materialized view would freeze it"
        ));
    }
    if let Some(parameter) = h.parameter {
        return Err(format!(
            "{what} uses the parameter {parameter}: a view cannot be computed for every value"
        ));
    }
    if h.window {
        return Err(format!("{what} has a window function (OVER): not handled"));
    }
    if h.ordered_aggregate {
        return Err(format!(
            "{what} has an ordered aggregate (ORDER BY or WITHIN GROUP inside the call): not handled"
        ));
    }
    if h.subquery {
        return Err(format!("{what} contains a subquery: not handled"));
    }
    Ok(())
}

/// Conditions joined by AND again, ORs parenthesized.
pub(super) fn and_all(conjuncts: &[Expr]) -> Option<String> {
    (!conjuncts.is_empty()).then(|| {
        conjuncts
            .iter()
            .map(|c| match c {
                Expr::BinaryOp {
                    op: BinaryOperator::Or,
                    ..
                } => format!("({c})"),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    })
}

/// The AND-ed parts of a condition, each moved to the view or to the rewrite on its own.
pub(super) fn conjuncts(expr: &Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(inner, out)
        }
        other => out.push(other.clone()),
    }
}

/// Why an expression cannot be moved onto the view.
#[derive(Debug)]
pub(super) enum Unmapped {
    /// It reads a column of the base table that the view does not keep as a key.
    NonKey(String),
    /// It has a shape this module does not read.
    Unreadable(String),
}

/// Rewrite `expr` to read the view: sub-expressions equal to an output item become that item's
/// view column, key columns become the view's key columns. `outputs` lists output names that may
/// appear bare (ORDER BY may name an output column).
pub(super) fn to_view(
    expr: &Expr,
    agg: &Aggregate<'_>,
    outputs: &[String],
) -> Result<Expr, Unmapped> {
    if let Some(item) = agg.items.iter().find(|item| &item.expr == expr) {
        return Ok(Expr::Identifier(Ident::with_quote(
            '"',
            item.column.clone(),
        )));
    }
    let map = |e: &Expr| to_view(e, agg, outputs).map(Box::new);
    let mapped = match expr {
        Expr::Identifier(ident) if outputs.contains(&ident_name(ident)) => expr.clone(),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            let column = agg.column_of(expr).ok_or_else(|| {
                Unmapped::Unreadable(format!("{expr} is not a column of the table"))
            })?;
            match agg
                .keys
                .iter()
                .find(|&&k| agg.column_of(&agg.items[k].expr).as_deref() == Some(column.as_str()))
            {
                Some(&k) => Expr::Identifier(Ident::with_quote('"', agg.items[k].column.clone())),
                None => return Err(Unmapped::NonKey(column)),
            }
        }
        Expr::Value(_) | Expr::TypedString(_) | Expr::Interval(_) => expr.clone(),
        Expr::BinaryOp { left, op, right } => Expr::BinaryOp {
            left: map(left)?,
            op: op.clone(),
            right: map(right)?,
        },
        Expr::UnaryOp { op, expr: inner } => Expr::UnaryOp {
            op: *op,
            expr: map(inner)?,
        },
        Expr::Nested(inner) => Expr::Nested(map(inner)?),
        Expr::Cast {
            kind,
            expr: inner,
            data_type,
            format,
        } => Expr::Cast {
            kind: kind.clone(),
            expr: map(inner)?,
            data_type: data_type.clone(),
            format: format.clone(),
        },
        Expr::IsNull(inner) => Expr::IsNull(map(inner)?),
        Expr::IsNotNull(inner) => Expr::IsNotNull(map(inner)?),
        Expr::IsTrue(inner) => Expr::IsTrue(map(inner)?),
        Expr::IsFalse(inner) => Expr::IsFalse(map(inner)?),
        Expr::IsDistinctFrom(a, b) => Expr::IsDistinctFrom(map(a)?, map(b)?),
        Expr::IsNotDistinctFrom(a, b) => Expr::IsNotDistinctFrom(map(a)?, map(b)?),
        Expr::Between {
            expr: inner,
            negated,
            low,
            high,
        } => Expr::Between {
            expr: map(inner)?,
            negated: *negated,
            low: map(low)?,
            high: map(high)?,
        },
        Expr::In {
            expr: inner,
            target: InTarget::List(list),
            negated,
            global,
        } => Expr::In {
            expr: map(inner)?,
            target: InTarget::List(
                list.iter()
                    .map(|e| to_view(e, agg, outputs))
                    .collect::<Result<_, _>>()?,
            ),
            negated: *negated,
            global: *global,
        },
        Expr::AnyOp {
            left,
            compare_op,
            right,
            is_some,
        } => Expr::AnyOp {
            left: map(left)?,
            compare_op: compare_op.clone(),
            right: map(right)?,
            is_some: *is_some,
        },
        Expr::AllOp {
            left,
            compare_op,
            right,
        } => Expr::AllOp {
            left: map(left)?,
            compare_op: compare_op.clone(),
            right: map(right)?,
        },
        Expr::Tuple(items) => Expr::Tuple(
            items
                .iter()
                .map(|e| to_view(e, agg, outputs))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(Unmapped::Unreadable(other.to_string())),
    };
    Ok(mapped)
}

/// Clauses of a derived table or CTE that the view would drop, changing the rows.
pub(super) fn check_subquery_clauses(subquery: &Query) -> Result<(), String> {
    if subquery.limit_clause.is_some() || subquery.fetch.is_some() {
        return Err("the aggregated subquery has a LIMIT: the view would hold every group".into());
    }
    if subquery.with.is_some() {
        return Err("the aggregated subquery has its own WITH: not handled".into());
    }
    if !subquery.locks.is_empty() {
        return Err("the aggregated subquery locks rows (FOR UPDATE/SHARE)".into());
    }
    Ok(())
}

/// (schema, table) when the SELECT reads exactly one plain table.
pub(super) fn base_table(select: &Select) -> Option<(Option<String>, String)> {
    let [only] = select.from.as_slice() else {
        return None;
    };
    let TableFactor::Table {
        name, args: None, ..
    } = &only.relation
    else {
        return None;
    };
    if !only.joins.is_empty() {
        return None;
    }
    let parts: Option<Vec<String>> = name.0.iter().map(object_part).collect();
    match parts?.as_slice() {
        [table] => Some((None, table.clone())),
        [schema, table] => Some((Some(schema.clone()), table.clone())),
        _ => None,
    }
}
