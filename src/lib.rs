//! pgdiag: explain before you cache.
//!
//! The data flows one way: SQL text -> plan (JSON) -> typed plan tree -> findings -> advice
//! (candidate indexes and views) -> verified suggestions -> report. Each stage is a module: `plan`,
//! `diagnose` and `advise` are pure; `suggest` is the pipeline that plans, verifies and applies the
//! advice on a database. The binary (`src/main.rs`) only parses arguments and maps errors to exit
//! codes.

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
pub mod seed;
pub mod suggest;
pub mod units;
