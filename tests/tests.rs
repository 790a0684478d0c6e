//! The one integration-test binary; a module per area.

mod advise;
mod apply;
mod architecture;
mod bench;
mod cache;
mod connect;
mod connect_properties;
mod demo;
mod diagnose;
mod embedded;
mod explain;
mod gate;
mod input;
mod matview;
mod properties;
mod render;
mod safety;
mod seed;
mod suggest;
mod suggest_seed;
mod support;
mod tpch;
mod tx;
mod versions;
