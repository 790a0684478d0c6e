//! What cache advice reads from the server besides the workload: how often the tables a statement
//! reads change (the statistics collector's row counters, over the window they cover), how many
//! distinct values a key column holds (`pg_stats`), and which of the functions a statement calls
//! are volatile (`pg_proc`).

use std::time::Duration;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use tokio_postgres::Client;

use super::Error;

/// A table's changes, counted by the statistics collector.
#[derive(Debug, Clone, PartialEq)]
pub struct TableWrites {
    /// The table as asked for (as written in the statement).
    pub table: String,
    /// Rows inserted, updated (including HOT) and deleted since the counters began.
    pub writes: i64,
    /// Rows in the table now (`reltuples`; 0 when never analyzed and empty).
    pub rows: f64,
    /// Row-level security is enabled: what a read returns depends on who reads.
    pub row_security: bool,
}

const TABLE_WRITES: &str = "
SELECT coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)::bigint,
       greatest(c.reltuples, 0)::float8,
       c.relrowsecurity
  FROM pg_class c
  LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
 WHERE c.oid = to_regclass($1::text)";

/// The write counters of each table (as written in SQL, `public.orders` or `orders`); tables the
/// server does not know are left out.
pub async fn table_writes(client: &Client, tables: &[String]) -> Result<Vec<TableWrites>, Error> {
    // Counters as of now, not as of this transaction's first read of them.
    client
        .batch_execute("SELECT pg_stat_clear_snapshot()")
        .await?;
    let mut found = Vec::with_capacity(tables.len());
    for table in tables {
        if let Some(row) = client.query_opt(TABLE_WRITES, &[table]).await? {
            found.push(TableWrites {
                table: table.clone(),
                writes: row.get(0),
                rows: row.get(1),
                row_security: row.get(2),
            });
        }
    }
    Ok(found)
}

const COUNTERS_AGE: &str = "
SELECT extract(epoch FROM now() - coalesce(d.stats_reset, pg_postmaster_start_time()))::float8
  FROM pg_stat_database d
 WHERE d.datname = current_database()";

/// How long the statistics counters of the current database have been counting: since their
/// last reset, else since the server started (counters survive a clean restart on PostgreSQL 15
/// and later, so this can be shorter than the real window: rates read over it are then high,
/// the side that advises against a cache, not for one).
pub async fn counters_age(client: &Client) -> Result<Duration, Error> {
    let seconds: Option<f64> = client
        .query_opt(COUNTERS_AGE, &[])
        .await?
        .and_then(|row| row.get(0));
    Ok(Duration::from_secs_f64(seconds.unwrap_or(0.0).max(0.0)))
}

const DISTINCT_VALUES: &str = "
SELECT s.n_distinct::float8, greatest(c.reltuples, 0)::float8
  FROM pg_stats s
  JOIN pg_namespace n ON n.nspname = s.schemaname
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
 WHERE c.oid = to_regclass($1::text) AND s.attname = $2
 ORDER BY s.inherited
 LIMIT 1";

/// How many distinct values `table.column` holds, from `pg_stats` (a negative `n_distinct` is a
/// share of the rows); `None` when the column was never analyzed.
pub async fn distinct_values(
    client: &Client,
    table: &str,
    column: &str,
) -> Result<Option<f64>, Error> {
    let row = client
        .query_opt(DISTINCT_VALUES, &[&table, &column])
        .await?;
    Ok(row.map(|row| {
        let n: f64 = row.get(0);
        let rows: f64 = row.get(1);
        if n < 0.0 { -n * rows } else { n }
    }))
}

const VOLATILE_FUNCTIONS: &str = "
SELECT DISTINCT p.proname::text
  FROM pg_proc p
 WHERE p.proname = ANY($1::text[]) AND p.provolatile = 'v' AND p.prokind IN ('f', 'a', 'w')";

/// Which of `names` (function names a statement calls, lower case) are volatile: their result
/// may differ at every call (`random`, `clock_timestamp`, a user's function declared VOLATILE,
/// the default). A name with a volatile overload counts.
pub async fn volatile_functions(client: &Client, names: &[String]) -> Result<Vec<String>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client.query(VOLATILE_FUNCTIONS, &[&names]).await?;
    let mut found: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    found.sort();
    Ok(found)
}

/// Functions and keywords whose value depends on who asks, from where, or when, though PostgreSQL
/// does not call them all volatile (`now()` is stable: the same within a transaction, not across).
const CALLER_DEPENDENT: [&str; 24] = [
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "transaction_timestamp",
    "statement_timestamp",
    "clock_timestamp",
    "timeofday",
    "current_user",
    "session_user",
    "current_role",
    "user",
    "current_schema",
    "current_schemas",
    "current_setting",
    "current_query",
    "pg_backend_pid",
    "inet_client_addr",
    "inet_client_port",
    "has_table_privilege",
    "has_column_privilege",
    "pg_has_role",
];

/// What a statement calls, read from its tokens: the caller- or time-dependent functions and
/// keywords it uses (`now()`, `current_user`), and the names of every function it calls (for
/// [`volatile_functions`]). Quoted identifiers are names, never calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calls {
    pub caller_dependent: Vec<String>,
    pub functions: Vec<String>,
}

/// The [`Calls`] of `sql`; empty when it cannot be tokenized.
pub fn calls(sql: &str) -> Calls {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return Calls::default();
    };
    let significant: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut calls = Calls::default();
    for (i, token) in significant.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        if word.quote_style.is_some() {
            continue;
        }
        // `x.now()` is a column or a schema-qualified name, not the bare keyword.
        let qualified = i > 0 && matches!(significant[i - 1], Token::Period);
        let name = word.value.to_lowercase();
        let called = matches!(significant.get(i + 1), Some(Token::LParen));
        if !qualified && CALLER_DEPENDENT.contains(&name.as_str()) {
            // `user` only as the keyword, never as a called function name.
            if !(name == "user" && called) {
                let shown = if called {
                    format!("{name}()")
                } else {
                    name.clone()
                };
                if !calls.caller_dependent.contains(&shown) {
                    calls.caller_dependent.push(shown);
                }
            }
        }
        if called && !calls.functions.contains(&name) {
            calls.functions.push(name);
        }
    }
    calls
}

/// A table or column name as a statement wrote it, fit to be put back into SQL: letters, digits,
/// `_`, `$`, dots between parts, and double quotes (no spaces, operators or semicolons).
fn sql_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.' | '"'))
        && name.matches('"').count() % 2 == 0;
    ok.then_some(name)
}

/// The keys a `cache-advice --verify` benchmark reads: up to `limit` distinct non-NULL values of
/// `column` in `table` (as the statement names them), as text. `None` when a name cannot be put
/// back into SQL as it is.
pub fn key_values_query(table: &str, column: &str, limit: usize) -> Option<String> {
    let (table, column) = (sql_name(table)?, sql_name(column)?);
    Some(format!(
        "SELECT {column}::text FROM {table} WHERE {column} IS NOT NULL GROUP BY {column} ORDER BY {column} LIMIT {limit}"
    ))
}

/// The write of a `cache-advice --verify` benchmark: the rows of one key (`$1`) rewritten
/// unchanged, a new version of each (so triggers fire and a cached value is stale).
pub fn touch_key_statement(table: &str, column: &str) -> Option<String> {
    let (table, column) = (sql_name(table)?, sql_name(column)?);
    Some(format!(
        "UPDATE {table} SET {column} = {column} WHERE {column} = $1"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_statements_take_only_plain_names() {
        assert_eq!(
            touch_key_statement("app.reviews", "product_id").as_deref(),
            Some("UPDATE app.reviews SET product_id = product_id WHERE product_id = $1")
        );
        assert!(key_values_query(r#""Odd""#, "id", 10).is_some());
        assert_eq!(touch_key_statement("t; DROP TABLE t", "id"), None);
        assert_eq!(key_values_query("t", "a b", 10), None);
        assert_eq!(key_values_query("t", r#"a""#, 10), None);
    }

    #[test]
    fn caller_dependent_calls_and_functions() {
        let c = calls(
            "SELECT o.id, now(), lower(o.name) FROM orders o \
             WHERE o.owner = current_user AND o.created > current_date - 7 AND random() < 0.5",
        );
        assert_eq!(
            c.caller_dependent,
            ["now()", "current_user", "current_date"]
        );
        assert_eq!(c.functions, ["now", "lower", "random"]);
        // Names, not calls: a quoted column, a qualified column.
        let c = calls(r#"SELECT "user", t.now FROM t WHERE id = $1"#);
        assert!(c.caller_dependent.is_empty(), "{c:?}");
        assert!(c.functions.is_empty(), "{c:?}");
        assert_eq!(calls("SELECT 'now()'"), Calls::default());
    }
}
