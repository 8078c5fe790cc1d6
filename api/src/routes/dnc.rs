//! The do-not-call list: numbers the operator must never dial (`dnc`) and numbers whose owners
//! opted out (`opt_out`). Every dispatch checks it; removing an entry is an admin action.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use dialer_engine::{Numbering, PhoneNumber};
use dialer_storage::{DncEntry, DncKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Authorized, Principal, can};
use crate::dto::phone;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::Body;
use crate::json::Params;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct DncOut {
    pub phone_number: String,
    /// `dnc` or `opt_out`.
    pub kind: String,
    /// Who added it: `api:<token name>`, `twilio:<MessageSid>`…
    pub source: String,
    pub added_at: DateTime<Utc>,
}

impl From<&DncEntry> for DncOut {
    fn from(e: &DncEntry) -> Self {
        Self {
            phone_number: e.phone_number.as_str().to_owned(),
            kind: e.kind.as_str().to_owned(),
            source: e.source.clone(),
            added_at: e.added_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDnc {
    pub phone_number: String,
    /// `dnc` when absent.
    #[serde(default)]
    #[schema(schema_with = crate::schema::dnc_kind_or_null)]
    pub kind: Option<String>,
    /// The region for numbers written without a country code (ISO 3166, e.g. `US`; any case).
    #[serde(default)]
    #[schema(schema_with = crate::schema::region_or_null)]
    pub region: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDncBulk {
    /// Each number is listed or reported in `invalid` on its own.
    #[schema(max_items = 100000)]
    pub phone_numbers: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::schema::dnc_kind_or_null)]
    pub kind: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::schema::region_or_null)]
    pub region: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DncBulkOut {
    /// Numbers newly listed.
    pub added: u32,
    /// Valid numbers that were listed already.
    pub already_listed: u32,
    pub invalid: Vec<crate::import::InvalidRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DncCheck {
    pub phone_number: String,
    /// Whether any entry blocks dialing this number.
    pub blocked: bool,
    pub entries: Vec<DncOut>,
}

fn kind(field: &str, text: Option<&str>) -> ApiResult<DncKind> {
    match text {
        None => Ok(DncKind::Dnc),
        Some(t) => {
            DncKind::parse(t).ok_or_else(|| ApiError::invalid(field, "must be dnc or opt_out"))
        }
    }
}

/// How the list reads numbers: national ones in `region`, checked by the engine's validation.
fn numbering(state: &AppState, region: Option<&str>) -> ApiResult<Numbering> {
    let region = region
        .map(|r| {
            r.parse().map_err(|_| {
                ApiError::invalid("region", "must be an ISO 3166 region code such as US")
            })
        })
        .transpose()?;
    Ok(Numbering {
        region,
        validation: state.settings.phone_validation,
    })
}

fn entry(number: PhoneNumber, kind: DncKind, who: &Principal, now: DateTime<Utc>) -> DncEntry {
    DncEntry {
        phone_number: number,
        kind,
        source: format!("api:{}", who.name),
        added_at: now,
    }
}

/// Adds one number.
#[utoipa::path(
    post, path = "/api/v1/dnc", tag = "dnc", request_body = AddDnc,
    responses(
        (status = 201, description = "Listed", body = DncOut),
        (status = 200, description = "Already listed; the first entry is kept", body = DncOut),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn add(
    State(state): State<AppState>,
    who: Authorized<can::Write>,
    Body(req): Body<AddDnc>,
) -> ApiResult<(StatusCode, Json<DncOut>)> {
    let kind = kind("kind", req.kind.as_deref())?;
    let number = phone(
        "phone_number",
        &req.phone_number,
        numbering(&state, req.region.as_deref())?,
    )?;
    let now = state.engine.clock().now();
    let added = state
        .store
        .add_dnc(vec![entry(number.clone(), kind, &who, now)])
        .await?;
    let entries = state.store.check_dnc(&number).await?;
    let kept = entries
        .iter()
        .find(|e| e.kind == kind)
        .ok_or(ApiError::Internal)?;
    let status = if added > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(DncOut::from(kept))))
}

/// Adds many numbers; invalid ones are reported, the rest are listed.
#[utoipa::path(
    post, path = "/api/v1/dnc/bulk", tag = "dnc", request_body = AddDncBulk,
    responses((status = 200, body = DncBulkOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn add_bulk(
    State(state): State<AppState>,
    who: Authorized<can::Write>,
    Body(req): Body<AddDncBulk>,
) -> ApiResult<Json<DncBulkOut>> {
    if req.phone_numbers.len() > 100_000 {
        return Err(ApiError::invalid(
            "phone_numbers",
            "at most 100000 numbers per request",
        ));
    }
    let kind = kind("kind", req.kind.as_deref())?;
    let numbering = numbering(&state, req.region.as_deref())?;
    let now = state.engine.clock().now();
    let mut invalid = Vec::new();
    let mut entries = Vec::with_capacity(req.phone_numbers.len());
    for (i, text) in req.phone_numbers.into_iter().enumerate() {
        match numbering.parse(&text) {
            Ok(n) => entries.push(entry(n, kind, &who, now)),
            Err(e) => invalid.push(crate::import::InvalidRow {
                line: i as u64 + 1,
                value: text,
                reason: e.to_string(),
            }),
        }
    }
    entries.sort_by(|a, b| a.phone_number.cmp(&b.phone_number));
    entries.dedup_by(|a, b| a.phone_number == b.phone_number);
    let valid = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    let mut added = 0;
    for chunk in entries.chunks(1000) {
        added += state.store.add_dnc(chunk.to_vec()).await?;
    }
    Ok(Json(DncBulkOut {
        added,
        already_listed: valid - added,
        invalid,
    }))
}

/// Whether a number may be dialed.
#[utoipa::path(
    get, path = "/api/v1/dnc/{phone_number}", tag = "dnc",
    params(("phone_number" = String, Path, description = "E.164, URL-encoded (`%2B14155552671`)")),
    responses((status = 200, body = DncCheck), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn check(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Path(number): Path<String>,
) -> ApiResult<Json<DncCheck>> {
    let number = phone("phone_number", &number, numbering(&state, None)?)?;
    let entries = state.store.check_dnc(&number).await?;
    Ok(Json(DncCheck {
        phone_number: number.as_str().to_owned(),
        blocked: !entries.is_empty(),
        entries: entries.iter().map(DncOut::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    /// `dnc` when absent.
    #[param(schema_with = crate::schema::dnc_kind)]
    kind: Option<String>,
}

/// Removes a number from the list (admin only: an opt-out is the owner's wish).
#[utoipa::path(
    delete, path = "/api/v1/dnc/{phone_number}", tag = "dnc", params(RemoveQuery),
    responses((status = 204, description = "Removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn remove(
    State(state): State<AppState>,
    who: Authorized<can::Admin>,
    Path(number): Path<String>,
    Params(q): Params<RemoveQuery>,
) -> ApiResult<StatusCode> {
    let number = phone("phone_number", &number, numbering(&state, None)?)?;
    let kind = kind("kind", q.kind.as_deref())?;
    if state.store.remove_dnc(&number, kind).await? {
        tracing::info!(phone = %number.masked(), kind = kind.as_str(), by = %who.name, "removed from the do-not-call list");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            what: "dnc entry",
            id: format!("{} ({})", number.masked(), kind.as_str()),
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Both kinds when absent.
    #[param(schema_with = crate::schema::dnc_kind)]
    kind: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = crate::schema::dnc_cursor)]
    cursor: Option<String>,
    /// Page size, default 100; 0 is read as 1, more than 1000 as 1000.
    #[param(schema_with = crate::schema::limit)]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DncPage {
    pub results: Vec<DncOut>,
    pub next_cursor: Option<String>,
}

/// The list, in pages.
#[utoipa::path(
    get, path = "/api/v1/dnc", tag = "dnc", params(ListQuery),
    responses((status = 200, body = DncPage), (status = 400, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<DncPage>> {
    let filter = q
        .kind
        .as_deref()
        .map(|k| kind("kind", Some(k)))
        .transpose()?;
    // The cursor is `<E.164>,<kind>` of the last entry of the previous page.
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            let bad = || ApiError::invalid("cursor", "is not a cursor this endpoint returned");
            let (number, kind) = c.split_once(',').ok_or_else(bad)?;
            Ok::<_, ApiError>((
                PhoneNumber::from_stored(number).map_err(|_| bad())?,
                DncKind::parse(kind).ok_or_else(bad)?,
            ))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let page = state.store.list_dnc(filter, after, limit).await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| {
            page.last()
                .map(|e| format!("{},{}", e.phone_number.as_str(), e.kind.as_str()))
        })
        .flatten();
    Ok(Json(DncPage {
        results: page.iter().map(DncOut::from).collect(),
        next_cursor,
    }))
}
