//! The API's request and response shapes (with their OpenAPI schemas) and their conversion from
//! the engine's records. Field names of the seed-004 contract are kept exactly.

use chrono::{DateTime, Utc};
use dialer_engine::{Call, CallAudit, Campaign, Numbering, PhoneNumber};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Parses a phone number field, naming the field in the error.
pub fn phone(field: &str, text: &str, numbering: Numbering) -> Result<PhoneNumber, ApiError> {
    numbering
        .parse(text)
        .map_err(|e| ApiError::invalid(field, e.to_string()))
}

pub fn campaign_id(field: &str, id: i64) -> Result<dialer_engine::CampaignId, ApiError> {
    dialer_engine::CampaignId::new(id)
        .map_err(|_| ApiError::invalid(field, "must be a positive integer"))
}

/// A topic's, segment's or template's name, naming the field when it is not one.
pub fn name(field: &str, text: &str) -> Result<String, ApiError> {
    if dialer_engine::messaging::valid_name(text) {
        Ok(text.to_owned())
    } else {
        Err(ApiError::invalid(
            field,
            dialer_engine::messaging::NAME_RULE,
        ))
    }
}

pub fn call_id(field: &str, text: &str) -> Result<dialer_engine::CallId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid(field, "must be a call id (UUID)"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitiateCallRequest {
    /// E.164, or any form with a country code (`+1 (415) 555-2671`).
    pub phone_number: String,
    #[schema(schema_with = crate::schema::campaign_id)]
    #[serde(deserialize_with = "crate::json::whole")]
    pub campaign_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InitiateCallResponse {
    pub call_id: String,
    /// `INITIATED`.
    pub status: String,
    pub campaign_id: i64,
    pub phone_number: String,
    pub created_at: DateTime<Utc>,
}

impl From<&Call> for InitiateCallResponse {
    fn from(c: &Call) -> Self {
        Self {
            call_id: c.call_id.to_string(),
            status: c.status.as_str().to_owned(),
            campaign_id: c.campaign_id.get(),
            phone_number: c.phone_number.as_str().to_owned(),
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInitiateRequest {
    #[schema(schema_with = crate::schema::campaign_id)]
    #[serde(deserialize_with = "crate::json::whole")]
    pub campaign_id: i64,
    /// Each number is accepted or rejected on its own.
    #[schema(max_items = 10000)]
    pub phone_numbers: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkInitiateResponse {
    pub accepted: Vec<InitiateCallResponse>,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    pub index: usize,
    pub phone_number: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackRequest {
    #[schema(schema_with = crate::schema::call_id)]
    pub call_id: String,
    /// `PICKED`, `DISCONNECTED`, `RNR` or `FAILED` end an attempt; `RINGING`, `IN_PROGRESS`
    /// and the other provider spellings listed are read too (any case).
    #[schema(schema_with = crate::schema::callback_status)]
    pub status: String,
    /// Seconds of conversation.
    #[serde(default, deserialize_with = "crate::json::whole_or_null")]
    pub call_duration: Option<u32>,
    #[serde(default)]
    pub error_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallbackResponse {
    /// `Callback processed`.
    pub message: String,
    pub retry_scheduled: bool,
    pub next_retry_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignOut {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `draft`, `running`, `paused`, `stopped` or `completed`.
    pub state: String,
    /// The campaign's settings (zone, calling hours, retry rules, caps, provider…).
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// When it was archived; absent when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
}

impl From<&Campaign> for CampaignOut {
    fn from(c: &Campaign) -> Self {
        Self {
            id: c.id.get(),
            name: c.name.clone(),
            description: c.description.clone(),
            is_active: c.is_active,
            created_at: c.created_at,
            updated_at: c.updated_at,
            state: c.state.as_str().to_owned(),
            settings: serde_json::to_value(&c.settings).unwrap_or_default(),
            archived_at: c.archived_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    #[schema(schema_with = crate::schema::campaign_name)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    #[schema(schema_with = crate::schema::settings_or_null)]
    pub settings: Option<serde_json::Value>,
}

/// Fields to change; absent fields stay as they are (PUT and PATCH alike).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCampaign {
    #[serde(default)]
    #[schema(schema_with = crate::schema::campaign_name_or_null)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    #[schema(schema_with = crate::schema::settings_or_null)]
    pub settings: Option<serde_json::Value>,
    /// Accepted and ignored, so that a client may send back a campaign it read.
    #[serde(default, deserialize_with = "crate::json::any_whole_or_null")]
    #[schema(schema_with = crate::schema::any_integer_or_null)]
    pub id: Option<serde_json::Number>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// Accepted and ignored: archiving has routes of its own.
    #[serde(default)]
    pub archived_at: Option<String>,
}

/// A call, with the seed's CallLog fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallOut {
    pub call_id: String,
    pub campaign_id: i64,
    pub contact_id: Option<i64>,
    pub phone_number: String,
    pub status: String,
    /// `campaign`, `api` or `scheduled`.
    pub origin: String,
    pub attempt_count: u32,
    pub max_attempts: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub scheduled_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<String>,
    pub total_call_time: u32,
    pub external_call_id: Option<String>,
    pub error_message: Option<String>,
}

impl From<&Call> for CallOut {
    fn from(c: &Call) -> Self {
        Self {
            call_id: c.call_id.to_string(),
            campaign_id: c.campaign_id.get(),
            contact_id: c.contact_id.map(|id| id.get()),
            phone_number: c.phone_number.as_str().to_owned(),
            status: c.status.as_str().to_owned(),
            origin: c.origin.as_str().to_owned(),
            attempt_count: c.attempt_count,
            max_attempts: c.max_attempts,
            created_at: c.created_at,
            updated_at: c.updated_at,
            scheduled_at: c.scheduled_at,
            last_attempt_at: c.last_attempt_at,
            next_retry_at: c.next_retry_at().or(c
                .due_at
                .filter(|_| c.status == dialer_engine::CallStatus::Scheduled)),
            last_outcome: c.last_outcome.map(|o| o.as_str().to_owned()),
            total_call_time: c.total_call_time,
            external_call_id: c.external_call_id.clone(),
            error_message: c.error_message.clone(),
        }
    }
}

/// One line of a call's audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub at: DateTime<Utc>,
    pub attempt: u32,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    /// `created`, `dialed`, `deferred`, `blocked`, `provider_status`, `ended`, `timed_out`…
    pub kind: String,
    /// The decision's details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<&CallAudit> for EventOut {
    fn from(a: &CallAudit) -> Self {
        Self {
            at: a.at,
            attempt: a.attempt,
            from_status: a.from_status.map(|s| s.as_str().to_owned()),
            to_status: a.to_status.map(|s| s.as_str().to_owned()),
            kind: a.kind.name().to_owned(),
            detail: serde_json::to_value(&a.kind).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallDetail {
    #[serde(flatten)]
    pub call: CallOut,
    pub events: Vec<EventOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallPage {
    pub results: Vec<CallOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleCallRequest {
    #[schema(schema_with = crate::schema::campaign_id)]
    #[serde(deserialize_with = "crate::json::whole")]
    pub campaign_id: i64,
    pub phone_number: String,
    /// When to call (RFC 3339), from a minute ago to 366 days ahead; now when absent.
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
}
