//! Integration tests of the `dialer` binary and the HTTP API over real sockets.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // Test code: a panic is the failure report.

mod archive;
mod audience;
mod calls;
mod campaigns;
mod console;
mod contacts;
mod dnc;
mod document;
mod e2e;
mod events;
mod explain;
mod hostile;
mod message_sweep;
mod messaging;
mod metrics_doc;
mod migrate;
mod numbering;
mod ops;
mod reference;
mod seed;
mod serve;
mod server;
mod twilio;
mod voice;
