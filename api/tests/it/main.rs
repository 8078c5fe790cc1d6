//! Integration tests of the `dialer` binary and (later) the HTTP API over real sockets.
#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod explain;
mod migrate;
