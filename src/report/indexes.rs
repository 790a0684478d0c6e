//! Renderers for `pgdiag indexes`: the findings as a table with each one's reason and drop
//! statement, the statistics' age, the reclaimable total, and what `--drop` did; and the JSON
//! document (docs/indexes-report.md).

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::text::{DEFAULT_WIDTH, usable_width, wrap};
use crate::suggest::hygiene::{DropStatus, IndexesReport};
use crate::units::{fmt_bytes, fmt_count};

/// The report for people, fitting `width` (a terminal's; `None`: the default width).
pub fn render_text<W: Write>(
    w: &mut W,
    report: &IndexesReport,
    width: Option<u16>,
) -> io::Result<()> {
    writeln!(
        w,
        "pgdiag {} indexes: {}",
        report.pgdiag_version,
        super::describe_target(&report.server.target, &report.server.version)
    )?;
    let columns = usize::from(usable_width(width).unwrap_or(DEFAULT_WIDTH));
    let say = |w: &mut W, text: String| -> io::Result<()> {
        for line in wrap(&text, "", "  ", columns) {
            writeln!(w, "{line}")?;
        }
        Ok(())
    };
    say(w, format!("Statistics: {}.", report.statistics.description))?;
    for caveat in &report.statistics.caveats {
        say(w, format!("Note: {caveat}."))?;
    }
    let kinds: Vec<&str> = report.kinds.iter().map(|k| k.as_str()).collect();
    if report.findings.is_empty() {
        say(
            w,
            format!(
                "No index to drop among the {} examined (looked for: {}).",
                report.indexes_examined,
                kinds.join(", ")
            ),
        )?;
        return Ok(());
    }
    say(
        w,
        format!(
            "{} of {} indexes can go (looked for: {}): {} reclaimable.",
            report.findings.len(),
            report.indexes_examined,
            kinds.join(", "),
            fmt_bytes(report.reclaimable_bytes)
        ),
    )?;
    writeln!(w)?;
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.force_no_tty();
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header([
        "#",
        "kind",
        "index",
        "table",
        "size",
        "scans",
        "kept instead",
    ]);
    for (i, f) in report.findings.iter().enumerate() {
        table.add_row(vec![
            Cell::new(i + 1).set_alignment(CellAlignment::Right),
            Cell::new(f.kind.as_str()),
            Cell::new(format!("{}.{}", f.schema, f.index)),
            Cell::new(&f.table),
            Cell::new(fmt_bytes(f.size_bytes)).set_alignment(CellAlignment::Right),
            Cell::new(fmt_count(f.scans as f64)).set_alignment(CellAlignment::Right),
            Cell::new(f.kept.as_deref().unwrap_or("")),
        ]);
    }
    // The table when it fits the width; else each finding below says what its row would.
    let table = table.to_string();
    let fits = table.lines().all(|l| l.chars().count() <= columns);
    if fits {
        writeln!(w, "{table}")?;
    }
    for (i, f) in report.findings.iter().enumerate() {
        if fits || i > 0 {
            writeln!(w)?;
        }
        writeln!(w, "{}. {} {}.{}", i + 1, f.kind, f.schema, f.index)?;
        if !fits {
            let mut facts = vec![
                format!("on {}", f.table),
                fmt_bytes(f.size_bytes),
                format!("{} scans", fmt_count(f.scans as f64)),
            ];
            if let Some(kept) = &f.kept {
                facts.push(format!("kept instead: {kept}"));
            }
            for line in wrap(&facts.join(" · "), "   ", "     ", columns) {
                writeln!(w, "{line}")?;
            }
        }
        for line in wrap(&format!("{}.", f.reason), "   ", "     ", columns) {
            writeln!(w, "{line}")?;
        }
        // The DDL on one line, to copy whole.
        writeln!(w, "   {}", f.drop_sql)?;
    }
    match &report.drops {
        None => {
            writeln!(w)?;
            say(
                w,
                "Nothing was dropped: run again with --drop to drop these (one at a time, concurrently, each re-checked first).".into(),
            )?;
        }
        Some(drops) => {
            writeln!(w)?;
            let dropped = drops
                .iter()
                .filter(|d| d.status == DropStatus::Dropped)
                .count();
            writeln!(
                w,
                "Dropped {dropped} of {} ({} freed):",
                drops.len(),
                fmt_bytes(report.dropped_bytes())
            )?;
            for d in drops {
                let status = match d.status {
                    DropStatus::Dropped => "dropped",
                    DropStatus::Failed => "FAILED",
                    DropStatus::Skipped => "skipped",
                };
                match &d.message {
                    Some(message) => {
                        say(w, format!("  {status} {}.{}: {message}", d.schema, d.index))?
                    }
                    None => writeln!(w, "  {status} {}.{}", d.schema, d.index)?,
                }
            }
        }
    }
    Ok(())
}

/// The versioned JSON document.
pub fn render_json(w: &mut impl Write, report: &IndexesReport) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, report)?;
    writeln!(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advise::hygiene::{
        HygieneAdvice, HygieneFinding, HygieneKind, StatisticsSummary, drop_sql,
    };
    use crate::pg::ServerInfo;
    use crate::suggest::hygiene::DropResult;

    fn report() -> IndexesReport {
        let finding = |kind, index: &str, kept: Option<&str>, reason: &str| HygieneFinding {
            kind,
            schema: "public".into(),
            table: "orders".into(),
            index: index.into(),
            definition: format!("CREATE INDEX {index} ON public.orders USING btree (x)"),
            size_bytes: 16_384,
            scans: 0,
            kept: kept.map(String::from),
            reason: reason.into(),
            drop_sql: drop_sql("public", index),
        };
        let advice = HygieneAdvice {
            statistics: StatisticsSummary {
                reset_age_secs: Some(30.0 * 86_400.0),
                description: "reset 30 days ago".into(),
                short_window: false,
                caveats: vec![],
            },
            findings: vec![
                finding(
                    HygieneKind::Duplicate,
                    "orders_x_idx1",
                    Some("orders_x_idx"),
                    "same definition as \"orders_x_idx\"",
                ),
                finding(HygieneKind::Unused, "orders_note_idx", None, "no scan"),
            ],
            indexes_examined: 5,
            reclaimable_bytes: 32_768,
        };
        IndexesReport {
            pgdiag_version: "0.0.0".into(),
            ..IndexesReport::new(
                ServerInfo {
                    version: "15.18".into(),
                    version_num: 150018,
                    target: "postgres@localhost:5432/shop".into(),
                },
                advice,
                &HygieneKind::ALL,
            )
        }
    }

    #[test]
    fn text_lists_findings_with_their_drops() {
        let mut out = Vec::new();
        render_text(&mut out, &report(), Some(100)).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    /// Issue 14: at 80 columns, a table that does not fit gives way to the list below it.
    #[test]
    fn text_at_80_columns_lists_each_finding_whole() {
        let mut report = report();
        report.findings[0].index =
            "orders_customer_id_created_at_status_amount_covering_idx".into();
        report.findings[0].drop_sql = format!(
            "DROP INDEX CONCURRENTLY IF EXISTS \"public\".\"{}\";",
            report.findings[0].index
        );
        let mut out = Vec::new();
        render_text(&mut out, &report, Some(80)).unwrap();
        let out = String::from_utf8(out).unwrap();
        for line in out.lines().filter(|l| !l.contains("DROP INDEX")) {
            assert!(line.chars().count() <= 80, "{line}\n{out}");
        }
        assert!(!out.contains('┆'), "{out}");
        insta::assert_snapshot!(out);
    }

    #[test]
    fn text_after_drop_says_what_each_drop_did() {
        let mut report = report();
        report.drops = Some(vec![
            DropResult {
                kind: HygieneKind::Duplicate,
                schema: "public".into(),
                index: "orders_x_idx1".into(),
                status: DropStatus::Dropped,
                size_bytes: 16_384,
                message: None,
            },
            DropResult {
                kind: HygieneKind::Unused,
                schema: "public".into(),
                index: "orders_note_idx".into(),
                status: DropStatus::Skipped,
                size_bytes: 16_384,
                message: Some("it was scanned since it was judged (1 scan now)".into()),
            },
        ]);
        let mut out = Vec::new();
        render_text(&mut out, &report, Some(100)).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    #[test]
    fn only_the_chosen_kinds_are_kept_and_counted() {
        let server = report().server;
        let advice = HygieneAdvice {
            statistics: report().statistics,
            findings: report().findings,
            indexes_examined: 5,
            reclaimable_bytes: 32_768,
        };
        let only = IndexesReport::new(server, advice, &[HygieneKind::Unused]);
        assert_eq!(only.findings.len(), 1);
        assert_eq!(only.findings[0].index, "orders_note_idx");
        assert_eq!(only.reclaimable_bytes, 16_384);
        let mut out = Vec::new();
        render_json(&mut out, &only).unwrap();
        let back: IndexesReport = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, only);
    }
}
