//! The messaging audience: recipients (E.164, JSON attributes, consent) and their topic
//! subscriptions. Segments, rules over them, are in `segments`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use dialer_engine::PhoneNumber;
use dialer_engine::messaging::Consent;
use dialer_storage::audience::{Recipient, RecipientUpsert, Upserted};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Authorized, can};
use crate::dto::phone;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::import::{ImportReport, Sink};
use crate::json::{Body, Params};
use crate::state::AppState;

/// Recipients in one request at most.
pub const MAX_RECIPIENTS: usize = 10_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientOut {
    pub phone_number: String,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// `opted_in`, `opted_out` or `unknown`.
    pub consent: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&Recipient> for RecipientOut {
    fn from(r: &Recipient) -> Self {
        Self {
            phone_number: r.phone_number.as_str().to_owned(),
            attributes: serde_json::Value::Object(r.attributes.clone()),
            consent: r.consent.as_str().to_owned(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientIn {
    pub phone_number: String,
    /// Merged key by key into what the recipient has.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Changed only when given.
    #[serde(default)]
    #[schema(schema_with = crate::schema::consent_or_null)]
    pub consent: Option<Consent>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRecipients {
    #[schema(max_items = 10000)]
    pub recipients: Vec<RecipientIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddRecipientsOut {
    pub added: u32,
    pub merged: u32,
    /// Entries refused, each with its index and why (the others are written).
    pub invalid: Vec<InvalidRecipient>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvalidRecipient {
    pub index: usize,
    pub phone_number: String,
    pub reason: String,
}

fn numbering(state: &AppState) -> dialer_engine::Numbering {
    dialer_engine::Numbering {
        region: None,
        validation: state.settings.phone_validation,
    }
}

pub(super) fn path_phone(state: &AppState, text: &str) -> ApiResult<PhoneNumber> {
    phone("phone_number", text, numbering(state))
}

fn topic(text: &str) -> ApiResult<String> {
    crate::dto::name("topic", &text.trim().to_ascii_lowercase())
}

/// Adds recipients or merges them into those with the same number (attributes key by key;
/// consent only when given). Each entry is accepted or refused on its own.
#[utoipa::path(
    post, path = "/api/v1/recipients", tag = "messaging", request_body = AddRecipients,
    responses((status = 200, body = AddRecipientsOut), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn add(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Body(req): Body<AddRecipients>,
) -> ApiResult<Json<AddRecipientsOut>> {
    if req.recipients.len() > MAX_RECIPIENTS {
        return Err(ApiError::invalid(
            "recipients",
            format!("at most {MAX_RECIPIENTS} per request"),
        ));
    }
    let mut batch = Vec::new();
    let mut invalid = Vec::new();
    for (index, r) in req.recipients.into_iter().enumerate() {
        match numbering(&state).parse(&r.phone_number) {
            Ok(phone_number) => batch.push(RecipientUpsert {
                phone_number,
                attributes: r.attributes.unwrap_or_default(),
                consent: r.consent,
            }),
            Err(e) => invalid.push(InvalidRecipient {
                index,
                phone_number: r.phone_number,
                reason: e.to_string(),
            }),
        }
    }
    let now = state.engine.clock().now();
    let outcomes = state.store.upsert_recipients(batch, now).await?;
    let added = outcomes.iter().filter(|o| **o == Upserted::Added).count() as u32;
    Ok(Json(AddRecipientsOut {
        added,
        merged: outcomes.len() as u32 - added,
        invalid,
    }))
}

/// Writes imported rows into the audience: a `consent` column (`opted_in`, `opted_out`,
/// `unknown`; empty: unchanged) sets the consent, every other column is an attribute.
fn recipients(state: &AppState) -> Sink {
    let (store, clock) = (Arc::clone(&state.store), Arc::clone(state.engine.clock()));
    Arc::new(move |batch: Vec<dialer_storage::NewContact>| {
        let (store, now) = (Arc::clone(&store), clock.now());
        Box::pin(async move {
            let upserts = batch
                .into_iter()
                .map(|c| {
                    let mut attributes = c.attributes;
                    let given = attributes
                        .get("consent")
                        .and_then(|v| v.as_str())
                        .map(|t| t.trim().to_owned());
                    let consent = given.as_deref().and_then(Consent::parse);
                    // An empty cell says nothing; a value that is no consent state stays an
                    // attribute, where it can be seen.
                    if consent.is_some() || given.as_deref() == Some("") {
                        attributes.remove("consent");
                    }
                    RecipientUpsert {
                        phone_number: c.phone_number,
                        attributes,
                        consent,
                    }
                })
                .collect();
            let written = store.upsert_recipients(upserts, now).await?;
            Ok(written.iter().map(|w| *w == Upserted::Added).collect())
        })
    })
}

/// Imports recipients from CSV (a `phone_number` column; a `consent` column sets the consent;
/// the others are attributes), a JSON array of objects or JSON lines, streamed: each row
/// validated, de-duplicated within the file and merged into the audience; answers the
/// data-quality report.
#[utoipa::path(
    post, path = "/api/v1/recipients/import", tag = "messaging",
    request_body(content = String, description = "CSV with a phone_number column, or JSON objects", content_type = "text/csv"),
    responses(
        (status = 200, description = "The data-quality report", body = ImportReport),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn import(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    request: Request,
) -> ApiResult<Json<ImportReport>> {
    let report =
        crate::import::import_request(&state, recipients(&state), numbering(&state), request)
            .await?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^\+[0-9]{7,15}$")]
    after: Option<String>,
    /// Page size, default 100; 0 is read as 1, more than 1000 as 1000.
    #[param(schema_with = crate::schema::limit)]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientPage {
    pub results: Vec<RecipientOut>,
    pub next_cursor: Option<String>,
}

/// Recipients, a page at a time.
#[utoipa::path(
    get, path = "/api/v1/recipients", tag = "messaging", params(PageQuery),
    responses((status = 200, body = RecipientPage), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<RecipientPage>> {
    let after = q
        .after
        .as_deref()
        .map(|a| {
            PhoneNumber::from_stored(a)
                .map_err(|_| ApiError::invalid("after", "must be a next_cursor"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let page = state.store.list_recipients(after, limit).await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|r| r.phone_number.as_str().to_owned()))
        .flatten();
    Ok(Json(RecipientPage {
        results: page.iter().map(RecipientOut::from).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientDetail {
    #[serde(flatten)]
    pub recipient: RecipientOut,
    pub topics: Vec<String>,
}

/// A recipient with its topics.
#[utoipa::path(
    get, path = "/api/v1/recipients/{phone_number}", tag = "messaging",
    responses((status = 200, body = RecipientDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(number): Path<String>,
) -> ApiResult<Json<RecipientDetail>> {
    let number = path_phone(&state, &number)?;
    let r = state
        .store
        .get_recipient(&number)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            what: "recipient",
            id: number.masked(),
        })?;
    Ok(Json(RecipientDetail {
        recipient: RecipientOut::from(&r),
        topics: state.store.topics_of(&number).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicIn {
    /// 1 to 64 letters, digits, '-', '_' or '.' (stored in lower case).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub topic: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionOut {
    pub phone_number: String,
    pub topic: String,
    /// Whether this request created it (false: it existed, or there was none to remove).
    pub changed: bool,
}

/// Subscribes a recipient (added when new) to a topic.
#[utoipa::path(
    post, path = "/api/v1/recipients/{phone_number}/subscribe", tag = "messaging", request_body = TopicIn,
    responses((status = 200, body = SubscriptionOut), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn subscribe(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(number): Path<String>,
    Body(req): Body<TopicIn>,
) -> ApiResult<Json<SubscriptionOut>> {
    change(&state, &number, &req, true).await
}

/// Ends a recipient's subscription to a topic.
#[utoipa::path(
    post, path = "/api/v1/recipients/{phone_number}/unsubscribe", tag = "messaging", request_body = TopicIn,
    responses((status = 200, body = SubscriptionOut), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn unsubscribe(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(number): Path<String>,
    Body(req): Body<TopicIn>,
) -> ApiResult<Json<SubscriptionOut>> {
    change(&state, &number, &req, false).await
}

async fn change(
    state: &AppState,
    number: &str,
    req: &TopicIn,
    subscribe: bool,
) -> ApiResult<Json<SubscriptionOut>> {
    let number = path_phone(state, number)?;
    let topic = topic(&req.topic)?;
    let changed = if subscribe {
        let now = state.engine.clock().now();
        state.store.subscribe(&number, &topic, now).await?
    } else {
        state.store.unsubscribe(&number, &topic).await?
    };
    Ok(Json(SubscriptionOut {
        phone_number: number.as_str().to_owned(),
        topic,
        changed,
    }))
}
