//! The seed-004 contract, exactly: `POST /api/v1/initiate-call/`, `PUT /api/v1/callback/`, bulk
//! initiation.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use dialer_engine::{CallId, ProviderReport};

use crate::auth::{Authorized, can};
use crate::dto::{
    BulkInitiateRequest, BulkInitiateResponse, CallbackRequest, CallbackResponse,
    InitiateCallRequest, InitiateCallResponse, Rejected, call_id, campaign_id, phone,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::Body;
use crate::state::AppState;

/// Places a call: queued at once, dialed as soon as the caps allow.
#[utoipa::path(
    post, path = "/api/v1/initiate-call", tag = "calls",
    request_body = InitiateCallRequest,
    responses(
        (status = 201, description = "Accepted and durable", body = InitiateCallResponse),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or wrong X-Auth-Token", body = ErrorBody),
        (status = 404, description = "Unknown campaign", body = ErrorBody),
        (status = 409, description = "The campaign is not active, or stopped", body = ErrorBody),
        (status = 429, description = "Same number in the same campaign within the duplicate window", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn initiate_call(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Body(req): Body<InitiateCallRequest>,
) -> ApiResult<(StatusCode, Json<InitiateCallResponse>)> {
    let call = initiate(&state, req.campaign_id, &req.phone_number, "phone_number").await?;
    Ok((StatusCode::CREATED, Json(InitiateCallResponse::from(&call))))
}

async fn initiate(
    state: &AppState,
    campaign: i64,
    number: &str,
    field: &str,
) -> ApiResult<dialer_engine::Call> {
    let campaign_id = campaign_id("campaign_id", campaign)?;
    let campaign = state
        .store
        .get_campaign(campaign_id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            what: "campaign",
            id: campaign_id.to_string(),
        })?;
    super::campaigns::calls_only(&campaign)?;
    let number = phone(
        field,
        number,
        campaign.settings.numbering(state.settings.phone_validation),
    )?;
    accept_one_off(state, campaign_id, number, None).await
}

/// Accepts a one-off call through the engine, refused (429) when the same number was given to
/// the same campaign within the duplicate window — for initiate-call and `POST /api/v1/calls`
/// alike.
pub(crate) async fn accept_one_off(
    state: &AppState,
    campaign_id: dialer_engine::CampaignId,
    number: dialer_engine::PhoneNumber,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> ApiResult<dialer_engine::Call> {
    let window = state.settings.duplicate_window_secs;
    let dedupe =
        (window > 0).then(|| chrono::Duration::seconds(i64::try_from(window).unwrap_or(i64::MAX)));
    state
        .engine
        .initiate_call(campaign_id, number, at, dedupe)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Duplicate {
                retry_after_secs, ..
            } => ApiError::Duplicate {
                window_secs: window,
                retry_after_secs,
            },
            other => other,
        })
}

/// Places many calls in one request; each is accepted or rejected on its own.
#[utoipa::path(
    post, path = "/api/v1/initiate-call/bulk", tag = "calls",
    request_body = BulkInitiateRequest,
    responses(
        (status = 201, description = "Per-number results", body = BulkInitiateResponse),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 404, description = "Unknown campaign", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn initiate_bulk(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Body(req): Body<BulkInitiateRequest>,
) -> ApiResult<(StatusCode, Json<BulkInitiateResponse>)> {
    if req.phone_numbers.len() > 10_000 {
        return Err(ApiError::invalid(
            "phone_numbers",
            "at most 10000 numbers per request",
        ));
    }
    let id = campaign_id("campaign_id", req.campaign_id)?;
    if state.store.get_campaign(id).await?.is_none() {
        return Err(ApiError::NotFound {
            what: "campaign",
            id: id.to_string(),
        });
    }
    let response = initiate_many(&state, req.campaign_id, &req.phone_numbers).await?;
    Ok((StatusCode::CREATED, Json(response)))
}

/// Accepts a one-off call for each of `numbers`, each on its own: accepted, or rejected with
/// its reason (a storage outage fails the whole request).
pub(crate) async fn initiate_many(
    state: &AppState,
    campaign: i64,
    numbers: &[String],
) -> ApiResult<BulkInitiateResponse> {
    let mut response = BulkInitiateResponse {
        accepted: Vec::new(),
        rejected: Vec::new(),
    };
    for (index, number) in numbers.iter().enumerate() {
        match initiate(state, campaign, number, &format!("phone_numbers[{index}]")).await {
            Ok(call) => response.accepted.push(InitiateCallResponse::from(&call)),
            Err(e @ (ApiError::Unavailable(_) | ApiError::Internal)) => return Err(e),
            Err(e) => response.rejected.push(Rejected {
                index,
                phone_number: number.clone(),
                code: e.code().to_owned(),
                message: e.to_string(),
            }),
        }
    }
    Ok(response)
}

/// A provider's status report for a call (seed shape). Idempotent: a repeated or late report
/// changes nothing and answers with the call's current retry state.
#[utoipa::path(
    put, path = "/api/v1/callback", tag = "providers",
    request_body = CallbackRequest,
    responses(
        (status = 200, description = "Processed", body = CallbackResponse),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 401, description = "Missing or wrong X-Auth-Token", body = ErrorBody),
        (status = 404, description = "Unknown call", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn callback(
    State(state): State<AppState>,
    _: Authorized<can::Callback>,
    Body(req): Body<CallbackRequest>,
) -> ApiResult<Json<CallbackResponse>> {
    let id: CallId = call_id("call_id", &req.call_id)?;
    let event = dialer_actors::provider::normalize_status(
        &req.status,
        req.call_duration,
        req.error_code.clone(),
    );
    if event.is_none() && !dialer_actors::provider::is_pending_status(&req.status) {
        return Err(ApiError::invalid(
            "status",
            format!(
                "unknown status {:?}: use PICKED, DISCONNECTED, RNR or FAILED (or RINGING, IN_PROGRESS)",
                req.status
            ),
        ));
    }
    let report = ProviderReport {
        provider: "http".into(),
        raw_status: req.status.clone(),
        event,
        external_id: None,
        payload: serde_json::to_string(&serde_json::json!({
            "call_id": req.call_id, "status": req.status, "call_duration": req.call_duration, "error_code": req.error_code,
        }))
        .ok(),
    };
    let outcome = state.engine.report(id, report).await?;
    // A duplicate report answers with the state the first one left.
    let next = outcome.next_retry_at.or(outcome.call.next_retry_at());
    Ok(Json(CallbackResponse {
        message: "Callback processed".into(),
        retry_scheduled: next.is_some(),
        next_retry_at: next,
    }))
}
