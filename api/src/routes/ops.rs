//! Operations: liveness, readiness, Prometheus metrics, the seed's JSON metrics summary and the
//! OpenAPI document. `/healthz`, `/readyz` and `/metrics` need no token.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use dialer_storage::lease::PoolId;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Authorized, can};
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` with the failing checks.
    pub status: String,
    /// Each dependency: `ok` or what is wrong.
    pub checks: BTreeMap<String, String>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        checks: BTreeMap::new(),
    })
}

/// Readiness: storage, the lease store and the engine's actors all answer.
#[utoipa::path(
    get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = Health))
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (ok, checks) = readiness(&state).await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            status: if ok { "ok" } else { "unavailable" }.into(),
            checks,
        }),
    )
}

/// Whether storage, the lease store and the engine's actors answer, and what each said.
async fn readiness(state: &AppState) -> (bool, BTreeMap<String, String>) {
    let mut checks = BTreeMap::new();
    let (store, leases) = tokio::join!(state.store.ping(), state.leases.ping());
    checks.insert(
        format!("storage ({})", state.store.backend()),
        store.map_or_else(|e| e.to_string(), |()| "ok".into()),
    );
    checks.insert(
        format!("leases ({})", state.leases.backend()),
        leases.map_or_else(|e| e.to_string(), |()| "ok".into()),
    );
    let engine = if state.shutdown.is_cancelled() {
        "shutting down".into()
    } else if state.engine.is_alive() {
        "ok".into()
    } else {
        "actors restarting".to_owned()
    };
    checks.insert("engine".into(), engine);
    let ok = checks.values().all(|v| v == "ok");
    (ok, checks)
}

/// Prometheus text exposition.
#[utoipa::path(
    get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (ready, _) = readiness(&state).await;
    let mut text = state.metrics.render();
    text.push_str(&state.engine.state_metrics());
    text.push_str(&format!(
        "# HELP {READY} {READY_HELP}\n# TYPE {READY} gauge\n{READY} {}\n",
        u8::from(ready)
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// Whether `/readyz` would answer 200 now (1) or 503 (0).
pub const READY: &str = "dialer_ready";
pub const READY_HELP: &str =
    "1 when the node is ready (storage, the lease store and the engine's actors answer), else 0.";

/// The system summary (the seed's "real-time metrics").
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub node_id: String,
    pub started_at: DateTime<Utc>,
    pub uptime_seconds: i64,
    pub storage_backend: String,
    pub lease_backend: String,
    /// Calls in flight across every node sharing the lease store.
    pub active_calls: u32,
    pub max_concurrent_calls: u32,
    /// Calls in flight in this node's dialer slots.
    pub calls_in_slots: usize,
    /// Campaigns by state.
    pub campaigns: BTreeMap<String, u64>,
    /// Counters summed over every campaign: `calls_created`, `attempts`, `outcome.PICKED`…
    pub totals: BTreeMap<String, i64>,
    /// Actor restarts since start.
    pub actor_restarts: u64,
    /// The reference implementation's fields: calls in flight (as `active_calls`)…
    pub current_concurrent_calls: u32,
    /// …`healthy`, or `at_capacity` when every line is in use…
    pub system_status: String,
    /// …and the last 7 UTC days, newest first.
    pub recent_metrics: Vec<DayMetrics>,
}

/// One UTC day's figures, over every campaign.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DayMetrics {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub total_calls_initiated: i64,
    pub total_calls_picked: i64,
    pub total_calls_disconnected: i64,
    pub total_calls_rnr: i64,
    pub total_calls_failed: i64,
    pub total_retries: i64,
    /// The most calls in flight at once that day on this node, since it started.
    pub peak_concurrent_calls: u64,
    pub total_call_duration_seconds: i64,
}

/// Days in `recent_metrics`.
const RECENT_DAYS: i64 = 7;

fn recent_metrics(
    totals: &BTreeMap<String, i64>,
    peaks: &BTreeMap<chrono::NaiveDate, usize>,
    today: chrono::NaiveDate,
) -> Vec<DayMetrics> {
    (0..RECENT_DAYS)
        .filter_map(|back| today.checked_sub_days(chrono::Days::new(back as u64)))
        .map(|day| {
            let at = day.and_time(chrono::NaiveTime::MIN).and_utc();
            let get = |name: &str| {
                totals
                    .get(&dialer_actors::daily_counter(at, name))
                    .copied()
                    .unwrap_or(0)
            };
            DayMetrics {
                date: day.to_string(),
                total_calls_initiated: get("calls_created"),
                total_calls_picked: get("outcome.PICKED"),
                total_calls_disconnected: get("outcome.DISCONNECTED"),
                total_calls_rnr: get("outcome.RNR"),
                total_calls_failed: get("outcome.FAILED"),
                total_retries: get("retries_scheduled"),
                peak_concurrent_calls: peaks.get(&day).copied().unwrap_or(0) as u64,
                total_call_duration_seconds: get("talk_seconds"),
            }
        })
        .collect()
}

#[utoipa::path(
    get, path = "/api/v1/metrics", tag = "ops",
    responses((status = 200, body = Summary), (status = 401, body = ErrorBody)),
    security(("token" = []))
)]
pub async fn summary(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
) -> ApiResult<Json<Summary>> {
    let mut campaigns = BTreeMap::new();
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = state.store.list_campaigns(after, 500).await?;
        for c in &page {
            *campaigns.entry(c.state.as_str().to_owned()).or_insert(0) += 1;
            for (name, value) in state.store.counters(c.id).await? {
                *totals.entry(name).or_insert(0) += value;
            }
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = Some(last.id),
            _ => break,
        }
    }
    let now = state.engine.clock().now();
    let recent = recent_metrics(&totals, &state.engine.daily_peaks(), now.date_naive());
    // The per-day counters are in `recent_metrics`, not the totals.
    totals.retain(|name, _| !name.starts_with("day."));
    let active = state.leases.count(&PoolId::global()).await.unwrap_or(0);
    let max = state.settings.max_concurrent_calls;
    Ok(Json(Summary {
        node_id: state.settings.node_id.to_string(),
        started_at: state.started_at,
        uptime_seconds: (now - state.started_at).num_seconds(),
        storage_backend: state.store.backend().into(),
        lease_backend: state.leases.backend().into(),
        active_calls: active,
        max_concurrent_calls: max,
        calls_in_slots: state.engine.calls_in_slots(),
        campaigns,
        totals,
        actor_restarts: state.engine.restarts().total(),
        current_concurrent_calls: active,
        system_status: if active >= max {
            "at_capacity"
        } else {
            "healthy"
        }
        .into(),
        recent_metrics: recent,
    }))
}
