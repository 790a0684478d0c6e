//! Values for the `$n` of a normalized statement (from `pg_stat_statements` or a log), so that it
//! can run under EXPLAIN ANALYZE instead of being planned generically: each `$n` compared with a
//! column takes a value of that column from the planner's own statistics (`pg_stats`).
//!
//! - `col = $n`, `col IN ($n, …)`, `col LIKE $n`: the column's most common value, else the middle
//!   of its histogram;
//! - `col > $n` (or `>=`, `$n < col`): the histogram bound at 90%, so about a tenth of the rows
//!   qualify (the "recent rows" a lower bound usually asks for); `col < $n`: the bound at 10%;
//!   `col BETWEEN $n AND $m`: the bounds at 45% and 55%;
//! - `LIMIT $n`: [`LIMIT_VALUE`]; `OFFSET $n`: 0;
//! - any other `$n`: a neutral value of the type the server infers for it ([`neutral_value`]:
//!   1 for a number, today for a date), so that a constant in arithmetic or a select list runs.
//!
//! The statement's text is first made executable ([`executable`]): a normalized typed literal
//! (`date $3`) is not valid SQL with a parameter.
//!
//! A `$n` found in none of these places (a select list, a function argument) leaves the statement
//! to its generic plan, with the reason. Finding the comparisons is pure ([`comparisons`]); the
//! values are read by [`sample`].

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, InTarget, LimitClause, Query, TableFactor, Value, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};
use tokio_postgres::Client;

use super::{Error, ParamValue};

/// The value a `LIMIT $n` runs with: a page.
pub const LIMIT_VALUE: &str = "100";

/// How a `$n` is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Compared for equality (`=`, `<>`, `IN`) or matched (`LIKE`).
    Equal,
    /// A lower bound of the column (`col > $n`).
    Lower,
    /// An upper bound of the column (`col < $n`).
    Upper,
    /// The lower and upper ends of `BETWEEN`.
    BetweenLow,
    BetweenHigh,
    Limit,
    Offset,
}

/// One `$n` and what it is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// `n` of `$n`.
    pub param: usize,
    /// The tables the column may belong to, as written (`public.orders`): the one its qualifier
    /// names (an alias resolved), or every table of the statement for an unqualified column.
    pub tables: Vec<String>,
    /// The column, as PostgreSQL names it (unquoted names folded to lower case); empty for
    /// `LIMIT` and `OFFSET`.
    pub column: String,
    pub usage: Use,
}

/// Type names a normalized constant keeps in front of its `$n` (`date '1998-12-01'` becomes
/// `date $3` in `pg_stat_statements`), which PostgreSQL does not accept with a parameter.
const TYPED_LITERALS: [&str; 6] = [
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "interval",
    "timetz",
];

/// Interval units a normalized `interval '3' month` keeps after its `$n`.
const INTERVAL_UNITS: [&str; 12] = [
    "year", "years", "month", "months", "day", "days", "hour", "hours", "minute", "minutes",
    "second", "seconds",
];

/// `sql` as PostgreSQL can run it with parameters: a normalized typed literal `date $3` becomes
/// `$3::date`, `interval $4 month` becomes `($4 || ' month')::interval`. Anything else is kept
/// as written (and so is `sql` when it cannot be read).
pub fn executable(sql: &str) -> String {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return sql.to_owned();
    };
    let next_solid =
        |from: usize| (from..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)));
    let mut out = String::with_capacity(sql.len() + 16);
    let mut changed = false;
    let mut i = 0;
    while i < tokens.len() {
        if let Token::Word(word) = &tokens[i]
            && word.quote_style.is_none()
            && TYPED_LITERALS.contains(&word.value.to_lowercase().as_str())
            && let Some(p) = next_solid(i + 1)
            && let Token::Placeholder(param) = &tokens[p]
        {
            let type_name = word.value.to_lowercase();
            if type_name == "interval"
                && let Some(u) = next_solid(p + 1)
                && let Token::Word(unit) = &tokens[u]
                && unit.quote_style.is_none()
                && INTERVAL_UNITS.contains(&unit.value.to_lowercase().as_str())
            {
                out.push_str(&format!(
                    "({param} || ' {}')::interval",
                    unit.value.to_lowercase()
                ));
                i = u + 1;
            } else {
                out.push_str(&format!("{param}::{type_name}"));
                i = p + 1;
            }
            changed = true;
            continue;
        }
        out.push_str(&tokens[i].to_string());
        i += 1;
    }
    if changed { out } else { sql.to_owned() }
}

/// A value of the type the server gave a `$n` compared with no column (a constant in the select
/// list, in arithmetic: `price * ($1 - discount)`): 1 for numbers (a constant's most usual value)
/// and text (mostly glued to a unit: `$4 || ' month'`), today for dates and times, `true`, one
/// day; `None` for any other type.
pub fn neutral_value(type_name: &str) -> Option<&'static str> {
    Some(match type_name {
        "int2" | "int4" | "int8" | "numeric" | "float4" | "float8" | "money" => "1",
        "date" => "today",
        "timestamp" | "timestamptz" => "now",
        "time" | "timetz" => "12:00",
        "interval" => "1 day",
        "bool" => "true",
        // Text compared with nothing is mostly glued to a unit or a pattern (`$4 || ' month'`).
        "text" | "varchar" | "bpchar" => "1",
        _ => return None,
    })
}

/// The number of distinct `$n` of `sql` (the largest `n`), 0 when it has none or cannot be read.
pub fn param_count(sql: &str) -> usize {
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .map(|tokens| {
            tokens
                .iter()
                .filter_map(|t| match t {
                    Token::Placeholder(p) => p.strip_prefix('$')?.parse::<usize>().ok(),
                    _ => None,
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Whether `sql` reads no table but the system's: no relation at all (`SELECT
/// current_setting($1)`), or only `pg_catalog`, `information_schema` and `pg_*` relations
/// (monitoring queries, tools' own). `false` when it cannot be parsed.
pub fn reads_no_user_table(sql: &str) -> bool {
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return false;
    };
    let mut finder = Finder::default();
    for statement in &statements {
        let _ = statement.visit(&mut finder);
    }
    finder.tables.iter().all(|t| {
        let t = t.to_lowercase();
        let last = t.rsplit('.').next().unwrap_or(&t).trim_matches('"');
        t.starts_with("pg_catalog.")
            || t.starts_with("information_schema.")
            || last.starts_with("pg_")
    })
}

/// The tables `sql` reads, as written (`public.orders`, `orders`), in the order they appear, each
/// once; CTE names may be among them (they name no table: catalog lookups find nothing). Empty
/// when it cannot be parsed.
pub fn tables_read(sql: &str) -> Vec<String> {
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return Vec::new();
    };
    let mut finder = Finder::default();
    for statement in &statements {
        let _ = statement.visit(&mut finder);
    }
    let mut tables: Vec<String> = Vec::new();
    for table in finder.tables {
        if !tables.contains(&table) {
            tables.push(table);
        }
    }
    tables
}

/// Every `$n` of `sql` compared with a column (or in LIMIT / OFFSET); empty when the statement
/// cannot be parsed.
pub fn comparisons(sql: &str) -> Vec<Comparison> {
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return Vec::new();
    };
    let mut finder = Finder::default();
    for statement in &statements {
        let _ = statement.visit(&mut finder);
    }
    let tables = finder.tables.clone();
    finder
        .found
        .into_iter()
        .map(|(param, qualifier, column, usage)| Comparison {
            param,
            tables: match qualifier {
                Some(q) => vec![finder.aliases.get(&q).cloned().unwrap_or(q)],
                None => tables.clone(),
            },
            column,
            usage,
        })
        .collect()
}

#[derive(Default)]
struct Finder {
    /// Tables in the order they appear, as written.
    tables: Vec<String>,
    /// Alias (or a table's last name part) → the table as written.
    aliases: BTreeMap<String, String>,
    found: Vec<(usize, Option<String>, String, Use)>,
}

/// An identifier as PostgreSQL sees it: unquoted names fold to lower case.
fn folded(ident: &sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// `$n` (under casts and parentheses) → n.
fn placeholder(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => p.strip_prefix('$')?.parse().ok(),
            _ => None,
        },
        Expr::Cast { expr, .. } | Expr::Nested(expr) => placeholder(expr),
        _ => None,
    }
}

/// A column reference (under casts and parentheses) → (qualifier, column).
fn column(expr: &Expr) -> Option<(Option<String>, String)> {
    match expr {
        Expr::Identifier(ident) => Some((None, folded(ident))),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let column = folded(&parts[parts.len() - 1]);
            let qualifier = folded(&parts[parts.len() - 2]);
            Some((Some(qualifier), column))
        }
        Expr::Cast { expr, .. } | Expr::Nested(expr) => column(expr),
        _ => None,
    }
}

impl Finder {
    fn record(&mut self, param: usize, target: &Expr, usage: Use) {
        if let Some((qualifier, column)) = column(target) {
            self.found.push((param, qualifier, column, usage));
        }
    }
}

impl Visitor for Finder {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name, alias, args, ..
        } = factor
        {
            if args.is_none() {
                let written = name.to_string();
                if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                    self.aliases.insert(folded(last), written.clone());
                }
                if let Some(alias) = alias {
                    self.aliases.insert(folded(&alias.name), written.clone());
                }
                if !self.tables.contains(&written) {
                    self.tables.push(written);
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(LimitClause::LimitOffset { limit, offset, .. }) = &query.limit_clause {
            if let Some(n) = limit.as_ref().and_then(placeholder) {
                self.found.push((n, None, String::new(), Use::Limit));
            }
            if let Some(n) = offset.as_ref().and_then(|o| placeholder(&o.value)) {
                self.found.push((n, None, String::new(), Use::Offset));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::BinaryOp { left, op, right } => {
                // Which side is the parameter, and what the column is to it.
                let (param, target, flipped) = match (placeholder(left), placeholder(right)) {
                    (None, Some(n)) => (n, left, false),
                    (Some(n), None) => (n, right, true),
                    _ => return ControlFlow::Continue(()),
                };
                let usage = match op {
                    BinaryOperator::Eq | BinaryOperator::NotEq => Use::Equal,
                    // col > $n: $n is a lower bound; $n > col: an upper one.
                    BinaryOperator::Gt | BinaryOperator::GtEq => {
                        if flipped {
                            Use::Upper
                        } else {
                            Use::Lower
                        }
                    }
                    BinaryOperator::Lt | BinaryOperator::LtEq => {
                        if flipped {
                            Use::Lower
                        } else {
                            Use::Upper
                        }
                    }
                    _ => return ControlFlow::Continue(()),
                };
                self.record(param, target, usage);
            }
            Expr::In {
                expr,
                target: InTarget::List(list),
                ..
            } => {
                for n in list.iter().filter_map(placeholder) {
                    self.record(n, expr, Use::Equal);
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                if let Some(n) = placeholder(low) {
                    self.record(n, expr, Use::BetweenLow);
                }
                if let Some(n) = placeholder(high) {
                    self.record(n, expr, Use::BetweenHigh);
                }
            }
            Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
                if let Some(n) = placeholder(pattern) {
                    self.record(n, expr, Use::Equal);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// What a column's statistics offer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnSample {
    pub most_common: Vec<String>,
    pub histogram: Vec<String>,
}

impl ColumnSample {
    /// The value for `usage`, and how it was chosen (`most common value`, `histogram at 90%`).
    pub fn pick(&self, usage: Use) -> Option<(String, &'static str)> {
        let at = |share: f64, how: &'static str| {
            let n = self.histogram.len();
            (n > 0).then(|| {
                let i = ((n - 1) as f64 * share).round() as usize;
                (self.histogram[i.min(n - 1)].clone(), how)
            })
        };
        match usage {
            Use::Equal => self
                .most_common
                .first()
                .map(|v| (v.clone(), "its most common value"))
                .or_else(|| at(0.5, "the middle of its histogram")),
            Use::Lower => at(0.9, "its histogram at 90%"),
            Use::Upper => at(0.1, "its histogram at 10%"),
            Use::BetweenLow => at(0.45, "its histogram at 45%"),
            Use::BetweenHigh => at(0.55, "its histogram at 55%"),
            Use::Limit | Use::Offset => None,
        }
        .or_else(|| {
            // No histogram (every value is a common one): the most common value.
            self.most_common
                .first()
                .map(|v| (v.clone(), "its most common value"))
        })
    }
}

const COLUMN_SAMPLE: &str = "
SELECT s.most_common_vals::text::text[], s.histogram_bounds::text::text[]
  FROM pg_stats s
  JOIN pg_namespace n ON n.nspname = s.schemaname
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
 WHERE c.oid = to_regclass($1) AND s.attname = $2
 ORDER BY s.inherited
 LIMIT 1";

/// The statistics of `table.column` (`table` as written in SQL); `None` when the table is unknown
/// or the column was never analyzed.
pub async fn column_sample(
    client: &Client,
    table: &str,
    column: &str,
) -> Result<Option<ColumnSample>, Error> {
    let row = client.query_opt(COLUMN_SAMPLE, &[&table, &column]).await?;
    Ok(row.map(|row| ColumnSample {
        most_common: row
            .get::<_, Option<Vec<Option<String>>>>(0)
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect(),
        histogram: row
            .get::<_, Option<Vec<Option<String>>>>(1)
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect(),
    }))
}

/// Values for every `$n` of `sql` and, for each, where it came from (`$1: orders.o_custkey, its
/// most common value`); `Err` with the reason when one of them cannot be given a value (the
/// statement is then planned generically).
pub async fn sample(
    client: &Client,
    sql: &str,
) -> Result<Result<(Vec<ParamValue>, Vec<String>), String>, Error> {
    let count = param_count(sql);
    let found = comparisons(sql);
    let mut values = Vec::with_capacity(count);
    let mut how = Vec::with_capacity(count);
    let mut cache: BTreeMap<(String, String), Option<ColumnSample>> = BTreeMap::new();
    // The types the server infers for the parameters, for those compared with no column; read
    // once, when needed (a statement it cannot prepare leaves them unknown).
    let mut types: Option<Vec<String>> = None;
    'params: for n in 1..=count {
        let uses: Vec<&Comparison> = found.iter().filter(|c| c.param == n).collect();
        for c in &uses {
            match c.usage {
                Use::Limit => {
                    values.push(ParamValue::Text(LIMIT_VALUE.into()));
                    how.push(format!("${n}: LIMIT {LIMIT_VALUE}"));
                    continue 'params;
                }
                Use::Offset => {
                    values.push(ParamValue::Text("0".into()));
                    how.push(format!("${n}: OFFSET 0"));
                    continue 'params;
                }
                _ => {}
            }
            for table in &c.tables {
                let key = (table.clone(), c.column.clone());
                if !cache.contains_key(&key) {
                    let sample = column_sample(client, table, &c.column).await?;
                    cache.insert(key.clone(), sample);
                }
                if let Some((value, chosen)) = cache[&key].as_ref().and_then(|s| s.pick(c.usage)) {
                    how.push(format!("${n}: {table}.{}, {chosen}", c.column));
                    values.push(ParamValue::Text(value));
                    continue 'params;
                }
            }
        }
        if types.is_none() {
            types = Some(match client.prepare(sql).await {
                Ok(statement) => statement
                    .params()
                    .iter()
                    .map(|t| t.name().to_owned())
                    .collect(),
                Err(_) => Vec::new(),
            });
        }
        if let Some(type_name) = types.as_ref().and_then(|t| t.get(n - 1))
            && let Some(value) = neutral_value(type_name)
        {
            values.push(ParamValue::Text(value.into()));
            how.push(format!(
                "${n}: {value} (a {type_name} compared with no column)"
            ));
            continue 'params;
        }
        return Ok(Err(if uses.is_empty() {
            format!("${n} is compared with no column (nothing to take a value from)")
        } else {
            format!(
                "${n} is compared with {}, which has no statistics (never analyzed?)",
                uses[0].column
            )
        }));
    }
    Ok(Ok((values, how)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_each_parameter_is_compared_with() {
        let sql = "SELECT o.id FROM public.orders o JOIN customers c ON c.id = o.customer_id \
                   WHERE o.status = $1 AND o.created_at >= $2 AND $3 > c.score \
                   AND c.name LIKE $4 AND o.total BETWEEN $5 AND $6 AND o.region IN ($7, $8) \
                   ORDER BY o.id LIMIT $9 OFFSET $10";
        assert_eq!(param_count(sql), 10);
        let found: Vec<(usize, Vec<String>, String, Use)> = comparisons(sql)
            .into_iter()
            .map(|c| (c.param, c.tables, c.column, c.usage))
            .collect();
        let orders = vec!["public.orders".to_owned()];
        let customers = vec!["customers".to_owned()];
        assert!(found.contains(&(1, orders.clone(), "status".into(), Use::Equal)));
        assert!(found.contains(&(2, orders.clone(), "created_at".into(), Use::Lower)));
        assert!(found.contains(&(3, customers.clone(), "score".into(), Use::Upper)));
        assert!(found.contains(&(4, customers, "name".into(), Use::Equal)));
        assert!(found.contains(&(5, orders.clone(), "total".into(), Use::BetweenLow)));
        assert!(found.contains(&(6, orders.clone(), "total".into(), Use::BetweenHigh)));
        assert!(found.contains(&(8, orders, "region".into(), Use::Equal)));
        assert!(found.iter().any(|f| f.0 == 9 && f.3 == Use::Limit));
        assert!(found.iter().any(|f| f.0 == 10 && f.3 == Use::Offset));
    }

    #[test]
    fn an_unqualified_column_may_be_any_tables_and_quoted_names_keep_their_case() {
        let sql = r#"UPDATE "Items" SET price = price * 2 WHERE "Sku" = $1::text"#;
        let found = comparisons(sql);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].tables, vec![r#""Items""#.to_owned()]);
        assert_eq!(found[0].column, "Sku");
        let sql = "SELECT * FROM a, b WHERE x = $1";
        assert_eq!(
            comparisons(sql)[0].tables,
            vec!["a".to_owned(), "b".to_owned()]
        );
        // A parameter in the select list is compared with nothing; unparsable SQL finds nothing.
        assert!(comparisons("SELECT $1 FROM a").is_empty());
        assert!(comparisons("SELEC x FRM").is_empty());
    }

    #[test]
    fn statements_that_read_only_the_system_are_told_apart() {
        assert!(reads_no_user_table(
            "SELECT current_setting($1), current_setting($2)::int"
        ));
        assert!(reads_no_user_table(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        ));
        assert!(reads_no_user_table(
            "SELECT * FROM information_schema.tables WHERE table_name = $1"
        ));
        assert!(!reads_no_user_table("SELECT * FROM orders WHERE id = $1"));
        assert!(!reads_no_user_table(
            "SELECT * FROM orders o JOIN pg_class c ON c.relname = o.name"
        ));
        assert!(!reads_no_user_table("SELEC nonsense"));
    }

    #[test]
    fn normalized_typed_literals_become_casts() {
        assert_eq!(
            executable("SELECT 1 FROM o WHERE d >= date $1 AND d < DATE $2 + interval $3 month"),
            "SELECT 1 FROM o WHERE d >= $1::date AND d < $2::date + ($3 || ' month')::interval"
        );
        assert_eq!(
            executable("SELECT now() - interval $1"),
            "SELECT now() - $1::interval"
        );
        // A column named date, a quoted "date" and text without parameters are left alone.
        let kept = r#"SELECT date, "date" FROM t WHERE date = $1"#;
        assert_eq!(executable(kept), kept);
        assert_eq!(executable("SELEC 'unterminated"), "SELEC 'unterminated");
        assert_eq!(neutral_value("numeric"), Some("1"));
        assert_eq!(neutral_value("date"), Some("today"));
        assert_eq!(neutral_value("jsonb"), None);
    }

    #[test]
    fn picks_common_values_for_equality_and_histogram_bounds_for_ranges() {
        let s = ColumnSample {
            most_common: vec!["shipped".into(), "open".into()],
            histogram: (0..=10).map(|i| (i * 10).to_string()).collect(),
        };
        assert_eq!(s.pick(Use::Equal).unwrap().0, "shipped");
        assert_eq!(s.pick(Use::Lower).unwrap().0, "90");
        assert_eq!(s.pick(Use::Upper).unwrap().0, "10");
        assert_eq!(s.pick(Use::BetweenLow).unwrap().0, "50");
        let unique = ColumnSample {
            most_common: vec![],
            histogram: vec!["1".into(), "50".into(), "99".into()],
        };
        assert_eq!(unique.pick(Use::Equal).unwrap().0, "50");
        let few = ColumnSample {
            most_common: vec!["a".into()],
            histogram: vec![],
        };
        assert_eq!(few.pick(Use::Lower).unwrap().0, "a");
        assert_eq!(ColumnSample::default().pick(Use::Equal), None);
    }
}
