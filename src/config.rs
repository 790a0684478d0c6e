//! `pgdiag.toml`: project settings a team commits next to its queries: the diagnosis thresholds
//! and disabled rules, and the CI gate's thresholds and ignored queries; flags override it.
//!
//! ```toml
//! [diagnose]
//! disabled_rules = ["planning-time"]
//!
//! [diagnose.thresholds]
//! seq_scan_min_rows = 50000
//! severity_warning_min_ms = 2
//!
//! [check]
//! cost_increase_pct = 15
//! data_growth = "advisory"
//! ignore = ["legacy/*.sql"]
//! finding_margin = 0.5     # hysteresis of findings measured with --analyze
//! timing = "advisory"      # or "fail": a significant execution-time increase fails the gate
//!
//! [check.queries."reports/monthly.sql#1"]
//! cost_increase_pct = 50
//!
//! [suggest]
//! min_improvement = 15
//! size_weight = 1          # an index must speed the workload up as many times as it grows the data
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnose::{DiagnoseConfig, RuleId, Thresholds};
use crate::gate::CheckConfig;

/// The file looked for in the current directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "pgdiag.toml";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub diagnose: DiagnoseConfig,
    /// `pgdiag check`: thresholds, ignored queries, per-query overrides.
    pub check: CheckConfig,
    /// `pgdiag suggest`: what a suggestion must gain to be kept.
    pub suggest: SuggestConfig,
}

/// `[suggest]` in pgdiag.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuggestConfig {
    /// Minimum improvement, in percent of cost (hypo) or time (build), on some statement.
    pub min_improvement: f64,
    /// How much an index's size must buy: it must make the workload at least as many times faster
    /// as it makes the data the statements read larger, raised to this power (0 leaves size out).
    pub size_weight: f64,
}

impl Default for SuggestConfig {
    fn default() -> Self {
        SuggestConfig {
            min_improvement: 10.0,
            size_weight: crate::suggest::benefit::SIZE_WEIGHT,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Override(String),
}

impl Config {
    /// Load `path`, or `./pgdiag.toml` when it exists, or the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let default = PathBuf::from(DEFAULT_FILE);
                if !default.exists() {
                    return Ok(Config::default());
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        // An unknown rule id fails here too, with `UnknownRule`'s message.
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            // toml's message spans several lines with a source excerpt; keep the first.
            message: e.message().to_owned(),
        })?;
        let check = &config.check;
        for (name, value) in [
            ("finding_margin", check.finding_margin),
            ("timing_increase_pct", check.timing_increase_pct),
            ("timing_noise_floor_ms", check.timing_noise_floor_ms),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ConfigError::Invalid {
                    path,
                    message: format!("[check] {name} must be a number ≥ 0, got {value}"),
                });
            }
        }
        Ok(config)
    }
}

impl DiagnoseConfig {
    /// Apply `--threshold NAME=VALUE` and `--disable-rule ID` flags on top of the file.
    pub fn apply_flags(
        &mut self,
        thresholds: &[String],
        disabled: &[String],
    ) -> Result<(), ConfigError> {
        if !thresholds.is_empty() {
            let serde_json::Value::Object(mut map) = serde_json::to_value(&self.thresholds)
                .map_err(|e| ConfigError::Override(e.to_string()))?
            else {
                return Err(ConfigError::Override("thresholds are not a table".into()));
            };
            for item in thresholds {
                let (name, value) = item.split_once('=').ok_or_else(|| {
                    ConfigError::Override(format!("--threshold expects NAME=VALUE, got `{item}`"))
                })?;
                let name = name.trim().replace('-', "_");
                if !map.contains_key(&name) {
                    let known: Vec<&String> = map.keys().collect();
                    return Err(ConfigError::Override(format!(
                        "unknown threshold `{name}`; known: {}",
                        known
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let number: f64 = value.trim().parse().map_err(|_| {
                    ConfigError::Override(format!("--threshold {name}: `{value}` is not a number"))
                })?;
                map.insert(name, serde_json::json!(number));
            }
            self.thresholds = serde_json::from_value::<Thresholds>(serde_json::Value::Object(map))
                .map_err(|e| ConfigError::Override(e.to_string()))?;
        }
        for id in disabled {
            let id: RuleId = id
                .parse()
                .map_err(|e: crate::diagnose::UnknownRule| ConfigError::Override(e.to_string()))?;
            self.disabled_rules.push(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgdiag.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn file_sets_thresholds_and_disabled_rules() {
        let (_d, path) = write(
            "[diagnose]\ndisabled_rules = [\"jit-overhead\"]\n[diagnose.thresholds]\nseq_scan_min_rows = 50000\n",
        );
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.diagnose.thresholds.seq_scan_min_rows, 50000.0);
        assert_eq!(
            config.diagnose.thresholds.min_share,
            Thresholds::default().min_share
        );
        assert_eq!(config.diagnose.disabled_rules, ["jit-overhead"]);
    }

    #[test]
    fn check_section_with_per_query_overrides() {
        let (_d, path) = write(
            "[check]\ncost_increase_pct = 15\nignore = [\"legacy/*.sql\"]\n[check.queries.\"a.sql#1\"]\ncost_increase_pct = 50\n",
        );
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.check.cost_increase_pct, 15.0);
        assert_eq!(config.check.ignore, ["legacy/*.sql"]);
        assert_eq!(
            config.check.queries["a.sql#1"].cost_increase_pct,
            Some(50.0)
        );
    }

    #[test]
    fn check_section_sets_the_noise_rules_and_refuses_negative_margins() {
        let defaults = Config::default().check;
        assert_eq!(defaults.finding_margin, 0.5);
        assert_eq!(defaults.timing, crate::gate::TimingVerdict::Advisory);
        let (_d, path) = write(
            "[check]\nfinding_margin = 1\ntiming = \"fail\"\ntiming_increase_pct = 20\ntiming_noise_floor_ms = 5\n",
        );
        let check = Config::load(Some(&path)).unwrap().check;
        assert_eq!(check.finding_margin, 1.0);
        assert_eq!(check.timing, crate::gate::TimingVerdict::Fail);
        assert_eq!(check.timing_increase_pct, 20.0);
        assert_eq!(check.timing_noise_floor_ms, 5.0);

        let (_d, path) = write("[check]\nfinding_margin = -0.5\n");
        let error = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(
            error.ends_with("[check] finding_margin must be a number ≥ 0, got -0.5"),
            "{error}"
        );
        let (_d, path) = write("[check]\ntiming = \"sometimes\"\n");
        assert!(Config::load(Some(&path)).is_err());
    }

    #[test]
    fn check_data_growth_is_advisory_unless_set_to_fail() {
        use crate::gate::DataGrowth;
        assert_eq!(Config::default().check.data_growth, DataGrowth::Advisory);
        let (_d, path) = write("[check]\ndata_growth = \"fail\"\n");
        assert_eq!(
            Config::load(Some(&path)).unwrap().check.data_growth,
            DataGrowth::Fail
        );
        let (_d, path) = write("[check]\ndata_growth = \"sometimes\"\n");
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("unknown variant `sometimes`, expected `advisory` or `fail`"),
            "{err}"
        );
    }

    #[test]
    fn suggest_section_sets_the_minimum_improvement() {
        assert_eq!(Config::default().suggest.min_improvement, 10.0);
        let (_d, path) = write("[suggest]\nmin_improvement = 25\n");
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.suggest.min_improvement, 25.0);
        assert_eq!(config.suggest.size_weight, 1.0);
        let (_d, path) = write("[suggest]\nsize_weight = 0.5\n");
        assert_eq!(Config::load(Some(&path)).unwrap().suggest.size_weight, 0.5);
    }

    #[test]
    fn unknown_keys_and_rules_are_clear_errors() {
        let (_d, path) = write("[diagnose.thresholds]\nseq_scan_rows = 5\n");
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("unknown field `seq_scan_rows`"), "{err}");
        let (_d, path) = write("[diagnose]\ndisabled_rules = [\"nope\"]\n");
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: unknown rule `nope`; known: seq-scan, unindexed-sort, heavy-aggregate, \
                 misestimate, disk-spill, nested-loop-amplification, index-filter-waste, \
                 heap-fetches, lossy-bitmap, jit-overhead, workers-not-launched, planning-time, \
                 join-full-scan, unindexed-foreign-key, correlated-subplan",
                path.display()
            )
        );
        let err = Config::load(Some(Path::new("/nonexistent/pgdiag.toml"))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/pgdiag.toml")
        );
    }

    #[test]
    fn severity_tiers_are_thresholds_like_the_others() {
        let (_d, path) = write("[diagnose.thresholds]\nseverity_warning_min_ms = 2\n");
        let mut config = Config::load(Some(&path)).unwrap();
        let t = &config.diagnose.thresholds;
        assert_eq!(t.severity_warning_min_ms, 2.0);
        assert_eq!(t.severity_notice_min_ms, 1.0);
        assert_eq!(t.severity_critical_min_ms, 100.0);
        config
            .diagnose
            .apply_flags(&["severity-critical-min-ms=0".into()], &[])
            .unwrap();
        assert_eq!(config.diagnose.thresholds.severity_critical_min_ms, 0.0);
    }

    #[test]
    fn flags_override_the_file() {
        let mut d = DiagnoseConfig::default();
        d.apply_flags(
            &["seq-scan-min-rows=123".into(), "min_share = 0.2".into()],
            &["seq-scan".into()],
        )
        .unwrap();
        assert_eq!(d.thresholds.seq_scan_min_rows, 123.0);
        assert_eq!(d.thresholds.min_share, 0.2);
        assert_eq!(d.disabled_rules, ["seq-scan"]);
        let err = d
            .apply_flags(&["bogus=1".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown threshold `bogus`"), "{err}");
        let err = d
            .apply_flags(&["min_share=lots".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a number"), "{err}");
    }
}
