//! Messages and messaging events: a campaign's messages and their aggregates, one message, a
//! recipient's messages, the inbound messages, receipts and decisions as stored (raw and
//! normalized), a reply to a recipient (consent honoured), and the http messenger's receipts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dialer_actors::messenger::Receipt;
use dialer_engine::CampaignId;
use dialer_engine::messaging::{Consent, MessageStatus};
use dialer_storage::messages::{
    EventKind, Message, MessageCounts, MessageEvent, MessageFilter, MessageScope,
};
use serde::{Deserialize, Serialize};
use serde_json::Map;
use utoipa::{IntoParams, ToSchema};

use super::audience::path_phone;
use super::campaigns::{load, path_id};
use super::sending::{materialize, messaging_of};
use crate::auth::{Authorized, can};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::{Body, Params};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    /// Only messages in this state.
    #[param(
        pattern = "^(pending|queued|sending|sent|delivered|read|failed|undelivered|cancelled|blocked)$"
    )]
    status: Option<String>,
    /// Messages with a larger id than this.
    after: Option<String>,
    /// At most this many (default 100); 0 is read as 1, more than 1000 as 1000.
    #[param(schema_with = crate::schema::limit)]
    limit: Option<u32>,
}

fn status_of(q: &MessagesQuery) -> ApiResult<Option<MessageStatus>> {
    q.status
        .as_deref()
        .map(|s| {
            MessageStatus::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "status",
                    "must be pending, queued, sending, sent, delivered, read, failed, undelivered, cancelled or blocked",
                )
            })
        })
        .transpose()
}

async fn list(
    state: &AppState,
    scope: MessageScope,
    q: MessagesQuery,
) -> ApiResult<Json<Vec<Message>>> {
    let filter = MessageFilter {
        scope,
        status: status_of(&q)?,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        state.store.list_messages(filter, q.after, limit).await?,
    ))
}

/// A campaign's messages, in id order.
#[utoipa::path(
    get, path = "/api/v1/campaigns/{id}/messages", tag = "messaging", params(MessagesQuery),
    responses((status = 200, body = Vec<serde_json::Value>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn campaign_messages(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(id): Path<String>,
    Params(q): Params<MessagesQuery>,
) -> ApiResult<Json<Vec<Message>>> {
    let c = load(&state, path_id(&id)?).await?;
    list(&state, MessageScope::Campaign(c.id), q).await
}

/// A recipient's messages, from every campaign, in id order.
#[utoipa::path(
    get, path = "/api/v1/recipients/{phone_number}/messages", tag = "messaging", params(MessagesQuery),
    responses((status = 200, body = Vec<serde_json::Value>), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn recipient_messages(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(phone_number): Path<String>,
    Params(q): Params<MessagesQuery>,
) -> ApiResult<Json<Vec<Message>>> {
    let p = path_phone(&state, &phone_number)?;
    list(&state, MessageScope::Recipient(p), q).await
}

/// One message: its state, attempts, provider SID and error code.
#[utoipa::path(
    get, path = "/api/v1/messages/{message_id}", tag = "messaging",
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(message_id): Path<String>,
) -> ApiResult<Json<Message>> {
    state
        .store
        .get_message(&message_id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound {
            what: "message",
            id: message_id,
        })
}

/// A messaging campaign's aggregates.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageStats {
    pub campaign_id: i64,
    pub channel: String,
    pub messages: u64,
    /// Messages by state.
    pub by_status: std::collections::BTreeMap<String, u64>,
    /// Failed and undelivered messages by provider error code.
    pub failures_by_code: std::collections::BTreeMap<String, u64>,
    /// Delivered (or read) per message handed to the provider, in percent.
    pub delivered_percent: f64,
    /// Read per message handed to the provider, in percent.
    pub read_percent: f64,
    /// Never sent because the recipient had opted out.
    pub opted_out: u64,
}

fn stats_of(id: CampaignId, channel: &str, c: MessageCounts) -> MessageStats {
    let n = |s: MessageStatus| c.by_status.get(s.as_str()).copied().unwrap_or(0);
    let read = n(MessageStatus::Read);
    let delivered = n(MessageStatus::Delivered) + read;
    let handed: u64 = MessageStatus::ALL
        .into_iter()
        .filter(|s| {
            !matches!(
                s,
                MessageStatus::Pending | MessageStatus::Blocked | MessageStatus::Cancelled
            )
        })
        .map(n)
        .sum();
    let percent = |x: u64| {
        if handed == 0 {
            0.0
        } else {
            (x as f64) * 100.0 / handed as f64
        }
    };
    MessageStats {
        campaign_id: id.get(),
        channel: channel.to_owned(),
        messages: c.by_status.values().sum(),
        delivered_percent: percent(delivered),
        read_percent: percent(read),
        opted_out: c.opted_out,
        by_status: c.by_status,
        failures_by_code: c.by_error,
    }
}

#[utoipa::path(
    get, path = "/api/v1/campaigns/{id}/message-stats", tag = "messaging",
    responses((status = 200, body = MessageStats), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn stats(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageStats>> {
    let c = load(&state, path_id(&id)?).await?;
    messaging_of(&c)?;
    let counts = state.store.message_counts(c.id).await?;
    Ok(Json(stats_of(c.id, c.settings.channel.as_str(), counts)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// `inbound` (messages recipients sent), `receipt` (delivery reports) or `decision` (the
    /// runner's); all kinds when absent.
    #[param(pattern = "^(inbound|receipt|decision)$")]
    kind: Option<String>,
    /// Events older than this event id.
    before: Option<String>,
    /// At most this many (default 100); 0 is read as 1, more than 1000 as 1000.
    #[param(schema_with = crate::schema::limit)]
    limit: Option<u32>,
}

/// Messaging events, newest first: inbound messages, delivery receipts and the runner's
/// decisions, each as it arrived (`raw`) and as it was read (`normalized`).
#[utoipa::path(
    get, path = "/api/v1/message-events", tag = "messaging", params(EventsQuery),
    responses((status = 200, body = Vec<serde_json::Value>), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn events(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Params(q): Params<EventsQuery>,
) -> ApiResult<Json<Vec<MessageEvent>>> {
    let kind = q
        .kind
        .as_deref()
        .map(|k| {
            EventKind::parse(k)
                .ok_or_else(|| ApiError::invalid("kind", "must be inbound, receipt or decision"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let now = state.engine.clock().now();
    Ok(Json(
        state
            .store
            .message_events(kind, q.before, limit, now)
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyIn {
    /// The messaging campaign that sends it (its channel, sender and provider).
    #[schema(schema_with = crate::schema::campaign_id)]
    pub campaign_id: i64,
    /// What it says (sent as written): up to 1,600 characters on SMS, 4,096 on WhatsApp.
    #[schema(min_length = 1, max_length = 1600, pattern = "\\S")]
    pub body: String,
}

/// Sends a message to one recipient through a messaging campaign — refused (409) when the
/// recipient opted out. It is sent by the runner like any other message.
#[utoipa::path(
    post, path = "/api/v1/recipients/{phone_number}/reply", tag = "messaging", request_body = ReplyIn,
    responses((status = 202, body = serde_json::Value), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn reply(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(phone_number): Path<String>,
    Body(req): Body<ReplyIn>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let p = path_phone(&state, &phone_number)?;
    let c = load(
        &state,
        crate::dto::campaign_id("campaign_id", req.campaign_id)?,
    )
    .await?;
    let messaging = messaging_of(&c)?;
    let body = req.body.trim();
    if body.is_empty() || body.chars().count() > c.settings.channel.max_body_chars() {
        return Err(ApiError::invalid(
            "body",
            format!(
                "must be 1 to {} characters",
                c.settings.channel.max_body_chars()
            ),
        ));
    }
    let recipient = state.store.get_recipient(&p).await?;
    let consent = recipient.as_ref().map_or(Consent::Unknown, |r| r.consent);
    let listed = !state.store.check_dnc(&p).await?.is_empty();
    if listed
        || consent == Consent::OptedOut
        || (messaging.require_opt_in && consent != Consent::OptedIn)
    {
        return Err(ApiError::Conflict(format!(
            "{} has not consented to messages (consent: {})",
            p.masked(),
            consent.as_str()
        )));
    }
    let now = state.engine.clock().now();
    let cause = format!("reply-{}", now.timestamp_micros());
    let recipient = recipient.unwrap_or_else(|| dialer_storage::audience::Recipient {
        phone_number: p.clone(),
        attributes: Map::new(),
        consent,
        created_at: now,
        updated_at: now,
    });
    // A reply is its own text: braces in it are not placeholders.
    let text = body.replace('{', "{{").replace('}', "}}");
    materialize(&state, &c, &cause, vec![recipient], &text, &Map::new()).await?;
    let id = Message::id_for(c.id, &cause, &p);
    let m = state
        .store
        .get_message(&id)
        .await?
        .ok_or(ApiError::Internal)?;
    Ok((StatusCode::ACCEPTED, Json(m)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageCallback {
    pub message_id: String,
    pub attempt: Option<u32>,
    /// queued, sending, sent, delivered, read, failed, undelivered or canceled.
    #[schema(schema_with = crate::schema::message_report_status)]
    pub status: String,
    pub error_code: Option<String>,
    /// The provider's id for the message.
    pub id: Option<String>,
}

/// The http messenger's delivery receipts.
#[utoipa::path(
    post, path = "/api/v1/messages/callback", tag = "providers", request_body = MessageCallback,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn callback(
    State(state): State<AppState>,
    _: Authorized<can::Callback>,
    Body(req): Body<MessageCallback>,
) -> ApiResult<StatusCode> {
    let status = MessageStatus::from_provider(&req.status).ok_or_else(|| {
        ApiError::invalid(
            "status",
            "must be queued, sending, sent, delivered, read, failed, undelivered or canceled",
        )
    })?;
    let receipt = Receipt {
        message_id: req.message_id.clone(),
        attempt: req.attempt.unwrap_or(0),
        sid: req.id.clone().unwrap_or_default(),
        status,
        error_code: req.error_code.clone(),
    };
    let raw = serde_json::json!({
        "message_id": req.message_id, "attempt": req.attempt, "status": req.status,
        "error_code": req.error_code, "id": req.id,
    });
    let now = state.engine.clock().now();
    match state.messaging.on_receipt(&receipt, raw, now).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::NotFound {
            what: "message",
            id: req.message_id,
        }),
    }
}
