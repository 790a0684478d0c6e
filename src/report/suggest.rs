//! Renderers for the `suggest` report: the terminal tables, the DDL script of `--dry-run` and the
//! migration file of `--output`, and the before/after of `--apply`.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::text::{DEFAULT_WIDTH, wrap};
use crate::suggest::noise;
use crate::suggest::report::{
    ApplySection, ApplyStatus, Basis, ChangeStatus, Measure, Planning, SuggestReport,
    SuggestedObject, Suggestion, SuggestionKind, SuggestionStatus, Verification, VerifyMode,
    Weighed, WorkloadSection,
};
use crate::units::{fmt_bytes, fmt_count, fmt_ms};

/// Which suggestions a script carries.
#[derive(Debug, Clone, Copy)]
pub struct ScriptOptions {
    /// Materialized views are written only when asked for (`--with-matviews`).
    pub with_matviews: bool,
}

/// One suggestion as lines, for a width its table row does not fit: its id and what it is, the
/// statements it serves, each statement's figures, then its DDL, one statement a line.
fn suggestion_block(s: &Suggestion, figures: &str, improvement: &str, size: &str) -> String {
    let mut block = format!("  {}  {}\n", s.id, what(s));
    let mut facts = vec![format!("serves {}", statements_list(&s.serves))];
    if !improvement.is_empty() {
        facts.push(format!("improvement {improvement}"));
    }
    if !size.is_empty() {
        facts.push(format!("size {size}"));
    }
    block.push_str(&format!("      {}\n", facts.join(" · ")));
    for line in figures.lines() {
        block.push_str(&format!("      {line}\n"));
    }
    for ddl in &s.ddl {
        block.push_str(&format!("      {ddl};\n"));
    }
    block
}

fn table() -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.force_no_tty();
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table
}

pub use crate::suggest::report::number;

/// `10` for 10.0, `12.5` otherwise: thresholds read as the user wrote them.
pub fn percent(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// `cost 3580 → 12.4` or `12.3 ms (12.1–12.9, 3 runs) → 0.104 ms (0.101–0.110, 3 runs)`: time,
/// with the spread of its runs, when both sides have it.
pub fn before_after(before: &Measure, after: &Measure) -> String {
    noise::figures(before, after)
}

pub(super) fn what(suggestion: &Suggestion) -> String {
    match &suggestion.object {
        SuggestedObject::Index(index) => {
            let columns: Vec<String> = index
                .columns
                .iter()
                .map(|c| {
                    let mut text = c.name.clone();
                    if c.desc {
                        text.push_str(" DESC");
                    }
                    text
                })
                .collect();
            let mut text = format!("index on {} ({})", index.table, columns.join(", "));
            if index.method != "btree" {
                text = format!("{} {text}", index.method);
            }
            if !index.include.is_empty() {
                text.push_str(&format!(" INCLUDE ({})", index.include.join(", ")));
            }
            if let Some(predicate) = &index.predicate {
                text.push_str(&format!(" WHERE {predicate}"));
            }
            text
        }
        SuggestedObject::Matview(mv) => format!(
            "materialized view {} over {} by {}",
            mv.name,
            mv.base_table,
            mv.key_columns.join(", ")
        ),
    }
}

/// The size as known: built (`54.1 MB`), else pgdiag's estimate (`≈ 54.1 MB`), else HypoPG's
/// (`≈ 131.6 MB (HypoPG)`).
/// A verification's before → after, one line per statement measured, and what was in place
/// when it was measured: each suggestion is measured on top of the ones kept before it, so its
/// "before" is where those left the statement, not the first run.
pub(super) fn proof_lines(v: &Verification) -> Vec<String> {
    v.per_statement
        .iter()
        .map(|p| {
            format!(
                "#{}: {}{}",
                p.statement,
                before_after(&p.before, &p.after),
                if p.used { "" } else { " (not used)" }
            )
        })
        .chain(
            (!v.alongside.is_empty())
                .then(|| format!("(before: with {} in place)", v.alongside.join(", "))),
        )
        .collect()
}

pub(super) fn size_cell(v: &Verification) -> String {
    match (v.method, v.size_bytes, v.estimated_size_bytes) {
        (VerifyMode::Build, Some(built), _) => fmt_bytes(built),
        (_, _, Some(estimate)) => format!("≈ {}", fmt_bytes(estimate)),
        (_, Some(hypo), None) => format!("≈ {} (HypoPG)", fmt_bytes(hypo)),
        _ => String::new(),
    }
}

/// `saves 210 ms, loses 0, upkeep 0 (0 entries per read): net 210 ms (12% of the statements'
/// time), ≈ 8.4 MB`: what net-benefit selection weighed.
fn weighed_text(v: &Verification, w: &Weighed) -> String {
    let figure = |value: f64| {
        if value == 0.0 {
            "0".to_owned()
        } else {
            number(value)
        }
    };
    let unit = &w.unit;
    let mut text = format!(
        "saves {} {unit}, loses {} {unit}, upkeep {} {unit}",
        figure(w.saved),
        figure(w.lost),
        figure(w.upkeep)
    );
    match w.entries_per_read {
        Some(entries) => {
            text.push_str(&format!(" ({} index entries per read", figure(entries)));
            if let (Some(all), Basis::PerHour) = (w.index_entries, w.basis) {
                text.push_str(&format!(", ≈ {} written per hour", figure(all)));
            }
            text.push(')');
        }
        None => text.push_str(" (table writes unknown)"),
    }
    if w.basis != Basis::Once {
        text.push_str(&format!(", {}", w.basis.phrase()));
    }
    text.push_str(&format!(
        ": net {} {unit} ({}% of the statements' {})",
        figure(w.net),
        figure(w.net_share_pct),
        if unit == "ms" { "time" } else { "cost" }
    ));
    if let Some(size) = w.size_bytes {
        let built = v.method == VerifyMode::Build && v.size_bytes == Some(size);
        text.push_str(&format!(
            ", {}{}",
            if built { "" } else { "≈ " },
            fmt_bytes(size)
        ));
    }
    if !v.alongside.is_empty() {
        text.push_str(" (beside the ones kept before it)");
    }
    text
}

fn statements_list(serves: &[usize]) -> String {
    serves
        .iter()
        .map(|s| format!("#{s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn verify_description(report: &SuggestReport) -> String {
    match report.verify.mode {
        VerifyMode::Hypo => "verified with HypoPG hypothetical indexes (planned cost)".into(),
        VerifyMode::Build => format!(
            "verified by building each index in a rolled-back transaction (median of {} EXPLAIN ANALYZE runs)",
            report.verify.runs
        ),
        VerifyMode::None => "not verified".into(),
    }
}

/// The report for a terminal (or a pipe: `width` None).
pub fn render_text<W: Write>(
    w: &mut W,
    report: &SuggestReport,
    width: Option<u16>,
) -> io::Result<()> {
    let columns = usize::from(super::text::usable_width(width).unwrap_or(DEFAULT_WIDTH));
    let planned = report
        .statements
        .iter()
        .filter(|s| s.error.is_none())
        .count();
    writeln!(
        w,
        "pgdiag suggest: {planned} of {} statement{} planned; {}; minimum improvement {}%",
        report.statements.len(),
        if report.statements.len() == 1 {
            ""
        } else {
            "s"
        },
        verify_description(report),
        percent(report.min_improvement_pct)
    )?;
    for statement in &report.statements {
        let how = match (&statement.error, statement.time_ms, statement.cost) {
            (Some(e), _, _) => format!(
                "not explained: {} (no suggestion judged for it; --apply goes on without it)",
                e.message
            ),
            (None, Some(t), _) => format!("{} ms (1 run)", number(t)),
            (None, None, Some(c)) if statement.planning == Planning::EstimatedAfterTimeout => {
                format!(
                    "not measured: {}; estimated plan, cost {}",
                    statement.notes.first().map_or("", String::as_str),
                    number(c)
                )
            }
            (None, None, Some(c)) => format!("generic plan, cost {}", number(c)),
            (None, None, None) => String::new(),
        };
        writeln!(
            w,
            "  #{} {}:{}  {}",
            statement.index, statement.source, statement.line, how
        )?;
    }

    if let Some(workload) = &report.workload {
        render_workload(w, workload)?;
    }

    let shown: Vec<&Suggestion> = report
        .suggestions
        .iter()
        .filter(|s| s.status != SuggestionStatus::Rejected)
        .collect();
    writeln!(w)?;
    if shown.is_empty() {
        writeln!(w, "No suggestion.")?;
    } else {
        writeln!(w, "Suggestions")?;
        // The table when it fits the width, else one block per suggestion (its DDL on lines of
        // its own, whole, to copy).
        let mut t = table();
        let mut blocks = Vec::new();
        t.set_header(vec![
            "id",
            "suggestion",
            "DDL",
            "serves",
            "before → after",
            "improvement",
            "size",
        ]);
        for s in &shown {
            let (figures, improvement, size) = match &s.verification {
                Some(v) => (
                    proof_lines(v).join("\n"),
                    v.improvement_pct
                        .map(|p| format!("{}%", percent(p)))
                        .unwrap_or_default(),
                    size_cell(v),
                ),
                None => ("unverified".into(), String::new(), String::new()),
            };
            t.add_row(vec![
                Cell::new(&s.id),
                Cell::new(what(s)),
                Cell::new(s.ddl.join(";\n")),
                Cell::new(statements_list(&s.serves)),
                Cell::new(&figures),
                Cell::new(&improvement).set_alignment(CellAlignment::Right),
                Cell::new(&size).set_alignment(CellAlignment::Right),
            ]);
            blocks.push(suggestion_block(s, &figures, &improvement, &size));
        }
        let table_text = t.to_string();
        if table_text.lines().all(|l| l.chars().count() <= columns) {
            writeln!(w, "{table_text}")?;
        } else {
            for block in blocks {
                write!(w, "{block}")?;
            }
        }
        let line = |w: &mut W, text: String| -> io::Result<()> {
            for line in wrap(&text, "", "      ", columns) {
                writeln!(w, "{line}")?;
            }
            Ok(())
        };
        for s in &shown {
            line(
                w,
                format!("  {} serves: {}", s.id, s.reason.replace('\n', "; ")),
            )?;
            if let Some(v) = &s.verification
                && let Some(weighed) = &v.weighed
            {
                line(
                    w,
                    format!("  {} weighed: {}", s.id, weighed_text(v, weighed)),
                )?;
            }
            for omitted in s.index().map_or(&[][..], |i| &i.include_omitted) {
                line(
                    w,
                    format!(
                        "  {} INCLUDE ({}) left out: {}",
                        s.id, omitted.column, omitted.reason
                    ),
                )?;
            }
        }
    }

    for s in &shown {
        if let Some(mv) = s.matview() {
            writeln!(w)?;
            writeln!(w, "{}: materialized view {}", s.id, mv.name)?;
            writeln!(w, "  refresh (schedule it): {}", mv.refresh_sql)?;
            for rewritten in &mv.rewritten {
                writeln!(
                    w,
                    "  statement #{} rewritten: {}",
                    rewritten.statement, rewritten.sql
                )?;
            }
            if let Some(matches) = mv.results_match {
                writeln!(
                    w,
                    "  results of the rewritten statements {}",
                    if matches { "match" } else { "DIFFER" }
                )?;
            }
        }
    }

    let rejected: Vec<&Suggestion> = report
        .suggestions
        .iter()
        .filter(|s| s.status == SuggestionStatus::Rejected)
        .collect();
    if !rejected.is_empty() {
        writeln!(w)?;
        writeln!(w, "Rejected")?;
        for s in rejected {
            writeln!(
                w,
                "  {} {}: {}",
                s.id,
                what(s),
                s.rejected_reason.as_deref().unwrap_or("rejected")
            )?;
            if let Some(v) = &s.verification
                && let Some(weighed) = &v.weighed
            {
                writeln!(w, "    weighed: {}", weighed_text(v, weighed))?;
            }
        }
    }

    if !report.no_suggestions.is_empty() {
        writeln!(w)?;
        writeln!(w, "No suggestion")?;
        for n in &report.no_suggestions {
            for line in wrap(
                &format!("  #{}: {}", n.statement, n.reason),
                "",
                "      ",
                columns,
            ) {
                writeln!(w, "{line}")?;
            }
        }
    }

    if let Some(drops) = report.drops.as_ref().filter(|d| !d.findings.is_empty()) {
        writeln!(w)?;
        writeln!(
            w,
            "Indexes that can go ({} in all, statistics {}; `pgdiag indexes --drop` drops them, --apply never does)",
            fmt_bytes(drops.reclaimable_bytes),
            drops.statistics.description
        )?;
        for f in &drops.findings {
            writeln!(
                w,
                "  {} {}.{} ({}): {}",
                f.kind.as_str(),
                f.schema,
                f.index,
                fmt_bytes(f.size_bytes),
                f.reason
            )?;
            writeln!(w, "    {}", f.drop_sql)?;
        }
    }

    if let Some(saves) = report.workload.as_ref().and_then(|wl| wl.saves_per_hour_ms) {
        writeln!(w)?;
        let share = report
            .workload
            .as_ref()
            .and_then(|wl| wl.saves_share_pct)
            .map(|p| format!(" ({}% of the database's time)", percent(p)))
            .unwrap_or_default();
        writeln!(
            w,
            "Over the workload: the kept suggestions save ≈ {} ms of database time per hour{share}",
            fmt_ms(saves)
        )?;
        for saving in report.workload.iter().flat_map(|wl| &wl.suggestions) {
            writeln!(
                w,
                "  {} alone: ≈ {} ms per hour",
                saving.id,
                fmt_ms(saving.saves_per_hour_ms)
            )?;
        }
    }

    if !report.combined.is_empty() {
        writeln!(w)?;
        writeln!(w, "Every statement with every kept suggestion together")?;
        for c in &report.combined {
            writeln!(
                w,
                "  #{}: {}  ({})",
                c.statement,
                noise::describe(&c.before, &c.after),
                c.after.plan
            )?;
        }
    }

    let statement_notes: Vec<String> = report
        .statements
        .iter()
        .flat_map(|s| s.notes.iter().map(move |n| format!("#{}: {n}", s.index)))
        .collect();
    if !report.notes.is_empty() || !statement_notes.is_empty() {
        writeln!(w)?;
        writeln!(w, "Notes")?;
        for note in report.notes.iter().chain(&statement_notes) {
            writeln!(w, "  - {note}")?;
        }
    }
    if let Some(apply) = &report.apply {
        writeln!(w)?;
        render_apply(w, apply)?;
    }
    Ok(())
}

/// Workload mode: where the statements came from and how often each runs.
pub fn render_workload(w: &mut impl Write, workload: &WorkloadSection) -> io::Result<()> {
    writeln!(w)?;
    let window = workload
        .window_s
        .map(|s| format!(" over {}", human_span(s)))
        .unwrap_or_default();
    let from = match &workload.path {
        Some(path) => format!("{} {path}", workload.source),
        None => workload.source.clone(),
    };
    writeln!(
        w,
        "Workload: {from}, {} statement{}{window}, {} ms of database time; the first {} by total time:",
        workload.statements_in_workload,
        if workload.statements_in_workload == 1 {
            ""
        } else {
            "s"
        },
        fmt_ms(workload.database_time_ms),
        workload.statements.len()
    )?;
    for e in &workload.statements {
        let rate = match e.calls_per_hour {
            Some(h) => format!("{} calls/h", fmt_count(h)),
            None => format!("{} calls", fmt_count(e.calls as f64)),
        };
        writeln!(
            w,
            "  #{}  {rate} · mean {} ms · {}% of the time",
            e.statement,
            fmt_ms(e.mean_ms),
            percent(e.share_pct)
        )?;
        for how in &e.params {
            writeln!(w, "      {how}")?;
        }
        if let Some(reason) = &e.generic_reason {
            writeln!(w, "      generic plan: {reason}")?;
        }
    }
    if !workload.skipped.is_empty() {
        writeln!(w, "  left out: {}", workload.skipped.len())?;
        for skip in workload.skipped.iter().take(5) {
            let query: String = skip.query.chars().take(60).collect();
            writeln!(w, "    {query}: {}", skip.reason)?;
        }
    }
    Ok(())
}

/// `42 s`, `3.5 min`, `2.0 h`, `3.2 days`.
fn human_span(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else if seconds < 3.0 * 86400.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.1} days", seconds / 86400.0)
    }
}

/// What `--apply` did and the statements' plans before and after.
pub fn render_apply(w: &mut impl Write, apply: &ApplySection) -> io::Result<()> {
    // The header says what happened: only changes that were made are "Applied".
    let header = match apply.status {
        ApplyStatus::Applied => "Applied",
        ApplyStatus::NotConfirmed => "Not applied",
        ApplyStatus::NothingToApply => "Nothing applied",
        ApplyStatus::Failed => "Applying stopped",
    };
    if apply.reason.is_empty() {
        writeln!(w, "{header}")?;
    } else {
        writeln!(w, "{header}: {}", apply.reason)?;
    }
    for left_out in &apply.statements_left_out {
        writeln!(w, "  #{}: {}", left_out.statement, left_out.reason)?;
    }
    for change in &apply.changes {
        let status = match change.status {
            ChangeStatus::Created => "created",
            ChangeStatus::AlreadyExisted => "already existed",
            ChangeStatus::Failed => "FAILED",
            ChangeStatus::Skipped => "not created",
            ChangeStatus::Reverted => "REVERTED",
        };
        write!(w, "  {} {} {status}", change.id, change.name)?;
        if let Some(ms) = change.elapsed_ms {
            write!(w, " in {} ms", number(ms))?;
        }
        if let Some(size) = change.size_bytes {
            write!(w, ", {}", fmt_bytes(size))?;
        }
        if change.dropped_invalid {
            write!(w, " (dropped the INVALID index it left)")?;
        }
        if let Some(message) = &change.message {
            write!(w, ": {message}")?;
        }
        writeln!(w)?;
        // What a build waited for is said in the failure itself when it gave up.
        for wait in change.waits.iter().filter(|w| !w.gave_up) {
            writeln!(w, "    {wait}")?;
        }
        if let Some(sql) = &change.invalid_left {
            writeln!(
                w,
                "    an INVALID index is left: drop it with `{sql};` (the next --apply that builds this index drops it first)"
            )?;
        }
    }
    if let Some(error) = &apply.error {
        writeln!(w, "  stopped: {error}")?;
    }
    if !apply.after.is_empty() {
        writeln!(w, "After applying")?;
        for a in &apply.after {
            match &a.plan_change {
                Some(change) => writeln!(
                    w,
                    "  #{}: {}; plan: {change}",
                    a.statement,
                    noise::describe(&a.before, &a.after)
                )?,
                None => writeln!(
                    w,
                    "  #{}: {}",
                    a.statement,
                    noise::describe(&a.before, &a.after)
                )?,
            }
            if let Some(rewritten) = &a.rewritten {
                writeln!(
                    w,
                    "      rewritten: {}  ({})",
                    before_after(&a.before, rewritten),
                    rewritten.plan
                )?;
            }
        }
    }
    Ok(())
}

fn scripted(report: &SuggestReport, options: ScriptOptions) -> impl Iterator<Item = &Suggestion> {
    report
        .actionable()
        .filter(move |s| s.kind() == SuggestionKind::Index || options.with_matviews)
}

/// `--dry-run`: the DDL only, one statement per line.
pub fn render_ddl(
    w: &mut impl Write,
    report: &SuggestReport,
    options: ScriptOptions,
) -> io::Result<()> {
    for s in scripted(report, options) {
        for ddl in &s.ddl {
            writeln!(w, "{ddl};")?;
        }
    }
    Ok(())
}

/// `--output FILE`: a migration file, each change preceded by what it serves and what it gains.
pub fn render_migration(
    w: &mut impl Write,
    report: &SuggestReport,
    options: ScriptOptions,
) -> io::Result<()> {
    writeln!(
        w,
        "-- Generated by pgdiag {} (pgdiag suggest) against {} (PostgreSQL {}).",
        report.pgdiag_version, report.server.target, report.server.version
    )?;
    writeln!(w, "-- Suggestions {}.", verify_description(report))?;
    writeln!(
        w,
        "-- CREATE INDEX CONCURRENTLY cannot run inside a transaction block: run this file as is"
    )?;
    writeln!(
        w,
        "-- (psql -f), or mark the migration as non-transactional in your migration tool."
    )?;
    for s in scripted(report, options) {
        writeln!(w)?;
        writeln!(w, "-- {}: {} [{}]", s.id, what(s), s.status.as_str())?;
        for line in s.reason.lines() {
            writeln!(w, "--   serves: {line}")?;
        }
        for index in &s.serves {
            if let Some(statement) = report.statement(*index) {
                writeln!(
                    w,
                    "--   statement #{index} ({}:{})",
                    statement.source, statement.line
                )?;
            }
        }
        if let Some(v) = &s.verification {
            for p in &v.per_statement {
                writeln!(
                    w,
                    "--   #{}: {}{}",
                    p.statement,
                    before_after(&p.before, &p.after),
                    p.improvement_pct
                        .map(|i| format!(" ({}% better)", percent(i)))
                        .unwrap_or_default()
                )?;
            }
            if let Some(size) = v.size_bytes {
                writeln!(w, "--   size: {}", fmt_bytes(size))?;
            }
        }
        if let Some(mv) = s.matview() {
            writeln!(w, "--   refresh it on a schedule: {};", mv.refresh_sql)?;
            for rewritten in &mv.rewritten {
                writeln!(
                    w,
                    "--   statement #{} reads it as: {}",
                    rewritten.statement,
                    rewritten.sql.replace('\n', " ")
                )?;
            }
        }
        for ddl in &s.ddl {
            writeln!(w, "{ddl};")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::FindingRule;
    use crate::diagnose::RuleId;
    use crate::report::ServerInfo;
    use crate::suggest::report::{
        IndexInfo, MatviewInfo, SCHEMA_VERSION, StatementEntry, VerifyInfo,
    };

    fn report() -> SuggestReport {
        let index = Suggestion {
            id: "s1".into(),
            status: SuggestionStatus::Kept,
            rejected_reason: None,
            reason: "Seq Scan on reviews: filter (product_id = 42)".into(),
            serves: vec![1],
            ddl: vec![
                r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "r_idx" ON "public"."reviews" ("product_id")"#
                    .into(),
            ],
            object: SuggestedObject::Index(IndexInfo {
                schema: Some("public".into()),
                table: "reviews".into(),
                name: "r_idx".into(),
                method: "btree".into(),
                columns: Vec::new(),
                include: Vec::new(),
                include_omitted: Vec::new(),
                predicate: None,
                requires_extension: None,
                finding_rules: vec![FindingRule::Rule(RuleId::SeqScan)],
            }),
            verification: None,
        };
        let view = Suggestion {
            id: "s2".into(),
            status: SuggestionStatus::Unverified,
            reason: "replaces aggregating reviews".into(),
            ddl: vec![
                "CREATE MATERIALIZED VIEW v".into(),
                "CREATE UNIQUE INDEX v_key".into(),
            ],
            object: SuggestedObject::Matview(MatviewInfo {
                schema: None,
                name: "v".into(),
                base_table: "reviews".into(),
                key_columns: vec!["product_id".into()],
                create_sql: "CREATE MATERIALIZED VIEW v".into(),
                unique_index_sql: "CREATE UNIQUE INDEX v_key".into(),
                refresh_sql: "REFRESH MATERIALIZED VIEW CONCURRENTLY v".into(),
                rewritten: Vec::new(),
                results_match: None,
            }),
            ..index.clone()
        };
        let rejected = Suggestion {
            id: "s3".into(),
            status: SuggestionStatus::Rejected,
            rejected_reason: Some("planner does not use it".into()),
            ..index.clone()
        };
        SuggestReport {
            schema_version: SCHEMA_VERSION,
            pgdiag_version: "0.1.0".into(),
            server: ServerInfo {
                version: "15".into(),
                version_num: 150000,
                target: "postgres@localhost:5432/shop".into(),
            },
            verify: VerifyInfo {
                mode: VerifyMode::Hypo,
                requested: "auto".into(),
                runs: 3,
                note: None,
            },
            min_improvement_pct: 10.0,
            statements: vec![StatementEntry {
                index: 1,
                source: "q.sql".into(),
                line: 3,
                sql: "SELECT 1".into(),
                planning: crate::suggest::report::Planning::Analyze,
                parameters: 0,
                cost: Some(10.0),
                time_ms: Some(1.0),
                plan: "Seq Scan on reviews".into(),
                findings: Vec::new(),
                notes: Vec::new(),
                error: None,
            }],
            suggestions: vec![index, view, rejected],
            no_suggestions: Vec::new(),
            combined: Vec::new(),
            notes: Vec::new(),
            apply: None,
            workload: None,
            drops: None,
        }
    }

    #[test]
    fn dry_run_lists_kept_and_unverified_ddl_views_only_when_asked() {
        let mut out = Vec::new();
        render_ddl(
            &mut out,
            &report(),
            ScriptOptions {
                with_matviews: false,
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"r_idx\" ON \"public\".\"reviews\" (\"product_id\");\n"
        );
        let mut out = Vec::new();
        render_ddl(
            &mut out,
            &report(),
            ScriptOptions {
                with_matviews: true,
            },
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("CREATE MATERIALIZED VIEW v;\nCREATE UNIQUE INDEX v_key;\n"),
            "{text}"
        );
    }

    #[test]
    fn migration_says_what_each_change_serves_and_how_to_run_it() {
        let mut out = Vec::new();
        render_migration(
            &mut out,
            &report(),
            ScriptOptions {
                with_matviews: true,
            },
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "-- Generated by pgdiag 0.1.0 (pgdiag suggest) against postgres@localhost:5432/shop"
            ),
            "{text}"
        );
        assert!(
            text.contains("cannot run inside a transaction block"),
            "{text}"
        );
        assert!(text.contains("-- s1: index on reviews () [kept]"), "{text}");
        assert!(
            text.contains("--   serves: Seq Scan on reviews: filter (product_id = 42)"),
            "{text}"
        );
        assert!(text.contains("--   statement #1 (q.sql:3)"), "{text}");
        assert!(
            text.contains(
                "--   refresh it on a schedule: REFRESH MATERIALIZED VIEW CONCURRENTLY v;"
            ),
            "{text}"
        );
        assert!(
            !text.contains("s3"),
            "rejected suggestions stay out: {text}"
        );
    }

    #[test]
    fn apply_says_under_which_name_what_was_waited_for_and_what_is_left() {
        use crate::suggest::report::{
            BlockingSession, BuildWait, ChangeEntry, SuggestionKind, WaitKind,
        };
        let entry = |name: &str, status| ChangeEntry {
            id: "s1".into(),
            kind: SuggestionKind::Index,
            name: name.into(),
            status,
            elapsed_ms: Some(1500.0),
            size_bytes: Some(8192),
            dropped_invalid: false,
            message: None,
            suggested_name: None,
            waits: Vec::new(),
            invalid_left: None,
        };
        let wait = BuildWait {
            kind: WaitKind::Snapshot,
            waited_ms: 1200.0,
            limit_ms: 180_000.0,
            gave_up: false,
            phase: Some("waiting for old snapshots".into()),
            blockers: vec![BlockingSession {
                pid: 4242,
                state: Some("idle in transaction".into()),
                transaction_age_ms: Some(12_500.0),
                query: Some("SELECT 1".into()),
            }],
        };
        let apply = ApplySection {
            changes: vec![
                ChangeEntry {
                    suggested_name: Some("t_a_idx".into()),
                    message: Some(r#"a table is named "t_a_idx": built as "t_a_idx_1""#.into()),
                    waits: vec![wait],
                    ..entry("t_a_idx_1", ChangeStatus::Created)
                },
                ChangeEntry {
                    message: Some("gave up: ...".into()),
                    invalid_left: Some(
                        r#"DROP INDEX CONCURRENTLY IF EXISTS "public"."t_b_idx""#.into(),
                    ),
                    ..entry("t_b_idx", ChangeStatus::Failed)
                },
            ],
            error: Some("index t_b_idx failed".into()),
            ..ApplySection::default()
        };
        let mut out = Vec::new();
        render_apply(&mut out, &apply).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                r#"  s1 t_a_idx_1 created in 1500 ms, 8.0 kB: a table is named "t_a_idx": built as "t_a_idx_1""#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "    waited 1.2 s for older transactions to end (--build-wait 180.0 s; phase: waiting for old snapshots); blocked by pid 4242 (idle in transaction, transaction open 12.5 s): SELECT 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"    an INVALID index is left: drop it with `DROP INDEX CONCURRENTLY IF EXISTS "public"."t_b_idx";` (the next --apply that builds this index drops it first)"#
            ),
            "{text}"
        );
    }

    #[test]
    fn numbers_and_sizes_read_well() {
        assert_eq!(number(3580.4), "3580");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(0.01234), "0.012");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(4_530_176), "4.3 MB");
    }

    /// Declining `--apply`'s prompt is not "Applied": the header says nothing was, and each
    /// change says it was not created and why (issue 14's small surprise).
    #[test]
    fn a_declined_apply_says_not_applied() {
        let report = report();
        let mut section = ApplySection::default();
        for s in report.actionable() {
            section
                .changes
                .push(crate::suggest::skipped(s, crate::suggest::NOT_CONFIRMED));
        }
        section.conclude(&report.statements);
        assert_eq!(section.status, ApplyStatus::NotConfirmed);
        let mut out = Vec::new();
        render_apply(&mut out, &section).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("Not applied: not confirmed: nothing was created\n"),
            "{text}"
        );
        assert!(!text.contains("Applied"), "{text}");
        assert!(!text.contains("skipped"), "{text}");
        assert!(
            text.contains("s1 r_idx not created: not confirmed"),
            "{text}"
        );

        // Views left out for want of --with-matviews beside the declined indexes: still declined.
        let mut section = ApplySection::default();
        section.changes.push(crate::suggest::skipped(
            &report.suggestions[1],
            "materialized views need --with-matviews",
        ));
        section.changes.push(crate::suggest::skipped(
            &report.suggestions[0],
            crate::suggest::NOT_CONFIRMED,
        ));
        section.conclude(&report.statements);
        assert_eq!(section.status, ApplyStatus::NotConfirmed);
    }

    /// A suggestion measured beside the ones kept before it says so in its before → after:
    /// its "before" is not the statement's first measurement (issue 14's small surprise).
    #[test]
    fn before_after_says_what_was_in_place() {
        let mut report = report();
        let measure = |cost: f64| Measure {
            cost: Some(cost),
            time_ms: None,
            time_min_ms: None,
            time_max_ms: None,
            runs: None,
            plan: "Index Scan".into(),
            plan_nodes: None,
        };
        let verification = |alongside: Vec<String>, before: f64, after: f64| {
            Some(crate::suggest::report::Verification {
                method: VerifyMode::Hypo,
                per_statement: vec![crate::suggest::report::StatementVerification {
                    statement: 1,
                    before: measure(before),
                    after: measure(after),
                    used: true,
                    improvement_pct: Some(50.0),
                }],
                improvement_pct: Some(50.0),
                size_bytes: None,
                build_ms: None,
                alongside,
                estimated_size_bytes: None,
                harms: Vec::new(),
                weighed: None,
                lost_to: None,
            })
        };
        report.suggestions[0].verification = verification(Vec::new(), 1000.0, 100.0);
        let mut second = report.suggestions[0].clone();
        second.id = "s4".into();
        second.verification = verification(vec!["s1".into()], 100.0, 50.0);
        report.suggestions = vec![report.suggestions[0].clone(), second];
        let mut out = Vec::new();
        render_text(&mut out, &report, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.matches("(before: with s1 in place)").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn suggest_markdown_snapshot() {
        let mut report = report();
        report.statements[0].sql = "SELECT * FROM reviews WHERE note = 'a|b' AND n < 3".into();
        let mut out = Vec::new();
        crate::report::markdown::render_suggest(&mut out, &report).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }
}
