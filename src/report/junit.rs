//! JUnit XML for `pgdiag check --format junit`, in the shape CI test reporters read (GitLab,
//! Jenkins, the GitHub test-report actions): one test case per query, a failure per regressed
//! query, skipped for ignored and missing ones, the environment as suite properties.
//!
//! Written by hand (the format is small); `escape` and `escape_attr` keep it well-formed whatever
//! the messages contain.

use std::io::{self, Write};

use super::check_text::{advisory_note, environment_lines, has_differences, plan_diff_lines};
use crate::gate::{CheckReport, QueryResult, QueryStatus};

const SUITE_NAME: &str = "pgdiag check";

/// Render a check report as JUnit XML.
pub fn render(w: &mut impl Write, report: &CheckReport) -> io::Result<()> {
    // Counted from the test cases themselves so the totals always agree with what a reader sees.
    let tests = report.queries.len();
    let failures = count(report, |s| s == QueryStatus::Regressed);
    let skipped = count(report, |s| {
        matches!(s, QueryStatus::Ignored | QueryStatus::Missing)
    });
    let totals = format!(r#"tests="{tests}" failures="{failures}" errors="0" skipped="{skipped}""#);

    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<testsuites name="{}" {totals}>"#,
        escape_attr(SUITE_NAME)
    )?;
    writeln!(
        w,
        r#"  <testsuite name="{}" {totals}>"#,
        escape_attr(SUITE_NAME)
    )?;

    let env = &report.environment;
    if has_differences(env) {
        writeln!(w, "    <properties>")?;
        for (name, change) in environment_lines(env) {
            writeln!(
                w,
                r#"      <property name="{}" value="{}"/>"#,
                escape_attr(&name),
                escape_attr(&change)
            )?;
        }
        writeln!(
            w,
            r#"      <property name="note" value="{}"/>"#,
            escape_attr(advisory_note(env))
        )?;
        writeln!(w, "    </properties>")?;
    }

    for query in &report.queries {
        render_testcase(w, query)?;
    }

    writeln!(w, "  </testsuite>")?;
    writeln!(w, "</testsuites>")
}

fn count(report: &CheckReport, pred: impl Fn(QueryStatus) -> bool) -> usize {
    report.queries.iter().filter(|q| pred(q.status)).count()
}

fn render_testcase(w: &mut impl Write, query: &QueryResult) -> io::Result<()> {
    let open = format!(
        r#"    <testcase classname="{file}" name="{id}" file="{file}" line="{line}""#,
        file = escape_attr(&query.file),
        id = escape_attr(&query.id),
        line = query.line
    );
    match query.status {
        QueryStatus::Regressed => {
            let first = query
                .regressions
                .first()
                .map(|c| c.message.as_str())
                .unwrap_or("regressed");
            writeln!(w, "{open}>")?;
            writeln!(
                w,
                r#"      <failure message="{}" type="regression">{}</failure>"#,
                escape_attr(first),
                escape(&failure_body(query))
            )?;
            writeln!(w, "    </testcase>")
        }
        QueryStatus::Ignored => {
            writeln!(w, "{open}>")?;
            writeln!(w, r#"      <skipped message="ignored by configuration"/>"#)?;
            writeln!(w, "    </testcase>")
        }
        QueryStatus::Missing => {
            writeln!(w, "{open}>")?;
            writeln!(
                w,
                r#"      <skipped message="{}"/>"#,
                escape_attr(
                    "in the baseline, no longer in the checked files; \
                     run `pgdiag check --update` to accept"
                )
            )?;
            writeln!(w, "    </testcase>")
        }
        QueryStatus::New => {
            writeln!(w, "{open}>")?;
            writeln!(
                w,
                "      <system-out>{}</system-out>",
                escape(
                    "new query: not in the baseline; \
                     run `pgdiag check --update` to record it"
                )
            )?;
            writeln!(w, "    </testcase>")
        }
        QueryStatus::Improved => {
            writeln!(w, "{open}>")?;
            let mut out = String::new();
            for change in &query.improvements {
                out.push_str(&format!("improvement: {}\n", change.message));
            }
            push_advisories(&mut out, query);
            for note in &query.notes {
                out.push_str(&format!("note: {note}\n"));
            }
            writeln!(w, "      <system-out>{}</system-out>", escape(&out))?;
            writeln!(w, "    </testcase>")
        }
        QueryStatus::Unchanged if !query.advisories.is_empty() => {
            let mut out = String::new();
            push_advisories(&mut out, query);
            writeln!(w, "{open}>")?;
            writeln!(w, "      <system-out>{}</system-out>", escape(&out))?;
            writeln!(w, "    </testcase>")
        }
        QueryStatus::Unchanged => writeln!(w, "{open}/>"),
    }
}

/// One `advisory: ...` line per change that does not fail the gate.
fn push_advisories(out: &mut String, query: &QueryResult) {
    for change in &query.advisories {
        out.push_str(&format!("advisory: {}\n", change.message));
    }
}

/// Every regression, improvement, advisory and note of a regressed query, then the plan diff.
fn failure_body(query: &QueryResult) -> String {
    let mut body = String::new();
    for change in &query.regressions {
        body.push_str(&format!("regression: {}\n", change.message));
        if let Some(values) = super::check_text::values_line(change) {
            body.push_str(&format!("  {values}\n"));
        }
    }
    for change in &query.improvements {
        body.push_str(&format!("improvement: {}\n", change.message));
    }
    push_advisories(&mut body, query);
    for note in &query.notes {
        body.push_str(&format!("note: {note}\n"));
    }
    if !query.baseline_shape.is_empty() || !query.current_shape.is_empty() {
        body.push_str("\nplan:\n");
        for (line, _) in plan_diff_lines(&query.baseline_shape, &query.current_shape, None) {
            body.push_str(&line);
            body.push('\n');
        }
    }
    body
}

/// Whether XML 1.0 allows a character at all (`Char` in the spec): tab, newline, carriage return,
/// and everything from space up, except the non-characters U+FFFE and U+FFFF. Rust `char`s are
/// never surrogates, so the rest of the production holds by construction.
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Escape text content: the five markup characters, and characters XML 1.0 forbids dropped
/// (they cannot be written even as character references).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().filter(|&c| allowed_in_xml(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape an attribute value: as `escape`, and tab, newline and carriage return as character
/// references, because a parser normalises literal ones in attributes to spaces.
pub fn escape_attr(text: &str) -> String {
    escape(text)
        .replace('\t', "&#9;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
}
