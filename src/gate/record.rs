//! Recording a plan for the baseline. (placeholder in the base branch; helper C implements it)

use crate::diagnose::Diagnosis;
use crate::plan::Explain;

use super::{PlanRecord, Timing};

/// The baseline record of an analysed (or estimated) plan.
pub fn record_plan(
    _explain: &Explain,
    _diagnosis: Option<&Diagnosis>,
    _timing: Option<Timing>,
) -> PlanRecord {
    todo!("helper C")
}
