//! Messages, materialized one per recipient and cause (a campaign's launch, a trigger event, a
//! reply), and the messaging events kept beside them: every inbound message and delivery
//! receipt as it arrived (raw) and as read (normalized), and every decision the runner took.
//!
//! A message moves only forward (`dialer_engine::messaging::apply_report`) except through
//! [`MessageStore::transition`], which the runner uses to claim a pending message for an attempt
//! and to put a failed one back for the next: a compare-and-set on (status, attempts), so a
//! message is never claimed twice for one attempt.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::messaging::{Channel, MessageStatus};
use dialer_engine::{CampaignId, PhoneNumber};
use serde::{Deserialize, Serialize};

use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `{campaign}.{cause}.{number's digits}`: one message per recipient and cause, so a
    /// launch or an event repeated creates nothing twice.
    pub message_id: String,
    pub campaign_id: CampaignId,
    pub phone_number: PhoneNumber,
    pub channel: Channel,
    /// The launch (`launch`), a trigger event's id, or `reply-…`.
    pub cause: String,
    pub body: String,
    pub status: MessageStatus,
    /// Attempts started (claimed for sending).
    pub attempts: u32,
    /// While pending: when it is due.
    pub due_at: DateTime<Utc>,
    pub provider_sid: Option<String>,
    pub error_code: Option<String>,
    /// The last decision's reason (why it is blocked, why it failed).
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The `reason` of a message blocked because its recipient opted out.
pub const OPTED_OUT_REASON: &str = "opted_out";

impl Message {
    pub fn is_opted_out(&self) -> bool {
        self.status == MessageStatus::Blocked && self.reason.as_deref() == Some(OPTED_OUT_REASON)
    }

    /// The id of the message for `cause` to `phone` in `campaign`.
    pub fn id_for(campaign: CampaignId, cause: &str, phone: &PhoneNumber) -> String {
        format!(
            "{campaign}.{cause}.{}",
            phone.as_str().trim_start_matches('+')
        )
    }
}

/// A provider's word on a message, or the runner's own after a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub status: MessageStatus,
    pub provider_sid: Option<String>,
    pub error_code: Option<String>,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Whose messages to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageScope {
    Campaign(CampaignId),
    Recipient(PhoneNumber),
}

/// Which messages to list: a campaign's or a recipient's, of one state or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFilter {
    pub scope: MessageScope,
    pub status: Option<MessageStatus>,
}

impl MessageFilter {
    pub fn matches(&self, m: &Message) -> bool {
        let scoped = match &self.scope {
            MessageScope::Campaign(c) => *c == m.campaign_id,
            MessageScope::Recipient(p) => *p == m.phone_number,
        };
        scoped && self.status.is_none_or(|s| s == m.status)
    }
}

/// A campaign's messages counted by state and by provider error code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageCounts {
    pub by_status: BTreeMap<String, u64>,
    pub by_error: BTreeMap<String, u64>,
    /// Never sent because the recipient had opted out.
    pub opted_out: u64,
}

impl MessageCounts {
    pub fn add(&mut self, m: &Message) {
        *self
            .by_status
            .entry(m.status.as_str().to_owned())
            .or_default() += 1;
        if let Some(code) = &m.error_code {
            *self.by_error.entry(code.clone()).or_default() += 1;
        }
        if m.is_opted_out() {
            self.opted_out += 1;
        }
    }
}

/// The kinds of messaging events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A message a recipient sent us.
    Inbound,
    /// A provider's delivery receipt (status callback).
    Receipt,
    /// The runner's decision about a message (sent, deferred, blocked, retried, given up).
    Decision,
}

impl EventKind {
    pub const ALL: [Self; 3] = [Self::Inbound, Self::Receipt, Self::Decision];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Receipt => "receipt",
            Self::Decision => "decision",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One messaging event: what arrived (`raw`, e.g. a webhook's form parameters) and what it was
/// read as (`normalized`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// A UUIDv7 from `at`: ids sort in time order.
    pub event_id: String,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub phone_number: Option<PhoneNumber>,
    pub message_id: Option<String>,
    pub raw: serde_json::Value,
    pub normalized: serde_json::Value,
}

impl MessageEvent {
    /// A new event's id at `at`, unique by its random part.
    pub fn new_id(at: DateTime<Utc>) -> String {
        let secs = u64::try_from(at.timestamp()).unwrap_or(0);
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, at.timestamp_subsec_nanos());
        uuid::Uuid::new_v7(ts).to_string()
    }
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Adds each message unless one with its id exists; whether each was added.
    async fn create_messages(&self, batch: Vec<Message>) -> Result<Vec<bool>>;
    async fn get_message(&self, id: &str) -> Result<Option<Message>>;
    /// Pending messages due at `now`, earliest first.
    async fn due_messages(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Message>>;
    /// Replaces the message with `to` if it is still in `status` after `attempts` attempts;
    /// whether it was.
    async fn transition(&self, status: MessageStatus, attempts: u32, to: &Message) -> Result<bool>;
    /// Moves a message forward by a report (a stale or repeated one changes nothing, but a
    /// SID or error code not known yet is kept); the message as it now stands, when it moved.
    async fn apply_report(&self, id: &str, report: Report) -> Result<Option<Message>>;
    /// In id order, strictly after `after`.
    async fn list_messages(
        &self,
        filter: MessageFilter,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Message>>;
    async fn message_counts(&self, campaign: CampaignId) -> Result<MessageCounts>;
    async fn add_message_event(&self, event: MessageEvent) -> Result<()>;
    /// [`transition`](Self::transition), and when it happened the decision's event stored
    /// with it (the embedded store does both in one write).
    async fn transition_noting(
        &self,
        status: MessageStatus,
        attempts: u32,
        to: &Message,
        event: MessageEvent,
    ) -> Result<bool> {
        let done = self.transition(status, attempts, to).await?;
        if done {
            self.add_message_event(event).await?;
        }
        Ok(done)
    }
    /// A provider's receipt: its event stored, then — unless it speaks of an attempt before
    /// the message's current one ([`applies`]) — the report applied forward-only.
    /// `None` when no message has the receipt's id (the event is kept all the same). The
    /// embedded store does it all in one write.
    async fn record_receipt(&self, receipt: ReceiptWrite) -> Result<Option<ReceiptApplied>> {
        let id = receipt.report_for.clone();
        self.add_message_event(receipt.event).await?;
        let Some(before) = self.get_message(&id).await? else {
            return Ok(None);
        };
        let moved = if applies(receipt.attempt, &before) {
            self.apply_report(&id, receipt.report).await?
        } else {
            None
        };
        Ok(Some(ReceiptApplied { before, moved }))
    }
    /// Events of a kind (all kinds when `None`), newest first, strictly before `before`
    /// (events up to `now` when there is no cursor).
    async fn message_events(
        &self,
        kind: Option<EventKind>,
        before: Option<String>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<MessageEvent>>;
}

/// A receipt to store and apply ([`MessageStore::record_receipt`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptWrite {
    /// The message it speaks of.
    pub report_for: String,
    /// The attempt it speaks of; 0 when the provider did not say.
    pub attempt: u32,
    pub report: Report,
    /// The receipt as it arrived and as read.
    pub event: MessageEvent,
}

/// What a receipt found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptApplied {
    /// The message before the receipt.
    pub before: Message,
    /// The message after it, when it moved.
    pub moved: Option<Message>,
}

impl ReceiptApplied {
    /// The message as it now stands.
    pub fn current(&self) -> &Message {
        self.moved.as_ref().unwrap_or(&self.before)
    }
}

/// Whether a receipt about `attempt` may move `current`: a late word on an earlier attempt is
/// kept as an event, never applied (0: the provider did not say which attempt).
pub fn applies(attempt: u32, current: &Message) -> bool {
    attempt == 0 || attempt >= current.attempts
}

/// `current` moved by `report`, or `None` when the report changes nothing. A stale report
/// moves no state, but still fills in a provider SID not known yet (the send's answer may
/// arrive after the provider's first callback).
pub fn reported(current: &Message, report: Report) -> Option<Message> {
    let moved = dialer_engine::messaging::apply_report(current.status, report.status);
    let sid = current.provider_sid.is_none() && report.provider_sid.is_some();
    if moved.is_none() && !sid {
        return None;
    }
    let mut m = current.clone();
    if m.provider_sid.is_none() {
        m.provider_sid = report.provider_sid;
    }
    if let Some(status) = moved {
        m.status = status;
        if report.error_code.is_some() {
            m.error_code = report.error_code;
        }
        if report.reason.is_some() {
            m.reason = report.reason;
        }
    }
    m.updated_at = report.at.max(current.updated_at);
    Some(m)
}
