//! Checked conversions from stored values back to records, shared by the backends: a value
//! this binary cannot read is a `StorageError::Corrupt` naming its column, never a panic.

use chrono::{DateTime, Utc};
use dialer_engine::{
    AuditKind, CallId, CallOrigin, CallStatus, CampaignId, CampaignSettings, CampaignState,
    ContactId, Outcome, PhoneNumber,
};
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::model::{Attributes, DncKind};

pub(crate) fn corrupt(col: &str, v: impl std::fmt::Debug) -> StorageError {
    StorageError::Corrupt(format!("{col} = {v:?}"))
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(col: &str, v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| corrupt(col, v))
}

pub(crate) fn opt_time(col: &str, v: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    v.map(|v| time(col, v)).transpose()
}

pub(crate) fn call_id(col: &str, bytes: &[u8]) -> Result<CallId> {
    Uuid::from_slice(bytes)
        .map(CallId::from_uuid)
        .map_err(|_| corrupt(col, bytes))
}

pub(crate) fn phone(col: &str, s: &str) -> Result<PhoneNumber> {
    PhoneNumber::from_stored(s).map_err(|_| corrupt(col, s))
}

pub(crate) fn campaign_id(col: &str, v: i64) -> Result<CampaignId> {
    CampaignId::new(v).map_err(|_| corrupt(col, v))
}

pub(crate) fn contact_id(col: &str, v: i64) -> Result<ContactId> {
    ContactId::new(v).map_err(|_| corrupt(col, v))
}

pub(crate) fn status(col: &str, s: &str) -> Result<CallStatus> {
    s.parse().map_err(|_| corrupt(col, s))
}

pub(crate) fn opt_status(col: &str, s: Option<String>) -> Result<Option<CallStatus>> {
    s.map(|s| status(col, &s)).transpose()
}

pub(crate) fn outcome(col: &str, s: Option<String>) -> Result<Option<Outcome>> {
    s.map(|s| s.parse::<Outcome>().map_err(|_| corrupt(col, &s)))
        .transpose()
}

pub(crate) fn origin(col: &str, s: &str) -> Result<CallOrigin> {
    CallOrigin::parse(s).ok_or_else(|| corrupt(col, s))
}

pub(crate) fn campaign_state(col: &str, s: &str) -> Result<CampaignState> {
    CampaignState::parse(s).ok_or_else(|| corrupt(col, s))
}

pub(crate) fn dnc_kind(col: &str, s: &str) -> Result<DncKind> {
    DncKind::parse(s).ok_or_else(|| corrupt(col, s))
}

pub(crate) fn consent(col: &str, s: &str) -> Result<dialer_engine::messaging::Consent> {
    dialer_engine::messaging::Consent::parse(s).ok_or_else(|| corrupt(col, s))
}

pub(crate) fn definition_kind(col: &str, s: &str) -> Result<crate::audience::DefinitionKind> {
    crate::audience::DefinitionKind::parse(s).ok_or_else(|| corrupt(col, s))
}

pub(crate) fn channel(col: &str, s: &str) -> Result<dialer_engine::messaging::Channel> {
    dialer_engine::messaging::Channel::parse(s).ok_or_else(|| corrupt(col, s))
}

pub(crate) fn message_status(
    col: &str,
    s: &str,
) -> Result<dialer_engine::messaging::MessageStatus> {
    dialer_engine::messaging::MessageStatus::parse(s).ok_or_else(|| corrupt(col, s))
}

pub(crate) fn event_kind(col: &str, s: &str) -> Result<crate::messages::EventKind> {
    crate::messages::EventKind::parse(s).ok_or_else(|| corrupt(col, s))
}

pub(crate) fn document(col: &str, s: &str) -> Result<serde_json::Value> {
    json(col, s)
}

pub(crate) fn document_json(v: &serde_json::Value) -> Result<String> {
    to_json("body", v)
}

pub(crate) fn count<T: TryFrom<i64>>(col: &str, v: i64) -> Result<T> {
    T::try_from(v).map_err(|_| corrupt(col, v))
}

fn json<T: serde::de::DeserializeOwned>(col: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StorageError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn settings(s: &str) -> Result<CampaignSettings> {
    json("settings", s)
}

pub(crate) fn attributes(s: &str) -> Result<Attributes> {
    json("attributes", s)
}

pub(crate) fn audit_kind(s: &str) -> Result<AuditKind> {
    json("detail", s)
}

fn to_json<T: serde::Serialize>(col: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StorageError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn settings_json(s: &CampaignSettings) -> Result<String> {
    to_json("settings", s)
}

pub(crate) fn attributes_json(a: &Attributes) -> Result<String> {
    to_json("attributes", a)
}

pub(crate) fn audit_detail(kind: &AuditKind) -> Result<String> {
    to_json("detail", kind)
}
