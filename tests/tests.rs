//! The one integration-test binary; a module per area.

mod advise;
mod apply;
mod architecture;
mod bench;
mod cache;
mod connect;
mod connect_properties;
mod ddl_runs;
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
mod statistics_facts;
mod suggest;
mod suggest_seed;
mod support;
mod tx;
mod versions;
