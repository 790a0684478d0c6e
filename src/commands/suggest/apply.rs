//! `--apply`: choose what to create, show the plan of changes, get a yes, then create them through
//! the suggest pipeline's one apply API ([`suggest::apply_suggestions`]).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use crate::cli::SuggestArgs;
use crate::pg::Runner;
use crate::suggest::report::{
    ApplySection, Measure, SuggestReport, Suggestion, SuggestionKind, SuggestionStatus, VerifyMode,
};
use crate::suggest::{self, ApplyEvent, ApplyOptions, StatementInput, skipped};

/// The suggestions `--apply` creates: proven indexes, and materialized views with
/// `--with-matviews`.
fn selected<'a>(report: &'a SuggestReport, args: &SuggestArgs) -> Vec<&'a Suggestion> {
    report
        .actionable()
        .filter(|s| s.kind() == SuggestionKind::Index || args.with_matviews)
        .filter(|s| !unproven_index(report, s))
        .collect()
}

/// An index verification could have judged but did not (HypoPG cannot simulate a GIN index):
/// `--apply` leaves it to `--verify build`, which proves it, or to `--verify none`, where the user
/// chose to go without proof. Building an index that nothing showed to help costs the table's
/// writes for good.
fn unproven_index(report: &SuggestReport, suggestion: &Suggestion) -> bool {
    suggestion.kind() == SuggestionKind::Index
        && suggestion.status == SuggestionStatus::Unverified
        && report.verify.mode != VerifyMode::None
}

const UNPROVEN: &str = "not proven: HypoPG cannot simulate this index; prove it with --verify build (or apply it without proof with --verify none)";

/// What `--apply` did, and each statement as measured just before (for the comparison after).
pub struct Applied {
    pub section: ApplySection,
    pub before: BTreeMap<usize, Measure>,
}

/// How `--apply` creates: a concurrent build lets writes go on, so a long one harms nobody and only
/// the wait for locks is bounded (`--timeout` bounds the statements and the verification builds,
/// which do block).
pub fn options(args: &SuggestArgs) -> ApplyOptions {
    ApplyOptions {
        lock_timeout: args.lock_timeout,
        // Zero, not the session's: the runner left --timeout on the session for EXPLAIN.
        statement_timeout: Some(std::time::Duration::ZERO),
        build_wait: args.build_wait,
    }
}

pub async fn apply(
    runner: &Runner,
    report: &SuggestReport,
    inputs: &[StatementInput],
    args: &SuggestArgs,
    err: &mut impl Write,
) -> anyhow::Result<Applied> {
    let chosen = selected(report, args);
    let left_out: Vec<&Suggestion> = report
        .actionable()
        .filter(|s| s.kind() == SuggestionKind::Matview && !args.with_matviews)
        .collect();
    let mut section = ApplySection::default();
    for s in &left_out {
        section
            .changes
            .push(skipped(s, "materialized views need --with-matviews"));
    }
    for s in report.actionable().filter(|s| unproven_index(report, s)) {
        writeln!(err, "pgdiag: not applying {}: {UNPROVEN}", s.id)?;
        section.changes.push(skipped(s, UNPROVEN));
    }
    if chosen.is_empty() {
        writeln!(err, "pgdiag: nothing to apply")?;
        return Ok(Applied {
            section,
            before: BTreeMap::new(),
        });
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
                section.changes.push(skipped(s, suggest::NOT_CONFIRMED));
            }
            return Ok(Applied {
                section,
                before: BTreeMap::new(),
            });
        }
    }
    // Measured now, the way they are measured after applying (warm-up, then --runs runs): the
    // first measurements were single cold runs.
    writeln!(
        err,
        "pgdiag: measuring the statements before applying ({} run(s) each)",
        args.runs.max(1)
    )?;
    let before = suggest::before_apply(runner, report, inputs, args.runs.max(1) as usize).await?;
    let options = options(args);
    let mut on_event = |event: ApplyEvent<'_>| match event {
        ApplyEvent::Started {
            position,
            total,
            change,
        } => {
            let _ = writeln!(
                err,
                "pgdiag: [{}/{total}] creating {} {}",
                position + 1,
                change.kind(),
                change.name()
            );
        }
        // A build that seems stuck says why, long before its bound.
        ApplyEvent::Waiting {
            position,
            total,
            change,
            wait,
        } => {
            let _ = writeln!(
                err,
                "pgdiag: [{}/{total}] {} {} is waiting: {wait}",
                position + 1,
                change.kind(),
                change.name()
            );
        }
        ApplyEvent::Finished { .. } => {}
    };
    let mut applied = suggest::apply_suggestions(runner, &chosen, &options, &mut on_event).await;
    section.changes.append(&mut applied.changes);
    section.error = applied.error;
    Ok(Applied { section, before })
}
