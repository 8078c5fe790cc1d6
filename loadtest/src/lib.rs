//! Load tests and the provider simulator.
