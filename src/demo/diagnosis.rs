//! Steps 2 and 4 of the demo: a seed query explained with the same runner, plan analysis and rules
//! as `pgdiag explain`, and timed (median of several EXPLAIN ANALYZE runs) for the before/after.

use std::time::Duration;

use crate::diagnose::{DiagnoseConfig, diagnose_with};
use crate::pg::{ExplainOptions, ParamValue, Runner, SqlStatement, split_statements};
use crate::plan::node_reports;
use crate::plan::{Analysis, Explain, NodeMetrics, analyze};

use super::{Error, QueryDiagnosis, Timing, median};

/// Generous: at scale 1.0 the slowest seed query takes about a second.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);

/// EXPLAIN ANALYZE (rolled back) of the seed query `name` with `params`, diagnosed; findings most
/// time at stake first.
pub async fn diagnose_query(
    runner: &mut Runner,
    name: &str,
    sql: &str,
    params: &[String],
    config: &DiagnoseConfig,
) -> Result<QueryDiagnosis, Error> {
    let (explain, analysis) = explain_once(runner, name, sql, params).await?;
    let mut findings = diagnose_with(&explain, &analysis, config).findings;
    findings.sort_by(|a, b| b.time_at_stake_ms.total_cmp(&a.time_at_stake_ms));
    Ok(QueryDiagnosis {
        query: name.to_string(),
        params: params.to_vec(),
        planning_ms: analysis.planning_time_ms,
        execution_ms: analysis.execution_time_ms,
        jit_ms: analysis.jit_total_ms,
        plan_nodes: analysis.nodes.iter().map(node_name).collect(),
        findings,
        nodes: node_reports(&explain, &analysis),
    })
}

/// The median execution and planning time of `runs` EXPLAIN ANALYZE runs of `sql`.
pub async fn measure_query(
    runner: &mut Runner,
    name: &str,
    sql: &str,
    params: &[String],
    runs: usize,
) -> Result<Timing, Error> {
    let runs = runs.max(1);
    let mut execution = Vec::with_capacity(runs);
    let mut planning = Vec::with_capacity(runs);
    let mut plan = String::new();
    let mut nodes = Vec::new();
    // One unmeasured run first: before and after both find the cache warm.
    explain_once(runner, name, sql, params).await?;
    for _ in 0..runs {
        let (explain, analysis) = explain_once(runner, name, sql, params).await?;
        execution.push(analysis.execution_time_ms.unwrap_or(0.0));
        planning.push(analysis.planning_time_ms.unwrap_or(0.0));
        plan = scan_summary(&analysis);
        nodes = node_reports(&explain, &analysis);
    }
    Ok(Timing {
        runs,
        execution_min_ms: execution.iter().copied().reduce(f64::min),
        execution_max_ms: execution.iter().copied().reduce(f64::max),
        execution_ms: median(&mut execution),
        planning_ms: median(&mut planning),
        plan,
        nodes,
    })
}

/// The scan nodes of a plan on one line: what changes when an index or a view is added.
fn scan_summary(analysis: &Analysis) -> String {
    let scans: Vec<String> = analysis
        .nodes
        .iter()
        .filter(|n| n.relation.is_some() || n.index_name.is_some())
        .map(node_name)
        .collect();
    scans.join(" · ")
}

/// `Seq Scan on public.reviews`, `Index Scan using reviews_product_id_idx on public.reviews`: the
/// node type with its index and relation, as EXPLAIN prints it.
fn node_name(node: &NodeMetrics) -> String {
    let using = match &node.index_name {
        Some(index) if !node.label.contains(index.as_str()) => format!(" using {index}"),
        _ => String::new(),
    };
    match &node.relation {
        Some(relation) if !node.label.contains(relation.as_str()) => {
            format!("{}{using} on {relation}", node.label)
        }
        _ => format!("{}{using}", node.label),
    }
}

async fn explain_once(
    runner: &mut Runner,
    name: &str,
    sql: &str,
    params: &[String],
) -> Result<(Explain, Analysis), Error> {
    let plan_error = |message: String| Error::Plan {
        query: name.to_string(),
        message,
    };
    let statement = first_statement(sql).map_err(plan_error)?;
    let options = ExplainOptions {
        analyze: true,
        timeout: STATEMENT_TIMEOUT,
        params: params.iter().cloned().map(ParamValue::Text).collect(),
    };
    let output = runner
        .explain(&statement, &options, std::future::pending::<()>())
        .await?;
    let explain = output
        .document
        .explains()
        .map_err(|e| plan_error(format!("unreadable EXPLAIN output: {e}")))?
        .into_iter()
        .next()
        .ok_or_else(|| plan_error("EXPLAIN returned no plan".into()))?;
    let analysis = analyze(&explain);
    Ok((explain, analysis))
}

fn first_statement(sql: &str) -> Result<SqlStatement, String> {
    split_statements(sql)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| "no statement".to_string())
}
