//! The baseline file: written as stable, pretty JSON (friendly to diffs and editors), read back
//! with its schema version checked first, so a future format gets a clear message rather than a
//! field error.

use std::path::Path;

use super::{BASELINE_SCHEMA_VERSION, Baseline, OLDEST_BASELINE_SCHEMA_VERSION};

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
        "{path} has baseline schema version {version}; this pgdiag reads versions {OLDEST_BASELINE_SCHEMA_VERSION} to {BASELINE_SCHEMA_VERSION}"
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
        Some(v)
            if (u64::from(OLDEST_BASELINE_SCHEMA_VERSION)..=u64::from(BASELINE_SCHEMA_VERSION))
                .contains(&v) => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::ServerVersion;

    fn baseline() -> Baseline {
        Baseline {
            schema_version: BASELINE_SCHEMA_VERSION,
            pgdiag_version: "0.1.0".into(),
            server: ServerVersion {
                version: "15.18".into(),
                version_num: 150018,
            },
            settings: Default::default(),
            analyze: None,
            relations: Default::default(),
            queries: Vec::new(),
        }
    }

    #[test]
    fn written_baselines_read_back_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.json");
        write_baseline(&path, &baseline()).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("}\n"));
        assert_eq!(load_baseline(&path).unwrap(), baseline());

        let name = path.display();
        std::fs::write(&path, r#"{"schema_version": 99}"#).unwrap();
        assert_eq!(
            load_baseline(&path).unwrap_err().to_string(),
            format!("{name} has baseline schema version 99; this pgdiag reads versions 1 to 2")
        );
        std::fs::write(&path, r#"{"queries": []}"#).unwrap();
        assert_eq!(
            load_baseline(&path).unwrap_err().to_string(),
            format!("{name} is not a valid baseline: no schema_version")
        );
        let missing = dir.path().join("none.json");
        assert!(matches!(
            load_baseline(&missing),
            Err(BaselineFileError::Missing(_))
        ));
    }

    /// A version 1 file, as pgdiag 0.1 wrote it (no table sizes, no relations per plan), loads.
    #[test]
    fn version_1_baselines_load_without_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.json");
        let v1 = r#"{
  "schema_version": 1,
  "pgdiag_version": "0.1.0",
  "server": { "version": "15.18", "version_num": 150018 },
  "settings": { "work_mem": "4MB" },
  "analyze": null,
  "queries": [
    {
      "id": "q.sql#1", "file": "q.sql", "statement": 1, "line": 1, "sql": "SELECT * FROM t",
      "plan": {
        "shape": ["Seq Scan on public.t"], "seq_scans": ["public.t"], "indexes": [],
        "total_cost": 10.5, "planned_rows": 100.0, "findings": []
      },
      "error": null
    }
  ]
}"#;
        std::fs::write(&path, v1).unwrap();
        let baseline = load_baseline(&path).unwrap();
        assert_eq!(baseline.schema_version, 1);
        assert!(!baseline.has_relation_sizes());
        assert!(baseline.relations.is_empty());
        let plan = baseline.queries[0].plan.as_ref().unwrap();
        assert!(plan.relations.is_empty());
        assert_eq!(plan.total_cost, 10.5);
    }
}
