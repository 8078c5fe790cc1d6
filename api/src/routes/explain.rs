//! "Why not dialed?" for one number in one campaign — what `dialer explain` says, with what only
//! a running engine knows (the campaign's state, the do-not-call list, the number's latest
//! call) — and "who am I?" for a token, so that a client offers only what its role may do.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, SecondsFormat, Utc};
use dialer_engine::explain::explain as plan;
use dialer_engine::{CallStatus, CampaignState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::campaigns::{load, path_id};
use super::dnc::{DncCheck, DncOut};
use crate::auth::{Authorized, Principal, Role, can};
use crate::dto::{CallOut, phone};
use crate::error::{ApiResult, ErrorBody};
use crate::json::Params;
use crate::state::AppState;

/// The caller's token: its name and role.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub name: String,
    pub role: Role,
}

/// Who the token is: its name and role (any role).
#[utoipa::path(
    get, path = "/api/v1/me", tag = "ops",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn me(principal: Principal) -> Json<Me> {
    Json(Me {
        name: principal.name.to_string(),
        role: principal.role,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// The number, read by the campaign's numbering plan.
    phone_number: String,
    /// The instant to evaluate (RFC 3339); now when absent.
    at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainOut {
    pub campaign_id: i64,
    /// The campaign's state.
    pub campaign_state: String,
    pub at: DateTime<Utc>,
    /// Whether nothing stops the campaign's list from dialing this number at `at` (one-off
    /// calls dial in any state but `stopped` or `completed`).
    pub dialable: bool,
    /// Every reason it would not be dialed at `at`, in words; empty when `dialable`.
    pub reasons: Vec<String>,
    pub dnc: DncCheck,
    /// The number's latest call in this campaign, if any.
    pub latest_call: Option<CallOut>,
    /// The policy's view (zones and local times, calling hours, the retry plan per outcome):
    /// what `dialer explain --json` prints.
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
}

/// Why a number is (not) dialed in a campaign at an instant.
#[utoipa::path(
    get, path = "/api/v1/campaigns/{id}/explain", tag = "campaigns", params(ExplainQuery),
    responses((status = 200, body = ExplainOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn explain(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(id): Path<String>,
    Params(q): Params<ExplainQuery>,
) -> ApiResult<Json<ExplainOut>> {
    let campaign = load(&state, path_id(&id)?).await?;
    let number = phone(
        "phone_number",
        &q.phone_number,
        campaign.settings.numbering(state.settings.phone_validation),
    )?;
    let at = q.at.unwrap_or_else(|| state.engine.clock().now());
    let explanation = plan(&number, at, &campaign.settings);
    let entries = state.store.check_dnc(&number).await?;
    let latest = state
        .store
        .latest_call_to(campaign.id, &number, DateTime::<Utc>::MIN_UTC)
        .await?;
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut reasons = Vec::new();
    if campaign.archived_at.is_some() {
        reasons.push("the campaign is archived".to_owned());
    } else if !campaign.is_active {
        reasons.push("the campaign is not active".to_owned());
    }
    match campaign.state {
        CampaignState::Running => {}
        other => reasons.push(format!(
            "the campaign is {}: its contact list is not being dialed",
            other.as_str()
        )),
    }
    for e in &entries {
        reasons.push(format!(
            "the number is on the do-not-call list ({}, added {} by {})",
            e.kind.as_str(),
            stamp(e.added_at),
            e.source
        ));
    }
    let hours = &explanation.calling_hours;
    if !hours.open_now {
        reasons.push(match hours.next_open {
            Some(t) => format!("outside the recipient's calling hours until {}", stamp(t)),
            None => "the campaign's calling hours never open for this number".to_owned(),
        });
    }
    if let Some(call) = &latest {
        match call.status {
            CallStatus::Retrying => reasons.push(format!(
                "its call waits for a retry{} (attempt {} of {} done)",
                call.next_retry_at()
                    .map(|t| format!(" at {}", stamp(t)))
                    .unwrap_or_default(),
                call.attempt_count,
                call.max_attempts
            )),
            s if s.is_terminal() => reasons.push(format!(
                "its call has ended ({}) after {} attempt(s)",
                s.as_str(),
                call.attempt_count
            )),
            s if s.is_live() => {
                reasons.push(format!("its call is in flight ({})", s.as_str()));
            }
            CallStatus::Scheduled => reasons.push(format!(
                "its call is scheduled for {}",
                stamp(call.due_at.unwrap_or(call.scheduled_at))
            )),
            _ => {}
        }
    }
    Ok(Json(ExplainOut {
        campaign_id: campaign.id.get(),
        campaign_state: campaign.state.as_str().to_owned(),
        at,
        dialable: reasons.is_empty(),
        reasons,
        dnc: DncCheck {
            phone_number: number.as_str().to_owned(),
            blocked: !entries.is_empty(),
            entries: entries.iter().map(DncOut::from).collect(),
        },
        latest_call: latest.as_ref().map(CallOut::from),
        policy: serde_json::to_value(&explanation).unwrap_or_default(),
    }))
}
