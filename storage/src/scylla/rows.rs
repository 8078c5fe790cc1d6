//! CQL rows to records and back.

use std::collections::HashMap;

use dialer_engine::{Call, CallAudit, CallId, Campaign};
use scylla::DeserializeRow;
use scylla::value::CqlValue;
use uuid::Uuid;

use crate::decode::{
    attributes, audit_kind, campaign_id, campaign_state, contact_id, count, dnc_kind, ms,
    opt_status, opt_time, origin, outcome, phone, settings, status, time,
};
use crate::error::Result;
use crate::model::{Contact, DncEntry};

/// Named bind values of one statement.
pub(crate) type Values = HashMap<&'static str, Option<CqlValue>>;

pub(crate) fn big(v: i64) -> Option<CqlValue> {
    Some(CqlValue::BigInt(v))
}

pub(crate) fn int(v: i64) -> Option<CqlValue> {
    Some(CqlValue::Int(i32::try_from(v).unwrap_or(i32::MAX)))
}

pub(crate) fn text(v: impl Into<String>) -> Option<CqlValue> {
    Some(CqlValue::Text(v.into()))
}

pub(crate) fn uuid(id: CallId) -> Option<CqlValue> {
    Some(CqlValue::Uuid(*id.as_uuid()))
}

/// The columns every copy of a call carries, for `SELECT`s that read a [`CallRow`].
pub(crate) const CALL_COLUMNS: &str = "call_id, campaign_id, contact_id, phone, origin, status, attempt_count, \
     max_attempts, created_at, updated_at, scheduled_at, due_at, last_attempt_at, last_outcome, total_call_time, \
     external_call_id, error_message";

#[derive(DeserializeRow)]
pub(crate) struct CallRow {
    call_id: Uuid,
    campaign_id: i64,
    contact_id: Option<i64>,
    phone: String,
    origin: String,
    status: String,
    attempt_count: i32,
    max_attempts: i32,
    created_at: i64,
    updated_at: i64,
    scheduled_at: i64,
    due_at: Option<i64>,
    last_attempt_at: Option<i64>,
    last_outcome: Option<String>,
    total_call_time: i32,
    external_call_id: Option<String>,
    error_message: Option<String>,
}

impl CallRow {
    pub(crate) fn into_call(self) -> Result<Call> {
        Ok(Call {
            call_id: CallId::from_uuid(self.call_id),
            campaign_id: campaign_id("campaign_id", self.campaign_id)?,
            contact_id: self
                .contact_id
                .map(|v| contact_id("contact_id", v))
                .transpose()?,
            phone_number: phone("phone", &self.phone)?,
            origin: origin("origin", &self.origin)?,
            status: status("status", &self.status)?,
            attempt_count: count("attempt_count", i64::from(self.attempt_count))?,
            max_attempts: count("max_attempts", i64::from(self.max_attempts))?,
            created_at: time("created_at", self.created_at)?,
            updated_at: time("updated_at", self.updated_at)?,
            scheduled_at: time("scheduled_at", self.scheduled_at)?,
            due_at: opt_time("due_at", self.due_at)?,
            last_attempt_at: opt_time("last_attempt_at", self.last_attempt_at)?,
            last_outcome: outcome("last_outcome", self.last_outcome)?,
            total_call_time: count("total_call_time", i64::from(self.total_call_time))?,
            external_call_id: self.external_call_id,
            error_message: self.error_message,
        })
    }
}

/// The values of a call's columns, for any of its tables (callers add the table's keys).
pub(crate) fn call_values(c: &Call) -> Values {
    HashMap::from([
        ("call_id", uuid(c.call_id)),
        ("campaign_id", big(c.campaign_id.get())),
        ("contact_id", c.contact_id.and_then(|id| big(id.get()))),
        ("phone", text(c.phone_number.as_str())),
        ("origin", text(c.origin.as_str())),
        ("status", text(c.status.as_str())),
        ("attempt_count", int(i64::from(c.attempt_count))),
        ("max_attempts", int(i64::from(c.max_attempts))),
        ("created_at", big(ms(c.created_at))),
        ("updated_at", big(ms(c.updated_at))),
        ("scheduled_at", big(ms(c.scheduled_at))),
        ("due_at", c.due_at.and_then(|t| big(ms(t)))),
        (
            "last_attempt_at",
            c.last_attempt_at.and_then(|t| big(ms(t))),
        ),
        (
            "last_outcome",
            c.last_outcome.and_then(|o| text(o.as_str())),
        ),
        ("total_call_time", int(i64::from(c.total_call_time))),
        (
            "external_call_id",
            c.external_call_id.clone().and_then(text),
        ),
        ("error_message", c.error_message.clone().and_then(text)),
    ])
}

pub(crate) const CAMPAIGN_COLUMNS: &str = "id, name, description, is_active, state, settings, dial_cursor, created_at, updated_at, archived_at";

#[derive(DeserializeRow)]
pub(crate) struct CampaignRow {
    id: i64,
    name: String,
    description: String,
    is_active: bool,
    state: String,
    settings: String,
    dial_cursor: Option<i64>,
    created_at: i64,
    updated_at: i64,
    archived_at: Option<i64>,
}

impl CampaignRow {
    pub(crate) fn into_campaign(self) -> Result<Campaign> {
        Ok(Campaign {
            id: campaign_id("id", self.id)?,
            name: self.name,
            description: self.description,
            is_active: self.is_active,
            state: campaign_state("state", &self.state)?,
            settings: settings(&self.settings)?,
            dial_cursor: self
                .dial_cursor
                .map(|v| contact_id("dial_cursor", v))
                .transpose()?,
            created_at: time("created_at", self.created_at)?,
            updated_at: time("updated_at", self.updated_at)?,
            archived_at: self
                .archived_at
                .map(|v| time("archived_at", v))
                .transpose()?,
        })
    }
}

pub(crate) const CONTACT_COLUMNS: &str = "campaign_id, id, phone, attributes, added_at";

#[derive(DeserializeRow)]
pub(crate) struct ContactRow {
    campaign_id: i64,
    id: i64,
    phone: String,
    attributes: String,
    added_at: i64,
}

impl ContactRow {
    pub(crate) fn into_contact(self) -> Result<Contact> {
        Ok(Contact {
            id: contact_id("id", self.id)?,
            campaign_id: campaign_id("campaign_id", self.campaign_id)?,
            phone_number: phone("phone", &self.phone)?,
            attributes: attributes(&self.attributes)?,
            added_at: time("added_at", self.added_at)?,
        })
    }
}

pub(crate) const EVENT_COLUMNS: &str =
    "call_id, campaign_id, at, attempt, from_status, to_status, detail";

#[derive(DeserializeRow)]
pub(crate) struct EventRow {
    call_id: Uuid,
    campaign_id: i64,
    at: i64,
    attempt: i32,
    from_status: Option<String>,
    to_status: Option<String>,
    detail: String,
}

impl EventRow {
    pub(crate) fn into_audit(self) -> Result<CallAudit> {
        Ok(CallAudit {
            call_id: CallId::from_uuid(self.call_id),
            campaign_id: campaign_id("campaign_id", self.campaign_id)?,
            at: time("at", self.at)?,
            attempt: count("attempt", i64::from(self.attempt))?,
            from_status: opt_status("from_status", self.from_status)?,
            to_status: opt_status("to_status", self.to_status)?,
            kind: audit_kind(&self.detail)?,
        })
    }
}

pub(crate) const DNC_COLUMNS: &str = "phone, kind, source, added_at";

#[derive(DeserializeRow)]
pub(crate) struct DncRow {
    phone: String,
    kind: String,
    source: String,
    added_at: i64,
}

impl DncRow {
    pub(crate) fn into_entry(self) -> Result<DncEntry> {
        Ok(DncEntry {
            phone_number: phone("phone", &self.phone)?,
            kind: dnc_kind("kind", &self.kind)?,
            source: self.source,
            added_at: time("added_at", self.added_at)?,
        })
    }
}

/// FNV-1a: a stable hash for bucketing (the same on every node and every release).
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) const DNC_BUCKETS: i64 = 32;
pub(crate) const CAMPAIGN_BUCKET: i64 = 10_000;
pub(crate) const CONTACT_BUCKET: i64 = 10_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 86_400_000;

/// A lane's name in the pending tables.
pub(crate) fn lane_name(lane: dialer_engine::Lane) -> &'static str {
    lane.as_str()
}
pub(crate) fn dnc_bucket(phone: &str) -> i64 {
    (fnv(phone.as_bytes()) % DNC_BUCKETS as u64) as i64
}

/// A contact id is `campaign << 32 | seq`, so a campaign's ids are dense and its own.
pub(crate) fn contact_id_of(campaign: i64, seq: i64) -> i64 {
    (campaign << 32) | seq
}

pub(crate) fn contact_seq(id: i64) -> i64 {
    id & 0xFFFF_FFFF
}

/// Creation time of a call, from its v7 id.
pub(crate) fn created_ms(id: CallId) -> i64 {
    id.created_ms()
        .and_then(|ms| i64::try_from(ms).ok())
        .unwrap_or(0)
}
