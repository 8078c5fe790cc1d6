//! The actor engine end to end, in paused tokio time with the simulated provider. Every test
//! asserts from the simulator's own record (what reached the "network") and from storage.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // Test code.

mod campaigns;
mod dispatch;
mod edge;
mod faults;
mod handoff;
mod harness;
mod leasing;
mod lifecycle;
mod one_off;
mod providers;
mod recovery;
mod smoke;
