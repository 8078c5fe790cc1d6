//! The records the stores hold beside the engine's own (`Call`, `CallAudit`, `Campaign`), and
//! the batch every hot-path write travels in.

use chrono::{DateTime, Utc};
use dialer_engine::{
    Call, CallAudit, CallOrigin, CallStatus, CampaignId, CampaignSettings, CampaignState,
    ContactId, Lane, PhoneNumber,
};
use serde::{Deserialize, Serialize};

/// Free-form contact attributes (name, account, appointment time…), a JSON object.
pub type Attributes = serde_json::Map<String, serde_json::Value>;

/// A phone number in a campaign's list. `(campaign_id, phone_number)` is unique.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    pub campaign_id: CampaignId,
    pub phone_number: PhoneNumber,
    pub attributes: Attributes,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewContact {
    pub phone_number: PhoneNumber,
    pub attributes: Attributes,
}

/// What adding one contact did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddContact {
    Added(ContactId),
    /// The number was already in the campaign; its attributes were merged in.
    Merged(ContactId),
}

impl AddContact {
    pub fn id(self) -> ContactId {
        match self {
            Self::Added(id) | Self::Merged(id) => id,
        }
    }
}

/// Why a number must not be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DncKind {
    /// On the operator's do-not-call list.
    Dnc,
    /// The recipient opted out (STOP, UNSUBSCRIBE…).
    OptOut,
}

impl DncKind {
    pub const ALL: [Self; 2] = [Self::Dnc, Self::OptOut];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dnc => "dnc",
            Self::OptOut => "opt_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DncEntry {
    pub phone_number: PhoneNumber,
    pub kind: DncKind,
    /// Who added it: `api`, `import`, `twilio:<MessageSid>`…
    pub source: String,
    pub added_at: DateTime<Utc>,
}

/// Filters for listing calls. All present fields must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallFilter {
    pub campaign_id: Option<CampaignId>,
    pub status: Option<CallStatus>,
    pub origin: Option<CallOrigin>,
    /// `scheduled_at >= from`.
    pub scheduled_from: Option<DateTime<Utc>>,
    /// `scheduled_at < to`.
    pub scheduled_to: Option<DateTime<Utc>>,
    /// Calls to this number.
    pub phone_number: Option<PhoneNumber>,
}

impl CallFilter {
    pub fn matches(&self, c: &Call) -> bool {
        self.campaign_id.is_none_or(|id| c.campaign_id == id)
            && self.status.is_none_or(|s| c.status == s)
            && self.origin.is_none_or(|o| c.origin == o)
            && self.scheduled_from.is_none_or(|t| c.scheduled_at >= t)
            && self.scheduled_to.is_none_or(|t| c.scheduled_at < t)
            && self
                .phone_number
                .as_ref()
                .is_none_or(|p| &c.phone_number == p)
    }
}

/// Adds `delta` to a per-campaign counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    pub campaign_id: CampaignId,
    pub name: String,
    pub delta: i64,
}

/// A campaign's lifecycle state, as its owner decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    pub campaign_id: CampaignId,
    pub state: CampaignState,
    pub at: DateTime<Utc>,
}

/// What an operator may change of a campaign: never its state or its dial cursor, which only
/// the campaign's owner writes.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignDetails {
    pub name: String,
    pub description: String,
    pub is_active: bool,
    pub settings: CampaignSettings,
    pub archived_at: Option<DateTime<Utc>>,
}

impl CampaignDetails {
    /// What an operator may change of `campaign`, as it is.
    pub fn of(campaign: &dialer_engine::Campaign) -> Self {
        Self {
            name: campaign.name.clone(),
            description: campaign.description.clone(),
            is_active: campaign.is_active,
            settings: campaign.settings.clone(),
            archived_at: campaign.archived_at,
        }
    }
}

/// How far one zone of a campaign's list has been made into calls: every contact of the zone
/// up to `contact` has its call. A cursor only moves forward; the campaign's `dial_cursor`
/// follows the highest of its zones' (whether the list was ever pulled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub campaign_id: CampaignId,
    /// The zone key ([`dialer_engine::dispatch::zone_key`]) of the contacts made.
    pub zone: String,
    pub contact: ContactId,
}

impl ListCursor {
    pub fn new(campaign_id: CampaignId, zone: impl Into<String>, contact: ContactId) -> Self {
        Self {
            campaign_id,
            zone: zone.into(),
            contact,
        }
    }
}

/// One zone of a campaign's list, as [`crate::ContactStore::list_zones`] reads it.
pub use dialer_engine::dispatch::ListZone;

/// Everything one decision writes, applied atomically: call states (upserted whole), their
/// audit lines (appended), counter deltas, the list's cursors (which only move forward) and
/// lifecycle states.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    pub calls: Vec<Call>,
    pub audits: Vec<CallAudit>,
    pub counters: Vec<CounterDelta>,
    pub cursors: Vec<ListCursor>,
    pub states: Vec<StateChange>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
            && self.audits.is_empty()
            && self.counters.is_empty()
            && self.cursors.is_empty()
            && self.states.is_empty()
    }

    /// Folds another batch into this one (later call states win).
    pub fn extend(&mut self, other: WriteBatch) {
        self.calls.extend(other.calls);
        self.audits.extend(other.audits);
        self.counters.extend(other.counters);
        self.cursors.extend(other.cursors);
        self.states.extend(other.states);
    }

    /// The campaigns this batch writes to; a batch naming a campaign that does not exist is
    /// refused whole.
    pub fn campaigns(&self) -> impl Iterator<Item = CampaignId> + '_ {
        self.cursors
            .iter()
            .map(|c| c.campaign_id)
            .chain(self.states.iter().map(|s| s.campaign_id))
    }

    pub fn counter(&mut self, campaign_id: CampaignId, name: impl Into<String>, delta: i64) {
        self.counters.push(CounterDelta {
            campaign_id,
            name: name.into(),
            delta,
        });
    }
}

/// Statuses of a call waiting for its due time or a line, with `due_at` set: a campaign's
/// pending calls, dialed in `(due_at, call_id)` order.
pub const PENDING_STATUSES: [CallStatus; 3] = [
    CallStatus::Scheduled,
    CallStatus::Initiated,
    CallStatus::Retrying,
];

/// Whether `c` is pending in `lane`.
pub fn pending_in(c: &Call, lane: Lane) -> bool {
    PENDING_STATUSES.contains(&c.status) && Lane::of(c.origin) == lane && c.due_at.is_some()
}

/// A pending call's place: its due time, then its id.
pub fn pending_key(c: &Call) -> Option<(DateTime<Utc>, dialer_engine::CallId)> {
    c.due_at.map(|d| (d, c.call_id))
}
