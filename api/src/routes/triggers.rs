//! Trigger events, previewed: JSON lines (see `dialer_engine::messaging::trigger`), each
//! resolved to the recipients it selects now and its template rendered for the first of them —
//! what sending them would do, without sending. A line that cannot be read is reported with
//! its line number and the others are still previewed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use dialer_engine::messaging::trigger::{Audience, TriggerEvent, parse_lines};
use dialer_engine::messaging::{Channel, Template};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::segments::{saved_rule, select_each};
use crate::auth::{Authorized, can};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::Params;
use crate::state::AppState;

/// Events one preview reads at most (each reads the whole audience).
pub const MAX_EVENTS: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TriggerQuery {
    /// The channel whose templates the events name: `sms` (default), `whatsapp` or `voice`.
    #[param(pattern = "^(voice|sms|whatsapp)$")]
    channel: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPreview {
    pub line: u64,
    pub id: Option<String>,
    /// Recipients the event selects now.
    pub recipients: u64,
    /// The first of them, and what it would be sent.
    pub first: Option<String>,
    pub text: Option<String>,
    /// Placeholders without a value for the first recipient (nothing is sent blank).
    pub missing: Vec<String>,
    /// Why the event cannot be sent at all (an unknown segment or template).
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineErrorOut {
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerPreview {
    /// Recipients read (everyone, once for all the events).
    pub audience: u64,
    pub events: Vec<EventPreview>,
    /// Lines that could not be read.
    pub errors: Vec<LineErrorOut>,
}

/// What an event names, read: its rule (written in it, or its segment's) and its template's
/// text in the channel; or why it cannot be sent.
pub async fn resolve(
    state: &AppState,
    channel: Channel,
    e: &TriggerEvent,
) -> Result<(dialer_engine::messaging::Rule, String), String> {
    let rule = match &e.audience {
        Audience::Rule(r) => r.clone(),
        Audience::Segment(name) => saved_rule(state, name).await.map_err(|e| e.to_string())?,
    };
    let text = super::templates::text_of(state, channel, &e.template, &e.locale)
        .await
        .map_err(|e| e.to_string())?;
    Ok((rule, text))
}

/// A JSON-lines body of at most `max` events: its text, the events, and the lines that could
/// not be read (by number).
pub fn read_events<'b>(
    headers: &HeaderMap,
    body: &'b Bytes,
    max: usize,
) -> ApiResult<(&'b str, Vec<TriggerEvent>, Vec<LineErrorOut>)> {
    let text = ndjson_body(headers, body)?;
    let (events, errors) = parse_lines(text);
    if events.len() > max {
        return Err(ApiError::invalid(
            "body",
            format!("at most {max} events per request"),
        ));
    }
    let errors = errors
        .into_iter()
        .map(|e| LineErrorOut {
            line: e.line,
            message: e.message,
        })
        .collect();
    Ok((text, events, errors))
}

/// A JSON-lines body as text: 415 unless sent as text/plain or NDJSON, 400 unless UTF-8.
fn ndjson_body<'b>(headers: &HeaderMap, body: &'b Bytes) -> ApiResult<&'b str> {
    let lines = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct.split(';').next().unwrap_or("").trim();
            ["text/plain", "application/x-ndjson", "application/jsonl"].contains(&ct)
        });
    if !lines {
        return Err(ApiError::UnsupportedMediaType(
            "text/plain or application/x-ndjson (JSON lines)",
        ));
    }
    std::str::from_utf8(body).map_err(|_| ApiError::invalid("body", "must be UTF-8 JSON lines"))
}

/// What a file of trigger events would send, now, without sending it.
#[utoipa::path(
    post, path = "/api/v1/trigger-events/preview", tag = "messaging", params(TriggerQuery),
    request_body(content = String, description = "JSON lines, one event each (sent as text/plain or application/x-ndjson)", content_type = "text/plain"),
    responses((status = 200, body = TriggerPreview), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn preview(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Params(q): Params<TriggerQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<TriggerPreview>> {
    let channel = match q.channel.as_deref() {
        None => Channel::Sms,
        Some(c) => Channel::parse(c)
            .ok_or_else(|| ApiError::invalid("channel", "must be voice, sms or whatsapp"))?,
    };
    let (_, events, errors) = read_events(&headers, &body, MAX_EVENTS)?;
    // First what each event names (its rule, its template), then one pass over the audience
    // for all of them.
    let mut out = Vec::with_capacity(events.len());
    let mut ready = Vec::new();
    for e in events {
        let error = match resolve(&state, channel, &e).await {
            Err(why) => Some(why),
            Ok((rule, text)) => {
                ready.push((out.len(), rule, text, e.fields));
                None
            }
        };
        out.push(EventPreview {
            line: e.line,
            id: e.id,
            recipients: 0,
            first: None,
            text: None,
            missing: Vec::new(),
            error,
        });
    }
    let rules: Vec<_> = ready.iter().map(|(_, rule, _, _)| rule.clone()).collect();
    let (audience, chosen) = select_each(&state, &rules, 1).await?;
    for ((at, _, text, fields), chosen) in ready.into_iter().zip(chosen) {
        let p = &mut out[at];
        p.recipients = chosen.count;
        let Some(r) = chosen.sample.into_iter().next() else {
            continue;
        };
        p.first = Some(r.phone_number.as_str().to_owned());
        let mut values = r.attributes;
        values.insert("phone_number".into(), r.phone_number.as_str().into());
        values.insert("event".into(), serde_json::Value::Object(fields));
        match Template::parse(&text).map(|t| t.render(&values)) {
            Ok(Ok(said)) => p.text = Some(said),
            Ok(Err(m)) => p.missing = m.missing,
            Err(broken) => p.error = Some(format!("the template is broken: {broken}")),
        }
    }
    Ok(Json(TriggerPreview {
        audience,
        events: out,
        errors,
    }))
}
