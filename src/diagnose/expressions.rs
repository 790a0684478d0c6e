//! Reading column names out of EXPLAIN's condition text (`Filter`, `Index Cond`, `Hash Cond`...),
//! shared by the index-minded rules. A heuristic, not a SQL parser: EXPLAIN prints deparsed
//! expressions, so identifiers, casts, literals and operators follow a regular shape.

/// Names a scan's own columns carry in its conditions: its alias and its table's name (EXPLAIN
/// VERBOSE qualifies with the alias, which defaults to the table name).
pub(super) fn own_qualifiers(node: &crate::plan::PlanNode) -> Vec<&str> {
    node.alias
        .as_deref()
        .into_iter()
        .chain(node.relation_name.as_deref())
        .collect()
}

/// A column named in a condition, and whether it is compared with `=` (an index wants those first).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ColumnRef {
    pub name: String,
    pub equality: bool,
}

/// Words in EXPLAIN's condition text that are not columns.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "is", "null", "true", "false", "any", "all", "some", "in", "like", "ilike",
    "similar", "to", "between", "distinct", "from", "case", "when", "then", "else", "end", "array",
    "row", "collate", "escape", "unknown",
];

/// Words that continue a multi-word type name after `::` (`timestamp with time zone`).
const TYPE_WORDS: &[&str] = &["with", "without", "time", "zone", "varying", "precision"];

/// The columns a condition names, in order, once each: a quick heuristic over EXPLAIN's
/// deparsed text, not a SQL parser. It skips string literals, numbers, `$n` parameters, type
/// casts (`::text`), function names (an identifier followed by `(`) and keywords. A qualified
/// name (`p.city`) counts only when its qualifier is one of `own` (the scan's alias or table);
/// columns of other tables (the outer side of a join) are left out. With `own` empty, every
/// column counts.
pub(super) fn expression_columns(expr: &str, own: &[&str]) -> Vec<ColumnRef> {
    let chars: Vec<char> = expr.chars().collect();
    let mut columns: Vec<ColumnRef> = Vec::new();
    let mut in_cast = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // String literal; '' is an escaped quote.
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            in_cast = false;
            continue;
        }
        if c == ':' && chars.get(i + 1) == Some(&':') {
            in_cast = true;
            i += 2;
            continue;
        }
        if c == '$' || c.is_ascii_digit() {
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            in_cast = false;
            continue;
        }
        if !(c.is_alphabetic() || c == '_' || c == '"') {
            if !c.is_whitespace() {
                in_cast = false;
            }
            i += 1;
            continue;
        }
        let start = i;
        let mut parts = Vec::new();
        loop {
            let (part, next) = read_identifier(&chars, i);
            parts.push(part);
            i = next;
            if chars.get(i) == Some(&'.')
                && chars
                    .get(i + 1)
                    .is_some_and(|n| n.is_alphabetic() || *n == '_' || *n == '"')
            {
                i += 1;
            } else {
                break;
            }
        }
        let word = parts.last().cloned().unwrap_or_default();
        if in_cast {
            // Stay in the type name while the next word continues it.
            let (next_word, _) = read_identifier(&chars, skip_spaces(&chars, i));
            in_cast = TYPE_WORDS.contains(&next_word.to_lowercase().as_str());
            continue;
        }
        let next = skip_spaces(&chars, i);
        if chars.get(next) == Some(&'(') {
            continue;
        }
        if parts.len() == 1 && KEYWORDS.contains(&word.to_lowercase().as_str()) {
            continue;
        }
        if parts.len() >= 2 && !own.is_empty() && !own.contains(&parts[parts.len() - 2].as_str()) {
            continue;
        }
        let equality = followed_by_equals(&chars, next) || preceded_by_equals(&chars, start);
        match columns.iter_mut().find(|c| c.name == word) {
            Some(existing) => existing.equality |= equality,
            None => columns.push(ColumnRef {
                name: word,
                equality,
            }),
        }
    }
    columns
}

fn read_identifier(chars: &[char], mut i: usize) -> (String, usize) {
    let mut word = String::new();
    if chars.get(i) == Some(&'"') {
        i += 1;
        while i < chars.len() && chars[i] != '"' {
            word.push(chars[i]);
            i += 1;
        }
        return (word, i + 1);
    }
    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
        word.push(chars[i]);
        i += 1;
    }
    (word, i)
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// `col = ...` (and `col = ANY (...)`), not `<=`, `>=`, `=>`.
fn followed_by_equals(chars: &[char], i: usize) -> bool {
    chars.get(i) == Some(&'=') && !matches!(chars.get(i + 1), Some('>' | '='))
}

/// `... = col`.
fn preceded_by_equals(chars: &[char], start: usize) -> bool {
    let mut i = start;
    while i > 0 && chars[i - 1].is_whitespace() {
        i -= 1;
    }
    i > 0 && chars[i - 1] == '=' && !(i > 1 && matches!(chars[i - 2], '<' | '>' | '!' | '='))
}

#[cfg(test)]
mod tests {
    use super::expression_columns;

    #[test]
    fn expression_columns_reads_identifiers_out_of_condition_text() {
        let names = |expr: &str, own: &[&str]| -> Vec<(String, bool)> {
            expression_columns(expr, own)
                .into_iter()
                .map(|c| (c.name, c.equality))
                .collect()
        };
        assert_eq!(
            names(
                "((p.city = 'city 7'::text) AND (p.zip = 'zip 7-3'::text))",
                &["p", "people"]
            ),
            vec![("city".into(), true), ("zip".into(), true)]
        );
        // Other tables' columns, parameters, functions and multi-word casts are not columns.
        assert_eq!(
            names(
                "((v.person_id = p.id) AND (v.seen > (now() - '1 day'::interval)) AND (v.amount > $0) AND (v.at < '2024-01-01'::timestamp with time zone))",
                &["v"]
            ),
            vec![
                ("person_id".into(), true),
                ("seen".into(), false),
                ("amount".into(), false),
                ("at".into(), false),
            ]
        );
        assert_eq!(
            names("((customer_id % 3) = 0)", &[]),
            vec![("customer_id".into(), false)]
        );
    }
}
