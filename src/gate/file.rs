//! The baseline file: written as stable, pretty JSON (friendly to diffs and editors), read back
//! with its schema version checked first, so a future format gets a clear message rather than a
//! field error.

use std::path::Path;

use super::{BASELINE_SCHEMA_VERSION, Baseline};

/// A baseline file that cannot be read or written. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineFileError {
    #[error(
        "cannot read baseline {0}: no such file (record one with `pgdiag baseline PATHS --out {0}`)"
    )]
    Missing(String),
    #[error("cannot read baseline {path}: {reason}")]
    Unreadable {
        path: String,
        reason: std::io::Error,
    },
    #[error("{path} is not a valid baseline: {reason}")]
    Invalid { path: String, reason: String },
    #[error(
        "{path} has baseline schema version {version}; this pgdiag reads version {BASELINE_SCHEMA_VERSION}"
    )]
    Version { path: String, version: u64 },
    #[error("cannot write {path}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Read and validate a baseline file.
pub fn load_baseline(path: &Path) -> Result<Baseline, BaselineFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BaselineFileError::Missing(name.clone()),
        _ => BaselineFileError::Unreadable {
            path: name.clone(),
            reason: e,
        },
    })?;
    let invalid = |reason: String| BaselineFileError::Invalid {
        path: name.clone(),
        reason,
    };
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| invalid(e.to_string()))?
        .get("schema_version")
        .and_then(|v| v.as_u64());
    match version {
        Some(v) if v == u64::from(BASELINE_SCHEMA_VERSION) => {}
        Some(version) => {
            return Err(BaselineFileError::Version {
                path: name,
                version,
            });
        }
        None => return Err(invalid("no schema_version".into())),
    }
    serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))
}

/// Write the baseline as pretty JSON ending with a newline. Written to a temporary file first so
/// a failure never leaves half a baseline.
pub fn write_baseline(path: &Path, baseline: &Baseline) -> Result<(), BaselineFileError> {
    let mut text =
        serde_json::to_string_pretty(baseline).map_err(|e| BaselineFileError::Write {
            path: path.display().to_string(),
            source: e.into(),
        })?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|source| BaselineFileError::Write {
        path: tmp.display().to_string(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| BaselineFileError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// One line saying what was recorded and where.
pub fn describe(baseline: &Baseline, path: &Path) -> String {
    let failing = baseline
        .queries
        .iter()
        .filter(|q| q.error.is_some())
        .count();
    let files: std::collections::BTreeSet<&str> =
        baseline.queries.iter().map(|q| q.file.as_str()).collect();
    let mut line = format!(
        "recorded {} quer{} from {} file{} (PostgreSQL {}{}) into {}",
        baseline.queries.len(),
        if baseline.queries.len() == 1 {
            "y"
        } else {
            "ies"
        },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        baseline.server.version,
        match baseline.analyze {
            Some(a) => format!(", EXPLAIN ANALYZE × {}", a.runs),
            None => String::new(),
        },
        path.display()
    );
    if failing > 0 {
        line.push_str(&format!(
            "; {failing} could not be planned (recorded with their error)"
        ));
    }
    line
}
