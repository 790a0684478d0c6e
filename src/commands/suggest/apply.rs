//! `--apply`: show the plan of changes, get a yes, create them through the apply module.

use std::io::{BufRead, Write};

use crate::advise::apply::{self, ApplyEvent, ApplyOptions, Change};
use crate::advise::report::{
    AppliedChange, ApplySection, ChangeStatus, SuggestReport, Suggestion, SuggestionKind,
};
use crate::advise::suggest::{change_of, required_extensions};
use crate::cli::SuggestArgs;
use crate::pg::{Runner, quote_ident};

/// The suggestions `--apply` creates: indexes, and materialized views with `--with-matviews`.
fn selected<'a>(report: &'a SuggestReport, args: &SuggestArgs) -> Vec<&'a Suggestion> {
    report
        .actionable()
        .filter(|s| s.kind == SuggestionKind::Index || args.with_matviews)
        .collect()
}

pub async fn apply(
    runner: &Runner,
    report: &SuggestReport,
    args: &SuggestArgs,
    err: &mut impl Write,
) -> anyhow::Result<ApplySection> {
    let chosen = selected(report, args);
    let left_out: Vec<&Suggestion> = report
        .actionable()
        .filter(|s| s.kind == SuggestionKind::Matview && !args.with_matviews)
        .collect();
    let mut section = ApplySection {
        changes: Vec::new(),
        after: Vec::new(),
        error: None,
    };
    for s in &left_out {
        section
            .changes
            .push(skipped(s, "materialized views need --with-matviews"));
    }
    if chosen.is_empty() {
        writeln!(err, "pgdiag: nothing to apply")?;
        return Ok(section);
    }
    writeln!(err, "Plan of changes:")?;
    for s in &chosen {
        for ddl in &s.ddl {
            writeln!(err, "  {}: {ddl};", s.id)?;
        }
    }
    if !args.yes {
        write!(err, "Apply these {} change(s)? [y/N] ", chosen.len())?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            writeln!(err, "pgdiag: not confirmed: nothing applied")?;
            for s in &chosen {
                section.changes.push(skipped(s, "not confirmed"));
            }
            return Ok(section);
        }
    }
    let mut applied = create(runner, &chosen, args, err).await?;
    section.changes.append(&mut applied.changes);
    section.error = applied.error;
    Ok(section)
}

pub fn skipped(s: &Suggestion, why: &str) -> AppliedChange {
    AppliedChange {
        id: s.id.clone(),
        kind: s.kind,
        name: s.name().to_owned(),
        status: ChangeStatus::Skipped,
        elapsed_ms: None,
        size_bytes: None,
        dropped_invalid: false,
        message: Some(why.to_owned()),
    }
}

/// Create the chosen suggestions through [`crate::advise::apply`]: advisory lock, CONCURRENTLY
/// under lock_timeout, INVALID leftovers dropped, stop at the first failure.
async fn create(
    runner: &Runner,
    chosen: &[&Suggestion],
    args: &SuggestArgs,
    err: &mut impl Write,
) -> anyhow::Result<ApplySection> {
    let mut section = ApplySection {
        changes: Vec::new(),
        after: Vec::new(),
        error: None,
    };
    for extension in required_extensions(chosen) {
        let sql = format!("CREATE EXTENSION IF NOT EXISTS {}", quote_ident(&extension));
        if let Err(e) = runner.client().batch_execute(&sql).await {
            section.error = Some(format!("{sql}: {}", crate::pg::Error::from(e)));
            for s in chosen {
                section.changes.push(skipped(s, "not attempted"));
            }
            return Ok(section);
        }
    }
    let pairs: Vec<(&Suggestion, Change)> = chosen
        .iter()
        .filter_map(|s| Some((*s, change_of(s)?)))
        .collect();
    let changes: Vec<Change> = pairs.iter().map(|(_, c)| c.clone()).collect();
    // A concurrent build lets writes go on, so a long one harms nobody: only the wait for locks is
    // bounded. (--timeout bounds the statements and the verification builds, which do block.)
    let options = ApplyOptions {
        lock_timeout: args.lock_timeout,
        statement_timeout: None,
    };
    let mut on_event = |event: ApplyEvent<'_>| {
        if let ApplyEvent::Started {
            position,
            total,
            change,
        } = event
        {
            let _ = writeln!(
                err,
                "pgdiag: [{}/{total}] creating {} {}",
                position + 1,
                change.kind(),
                change.name()
            );
        }
    };
    let applied =
        match crate::advise::apply(runner.client(), &changes, &options, &mut on_event).await {
            Ok(report) => report,
            Err(e) => {
                section.error = Some(e.to_string());
                for (s, _) in &pairs {
                    section.changes.push(skipped(s, "not attempted"));
                }
                return Ok(section);
            }
        };
    for ((s, _), outcome) in pairs.iter().zip(&applied.outcomes) {
        let (status, dropped_invalid, message) = match &outcome.status {
            apply::ChangeStatus::Created { replaced_invalid } => (
                ChangeStatus::Created,
                *replaced_invalid,
                replaced_invalid.then(|| {
                    "an INVALID index of that name, left by an earlier failed run, was dropped and rebuilt".to_owned()
                }),
            ),
            apply::ChangeStatus::AlreadyExisted => (ChangeStatus::AlreadyExisted, false, None),
            apply::ChangeStatus::Failed {
                failure,
                dropped_invalid,
                cleanup_error,
            } => {
                let mut message = failure.to_string();
                if let Some(cleanup) = cleanup_error {
                    message.push_str(&format!(
                        "; dropping the INVALID index it left failed too: {cleanup}"
                    ));
                }
                (ChangeStatus::Failed, *dropped_invalid, Some(message))
            }
            apply::ChangeStatus::Skipped => (
                ChangeStatus::Skipped,
                false,
                Some("not attempted after an earlier failure".to_owned()),
            ),
        };
        section.changes.push(AppliedChange {
            id: s.id.clone(),
            kind: s.kind,
            name: s.name().to_owned(),
            status,
            elapsed_ms: Some(outcome.elapsed_ms),
            size_bytes: outcome.size_bytes,
            dropped_invalid,
            message,
        });
    }
    if let Some(failure) = applied.failure() {
        section.error = Some(format!(
            "{} {} failed; the changes after it were not attempted",
            failure.change.kind(),
            failure.change.name()
        ));
    }
    Ok(section)
}
