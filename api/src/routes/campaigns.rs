//! Campaigns: the seed's CRUD (create, list, get, update) plus settings, lifecycle actions and
//! statistics.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dialer_engine::{CallStatus, Campaign, CampaignId, CampaignSettings, NewCampaign};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use dialer_storage::CampaignDetails;

use crate::auth::{Authorized, can};
use crate::dto::{CampaignOut, CreateCampaign, UpdateCampaign, campaign_id};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::Params;
use crate::json::{Body, parse};
use crate::state::AppState;

pub fn path_id(id: &str) -> ApiResult<CampaignId> {
    id.trim()
        .parse()
        .map_err(|_| ApiError::invalid("id", "must be a positive integer"))
}

/// 409 for a messaging campaign: it has no contact list and places no calls.
pub fn calls_only(c: &Campaign) -> ApiResult<()> {
    if c.settings.channel.is_voice() {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "campaign {} is an {} campaign: it sends messages to recipients (POST /api/v1/recipients), not calls to contacts",
            c.id,
            c.settings.channel.as_str()
        )))
    }
}

pub async fn load(state: &AppState, id: CampaignId) -> ApiResult<Campaign> {
    state
        .store
        .get_campaign(id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            what: "campaign",
            id: id.to_string(),
        })
}

fn check_name(name: &str) -> ApiResult<String> {
    let trimmed = name.trim_matches(crate::schema::NAME_TRIMMED);
    if trimmed.is_empty() || name.chars().count() > crate::schema::NAME_MAX_CHARS {
        return Err(ApiError::invalid(
            "name",
            "must be 1 to 200 characters, not only spaces, tabs and line breaks",
        ));
    }
    let name = trimmed;
    Ok(name.to_owned())
}

/// JSON Merge Patch (RFC 7396): objects merge key by key, `null` removes a key, anything else
/// (arrays included) replaces what was there.
fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (key, value) in p {
                if value.is_null() {
                    t.remove(&key);
                } else {
                    merge_patch(t.entry(key).or_insert(serde_json::Value::Null), value);
                }
            }
        }
        (t, p) => *t = p,
    }
}

/// Reads settings JSON (merged over `base` when given) and checks every rule, naming the field.
fn settings(
    state: &AppState,
    json: serde_json::Value,
    base: Option<&CampaignSettings>,
) -> ApiResult<CampaignSettings> {
    if !json.is_object() {
        return Err(ApiError::invalid("settings", "must be an object"));
    }
    let base = match base {
        Some(b) => b.clone(),
        None => CampaignSettings {
            retry: state.settings.default_retry.clone().unwrap_or_default(),
            ..CampaignSettings::default()
        },
    };
    let mut merged = serde_json::to_value(&base).map_err(|_| ApiError::Internal)?;
    merge_patch(&mut merged, json);
    let bytes = serde_json::to_vec(&merged).map_err(|_| ApiError::Internal)?;
    let parsed: CampaignSettings = parse(&bytes, "settings.")?;
    parsed
        .validate()
        .map_err(|e| ApiError::invalid(format!("settings.{}", e.field), e.message))?;
    if state.engine.providers().get(&parsed.provider).is_none() {
        let known: Vec<&str> = state.engine.providers().names().collect();
        return Err(ApiError::invalid(
            "settings.provider",
            format!(
                "no provider {:?} is configured (known: {known:?})",
                parsed.provider
            ),
        ));
    }
    Ok(parsed)
}

/// What a campaign's settings name must exist: its voice template, or a messaging campaign's
/// template (of its channel), segment and messenger.
async fn voice_template_exists(state: &AppState, settings: &CampaignSettings) -> ApiResult<()> {
    if let Some(m) = &settings.messaging {
        let channel = settings.channel.as_str();
        super::templates::text_of(state, settings.channel, &m.template, &m.locale)
            .await
            .map_err(|_| {
                ApiError::invalid(
                    "settings.messaging.template",
                    format!(
                        "no template {}/{channel}/{}: create it with PUT /api/v1/templates/{}/{channel}/{}",
                        m.template, m.locale, m.template, m.locale
                    ),
                )
            })?;
        if let Some(segment) = &m.segment {
            super::segments::saved_rule(state, segment)
                .await
                .map_err(|e| ApiError::invalid("settings.messaging.segment", e.to_string()))?;
        }
        if state
            .messaging
            .messengers()
            .get(&settings.provider)
            .is_none()
        {
            return Err(ApiError::invalid(
                "settings.provider",
                format!("no messenger {:?} is configured", settings.provider),
            ));
        }
    }
    if let Some(t) = &settings.voice_template {
        super::templates::voice_text(state, t).await.map_err(|_| {
            ApiError::invalid(
                "settings.voice_template",
                format!(
                    "no voice template {}/voice/{}: create it with PUT /api/v1/templates/{}/voice/{}",
                    t.name, t.locale, t.name, t.locale
                ),
            )
        })?;
    }
    Ok(())
}

#[utoipa::path(
    post, path = "/api/v1/campaigns", tag = "campaigns", request_body = CreateCampaign,
    responses((status = 201, body = CampaignOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Body(req): Body<CreateCampaign>,
) -> ApiResult<(StatusCode, Json<CampaignOut>)> {
    let name = check_name(&req.name)?;
    let settings = settings(
        &state,
        req.settings.unwrap_or_else(|| serde_json::json!({})),
        None,
    )?;
    voice_template_exists(&state, &settings).await?;
    let new = NewCampaign {
        name,
        description: req.description.unwrap_or_default(),
        is_active: req.is_active.unwrap_or(true),
        settings,
    };
    let campaign = state
        .store
        .create_campaign(new, state.engine.clock().now())
        .await?;
    Ok((StatusCode::CREATED, Json(CampaignOut::from(&campaign))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Campaigns with a larger id than this.
    #[param(schema_with = crate::schema::campaign_id)]
    after: Option<i64>,
    /// At most this many (default 100); 0 is read as 1, more than 1000 as 1000.
    #[param(schema_with = crate::schema::limit)]
    limit: Option<u32>,
    /// `true`: archived campaigns too (they are left out otherwise).
    archived: Option<bool>,
}

#[utoipa::path(
    get, path = "/api/v1/campaigns", tag = "campaigns", params(ListQuery),
    responses((status = 200, body = Vec<CampaignOut>), (status = 401, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Vec<CampaignOut>>> {
    let after = q.after.map(|a| campaign_id("after", a)).transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut out = Vec::new();
    let mut after = after;
    // Archived campaigns are skipped here, so a page is filled from as many as it takes.
    while out.len() < limit as usize {
        let page = state.store.list_campaigns(after, limit).await?;
        let full = page.len() == limit as usize;
        after = page.last().map(|c| c.id);
        out.extend(
            page.iter()
                .filter(|c| q.archived == Some(true) || c.archived_at.is_none())
                .take(limit as usize - out.len())
                .map(CampaignOut::from),
        );
        if !full {
            break;
        }
    }
    Ok(Json(out))
}

#[utoipa::path(
    get, path = "/api/v1/campaigns/{id}", tag = "campaigns",
    responses((status = 200, body = CampaignOut), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignOut>> {
    Ok(Json(CampaignOut::from(&load(&state, path_id(&id)?).await?)))
}

#[utoipa::path(
    method(put, patch), path = "/api/v1/campaigns/{id}", tag = "campaigns", request_body = UpdateCampaign,
    responses((status = 200, body = CampaignOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(id): Path<String>,
    Body(req): Body<UpdateCampaign>,
) -> ApiResult<Json<CampaignOut>> {
    let current = load(&state, path_id(&id)?).await?;
    // What an operator may change; the state and the dial cursor are the campaign owner's, and
    // storage writes these columns only.
    let mut details = CampaignDetails::of(&current);
    if let Some(name) = &req.name {
        details.name = check_name(name)?;
    }
    if let Some(d) = req.description {
        details.description = d;
    }
    if let Some(a) = req.is_active {
        details.is_active = a;
    }
    if let Some(s) = req.settings {
        details.settings = settings(&state, s, Some(&details.settings))?;
        voice_template_exists(&state, &details.settings).await?;
    }
    save(&state, current.id, details).await
}

/// Writes an operator's change to a campaign and tells its owner, if it has one.
pub(super) async fn save(
    state: &AppState,
    id: CampaignId,
    details: CampaignDetails,
) -> ApiResult<Json<CampaignOut>> {
    let now = state.engine.clock().now();
    let saved = state
        .store
        .update_campaign_details(id, details, now)
        .await?;
    state.engine.campaign_updated(&saved);
    Ok(Json(CampaignOut::from(&saved)))
}

/// The outcome of a lifecycle action.
#[derive(Debug, Serialize, ToSchema)]
pub struct LifecycleOut {
    #[serde(flatten)]
    pub campaign: CampaignOut,
    /// Calls cancelled (stop only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_calls: Option<u32>,
}

macro_rules! lifecycle {
    ($name:ident, $path:literal, $doc:literal, |$s:ident, $id:ident| $body:expr) => {
        #[doc = $doc]
        #[utoipa::path(
            post, path = $path, tag = "campaigns",
            responses((status = 200, body = LifecycleOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
            security(("token" = []))
        )]
        pub async fn $name(State($s): State<AppState>, _: Authorized<can::Write>, Path(id): Path<String>) -> ApiResult<Json<LifecycleOut>> {
            let $id = path_id(&id)?;
            let (campaign, cancelled): (Campaign, Option<u32>) = $body;
            Ok(Json(LifecycleOut { campaign: CampaignOut::from(&campaign), cancelled_calls: cancelled }))
        }
    };
}

lifecycle!(
    start,
    "/api/v1/campaigns/{id}/start",
    "Starts dialing the contact list; a messaging campaign sends to its segment or topic.",
    |s, id| {
        let c = s.engine.start_campaign(id).await?;
        super::sending::launch(&s, &c).await?;
        (c, None)
    }
);
lifecycle!(
    pause,
    "/api/v1/campaigns/{id}/pause",
    "No new dials; calls in flight finish.",
    |s, id| (s.engine.pause_campaign(id).await?, None)
);
lifecycle!(
    resume,
    "/api/v1/campaigns/{id}/resume",
    "Dials again after a pause.",
    |s, id| {
        let c = s.engine.resume_campaign(id).await?;
        super::sending::launch(&s, &c).await?;
        (c, None)
    }
);
lifecycle!(
    stop,
    "/api/v1/campaigns/{id}/stop",
    "Cancels pending work; calls in flight finish and are not retried.",
    |s, id| {
        let (c, n) = s.engine.stop_campaign(id).await?;
        (c, Some(n))
    }
);

/// A campaign's numbers.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsOut {
    pub campaign_id: i64,
    pub state: String,
    pub contacts: u64,
    pub calls: i64,
    pub attempts: i64,
    pub picked: i64,
    /// Picked attempts per attempt dialed.
    pub pick_up_rate: f64,
    /// Attempts by outcome.
    pub outcomes: BTreeMap<String, i64>,
    /// Calls by final status.
    pub final_statuses: BTreeMap<String, i64>,
    /// Provider error codes and how often they occurred.
    pub error_codes: BTreeMap<String, i64>,
    pub retries_scheduled: i64,
    /// Calls waiting for a retry now.
    pub retries_pending: u64,
    pub opt_outs: i64,
    pub blocked: BTreeMap<String, i64>,
    pub in_flight: i64,
    pub talk_seconds: i64,
    /// Calls due and not dialed, by what they wait for — as the campaign's owner holds them (up
    /// to its read-ahead); absent while no owner runs (a campaign not started, completed or
    /// idle).
    pub waiting: Option<WaitingOut>,
    /// The contact list's calls and the one-off calls (initiate-call, scheduled), apart.
    pub by_origin: BTreeMap<String, OriginOut>,
    /// Contacts the list has not made into calls yet.
    pub contacts_not_called: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingOut {
    /// Every line the calls may use is busy.
    pub lines: u64,
    /// The rate limit's bucket is empty.
    pub rate_limit: u64,
    /// Outside the recipients' calling hours…
    pub calling_hours: u64,
    /// …until then, for the first of them.
    pub calling_hours_open_at: Option<chrono::DateTime<chrono::Utc>>,
    pub lines_busy: u64,
    pub lines_total: u32,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct OriginOut {
    pub calls: i64,
    pub attempts: i64,
    pub picked: i64,
}

#[utoipa::path(
    get, path = "/api/v1/campaigns/{id}/stats", tag = "campaigns",
    responses((status = 200, body = StatsOut), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn stats(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<StatsOut>> {
    let campaign = load(&state, path_id(&id)?).await?;
    let counters = state.store.counters(campaign.id).await?;
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    let section = |prefix: &str| -> BTreeMap<String, i64> {
        counters
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|name| (name.to_owned(), *v)))
            .collect()
    };
    let filter = dialer_storage::CallFilter {
        campaign_id: Some(campaign.id),
        status: Some(CallStatus::Retrying),
        ..Default::default()
    };
    let mut retries_pending = 0u64;
    let mut before = None;
    loop {
        let page = state.store.list_calls(&filter, before, 1000).await?;
        retries_pending += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == 1000 => before = Some(last.call_id),
            _ => break,
        }
    }
    let attempts = get("attempts");
    let picked = get("outcome.PICKED");
    let contacts = state.store.count_contacts(campaign.id).await?;
    let list_calls = u64::try_from(get("origin.list.calls_created")).unwrap_or(0);
    Ok(Json(StatsOut {
        campaign_id: campaign.id.get(),
        state: campaign.state.as_str().to_owned(),
        contacts,
        contacts_not_called: contacts.saturating_sub(list_calls),
        calls: get("calls_created"),
        attempts,
        picked,
        pick_up_rate: if attempts > 0 {
            picked as f64 / attempts as f64
        } else {
            0.0
        },
        outcomes: section("outcome."),
        final_statuses: section("status."),
        error_codes: section("error."),
        retries_scheduled: get("retries_scheduled"),
        retries_pending,
        opt_outs: get("blocked.opt_out"),
        blocked: section("blocked."),
        in_flight: get("in_flight"),
        talk_seconds: get("talk_seconds"),
        waiting: state
            .engine
            .campaign_gauges(campaign.id)
            .map(|g| WaitingOut {
                lines: g.waiting_lines as u64,
                rate_limit: g.waiting_rate as u64,
                calling_hours: g.waiting_hours as u64,
                calling_hours_open_at: g.hours_open_at,
                lines_busy: g.lines_busy as u64,
                lines_total: g.lines,
            }),
        by_origin: ["list", "one_off"]
            .into_iter()
            .map(|origin| {
                let of = |name: &str| get(&format!("origin.{origin}.{name}"));
                let out = OriginOut {
                    calls: of("calls_created"),
                    attempts: of("attempts"),
                    picked: of("outcome.PICKED"),
                };
                (origin.to_owned(), out)
            })
            .collect(),
    }))
}
