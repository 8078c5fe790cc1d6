//! dialer's operator surface: the HTTP control API (`routes`), provider webhooks, the web console
//! (`console`), the assembly of a running node (`app`) and the `dialer` command line (`cli`).

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod dto;
pub mod error;
pub mod import;
pub mod json;
pub mod metrics;
pub mod routes;
pub mod schema;
pub mod state;
