//! Integration tests of the `dialer` binary and the HTTP API over real sockets.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // Test code: a panic is the failure report.

mod campaigns;
mod contacts;
mod explain;
mod migrate;
mod seed;
mod server;
