//! The one integration-test binary; a module per area.

mod embedded;
mod explain;
mod support;
