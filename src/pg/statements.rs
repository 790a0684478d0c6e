//! Splitting a SQL file into statements and deciding which ones EXPLAIN accepts.
//!
//! sqlparser's tokenizer finds the statement boundaries (it knows quotes, dollar quotes and
//! comments); the text sent to the server is always the user's original slice, never a
//! re-serialized AST, so the server sees exactly what the user wrote. Inputs over 1 MiB are
//! tokenized in chunks (submodule `chunked`) so that a 50 MB statement does not hold all its
//! tokens at once.

mod chunked;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

/// One statement of the input, with where it starts in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    /// 1-based position among the file's statements.
    pub index: usize,
    /// The statement as written, without the trailing semicolon (and without a leading
    /// `EXPLAIN ...` of the user's own, which pgdiag replaces with its own options).
    pub text: String,
    /// 1-based line and column (in characters) of `text`'s first character in the file.
    pub line: usize,
    pub column: usize,
    pub kind: StatementKind,
    /// `$n` values from a `-- pgdiag: params 42, 'x', null` comment before or inside the
    /// statement (used by `baseline` and `check`, where there is no `--param`).
    pub params: Option<Vec<Option<String>>>,
    /// A `-- pgdiag: calls=120/min` comment before or inside the statement: how often it is
    /// expected to run (read by `cache-advice`, which reads the rate in its input module).
    pub calls: Option<CallsDirective>,
}

/// The text of a `-- pgdiag: calls=...` comment, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallsDirective {
    /// 1-based line of the comment in the file.
    pub line: usize,
    /// What follows `calls` (and its `=`), trimmed: `120/min`.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    /// A query or DML statement that EXPLAIN accepts.
    Explainable {
        /// The statement writes (INSERT/UPDATE/DELETE/MERGE, or a data-modifying CTE).
        writes: bool,
        /// The user wrote `EXPLAIN ...` themselves; we stripped it.
        had_explain: bool,
    },
    /// Something EXPLAIN refuses (DDL, utility, transaction control); the leading keywords.
    NotExplainable { command: String },
}

/// Why the input holds nothing to explain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("no SQL statement found (the input is empty or only comments)")]
    Empty,
}

/// Split `sql` into statements. When the tokenizer cannot read the input (an unterminated quote,
/// say), the whole input is returned as one statement so that the server, the authority on
/// PostgreSQL syntax, reports the error with its position.
pub fn split_statements(sql: &str) -> Result<Vec<SqlStatement>, SplitError> {
    if sql.len() > chunked::LARGE_INPUT
        && let Some(split) = chunked::split_statements(sql, chunked::CHUNK)
    {
        return split;
    }
    split_at_once(sql)
}

/// [`split_statements`] from all the input's tokens at once.
fn split_at_once(sql: &str) -> Result<Vec<SqlStatement>, SplitError> {
    let dialect = PostgreSqlDialect {};
    let tokens = match Tokenizer::new(&dialect, sql).tokenize_with_location() {
        Ok(t) => t,
        Err(_) => {
            let trimmed = sql.trim();
            if trimmed.is_empty() {
                return Err(SplitError::Empty);
            }
            let (line, column) = position_of(sql, sql.len() - sql.trim_start().len());
            return Ok(vec![SqlStatement {
                index: 1,
                text: trimmed.trim_end_matches(';').to_owned(),
                line,
                column,
                kind: classify_words(&first_words(trimmed)),
                params: None,
                calls: None,
            }]);
        }
    };
    let line_starts = line_starts(sql);
    let mut statements = Vec::new();
    let mut current: Vec<&TokenWithSpan> = Vec::new();
    for token in &tokens {
        match &token.token {
            Token::SemiColon => {
                push_statement(sql, &line_starts, &current, &mut statements);
                current.clear();
            }
            Token::EOF => {}
            _ => current.push(token),
        }
    }
    push_statement(sql, &line_starts, &current, &mut statements);
    if statements.is_empty() {
        return Err(SplitError::Empty);
    }
    Ok(statements)
}

fn is_trivia(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

fn push_statement(
    sql: &str,
    line_starts: &[usize],
    tokens: &[&TokenWithSpan],
    out: &mut Vec<SqlStatement>,
) {
    let significant: Vec<&TokenWithSpan> = tokens
        .iter()
        .copied()
        .filter(|t| !is_trivia(&t.token))
        .collect();
    let Some(first) = significant.first() else {
        return;
    };
    let mut start_token = *first;
    let mut had_explain = false;
    if keyword_of(&first.token).as_deref() == Some("EXPLAIN") {
        // Replace the user's EXPLAIN options with ours: skip `EXPLAIN [(...)] [ANALYZE] [VERBOSE]`.
        had_explain = true;
        let mut i = 1;
        if matches!(significant.get(i).map(|t| &t.token), Some(Token::LParen)) {
            let mut depth = 0usize;
            while let Some(t) = significant.get(i) {
                match t.token {
                    Token::LParen => depth += 1,
                    Token::RParen => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        while significant
            .get(i)
            .and_then(|t| keyword_of(&t.token))
            .is_some_and(|k| matches!(k.as_str(), "ANALYZE" | "ANALYSE" | "VERBOSE"))
        {
            i += 1;
        }
        match significant.get(i) {
            Some(t) => start_token = *t,
            None => return,
        }
    }
    let last = significant.last().unwrap();
    let start = byte_offset(
        sql,
        line_starts,
        start_token.span.start.line,
        start_token.span.start.column,
    );
    let end = byte_offset(sql, line_starts, last.span.end.line, last.span.end.column);
    let text = sql[start..end.max(start)].to_owned();
    let words: Vec<String> = significant
        .iter()
        .skip_while(|t| !std::ptr::eq(**t, start_token))
        .filter_map(|t| match &t.token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            Token::LParen => Some("(".into()),
            _ => None,
        })
        .collect();
    let params = tokens.iter().find_map(|t| match &t.token {
        Token::Whitespace(Whitespace::SingleLineComment { comment, .. }) => {
            params_directive(comment)
        }
        _ => None,
    });
    let calls = tokens.iter().find_map(|t| match &t.token {
        Token::Whitespace(Whitespace::SingleLineComment { comment, .. }) => {
            calls_directive(comment).map(|text| CallsDirective {
                line: t.span.start.line as usize,
                text,
            })
        }
        _ => None,
    });
    let mut kind = classify_words(&words);
    if let StatementKind::Explainable { had_explain: h, .. } = &mut kind {
        *h = had_explain;
    }
    out.push(SqlStatement {
        index: out.len() + 1,
        text,
        line: start_token.span.start.line as usize,
        column: start_token.span.start.column as usize,
        kind,
        params,
        calls,
    });
}

/// `pgdiag: calls=120/min` (or `calls 120/min`) → `120/min`; `None` for any other comment.
pub(crate) fn calls_directive(comment: &str) -> Option<String> {
    let rest = comment.trim().strip_prefix("pgdiag:")?.trim_start();
    let rest = rest.strip_prefix("calls")?;
    let rest = match rest.trim_start().strip_prefix('=') {
        Some(value) => value,
        None if rest.is_empty() || rest.starts_with(char::is_whitespace) => rest,
        None => return None,
    };
    Some(rest.trim().to_owned())
}

/// `pgdiag: params 42, 'it''s', null` → `[Some("42"), Some("it's"), None]`. Values are SQL-ish
/// literals: single-quoted strings (`''` escapes a quote), `null`, or bare words and numbers.
fn params_directive(comment: &str) -> Option<Vec<Option<String>>> {
    let rest = comment.trim().strip_prefix("pgdiag:")?.trim_start();
    let list = rest.strip_prefix("params")?.trim();
    let mut values = Vec::new();
    let mut chars = list.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None => break,
            Some('\'') => {
                chars.next();
                let mut value = String::new();
                while let Some(c) = chars.next() {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                            value.push('\'');
                        } else {
                            break;
                        }
                    } else {
                        value.push(c);
                    }
                }
                values.push(Some(value));
            }
            Some(_) => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                let word = word.trim();
                values.push(if word.eq_ignore_ascii_case("null") {
                    None
                } else {
                    Some(word.to_owned())
                });
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Some(values)
}

fn keyword_of(token: &Token) -> Option<String> {
    match token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// First few unquoted words (and parentheses) of a statement, upper-cased, for the fallback path.
fn first_words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .flat_map(|w| {
            let mut parts = Vec::new();
            let mut rest = w;
            while let Some(r) = rest.strip_prefix('(') {
                parts.push("(".to_owned());
                rest = r;
            }
            if !rest.is_empty() {
                parts.push(rest.to_ascii_uppercase());
            }
            parts
        })
        .collect()
}

/// Words that make a statement need a read-write transaction: DML, `SELECT ... INTO` (creates a
/// table) and row locks (`FOR SHARE`, `FOR [NO KEY] UPDATE`, `FOR KEY SHARE`), which PostgreSQL
/// refuses in a `READ ONLY` transaction.
const WRITE_KEYWORDS: [&str; 6] = ["INSERT", "UPDATE", "DELETE", "MERGE", "INTO", "SHARE"];

fn classify_words(words: &[String]) -> StatementKind {
    let first = words
        .iter()
        .find(|w| *w != "(")
        .map(String::as_str)
        .unwrap_or("");
    match first {
        "SELECT" | "VALUES" | "TABLE" | "WITH" | "EXECUTE" | "INSERT" | "UPDATE" | "DELETE"
        | "MERGE" => {
            // A WITH may hide a data-modifying CTE; any write keyword anywhere counts. False
            // positives ("writes" for a SELECT mentioning a column named update) are harmless:
            // every statement is rolled back regardless; such a statement only runs in a
            // read-write transaction instead of a READ ONLY one.
            let writes =
                words.iter().any(|w| WRITE_KEYWORDS.contains(&w.as_str())) || first == "EXECUTE";
            StatementKind::Explainable {
                writes,
                had_explain: false,
            }
        }
        _ => {
            let command = words
                .iter()
                .filter(|w| *w != "(")
                .take(if matches!(first, "CREATE" | "DROP" | "ALTER") {
                    2
                } else {
                    1
                })
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            StatementKind::NotExplainable { command }
        }
    }
}

/// A function whose effect survives the rollback of the transaction that called it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideEffect {
    /// The call as written, lower-cased unless quoted: `setval`, `pg_catalog.pg_stat_reset`.
    pub function: String,
    /// What survives, for messages: `sequence value`, `backend signal`, ...
    pub effect: &'static str,
}

/// Functions (PostgreSQL 14 to 18, and common extensions) that act outside the transaction: what
/// they do stays when it rolls back. Exact names, then name prefixes. Functions whose effects are
/// transactional are not here on purpose: `set_config(..., false)` (a rolled-back SET is undone),
/// `pg_notify` (sent at commit only), `lo_create`/`lo_unlink`/`lowrite` (`pg_largeobject` is a
/// table), transaction-level advisory locks, `txid_current`/`pg_current_xact_id` (they consume a
/// transaction id, as any write does: no visible effect), `lo_import` (reads a server file).
const SIDE_EFFECT_FUNCTIONS: &[(&str, &str)] = &[
    ("nextval", "sequence value, never rolled back"),
    ("setval", "sequence value, never rolled back"),
    ("pg_cancel_backend", "signal sent to another session"),
    ("pg_terminate_backend", "signal sent to another session"),
    ("pg_reload_conf", "configuration reload"),
    ("pg_rotate_logfile", "server log rotation"),
    ("pg_logfile_rotate", "server log rotation"),
    ("pg_log_backend_memory_contexts", "server log entries"),
    ("pg_stat_statements_reset", "statistics reset"),
    ("pg_create_physical_replication_slot", "replication slot"),
    ("pg_create_logical_replication_slot", "replication slot"),
    ("pg_drop_replication_slot", "replication slot"),
    ("pg_copy_physical_replication_slot", "replication slot"),
    ("pg_copy_logical_replication_slot", "replication slot"),
    ("pg_replication_slot_advance", "replication slot position"),
    (
        "pg_logical_slot_get_changes",
        "replication slot position, changes consumed",
    ),
    (
        "pg_logical_slot_get_binary_changes",
        "replication slot position, changes consumed",
    ),
    ("pg_sync_replication_slots", "replication slots"),
    ("pg_logical_emit_message", "WAL message"),
    ("pg_switch_wal", "WAL segment switch"),
    ("pg_create_restore_point", "WAL restore point"),
    ("pg_backup_start", "backup mode"),
    ("pg_backup_stop", "backup mode"),
    ("pg_start_backup", "backup mode"),
    ("pg_stop_backup", "backup mode"),
    ("pg_wal_replay_pause", "WAL replay state"),
    ("pg_wal_replay_resume", "WAL replay state"),
    ("pg_promote", "standby promotion"),
    ("pg_log_standby_snapshot", "WAL record"),
    (
        "pg_advisory_lock",
        "session-level advisory lock, held until the session ends",
    ),
    (
        "pg_advisory_lock_shared",
        "session-level advisory lock, held until the session ends",
    ),
    (
        "pg_try_advisory_lock",
        "session-level advisory lock, held until the session ends",
    ),
    (
        "pg_try_advisory_lock_shared",
        "session-level advisory lock, held until the session ends",
    ),
    ("lo_export", "file written on the server"),
    ("pg_file_write", "file written on the server"),
    ("pg_file_rename", "file renamed on the server"),
    ("pg_file_unlink", "file removed on the server"),
    ("pg_file_sync", "file synced on the server"),
    (
        "pg_restore_relation_stats",
        "planner statistics, updated in place",
    ),
    (
        "pg_clear_relation_stats",
        "planner statistics, updated in place",
    ),
    ("pg_restore_attribute_stats", "planner statistics"),
    ("pg_clear_attribute_stats", "planner statistics"),
    ("hypopg_create_index", "hypothetical index in the session"),
    ("hypopg_drop_index", "hypothetical index in the session"),
    ("hypopg_reset", "hypothetical indexes in the session"),
    ("hypopg_hide_index", "hidden index in the session"),
    ("hypopg_unhide_index", "hidden index in the session"),
    ("hypopg_unhide_all_indexes", "hidden indexes in the session"),
];

/// Name prefixes of families of such functions.
const SIDE_EFFECT_PREFIXES: &[(&str, &str)] = &[
    ("pg_stat_reset", "statistics reset"),
    ("pg_replication_origin_create", "replication origin"),
    ("pg_replication_origin_drop", "replication origin"),
    (
        "pg_replication_origin_advance",
        "replication origin position",
    ),
    (
        "pg_replication_origin_session_",
        "replication origin of the session",
    ),
    (
        "pg_replication_origin_xact_",
        "replication origin of the session",
    ),
    ("dblink", "work done on another server, committed there"),
];

fn side_effect_of(name: &str) -> Option<&'static str> {
    SIDE_EFFECT_FUNCTIONS
        .iter()
        .find(|(f, _)| *f == name)
        .or_else(|| {
            SIDE_EFFECT_PREFIXES
                .iter()
                .find(|(p, _)| name.starts_with(p))
        })
        .map(|(_, effect)| *effect)
}

/// The calls in `sql` of functions that act outside the transaction (the `SIDE_EFFECT_FUNCTIONS` list),
/// in order, each once. A call is a name (any case, schema-qualified or not, quoted or not)
/// followed by `(`, found by sqlparser's tokenizer, so strings, comments and dollar-quoted bodies
/// never match. What the statement reaches indirectly is beyond it: functions called by views,
/// triggers, column defaults (a serial column's `nextval` on INSERT) and user functions.
pub fn side_effects(sql: &str) -> Vec<SideEffect> {
    // A cheap byte scan first: most statements call none of these, and a 50 MB statement should
    // not be tokenized a second time for nothing.
    let candidates = side_effect_candidates(sql);
    if candidates.is_empty() {
        return Vec::new();
    }
    if sql.len() > chunked::LARGE_INPUT
        && let Some(found) = chunked::side_effects(sql, chunked::CHUNK)
    {
        return found;
    }
    let dialect = PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        // sqlparser cannot read it, PostgreSQL perhaps can: without knowing where strings and
        // comments are, every `name(` counts (refusing too much, never too little).
        return candidates;
    };
    let mut found: Vec<SideEffect> = Vec::new();
    // The last three significant tokens before the current one: `schema . name (`.
    let mut previous: [Option<&Token>; 3] = [None; 3];
    for token in tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))) {
        if let (Token::LParen, Some(Token::Word(word))) = (token, previous[0]) {
            let name = identifier(word);
            if let Some(effect) = side_effect_of(&name) {
                let function = match (previous[1], previous[2]) {
                    (Some(Token::Period), Some(Token::Word(schema))) => {
                        format!("{}.{name}", identifier(schema))
                    }
                    _ => name,
                };
                if !found.iter().any(|f| f.function == function) {
                    found.push(SideEffect { function, effect });
                }
            }
        }
        previous = [Some(token), previous[0], previous[1]];
    }
    found
}

/// An identifier as PostgreSQL folds it: lower-cased unless quoted.
fn identifier(word: &sqlparser::tokenizer::Word) -> String {
    if word.quote_style.is_some() {
        word.value.clone()
    } else {
        word.value.to_lowercase()
    }
}

/// Every `name(` (or `"name"(`) in `sql` that names a listed function, each once; may include
/// one in a string or comment, which the tokenizer then rules out.
fn side_effect_candidates(sql: &str) -> Vec<SideEffect> {
    let bytes = sql.as_bytes();
    let mut found: Vec<SideEffect> = Vec::new();
    for (open, _) in sql.match_indices('(') {
        let mut end = open;
        while end > 0 && bytes[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        let quoted = end > 0 && bytes[end - 1] == b'"';
        let end = if quoted { end - 1 } else { end };
        let mut start = end;
        while start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b'$')
        {
            start -= 1;
        }
        if start == end || end - start > 64 {
            continue;
        }
        let mut name = sql[start..end].to_owned();
        if !quoted {
            name.make_ascii_lowercase();
        }
        if let Some(effect) = side_effect_of(&name)
            && !found.iter().any(|f| f.function == name)
        {
            found.push(SideEffect {
                function: name,
                effect,
            });
        }
    }
    found
}

#[cfg(test)]
fn may_call_side_effect(sql: &str) -> bool {
    !side_effect_candidates(sql).is_empty()
}

fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// Byte offset of a 1-based (line, column-in-characters) location.
fn byte_offset(sql: &str, line_starts: &[usize], line: u64, column: u64) -> usize {
    let Some(&line_start) = line_starts.get((line as usize).saturating_sub(1)) else {
        return sql.len();
    };
    let rest = &sql[line_start..];
    rest.char_indices()
        .nth((column as usize).saturating_sub(1))
        .map(|(i, _)| line_start + i)
        .unwrap_or(sql.len())
}

/// 1-based (line, column in characters) of a byte offset.
pub fn position_of(text: &str, byte: usize) -> (usize, usize) {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(String, StatementKind)> {
        split_statements(sql)
            .unwrap()
            .into_iter()
            .map(|s| (s.text, s.kind))
            .collect()
    }

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let sql = "-- leading comment\nSELECT ';' AS a;\n\nSELECT $$;$$, 1 /* ; */ ;\nINSERT INTO t VALUES (1)";
        let stmts = split_statements(sql).unwrap();
        assert_eq!(stmts.len(), 3);
        assert_eq!(stmts[0].text, "SELECT ';' AS a");
        assert_eq!((stmts[0].line, stmts[0].column), (2, 1));
        assert_eq!(stmts[1].text, "SELECT $$;$$, 1");
        assert_eq!(stmts[1].line, 4);
        assert_eq!(stmts[2].text, "INSERT INTO t VALUES (1)");
        assert_eq!(
            stmts[2].kind,
            StatementKind::Explainable {
                writes: true,
                had_explain: false
            }
        );
    }

    #[test]
    fn refuses_ddl_utility_and_transaction_control() {
        for (sql, command) in [
            ("CREATE INDEX i ON t (a)", "CREATE INDEX"),
            ("vacuum t", "VACUUM"),
            ("COPY t FROM stdin", "COPY"),
            ("BEGIN", "BEGIN"),
            ("COMMIT", "COMMIT"),
            ("SET work_mem = '1GB'", "SET"),
            ("DROP TABLE t", "DROP TABLE"),
        ] {
            assert_eq!(
                kinds(sql)[0].1,
                StatementKind::NotExplainable {
                    command: command.into()
                },
                "{sql}"
            );
        }
    }

    #[test]
    fn data_modifying_cte_counts_as_write() {
        let k = kinds("WITH gone AS (DELETE FROM t RETURNING *) SELECT count(*) FROM gone");
        assert_eq!(
            k[0].1,
            StatementKind::Explainable {
                writes: true,
                had_explain: false
            }
        );
        let k = kinds("(SELECT 1) UNION ALL (SELECT 2)");
        assert!(matches!(
            k[0].1,
            StatementKind::Explainable { writes: false, .. }
        ));
    }

    #[test]
    fn users_own_explain_is_stripped() {
        let stmts = split_statements(
            "EXPLAIN (ANALYZE, COSTS off)\n  SELECT 1;\nexplain analyze verbose select 2",
        )
        .unwrap();
        assert_eq!(stmts[0].text, "SELECT 1");
        assert_eq!((stmts[0].line, stmts[0].column), (2, 3));
        assert_eq!(
            stmts[0].kind,
            StatementKind::Explainable {
                writes: false,
                had_explain: true
            }
        );
        assert_eq!(stmts[1].text, "select 2");
    }

    #[test]
    fn params_directive_in_a_leading_comment() {
        let stmts = split_statements(
            "-- product page\n-- pgdiag: params 42, 'it''s, ok', NULL\nSELECT $1, $2, $3;\nSELECT 1",
        )
        .unwrap();
        assert_eq!(
            stmts[0].params,
            Some(vec![Some("42".into()), Some("it's, ok".into()), None])
        );
        assert_eq!(stmts[1].params, None);
        assert_eq!(params_directive(" pgdiag: params"), Some(vec![]));
        assert_eq!(params_directive(" just a comment"), None);
    }

    #[test]
    fn calls_directive_beside_the_params_one_with_its_line() {
        let sql = "SELECT 1;\n-- pgdiag: params 42\n-- pgdiag: calls=120/min\nSELECT $1;\n\
                   SELECT 2 -- pgdiag: calls 3.5/s\n;\nSELECT 3";
        let stmts = split_statements(sql).unwrap();
        assert_eq!(stmts[0].calls, None);
        assert_eq!(
            stmts[1].calls,
            Some(CallsDirective {
                line: 3,
                text: "120/min".into()
            })
        );
        assert_eq!(stmts[1].params, Some(vec![Some("42".into())]));
        assert_eq!(
            stmts[2].calls,
            Some(CallsDirective {
                line: 5,
                text: "3.5/s".into()
            })
        );
        assert_eq!(stmts[3].calls, None);
        assert_eq!(calls_directive(" pgdiag: calls = 1/h"), Some("1/h".into()));
        assert_eq!(calls_directive(" pgdiag: calls"), Some(String::new()));
        assert_eq!(calls_directive(" pgdiag: callsign 3"), None);
        assert_eq!(calls_directive(" pgdiag: params 1"), None);
        // The chunked splitter reads it at the same line.
        let chunked = chunked::split_statements(sql, 8).unwrap().unwrap();
        assert_eq!(chunked, stmts);
    }

    #[test]
    fn empty_and_comment_only_inputs() {
        assert_eq!(split_statements(""), Err(SplitError::Empty));
        assert_eq!(
            split_statements("  \n-- nothing\n/* here */ ;;"),
            Err(SplitError::Empty)
        );
    }

    #[test]
    fn unterminated_quote_falls_back_to_the_server() {
        let stmts = split_statements("SELECT 'oops").unwrap();
        assert_eq!(stmts.len(), 1);
        assert_eq!(stmts[0].text, "SELECT 'oops");
    }

    #[test]
    fn multibyte_text_keeps_columns_in_characters() {
        let stmts = split_statements("SELECT 'é';  SELECT 'ü'").unwrap();
        assert_eq!(stmts[1].text, "SELECT 'ü'");
        assert_eq!((stmts[1].line, stmts[1].column), (1, 14));
        assert_eq!(position_of("ab\ncé d", 7), (2, 4));
    }
}

#[cfg(test)]
mod side_effect_tests {
    use super::*;

    fn calls(sql: &str) -> Vec<String> {
        side_effects(sql).into_iter().map(|e| e.function).collect()
    }

    #[test]
    fn calls_are_found_in_any_case_qualified_or_quoted() {
        assert_eq!(calls("SELECT setval('s', 1)"), ["setval"]);
        assert_eq!(calls("select SETVAL ('s', 1)"), ["setval"]);
        assert_eq!(
            calls("SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_stat_activity"),
            ["pg_catalog.pg_terminate_backend"]
        );
        assert_eq!(
            calls(r#"SELECT "pg_catalog"."pg_stat_reset"()"#),
            ["pg_catalog.pg_stat_reset"]
        );
        assert_eq!(
            calls("SELECT pg_stat_reset_shared('bgwriter')"),
            ["pg_stat_reset_shared"]
        );
        assert_eq!(
            calls("INSERT INTO t (id) VALUES (nextval('t_id_seq')), (nextval('t_id_seq'))"),
            ["nextval"]
        );
        assert_eq!(
            calls("SELECT * FROM pg_create_logical_replication_slot('s', 'test_decoding')"),
            ["pg_create_logical_replication_slot"]
        );
        assert_eq!(
            calls("SELECT * FROM dblink('dbname=x', 'select 1') AS t(a int)"),
            ["dblink"]
        );
        assert_eq!(
            calls("WITH x AS (SELECT pg_advisory_lock(1)) SELECT lo_export(1, '/tmp/f') FROM x"),
            ["pg_advisory_lock", "lo_export"]
        );
        assert_eq!(
            calls("SELECT pg_replication_origin_session_setup('o')"),
            ["pg_replication_origin_session_setup"]
        );
    }

    #[test]
    fn strings_comments_lookalikes_and_transactional_functions_are_not_calls() {
        for sql in [
            "SELECT 'setval(1)' AS s",
            "SELECT 1 -- setval('s', 1)\n",
            "SELECT 1 /* pg_terminate_backend(1) */",
            "SELECT $$ nextval('s') $$",
            "SELECT currval('s'), lastval()",
            "SELECT setval_count FROM t",
            "SELECT my_setval(1), pg_advisory_xact_lock(1), pg_notify('c', 'x')",
            "SELECT set_config('work_mem', '8MB', false), txid_current(), pg_current_xact_id()",
            "SELECT lo_create(0), pg_stat_get_numscans(1::oid), pg_stat_clear_snapshot()",
            "SELECT \"SETVAL\"(1)",
        ] {
            assert!(calls(sql).is_empty(), "{sql}: {:?}", calls(sql));
        }
    }

    #[test]
    fn unreadable_for_the_tokenizer_every_name_call_counts() {
        assert_eq!(calls("SELECT setval('s', 1), 'unterminated"), ["setval"]);
        assert!(calls("SELECT 1, 'unterminated").is_empty());
    }

    #[test]
    fn the_quick_scan_agrees_with_the_tokenizer() {
        assert!(may_call_side_effect("select SetVal  ('s', 1)"));
        assert!(may_call_side_effect("select \"setval\"(1)"));
        assert!(!may_call_side_effect(
            "select count(*) from t where a in (1, 2)"
        ));
        assert!(!may_call_side_effect(""));
        assert!(!may_call_side_effect("("));
    }

    #[test]
    fn row_locks_and_select_into_need_a_read_write_transaction() {
        for sql in [
            "SELECT * FROM t FOR SHARE",
            "SELECT * FROM t FOR KEY SHARE",
            "SELECT * FROM t FOR NO KEY UPDATE",
            "SELECT * INTO t2 FROM t",
        ] {
            let kind = &split_statements(sql).unwrap()[0].kind;
            assert!(
                matches!(kind, StatementKind::Explainable { writes: true, .. }),
                "{sql}: {kind:?}"
            );
        }
        let kind = &split_statements("SELECT setval('s', 1)").unwrap()[0].kind;
        assert!(matches!(
            kind,
            StatementKind::Explainable { writes: false, .. }
        ));
    }
}
