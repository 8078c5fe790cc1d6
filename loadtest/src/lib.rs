//! Load tests of a running dialer, the provider simulator that witnesses what it did, and the
//! chaos harness. The binaries: `dialer-loadtest` (goose scenarios), `dialer-provider-sim` and
//! `dialer-chaos`.

pub mod chaos;
pub mod day;
pub mod harness;
pub mod sim;
