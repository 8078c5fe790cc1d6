//! Segments: named rules over the audience (see `dialer_engine::messaging::segment`), with a
//! preview of who they select now.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dialer_engine::PhoneNumber;
use dialer_engine::messaging::{Consent, Rule, Subject};
use dialer_storage::audience::{DefinitionKind, Recipient};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::audience::RecipientOut;
use crate::auth::{Authorized, can};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::{Body, Params};
use crate::state::AppState;

/// The subscribers of the topics some rules name, by topic: read once for the whole audience.
type Subscribers = HashMap<String, HashSet<PhoneNumber>>;

/// A recipient as a segment rule sees it.
struct Seen<'a> {
    recipient: &'a Recipient,
    subscribers: &'a Subscribers,
}

impl Subject for Seen<'_> {
    fn attributes(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.recipient.attributes
    }
    fn subscribed(&self, topic: &str) -> bool {
        self.subscribers
            .get(topic)
            .is_some_and(|s| s.contains(&self.recipient.phone_number))
    }
    fn consent(&self) -> Consent {
        self.recipient.consent
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentIn {
    /// The rule (see the README's rule language): `{"all": [...]}`, `{"eq": {"attr", "value"}}`…
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentOut {
    pub name: String,
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    pub description: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

fn segment_name(text: &str) -> ApiResult<String> {
    crate::dto::name("name", text)
}

fn segment_out(d: dialer_storage::audience::Definition) -> SegmentOut {
    SegmentOut {
        name: d.name,
        rule: d.body.get("rule").cloned().unwrap_or_default(),
        description: d
            .body
            .get("description")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

/// Creates or replaces a segment; the rule is checked and its mistakes named (`rule.all[1].range`).
#[utoipa::path(
    put, path = "/api/v1/segments/{name}", tag = "messaging", request_body = SegmentIn,
    responses((status = 201, body = SegmentOut), (status = 200, body = SegmentOut), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(name): Path<String>,
    Body(req): Body<SegmentIn>,
) -> ApiResult<(StatusCode, Json<SegmentOut>)> {
    let name = segment_name(&name)?;
    Rule::parse(&req.rule).map_err(|e| ApiError::invalid(e.at, e.message))?;
    let body =
        serde_json::json!({"rule": req.rule, "description": req.description.unwrap_or_default()});
    let now = state.engine.clock().now();
    let created = state
        .store
        .put_definition(DefinitionKind::Segment, &name, body, now)
        .await?;
    let saved = load_segment(&state, &name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(segment_out(saved))))
}

async fn load_segment(
    state: &AppState,
    name: &str,
) -> ApiResult<dialer_storage::audience::Definition> {
    state
        .store
        .get_definition(DefinitionKind::Segment, name)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            what: "segment",
            id: name.to_owned(),
        })
}

/// Every segment, by name.
#[utoipa::path(
    get, path = "/api/v1/segments", tag = "messaging",
    responses((status = 200, body = Vec<SegmentOut>)),
    security(("token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
) -> ApiResult<Json<Vec<SegmentOut>>> {
    let all = state
        .store
        .list_definitions(DefinitionKind::Segment)
        .await?;
    Ok(Json(all.into_iter().map(segment_out).collect()))
}

/// One segment.
#[utoipa::path(
    get, path = "/api/v1/segments/{name}", tag = "messaging",
    responses((status = 200, body = SegmentOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(name): Path<String>,
) -> ApiResult<Json<SegmentOut>> {
    let name = segment_name(&name)?;
    Ok(Json(segment_out(load_segment(&state, &name).await?)))
}

/// Deletes a segment (admin).
#[utoipa::path(
    delete, path = "/api/v1/segments/{name}", tag = "messaging",
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    _: Authorized<can::Admin>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let name = segment_name(&name)?;
    if state
        .store
        .delete_definition(DefinitionKind::Segment, &name)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            what: "segment",
            id: name,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewOut {
    /// Recipients the rule selects now.
    pub count: u64,
    /// Recipients read to count them.
    pub of: u64,
    /// The first of them (up to `sample`).
    pub sample: Vec<RecipientOut>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// How many selected recipients to show, default 10, at most 100.
    #[param(schema_with = crate::schema::limit)]
    sample: Option<u32>,
}

/// How many recipients a segment selects now, and a sample of them. Reads every recipient, and
/// the subscribers of the topics the rule names.
#[utoipa::path(
    get, path = "/api/v1/segments/{name}/preview", tag = "messaging", params(PreviewQuery),
    responses((status = 200, body = PreviewOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn preview(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(name): Path<String>,
    Params(q): Params<PreviewQuery>,
) -> ApiResult<Json<PreviewOut>> {
    let rule = saved_rule(&state, &segment_name(&name)?).await?;
    let want = q.sample.unwrap_or(10).min(100) as usize;
    let (of, mut chosen) = select_each(&state, std::slice::from_ref(&rule), want).await?;
    let chosen = chosen.pop().ok_or(ApiError::Internal)?;
    Ok(Json(PreviewOut {
        count: chosen.count,
        of,
        sample: chosen.sample.iter().map(RecipientOut::from).collect(),
    }))
}

/// A saved segment's rule.
pub async fn saved_rule(state: &AppState, name: &str) -> ApiResult<Rule> {
    let segment = load_segment(state, name).await?;
    segment
        .body
        .get("rule")
        .map(Rule::parse)
        .transpose()
        .map_err(|e| ApiError::Conflict(format!("segment {name} holds a broken rule: {e}")))?
        .ok_or_else(|| ApiError::Conflict(format!("segment {name} holds no rule")))
}

/// Who a rule selects now.
pub struct Selection {
    pub count: u64,
    /// The first `want` selected.
    pub sample: Vec<Recipient>,
}

/// Evaluates every rule over every recipient in one pass over the audience, the subscriptions
/// of the topics the rules name read once: how many recipients were read, and one selection per
/// rule, in order.
pub async fn select_each(
    state: &AppState,
    rules: &[Rule],
    want: usize,
) -> ApiResult<(u64, Vec<Selection>)> {
    let mut subscribers = Subscribers::new();
    for topic in rules.iter().flat_map(Rule::topics) {
        if subscribers.contains_key(topic) {
            continue;
        }
        let (mut set, mut after) = (HashSet::new(), None);
        loop {
            let page = state.store.subscribers(topic, after, 1000).await?;
            after = page.last().cloned().filter(|_| page.len() == 1000);
            set.extend(page);
            if after.is_none() {
                break;
            }
        }
        subscribers.insert(topic.to_owned(), set);
    }
    let mut out: Vec<Selection> = rules
        .iter()
        .map(|_| Selection {
            count: 0,
            sample: Vec::new(),
        })
        .collect();
    let (mut of, mut after) = (0u64, None);
    loop {
        let page = state.store.list_recipients(after.clone(), 1000).await?;
        for r in &page {
            of += 1;
            let seen = Seen {
                recipient: r,
                subscribers: &subscribers,
            };
            for (rule, chosen) in rules.iter().zip(out.iter_mut()) {
                if rule.matches(&seen) {
                    chosen.count += 1;
                    if chosen.sample.len() < want {
                        chosen.sample.push(r.clone());
                    }
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.phone_number.clone()),
            _ => break,
        }
    }
    Ok((of, out))
}
