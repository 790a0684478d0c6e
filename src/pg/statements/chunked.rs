//! The statement splitter and the side-effect scan for large inputs, in bounded memory.
//!
//! sqlparser's tokenizer returns every token of its input at once, about 36 bytes per byte of
//! SQL: 1.9 GB for a 50 MB statement (an ORM's `WHERE id IN (0,1,2,…)`). Above
//! [`LARGE_INPUT`] the input is tokenized in chunks of about [`CHUNK`] bytes instead, each
//! chunk's tokens consumed and dropped before the next one is read, so memory is the input plus
//! one chunk's tokens and the statements' texts, whatever the statement's size.
//!
//! sqlparser stays the only authority on where strings, comments and statements are: a cheap
//! scanner only proposes where to cut (after a blank or a comma outside quotes and comments), and
//! a cut is kept only when the tokenizer itself ends a blank or comma token exactly there. The
//! next chunk is tokenized with the same preceding tokens in view, so every token comes out as
//! from one pass over the whole input. Whenever that cannot be shown (a proposed cut that the
//! tokenizer reads as inside a string or comment, a token the chunk cannot read, `COPY … FROM
//! stdin` data), the caller falls back to tokenizing the whole input at once: the answers are
//! always the one-pass answers, only the memory bound is lost for such inputs.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

use super::{
    CallsDirective, SideEffect, SplitError, SqlStatement, StatementKind, WRITE_KEYWORDS,
    classify_words, identifier, keyword_of, params_directive, side_effect_of,
};

/// Inputs above this size (1 MiB) are tokenized in chunks; below it, at once (faster, and the
/// tokens of 1 MiB take about 36 MB).
pub(super) const LARGE_INPUT: usize = 1 << 20;

/// The target size of a chunk (256 KiB, about 9 MB of tokens). A chunk ends at the first
/// possible cut after this many bytes, so one without blanks or commas outside quotes and
/// comments runs on to the end of the input.
pub(super) const CHUNK: usize = 256 << 10;

/// One chunk of the input: where it starts (byte offset, 1-based line and column in characters)
/// and its text. sqlparser's locations in its tokens are relative to the chunk.
struct Chunk<'a> {
    text: &'a str,
    offset: usize,
    line: u64,
    column: u64,
}

impl Chunk<'_> {
    /// A chunk-relative location as a location in the whole input.
    fn absolute(&self, location: Location) -> (u64, u64) {
        if location.line == 1 {
            (self.line, self.column + location.column - 1)
        } else {
            (self.line + location.line - 1, location.column)
        }
    }
}

/// Tokenizes `sql` chunk by chunk, giving each chunk's tokens to `each` in order; the chunk
/// starting at a byte offset ends where `cut` says. `false` when chunking might not give the
/// tokens of one pass over the whole input (then `each` has seen a prefix of them and the caller
/// must start again with the whole input).
fn tokenize_in_chunks(
    sql: &str,
    cut: impl Fn(usize) -> usize,
    mut each: impl FnMut(&Chunk<'_>, &[TokenWithSpan]),
) -> bool {
    let dialect = PostgreSqlDialect {};
    let mut chunk = Chunk {
        text: "",
        offset: 0,
        line: 1,
        column: 1,
    };
    // The tokens before the chunk that the tokenizer looks back at: the last non-blank one and
    // the last one.
    let mut context: Vec<TokenWithSpan> = Vec::new();
    // Whether the statement open at the end of the previous chunk starts with COPY (whose `;`
    // makes the tokenizer read the following lines as data).
    let mut statement_start: Option<bool> = None;
    while chunk.offset < sql.len() {
        let end = cut(chunk.offset);
        debug_assert!(end > chunk.offset && sql.is_char_boundary(end));
        chunk.text = &sql[chunk.offset..end];
        let mut buffer = context.clone();
        let seen = buffer.len();
        if Tokenizer::new(&dialect, chunk.text)
            .tokenize_with_location_into_buf(&mut buffer)
            .is_err()
        {
            return false;
        }
        let tokens = &buffer[seen..];
        for token in tokens {
            match &token.token {
                Token::CopyData { .. } => return false,
                Token::SemiColon => statement_start = None,
                Token::Whitespace(_) => {}
                Token::Word(word) if statement_start.is_none() => {
                    statement_start = Some(word.keyword == Keyword::COPY);
                }
                _ if statement_start.is_none() => statement_start = Some(false),
                _ => {}
            }
        }
        if end < sql.len() {
            let token_ends_at_cut = matches!(
                tokens.last().map(|t| &t.token),
                Some(
                    Token::Comma
                        | Token::Whitespace(
                            Whitespace::Space | Whitespace::Tab | Whitespace::Newline
                        )
                )
            );
            if !token_ends_at_cut || statement_start == Some(true) {
                return false;
            }
        }
        each(&chunk, tokens);
        let last_significant = buffer
            .iter()
            .rposition(|t| !matches!(t.token, Token::Whitespace(_)));
        context = last_significant
            .into_iter()
            .chain(Some(buffer.len() - 1))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|i| buffer[i].clone())
            .collect();
        match chunk.text.rfind('\n') {
            Some(newline) => {
                chunk.line += chunk.text.matches('\n').count() as u64;
                chunk.column = chunk.text[newline + 1..].chars().count() as u64 + 1;
            }
            None => chunk.column += chunk.text.chars().count() as u64,
        }
        chunk.offset = end;
    }
    true
}

/// Where the chunk starting at `start` ends: just after the first blank or comma, outside
/// quotes and comments as far as a quick look tells, at least `size` bytes after `start`; the
/// end of the input when there is none. Only a proposal: [`tokenize_in_chunks`] checks
/// it.
fn next_cut(sql: &str, start: usize, size: usize) -> usize {
    let bytes = sql.as_bytes();
    let target = start.saturating_add(size);
    if target >= bytes.len() {
        return bytes.len();
    }
    let mut i = start;
    // Where the text after the last quote or comment starts (a `$` right after one is not in a
    // word).
    let mut after_quote = start;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b',' if i >= target => return i + 1,
            b'\'' => {
                // E'…' strings take backslash escapes.
                let escapes = i > start
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && !ends_word(&bytes[after_quote.min(i - 1)..i - 1]);
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if escapes => i += 1,
                        b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 1,
                        b'\'' => break,
                        _ => {}
                    }
                    i += 1;
                }
                after_quote = i + 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'"' if bytes.get(i + 1) == Some(&b'"') => i += 1,
                        b'"' => break,
                        _ => {}
                    }
                    i += 1;
                }
                after_quote = i + 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while i < bytes.len() && depth > 0 {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 1;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 1;
                    }
                    i += 1;
                }
                after_quote = i;
                continue;
            }
            b'$' if !ends_word(&bytes[after_quote.min(i)..i]) => {
                let tag_end = sql[i + 1..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .map_or(bytes.len(), |n| i + 1 + n);
                let tag_ok = bytes.get(tag_end) == Some(&b'$')
                    && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
                if tag_ok {
                    let delimiter = &sql[i..=tag_end];
                    i = sql[tag_end + 1..]
                        .find(delimiter)
                        .map_or(bytes.len(), |n| tag_end + 1 + n + delimiter.len());
                    after_quote = i;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// Whether `before` ends in a word (an identifier, which may contain `$`), not in a number or
/// something else.
fn ends_word(before: &[u8]) -> bool {
    let run = before
        .iter()
        .rev()
        .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80)
        .count();
    before[before.len() - run..]
        .iter()
        .any(|b| !b.is_ascii_digit())
}

/// Turns a chunk's (line, column) locations into byte offsets, moving forward only.
struct Cursor {
    byte: usize,
    line: u64,
    column: u64,
}

impl Cursor {
    fn new() -> Self {
        Cursor {
            byte: 0,
            line: 1,
            column: 1,
        }
    }

    fn byte_of(&mut self, text: &str, location: Location) -> usize {
        while self.line < location.line {
            match text[self.byte..].find('\n') {
                Some(n) => {
                    self.byte += n + 1;
                    self.line += 1;
                    self.column = 1;
                }
                None => return text.len(),
            }
        }
        let mut chars = text[self.byte..].chars();
        while self.column < location.column {
            match chars.next() {
                Some(c) => {
                    self.byte += c.len_utf8();
                    self.column += 1;
                }
                None => break,
            }
        }
        self.byte
    }
}

enum Phase {
    /// No significant token yet.
    Start,
    /// Just after the user's `EXPLAIN`.
    ExplainKeyword,
    /// Inside `EXPLAIN (…)`, at this depth of parentheses.
    ExplainOptions(usize),
    /// After the options: `ANALYZE` and `VERBOSE` may follow.
    ExplainFlags,
    /// In the statement proper.
    Body,
}

/// What is kept of the statement being read: what the one-pass splitter derives from all its
/// tokens, without them.
struct Open {
    phase: Phase,
    had_explain: bool,
    /// Byte offset, line and column of the statement's first token (after a stripped EXPLAIN).
    start: Option<(usize, u64, u64)>,
    /// Byte offset of the end of the last significant token.
    end: usize,
    /// The first two unquoted words from `start` on, upper-cased.
    words: Vec<String>,
    /// Whether any unquoted word from `start` on is a write keyword.
    writes: bool,
    params: Option<Vec<Option<String>>>,
    calls: Option<CallsDirective>,
}

impl Open {
    fn new() -> Self {
        Open {
            phase: Phase::Start,
            had_explain: false,
            start: None,
            end: 0,
            words: Vec::new(),
            writes: false,
            params: None,
            calls: None,
        }
    }

    fn body_token(&mut self, token: &Token) {
        if let Token::Word(word) = token
            && word.quote_style.is_none()
        {
            if self.words.len() < 2 {
                self.words.push(word.value.to_ascii_uppercase());
            }
            if !self.writes {
                self.writes = WRITE_KEYWORDS
                    .iter()
                    .any(|k| word.value.eq_ignore_ascii_case(k));
            }
        }
    }

    fn finish(self, sql: &str, out: &mut Vec<SqlStatement>) {
        let Some((start, line, column)) = self.start else {
            return;
        };
        let mut words = self.words;
        if self.writes && !words.iter().any(|w| WRITE_KEYWORDS.contains(&w.as_str())) {
            // Only its presence counts, after the first two words.
            words.push(WRITE_KEYWORDS[0].to_owned());
        }
        let mut kind = classify_words(&words);
        if let StatementKind::Explainable { had_explain, .. } = &mut kind {
            *had_explain = self.had_explain;
        }
        out.push(SqlStatement {
            index: out.len() + 1,
            text: sql[start..self.end.max(start)].to_owned(),
            line: line as usize,
            column: column as usize,
            kind,
            params: self.params,
            calls: self.calls,
        });
    }
}

/// [`super::split_statements`] by chunks of about `chunk_size` bytes; `None` when the whole
/// input must be tokenized at once instead.
pub(super) fn split_statements(
    sql: &str,
    chunk_size: usize,
) -> Option<Result<Vec<SqlStatement>, SplitError>> {
    split_cut_by(sql, |start| next_cut(sql, start, chunk_size))
}

fn split_cut_by(
    sql: &str,
    cut: impl Fn(usize) -> usize,
) -> Option<Result<Vec<SqlStatement>, SplitError>> {
    let mut statements = Vec::new();
    let mut open = Open::new();
    let complete = tokenize_in_chunks(sql, cut, |chunk, tokens| {
        let mut cursor = Cursor::new();
        for token in tokens {
            match &token.token {
                Token::SemiColon => {
                    std::mem::replace(&mut open, Open::new()).finish(sql, &mut statements);
                    continue;
                }
                Token::EOF => continue,
                Token::Whitespace(Whitespace::SingleLineComment { comment, .. }) => {
                    if open.params.is_none() {
                        open.params = params_directive(comment);
                    }
                    if open.calls.is_none()
                        && let Some(text) = super::calls_directive(comment)
                    {
                        open.calls = Some(CallsDirective {
                            line: chunk.absolute(token.span.start).0 as usize,
                            text,
                        });
                    }
                    continue;
                }
                Token::Whitespace(_) => continue,
                _ => {}
            }
            let mut starts_here = false;
            match open.phase {
                Phase::Start => {
                    if keyword_of(&token.token).as_deref() == Some("EXPLAIN") {
                        open.had_explain = true;
                        open.phase = Phase::ExplainKeyword;
                    } else {
                        starts_here = true;
                    }
                }
                Phase::ExplainKeyword if token.token == Token::LParen => {
                    open.phase = Phase::ExplainOptions(1);
                }
                Phase::ExplainOptions(depth) => match token.token {
                    Token::LParen => open.phase = Phase::ExplainOptions(depth + 1),
                    Token::RParen if depth == 1 => open.phase = Phase::ExplainFlags,
                    Token::RParen => open.phase = Phase::ExplainOptions(depth - 1),
                    _ => {}
                },
                Phase::ExplainKeyword | Phase::ExplainFlags => {
                    let flag = keyword_of(&token.token)
                        .is_some_and(|k| matches!(k.as_str(), "ANALYZE" | "ANALYSE" | "VERBOSE"));
                    if flag {
                        open.phase = Phase::ExplainFlags;
                    } else {
                        starts_here = true;
                    }
                }
                Phase::Body => open.body_token(&token.token),
            }
            if starts_here {
                let (line, column) = chunk.absolute(token.span.start);
                let byte = chunk.offset + cursor.byte_of(chunk.text, token.span.start);
                open.start = Some((byte, line, column));
                open.phase = Phase::Body;
                open.body_token(&token.token);
            }
            open.end = chunk.offset + cursor.byte_of(chunk.text, token.span.end);
        }
    });
    if !complete {
        return None;
    }
    open.finish(sql, &mut statements);
    if statements.is_empty() {
        return Some(Err(SplitError::Empty));
    }
    Some(Ok(statements))
}

/// [`super::side_effects`]' tokenizer pass by chunks; `None` when the whole input must be
/// tokenized at once instead.
pub(super) fn side_effects(sql: &str, chunk_size: usize) -> Option<Vec<SideEffect>> {
    side_effects_cut_by(sql, |start| next_cut(sql, start, chunk_size))
}

fn side_effects_cut_by(sql: &str, cut: impl Fn(usize) -> usize) -> Option<Vec<SideEffect>> {
    let mut found: Vec<SideEffect> = Vec::new();
    // The last three significant tokens of the chunks before, oldest first.
    let mut before: Vec<Token> = Vec::new();
    let complete = tokenize_in_chunks(sql, cut, |_, tokens| {
        let significant: Vec<&Token> = before
            .iter()
            .chain(
                tokens
                    .iter()
                    .map(|t| &t.token)
                    .filter(|t| !matches!(t, Token::Whitespace(_))),
            )
            .collect();
        for i in before.len()..significant.len() {
            let previous = |n: usize| i.checked_sub(n).map(|j| significant[j]);
            if let (Token::LParen, Some(Token::Word(word))) = (significant[i], previous(1)) {
                let name = identifier(word);
                if let Some(effect) = side_effect_of(&name) {
                    let function = match (previous(2), previous(3)) {
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
        }
        before = significant[significant.len().saturating_sub(3)..]
            .iter()
            .map(|t| (*t).clone())
            .collect();
    });
    complete.then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A piece of a statement: words, numbers and every construct that hides a `;`, a blank or a
    /// comma from a naive scanner.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z_][a-z0-9_$]{0,8}",
            "[0-9]{1,6}(\\.[0-9]{0,2})?",
            prop::sample::select(vec![
                "INSERT",
                "update",
                "Delete",
                "INTO",
                "share",
                "merge",
                "(",
                ")",
                ",",
                ", ",
                ".",
                "::text",
                "$1",
                "$2",
                "E",
                "e",
                "x",
                "\n",
                "\t",
                "  ",
                "é",
                "nextval(",
                "setval (",
                "pg_catalog.setval(",
                "\"pg_stat_reset\"(",
                "dblink(",
                "COMMIT",
                "begin",
                "copy",
                "from",
                "stdin",
                "explain",
                "EXPLAIN (analyze, costs off)",
                "analyze",
                "verbose",
                "WITH",
                "with x as (delete from t returning *)",
                "-- pgdiag: params 1, 'a'\n",
                "/* a /* nested ; */ , */",
                "E'\\' ; , '",
                "U&'d\\0061t'",
                "B'01'",
            ])
            .prop_map(str::to_owned),
            "([a-z ;,$*/\\\\-]|'')*".prop_map(|body| format!("'{body}'")),
            "([a-z ;,']|\"\")*".prop_map(|body| format!("\"x{body}\"")),
            ("(|fn|b)", "[a-z ;,'\"*/-]*").prop_map(|(tag, body)| format!("${tag}${body}${tag}$")),
            "[a-z ;,'\"$]*".prop_map(|text| format!("/* {text} */")),
            "[a-z ;,'\"$]*".prop_map(|text| format!("-- {text}\n")),
        ]
    }

    /// A statement, or several: pieces joined by blanks or nothing, semicolons among them.
    fn input() -> impl Strategy<Value = String> {
        prop::collection::vec((piece(), "( |\n|;|;\n|)"), 0..24).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(piece, separator)| piece + &separator)
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, max_shrink_iters: 500, ..ProptestConfig::default() })]

        /// Split by chunks (down to one byte), the statements, their positions, kinds and
        /// params are those of the one-pass splitter; so are the side effects.
        #[test]
        fn chunks_give_the_one_pass_answers(sql in input(), chunk in 1usize..40) {
            // Random pieces glued together (quotes right after quotes, `$` after a quote or a
            // word) can make the quick scanner propose a cut the tokenizer refuses; the input is
            // then read in one pass, with the same answers. That chunking happens on the inputs
            // people write is `realistic_inputs_are_read_in_chunks`'s claim, not this one's.
            let split = split_statements(&sql, chunk);
            if let Some(split) = split {
                prop_assert_eq!(split, super::super::split_at_once(&sql));
            }
            if let Some(found) = side_effects(&sql, chunk) {
                prop_assert_eq!(found, side_effects_at_once(&sql));
            }
        }

        /// Even cut anywhere, not where the scanner proposes, chunks give the one-pass answers
        /// or none: the tokenizer's check catches every cut inside a token.
        #[test]
        fn any_cut_gives_the_one_pass_answers_or_none(sql in input(), every in 1usize..30) {
            let cut = |start: usize| {
                let mut end = (start + every).min(sql.len());
                while !sql.is_char_boundary(end) {
                    end += 1;
                }
                end
            };
            if let Some(split) = split_cut_by(&sql, cut) {
                prop_assert_eq!(split, super::super::split_at_once(&sql));
            }
            if let Some(found) = side_effects_cut_by(&sql, cut) {
                prop_assert_eq!(found, side_effects_at_once(&sql));
            }
        }
    }

    /// Statements as people write them, quotes and comments included: the scanner's cuts are
    /// the tokenizer's, so they are read in chunks (down to one byte) and never fall back.
    #[test]
    fn realistic_inputs_are_read_in_chunks() {
        let inputs = [
            "SELECT * FROM t WHERE a = 'x''y' AND b = E'\\n';\nSELECT 2;",
            "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql;\nSELECT f();",
            "SELECT \"Mixed \"\"Name\"\"\" FROM s.t -- a comment; with ; semicolons\n WHERE x > 1;",
            "/* a /* nested */ comment; */ SELECT $1, $2 FROM t WHERE c = $$a;b$$;",
            "INSERT INTO t VALUES (1, 'a'), (2, 'b'); UPDATE t SET v = v || ', x' WHERE id = 1;",
            "SELECT U&'d\\0061t', B'01', X'ff', 1.5e3, a$b FROM t;",
        ];
        for sql in inputs {
            assert!(
                Tokenizer::new(&PostgreSqlDialect {}, sql)
                    .tokenize()
                    .is_ok(),
                "{sql}"
            );
            for chunk in 1..40 {
                let split = split_statements(sql, chunk)
                    .unwrap_or_else(|| panic!("fell back at chunk {chunk}: {sql}"));
                assert_eq!(
                    split,
                    super::super::split_at_once(sql),
                    "chunk {chunk}: {sql}"
                );
            }
        }
    }

    fn side_effects_at_once(sql: &str) -> Vec<SideEffect> {
        side_effects(sql, usize::MAX).expect("one chunk")
    }

    #[test]
    fn a_long_in_list_is_cut_at_its_commas() {
        let mut sql = "EXPLAIN SELECT count(*) FROM t WHERE id IN (0".to_owned();
        for id in 1..20_000 {
            sql.push_str(&format!(",{id}"));
        }
        sql.push_str(");\n-- pgdiag: params 1\nselect 'a;b', $$c,d$$ FOR SHARE");
        let mut chunks = 0;
        let cut = |start| next_cut(&sql, start, 1000);
        assert!(tokenize_in_chunks(&sql, cut, |_, _| chunks += 1));
        assert!(chunks > 50, "{chunks}");
        let split = split_statements(&sql, 1000).expect("chunked");
        assert_eq!(split, super::super::split_at_once(&sql));
        let split = split.unwrap();
        assert_eq!(split.len(), 2);
        assert_eq!(split[1].line, 3);
        assert!(matches!(
            split[1].kind,
            StatementKind::Explainable { writes: true, .. }
        ));
    }

    #[test]
    fn inputs_over_the_threshold_are_split_by_chunks_with_the_same_answers() {
        let mut sql = "SELECT 1;\n-- pgdiag: params 2\n".to_owned();
        sql.push_str("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x WHERE id IN (0");
        while sql.len() <= LARGE_INPUT {
            sql.push_str(",123456");
        }
        sql.push_str(") AND setval('s', 1) > 0;\nCOMMIT");
        assert!(split_statements(&sql, CHUNK).is_some());
        let split = super::super::split_statements(&sql);
        assert_eq!(split, super::super::split_at_once(&sql));
        assert_eq!(split.unwrap().len(), 3);
        let effects: Vec<String> = super::super::side_effects(&sql)
            .into_iter()
            .map(|e| e.function)
            .collect();
        assert_eq!(effects, ["setval"]);
    }

    #[test]
    fn copy_data_and_doubtful_cuts_fall_back() {
        let copy = "COPY t FROM stdin;\n1, 2\n\\.\nSELECT 1, 2, 3";
        assert_eq!(split_statements(copy, 1), None);
        // A cut proposed inside what the tokenizer reads as a line comment, a string.
        let cut_at = |sql: &'static str, at: usize| {
            move |start: usize| if start < at { at } else { sql.len() }
        };
        let sql = "SELECT 1 -- a, b\n, 2";
        assert!(!tokenize_in_chunks(sql, cut_at(sql, 14), |_, _| {}));
        assert!(!tokenize_in_chunks(sql, cut_at(sql, 16), |_, _| {}));
        assert!(tokenize_in_chunks(sql, cut_at(sql, 17), |_, _| {}));
        assert!(tokenize_in_chunks(sql, cut_at(sql, 9), |_, _| {}));
        let sql = "SELECT 'a, b'";
        assert!(!tokenize_in_chunks(sql, cut_at(sql, 10), |_, _| {}));
    }
}
