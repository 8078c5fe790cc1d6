//! A campaign's contact list: streamed CSV/JSON import with a data-quality report, the seed's
//! bulk phone-number import, and paging through the list.

use axum::Json;
use axum::extract::{Path, Request, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::campaigns::{load, path_id};
use crate::auth::{Authorized, can};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::import::{Format, ImportReport, Limits, Sink, import, import_request};
use crate::json::Body;
use crate::json::Params;
use crate::state::AppState;

/// Writes imported rows as `campaign`'s contacts; after each batch the campaign's owner is told
/// (a running campaign dials them at once).
fn contacts_of(state: &AppState, campaign: dialer_engine::CampaignId) -> Sink {
    let (store, engine, clock) = (
        std::sync::Arc::clone(&state.store),
        std::sync::Arc::clone(&state.engine),
        std::sync::Arc::clone(state.engine.clock()),
    );
    std::sync::Arc::new(move |batch| {
        let (store, engine, now) = (
            std::sync::Arc::clone(&store),
            std::sync::Arc::clone(&engine),
            clock.now(),
        );
        Box::pin(async move {
            let written = store.add_contacts(campaign, batch, now).await?;
            engine.contacts_added(campaign);
            Ok(written
                .iter()
                .map(|w| matches!(w, dialer_storage::AddContact::Added(_)))
                .collect())
        })
    })
}

/// Imports contacts from the request body: `text/csv`, `application/json` (an array of
/// objects) or `application/x-ndjson`; streamed.
#[utoipa::path(
    post, path = "/api/v1/campaigns/{id}/contacts/import", tag = "contacts",
    request_body(content = String, description = "CSV with a phone_number column, or JSON objects", content_type = "text/csv"),
    responses(
        (status = 200, description = "The data-quality report", body = ImportReport),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn import_contacts(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(id): Path<String>,
    request: Request,
) -> ApiResult<Json<ImportReport>> {
    let campaign = load(&state, path_id(&id)?).await?;
    super::campaigns::calls_only(&campaign)?;
    let report = import_request(
        &state,
        contacts_of(&state, campaign.id),
        campaign.settings.numbering(state.settings.phone_validation),
        request,
    )
    .await?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumbers {
    pub phone_numbers: Vec<String>,
}

/// The seed's bulk phone-number import: `(campaign_id, phone_number)` is unique.
#[utoipa::path(
    post, path = "/api/v1/campaigns/{id}/phone-numbers", tag = "contacts", request_body = PhoneNumbers,
    responses((status = 200, body = ImportReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn phone_numbers(
    State(state): State<AppState>,
    _: Authorized<can::Write>,
    Path(id): Path<String>,
    Body(req): Body<PhoneNumbers>,
) -> ApiResult<Json<ImportReport>> {
    let campaign = load(&state, path_id(&id)?).await?;
    Ok(Json(
        add_numbers(&state, &campaign, req.phone_numbers, 0).await?,
    ))
}

/// Adds `numbers` to `campaign`'s contacts as an import of theirs does (checked, de-duplicated,
/// merged); the report lists up to `keep_added` of the numbers added.
pub(crate) async fn add_numbers(
    state: &AppState,
    campaign: &dialer_engine::Campaign,
    numbers: Vec<String>,
    keep_added: usize,
) -> ApiResult<ImportReport> {
    super::campaigns::calls_only(campaign)?;
    let rows: Vec<serde_json::Value> = numbers
        .into_iter()
        .map(|p| serde_json::json!({ "phone_number": p }))
        .collect();
    let bytes = serde_json::to_vec(&rows).map_err(|_| ApiError::Internal)?;
    import(
        contacts_of(state, campaign.id),
        campaign.settings.numbering(state.settings.phone_validation),
        axum::body::Body::from(bytes),
        Format::JsonArray,
        Limits {
            places: &state.imports,
            max_bytes: usize::MAX,
            keep_added,
        },
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    /// Contacts with a larger id than this.
    #[param(schema_with = crate::schema::campaign_id)]
    after: Option<i64>,
    /// At most this many (default 100); 0 is read as 1, more than 1000 as 1000.
    #[param(schema_with = crate::schema::limit)]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactOut {
    pub id: i64,
    pub campaign_id: i64,
    pub phone_number: String,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub added_at: DateTime<Utc>,
}

#[utoipa::path(
    get, path = "/api/v1/campaigns/{id}/contacts", tag = "contacts", params(ContactQuery),
    responses((status = 200, body = Vec<ContactOut>), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn list_contacts(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(id): Path<String>,
    Params(q): Params<ContactQuery>,
) -> ApiResult<Json<Vec<ContactOut>>> {
    let campaign = load(&state, path_id(&id)?).await?;
    let after = q
        .after
        .map(|a| {
            dialer_engine::ContactId::new(a)
                .map_err(|_| ApiError::invalid("after", "must be a positive integer"))
        })
        .transpose()?;
    let page = state
        .store
        .contacts_page(campaign.id, after, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(
        page.into_iter()
            .map(|c| ContactOut {
                id: c.id.get(),
                campaign_id: c.campaign_id.get(),
                phone_number: c.phone_number.as_str().to_owned(),
                attributes: serde_json::Value::Object(c.attributes),
                added_at: c.added_at,
            })
            .collect(),
    ))
}
