//! The records the stores hold beside the engine's own (`Call`, `CallAudit`, `Campaign`), and
//! the batch every hot-path write travels in.

use chrono::{DateTime, Utc};
use dialer_engine::{
    Call, CallAudit, CallId, CallOrigin, CallStatus, CampaignId, ContactId, PhoneNumber,
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
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dnc => "dnc",
            Self::OptOut => "opt_out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Dnc, Self::OptOut]
            .into_iter()
            .find(|k| k.as_str() == s)
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
}

impl CallFilter {
    pub fn matches(&self, c: &Call) -> bool {
        self.campaign_id.is_none_or(|id| c.campaign_id == id)
            && self.status.is_none_or(|s| c.status == s)
            && self.origin.is_none_or(|o| c.origin == o)
            && self.scheduled_from.is_none_or(|t| c.scheduled_at >= t)
            && self.scheduled_to.is_none_or(|t| c.scheduled_at < t)
    }
}

/// Adds `delta` to a per-campaign counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    pub campaign_id: CampaignId,
    pub name: String,
    pub delta: i64,
}

/// Everything one decision writes, applied atomically: call states (upserted whole), their
/// audit lines (appended), counter deltas, and campaigns' dial cursors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    pub calls: Vec<Call>,
    pub audits: Vec<CallAudit>,
    pub counters: Vec<CounterDelta>,
    pub cursors: Vec<(CampaignId, ContactId)>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
            && self.audits.is_empty()
            && self.counters.is_empty()
            && self.cursors.is_empty()
    }

    /// Folds another batch into this one (later call states win).
    pub fn extend(&mut self, other: WriteBatch) {
        self.calls.extend(other.calls);
        self.audits.extend(other.audits);
        self.counters.extend(other.counters);
        self.cursors.extend(other.cursors);
    }

    pub fn counter(&mut self, campaign_id: CampaignId, name: impl Into<String>, delta: i64) {
        self.counters.push(CounterDelta {
            campaign_id,
            name: name.into(),
            delta,
        });
    }
}

/// One entry of the pending schedule, with what is needed to route it when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueCall {
    pub due_at: DateTime<Utc>,
    pub call_id: CallId,
    pub campaign_id: CampaignId,
    pub origin: CallOrigin,
}

impl DueCall {
    pub fn of(c: &Call) -> Option<Self> {
        let due_at = c.due_at.filter(|_| DUE_STATUSES.contains(&c.status))?;
        Some(Self {
            due_at,
            call_id: c.call_id,
            campaign_id: c.campaign_id,
            origin: c.origin,
        })
    }

    /// The cursor position of this entry.
    pub fn key(&self) -> (DateTime<Utc>, CallId) {
        (self.due_at, self.call_id)
    }
}

/// Statuses that are waiting on a due time: the pending schedule.
pub const DUE_STATUSES: [CallStatus; 2] = [CallStatus::Scheduled, CallStatus::Retrying];
