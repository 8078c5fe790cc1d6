//! The simulator's HTTP face: the generic Call API (create with an idempotency key, status by
//! id or by key), Twilio's `Calls.json`, and the harness's `/stats` and `/faults`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Faults, Mode, Placed, SEED, Shared, Sim, Stats, TWILIO, lock};

#[derive(Debug, Deserialize)]
struct CreateCall {
    phone_number: String,
    call_id: String,
    #[serde(default)]
    attempt: Option<u32>,
    #[serde(default)]
    callback_url: Option<String>,
}

async fn answer_after_fault(sim: &Sim, fault: Option<&str>, ok: Response) -> Response {
    match fault {
        Some("5xx_after_placing") => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"code": 500, "message": "internal error"})),
        )
            .into_response(),
        Some("timeout_after_placing") => {
            tokio::time::sleep(Duration::from_millis(sim.timeout_ms())).await;
            ok
        }
        _ => ok,
    }
}

async fn create_call(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<CreateCall>,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match sim.place(&req.call_id, req.attempt, &req.phone_number, key.as_deref()) {
        Err("invalid") => (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": 21211, "message": "invalid 'To' phone number"})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": 503, "message": "try again later"})),
        )
            .into_response(),
        Ok((placed, new, fault)) => {
            if new && sim.config.mode != Mode::Accept {
                sim.report(Arc::clone(&placed), req.callback_url.clone(), None);
            }
            let status = if new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let ok = (
                status,
                Json(json!({"call_id": placed.external_id, "status": "initiated"})),
            )
                .into_response();
            answer_after_fault(&sim, fault.as_deref(), ok).await
        }
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"code": 20404, "message": "not found"})),
    )
        .into_response()
}

fn status_body(sim: &Sim, p: &Placed) -> Response {
    let (status, duration) = sim.status_now(p, &SEED);
    Json(json!({"call_id": p.external_id, "status": status, "duration": duration})).into_response()
}

async fn call_status(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let found = lock(&sim.calls).registry.by_id(&id);
    found.map_or_else(not_found, |p| status_body(&sim, &p))
}

async fn call_by_key(
    State(sim): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let found = q
        .get("idempotency_key")
        .and_then(|k| lock(&sim.calls).registry.by_key(k));
    found.map_or_else(not_found, |p| status_body(&sim, &p))
}

async fn twilio_create(
    State(sim): State<Shared>,
    Path(account): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let to = form.get("To").cloned().unwrap_or_default();
    let callback = form.get("StatusCallback").cloned();
    // The engine's call id travels in the status callback's query string.
    let call_id = callback
        .as_deref()
        .and_then(|u| u.split("call_id=").nth(1))
        .map_or_else(
            || to.clone(),
            |id| id.split('&').next().unwrap_or_default().to_owned(),
        );
    match sim.place(&call_id, None, &to, None) {
        Err("invalid") => (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": 21211, "message": "The 'To' number is not a valid phone number."})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": 20503, "message": "Service unavailable"})),
        )
            .into_response(),
        Ok((placed, _, fault)) => {
            if sim.config.mode == Mode::Twilio {
                sim.report(Arc::clone(&placed), callback, Some(account));
            }
            let ok = (
                StatusCode::CREATED,
                Json(json!({"sid": placed.external_id, "status": "queued"})),
            )
                .into_response();
            answer_after_fault(&sim, fault.as_deref(), ok).await
        }
    }
}

async fn twilio_status(
    State(sim): State<Shared>,
    Path((_account, file)): Path<(String, String)>,
) -> Response {
    let sid = file.trim_end_matches(".json");
    let found = lock(&sim.calls).registry.by_id(sid);
    match found {
        Some(p) => {
            let (status, duration) = sim.status_now(&p, &TWILIO);
            Json(json!({"sid": sid, "status": status, "duration": duration.map(|d| d.to_string())}))
                .into_response()
        }
        None => not_found(),
    }
}

async fn stats(State(sim): State<Shared>) -> Json<Stats> {
    Json(sim.stats())
}

async fn set_faults(State(sim): State<Shared>, Json(faults): Json<Faults>) -> Json<Faults> {
    sim.set_faults(faults);
    Json(faults)
}

/// The simulator's routes.
pub fn router(sim: Shared) -> Router {
    Router::new()
        .route("/api/call", post(create_call).get(call_by_key))
        .route("/api/call/{id}", get(call_status))
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(twilio_create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            get(twilio_status),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(super::messages::twilio_send),
        )
        .route("/messages", post(super::messages::json_send))
        .route("/stats", get(stats))
        .route("/faults", post(set_faults))
        .with_state(sim)
}
