//! Comparing a current run with the baseline. (placeholder in the base branch; helper C implements it)

use std::collections::BTreeMap;

use super::{Baseline, CheckConfig, CheckReport};

/// Compare `current` (recorded now, same format) with `baseline`. `relation_rows` holds the
/// current `pg_class.reltuples` of every relation the plans read (`schema.table`), for the
/// seq-scan size threshold.
pub fn compare(
    _baseline: &Baseline,
    _current: &Baseline,
    _relation_rows: &BTreeMap<String, f64>,
    _config: &CheckConfig,
) -> CheckReport {
    todo!("helper C")
}
