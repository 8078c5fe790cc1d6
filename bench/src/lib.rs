//! Shared pieces of dialer's benchmarks: the timer structures the timing wheel is measured
//! against, driven through one interface, and reproducible workloads.

pub mod timers;
