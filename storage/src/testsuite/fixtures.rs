//! Small builders for records in tests.

use chrono::{DateTime, Duration, TimeZone, Utc};
use dialer_engine::{
    AuditKind, Call, CallAudit, CallId, CallOrigin, CampaignId, CampaignSettings, ContactId,
    NewCall, NewCampaign, PhoneNumber,
};

/// A fixed instant tests start from: Saturday 2026-06-06 14:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn at(ms: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(ms)
}

/// A valid US number in New York's 212, distinct for each `n` below 10 000.
pub fn phone(n: u32) -> PhoneNumber {
    PhoneNumber::from_stored(&format!("+1212555{:04}", n % 10_000))
        .unwrap_or_else(|e| panic!("fixture phone {n}: {e}"))
}

pub fn new_campaign(name: &str) -> NewCampaign {
    NewCampaign {
        name: name.to_owned(),
        description: format!("{name} description"),
        is_active: true,
        settings: CampaignSettings::default(),
    }
}

/// A call created at `created` (its id encodes that time).
pub fn call(
    campaign: CampaignId,
    phone_n: u32,
    created: DateTime<Utc>,
    origin: CallOrigin,
) -> Call {
    Call::new(
        NewCall {
            call_id: CallId::generate(created),
            campaign_id: campaign,
            contact_id: ContactId::new(i64::from(phone_n) + 1).ok(),
            phone_number: phone(phone_n),
            origin,
            max_attempts: 3,
            scheduled_at: None,
        },
        created,
    )
}

pub fn audit(call: &Call, at: DateTime<Utc>, kind: AuditKind) -> CallAudit {
    CallAudit::of(call, None, at, kind)
}
