//! The actor engine of dialer: a ractor supervision tree that carries out what `dialer_engine`
//! decides. See `Engine` for its handle, and ARCHITECTURE.md for the tree.

mod apply;
pub mod campaign;
pub mod clock;
mod ctx;
pub mod engine;
mod lease_keeper;
pub mod metrics;
pub mod provider;
pub mod rate;
mod recent;
mod recorder;
mod scheduler;
mod slot;
mod supervisor;
mod window;

pub use apply::CallbackOutcome;
pub use campaign::DispatchSnapshot;
pub use ctx::{CallNotice, EngineConfig, EngineError, Restarts};
pub use engine::{Engine, EngineDeps};
pub use window::WindowSnapshot;
