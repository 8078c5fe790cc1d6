//! The storage crate's integration tests: the contract suite against every backend, a model
//! check of the embedded backend, durability across reopen and `kill -9`, and the lease stores
//! against a real redis-server.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // Test code.

mod contract;
mod embedded;
mod lease_model;
mod lease_pools;
mod leases;
mod model;
