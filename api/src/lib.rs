//! dialer's operator surface: the `dialer` command line (and, with it, the HTTP API).

pub mod cli;
