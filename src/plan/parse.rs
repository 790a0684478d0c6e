//! Finding EXPLAIN JSON documents in whatever a user pasted or saved, and loading them into
//! [`Explain`] values.
//!
//! Accepted inputs, in any mix and any number:
//! - the JSON array `EXPLAIN (FORMAT JSON)` returns, or a bare `{ "Plan": ... }` object, or (when it
//!   is the whole input) a bare plan node `{ "Node Type": ... }`;
//! - psql's aligned output: `QUERY PLAN` header, `----` rule, `+` continuation markers, `(1 row)`
//!   footer, and stray command tags such as `SET` around it;
//! - PostgreSQL server logs with `auto_explain.log_format = json` (the JSON follows a
//!   `... LOG:  duration: 1.234 ms  plan:` line), including PG15's `jsonlog` lines, whose `message`
//!   field carries the plan as a string.

//! - when no JSON plan is found, text-format EXPLAIN (psql's default, pasted, and auto_explain's
//!   text entries, in a log or in a `jsonlog` message), read by `plan::text`.
//!
//! The scanner walks the text once: at every `{` or `[` it asks serde_json for one value; text in
//! between (log prefixes, headers) is skipped. After a syntax error it resumes where the error was
//! found, so the work stays linear in the input size even for garbage.
//!
//! Documents are read from their text into the typed tree, never through a `serde_json::Value`,
//! with no nesting limit and at any depth (see [`super::deep`]).

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;
use thiserror::Error;

use super::deep;
use super::model::{Explain, PlanNode};
use super::text;

/// Why no plan could be loaded. Messages are one line, for terminals and CI annotations.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("input is empty: expected EXPLAIN (FORMAT JSON) output")]
    Empty,
    #[error(
        "no EXPLAIN plan found in the input (expected EXPLAIN (FORMAT JSON) output, psql output of it, or an auto_explain JSON log)"
    )]
    NoPlanFound,
    #[error("text-format EXPLAIN, line {line}: {message}")]
    TextPlan { line: usize, message: String },
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    InvalidJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("JSON is valid but is not an EXPLAIN plan: {reason}")]
    NotAPlan { reason: String },
}

/// Loads every plan found in `input`, in order of appearance.
pub fn parse_explain(input: &str) -> Result<Vec<Explain>, ParseError> {
    // Files saved by some Windows editors start with a byte-order mark, which JSON does not allow.
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    if input.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let cleaned = strip_psql_decoration(input);
    let text = cleaned.as_deref().unwrap_or(input);

    // Fast path: the whole input is the array EXPLAIN returns (the common case, and the
    // large-plan case), read straight into the typed tree.
    if let Ok(explains) = deep::from_str::<Vec<Explain>>(text)
        && !explains.is_empty()
    {
        return Ok(explains);
    }
    // The whole input is one JSON document of another shape.
    if let Ok(document) = serde_json::from_str::<&RawValue>(text)
        && jsonlog_message(document.get()).is_none()
    {
        return explains_from_json(document.get(), true)
            .map_err(|reason| ParseError::NotAPlan { reason });
    }

    let scan = scan_documents(text);
    if !scan.explains.is_empty() {
        return Ok(scan.explains);
    }
    // psql's default text format, pasted or saved, or auto_explain's text entries.
    if text::looks_like_text_plan(input) {
        return text::parse_text(input);
    }
    if let Some(error) = scan.first_primary_error {
        return Err(error);
    }
    Err(ParseError::NoPlanFound)
}

#[derive(Default)]
struct Scan {
    explains: Vec<Explain>,
    /// The first failure of a candidate that was clearly meant to be a plan: the one the input
    /// starts with, or one right after an auto_explain `plan:` marker.
    first_primary_error: Option<ParseError>,
}

fn scan_documents(text: &str) -> Scan {
    let mut scan = Scan::default();
    let first_content = text.len() - text.trim_start().len();
    let mut position = 0;
    let mut lines = LineCounter::default();

    while let Some(relative) = text[position..].find(['{', '[']) {
        let start = position + relative;
        let at_input_start = start == first_content;
        let primary = at_input_start || text[..start].trim_end().ends_with("plan:");

        // Each candidate is first only delimited (serde_json skips a value with a loop, at any
        // depth), then read.
        let mut stream =
            serde_json::Deserializer::from_str(&text[start..]).into_iter::<&RawValue>();
        match stream.next() {
            Some(Ok(document)) => {
                position = start + stream.byte_offset();
                let document = document.get();
                if let Some(message) = jsonlog_message(document) {
                    let nested = scan_documents(&message);
                    if nested.explains.is_empty()
                        && text::looks_like_text_plan(&message)
                        && let Ok(explains) = text::parse_text(&message)
                    {
                        scan.explains.extend(explains);
                        continue;
                    }
                    scan.explains.extend(nested.explains);
                    if scan.first_primary_error.is_none() {
                        scan.first_primary_error = nested.first_primary_error;
                    }
                    continue;
                }
                match explains_from_json(document, at_input_start) {
                    Ok(mut explains) => {
                        if let Some(duration) = auto_explain_duration_ms(&text[..start]) {
                            for explain in &mut explains {
                                explain.execution_time_ms.get_or_insert(duration);
                            }
                        }
                        scan.explains.extend(explains);
                    }
                    Err(reason) if primary && scan.first_primary_error.is_none() => {
                        scan.first_primary_error = Some(ParseError::NotAPlan { reason });
                    }
                    Err(_) => {}
                }
            }
            Some(Err(error)) => {
                let resume = offset_of(&text[start..], error.line(), error.column());
                if primary && scan.first_primary_error.is_none() {
                    let (start_line, start_column) = lines.position_of(text, start);
                    let (line, column) = if error.line() <= 1 {
                        (start_line, start_column + error.column().saturating_sub(1))
                    } else {
                        (start_line + error.line() - 1, error.column())
                    };
                    scan.first_primary_error = Some(ParseError::InvalidJson {
                        line,
                        column,
                        message: message_without_position(&error),
                    });
                }
                // Always move forward by at least one character.
                let mut next = (start + resume).max(start + 1).min(text.len());
                while !text.is_char_boundary(next) {
                    next += 1;
                }
                position = next;
            }
            None => break,
        }
    }
    scan
}

/// Plans from a JSON document already parsed (what a database driver returns for
/// `EXPLAIN (FORMAT JSON)`), without going through text again. For documents built in memory;
/// text from elsewhere goes through [`parse_explain_document`], which is safe at any depth.
pub fn parse_explain_value(value: Value) -> Result<Vec<Explain>, ParseError> {
    let usual = match &value {
        Value::Array(items) => !items.is_empty() && items.iter().all(|i| i.get("Plan").is_some()),
        Value::Object(object) => object.contains_key("Plan"),
        _ => false,
    };
    if usual {
        let explains = match value {
            Value::Array(_) => deep::from_value::<Vec<Explain>>(value),
            object => deep::from_value::<Explain>(object).map(|explain| vec![explain]),
        };
        return explains.map_err(|e| ParseError::NotAPlan {
            reason: e.to_string(),
        });
    }
    // Not the usual shape: its text says why.
    let text = value.to_string();
    deep::drop_value(value);
    parse_explain_document(&text)
}

/// Plans from one JSON document's text: the array `EXPLAIN (FORMAT JSON)` returns, an object with
/// a `"Plan"` key, or a bare plan node. Any depth.
pub fn parse_explain_document(text: &str) -> Result<Vec<Explain>, ParseError> {
    if let Ok(explains) = deep::from_str::<Vec<Explain>>(text)
        && !explains.is_empty()
    {
        return Ok(explains);
    }
    serde_json::from_str::<&RawValue>(text).map_err(|error| ParseError::InvalidJson {
        line: error.line(),
        column: error.column(),
        message: message_without_position(&error),
    })?;
    explains_from_json(text, true).map_err(|reason| ParseError::NotAPlan { reason })
}

/// Converts one JSON document (valid JSON, as text) into plans, or says why it is not one.
fn explains_from_json(document: &str, allow_bare_node: bool) -> Result<Vec<Explain>, String> {
    match document.trim_start().as_bytes().first() {
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_str(document).map_err(|e| message_without_position(&e))?;
            if items.is_empty() {
                return Err("empty JSON array".to_string());
            }
            items
                .into_iter()
                .map(|item| match describe(item.get()) {
                    "an object" => explain_from_object(item.get(), false),
                    other => Err(format!(
                        "array element is {other}, expected an object with a \"Plan\" key"
                    )),
                })
                .collect()
        }
        Some(b'{') => explain_from_object(document, allow_bare_node).map(|e| vec![e]),
        _ => Err(format!(
            "found {}, expected an array or an object with a \"Plan\" key",
            describe(document)
        )),
    }
}

/// The keys that tell what an object is, read without building the rest.
#[derive(Deserialize)]
struct ObjectKeys<'a> {
    #[serde(rename = "Plan", default)]
    plan: Option<IgnoredAny>,
    #[serde(rename = "Node Type", default)]
    node_type: Option<IgnoredAny>,
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
}

fn object_keys(object: &str) -> Option<ObjectKeys<'_>> {
    serde_json::from_str(object).ok()
}

fn explain_from_object(object: &str, allow_bare_node: bool) -> Result<Explain, String> {
    let error = match deep::from_str::<Explain>(object) {
        Ok(explain) => return Ok(explain),
        Err(error) => error,
    };
    let keys = object_keys(object);
    if keys.as_ref().is_some_and(|k| k.plan.is_some()) {
        return Err(message_without_position(&error));
    }
    if allow_bare_node && keys.is_some_and(|k| k.node_type.is_some()) {
        return deep::from_str::<PlanNode>(object)
            .map(Explain::from_plan)
            .map_err(|e| message_without_position(&e));
    }
    Err("object has no \"Plan\" key".to_string())
}

/// What kind of JSON value `document` (valid JSON) is.
fn describe(document: &str) -> &'static str {
    match document.trim_start().as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

/// PG15's `log_destination = jsonlog` writes one JSON object per line; an auto_explain entry's
/// `message` string holds the `duration: ... plan:` header and the plan, which we scan again.
fn jsonlog_message(document: &str) -> Option<String> {
    if describe(document) != "an object" {
        return None;
    }
    let keys = object_keys(document)?;
    if keys.plan.is_some() {
        return None;
    }
    let message: String = serde_json::from_str(keys.message?.get()).ok()?;
    message.contains("plan:").then_some(message)
}

/// auto_explain prints no "Execution Time"; its `duration: 12.345 ms  plan:` line carries the same
/// figure (executor start to end), so it fills `execution_time_ms` when the JSON lacks it.
fn auto_explain_duration_ms(text_before_plan: &str) -> Option<f64> {
    let header = text_before_plan.trim_end().strip_suffix("plan:")?;
    let line = header.rsplit('\n').next()?;
    let after = &line[line.rfind("duration:")? + "duration:".len()..];
    let number = after.split_whitespace().next()?;
    after.contains(" ms").then_some(())?;
    number.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// Turns psql's aligned (or expanded) output back into plain JSON text. Lines keep their numbers and
/// columns (decorations are blanked, not removed) so JSON error positions match the user's file.
/// Returns `None` when the input has no psql decoration.
fn strip_psql_decoration(input: &str) -> Option<String> {
    let lines: Vec<&str> = input.lines().collect();
    let is_rule = |line: &str| {
        let line = line.trim();
        !line.is_empty() && line.chars().all(|c| c == '-' || c == '+')
    };
    let aligned = lines
        .windows(2)
        .any(|pair| pair[0].trim() == "QUERY PLAN" && is_rule(pair[1]));
    let expanded = lines
        .iter()
        .any(|line| line.starts_with("-[ RECORD ") || line.starts_with("QUERY PLAN | "));
    if !aligned && !expanded {
        return None;
    }

    let mut cleaned = String::with_capacity(input.len());
    for (index, line) in lines.iter().enumerate() {
        let next_is_rule = lines.get(index + 1).is_some_and(|next| is_rule(next));
        let decoration = (line.trim() == "QUERY PLAN" && next_is_rule)
            || is_rule(line)
            || is_row_count_footer(line)
            || line.starts_with("-[ RECORD ");
        if !decoration {
            let mut content = line.trim_end();
            // psql marks a value that continues on the next line with a trailing '+'.
            if let Some(stripped) = content.strip_suffix('+') {
                content = stripped;
            }
            if expanded {
                // Expanded mode prefixes every line with "QUERY PLAN | " or spaces and "| ".
                if let Some(bar) = content.find("| ") {
                    let (prefix, rest) = content.split_at(bar);
                    if prefix.trim().is_empty() || prefix.trim() == "QUERY PLAN" {
                        cleaned.extend(std::iter::repeat_n(' ', bar + 2));
                        content = &rest[2..];
                    }
                }
            }
            cleaned.push_str(content);
        }
        cleaned.push('\n');
    }
    Some(cleaned)
}

fn is_row_count_footer(line: &str) -> bool {
    let line = line.trim();
    line.strip_prefix('(')
        .and_then(|rest| {
            rest.strip_suffix(" rows)")
                .or_else(|| rest.strip_suffix(" row)"))
        })
        .is_some_and(|count| !count.is_empty() && count.chars().all(|c| c.is_ascii_digit()))
}

/// Byte offset within `text` of a serde_json (line, column) position; serde_json counts columns in
/// bytes from 1 and reports column 0 right after a newline.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(index, _)| index + 1)
    };
    (line_start + column).min(text.len())
}

/// serde_json's Display appends " at line L column C"; we report the position ourselves, relative
/// to the whole input.
fn message_without_position(error: &serde_json::Error) -> String {
    let full = error.to_string();
    match full.rfind(" at line ") {
        Some(cut) => full[..cut].to_string(),
        None => full,
    }
}

/// Converts byte offsets to 1-based (line, column) incrementally: offsets asked for only grow, so
/// the whole scan counts each newline once.
#[derive(Default)]
struct LineCounter {
    counted_up_to: usize,
    newlines: usize,
    last_line_start: usize,
}

impl LineCounter {
    fn position_of(&mut self, text: &str, offset: usize) -> (usize, usize) {
        if offset >= self.counted_up_to {
            for (index, _) in text[self.counted_up_to..offset].match_indices('\n') {
                self.newlines += 1;
                self.last_line_start = self.counted_up_to + index + 1;
            }
            self.counted_up_to = offset;
        }
        (self.newlines + 1, offset - self.last_line_start + 1)
    }
}
