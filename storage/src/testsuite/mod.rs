//! Test support for this crate and the crates above it (feature `testsuite`): the storage
//! contract suite every backend must pass, record builders, and a `redis-server` harness.
#![allow(clippy::unwrap_used)] // Test support: a panic is the failure report.

pub mod contract;
pub mod fixtures;
pub mod redis_server;
