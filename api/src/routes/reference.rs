//! The reference implementation's routes (a client written for the seed-004 system calls them):
//! `POST /api/v1/phone-numbers/` and `POST /api/v1/bulk-initiate-calls/`, in its shapes, on the
//! same code as ours — the contact import and `initiate-call/bulk`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use dialer_engine::{Campaign, CampaignState};
use dialer_storage::lease::PoolId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::campaigns::load;
use super::contacts::add_numbers;
use super::seed::initiate_many;
use crate::auth::{Authorized, can};
use crate::dto::campaign_id;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::Body;
use crate::state::AppState;

/// Numbers per request, at most (as `initiate-call/bulk`).
const MAX_NUMBERS: usize = 10_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPhoneNumbers {
    #[schema(required = true, schema_with = crate::schema::campaign_id)]
    #[serde(default, deserialize_with = "crate::json::whole_or_null")]
    pub campaign_id: Option<i64>,
    /// Each number is added or reported in `errors` on its own.
    #[schema(required = true, value_type = Vec<String>, min_items = 1, max_items = 10000)]
    pub phone_numbers: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddedPhoneNumbers {
    pub created_count: u64,
    /// The numbers added, in E.164.
    pub created_numbers: Vec<String>,
    /// `Invalid phone number: <what was sent> (<why>)`, one per rejected number (the first
    /// 1,000).
    pub errors: Vec<String>,
}

/// The campaign a reference route names: it must exist and be active.
async fn active_campaign(state: &AppState, id: Option<i64>) -> ApiResult<Campaign> {
    let id = campaign_id(
        "campaign_id",
        id.ok_or_else(|| ApiError::missing("campaign_id"))?,
    )?;
    let campaign = load(state, id).await?;
    if !campaign.is_active {
        return Err(ApiError::NotFound {
            what: "active campaign",
            id: id.to_string(),
        });
    }
    Ok(campaign)
}

fn numbers(list: Option<Vec<String>>) -> ApiResult<Vec<String>> {
    let list = list.ok_or_else(|| ApiError::missing("phone_numbers"))?;
    if list.is_empty() {
        return Err(ApiError::invalid("phone_numbers", "must not be empty"));
    }
    if list.len() > MAX_NUMBERS {
        return Err(ApiError::invalid(
            "phone_numbers",
            "at most 10000 numbers per request",
        ));
    }
    Ok(list)
}

/// Adds numbers to a campaign's contacts (the reference's bulk number import).
#[utoipa::path(
    post, path = "/api/v1/phone-numbers", tag = "reference", request_body = AddPhoneNumbers,
    responses(
        (status = 201, body = AddedPhoneNumbers),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn phone_numbers(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Body(req): Body<AddPhoneNumbers>,
) -> ApiResult<(StatusCode, Json<AddedPhoneNumbers>)> {
    let campaign = active_campaign(&state, req.campaign_id).await?;
    let list = numbers(req.phone_numbers)?;
    let report = add_numbers(&state, &campaign, list, MAX_NUMBERS).await?;
    Ok((
        StatusCode::CREATED,
        Json(AddedPhoneNumbers {
            created_count: report.added,
            created_numbers: report.added_numbers,
            errors: report
                .invalid_rows
                .into_iter()
                .map(|r| format!("Invalid phone number: {} ({})", r.value, r.reason))
                .collect(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInitiateCalls {
    #[schema(required = true, schema_with = crate::schema::campaign_id)]
    #[serde(default, deserialize_with = "crate::json::whole_or_null")]
    pub campaign_id: Option<i64>,
    /// Each number is accepted or reported in `failed_numbers` on its own; 1 to 10,000 of them
    /// unless `use_campaign_numbers` is true.
    #[schema(value_type = Option<Vec<String>>)]
    pub phone_numbers: Option<Vec<String>>,
    /// Call the campaign's own numbers (its contacts) instead of `phone_numbers`.
    #[serde(default)]
    pub use_campaign_numbers: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FailedNumber {
    pub phone_number: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueInfo {
    /// Lines free now, across the engine.
    pub available_slots: u32,
    pub immediate_processed: u64,
    pub queued_pending: u64,
    /// Calls of the campaign waiting for a line, this batch's included.
    pub total_in_queue: u64,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkInitiated {
    pub success: bool,
    pub batch_id: String,
    pub campaign_id: i64,
    pub campaign_name: String,
    pub total_requested: u64,
    /// Calls accepted that lines are free for now.
    pub immediate_processed: u64,
    /// Calls accepted that wait for a line.
    pub queued_for_later: u64,
    pub failed: u64,
    pub call_ids: Vec<String>,
    pub queue_info: QueueInfo,
    /// The first 10 numbers refused, with why (only when some were).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_numbers: Option<Vec<FailedNumber>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_count: Option<u64>,
}

/// The campaign's contact numbers, at most `MAX_NUMBERS` (more is refused).
async fn campaign_numbers(state: &AppState, campaign: &Campaign) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.contacts_page(campaign.id, after, 1000).await?;
        out.extend(page.iter().map(|c| c.phone_number.as_str().to_owned()));
        if out.len() > MAX_NUMBERS {
            return Err(ApiError::Conflict(
                "use_campaign_numbers: the campaign has more than 10000 numbers; start the campaign to dial its list".into(),
            ));
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.id),
            _ => return Ok(out),
        }
    }
}

/// Places one-off calls to many numbers (the reference's bulk call).
#[utoipa::path(
    post, path = "/api/v1/bulk-initiate-calls", tag = "reference", request_body = BulkInitiateCalls,
    responses(
        (status = 201, body = BulkInitiated),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "use_campaign_numbers on a running campaign, which dials its list itself", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn bulk_initiate_calls(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Body(req): Body<BulkInitiateCalls>,
) -> ApiResult<(StatusCode, Json<BulkInitiated>)> {
    let campaign = active_campaign(&state, req.campaign_id).await?;
    let list = if req.use_campaign_numbers {
        if campaign.state == CampaignState::Running {
            return Err(ApiError::Conflict(format!(
                "campaign {} is running and dials its own numbers; use_campaign_numbers would call them twice",
                campaign.id
            )));
        }
        let list = campaign_numbers(&state, &campaign).await?;
        if list.is_empty() {
            return Err(ApiError::Conflict(
                "use_campaign_numbers: the campaign has no numbers".into(),
            ));
        }
        list
    } else {
        numbers(req.phone_numbers)?
    };
    let free_before = state
        .settings
        .max_concurrent_calls
        .saturating_sub(state.leases.count(&PoolId::global()).await.unwrap_or(0));
    let result = initiate_many(&state, campaign.id.get(), &list).await?;
    let accepted = result.accepted.len() as u64;
    let immediate = accepted.min(u64::from(free_before));
    let queued = accepted - immediate;
    let waiting = state.engine.calls_waiting(campaign.id);
    let failed = result.rejected.len() as u64;
    let now = state.engine.clock().now();
    let batch_id = dialer_engine::CallId::generate(now).to_string();
    Ok((
        StatusCode::CREATED,
        Json(BulkInitiated {
            success: true,
            batch_id,
            campaign_id: campaign.id.get(),
            campaign_name: campaign.name.clone(),
            total_requested: list.len() as u64,
            immediate_processed: immediate,
            queued_for_later: queued,
            failed,
            call_ids: result.accepted.into_iter().map(|c| c.call_id).collect(),
            queue_info: QueueInfo {
                available_slots: free_before,
                immediate_processed: immediate,
                queued_pending: queued,
                total_in_queue: waiting.max(queued),
                message: format!(
                    "{immediate} calls dialing as lines allow now, {queued} waiting for a line"
                ),
            },
            failed_numbers: (failed > 0).then(|| {
                result
                    .rejected
                    .iter()
                    .take(10)
                    .map(|r| FailedNumber {
                        phone_number: r.phone_number.clone(),
                        reason: r.message.clone(),
                    })
                    .collect()
            }),
            failed_count: (failed > 0).then_some(failed),
        }),
    ))
}
