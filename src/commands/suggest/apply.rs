//! `--apply`: show the plan of changes, get a yes, create them through the apply module.

use std::io::{BufRead, Write};

use crate::advise::report::{
    AppliedChange, ApplySection, ChangeStatus, SuggestReport, Suggestion, SuggestionKind,
};
use crate::cli::SuggestArgs;
use crate::pg::Runner;

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

/// Creating the changes: the seam for `crate::advise::apply` (branch apply).
async fn create(
    _runner: &Runner,
    _chosen: &[&Suggestion],
    _args: &SuggestArgs,
    _err: &mut impl Write,
) -> anyhow::Result<ApplySection> {
    anyhow::bail!("applying is not available in this build")
}
