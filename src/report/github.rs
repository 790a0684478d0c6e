//! GitHub Actions workflow commands for `pgdiag check --format github`: the regressions become
//! error annotations on the SQL file and line, notes and environment differences warnings,
//! improvements and advisories notices; the last line is the plain verdict for the log.

use std::io::{self, Write};

use super::check_text::{
    advisory_note, environment_lines, has_differences, kind_label, plan_diff_lines, verdict,
};
use crate::gate::{ChangeKind, CheckReport, QueryResult, QueryStatus};

/// Render a check report as GitHub Actions annotations.
pub fn render(w: &mut impl Write, report: &CheckReport) -> io::Result<()> {
    for note in &report.notes {
        command(w, "warning", None, "pgdiag: note", note)?;
    }
    let env = &report.environment;
    if has_differences(env) {
        for (name, change) in environment_lines(env) {
            let message = format!(
                "{name}: {change} (differs from the baseline; {})",
                advisory_note(env)
            );
            command(w, "warning", None, "pgdiag: environment", &message)?;
        }
    }

    for query in &report.queries {
        // Advisories are notices whatever the query's status: significant, but not failing.
        for change in &query.advisories {
            let title = format!("pgdiag: {} (advisory)", kind_label(change.kind));
            command(w, "notice", Some(query), &title, &change.message)?;
        }
        match query.status {
            QueryStatus::Regressed => {
                // The plan diff goes with the shape change, or with the first regression when no
                // regression names the shape.
                let diff_at = query
                    .regressions
                    .iter()
                    .position(|c| c.kind == ChangeKind::ShapeChanged)
                    .unwrap_or(0);
                for (k, change) in query.regressions.iter().enumerate() {
                    let mut message = change.message.clone();
                    if k == diff_at && query.baseline_shape != query.current_shape {
                        message.push_str("\n\n");
                        message.push_str(&plan_diff(query));
                    }
                    let title = format!("pgdiag: {}", kind_label(change.kind));
                    command(w, "error", Some(query), &title, &message)?;
                }
                annotate_improvements_and_notes(w, query)?;
            }
            QueryStatus::Improved => annotate_improvements_and_notes(w, query)?,
            QueryStatus::New => command(
                w,
                "notice",
                Some(query),
                "pgdiag: new query",
                &format!(
                    "{} is not in the baseline; run `pgdiag check --update` to record it",
                    query.id
                ),
            )?,
            QueryStatus::Missing => command(
                w,
                "notice",
                Some(query),
                "pgdiag: missing query",
                &format!(
                    "{} is in the baseline but no longer in the checked files; \
                     run `pgdiag check --update` to accept",
                    query.id
                ),
            )?,
            QueryStatus::Unchanged | QueryStatus::Ignored => {}
        }
    }
    writeln!(w, "{}", verdict(report))
}

fn annotate_improvements_and_notes(w: &mut impl Write, query: &QueryResult) -> io::Result<()> {
    for change in &query.improvements {
        let title = format!("pgdiag: {}", kind_label(change.kind));
        command(w, "notice", Some(query), &title, &change.message)?;
    }
    for note in &query.notes {
        command(w, "warning", Some(query), "pgdiag: note", note)?;
    }
    Ok(())
}

fn plan_diff(query: &QueryResult) -> String {
    let lines: Vec<String> = plan_diff_lines(&query.baseline_shape, &query.current_shape, None)
        .into_iter()
        .map(|(line, _)| line)
        .collect();
    lines.join("\n")
}

/// `::<level> file=<file>,line=<line>,title=<title>::<message>`, everything escaped.
fn command(
    w: &mut impl Write,
    level: &str,
    at: Option<&QueryResult>,
    title: &str,
    message: &str,
) -> io::Result<()> {
    let mut properties = Vec::new();
    if let Some(query) = at {
        properties.push(format!("file={}", escape_property(&query.file)));
        if query.line > 0 {
            properties.push(format!("line={}", query.line));
        }
    }
    properties.push(format!("title={}", escape_property(title)));
    writeln!(
        w,
        "::{level} {}::{}",
        properties.join(","),
        escape_data(message)
    )
}

/// Escape a command's message (GitHub's `escapeData`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a command property value (GitHub's `escapeProperty`): as the message, and `:` and `,`,
/// which would otherwise end the value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
