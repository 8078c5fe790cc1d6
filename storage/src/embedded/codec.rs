//! Rows to records and back. Every value read from disk is checked: a row this binary cannot
//! read is a `StorageError::Corrupt` naming the column, never a panic.

use chrono::{DateTime, Utc};
use dialer_engine::{
    AuditKind, Call, CallAudit, CallId, CallOrigin, CallStatus, Campaign, CampaignId,
    CampaignSettings, CampaignState, ContactId, Outcome, PhoneNumber,
};
use rusqlite::Row;
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::model::{Attributes, Contact, DncEntry, DncKind};

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(col: &str, v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| corrupt(col, v))
}

pub(crate) fn id_bytes(id: CallId) -> [u8; 16] {
    *id.as_uuid().as_bytes()
}

fn corrupt(col: &str, v: impl std::fmt::Debug) -> StorageError {
    StorageError::Corrupt(format!("{col} = {v:?}"))
}

fn call_id(col: &str, bytes: &[u8]) -> Result<CallId> {
    Uuid::from_slice(bytes)
        .map(CallId::from_uuid)
        .map_err(|_| corrupt(col, bytes))
}

fn phone(col: &str, s: &str) -> Result<PhoneNumber> {
    PhoneNumber::from_stored(s).map_err(|_| corrupt(col, s))
}

fn campaign_id(v: i64) -> Result<CampaignId> {
    CampaignId::new(v).map_err(|_| corrupt("campaign_id", v))
}

fn contact_id(col: &str, v: i64) -> Result<ContactId> {
    ContactId::new(v).map_err(|_| corrupt(col, v))
}

fn status(col: &str, s: &str) -> Result<CallStatus> {
    s.parse().map_err(|_| corrupt(col, s))
}

fn u32_col(col: &str, v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(col, v))
}

/// The column list `call_from_row` reads, in order.
pub(crate) const CALL_COLUMNS: &str = "call_id, campaign_id, contact_id, phone, origin, status, attempt_count, \
     max_attempts, created_at, updated_at, scheduled_at, due_at, last_attempt_at, last_outcome, total_call_time, \
     external_call_id, error_message";

pub(crate) fn call_from_row(r: &Row<'_>) -> Result<Call> {
    let opt_time = |i: usize, col: &str| -> Result<Option<DateTime<Utc>>> {
        r.get::<_, Option<i64>>(i)?
            .map(|v| time(col, v))
            .transpose()
    };
    let origin: String = r.get(4)?;
    let last_outcome: Option<String> = r.get(13)?;
    Ok(Call {
        call_id: call_id("call_id", &r.get::<_, Vec<u8>>(0)?)?,
        campaign_id: campaign_id(r.get(1)?)?,
        contact_id: r
            .get::<_, Option<i64>>(2)?
            .map(|v| contact_id("contact_id", v))
            .transpose()?,
        phone_number: phone("phone", &r.get::<_, String>(3)?)?,
        origin: CallOrigin::parse(&origin).ok_or_else(|| corrupt("origin", &origin))?,
        status: status("status", &r.get::<_, String>(5)?)?,
        attempt_count: u32_col("attempt_count", r.get(6)?)?,
        max_attempts: u32_col("max_attempts", r.get(7)?)?,
        created_at: time("created_at", r.get(8)?)?,
        updated_at: time("updated_at", r.get(9)?)?,
        scheduled_at: time("scheduled_at", r.get(10)?)?,
        due_at: opt_time(11, "due_at")?,
        last_attempt_at: opt_time(12, "last_attempt_at")?,
        last_outcome: last_outcome
            .map(|s| {
                s.parse::<Outcome>()
                    .map_err(|_| corrupt("last_outcome", &s))
            })
            .transpose()?,
        total_call_time: u32_col("total_call_time", r.get(14)?)?,
        external_call_id: r.get(15)?,
        error_message: r.get(16)?,
    })
}

pub(crate) const CAMPAIGN_COLUMNS: &str =
    "id, name, description, is_active, state, settings, dial_cursor, created_at, updated_at";

pub(crate) fn campaign_from_row(r: &Row<'_>) -> Result<Campaign> {
    let state: String = r.get(4)?;
    let settings: String = r.get(5)?;
    Ok(Campaign {
        id: campaign_id(r.get(0)?)?,
        name: r.get(1)?,
        description: r.get(2)?,
        is_active: r.get(3)?,
        state: CampaignState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        settings: serde_json::from_str::<CampaignSettings>(&settings)
            .map_err(|e| StorageError::Corrupt(format!("settings: {e}")))?,
        dial_cursor: r
            .get::<_, Option<i64>>(6)?
            .map(|v| contact_id("dial_cursor", v))
            .transpose()?,
        created_at: time("created_at", r.get(7)?)?,
        updated_at: time("updated_at", r.get(8)?)?,
    })
}

pub(crate) fn settings_json(s: &CampaignSettings) -> Result<String> {
    serde_json::to_string(s).map_err(|e| StorageError::Corrupt(format!("settings: {e}")))
}

pub(crate) const CONTACT_COLUMNS: &str = "id, campaign_id, phone, attributes, added_at";

pub(crate) fn contact_from_row(r: &Row<'_>) -> Result<Contact> {
    let attributes: String = r.get(3)?;
    Ok(Contact {
        id: contact_id("id", r.get(0)?)?,
        campaign_id: campaign_id(r.get(1)?)?,
        phone_number: phone("phone", &r.get::<_, String>(2)?)?,
        attributes: serde_json::from_str::<Attributes>(&attributes)
            .map_err(|e| StorageError::Corrupt(format!("attributes: {e}")))?,
        added_at: time("added_at", r.get(4)?)?,
    })
}

pub(crate) fn attributes_json(a: &Attributes) -> Result<String> {
    serde_json::to_string(a).map_err(|e| StorageError::Corrupt(format!("attributes: {e}")))
}

pub(crate) const EVENT_COLUMNS: &str =
    "call_id, campaign_id, at, attempt, from_status, to_status, detail";

pub(crate) fn event_from_row(r: &Row<'_>) -> Result<CallAudit> {
    let opt_status = |i: usize, col: &str| -> Result<Option<CallStatus>> {
        r.get::<_, Option<String>>(i)?
            .map(|s| status(col, &s))
            .transpose()
    };
    let detail: String = r.get(6)?;
    Ok(CallAudit {
        call_id: call_id("call_id", &r.get::<_, Vec<u8>>(0)?)?,
        campaign_id: campaign_id(r.get(1)?)?,
        at: time("at", r.get(2)?)?,
        attempt: u32_col("attempt", r.get(3)?)?,
        from_status: opt_status(4, "from_status")?,
        to_status: opt_status(5, "to_status")?,
        kind: serde_json::from_str::<AuditKind>(&detail)
            .map_err(|e| StorageError::Corrupt(format!("detail: {e}")))?,
    })
}

pub(crate) fn audit_detail(kind: &AuditKind) -> Result<String> {
    serde_json::to_string(kind).map_err(|e| StorageError::Corrupt(format!("detail: {e}")))
}

pub(crate) const DNC_COLUMNS: &str = "phone, kind, source, added_at";

pub(crate) fn dnc_from_row(r: &Row<'_>) -> Result<DncEntry> {
    let kind: String = r.get(1)?;
    Ok(DncEntry {
        phone_number: phone("phone", &r.get::<_, String>(0)?)?,
        kind: DncKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        source: r.get(2)?,
        added_at: time("added_at", r.get(3)?)?,
    })
}

pub(crate) fn due_from_row(r: &Row<'_>) -> Result<(DateTime<Utc>, CallId)> {
    Ok((
        time("due_at", r.get(0)?)?,
        call_id("call_id", &r.get::<_, Vec<u8>>(1)?)?,
    ))
}
