//! Storage for dialer: the traits every backend implements, the embedded SQLite backend (the
//! default, no server needed), the ScyllaDB backend for scale, and the lease stores that bound
//! concurrency across processes (Redis) or inside one (in-process).
//!
//! This crate stores and retrieves; it decides nothing. Durability rules live here: a write
//! that returns `Ok` is on disk.

pub mod audience;
mod decode;
pub mod embedded;
pub mod error;
pub mod lease;
#[cfg(feature = "testsuite")]
pub mod memory;
pub mod messages;
pub mod model;
pub mod private;
pub mod scylla;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod traits;

pub use audience::AudienceStore;
pub use error::{Result, StorageError};
pub use messages::MessageStore;
pub use model::{
    AddContact, Attributes, CallFilter, CampaignDetails, Contact, CounterDelta, DncEntry, DncKind,
    ListCursor, ListZone, NewContact, PENDING_STATUSES, StateChange, WriteBatch, pending_in,
    pending_key,
};
pub use traits::{
    CallStore, CampaignStore, ContactStore, CounterStore, DncStore, EventStore, ScheduleStore,
    Store,
};
