//! Splitting a SQL file into statements and deciding which ones EXPLAIN accepts.
//!
//! sqlparser's tokenizer finds the statement boundaries (it knows quotes, dollar quotes and
//! comments); the text sent to the server is always the user's original slice, never a
//! re-serialized AST, so the server sees exactly what the user wrote.

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
    });
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

const WRITE_KEYWORDS: [&str; 4] = ["INSERT", "UPDATE", "DELETE", "MERGE"];

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
            // every statement is rolled back regardless; this only labels the report.
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
