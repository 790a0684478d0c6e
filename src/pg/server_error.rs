//! Server errors shown the way psql shows them: severity and message, the query line with a caret
//! under the offending text, then DETAIL, HINT and CONTEXT.

use std::fmt;

use tokio_postgres::error::{DbError, ErrorPosition};

use super::statements::position_of;

/// A server error mapped back onto the user's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub severity: String,
    /// SQLSTATE, e.g. `42P01`.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub context: Option<String>,
    /// 1-based line and column in the user's file (or input) of the offending text.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// `LINE n: <text>` and the caret line beneath it.
    pub excerpt: Option<String>,
}

impl ServerError {
    /// Build from a server error on `sent`, where the user's statement (which starts at
    /// `stmt_line`/`stmt_column` of the file) begins at byte `stmt_offset` of `sent`.
    pub fn from_db_error(
        db: &DbError,
        sent: &str,
        stmt_offset: usize,
        stmt_line: usize,
        stmt_column: usize,
    ) -> ServerError {
        let mut err = ServerError {
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            hint: db.hint().map(str::to_owned),
            context: db.where_().map(str::to_owned),
            line: None,
            column: None,
            excerpt: None,
        };
        match db.position() {
            Some(ErrorPosition::Original(pos)) => {
                // The position counts characters (1-based) in the text we sent.
                let prefix_chars = sent[..stmt_offset].chars().count();
                let stmt = &sent[stmt_offset..];
                let in_stmt = (*pos as usize)
                    .saturating_sub(1)
                    .saturating_sub(prefix_chars);
                let byte = stmt
                    .char_indices()
                    .nth(in_stmt)
                    .map(|(i, _)| i)
                    .unwrap_or(stmt.len());
                let (line_in_stmt, col_in_stmt) = position_of(stmt, byte);
                let line = stmt_line + line_in_stmt - 1;
                let column = if line_in_stmt == 1 {
                    stmt_column + col_in_stmt - 1
                } else {
                    col_in_stmt
                };
                err.line = Some(line);
                err.column = Some(column);
                err.excerpt = Some(excerpt(stmt, byte, line));
            }
            Some(ErrorPosition::Internal { position, query }) => {
                let byte = query
                    .char_indices()
                    .nth((*position as usize).saturating_sub(1))
                    .map(|(i, _)| i)
                    .unwrap_or(query.len());
                let (line, _) = position_of(query, byte);
                err.excerpt = Some(format!(
                    "QUERY:  {}",
                    excerpt(query, byte, line).trim_start_matches("LINE ")
                ));
            }
            None => {}
        }
        err
    }

    /// A one-line summary: `ERROR:  message (SQLSTATE x)`.
    pub fn summary(&self) -> String {
        format!(
            "{}:  {} (SQLSTATE {})",
            self.severity, self.message, self.code
        )
    }
}

/// psql's `LINE n: text` with a caret under the character at `byte`; long lines are cut around it.
fn excerpt(text: &str, byte: usize, line_number: usize) -> String {
    let line_start = text[..byte].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[byte..]
        .find('\n')
        .map(|i| byte + i)
        .unwrap_or(text.len());
    let line: Vec<char> = text[line_start..line_end].chars().collect();
    let caret_at = text[line_start..byte].chars().count();
    // Keep the excerpt readable on a terminal: at most ~60 characters either side of the caret.
    let window = 60;
    let from = caret_at.saturating_sub(window);
    let to = (caret_at + window).min(line.len());
    let mut shown: String = line[from..to].iter().collect();
    let mut caret_col = caret_at - from;
    if from > 0 {
        shown.insert_str(0, "...");
        caret_col += 3;
    }
    if to < line.len() {
        shown.push_str("...");
    }
    let prefix = format!("LINE {line_number}: ");
    // Tabs would misplace the caret; psql replaces them too.
    let shown = shown.replace('\t', " ");
    format!(
        "{prefix}{shown}\n{}^",
        " ".repeat(prefix.chars().count() + caret_col)
    )
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary())?;
        if let Some(e) = &self.excerpt {
            write!(f, "\n{e}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, "\nDETAIL:  {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\nHINT:  {h}")?;
        }
        if let Some(c) = &self.context {
            write!(f, "\nCONTEXT:  {c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_sits_under_the_offending_character() {
        let text = "SELECT *\nFROM nope\nWHERE 1";
        let byte = text.find("nope").unwrap();
        assert_eq!(excerpt(text, byte, 7), "LINE 7: FROM nope\n             ^");
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let text = format!("SELECT {} FROM nope", "x, ".repeat(100));
        let byte = text.find("nope").unwrap();
        let e = excerpt(&text, byte, 1);
        let lines: Vec<&str> = e.lines().collect();
        assert!(lines[0].starts_with("LINE 1: ..."));
        let caret = lines[1].find('^').unwrap();
        assert_eq!(&lines[0][caret..caret + 4], "nope");
    }
}
