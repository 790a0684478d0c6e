//! Reading `pg_stat_statements`: what every statement the server ran cost, one row per statement
//! and database, and the view's own bookkeeping (`pg_stat_statements_info`: when it was reset, how
//! many entries it evicted). PostgreSQL 13 to 18 (the `*_exec_time` columns are 13+, `toplevel`
//! and `pg_stat_statements_info` 14+).
//!
//! Only top-level statements are read (`toplevel`, 14+): with `pg_stat_statements.track = all`
//! the statements a function runs are recorded too, and their time is already inside the
//! statement that called the function, so adding them would count it twice. The rows of one
//! statement run by several roles are summed into one (calls, times and blocks added; the
//! standard deviation pooled; the roles listed). Statements whose text the role may not see
//! (`<insufficient privilege>`: another role's, without `pg_read_all_stats`) are kept, counted
//! apart per role, and reported by [`StatStatements::hidden`].
//!
//! When the extension is not usable, [`StatStatementsError`] says exactly what to do: preload
//! the library (and restart), or create the extension in the database.

use tokio_postgres::Client;

use super::{Error, quote_ident, quote_qualified};

/// The text `pg_stat_statements` shows for another role's statement to a role without
/// `pg_read_all_stats`.
pub const HIDDEN_TEXT: &str = "<insufficient privilege>";

/// Which statements to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatStatementsQuery {
    /// Only this database's statements; `None` for every database of the cluster.
    pub database: Option<String>,
    /// Only statements called at least this many times (0: all).
    pub min_calls: u64,
}

/// One statement of one database, summed over the roles that ran it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatStatement {
    pub queryid: Option<i64>,
    /// The normalized text (`$1` for constants), or [`HIDDEN_TEXT`].
    pub query: String,
    pub database: String,
    /// The roles that ran it, sorted, `, `-separated.
    pub user: String,
    pub calls: i64,
    /// Execution time in all, per call, its population standard deviation, the fastest and
    /// slowest call; milliseconds.
    pub total_ms: f64,
    pub mean_ms: f64,
    pub stddev_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub rows: i64,
    pub shared_blks_hit: i64,
    pub shared_blks_read: i64,
    /// Temporary blocks read plus written.
    pub temp_blks: i64,
}

/// What [`read`] returns: the statements and the view's bookkeeping.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatStatements {
    pub statements: Vec<StatStatement>,
    /// `pg_stat_statements_info.stats_reset` as the server prints it (14+).
    pub stats_reset: Option<String>,
    /// Seconds from that reset to now.
    pub window_secs: Option<f64>,
    /// `pg_stat_statements_info.dealloc`: entries evicted since the reset (14+).
    pub deallocated: Option<i64>,
    /// How many of the statements read have [`HIDDEN_TEXT`] for a text.
    pub hidden: usize,
    /// The role connected (for the `GRANT pg_read_all_stats` step).
    pub current_user: String,
}

/// Why `pg_stat_statements` cannot be read; each message ends with the steps that fix it.
#[derive(Debug, thiserror::Error)]
pub enum StatStatementsError {
    /// The library is not in `shared_preload_libraries` (the setting says so, or the view
    /// refused: "pg_stat_statements must be loaded via shared_preload_libraries").
    #[error(
        "pg_stat_statements is not loaded: the server must preload it. To set it up:\n  1. in postgresql.conf set shared_preload_libraries = 'pg_stat_statements' (keep any libraries already listed: {current}), or run ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements' as a superuser (again keeping the others);\n  2. restart PostgreSQL (a reload is not enough);\n  3. in database {database}: CREATE EXTENSION pg_stat_statements;"
    )]
    NotPreloaded {
        /// `shared_preload_libraries` as it is now, `''` when empty.
        current: String,
        database: String,
    },
    /// The library is loaded but the extension does not exist in this database.
    #[error(
        "the pg_stat_statements extension is not installed in database {database} (the server preloads the library). To set it up, connected to {database} as a role allowed to create extensions:\n  CREATE EXTENSION pg_stat_statements;"
    )]
    NotInstalled { database: String },
    /// `--database` names no database of the cluster.
    #[error("there is no database named {0} on this server")]
    NoSuchDatabase(String),
    /// Before PostgreSQL 13 the view's columns have other names.
    #[error(
        "pg_stat_statements is read on PostgreSQL 13 and later; this server runs {0} (server_version_num)"
    )]
    Unsupported(i32),
    #[error(transparent)]
    Pg(#[from] Error),
}

impl From<tokio_postgres::Error> for StatStatementsError {
    fn from(e: tokio_postgres::Error) -> Self {
        StatStatementsError::Pg(Error::Client(e))
    }
}

/// The SQLSTATE of "pg_stat_statements must be loaded via shared_preload_libraries"
/// (`object_not_in_prerequisite_state`).
const NOT_LOADED: &str = "55000";

/// Whether `pg_stat_statements` is one of the libraries a `shared_preload_libraries` value
/// names (comma-separated, optionally quoted, any case).
pub fn preloads_stat_statements(setting: &str) -> bool {
    setting.split(',').any(|lib| {
        let lib = lib.trim().trim_matches('"').trim();
        // A library may be given as a path or with its suffix: `$libdir/pg_stat_statements.so`.
        let base = lib.rsplit('/').next().unwrap_or(lib);
        let base = base.strip_suffix(".so").unwrap_or(base);
        base.eq_ignore_ascii_case("pg_stat_statements")
    })
}

/// The statement reading the view, for a server of `version_num` with the view in `schema`.
/// `$1`: the database (NULL for all), `$2`: the minimum number of calls.
fn statements_sql(schema: &str, version_num: i32) -> String {
    let view = quote_qualified(Some(schema), "pg_stat_statements");
    let toplevel = if version_num >= 140000 {
        "s.toplevel"
    } else {
        "true"
    };
    // Per-role rows of one statement are summed; the pooled variance is E[x²] − mean², from each
    // row's calls × (stddev² + mean²).
    format!(
        "SELECT s.queryid, min(s.query) AS query, d.datname::text AS datname, \
                string_agg(DISTINCT coalesce(r.rolname::text, s.userid::text), ', ') AS users, \
                sum(s.calls)::bigint AS calls, \
                sum(s.total_exec_time)::float8 AS total_ms, \
                min(s.min_exec_time)::float8 AS min_ms, \
                max(s.max_exec_time)::float8 AS max_ms, \
                sum(s.calls * (s.stddev_exec_time ^ 2 + s.mean_exec_time ^ 2))::float8 AS sum_sq, \
                sum(s.rows)::bigint AS rows, \
                sum(s.shared_blks_hit)::bigint AS hit, \
                sum(s.shared_blks_read)::bigint AS read, \
                sum(s.temp_blks_read + s.temp_blks_written)::bigint AS temp \
         FROM {view} s \
         JOIN pg_database d ON d.oid = s.dbid \
         LEFT JOIN pg_roles r ON r.oid = s.userid \
         WHERE {toplevel} AND ($1::text IS NULL OR d.datname = $1::text) \
         GROUP BY d.datname, s.dbid, s.queryid, CASE WHEN s.queryid IS NULL THEN s.userid END \
         HAVING sum(s.calls) >= $2::bigint"
    )
}

/// Read `pg_stat_statements` through `client` (the extension must exist in the database it is
/// connected to; the view shows every database's statements from any of them). `version_num`:
/// the server's `server_version_num`.
pub async fn read(
    client: &Client,
    version_num: i32,
    query: &StatStatementsQuery,
) -> Result<StatStatements, StatStatementsError> {
    if version_num < 130000 {
        return Err(StatStatementsError::Unsupported(version_num));
    }
    let row = client
        .query_one(
            "SELECT current_setting('shared_preload_libraries'), \
                    (SELECT n.nspname::text FROM pg_extension e \
                     JOIN pg_namespace n ON n.oid = e.extnamespace \
                     WHERE e.extname = 'pg_stat_statements'), \
                    current_user::text, \
                    $1::text IS NULL OR EXISTS (SELECT 1 FROM pg_database WHERE datname = $1::text), \
                    current_database()::text",
            &[&query.database],
        )
        .await?;
    let preload: String = row.get(0);
    let schema: Option<String> = row.get(1);
    let current_user: String = row.get(2);
    let database_exists: bool = row.get(3);
    let connected_database: String = row.get(4);
    let not_preloaded = || StatStatementsError::NotPreloaded {
        current: if preload.trim().is_empty() {
            "''".into()
        } else {
            format!("'{preload}'")
        },
        database: quote_ident(&connected_database),
    };
    if !preloads_stat_statements(&preload) {
        return Err(not_preloaded());
    }
    let Some(schema) = schema else {
        return Err(StatStatementsError::NotInstalled {
            database: quote_ident(&connected_database),
        });
    };
    if let Some(database) = &query.database
        && !database_exists
    {
        return Err(StatStatementsError::NoSuchDatabase(quote_ident(database)));
    }
    let min_calls = i64::try_from(query.min_calls).unwrap_or(i64::MAX);
    let rows = match client
        .query(
            &statements_sql(&schema, version_num),
            &[&query.database, &min_calls],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) if e.code().map(|c| c.code()) == Some(NOT_LOADED) => {
            return Err(not_preloaded());
        }
        Err(e) => return Err(e.into()),
    };
    let statements: Vec<StatStatement> = rows
        .iter()
        .map(|row| {
            let calls: i64 = row.get("calls");
            let total_ms: f64 = row.get("total_ms");
            let sum_sq: f64 = row.get("sum_sq");
            let (mean_ms, stddev_ms) = if calls > 0 {
                let mean = total_ms / calls as f64;
                (mean, (sum_sq / calls as f64 - mean * mean).max(0.0).sqrt())
            } else {
                (0.0, 0.0)
            };
            StatStatement {
                queryid: row.get("queryid"),
                query: row.get::<_, Option<String>>("query").unwrap_or_default(),
                database: row.get("datname"),
                user: row.get::<_, Option<String>>("users").unwrap_or_default(),
                calls,
                total_ms,
                mean_ms,
                stddev_ms,
                min_ms: row.get("min_ms"),
                max_ms: row.get("max_ms"),
                rows: row.get("rows"),
                shared_blks_hit: row.get("hit"),
                shared_blks_read: row.get("read"),
                temp_blks: row.get("temp"),
            }
        })
        .collect();
    let hidden = statements.iter().filter(|s| s.query == HIDDEN_TEXT).count();

    let (stats_reset, window_secs, deallocated) = if version_num >= 140000 {
        let info = quote_qualified(Some(&schema), "pg_stat_statements_info");
        let row = client
            .query_one(
                &format!(
                    "SELECT stats_reset::text, extract(epoch FROM now() - stats_reset)::float8, dealloc \
                     FROM {info}"
                ),
                &[],
            )
            .await?;
        (row.get(0), row.get(1), row.get(2))
    } else {
        (None, None, None)
    };
    Ok(StatStatements {
        statements,
        stats_reset,
        window_secs,
        deallocated,
        hidden,
        current_user,
    })
}

/// `GRANT pg_read_all_stats TO role`: what lets a role see every role's statement texts.
pub fn grant_read_all_stats_sql(role: &str) -> String {
    format!("GRANT pg_read_all_stats TO {}", quote_ident(role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preload_setting_is_read_like_the_server_reads_it() {
        assert!(preloads_stat_statements("pg_stat_statements"));
        assert!(preloads_stat_statements(
            "auto_explain, \"pg_stat_statements\""
        ));
        assert!(preloads_stat_statements("$libdir/pg_stat_statements.so"));
        assert!(preloads_stat_statements("PG_STAT_STATEMENTS"));
        assert!(!preloads_stat_statements(""));
        assert!(!preloads_stat_statements("auto_explain,pg_stat_kcache"));
    }

    #[test]
    fn older_servers_have_no_toplevel_column() {
        assert!(statements_sql("public", 170000).contains("s.toplevel"));
        assert!(!statements_sql("public", 130000).contains("toplevel"));
        assert!(
            statements_sql("my schema", 150000).contains("\"my schema\".\"pg_stat_statements\"")
        );
    }

    #[test]
    fn errors_give_the_setup_steps() {
        let e = StatStatementsError::NotPreloaded {
            current: "''".into(),
            database: "shop".into(),
        }
        .to_string();
        assert!(
            e.contains("shared_preload_libraries = 'pg_stat_statements'"),
            "{e}"
        );
        assert!(e.contains("restart"), "{e}");
        assert!(e.contains("CREATE EXTENSION pg_stat_statements;"), "{e}");
        let e = StatStatementsError::NotInstalled {
            database: "shop".into(),
        }
        .to_string();
        assert!(e.contains("CREATE EXTENSION pg_stat_statements;"), "{e}");
        assert_eq!(
            grant_read_all_stats_sql("app user"),
            "GRANT pg_read_all_stats TO \"app user\""
        );
    }
}
