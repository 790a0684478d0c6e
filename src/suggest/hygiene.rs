//! Index hygiene against a live server: read every index and the statistics window
//! ([`crate::pg::indexes`]), judge them ([`crate::advise::hygiene`]), and, only when asked,
//! drop the findings one at a time with `DROP INDEX CONCURRENTLY IF EXISTS` under a short
//! `lock_timeout`, each re-checked just before its drop: it still exists with the definition it
//! was judged on, it still backs nothing, the index kept in its place is still there and valid,
//! an unused one is still unscanned, an invalid one is still invalid and not being built.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::advise::hygiene::{
    HygieneAdvice, HygieneFinding, HygieneKind, enforces_something, judge, what_it_backs,
};
use crate::pg::{self, indexes};

/// Read and judge every index of the user's schemas.
pub async fn examine(client: &Client, server_version_num: i32) -> Result<HygieneAdvice, pg::Error> {
    let window = indexes::statistics_window(client).await?;
    let all = indexes::user_indexes(client, server_version_num).await?;
    Ok(judge(&all, &window))
}

/// What happened to one finding under `--drop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DropStatus {
    Dropped,
    /// The server refused or the lock wait ran out: its error is the message.
    Failed,
    /// Not dropped: what changed since it was judged is the message.
    Skipped,
}

/// One finding's drop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DropResult {
    pub kind: HygieneKind,
    pub schema: String,
    pub index: String,
    pub status: DropStatus,
    /// Freed when dropped.
    pub size_bytes: i64,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Drop `findings` in order, one at a time. `lock_timeout` bounds each drop's wait for its lock
/// (the session's own timeouts are restored afterwards); `stop` is asked before each drop, and
/// once it says so the rest are skipped. `on_drop` hears of each drop before it starts.
pub async fn drop_findings(
    client: &Client,
    server_version_num: i32,
    findings: &[&HygieneFinding],
    lock_timeout: Duration,
    stop: &dyn Fn() -> bool,
    on_drop: &mut dyn FnMut(usize, &HygieneFinding),
) -> Result<Vec<DropResult>, pg::Error> {
    let (saved_lock, saved_statement) = pg::admin::timeouts(client).await?;
    // The concurrent drop waits for the transactions using the table: that wait is bounded by
    // lock_timeout, not by a statement timeout meant for queries.
    pg::admin::set_timeouts(client, &format!("{}ms", lock_timeout.as_millis()), "0").await?;
    let mut results = Vec::with_capacity(findings.len());
    for (position, finding) in findings.iter().enumerate() {
        let result = |status, message: Option<String>| DropResult {
            kind: finding.kind,
            schema: finding.schema.clone(),
            index: finding.index.clone(),
            status,
            size_bytes: finding.size_bytes,
            message,
        };
        if stop() {
            results.push(result(
                DropStatus::Skipped,
                Some("interrupted before its drop".into()),
            ));
            continue;
        }
        match recheck(client, server_version_num, finding).await {
            Ok(None) => {}
            Ok(Some(why)) => {
                results.push(result(DropStatus::Skipped, Some(why)));
                continue;
            }
            Err(e) => {
                results.push(result(
                    DropStatus::Failed,
                    Some(format!("re-checking it failed: {e}")),
                ));
                continue;
            }
        }
        on_drop(position, finding);
        match pg::admin::drop_index_concurrently(client, Some(&finding.schema), &finding.index)
            .await
        {
            Ok(()) => results.push(result(DropStatus::Dropped, None)),
            Err(e) => {
                // A concurrent drop marks the index invalid before it waits for the table's
                // transactions: one that gave up part-way leaves it so.
                let left_invalid = matches!(
                    indexes::index_by_name(client, server_version_num, &finding.schema, &finding.index)
                        .await,
                    Ok(Some(now)) if !now.is_valid && finding.kind != HygieneKind::Invalid
                );
                let mut message = e.to_string();
                if left_invalid {
                    message.push_str(
                        "; the drop had begun and left the index INVALID (the planner no longer uses it): drop it again when the table's transactions allow (pgdiag indexes --only invalid --drop)",
                    );
                }
                results.push(result(DropStatus::Failed, Some(message)));
            }
        }
    }
    // Best effort: the session ends with the command anyway.
    let _ = pg::admin::set_timeouts(client, &saved_lock, &saved_statement).await;
    Ok(results)
}

/// Why `finding` must not be dropped now, if anything changed since it was judged.
async fn recheck(
    client: &Client,
    server_version_num: i32,
    finding: &HygieneFinding,
) -> Result<Option<String>, pg::Error> {
    let Some(now) =
        indexes::index_by_name(client, server_version_num, &finding.schema, &finding.index).await?
    else {
        return Ok(Some("it no longer exists".into()));
    };
    if now.definition != finding.definition {
        return Ok(Some(format!(
            "its definition changed since it was judged: now {}",
            now.definition
        )));
    }
    let backs = what_it_backs(&now);
    if !backs.is_empty() {
        return Ok(Some(format!("it now backs {}", backs.join(", "))));
    }
    if now.being_built {
        return Ok(Some(
            "a CREATE INDEX or REINDEX is working on it now".into(),
        ));
    }
    match finding.kind {
        HygieneKind::Invalid => {
            if now.is_valid {
                return Ok(Some("it is valid now".into()));
            }
        }
        HygieneKind::Unused => {
            if enforces_something(&now) {
                return Ok(Some("it enforces uniqueness or exclusion now".into()));
            }
            if now.scans > finding.scans {
                return Ok(Some(format!(
                    "it was scanned since it was judged ({} scan{} now)",
                    now.scans,
                    if now.scans == 1 { "" } else { "s" }
                )));
            }
        }
        HygieneKind::Duplicate | HygieneKind::Redundant => {
            let Some(kept) = finding.kept.as_deref() else {
                return Ok(Some("no index is named to serve its scans".into()));
            };
            match indexes::index_by_name(client, server_version_num, &finding.schema, kept).await? {
                None => {
                    return Ok(Some(format!(
                        "\"{kept}\", the index kept to serve its scans, no longer exists"
                    )));
                }
                Some(keeper) if !(keeper.is_valid && keeper.is_ready) => {
                    return Ok(Some(format!(
                        "\"{kept}\", the index kept to serve its scans, is not valid now"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(None)
}

/// The version of the `pgdiag indexes` JSON document (docs/indexes-report.md).
pub const SCHEMA_VERSION: u32 = 1;

/// The `pgdiag indexes` document: the findings and, with `--drop`, what each drop did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IndexesReport {
    pub schema_version: u32,
    pub pgdiag_version: String,
    pub server: pg::ServerInfo,
    /// The kinds looked for (`--only`; all four by default).
    pub kinds: Vec<HygieneKind>,
    pub statistics: crate::advise::hygiene::StatisticsSummary,
    pub indexes_examined: usize,
    pub findings: Vec<HygieneFinding>,
    /// The sum of the findings' sizes.
    pub reclaimable_bytes: i64,
    /// With `--drop`: each finding's drop, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drops: Option<Vec<DropResult>>,
}

impl IndexesReport {
    /// The report of `advice`, keeping only the findings of `kinds`.
    pub fn new(server: pg::ServerInfo, advice: HygieneAdvice, kinds: &[HygieneKind]) -> Self {
        let findings: Vec<HygieneFinding> = advice
            .findings
            .into_iter()
            .filter(|f| kinds.contains(&f.kind))
            .collect();
        IndexesReport {
            schema_version: SCHEMA_VERSION,
            pgdiag_version: env!("CARGO_PKG_VERSION").to_string(),
            server,
            kinds: kinds.to_vec(),
            statistics: advice.statistics,
            indexes_examined: advice.indexes_examined,
            reclaimable_bytes: findings.iter().map(|f| f.size_bytes).sum(),
            findings,
            drops: None,
        }
    }

    /// The bytes the drops freed.
    pub fn dropped_bytes(&self) -> i64 {
        self.drops
            .iter()
            .flatten()
            .filter(|d| d.status == DropStatus::Dropped)
            .map(|d| d.size_bytes)
            .sum()
    }
}
