//! Turning a messaging campaign's audience into messages: its launch (a segment's or a topic's
//! recipients, when it starts or resumes) and trigger events (JSON lines, each naming its
//! recipients and template). Each recipient gets one message per cause — the id says which —
//! so a launch repeated or an event sent twice creates nothing twice. A template that cannot be
//! rendered for a recipient (a missing placeholder) makes a `blocked` message that says which,
//! never a blank one.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use dialer_engine::Campaign;
use dialer_engine::messaging::{MessageStatus, Rule, Template};
use dialer_storage::audience::Recipient;
use dialer_storage::messages::Message;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::campaigns::{load, path_id};
use super::segments::{saved_rule, select_each};
use super::triggers::{LineErrorOut, read_events, resolve};
use crate::auth::{Authorized, can};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// Events one request sends at most.
pub const MAX_EVENTS: usize = 1_000;
/// Messages written per storage call.
const BATCH: usize = 500;

/// What materializing one cause did.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct Materialized {
    /// Recipients selected.
    pub recipients: u64,
    /// Messages created now.
    pub created: u64,
    /// Messages that existed already (the same cause sent before).
    pub existing: u64,
    /// Messages created blocked: the template lacked a value for them.
    pub unrenderable: u64,
}

/// The campaign's messaging settings, or 409 for a voice campaign.
pub fn messaging_of(c: &Campaign) -> ApiResult<&dialer_engine::messaging::MessagingSettings> {
    c.settings.messaging.as_ref().ok_or_else(|| {
        ApiError::Conflict(format!(
            "campaign {} is a voice campaign: it calls, it does not send messages",
            c.id
        ))
    })
}

/// Creates a message for each recipient, rendered from `text` with the recipient's attributes
/// (and the event's `fields` as `{event.…}`).
pub async fn materialize(
    state: &AppState,
    campaign: &Campaign,
    cause: &str,
    recipients: Vec<Recipient>,
    text: &str,
    fields: &Map<String, Value>,
) -> ApiResult<Materialized> {
    let template = Template::parse(text)
        .map_err(|e| ApiError::Conflict(format!("the template is broken: {e}")))?;
    let now = state.engine.clock().now();
    let mut out = Materialized {
        recipients: recipients.len() as u64,
        ..Materialized::default()
    };
    for chunk in recipients.chunks(BATCH) {
        let batch: Vec<Message> = chunk
            .iter()
            .map(|r| {
                let mut values = r.attributes.clone();
                values.insert("phone_number".into(), r.phone_number.as_str().into());
                values.insert("event".into(), Value::Object(fields.clone()));
                let (body, status, reason) = match template.render(&values) {
                    Ok(body) => (body, MessageStatus::Pending, None),
                    Err(missing) => (
                        String::new(),
                        MessageStatus::Blocked,
                        Some(format!(
                            "missing placeholders: {}",
                            missing.missing.join(", ")
                        )),
                    ),
                };
                Message {
                    message_id: Message::id_for(campaign.id, cause, &r.phone_number),
                    campaign_id: campaign.id,
                    phone_number: r.phone_number.clone(),
                    channel: campaign.settings.channel,
                    cause: cause.to_owned(),
                    body,
                    status,
                    attempts: 0,
                    due_at: now,
                    provider_sid: None,
                    error_code: None,
                    reason,
                    created_at: now,
                    updated_at: now,
                }
            })
            .collect();
        let blocked: Vec<bool> = batch
            .iter()
            .map(|m| m.status == MessageStatus::Blocked)
            .collect();
        let added = state.store.create_messages(batch).await?;
        for (new, blocked) in added.into_iter().zip(blocked) {
            match (new, blocked) {
                (true, true) => out.unrenderable += 1,
                (true, false) => out.created += 1,
                (false, _) => out.existing += 1,
            }
        }
        state.messaging.wake();
    }
    Ok(out)
}

/// A messaging campaign's launch audience as a rule: its segment's, or its topic's subscribers.
async fn launch_rule(state: &AppState, c: &Campaign) -> ApiResult<Option<Rule>> {
    let Some(m) = &c.settings.messaging else {
        return Ok(None);
    };
    if let Some(segment) = &m.segment {
        return saved_rule(state, segment).await.map(Some);
    }
    m.topic
        .as_ref()
        .map(|t| {
            Rule::parse(&serde_json::json!({ "subscribed": t }))
                .map_err(|e| ApiError::invalid("settings.messaging.topic", e.to_string()))
        })
        .transpose()
}

/// Sends a started (or resumed) messaging campaign to its audience, in the background: the
/// messages are created with the cause `launch`, once per recipient however often it runs.
pub async fn launch(state: &AppState, c: &Campaign) -> ApiResult<()> {
    let Some(m) = &c.settings.messaging else {
        return Ok(());
    };
    let Some(rule) = launch_rule(state, c).await? else {
        return Ok(());
    };
    let text = super::templates::text_of(state, c.settings.channel, &m.template, &m.locale).await?;
    let (state, c) = (state.clone(), c.clone());
    tokio::spawn(async move {
        let result = async {
            let (_, mut chosen) = select_each(&state, &[rule], usize::MAX).await?;
            let recipients = chosen.pop().map(|s| s.sample).unwrap_or_default();
            materialize(&state, &c, "launch", recipients, &text, &Map::new()).await
        }
        .await;
        match result {
            Ok(done) => {
                tracing::info!(campaign_id = %c.id, created = done.created, existing = done.existing, "campaign launched")
            }
            Err(e) => {
                tracing::error!(campaign_id = %c.id, error = %e, "campaign launch failed; start or resume it again")
            }
        }
    });
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventSent {
    pub line: u64,
    pub id: Option<String>,
    /// The cause its messages carry (the event's id, or one made from its line's text).
    pub cause: Option<String>,
    #[serde(flatten)]
    pub result: Materialized,
    /// Why it sent nothing (an unknown segment or template).
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerSent {
    pub events: Vec<EventSent>,
    pub errors: Vec<LineErrorOut>,
}

/// A stable cause for an event without an id: a hash of what it says.
fn cause_of(id: Option<&str>, line_text: &str) -> String {
    match id {
        Some(id) => format!("event-{id}"),
        None => {
            let h = line_text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            format!("event-{h:016x}")
        }
    }
}

/// Sends trigger events through a messaging campaign: each event's recipients get its template
/// rendered with their fields and the event's. Lines that cannot be read are reported by
/// number; the others are sent.
#[utoipa::path(
    post, path = "/api/v1/campaigns/{id}/trigger-events", tag = "messaging",
    request_body(content = String, description = "JSON lines, one event each (text/plain or application/x-ndjson)", content_type = "text/plain"),
    responses((status = 200, body = TriggerSent), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn trigger(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<TriggerSent>> {
    let campaign = load(&state, path_id(&id)?).await?;
    messaging_of(&campaign)?;
    let (text, events, errors) = read_events(&headers, &body, MAX_EVENTS)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(events.len());
    let mut ready = Vec::new();
    for e in events {
        let line_text = usize::try_from(e.line - 1)
            .ok()
            .and_then(|i| lines.get(i))
            .copied()
            .unwrap_or_default();
        let cause = cause_of(e.id.as_deref(), line_text);
        let error = match resolve(&state, campaign.settings.channel, &e).await {
            Err(why) => Some(why),
            Ok((rule, text)) => {
                ready.push((out.len(), rule, text, e.fields));
                None
            }
        };
        out.push(EventSent {
            line: e.line,
            id: e.id,
            cause: error.is_none().then_some(cause),
            result: Materialized::default(),
            error,
        });
    }
    let rules: Vec<Rule> = ready.iter().map(|(_, r, _, _)| r.clone()).collect();
    let (_, chosen) = select_each(&state, &rules, usize::MAX).await?;
    for ((at, _, text, fields), chosen) in ready.into_iter().zip(chosen) {
        let cause = out[at].cause.clone().unwrap_or_default();
        match materialize(&state, &campaign, &cause, chosen.sample, &text, &fields).await {
            Ok(done) => out[at].result = done,
            Err(e) => out[at].error = Some(e.to_string()),
        }
    }
    Ok(Json(TriggerSent {
        events: out,
        errors,
    }))
}
