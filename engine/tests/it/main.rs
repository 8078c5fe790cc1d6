//! Property tests of the engine's policies and the timing wheel against simple models.
#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

mod calling_hours;
mod retry;
mod wheel;
