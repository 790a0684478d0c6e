//! One log message read: is it an execution with a duration (`log_min_duration_statement`'s
//! `statement:` and `execute …:` lines, `auto_explain`'s `plan:`), and what the `DETAIL:
//! parameters:` of an extended-protocol execution hold.

/// What a message says ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    /// A statement ran for `ms`: `duration: 1.2 ms  statement: …` or `execute <name>: …`.
    Statement { ms: f64, sql: &'a str },
    /// `auto_explain`: the statement's text, the parameters the plan lists (16+), the plan as
    /// logged (text, or the whole JSON document).
    Plan {
        ms: f64,
        sql: String,
        params: Option<Vec<Option<String>>>,
        plan: String,
    },
    /// Anything else: parse and bind durations, `log_statement` lines without a duration,
    /// connections, errors.
    Other,
}

/// Classifies a message (its text after `LOG:  `; lines joined with `\n`, tabs removed).
pub fn classify(message: &str) -> Message<'_> {
    let Some(rest) = message.strip_prefix("duration: ") else {
        return Message::Other;
    };
    let Some((number, rest)) = rest.split_once(" ms") else {
        return Message::Other;
    };
    let Ok(ms) = number.trim().parse::<f64>() else {
        return Message::Other;
    };
    if !ms.is_finite() || ms < 0.0 {
        return Message::Other;
    }
    let rest = rest.trim_start_matches(' ');
    if let Some(sql) = rest.strip_prefix("statement: ") {
        return Message::Statement { ms, sql };
    }
    if let Some(named) = rest.strip_prefix("execute ") {
        // `execute <unnamed>: …`, `execute S_1: …`, `execute fetch from S_1/C_2: …`.
        return match named.split_once(": ") {
            Some((_, sql)) => Message::Statement { ms, sql },
            None => Message::Other,
        };
    }
    if let Some(plan) = rest.strip_prefix("plan:") {
        return auto_explain(ms, plan.trim_start_matches([' ', '\n', '\r']));
    }
    Message::Other
}

/// `auto_explain`'s output after `plan:`: JSON (`{"Query Text": …, "Plan": …}`) or text
/// (`Query Text: …` then the plan).
fn auto_explain(ms: f64, logged: &str) -> Message<'_> {
    if logged.starts_with('{') {
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(logged) else {
            return Message::Other;
        };
        let Some(sql) = doc.get("Query Text").and_then(|q| q.as_str()) else {
            return Message::Other;
        };
        let params = doc
            .get("Query Parameters")
            .and_then(|p| p.as_str())
            .and_then(parse_parameter_list);
        return Message::Plan {
            ms,
            sql: sql.to_owned(),
            params,
            plan: logged.trim_end().to_owned(),
        };
    }
    let Some(text) = logged.strip_prefix("Query Text: ") else {
        return Message::Other;
    };
    // The query may span lines; the plan starts at the first line that reads like a plan node
    // (`… (cost=…` or `… (actual …`) or at `Query Parameters:`; without one, the query is the
    // first line.
    let lines: Vec<&str> = text.split('\n').collect();
    let start = lines
        .iter()
        .position(|l| {
            l.starts_with("Query Parameters: ")
                || l.contains("  (cost=")
                || l.contains("  (actual ")
        })
        .unwrap_or(1.min(lines.len()));
    let sql = lines[..start].join("\n");
    let mut params = None;
    let mut plan_lines = &lines[start..];
    if let Some(first) = plan_lines.first()
        && let Some(list) = first.strip_prefix("Query Parameters: ")
    {
        params = parse_parameter_list(list);
        plan_lines = &plan_lines[1..];
    }
    let plan = plan_lines.join("\n").trim_end().to_owned();
    if sql.trim().is_empty() {
        return Message::Other;
    }
    Message::Plan {
        ms,
        sql,
        params,
        plan,
    }
}

/// The values of a `parameters: $1 = '42', $2 = NULL` detail, `$1` first; `None` when the
/// detail is something else.
pub fn parse_parameters(detail: &str) -> Option<Vec<Option<String>>> {
    parse_parameter_list(detail.strip_prefix("parameters: ")?)
}

/// `$1 = '42', $2 = NULL, $3 = 'it''s'` (PostgreSQL quotes every value and doubles quotes).
fn parse_parameter_list(list: &str) -> Option<Vec<Option<String>>> {
    let mut values: Vec<Option<String>> = Vec::new();
    let mut rest = list.trim_end();
    loop {
        let after = rest.strip_prefix('$')?;
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let n: usize = after[..digits].parse().ok()?;
        rest = after[digits..].strip_prefix(" = ")?;
        let value = if let Some(after) = rest.strip_prefix("NULL") {
            rest = after;
            None
        } else {
            let body = rest.strip_prefix('\'')?;
            let mut value = String::new();
            let mut chars = body.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if body[i + 1..].starts_with('\'') {
                        value.push('\'');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            rest = &body[end?..];
            Some(value)
        };
        if n == 0 || n > 65_535 {
            return None;
        }
        if values.len() < n {
            values.resize(n, None);
        }
        values[n - 1] = value;
        match rest.strip_prefix(", ") {
            Some(next) => rest = next,
            None if rest.is_empty() => return Some(values),
            None => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_statement_and_execute_durations_not_parse_or_bind() {
        assert_eq!(
            classify("duration: 12.5 ms  statement: select 1"),
            Message::Statement {
                ms: 12.5,
                sql: "select 1"
            }
        );
        assert_eq!(
            classify("duration: 0.042 ms  execute S_1: select $1"),
            Message::Statement {
                ms: 0.042,
                sql: "select $1"
            }
        );
        assert_eq!(
            classify("duration: 0.042 ms  execute fetch from S_1/C_2: select $1"),
            Message::Statement {
                ms: 0.042,
                sql: "select $1"
            }
        );
        assert_eq!(
            classify("duration: 0.1 ms  parse <unnamed>: select 1"),
            Message::Other
        );
        assert_eq!(
            classify("duration: 0.1 ms  bind <unnamed>: select 1"),
            Message::Other
        );
        assert_eq!(classify("duration: 0.1 ms"), Message::Other);
        assert_eq!(classify("statement: select 1"), Message::Other);
        assert_eq!(classify("duration: abc ms  statement: x"), Message::Other);
    }

    #[test]
    fn reads_parameters() {
        assert_eq!(
            parse_parameters("parameters: $1 = '42', $2 = NULL, $3 = 'it''s, here'"),
            Some(vec![
                Some("42".to_owned()),
                None,
                Some("it's, here".to_owned())
            ])
        );
        assert_eq!(parse_parameters("parameters: $1 = "), None);
        assert_eq!(parse_parameters("key (id)=(1) already exists"), None);
    }

    #[test]
    fn reads_auto_explain_text_with_a_multi_line_query() {
        let message = "duration: 51.001 ms  plan:\nQuery Text: select *\n  from t where a = 1\nQuery Parameters: $1 = '5'\nSeq Scan on t  (cost=0.00..1.01 rows=1 width=4) (actual time=0.01..0.02 rows=1 loops=1)\n  Filter: (a = 1)";
        match classify(message) {
            Message::Plan {
                ms,
                sql,
                params,
                plan,
            } => {
                assert_eq!(ms, 51.001);
                assert_eq!(sql, "select *\n  from t where a = 1");
                assert_eq!(params, Some(vec![Some("5".to_owned())]));
                assert!(plan.starts_with("Seq Scan on t"), "{plan}");
                assert!(plan.ends_with("Filter: (a = 1)"), "{plan}");
            }
            other => panic!("not a plan: {other:?}"),
        }
    }
}
