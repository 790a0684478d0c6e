//! Statement text normalized the way `pg_stat_statements` shows it: constants (numbers, strings,
//! typed literals' strings as in `DATE $1`, `true`/`false`/`NULL` outside `IS [NOT]`, a negative
//! number with its minus) replaced by `$n`, numbered after the highest `$n` already in the text;
//! comments dropped and whitespace collapsed so they do not split a group; a trailing `;` dropped;
//! a list of two or more constants in `IN (…)` collapsed to `IN ($n /*, ... */)` as PostgreSQL 18
//! does. Tokens come from sqlparser's PostgreSQL tokenizer; text it refuses is kept as written
//! (whitespace collapsed).

use std::fmt::Write as _;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// A statement's normalized text and the constants taken out of it, in `$n` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub text: String,
    /// The values replaced (`None` for `NULL`), the first one being `$first`.
    pub constants: Vec<Option<String>>,
    /// The highest `$n` the text had before constants were replaced (0 when none).
    pub placeholders: usize,
    /// False when the tokenizer refused the text: it is kept as written.
    pub tokenized: bool,
}

/// One significant token, classified.
#[derive(Debug)]
enum Item {
    /// A constant, with its value (`None` for `NULL`).
    Constant(Option<String>),
    /// Anything else, as it prints.
    Other(Token),
}

/// Normalizes `sql` (see the module documentation).
pub fn normalize(sql: &str) -> Normalized {
    Normalizer::default().normalize(sql)
}

/// [`normalize`] with its buffers kept from one statement to the next (a log has millions).
#[derive(Debug, Default)]
pub struct Normalizer {
    tokens: Vec<TokenWithSpan>,
    items: Vec<(bool, Item)>,
}

impl Normalizer {
    /// Normalizes `sql` (see the module documentation).
    pub fn normalize(&mut self, sql: &str) -> Normalized {
        self.tokens.clear();
        self.items.clear();
        let dialect = PostgreSqlDialect {};
        if Tokenizer::new(&dialect, sql)
            .tokenize_with_location_into_buf(&mut self.tokens)
            .is_err()
        {
            return Normalized {
                text: collapse_whitespace(sql),
                constants: Vec::new(),
                placeholders: 0,
                tokenized: false,
            };
        }
        let normalized = normalize_tokens(sql, &mut self.tokens, &mut self.items);
        self.items.clear();
        normalized
    }
}

fn normalize_tokens(
    sql: &str,
    tokens: &mut Vec<TokenWithSpan>,
    items: &mut Vec<(bool, Item)>,
) -> Normalized {
    let placeholders = tokens
        .iter()
        .filter_map(|t| match &t.token {
            Token::Placeholder(p) => p.strip_prefix('$')?.parse::<usize>().ok(),
            _ => None,
        })
        .max()
        .unwrap_or(0);

    // Significant tokens with whether whitespace (or a comment) came before each.
    let mut space = false;
    let mut tokens = tokens.drain(..).map(|t| t.token).peekable();
    while let Some(token) = tokens.next() {
        if matches!(token, Token::Whitespace(_) | Token::EOF) {
            space = true;
            continue;
        }
        let before = std::mem::take(&mut space);
        let item = match token {
            Token::Number(n, _) => Item::Constant(Some(n)),
            Token::SingleQuotedString(s)
            | Token::EscapedStringLiteral(s)
            | Token::NationalStringLiteral(s)
            | Token::UnicodeStringLiteral(s)
            | Token::HexStringLiteral(s)
            | Token::SingleQuotedByteStringLiteral(s) => Item::Constant(Some(s)),
            Token::DollarQuotedString(s) => Item::Constant(Some(s.value)),
            Token::Word(ref w)
                if w.quote_style.is_none()
                    && matches!(w.keyword, Keyword::TRUE | Keyword::FALSE | Keyword::NULL)
                    && !after_is(items) =>
            {
                match w.keyword {
                    Keyword::NULL => Item::Constant(None),
                    _ => Item::Constant(Some(w.value.to_ascii_lowercase())),
                }
            }
            Token::Minus if unary_position(items) => {
                // A negative number is one constant, its minus included (whitespace between
                // them is rare enough to keep them apart).
                if let Some(Token::Number(n, _)) = tokens.peek() {
                    let value = format!("-{n}");
                    tokens.next();
                    Item::Constant(Some(value))
                } else {
                    Item::Other(Token::Minus)
                }
            }
            other => Item::Other(other),
        };
        items.push((before, item));
    }
    while matches!(items.last(), Some((_, Item::Other(Token::SemiColon)))) {
        items.pop();
    }

    let mut text = String::with_capacity(sql.len());
    let mut constants = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let (before, item) = &items[i];
        if *before && !text.is_empty() {
            text.push(' ');
        }
        match item {
            Item::Constant(value) => {
                constants.push(value.clone());
                let _ = write!(text, "${}", placeholders + constants.len());
            }
            Item::Other(token) => {
                let _ = write!(text, "{token}");
                if let Some(end) = constant_list(items, i) {
                    // `IN (c1, c2, …)`: one `$n` for the whole list, its first value kept.
                    let (space, first) = match &items[i + 2] {
                        (space, Item::Constant(value)) => (*space, value.clone()),
                        _ => unreachable!("constant_list checked the list"),
                    };
                    if items[i + 1].0 {
                        text.push(' ');
                    }
                    text.push('(');
                    if space {
                        text.push(' ');
                    }
                    constants.push(first);
                    let _ = write!(text, "${} /*, ... */", placeholders + constants.len());
                    if items[end].0 {
                        text.push(' ');
                    }
                    text.push(')');
                    i = end + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    Normalized {
        text,
        constants,
        placeholders,
        tokenized: true,
    }
}

/// When `items[at]` is `IN` followed by `(` and two or more constants separated by commas up to
/// `)`: the index of that `)`.
fn constant_list(items: &[(bool, Item)], at: usize) -> Option<usize> {
    let is_in = matches!(&items[at].1, Item::Other(Token::Word(w)) if w.keyword == Keyword::IN && w.quote_style.is_none());
    if !is_in || !matches!(items.get(at + 1), Some((_, Item::Other(Token::LParen)))) {
        return None;
    }
    let mut j = at + 2;
    let mut count = 0;
    loop {
        match items.get(j) {
            Some((_, Item::Constant(_))) => count += 1,
            _ => return None,
        }
        match items.get(j + 1) {
            Some((_, Item::Other(Token::Comma))) => j += 2,
            Some((_, Item::Other(Token::RParen))) => return (count >= 2).then_some(j + 1),
            _ => return None,
        }
    }
}

/// Whether the last significant token is `IS` or `IS NOT` (`x IS NULL` keeps its `NULL`).
fn after_is(items: &[(bool, Item)]) -> bool {
    let word = |i: usize| match items.get(i) {
        Some((_, Item::Other(Token::Word(w)))) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    let n = items.len();
    match n.checked_sub(1).and_then(word) {
        Some(Keyword::IS) => true,
        Some(Keyword::NOT) => n.checked_sub(2).and_then(word) == Some(Keyword::IS),
        _ => false,
    }
}

/// Whether a `-` here is a sign rather than a subtraction: nothing before it, or an operator,
/// `(`, `,`, or a keyword that precedes an expression.
fn unary_position(items: &[(bool, Item)]) -> bool {
    match items.last() {
        None => true,
        Some((_, Item::Constant(_))) => false,
        Some((_, Item::Other(token))) => match token {
            Token::Word(w) => {
                w.quote_style.is_none()
                    && matches!(
                        w.keyword,
                        Keyword::SELECT
                            | Keyword::WHERE
                            | Keyword::AND
                            | Keyword::OR
                            | Keyword::NOT
                            | Keyword::WHEN
                            | Keyword::THEN
                            | Keyword::ELSE
                            | Keyword::BETWEEN
                            | Keyword::IN
                            | Keyword::LIMIT
                            | Keyword::OFFSET
                            | Keyword::VALUES
                            | Keyword::SET
                            | Keyword::ON
                            | Keyword::HAVING
                            | Keyword::RETURN
                            | Keyword::CASE
                            | Keyword::BY
                    )
            }
            Token::RParen
            | Token::RBracket
            | Token::Placeholder(_)
            | Token::DoubleQuotedString(_)
            | Token::Number(..) => false,
            _ => true,
        },
    }
}

/// `sql` with every run of whitespace made one space, trimmed, without a trailing `;`.
pub fn collapse_whitespace(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    for word in sql.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    while out.ends_with(';') {
        out.pop();
        while out.ends_with(' ') {
            out.pop();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sql: &str) -> String {
        normalize(sql).text
    }

    #[test]
    fn replaces_constants_as_pg_stat_statements_does() {
        // The same statement PostgreSQL 15's pg_stat_statements showed (checked by hand):
        // `select * from t where b = $1 and a = $2 and d > DATE $3 - interval $4 and s = $5 and
        // a is null and s = $6 and a in ($7,$8,$9) …` (18 collapses the IN list).
        let n = normalize(
            "select * from t where b = true and a = -5 and d > DATE '1998-12-01' - interval '3 days' \
             and s = 'x' and a is null and s = E'y' and a in (1,2,3) and a > 1.5e3 \
             and s::text = 'q'::text and a = $$5$$::int and b is not false limit 10 offset 2;",
        );
        assert_eq!(
            n.text,
            "select * from t where b = $1 and a = $2 and d > DATE $3 - interval $4 and s = $5 \
             and a is null and s = $6 and a in ($7 /*, ... */) and a > $8 and s::text = $9::text \
             and a = $10::int and b is not false limit $11 offset $12"
        );
        let values: Vec<Option<&str>> = n.constants.iter().map(|c| c.as_deref()).collect();
        assert_eq!(
            values,
            [
                Some("true"),
                Some("-5"),
                Some("1998-12-01"),
                Some("3 days"),
                Some("x"),
                Some("y"),
                Some("1"),
                Some("1.5e3"),
                Some("q"),
                Some("5"),
                Some("10"),
                Some("2")
            ]
        );
        assert!(n.tokenized);
    }

    #[test]
    fn numbers_after_the_placeholders_already_there() {
        let n = normalize("select * from t where a = $2 and b = 'x' and c = $1");
        assert_eq!(n.text, "select * from t where a = $2 and b = $3 and c = $1");
        assert_eq!(n.placeholders, 2);
        assert_eq!(n.constants, [Some("x".to_owned())]);
    }

    #[test]
    fn whitespace_comments_and_semicolons_do_not_split_groups() {
        let a = text("select a  from t\n  where id = 42 -- the id\n;");
        let b = text("/* app */ select a from t where id=7");
        assert_eq!(a, "select a from t where id = $1");
        assert_eq!(b, "select a from t where id=$1");
        // Spacing around operators as written differs; grouping needs the same spacing, which
        // one application sends consistently.
        assert_eq!(
            text("select 1 - 2, a-1, f(-3), x = NULL"),
            "select $1 - $2, a-$3, f($4), x = $5"
        );
    }

    #[test]
    fn keeps_text_the_tokenizer_refuses() {
        let n = normalize("select 'unterminated from t where a = 1");
        assert!(!n.tokenized);
        assert_eq!(n.text, "select 'unterminated from t where a = 1");
        assert!(n.constants.is_empty());
    }

    #[test]
    fn a_single_constant_in_is_not_a_list() {
        assert_eq!(text("select 1 where a in (5)"), "select $1 where a in ($2)");
        assert_eq!(
            text("select 1 where a in (5, b)"),
            "select $1 where a in ($2, b)"
        );
    }
}
