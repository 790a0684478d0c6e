//! Materialized views for heavy aggregates: a `heavy-aggregate` finding over one table becomes a
//! `CREATE MATERIALIZED VIEW` holding the aggregate, a unique index on its group keys (which
//! `REFRESH MATERIALIZED VIEW CONCURRENTLY` requires), the refresh statement, and the statement
//! rewritten to read the view; or a reason why no view reproduces the query's results.
//!
//! The statement is read with sqlparser, and the aggregate node is tied to the part of the
//! statement it computes through the plan (its scanned relation, and the Subquery Scan alias or CTE
//! name above it), never by guessing. Two shapes are understood:
//! - a derived table or CTE `SELECT keys.., agg(..) FROM base [WHERE constants] GROUP BY keys`
//!   joined by the outer query: the view is that subquery, and the rewrite reads the view in its
//!   place under the same alias;
//! - a top-level aggregate over one table whose WHERE compares group keys with parameters or
//!   constants: the view is grouped by those keys without that WHERE, and the rewrite applies the
//!   WHERE to the view.
//!
//! A view freezes its result until the next refresh, so anything that would make the view differ
//! from the query (volatile functions, parameters inside the aggregated part, window functions,
//! ordered aggregates) is refused with a reason.

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    InTarget, ObjectNamePart, OrderByKind, Query, Select, SelectItem, SetExpr, Statement,
    TableFactor, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::candidates::NoSuggestion;
use crate::diagnose::Finding;
use crate::pg::quote_ident;
use crate::plan::{Explain, PlanNode};
use crate::report::text::{fmt_ms, fmt_pct};

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Functions whose value changes from call to call or session to session: a view would freeze one.
const VOLATILE_FUNCTIONS: &[&str] = &[
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
const VOLATILE_KEYWORDS: &[&str] = &[
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "current_user",
    "session_user",
    "current_role",
];

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
        qualified(self.schema.as_deref(), &self.name)
    }
}

/// Everything concluded about materialized views for one statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatviewAdvice {
    pub suggestions: Vec<MatviewSuggestion>,
    pub no_suggestions: Vec<NoSuggestion>,
}

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
        .filter(|f| f.rule == "heavy-aggregate")
        .map(|f| Stake {
            node_id: f.node_id,
            what: format!(
                "aggregating {} rows",
                f.evidence
                    .iter()
                    .find(|e| e.label == "rows aggregated")
                    .map(|e| e.value.as_str())
                    .unwrap_or("many")
            ),
            ms: f.time_at_stake_ms,
            share: f.share_at_stake,
        })
        .collect();
    for finding in findings
        .iter()
        .filter(|f| matches!(f.rule.as_str(), "seq-scan" | "index-filter-waste"))
    {
        if let Some(aggregate) = aggregate_over_scan(&plan, finding.node_id)
            && !stakes.iter().any(|s| s.node_id == aggregate)
        {
            let read = finding
                .evidence
                .iter()
                .find(|e| e.label == "rows read")
                .map(|e| e.value.as_str())
                .unwrap_or("many");
            stakes.push(Stake {
                node_id: aggregate,
                what: format!("a {} reading {read} rows to aggregate them", finding.rule),
                ms: finding.time_at_stake_ms,
                share: finding.share_at_stake,
            });
        }
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
            Ok(mut suggestion) => {
                // Two different views must not share a name: IF NOT EXISTS would keep the first.
                let mut n = 1;
                let base = suggestion.name.clone();
                while advice
                    .suggestions
                    .iter()
                    .any(|s| s.name == suggestion.name && s.create_sql != suggestion.create_sql)
                {
                    n += 1;
                    suggestion.rename(&truncate_with_suffix(&base, &format!("_{n}")));
                }
                advice.suggestions.push(suggestion);
            }
            Err(reason) => advice.no_suggestions.push(NoSuggestion {
                node_id: stake.node_id,
                reason,
            }),
        }
    }
    advice
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

/// The Aggregate directly above a scan (through sorts, hashes, gathers and partial aggregates, not
/// through a join), whose whole input the scan is.
fn aggregate_over_scan(plan: &PlanIndex<'_>, scan: usize) -> Option<usize> {
    let mut current = scan;
    while let Some(parent) = plan.parents[current] {
        let node = plan.nodes[parent];
        match node.node_type.as_str() {
            "Aggregate" if node.partial_mode.as_deref() != Some("Partial") => return Some(parent),
            "Aggregate" | "Sort" | "Incremental Sort" | "Gather" | "Gather Merge" | "Result"
            | "Materialize" => current = parent,
            _ => return None,
        }
    }
    None
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

/// The plan in preorder (the order of findings' `node_id`s) with parents.
struct PlanIndex<'a> {
    nodes: Vec<&'a PlanNode>,
    parents: Vec<Option<usize>>,
}

impl<'a> PlanIndex<'a> {
    fn new(root: &'a PlanNode) -> Self {
        let mut nodes = Vec::new();
        let mut parents = Vec::new();
        let mut pending = vec![(root, None)];
        while let Some((node, parent)) = pending.pop() {
            let id = nodes.len();
            nodes.push(node);
            parents.push(parent);
            pending.extend(node.plans.iter().rev().map(|child| (child, Some(id))));
        }
        PlanIndex { nodes, parents }
    }

    fn descendants(&self, id: usize) -> Vec<usize> {
        (id + 1..self.nodes.len())
            .filter(|&d| {
                let mut current = self.parents[d];
                while let Some(p) = current {
                    if p == id {
                        return true;
                    }
                    current = self.parents[p];
                }
                false
            })
            .collect()
    }
}

/// Where in the plan an aggregate sits: the tables below it, and the derived table or CTE around it.
#[derive(Debug, Default)]
struct PlanContext {
    /// (schema, relation) of every table scanned below the aggregate.
    relations: Vec<(Option<String>, String)>,
    /// Alias of the nearest Subquery Scan above (a derived table, or an inlined CTE reference).
    subquery_alias: Option<String>,
    /// Name of the CTE whose InitPlan holds the aggregate.
    cte: Option<String>,
    group_key: Vec<String>,
}

fn plan_context(plan: &PlanIndex<'_>, id: usize) -> PlanContext {
    let mut context = PlanContext {
        group_key: plan.nodes[id].group_key.clone().unwrap_or_default(),
        ..PlanContext::default()
    };
    for d in plan.descendants(id) {
        let node = plan.nodes[d];
        if let Some(relation) = &node.relation_name {
            let entry = (node.schema.clone(), relation.clone());
            if !context.relations.contains(&entry) {
                context.relations.push(entry);
            }
        }
    }
    let mut current = id;
    loop {
        let node = plan.nodes[current];
        if node.parent_relationship.as_deref() == Some("InitPlan")
            && let Some(name) = node
                .subplan_name
                .as_deref()
                .and_then(|s| s.strip_prefix("CTE "))
        {
            context.cte = Some(name.to_owned());
            break;
        }
        if current != id && node.node_type == "Subquery Scan" {
            context.subquery_alias = node.alias.clone();
            break;
        }
        match plan.parents[current] {
            Some(parent) => current = parent,
            None => break,
        }
    }
    context
}

/// Where in the statement an aggregate over one table sits.
#[derive(Debug, Clone, PartialEq)]
enum Site {
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
fn sites(query: &Query) -> Vec<(Site, &Select, Option<&Query>)> {
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

fn has_group_by(select: &Select) -> bool {
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => !exprs.is_empty() || !modifiers.is_empty(),
        GroupByExpr::All(_) => true,
    }
}

/// Visit the table factors of a SELECT's FROM in a fixed order, numbering them.
fn for_each_factor<'q>(select: &'q Select, f: &mut impl FnMut(usize, &'q TableFactor)) {
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
fn factor_mut(select: &mut Select, wanted: usize) -> Option<&mut TableFactor> {
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
fn ident_name(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

fn object_part(part: &ObjectNamePart) -> Option<String> {
    part.as_ident().map(ident_name)
}

fn qualified(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
        None => quote_ident(name),
    }
}

/// One output column of the aggregated SELECT.
#[derive(Debug, Clone)]
struct Item {
    expr: Expr,
    /// The name the query's reader sees (alias, column name, or PostgreSQL's default name).
    output: String,
    /// The name of the view's column.
    column: String,
}

/// An aggregated SELECT over one table, read.
#[derive(Debug)]
struct Aggregate<'q> {
    select: &'q Select,
    schema: Option<String>,
    table: String,
    alias: Option<String>,
    items: Vec<Item>,
    /// Indexes into `items` of the group keys.
    keys: Vec<usize>,
}

impl Aggregate<'_> {
    /// The item a column reference of the base table resolves to, when it is a plain column item.
    fn column_item(&self, expr: &Expr) -> Option<usize> {
        let column = self.column_of(expr)?;
        self.items
            .iter()
            .position(|item| self.column_of(&item.expr).as_deref() == Some(column.as_str()))
    }

    /// The base table's column a reference names, if it names one (qualified by the table or its
    /// alias, or not at all).
    fn column_of(&self, expr: &Expr) -> Option<String> {
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

    fn key_columns(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|&k| self.items[k].column.clone())
            .collect()
    }
}

fn read_aggregate(select: &Select) -> Result<Aggregate<'_>, String> {
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
fn default_name(expr: &Expr) -> Option<String> {
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
fn generated_name(expr: &Expr, position: usize) -> String {
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

fn unique_name(name: String, taken: &[String]) -> String {
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
struct Hazards {
    volatile: Option<String>,
    parameter: Option<String>,
    window: bool,
    ordered_aggregate: bool,
    subquery: bool,
}

/// Read hazards from the tokens of `text` (complete whatever the expression's shape).
fn hazards(text: &str) -> Hazards {
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
fn check_view_part(what: &str, text: &str) -> Result<(), String> {
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

fn and_all(conjuncts: &[Expr]) -> Option<String> {
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

fn conjuncts(expr: &Expr, out: &mut Vec<Expr>) {
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
enum Unmapped {
    /// It reads a column of the base table that the view does not keep as a key.
    NonKey(String),
    /// It has a shape this module does not read.
    Unreadable(String),
}

/// Rewrite `expr` to read the view: sub-expressions equal to an output item become that item's
/// view column, key columns become the view's key columns. `outputs` lists output names that may
/// appear bare (ORDER BY may name an output column).
fn to_view(expr: &Expr, agg: &Aggregate<'_>, outputs: &[String]) -> Result<Expr, Unmapped> {
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

fn suggest(
    query: &Query,
    plan: &PlanIndex<'_>,
    stake: &Stake,
) -> Result<MatviewSuggestion, String> {
    let node = plan
        .nodes
        .get(stake.node_id)
        .ok_or_else(|| format!("node {} is not in the plan", stake.node_id))?;
    if node.node_type != "Aggregate" {
        return Err(format!(
            "node {} is a {}, not an Aggregate",
            stake.node_id, node.node_type
        ));
    }
    let context = plan_context(plan, stake.node_id);
    let (plan_schema, relation) = match context.relations.as_slice() {
        [] => return Err("the aggregate reads no table".into()),
        [one] => one.clone(),
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
        return Err("the statement has no GROUP BY query a view could replace".into());
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

/// Clauses of a derived table or CTE that the view would drop, changing the rows.
fn check_subquery_clauses(subquery: &Query) -> Result<(), String> {
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
fn base_table(select: &Select) -> Option<(Option<String>, String)> {
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
    let table = qualified(schema.as_deref().or(agg.schema.as_deref()), &agg.table);
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
    let view = qualified(schema.as_deref(), &name);
    let rewritten = match site {
        Site::Top => rewrite_top(query, agg, &view, &rewrite_where)?,
        Site::Derived { factor, .. } => rewrite_derived(query, *factor, agg, &view)?,
        Site::Cte { index, .. } => rewrite_cte(query, *index, agg, &view)?,
    };
    let reason = format!(
        "replaces {} of {} by {} on every execution ({} ms, {} of the query)",
        stake.what,
        agg.table,
        key_names.join(", "),
        fmt_ms(stake.ms),
        fmt_pct(stake.share)
    );
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

/// The view's column read under the name the statement's reader expects.
fn read_as(item: &Item) -> String {
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

fn rewrite_top(
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
fn check_distinct_outputs(agg: &Aggregate<'_>) -> Result<(), String> {
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
fn parse_query(sql: &str) -> Result<Query, String> {
    match Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| format!("internal: generated SQL does not parse: {e}: {sql}"))?
        .pop()
    {
        Some(Statement::Query(query)) => Ok(*query),
        _ => Err(format!("internal: generated SQL is not a query: {sql}")),
    }
}

fn rewrite_derived(
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

fn rewrite_cte(
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
