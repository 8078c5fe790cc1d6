//! The actor engine of dialer: a ractor supervision tree that carries out what `dialer_engine`
//! decides. See `Engine` for its handle, and ARCHITECTURE.md for the tree.
//!
//! ```text
//! EngineSupervisor ── Recorder, LeaseKeeper
//!   └─ CampaignActor ×campaigns with work   (owner of a campaign and of its pending calls)
//!        └─ DialerSlot ×calls in flight      (owner of one call while it is in flight)
//! ```
//!
//! Modules import downward only: `engine` → `supervisor` → `campaign` → `slot` → `ctx` and the
//! services' handles (`recorder`, `lease_keeper`, `live`); children report to their parents
//! through narrow message types (`SlotDone`, `Idle`), never through the parent's messages.

/// Lets a parent hand a child a `DerivedActorRef<$narrow>` of itself: the child can send only
/// the one message it reports with, wrapped as `$msg::$variant`.
macro_rules! narrow_message {
    ($msg:ident :: $variant:ident ( $narrow:ty )) => {
        impl From<$narrow> for $msg {
            fn from(m: $narrow) -> Self {
                Self::$variant(m)
            }
        }

        impl TryFrom<$msg> for $narrow {
            type Error = ();
            fn try_from(m: $msg) -> Result<Self, ()> {
                match m {
                    $msg::$variant(m) => Ok(m),
                    _ => Err(()),
                }
            }
        }
    };
}

mod campaign;
pub mod clock;
mod ctx;
pub mod engine;
mod error;
pub mod gauges;
mod lease_keeper;
mod live;
pub mod messenger;
pub mod metrics;
pub mod provider;
pub mod rate;
mod recent;
mod recorder;
mod slot;
mod supervision;
mod supervisor;
mod timers;

pub use campaign::{CommandOutcome, DispatchSnapshot};
pub use ctx::{
    CallNotice, DAILY_COUNTERS, EngineConfig, ORIGIN_COUNTERS, Restarts, daily_counter,
    origin_group,
};
pub use engine::{Engine, EngineDeps};
pub use error::EngineError;
pub use live::CallbackOutcome;
