//! SQLite rows to records. Every value read is checked (see `crate::decode`).

use dialer_engine::{Call, CallAudit, CallId, Campaign};
use rusqlite::Row;

use crate::decode::{
    attributes, audit_kind, call_id, campaign_id, campaign_state, contact_id, count, dnc_kind,
    opt_status, opt_time, origin, outcome, phone, settings, status, time,
};
use crate::error::Result;
use crate::model::{Contact, DncEntry};

pub(crate) use crate::decode::{attributes_json, audit_detail, ms, settings_json};

pub(crate) fn id_bytes(id: CallId) -> [u8; 16] {
    *id.as_uuid().as_bytes()
}

/// The column list `call_from_row` reads, in order.
pub(crate) const CALL_COLUMNS: &str = "call_id, campaign_id, contact_id, phone, origin, status, attempt_count, \
     max_attempts, created_at, updated_at, scheduled_at, due_at, last_attempt_at, last_outcome, total_call_time, \
     external_call_id, error_message";

pub(crate) fn call_from_row(r: &Row<'_>) -> Result<Call> {
    Ok(Call {
        call_id: call_id("call_id", &r.get::<_, Vec<u8>>(0)?)?,
        campaign_id: campaign_id("campaign_id", r.get(1)?)?,
        contact_id: r
            .get::<_, Option<i64>>(2)?
            .map(|v| contact_id("contact_id", v))
            .transpose()?,
        phone_number: phone("phone", &r.get::<_, String>(3)?)?,
        origin: origin("origin", &r.get::<_, String>(4)?)?,
        status: status("status", &r.get::<_, String>(5)?)?,
        attempt_count: count("attempt_count", r.get(6)?)?,
        max_attempts: count("max_attempts", r.get(7)?)?,
        created_at: time("created_at", r.get(8)?)?,
        updated_at: time("updated_at", r.get(9)?)?,
        scheduled_at: time("scheduled_at", r.get(10)?)?,
        due_at: opt_time("due_at", r.get(11)?)?,
        last_attempt_at: opt_time("last_attempt_at", r.get(12)?)?,
        last_outcome: outcome("last_outcome", r.get(13)?)?,
        total_call_time: count("total_call_time", r.get(14)?)?,
        external_call_id: r.get(15)?,
        error_message: r.get(16)?,
    })
}

pub(crate) const CAMPAIGN_COLUMNS: &str = "id, name, description, is_active, state, settings, dial_cursor, created_at, updated_at, archived_at";

pub(crate) fn campaign_from_row(r: &Row<'_>) -> Result<Campaign> {
    Ok(Campaign {
        id: campaign_id("id", r.get(0)?)?,
        name: r.get(1)?,
        description: r.get(2)?,
        is_active: r.get(3)?,
        state: campaign_state("state", &r.get::<_, String>(4)?)?,
        settings: settings(&r.get::<_, String>(5)?)?,
        dial_cursor: r
            .get::<_, Option<i64>>(6)?
            .map(|v| contact_id("dial_cursor", v))
            .transpose()?,
        created_at: time("created_at", r.get(7)?)?,
        updated_at: time("updated_at", r.get(8)?)?,
        archived_at: opt_time("archived_at", r.get(9)?)?,
    })
}

pub(crate) const CONTACT_COLUMNS: &str = "id, campaign_id, phone, attributes, added_at";

pub(crate) fn contact_from_row(r: &Row<'_>) -> Result<Contact> {
    Ok(Contact {
        id: contact_id("id", r.get(0)?)?,
        campaign_id: campaign_id("campaign_id", r.get(1)?)?,
        phone_number: phone("phone", &r.get::<_, String>(2)?)?,
        attributes: attributes(&r.get::<_, String>(3)?)?,
        added_at: time("added_at", r.get(4)?)?,
    })
}

pub(crate) const EVENT_COLUMNS: &str =
    "call_id, campaign_id, at, attempt, from_status, to_status, detail";

pub(crate) fn event_from_row(r: &Row<'_>) -> Result<CallAudit> {
    Ok(CallAudit {
        call_id: call_id("call_id", &r.get::<_, Vec<u8>>(0)?)?,
        campaign_id: campaign_id("campaign_id", r.get(1)?)?,
        at: time("at", r.get(2)?)?,
        attempt: count("attempt", r.get(3)?)?,
        from_status: opt_status("from_status", r.get(4)?)?,
        to_status: opt_status("to_status", r.get(5)?)?,
        kind: audit_kind(&r.get::<_, String>(6)?)?,
    })
}

pub(crate) const DNC_COLUMNS: &str = "phone, kind, source, added_at";

pub(crate) fn dnc_from_row(r: &Row<'_>) -> Result<DncEntry> {
    Ok(DncEntry {
        phone_number: phone("phone", &r.get::<_, String>(0)?)?,
        kind: dnc_kind("kind", &r.get::<_, String>(1)?)?,
        source: r.get(2)?,
        added_at: time("added_at", r.get(3)?)?,
    })
}
