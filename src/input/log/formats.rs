//! The three layouts a server log comes in, each read into the same [`Entry`]: `stderr` (a
//! `log_line_prefix` of any shape, then `SEVERITY:  message`, continuation lines indented by a
//! tab), `csvlog` (one CSV record per message, fields quoted and possibly spanning lines; the
//! first 15 columns are the same in PostgreSQL 13–18, later versions only add columns at the
//! end) and `jsonlog` (15+: one JSON object per line).

use std::borrow::Cow;

use serde::Deserialize;

/// One message of the log, whatever the format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entry {
    /// The line the message starts on (1-based).
    pub line: u64,
    /// Seconds since 1970 of the message's timestamp, read as written (its time zone ignored).
    pub timestamp: Option<f64>,
    pub database: Option<String>,
    pub user: Option<String>,
    /// `LOG`, `DETAIL`, `ERROR`, …
    pub severity: String,
    /// The message, continuation lines joined with `\n`.
    pub message: String,
    /// The detail (csvlog and jsonlog carry it in the same record; stderr logs it as a
    /// `DETAIL:` message of its own).
    pub detail: Option<String>,
    /// A stderr line's prefix, where the database and user are read from when needed.
    pub prefix: Option<String>,
    /// `query_id` (csvlog and jsonlog, 14+, when `compute_query_id` is on): the same id as
    /// `pg_stat_statements.queryid`.
    pub query_id: Option<i64>,
}

/// The severities PostgreSQL writes before `:  ` (in English).
const SEVERITIES: &[&str] = &[
    "LOG",
    "DETAIL",
    "STATEMENT",
    "ERROR",
    "WARNING",
    "FATAL",
    "PANIC",
    "HINT",
    "CONTEXT",
    "NOTICE",
    "INFO",
    "DEBUG",
    "DEBUG1",
    "DEBUG2",
    "DEBUG3",
    "DEBUG4",
    "DEBUG5",
    "QUERY",
    "LOCATION",
];

/// A stderr line split into its prefix, severity and message: the first `WORD:  ` with a known
/// severity, at the start of the line or after a space or bracket.
pub fn split_stderr(line: &str) -> Option<(&str, &str, &str)> {
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(at) = line[from..].find(":  ") {
        let colon = from + at;
        let start = bytes[..colon]
            .iter()
            .rposition(|b| !b.is_ascii_alphanumeric())
            .map_or(0, |p| p + 1);
        let word = &line[start..colon];
        let boundary = start == 0 || matches!(bytes[start - 1], b' ' | b']' | b')' | b':' | b'\t');
        if boundary && SEVERITIES.contains(&word) {
            return Some((&line[..start], word, &line[colon + 3..]));
        }
        from = colon + 1;
    }
    None
}

/// The timestamp in a prefix: `%m`/`%t` (`2026-12-02 16:43:45[.123] UTC`) or `%n` (epoch
/// seconds with milliseconds, `1764693825.123`).
pub fn prefix_timestamp(prefix: &str) -> Option<f64> {
    let bytes = prefix.as_bytes();
    for i in 0..bytes.len().saturating_sub(18) {
        if bytes[i].is_ascii_digit()
            && (i == 0 || !bytes[i - 1].is_ascii_digit())
            && let Some(t) = parse_timestamp(&prefix[i..])
        {
            return Some(t);
        }
    }
    // `%n`: ten digits, a dot, three digits.
    for (i, w) in bytes.windows(14).enumerate() {
        if (i == 0 || !bytes[i - 1].is_ascii_digit())
            && w[..10].iter().all(u8::is_ascii_digit)
            && w[10] == b'.'
            && w[11..].iter().all(u8::is_ascii_digit)
        {
            return prefix[i..i + 14].parse().ok();
        }
    }
    None
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` at the start of `text`, as seconds since 1970 (zone ignored).
pub fn parse_timestamp(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = &b[r];
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (h, mi, s) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut seconds = (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) as f64;
    if b.get(19) == Some(&b'.') {
        let frac: usize = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac > 0 {
            let f: f64 = text[19..20 + frac].parse().ok()?;
            seconds += f;
        }
    }
    Some(seconds)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The database and user in a prefix, in the forms `log_line_prefix` is usually written with:
/// `db=%d`, `database=%d`, `user=%u` (any separators), or `%u@%d`.
pub fn prefix_database_user(prefix: &str) -> (Option<String>, Option<String>) {
    let mut database = None;
    let mut user = None;
    let mut at_form = None;
    for token in
        prefix.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '(' | ')' | ';'))
    {
        if let Some((key, value)) = token.split_once('=') {
            let is = |names: &[&str]| names.iter().any(|n| key.eq_ignore_ascii_case(n));
            if is(&["db", "database", "dbname"]) {
                database = known(value);
            } else if is(&["user", "usr", "u", "username", "role"]) {
                user = known(value);
            }
        } else if at_form.is_none()
            && let Some((u, d)) = token.split_once('@')
            && !u.is_empty()
        {
            at_form = Some((known(u), known(d)));
        }
    }
    if database.is_none()
        && user.is_none()
        && let Some((u, d)) = at_form
    {
        return (d, u);
    }
    (database, user)
}

/// A prefix value, `None` when empty or `[unknown]`.
fn known(value: &str) -> Option<String> {
    let value = value.trim_matches(|c| c == '"' || c == '\'');
    (!value.is_empty() && value != "[unknown]" && value != "unknown").then(|| value.to_owned())
}

/// One stderr message from its first line (already split) and its prefix (the database and
/// user are read from it by [`Entry::names`], for the executions only).
pub fn stderr_entry(line: u64, prefix: &str, severity: &str, message: &str) -> Entry {
    Entry {
        line,
        timestamp: prefix_timestamp(prefix),
        database: None,
        user: None,
        severity: severity.to_owned(),
        message: message.to_owned(),
        detail: None,
        prefix: Some(prefix.to_owned()),
        query_id: None,
    }
}

impl Entry {
    /// The database and the user, from the record or the prefix.
    pub fn names(&mut self) -> (Option<String>, Option<String>) {
        match self.prefix.take() {
            Some(prefix) => prefix_database_user(&prefix),
            None => (self.database.take(), self.user.take()),
        }
    }
}

/// Whether a csvlog record is complete: an even number of `"` (quotes are doubled inside
/// quoted fields, so an odd count means a field goes on on the next line).
pub fn csv_complete(record: &str) -> bool {
    record.bytes().filter(|&b| b == b'"').count() % 2 == 0
}

/// csvlog's columns that pgdiag reads (0-based): log_time, user_name, database_name, …,
/// error_severity, sql_state_code, message, detail.
const CSV_TIME: usize = 0;
const CSV_USER: usize = 1;
const CSV_DATABASE: usize = 2;
const CSV_SEVERITY: usize = 11;
const CSV_MESSAGE: usize = 13;
const CSV_DETAIL: usize = 14;
const CSV_QUERY_ID: usize = 25;
/// PostgreSQL 13 writes 24 columns, 14–18 write 26; fewer than 23 is not a csvlog record.
const CSV_MIN_COLUMNS: usize = 23;

/// A csvlog record (without its final line break) as an entry; `None` when it is not one.
pub fn csv_entry(line: u64, record: &str) -> Option<Entry> {
    let mut fields: [Option<Cow<'_, str>>; 26] = Default::default();
    let mut count = 0;
    let mut rest = record;
    loop {
        let (field, after) = csv_field(rest)?;
        if count < fields.len() {
            fields[count] = Some(field);
        }
        count += 1;
        match after {
            Some(next) => rest = next,
            None => break,
        }
    }
    if count < CSV_MIN_COLUMNS {
        return None;
    }
    let mut take = |i: usize| fields[i].take().filter(|f| !f.is_empty());
    let severity = take(CSV_SEVERITY)?.into_owned();
    if !SEVERITIES.contains(&severity.as_str()) {
        return None;
    }
    let timestamp = take(CSV_TIME).and_then(|t| parse_timestamp(&t));
    let query_id = take(CSV_QUERY_ID)
        .and_then(|q| q.parse::<i64>().ok())
        .filter(|&q| q != 0);
    Some(Entry {
        line,
        timestamp,
        user: take(CSV_USER).map(Cow::into_owned),
        database: take(CSV_DATABASE).map(Cow::into_owned),
        severity,
        message: take(CSV_MESSAGE).map(Cow::into_owned).unwrap_or_default(),
        detail: take(CSV_DETAIL).map(Cow::into_owned),
        prefix: None,
        query_id,
    })
}

/// The first field of `text` and what follows its comma (`None` after the last field).
fn csv_field(text: &str) -> Option<(Cow<'_, str>, Option<&str>)> {
    let Some(body) = text.strip_prefix('"') else {
        return Some(match text.find(',') {
            Some(i) => (Cow::Borrowed(&text[..i]), Some(&text[i + 1..])),
            None => (Cow::Borrowed(text), None),
        });
    };
    let mut owned: Option<String> = None;
    let mut from = 0;
    loop {
        let q = from + body[from..].find('"')?;
        if body[q + 1..].starts_with('"') {
            owned
                .get_or_insert_with(String::new)
                .push_str(&body[from..=q]);
            from = q + 2;
            continue;
        }
        let field = match owned {
            Some(mut s) => {
                s.push_str(&body[from..q]);
                Cow::Owned(s)
            }
            None => Cow::Borrowed(&body[..q]),
        };
        let after = &body[q + 1..];
        return match after.strip_prefix(',') {
            Some(next) => Some((field, Some(next))),
            None if after.is_empty() => Some((field, None)),
            None => None,
        };
    }
}

/// The jsonlog keys pgdiag reads.
#[derive(Debug, Deserialize)]
struct JsonLine {
    timestamp: Option<String>,
    user: Option<String>,
    dbname: Option<String>,
    error_severity: Option<String>,
    message: Option<String>,
    detail: Option<String>,
    query_id: Option<i64>,
}

/// A jsonlog line as an entry; `None` when it is not one.
pub fn json_entry(line: u64, text: &str) -> Option<Entry> {
    let parsed: JsonLine = serde_json::from_str(text).ok()?;
    let severity = parsed.error_severity?;
    Some(Entry {
        line,
        timestamp: parsed.timestamp.as_deref().and_then(parse_timestamp),
        database: parsed.dbname.filter(|d| !d.is_empty()),
        user: parsed.user.filter(|u| !u.is_empty()),
        severity,
        message: parsed.message.unwrap_or_default(),
        detail: parsed.detail,
        prefix: None,
        query_id: parsed.query_id.filter(|&q| q != 0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_severity_after_any_prefix() {
        assert_eq!(
            split_stderr(
                "2026-12-02 16:43:45.123 UTC [77] app@shop LOG:  duration: 1 ms  statement: select 1"
            ),
            Some((
                "2026-12-02 16:43:45.123 UTC [77] app@shop ",
                "LOG",
                "duration: 1 ms  statement: select 1"
            ))
        );
        assert_eq!(
            split_stderr("LOG:  checkpoint starting: time"),
            Some(("", "LOG", "checkpoint starting: time"))
        );
        // A `:  ` inside the prefix before the severity is not one.
        assert_eq!(
            split_stderr("t=12:00:00  x=LOG:  y").map(|(_, s, _)| s),
            None
        );
        assert_eq!(split_stderr("waiting for server to start.... done"), None);
    }

    #[test]
    fn reads_timestamps_and_names_from_prefixes() {
        assert_eq!(parse_timestamp("1970-01-02 00:00:01.5 UTC"), Some(86_401.5));
        assert_eq!(
            prefix_timestamp("[1] 2026-12-02 16:43:45 CET db=x "),
            parse_timestamp("2026-12-02 16:43:45")
        );
        assert_eq!(
            prefix_timestamp("1764693825.123 [1] "),
            Some(1_764_693_825.123)
        );
        assert_eq!(prefix_timestamp("[1] "), None);
        assert_eq!(
            prefix_database_user(
                "2026-12-02 16:43:45 UTC [5]: [1-1] user=app,db=shop,app=psql,client=[local] "
            ),
            (Some("shop".to_owned()), Some("app".to_owned()))
        );
        assert_eq!(
            prefix_database_user("2026-12-02 16:43:45 UTC [5] app@shop "),
            (Some("shop".to_owned()), Some("app".to_owned()))
        );
        assert_eq!(
            prefix_database_user("2026-12-02 16:43:45 UTC [5] "),
            (None, None)
        );
    }

    #[test]
    fn reads_csv_records_with_quoted_multi_line_fields() {
        let record = "2026-12-02 16:43:45.123 UTC,\"app\",\"shop\",77,\"[local]\",6750a1b1.4d,3,\"SELECT\",2026-12-02 16:43:40 UTC,3/4,0,LOG,00000,\"duration: 1.5 ms  statement: select \"\"a\"\"\nfrom t\",,,,,,,,,\"psql\",\"client backend\",,0";
        assert!(csv_complete(record));
        let cut = record.find("\nfrom").expect("the second line");
        assert!(!csv_complete(&record[..cut]));
        let entry = csv_entry(3, record).expect("a csvlog record");
        assert_eq!(entry.user.as_deref(), Some("app"));
        assert_eq!(entry.database.as_deref(), Some("shop"));
        assert_eq!(entry.severity, "LOG");
        assert_eq!(
            entry.message,
            "duration: 1.5 ms  statement: select \"a\"\nfrom t"
        );
        assert_eq!(entry.detail, None);
        assert!(csv_entry(1, "a,b,c").is_none());
    }
}
