//! Twilio webhooks. They carry no `X-Auth-Token`: each request is authenticated by its
//! `X-Twilio-Signature`, computed as Twilio computes it — base64(HMAC-SHA1(auth token, the full
//! URL Twilio requested + every POST parameter's name and value, sorted by name)) — and
//! compared in constant time. The account is picked by the request's `AccountSid`.
//!
//! * Status callbacks (`POST /api/v1/providers/twilio/status?call_id=…`) feed the engine like
//!   any provider report; unknown `CallStatus` values are recorded and not acted on.
//! * A campaign with a voice template has Twilio fetch what to say from
//!   `POST /api/v1/providers/twilio/twiml?call_id=…`: the template rendered for the contact.
//! * Inbound messages and calls (`POST /api/v1/providers/twilio/inbound`): STOP, UNSUBSCRIBE,
//!   CANCEL, END, QUIT (and STOPALL) add the sender to the opt-outs; START and UNSTOP remove
//!   them. A voice call's keyword arrives as a `<Gather>`'s `SpeechResult`.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use dialer_actors::messenger::Receipt;
use dialer_actors::provider::twilio::{TwilioConfig, status_report, verify};
use dialer_engine::PhoneNumber;
use dialer_engine::messaging::template::twiml_say;
use dialer_engine::messaging::{Command, Consent, MessageStatus, Template};
use dialer_storage::messages::{EventKind, MessageEvent};
use dialer_storage::{DncEntry, DncKind};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::dto::call_id;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::Params;
use crate::state::AppState;

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
pub const INBOUND_PATH: &str = "/api/v1/providers/twilio/inbound";

/// An empty TwiML answer: nothing to say, nothing to do.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";
/// Ends an answered call at once.
const HANGUP_TWIML: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Hangup/></Response>";

type Form = Vec<(String, String)>;

fn param<'a>(params: &'a Form, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Reads the form and checks its signature; returns the parameters and the account.
fn authenticate<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    body: &[u8],
) -> ApiResult<(Form, &'s TwilioConfig)> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(ApiError::UnsupportedMediaType(
            "application/x-www-form-urlencoded",
        ));
    }
    let params: Form = form_urlencoded::parse(body).into_owned().collect();
    let presented = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::BadSignature)?;
    let account = param(&params, "AccountSid");
    let config = state
        .twilio
        .values()
        .find(|c| Some(c.account_sid.as_str()) == account)
        .ok_or(ApiError::BadSignature)?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path}", state.settings.public_url.trim_end_matches('/'));
    if verify(&config.auth_token, &url, &params, presented) {
        Ok((params, config))
    } else {
        tracing::warn!(account = %config.account_sid, "Twilio webhook with a forged or stale signature");
        Err(ApiError::BadSignature)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// The call the request is about (dialer put it in the URL it gave Twilio).
    call_id: Option<String>,
}

impl StatusQuery {
    fn call_id(&self) -> ApiResult<dialer_engine::CallId> {
        let text = self
            .call_id
            .as_deref()
            .ok_or_else(|| ApiError::missing("call_id"))?;
        call_id("call_id", text)
    }
}

/// A Twilio call status callback.
#[utoipa::path(
    post, path = "/api/v1/providers/twilio/status", tag = "providers", params(StatusQuery),
    request_body(content = String, description = "Twilio's status callback parameters", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Processed (or recorded, for a status dialer does not act on)"),
        (status = 400, body = ErrorBody), (status = 403, description = "Bad signature", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Params(q): Params<StatusQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let (params, config) = authenticate(&state, &headers, &uri, &body)?;
    let id = q.call_id()?;
    if param(&params, "CallStatus").is_none_or(str::is_empty) {
        return Err(ApiError::missing("CallStatus"));
    }
    let report = status_report(&config.name, &params);
    state.engine.report(id, report).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an answered call says, for a campaign with a voice template: the template rendered
/// with the contact's attributes and `phone_number`, read out by `<Say>`. A placeholder
/// without a value is never read out blank: the call is hung up instead, and the log says why.
#[utoipa::path(
    post, path = "/api/v1/providers/twilio/twiml", tag = "providers", params(StatusQuery),
    request_body(content = String, description = "Twilio's call parameters", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML", content_type = "text/xml"),
        (status = 400, body = ErrorBody), (status = 403, description = "Bad signature", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn twiml(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Params(q): Params<StatusQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    authenticate(&state, &headers, &uri, &body)?;
    let id = q.call_id()?;
    let call = super::calls::load_call(&state, id).await?;
    let campaign = super::campaigns::load(&state, call.campaign_id).await?;
    let spoken = campaign
        .settings
        .voice_template
        .as_ref()
        .ok_or_else(|| ApiError::NotFound {
            what: "voice template of campaign",
            id: campaign.id.to_string(),
        })?;
    let text = super::templates::voice_text(&state, spoken).await?;
    let mut values = state
        .store
        .get_contact(campaign.id, &call.phone_number)
        .await?
        .map(|c| c.attributes)
        .unwrap_or_default();
    values.insert("phone_number".into(), call.phone_number.as_str().into());
    let twiml = match Template::parse(&text).map(|t| t.render(&values)) {
        Ok(Ok(said)) => twiml_say(&said),
        Ok(Err(e)) => {
            tracing::warn!(call_id = %id, campaign_id = campaign.id.get(), missing = ?e.missing, "voice template not rendered: hanging up");
            HANGUP_TWIML.to_owned()
        }
        Err(e) => {
            tracing::warn!(call_id = %id, campaign_id = campaign.id.get(), error = %e, "voice template broken: hanging up");
            HANGUP_TWIML.to_owned()
        }
    };
    Ok(([(header::CONTENT_TYPE, "text/xml")], twiml))
}

/// An inbound message (or a voice call's gathered speech) to one of our numbers.
#[utoipa::path(
    post, path = "/api/v1/providers/twilio/inbound", tag = "providers",
    request_body(content = String, description = "Twilio's inbound message parameters", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Empty TwiML", content_type = "text/xml"),
        (status = 400, body = ErrorBody), (status = 403, description = "Bad signature", body = ErrorBody),
    )
)]
pub async fn inbound(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let (params, _config) = authenticate(&state, &headers, &uri, &body)?;
    let text = param(&params, "Body")
        .or_else(|| param(&params, "SpeechResult"))
        .unwrap_or("");
    let command = Command::parse(text.trim_end_matches(['.', '!']));
    let from = param(&params, "From").ok_or_else(|| ApiError::missing("From"))?;
    // A WhatsApp sender is `whatsapp:+14155552671`.
    let from = from.strip_prefix("whatsapp:").unwrap_or(from);
    let number =
        PhoneNumber::parse(from, None).map_err(|e| ApiError::invalid("From", e.to_string()))?;
    let sid = param(&params, "MessageSid")
        .or_else(|| param(&params, "CallSid"))
        .unwrap_or("unknown");
    let now = state.engine.clock().now();
    // Every inbound message is kept, as it came and as it was read.
    let normalized = serde_json::json!({
        "from": number.as_str(),
        "wa_id": param(&params, "WaId"),
        "body": text,
        "sid": sid,
        "timestamp": param(&params, "Timestamp"),
        "command": command.name(),
    });
    state
        .store
        .add_message_event(MessageEvent {
            event_id: MessageEvent::new_id(now),
            kind: EventKind::Inbound,
            at: now,
            phone_number: Some(number.clone()),
            message_id: None,
            raw: form_json(&params),
            normalized,
        })
        .await?;
    let now = state.engine.clock().now();
    match command {
        Command::OptOut => {
            let entry = DncEntry {
                phone_number: number.clone(),
                kind: DncKind::OptOut,
                source: format!("twilio:{sid}"),
                added_at: now,
            };
            state.store.add_dnc(vec![entry]).await?;
            state
                .store
                .set_consent(&number, Consent::OptedOut, now)
                .await?;
            tracing::info!(phone = %number.masked(), "opted out by message");
        }
        Command::OptIn => {
            state.store.remove_dnc(&number, DncKind::OptOut).await?;
            state
                .store
                .set_consent(&number, Consent::OptedIn, now)
                .await?;
            tracing::info!(phone = %number.masked(), "opted back in by message");
        }
        Command::Subscribe(topic) => {
            state.store.subscribe(&number, &topic, now).await?;
            tracing::info!(phone = %number.masked(), topic, "subscribed by message");
        }
        Command::Unsubscribe(topic) => {
            state.store.unsubscribe(&number, &topic).await?;
            tracing::info!(phone = %number.masked(), topic, "unsubscribed by message");
        }
        Command::Text => {}
    }
    Ok(([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML))
}

/// A webhook's form as a JSON object (a repeated name keeps its last value).
fn form_json(params: &Form) -> serde_json::Value {
    serde_json::Value::Object(
        params
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageStatusQuery {
    /// The message the callback is about (dialer puts it in the `StatusCallback` URL).
    message_id: String,
    /// The attempt it is about.
    attempt: Option<u32>,
}

/// Twilio's message status callbacks (`MessageSid`, `MessageStatus`, `ErrorCode`), signed. Each
/// is stored raw and normalized; a status moves the message only forward, so a `delivered`
/// after `read` changes nothing; an unknown status is recorded and not acted on.
#[utoipa::path(
    post, path = "/api/v1/providers/twilio/message-status", tag = "providers", params(MessageStatusQuery),
    request_body(content = String, description = "Twilio's form-encoded status callback", content_type = "application/x-www-form-urlencoded"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
)]
pub async fn message_status(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Params(q): Params<MessageStatusQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let (params, _config) = authenticate(&state, &headers, &uri, &body)?;
    let word = param(&params, "MessageStatus").ok_or_else(|| ApiError::missing("MessageStatus"))?;
    let now = state.engine.clock().now();
    let Some(status) = MessageStatus::from_provider(word) else {
        state
            .store
            .add_message_event(MessageEvent {
                event_id: MessageEvent::new_id(now),
                kind: EventKind::Receipt,
                at: now,
                phone_number: None,
                message_id: Some(q.message_id.clone()),
                raw: form_json(&params),
                normalized: serde_json::json!({"message_id": q.message_id, "status": null, "unknown_status": word}),
            })
            .await?;
        return Ok(StatusCode::NO_CONTENT);
    };
    let receipt = Receipt {
        message_id: q.message_id.clone(),
        attempt: q.attempt.unwrap_or(0),
        sid: param(&params, "MessageSid").unwrap_or_default().to_owned(),
        status,
        error_code: param(&params, "ErrorCode")
            .filter(|c| !c.trim().is_empty())
            .map(str::to_owned),
    };
    state
        .messaging
        .on_receipt(&receipt, form_json(&params), now)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
