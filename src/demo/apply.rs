//! Step 4 of the demo: apply pgdiag's own suggestions (indexes, the review-stats materialized
//! view) to the seed database. The seam the `suggest` command plugs into.

use serde::{Deserialize, Serialize};

use super::{Error, QueryDiagnosis};

/// What step 4 applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplyStep {
    /// Whether suggestions come from `suggest` yet; false until the integration.
    pub wired: bool,
    pub applied: Vec<AppliedSuggestion>,
    /// Queries to time "after" in a rewritten form (a rewrite that reads a materialized view):
    /// (query name, SQL with the same `$n`). Queries not listed are timed as they are.
    pub rewritten: Vec<(String, String)>,
    /// One line for the reader: what happened, or why nothing did.
    pub note: String,
}

impl ApplyStep {
    /// The SQL to time after the suggestions for `query`: its rewrite, if any.
    pub fn rewritten_sql(&self, query: &str) -> Option<&str> {
        self.rewritten
            .iter()
            .find(|(name, _)| name == query)
            .map(|(_, sql)| sql.as_str())
    }
}

/// One suggestion, as applied (the shape of `suggest`'s `suggestions[]`, docs/suggest-report.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedSuggestion {
    /// `suggest`'s id (`s1`, ...).
    pub id: String,
    /// `index` or `matview`.
    pub kind: String,
    /// The statements run, in order.
    pub ddl: Vec<String>,
    /// The seed queries it serves (file stems).
    pub serves: Vec<String>,
    pub build_ms: Option<f64>,
}

/// Applies pgdiag's suggestions for the diagnosed seed queries to the database of `client`.
///
/// Wired to `suggest` at integration: the `suggest` command (issue 6) is written alongside this
/// one, so for now this applies nothing and says so in [`ApplyStep::note`]. The caller already
/// times every query before and after this call, so once it applies the kept suggestions (and
/// returns the matview rewrites in [`ApplyStep::rewritten`]) the before/after figures show it with
/// no other change.
pub async fn apply_suggestions(
    client: &tokio_postgres::Client,
    diagnoses: &[QueryDiagnosis],
) -> Result<ApplyStep, Error> {
    let _ = client;
    let findings: usize = diagnoses.iter().map(|d| d.findings.len()).sum();
    Ok(ApplyStep {
        wired: false,
        applied: Vec::new(),
        rewritten: Vec::new(),
        note: format!(
            "not applied yet: `pgdiag suggest` is wired into the demo at integration \
             ({findings} findings waiting for it)"
        ),
    })
}
