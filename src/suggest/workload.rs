//! Workload mode: the statements of a workload (`pg_stat_statements`, a server log, or query
//! files with expected call rates for `cache-advice`: [`from_files`]) as the inputs `suggest`,
//! `explain` and `cache-advice` work on.
//!
//! The first `top` statements by total time are taken (utility statements — `SET`, `BEGIN`,
//! `COMMIT`, DDL — and texts the role may not read are left out, with why). Each counts in the
//! workload as often as it runs ([`super::benefit::Weights`]: calls per hour over the workload's
//! window, or its calls when the window is unknown). A statement with `$n` runs with the values a
//! log gave with it, else, when execution is allowed, with values sampled from `pg_stats`
//! ([`crate::pg::sample`]); failing both it is planned generically, with the reason.
//! [`conclude`] says what the kept suggestions save per hour.

use tokio_postgres::Client;

use super::pipeline::StatementInput;
use super::report::{
    Basis, Planning, SuggestReport, Verdict, WorkloadEntry, WorkloadSaving, WorkloadSection,
    WorkloadSkip,
};
use crate::input::{OrderBy, Workload, WorkloadSource, WorkloadStatement};
use crate::pg::{self, ParamValue, StatementKind, split_statements};

/// How many statements workload mode takes by default (`--top`).
pub const DEFAULT_TOP: usize = 10;

/// The statements taken from a workload, ready for the pipeline, and the report's section.
#[derive(Debug, Clone)]
pub struct WorkloadInputs {
    pub inputs: Vec<StatementInput>,
    pub section: WorkloadSection,
    /// What the statements' weights are per.
    pub basis: Basis,
}

/// The first `top` statements of `workload` by total time as inputs; `sample` allows `$n` values
/// to be sampled from `pg_stats` through `client` (the statements will be executed).
pub async fn inputs(
    client: &Client,
    workload: &Workload,
    top: usize,
    sample: bool,
) -> Result<WorkloadInputs, pg::Error> {
    let basis = if workload.window.is_some_and(|w| !w.is_zero()) {
        Basis::PerHour
    } else {
        Basis::Calls
    };
    let database_time_ms = workload.total_ms();
    let (source, path) = match &workload.source {
        WorkloadSource::PgStatStatements { .. } => ("pg_stat_statements".to_owned(), None),
        WorkloadSource::Log { path, .. } => ("log".to_owned(), Some(path.clone())),
    };
    let mut section = WorkloadSection {
        source,
        path,
        window_s: workload.window.map(|w| w.as_secs_f64()),
        basis,
        statements_in_workload: workload.statements.len(),
        database_time_ms,
        ..WorkloadSection::default()
    };
    let ranked = workload.ranked(OrderBy::TotalTime, None, 0);
    // The same statement once its typed literals are cast (`date $3` as the application sent it,
    // `$3::date` as a tool ran it, pgdiag's own runs included) is one statement: the
    // application's text is kept, whatever ranks first.
    let mut preferred: std::collections::BTreeMap<String, usize> = Default::default();
    for (position, statement) in ranked.iter().enumerate() {
        let text = pg::sample::executable(&statement.query);
        let original = text != statement.query;
        match preferred.get(&text) {
            Some(&kept)
                if !(original
                    && pg::sample::executable(&ranked[kept].query) == ranked[kept].query) => {}
            _ => {
                preferred.insert(text, position);
            }
        }
    }
    let mut inputs = Vec::new();
    for (position, statement) in ranked.iter().enumerate() {
        if inputs.len() >= top {
            break;
        }
        let text = pg::sample::executable(&statement.query);
        if preferred.get(&text) != Some(&position) {
            section.skipped.push(WorkloadSkip {
                query: one_line(&statement.query),
                reason: "the same statement as another once its literals are cast (a tool's runs of it, pgdiag's own included)".into(),
            });
            continue;
        }
        let Some(sql) = explainable(statement, &mut section.skipped) else {
            continue;
        };
        let index = inputs.len() + 1;
        let (params, how, generic_reason) =
            params_for(client, statement, &sql.text, sample).await?;
        let weight = match basis {
            Basis::PerHour => workload.calls_per_hour(statement).unwrap_or(0.0),
            _ => statement.calls as f64,
        };
        section.statements.push(WorkloadEntry {
            statement: index,
            queryid: statement.queryid,
            calls: statement.calls,
            calls_per_hour: workload.calls_per_hour(statement),
            mean_ms: statement.mean_ms,
            total_ms: statement.total_ms,
            share_pct: if database_time_ms > 0.0 {
                statement.total_ms / database_time_ms * 100.0
            } else {
                0.0
            },
            params: how,
            generic_reason,
            first_seen: statement.first_seen.clone(),
            saves_per_hour_ms: None,
        });
        inputs.push(StatementInput {
            source: match &statement.first_seen {
                Some(seen) => seen.clone(),
                None => match statement.queryid {
                    Some(id) => format!("pg_stat_statements (queryid {id})"),
                    None => section.source.clone(),
                },
            },
            statement: pg::SqlStatement { index, ..sql },
            params,
            weight: weight.max(f64::MIN_POSITIVE),
        });
    }
    Ok(WorkloadInputs {
        inputs,
        section,
        basis,
    })
}

/// The statements of query files, each with its expected calls per hour (`-- pgdiag: calls`,
/// `--calls`: [`crate::input::calls_per_hour`]), as the pipeline's inputs weighed by those calls.
/// Their mean time is not known yet: the pipeline measures it (EXPLAIN ANALYZE, rolled back) and
/// [`measured`] writes it in. A statement with `$n` and no `-- pgdiag: params` comment runs with
/// values sampled from `pg_stats`, as a workload's do; one EXPLAIN does not take is left out.
pub async fn from_files(
    client: &Client,
    statements: Vec<(crate::input::Statement, f64)>,
) -> Result<WorkloadInputs, pg::Error> {
    let mut section = WorkloadSection {
        source: "files".to_owned(),
        window_s: None,
        basis: Basis::PerHour,
        statements_in_workload: statements.len(),
        ..WorkloadSection::default()
    };
    let mut inputs = Vec::new();
    for (statement, calls_per_hour) in statements {
        let at = format!("{}:{}", statement.origin, statement.statement.line);
        if !matches!(statement.statement.kind, StatementKind::Explainable { .. }) {
            section.skipped.push(WorkloadSkip {
                query: one_line(&statement.statement.text),
                reason: format!(
                    "{at}: not a statement EXPLAIN takes (utility, DDL or transaction control)"
                ),
            });
            continue;
        }
        let index = inputs.len() + 1;
        let count = pg::sample::param_count(&statement.statement.text);
        let (params, how, generic_reason) = match statement.params {
            Some(values) => (Some(values), Vec::new(), None),
            None if count == 0 => (None, Vec::new(), None),
            None => match pg::sample::sample(client, &statement.statement.text).await? {
                Ok((values, how)) => (Some(values), how, None),
                Err(reason) => (None, Vec::new(), Some(reason)),
            },
        };
        section.statements.push(WorkloadEntry {
            statement: index,
            calls_per_hour: Some(calls_per_hour),
            params: how,
            generic_reason,
            first_seen: Some(at),
            ..WorkloadEntry::default()
        });
        inputs.push(StatementInput {
            source: statement.origin.to_string(),
            statement: pg::SqlStatement {
                index,
                ..statement.statement
            },
            params,
            weight: calls_per_hour.max(f64::MIN_POSITIVE),
        });
    }
    Ok(WorkloadInputs {
        inputs,
        section,
        basis: Basis::PerHour,
    })
}

/// For statements of query files ([`from_files`]): each one's mean time is the time the pipeline
/// measured it at (EXPLAIN ANALYZE); one it could not execute (an error, a generic plan, the
/// timeout) leaves the workload, with why. The section's database time is then per hour.
pub fn measured(report: &mut SuggestReport) {
    let Some(section) = report.workload.as_mut() else {
        return;
    };
    let mut kept = Vec::new();
    for mut entry in std::mem::take(&mut section.statements) {
        let Some(statement) = report
            .statements
            .iter()
            .find(|s| s.index == entry.statement)
        else {
            continue;
        };
        let why_not = match (statement.planning, statement.time_ms) {
            (Planning::Analyze, Some(ms)) => {
                entry.mean_ms = ms;
                entry.total_ms = ms * entry.calls_per_hour.unwrap_or(0.0);
                entry.calls = entry.calls_per_hour.unwrap_or(0.0).round() as u64;
                kept.push(entry);
                continue;
            }
            (Planning::Generic, _) => entry.generic_reason.clone().map_or_else(
                || "its $n have no values (give them in a `-- pgdiag: params` comment): its time cannot be measured".to_owned(),
                |reason| format!("its time cannot be measured: {reason} (give its $n values in a `-- pgdiag: params` comment)"),
            ),
            (Planning::EstimatedAfterTimeout, _) => {
                "it ran longer than --timeout under EXPLAIN ANALYZE: its time is not measured".to_owned()
            }
            _ => match &statement.error {
                Some(e) => format!("it could not be run: {}", e.message),
                None => "its time was not measured".to_owned(),
            },
        };
        section.skipped.push(WorkloadSkip {
            query: one_line(&statement.sql),
            reason: match &entry.first_seen {
                Some(at) => format!("{at}: {why_not}"),
                None => why_not,
            },
        });
    }
    section.database_time_ms = kept.iter().map(|e| e.total_ms).sum();
    for entry in &mut kept {
        entry.share_pct = if section.database_time_ms > 0.0 {
            entry.total_ms / section.database_time_ms * 100.0
        } else {
            0.0
        };
    }
    section.statements = kept;
}

/// The statement as pgdiag can explain it, or `None` with the reason in `skipped`.
fn explainable(
    statement: &WorkloadStatement,
    skipped: &mut Vec<WorkloadSkip>,
) -> Option<pg::SqlStatement> {
    let mut skip = |reason: &str| {
        skipped.push(WorkloadSkip {
            query: one_line(&statement.query),
            reason: reason.to_owned(),
        });
        None
    };
    if statement.query.trim() == "<insufficient privilege>" {
        return skip(
            "its text is hidden from this role (grant it pg_read_all_stats to read every user's statements)",
        );
    }
    let Ok(mut parts) = split_statements(&pg::sample::executable(&statement.query)) else {
        return skip("its text cannot be read as SQL");
    };
    if parts.len() != 1 {
        return skip("it holds several statements");
    }
    let sql = parts.remove(0);
    match &sql.kind {
        StatementKind::Explainable {
            had_explain: true, ..
        } => return skip("an EXPLAIN (a tool's, pgdiag's own included)"),
        StatementKind::Explainable { .. } => {}
        _ => return skip("not a statement EXPLAIN takes (utility, DDL or transaction control)"),
    }
    // Monitoring and tools' own queries (pgdiag's too): no table of the user's to index.
    if pg::sample::reads_no_user_table(&sql.text) {
        return skip("it reads no table of yours (only system catalogs or functions)");
    }
    Some(sql)
}

/// `$n` values for `statement`: the log's own, else sampled from `pg_stats` when allowed, else
/// none (a generic plan) with the reason.
async fn params_for(
    client: &Client,
    statement: &WorkloadStatement,
    sql: &str,
    sample: bool,
) -> Result<(Option<Vec<ParamValue>>, Vec<String>, Option<String>), pg::Error> {
    let count = pg::sample::param_count(sql);
    if count == 0 {
        return Ok((None, Vec::new(), None));
    }
    if let Some(values) = statement
        .sample_params
        .as_ref()
        .filter(|v| v.len() >= count)
    {
        let how = (1..=count)
            .map(|n| format!("${n}: the value the log shows"))
            .collect();
        let values = values[..count]
            .iter()
            .map(|v| v.clone().map_or(ParamValue::Null, ParamValue::Text))
            .collect();
        return Ok((Some(values), how, None));
    }
    if !sample {
        return Ok((
            None,
            Vec::new(),
            Some("not executed (--no-analyze): planned generically".into()),
        ));
    }
    Ok(match pg::sample::sample(client, sql).await? {
        Ok((values, how)) => (Some(values), how, None),
        Err(reason) => (None, Vec::new(), Some(reason)),
    })
}

/// Whitespace collapsed, for a line of a report.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the kept suggestions save per hour, from `report.combined` (every kept suggestion in
/// place): each statement's calls per hour × its mean time × the share they take off it (measured
/// times when both sides have them, else planned costs); a statement made slower counts against.
pub fn conclude(report: &mut SuggestReport) {
    let Some(mut section) = report.workload.take() else {
        return;
    };
    let mut total = None::<f64>;
    for entry in &mut section.statements {
        let Some(comparison) = report
            .combined
            .iter()
            .find(|c| c.statement == entry.statement)
        else {
            continue;
        };
        let ratio = match (
            comparison.before.time_ms,
            comparison.after.time_ms,
            comparison.before.cost,
            comparison.after.cost,
        ) {
            (Some(b), Some(a), ..) if b > 0.0 => a / b,
            (_, _, Some(b), Some(a)) if b > 0.0 => a / b,
            _ => continue,
        };
        let share = match comparison.verdict {
            Verdict::Faster | Verdict::Slower => 1.0 - ratio,
            Verdict::SamePlan | Verdict::WithinNoise => 0.0,
        };
        let Some(per_hour) = entry.calls_per_hour else {
            continue;
        };
        let saves = per_hour * entry.mean_ms * share;
        entry.saves_per_hour_ms = Some(saves);
        *total.get_or_insert(0.0) += saves;
    }
    section.saves_per_hour_ms = total;
    // Each kept suggestion on its own proof.
    section.suggestions = report
        .kept()
        .filter_map(|suggestion| {
            let verification = suggestion.verification.as_ref()?;
            let mut saves = None::<f64>;
            for p in &verification.per_statement {
                let Some(entry) = section
                    .statements
                    .iter()
                    .find(|e| e.statement == p.statement)
                else {
                    continue;
                };
                let ratio = match (
                    p.before.time_ms,
                    p.after.time_ms,
                    p.before.cost,
                    p.after.cost,
                ) {
                    (Some(b), Some(a), ..) if b > 0.0 => a / b,
                    (_, _, Some(b), Some(a)) if b > 0.0 => a / b,
                    _ => continue,
                };
                if let Some(per_hour) = entry.calls_per_hour {
                    *saves.get_or_insert(0.0) += per_hour * entry.mean_ms * (1.0 - ratio).max(0.0);
                }
            }
            Some(WorkloadSaving {
                id: suggestion.id.clone(),
                saves_per_hour_ms: saves?,
            })
        })
        .collect();
    section.saves_share_pct = total.and_then(|t| {
        let hours = section.window_s? / 3600.0;
        let per_hour = section.database_time_ms / hours;
        (per_hour > 0.0).then(|| t / per_hour * 100.0)
    });
    report.workload = Some(section);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suggest::report::{Measure, StatementComparison};

    #[test]
    fn what_the_kept_suggestions_save_per_hour() {
        let measure = |t: f64| Measure {
            cost: Some(t * 10.0),
            time_ms: Some(t),
            plan: format!("{t}"),
            ..Measure::default()
        };
        let mut report: SuggestReport = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "pgdiag_version": "0", "server": {"version": "15", "version_num": 150000, "target": "x"},
            "verify": {"mode": "build", "requested": "build", "runs": 3, "note": null},
            "min_improvement_pct": 10.0, "statements": [], "suggestions": [], "no_suggestions": [],
            "combined": [], "notes": [], "apply": null
        }))
        .unwrap();
        report.combined = vec![
            StatementComparison {
                statement: 1,
                before: measure(200.0),
                after: measure(2.0),
                verdict: Verdict::Faster,
            },
            StatementComparison {
                statement: 2,
                before: measure(1.0),
                after: measure(1.1),
                verdict: Verdict::WithinNoise,
            },
        ];
        report.workload = Some(WorkloadSection {
            window_s: Some(7200.0),
            database_time_ms: 2.0 * 3_600_000.0,
            statements: vec![
                WorkloadEntry {
                    statement: 1,
                    calls_per_hour: Some(100.0),
                    mean_ms: 250.0,
                    ..WorkloadEntry::default()
                },
                WorkloadEntry {
                    statement: 2,
                    calls_per_hour: Some(10_000.0),
                    mean_ms: 1.0,
                    ..WorkloadEntry::default()
                },
            ],
            ..WorkloadSection::default()
        });
        conclude(&mut report);
        let section = report.workload.unwrap();
        // 100 calls an hour × 250 ms × 99% (measured 200 → 2 ms); noise saves nothing.
        assert_eq!(section.statements[0].saves_per_hour_ms, Some(24_750.0));
        assert_eq!(section.statements[1].saves_per_hour_ms, Some(0.0));
        assert_eq!(section.saves_per_hour_ms, Some(24_750.0));
        // The database spends an hour an hour (2 h over 2 h): 24.75 s of it is 0.6875%.
        assert!((section.saves_share_pct.unwrap() - 0.6875).abs() < 1e-9);
    }

    #[test]
    fn files_take_the_measured_time_and_leave_out_what_was_not_run() {
        use crate::suggest::report::{Planning, StatementEntry, StatementError};
        let mut report: SuggestReport = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "pgdiag_version": "0", "server": {"version": "15", "version_num": 150000, "target": "x"},
            "verify": {"mode": "none", "requested": "none", "runs": 3, "note": null},
            "min_improvement_pct": 10.0, "statements": [], "suggestions": [], "no_suggestions": [],
            "combined": [], "notes": [], "apply": null
        }))
        .unwrap();
        let entry = |index: usize, planning: Planning, time_ms: Option<f64>| StatementEntry {
            index,
            source: "q.sql".into(),
            line: index,
            sql: format!("SELECT {index}"),
            planning,
            parameters: 0,
            cost: Some(1.0),
            time_ms,
            plan: String::new(),
            findings: Vec::new(),
            notes: Vec::new(),
            error: (planning == Planning::Failed).then(|| StatementError {
                message: "relation \"nope\" does not exist".into(),
                sqlstate: Some("42P01".into()),
            }),
        };
        report.statements = vec![
            entry(1, Planning::Analyze, Some(4.0)),
            entry(2, Planning::Generic, None),
            entry(3, Planning::Failed, None),
            entry(4, Planning::Analyze, Some(1.0)),
        ];
        let rated = |statement: usize, per_hour: f64| WorkloadEntry {
            statement,
            calls_per_hour: Some(per_hour),
            first_seen: Some(format!("q.sql:{statement}")),
            ..WorkloadEntry::default()
        };
        report.workload = Some(WorkloadSection {
            source: "files".into(),
            basis: Basis::PerHour,
            statements: vec![
                rated(1, 7200.0),
                rated(2, 60.0),
                rated(3, 60.0),
                rated(4, 1800.0),
            ],
            ..WorkloadSection::default()
        });
        measured(&mut report);
        let section = report.workload.unwrap();
        let kept: Vec<(usize, f64, f64)> = section
            .statements
            .iter()
            .map(|e| (e.statement, e.mean_ms, e.total_ms))
            .collect();
        assert_eq!(kept, [(1, 4.0, 28_800.0), (4, 1.0, 1_800.0)]);
        assert_eq!(section.database_time_ms, 30_600.0);
        assert!((section.statements[0].share_pct - 28_800.0 / 306.0).abs() < 1e-9);
        let reasons: Vec<&str> = section.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2);
        assert!(
            reasons[0].starts_with("q.sql:2: its $n have no values"),
            "{reasons:?}"
        );
        assert_eq!(
            reasons[1],
            "q.sql:3: it could not be run: relation \"nope\" does not exist"
        );
    }
}
