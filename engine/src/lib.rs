//! The pure core of dialer.
//!
//! This crate decides; it never performs. It owns the domain types (ids, phone numbers, call
//! statuses), the one function that decides every status change, the retry and calling-hour
//! policies, the restart policy every supervisor consults, and the timing wheel the scheduler
//! runs on. It does no I/O, spawns nothing and never reads a clock: every function that depends
//! on time takes `now` as an argument, so all of it runs in virtual time under test.

pub mod call;
pub mod campaign;
pub mod clock;
pub mod decide;
pub mod dispatch;
pub mod explain;
pub mod hours;
pub mod ids;
pub mod lifecycle;
pub mod messaging;
pub mod phone;
pub mod phone_zones;
pub mod restart;
pub mod retry;
pub mod status;
pub mod wheel;
pub mod window;

pub use call::{AuditKind, Call, CallAudit, CallOrigin, DeferReason, NewCall};
pub use campaign::{
    Campaign, CampaignSettings, CampaignState, NewCampaign, SettingsError, SimProfile,
    VoiceTemplate,
};
pub use clock::Clock;
pub use decide::{Effect, ProviderEvent, ProviderReport, Step};
pub use dispatch::{Board, Busy, Gate, Lane, LaneQueue, Lines, Listed};
pub use hours::{CallingHours, HoursCheck, ZonePolicy, ZoneSource, Zones};
pub use ids::{CallId, CampaignId, ContactId, IdError, NodeId};
pub use lifecycle::{CampaignCommand, CampaignEvent, Lifecycle, campaign_transition};
pub use phone::{E164_PATTERN, Numbering, PhoneError, PhoneNumber, PhoneValidation, Region};
pub use restart::{RestartDecision, RestartPolicy, RestartTracker};
pub use retry::{PolicyError, RetryDecision, RetryPolicy};
pub use status::{
    BlockReason, CallEvent, CallStatus, Disposition, Ignored, Outcome, Transition, transition,
};
pub use wheel::{TimerId, TimingWheel};
