//! The one integration-test binary; a module per area.

mod advise;
mod apply;
mod architecture;
mod bench;
mod cache;
mod connect;
mod demo;
mod diagnose;
mod embedded;
mod explain;
mod gate;
mod matview;
mod render;
mod safety;
mod seed;
mod suggest;
mod suggest_seed;
mod support;
mod tx;
mod versions;
