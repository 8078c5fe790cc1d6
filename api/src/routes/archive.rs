//! A campaign's end of life: archive it (hidden from the campaign list, its calls, contacts and
//! audit kept; it takes no calls until unarchived and made active again), or delete a draft
//! that never called anyone, with its contacts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dialer_engine::CampaignState;
use dialer_storage::CampaignDetails;

use super::campaigns::{load, path_id, save};
use crate::auth::{Authorized, can};
use crate::dto::CampaignOut;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// Archives a campaign that is not dialing (a draft, stopped or completed one): it leaves the
/// campaign list (`?archived=true` shows it) and becomes inactive; its calls and audit stay.
#[utoipa::path(
    post, path = "/api/v1/campaigns/{id}/archive", tag = "campaigns",
    responses(
        (status = 200, body = CampaignOut), (status = 404, body = ErrorBody),
        (status = 409, description = "Running or paused: stop it first", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn archive(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignOut>> {
    let campaign = load(&state, path_id(&id)?).await?;
    if campaign.archived_at.is_some() {
        return Ok(Json(CampaignOut::from(&campaign)));
    }
    if matches!(
        campaign.state,
        CampaignState::Running | CampaignState::Paused
    ) {
        return Err(ApiError::Conflict(format!(
            "campaign {} is {}: stop it before archiving it",
            campaign.id,
            campaign.state.as_str()
        )));
    }
    let now = state.engine.clock().now();
    let details = CampaignDetails {
        is_active: false,
        archived_at: Some(now),
        ..CampaignDetails::of(&campaign)
    };
    save(&state, campaign.id, details).await
}

/// Brings an archived campaign back to the list. It stays inactive until `is_active` is set.
#[utoipa::path(
    post, path = "/api/v1/campaigns/{id}/unarchive", tag = "campaigns",
    responses((status = 200, body = CampaignOut), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn unarchive(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignOut>> {
    let campaign = load(&state, path_id(&id)?).await?;
    if campaign.archived_at.is_none() {
        return Ok(Json(CampaignOut::from(&campaign)));
    }
    let details = CampaignDetails {
        archived_at: None,
        ..CampaignDetails::of(&campaign)
    };
    save(&state, campaign.id, details).await
}

/// Deletes a draft that has no calls, with its contacts. Anything else is archived instead.
#[utoipa::path(
    delete, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    responses(
        (status = 204, description = "Deleted with its contacts"), (status = 404, body = ErrorBody),
        (status = 409, description = "Not a draft, or it has calls: archive it instead", body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    _: Authorized<can::Admin>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id)?;
    if state.store.delete_draft_campaign(id).await? {
        tracing::info!(campaign_id = %id, "draft campaign deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            what: "campaign",
            id: id.to_string(),
        })
    }
}
