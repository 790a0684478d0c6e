//! The suggest pipeline, the part of advice that talks to the database: plan every statement,
//! diagnose it, derive candidates with the pure [`crate::advise`], drop what an existing index
//! already serves, verify the rest with HypoPG or real builds ([`verify`], [`matview_proof`]) and
//! assemble the [`report`]; then, once the user agreed, apply the kept suggestions and measure the
//! statements again ([`apply`](mod@apply)). `pgdiag suggest` and the demo both run it through the
//! same functions: [`suggest()`] and [`apply_suggestions`] / [`after_apply`].

pub mod apply;
pub mod applying;
pub mod benefit;
pub mod hygiene;
pub mod matview_proof;
pub mod noise;
pub mod pipeline;
pub mod report;
pub mod verify;
pub mod workload;

pub use apply::{
    APPLY_LOCK_KEY, ApplyError, ApplyEvent, ApplyOptions, ApplyReport, Change, ChangeFailure,
    ChangeOutcome, DEFAULT_BUILD_WAIT, FailureKind, apply,
};
pub use applying::{
    AfterApplyError, after_apply, apply_suggestions, before_apply, change_of, plan_change,
    required_extensions, skipped,
};
pub use matview_proof::{MatviewProof, check_existing_view, verify_matview};
pub use pipeline::*;
pub use report::{ChangeStatus, NOT_CONFIRMED};
