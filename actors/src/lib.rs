//! The actor engine of dialer. It carries out what `dialer_engine` decides.

pub mod clock;
