//! Message templates per channel and locale, with `{placeholders}` filled from a recipient's
//! attributes and a trigger event's fields; a preview renders one for a chosen recipient.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dialer_engine::messaging::template::valid_locale;
use dialer_engine::messaging::{Channel, Template};
use dialer_storage::audience::{Definition, DefinitionKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Authorized, can};
use crate::dto::phone;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::Body;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateIn {
    /// The text, with `{placeholders}` (dotted paths; `{{` and `}}` for braces).
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateOut {
    pub name: String,
    /// `voice`, `sms` or `whatsapp`.
    pub channel: String,
    pub locale: String,
    pub text: String,
    /// The placeholders the text uses, in order.
    pub placeholders: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A template's address: name, channel and locale.
struct Key {
    name: String,
    channel: Channel,
    locale: String,
}

impl Key {
    fn parse(name: &str, channel: &str, locale: &str) -> ApiResult<Self> {
        let name = crate::dto::name("name", name)?;
        let channel = Channel::parse(channel)
            .ok_or_else(|| ApiError::invalid("channel", "must be voice, sms or whatsapp"))?;
        if !valid_locale(locale) {
            return Err(ApiError::invalid(
                "locale",
                "must be a language tag such as en, de or pt-BR",
            ));
        }
        Ok(Self {
            name,
            channel,
            locale: locale.to_owned(),
        })
    }

    /// The definition's name: `name/channel/locale`.
    fn stored(&self) -> String {
        format!("{}/{}/{}", self.name, self.channel.as_str(), self.locale)
    }
}

fn out(d: Definition) -> Option<TemplateOut> {
    let mut key = d.name.splitn(3, '/');
    let (name, channel, locale) = (key.next()?, key.next()?, key.next()?);
    let text = d.body.get("text")?.as_str()?.to_owned();
    let placeholders = Template::parse(&text)
        .map(|t| t.placeholders().into_iter().map(str::to_owned).collect())
        .unwrap_or_default();
    Some(TemplateOut {
        name: name.to_owned(),
        channel: channel.to_owned(),
        locale: locale.to_owned(),
        text,
        placeholders,
        created_at: d.created_at,
        updated_at: d.updated_at,
    })
}

/// The text of a campaign's voice template.
pub async fn voice_text(state: &AppState, t: &dialer_engine::VoiceTemplate) -> ApiResult<String> {
    text_of(state, Channel::Voice, &t.name, &t.locale).await
}

/// The text of a template.
pub async fn text_of(
    state: &AppState,
    channel: Channel,
    name: &str,
    locale: &str,
) -> ApiResult<String> {
    let key = Key::parse(name, channel.as_str(), locale)?;
    Ok(load(state, &key).await?.text)
}

async fn load(state: &AppState, key: &Key) -> ApiResult<TemplateOut> {
    state
        .store
        .get_definition(DefinitionKind::Template, &key.stored())
        .await?
        .and_then(out)
        .ok_or_else(|| ApiError::NotFound {
            what: "template",
            id: key.stored(),
        })
}

/// Creates or replaces a template; a malformed one is refused with where it breaks.
#[utoipa::path(
    put, path = "/api/v1/templates/{name}/{channel}/{locale}", tag = "messaging", request_body = TemplateIn,
    responses((status = 201, body = TemplateOut), (status = 200, body = TemplateOut), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path((name, channel, locale)): Path<(String, String, String)>,
    Body(req): Body<TemplateIn>,
) -> ApiResult<(StatusCode, Json<TemplateOut>)> {
    let key = Key::parse(&name, &channel, &locale)?;
    Template::parse(&req.text).map_err(|e| ApiError::invalid("text", e.to_string()))?;
    let max = key.channel.max_body_chars();
    if req.text.trim().is_empty() || req.text.chars().count() > max {
        return Err(ApiError::invalid(
            "text",
            format!("must be 1 to {max} characters on {}", key.channel.as_str()),
        ));
    }
    let now = state.engine.clock().now();
    let created = state
        .store
        .put_definition(
            DefinitionKind::Template,
            &key.stored(),
            serde_json::json!({"text": req.text}),
            now,
        )
        .await?;
    let saved = load(&state, &key).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(saved)))
}

/// Every template, by name, channel and locale.
#[utoipa::path(
    get, path = "/api/v1/templates", tag = "messaging",
    responses((status = 200, body = Vec<TemplateOut>)),
    security(("token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
) -> ApiResult<Json<Vec<TemplateOut>>> {
    let all = state
        .store
        .list_definitions(DefinitionKind::Template)
        .await?;
    Ok(Json(all.into_iter().filter_map(out).collect()))
}

/// One template.
#[utoipa::path(
    get, path = "/api/v1/templates/{name}/{channel}/{locale}", tag = "messaging",
    responses((status = 200, body = TemplateOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path((name, channel, locale)): Path<(String, String, String)>,
) -> ApiResult<Json<TemplateOut>> {
    Ok(Json(
        load(&state, &Key::parse(&name, &channel, &locale)?).await?,
    ))
}

/// Deletes a template (admin).
#[utoipa::path(
    delete, path = "/api/v1/templates/{name}/{channel}/{locale}", tag = "messaging",
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    _: Authorized<can::Admin>,
    Path((name, channel, locale)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let key = Key::parse(&name, &channel, &locale)?;
    if state
        .store
        .delete_definition(DefinitionKind::Template, &key.stored())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            what: "template",
            id: key.stored(),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewIn {
    /// A recipient whose attributes fill the placeholders.
    #[serde(default)]
    pub phone_number: Option<String>,
    /// A trigger event's fields, read as `{event.…}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub event: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewOut {
    /// The text as it would be sent; absent when a placeholder has no value.
    pub text: Option<String>,
    /// Placeholders without a value (never sent blank).
    pub missing: Vec<String>,
}

/// Renders a template for a recipient (its attributes and `phone_number`) and an event.
#[utoipa::path(
    post, path = "/api/v1/templates/{name}/{channel}/{locale}/preview", tag = "messaging", request_body = PreviewIn,
    responses((status = 200, body = PreviewOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn preview(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path((name, channel, locale)): Path<(String, String, String)>,
    Body(req): Body<PreviewIn>,
) -> ApiResult<Json<PreviewOut>> {
    let key = Key::parse(&name, &channel, &locale)?;
    let template = load(&state, &key).await?;
    let parsed = Template::parse(&template.text)
        .map_err(|e| ApiError::Conflict(format!("template {} is broken: {e}", key.stored())))?;
    let mut values = serde_json::Map::new();
    if let Some(text) = &req.phone_number {
        let numbering = dialer_engine::Numbering {
            region: None,
            validation: state.settings.phone_validation,
        };
        let number = phone("phone_number", text, numbering)?;
        let r = state
            .store
            .get_recipient(&number)
            .await?
            .ok_or_else(|| ApiError::NotFound {
                what: "recipient",
                id: number.masked(),
            })?;
        values.extend(r.attributes);
        values.insert("phone_number".into(), number.as_str().into());
    }
    if let Some(event) = req.event {
        values.insert("event".into(), serde_json::Value::Object(event));
    }
    Ok(Json(match parsed.render(&values) {
        Ok(text) => PreviewOut {
            text: Some(text),
            missing: Vec::new(),
        },
        Err(e) => PreviewOut {
            text: None,
            missing: e.missing,
        },
    }))
}
