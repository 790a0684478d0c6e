//! pgdiag: explain before you cache.
//!
//! The data flows one way: SQL text (`input`) -> plan (JSON, through `pg`) -> typed plan tree
//! (`plan`) -> findings (`diagnose`) -> advice, candidate indexes and views (`advise`) -> verified,
//! applied suggestions (`suggest`) -> report (`report`). `plan`, `diagnose`, `advise` and `report`
//! are pure; `pg` sends every statement pgdiag writes. Dependencies point down that list only:
//! ARCHITECTURE.md gives the whole layer order and `tests/architecture.rs` enforces it. The binary
//! (`src/main.rs`) only parses arguments and maps errors to exit codes.

pub mod advise;
pub mod bench;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod diagnose;
pub mod embedded;
pub mod gate;
pub mod input;
pub mod pg;
pub mod plan;
pub mod report;
pub mod schema;
pub mod seed;
pub mod suggest;
pub mod units;
