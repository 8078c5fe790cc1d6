//! Calls: schedule one-off calls, list them with filters and cursor pagination, read one with
//! its full audit trail, cancel.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use dialer_engine::{CallOrigin, CallStatus};
use dialer_storage::CallFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::campaigns::load;
use crate::auth::{Authorized, can};
use crate::dto::{
    CallDetail, CallOut, CallPage, EventOut, ScheduleCallRequest, call_id, campaign_id, phone,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::Body;
use crate::json::Params;
use crate::state::AppState;

/// Schedules a one-off call at `scheduled_at` (or now): from a minute ago to 366 days ahead.
#[utoipa::path(
    post, path = "/api/v1/calls", tag = "calls", request_body = ScheduleCallRequest,
    responses(
        (status = 201, body = CallOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is not active, or stopped", body = ErrorBody),
        (status = 429, description = "Same number in the same campaign within the duplicate window", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn schedule(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Body(req): Body<ScheduleCallRequest>,
) -> ApiResult<(StatusCode, Json<CallOut>)> {
    let campaign = load(&state, campaign_id("campaign_id", req.campaign_id)?).await?;
    let number = phone(
        "phone_number",
        &req.phone_number,
        campaign.settings.numbering(state.settings.phone_validation),
    )?;
    let now = state.engine.clock().now();
    if let Some(at) = req.scheduled_at {
        if at < now - chrono::Duration::minutes(1) {
            return Err(ApiError::invalid("scheduled_at", "is in the past"));
        }
        if at > now + chrono::Duration::days(366) {
            return Err(ApiError::invalid(
                "scheduled_at",
                "is more than a year ahead",
            ));
        }
    }
    let call = super::seed::accept_one_off(&state, campaign.id, number, req.scheduled_at).await?;
    Ok((StatusCode::CREATED, Json(CallOut::from(&call))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CallQuery {
    #[param(schema_with = crate::schema::campaign_id)]
    campaign_id: Option<i64>,
    /// A call status (any case).
    #[param(schema_with = crate::schema::call_status)]
    status: Option<String>,
    /// How the call came to be.
    #[param(schema_with = crate::schema::call_origin)]
    origin: Option<String>,
    /// Scheduled at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Scheduled before (RFC 3339); no calls when it is not after `from`.
    to: Option<DateTime<Utc>>,
    /// Calls to this number (read by the campaign's numbering plan when `campaign_id` is
    /// given, else the engine's: give the country code).
    phone_number: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = crate::schema::call_id)]
    cursor: Option<String>,
    /// Page size, default 50; 0 is read as 1, more than 500 as 500.
    #[param(schema_with = crate::schema::limit)]
    limit: Option<u32>,
}

/// Calls, newest first.
#[utoipa::path(
    get, path = "/api/v1/calls", tag = "calls", params(CallQuery),
    responses((status = 200, body = CallPage), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Params(q): Params<CallQuery>,
) -> ApiResult<Json<CallPage>> {
    let phone_number = match &q.phone_number {
        None => None,
        Some(text) => {
            // A campaign that does not exist has no calls, as without a number: the engine's
            // numbering reads the number then.
            let campaign = match q.campaign_id {
                Some(id) => {
                    let id = campaign_id("campaign_id", id)?;
                    state.store.get_campaign(id).await?
                }
                None => None,
            };
            let numbering = match campaign {
                Some(c) => c.settings.numbering(state.settings.phone_validation),
                None => dialer_engine::Numbering {
                    region: None,
                    validation: state.settings.phone_validation,
                },
            };
            Some(phone("phone_number", text, numbering)?)
        }
    };
    let filter = CallFilter {
        campaign_id: q
            .campaign_id
            .map(|c| campaign_id("campaign_id", c))
            .transpose()?,
        status: q
            .status
            .as_deref()
            .map(|s| {
                s.parse::<CallStatus>()
                    .map_err(|_| ApiError::invalid("status", format!("unknown status {s:?}")))
            })
            .transpose()?,
        origin: q
            .origin
            .as_deref()
            .map(|o| {
                CallOrigin::parse(o).ok_or_else(|| {
                    ApiError::invalid("origin", "must be campaign, api or scheduled")
                })
            })
            .transpose()?,
        scheduled_from: q.from,
        scheduled_to: q.to,
        phone_number,
    };
    if let (Some(f), Some(t)) = (q.from, q.to)
        && f >= t
    {
        return Ok(Json(CallPage {
            results: Vec::new(),
            next_cursor: None,
        }));
    }
    let before = q
        .cursor
        .as_deref()
        .map(|c| call_id("cursor", c))
        .transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let page = state.store.list_calls(&filter, before, limit).await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|c| c.call_id.to_string()))
        .flatten();
    Ok(Json(CallPage {
        results: page.iter().map(CallOut::from).collect(),
        next_cursor,
    }))
}

/// A call, or 404.
pub async fn load_call(
    state: &AppState,
    id: dialer_engine::CallId,
) -> ApiResult<dialer_engine::Call> {
    state
        .store
        .get_call(id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            what: "call",
            id: id.to_string(),
        })
}

/// A call with its full audit trail: every decision and every provider status.
#[utoipa::path(
    get, path = "/api/v1/calls/{call_id}", tag = "calls",
    responses((status = 200, body = CallDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<CallDetail>> {
    let id = call_id("call_id", &id)?;
    let call = load_call(&state, id).await?;
    let events = state.store.events_for_call(id).await?;
    Ok(Json(CallDetail {
        call: CallOut::from(&call),
        events: events.iter().map(EventOut::from).collect(),
    }))
}

/// Cancels a call that is not in flight.
#[utoipa::path(
    post, path = "/api/v1/calls/{call_id}/cancel", tag = "calls",
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(id): Path<String>,
) -> ApiResult<Json<CallOut>> {
    let id = call_id("call_id", &id)?;
    let call = state.engine.cancel_call(id).await?;
    Ok(Json(CallOut::from(&call)))
}
