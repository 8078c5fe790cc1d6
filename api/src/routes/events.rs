//! `GET /api/v1/events`: server-sent events of call state changes, optionally for one campaign.
//! Each event is `event: call` with the call's id, campaign, status, attempt and next retry;
//! a subscriber too slow to keep up gets `event: lagged` with how many it missed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use dialer_actors::CallNotice;
use dialer_engine::CampaignId;
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Authorized, can};
use crate::dto::campaign_id;
use crate::error::{ApiResult, ErrorBody};
use crate::json::Params;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only this campaign's calls.
    #[param(schema_with = crate::schema::campaign_id)]
    campaign_id: Option<i64>,
}

/// The data of one `call` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallEventOut {
    pub call_id: String,
    pub campaign_id: i64,
    pub status: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub next_retry_at: Option<DateTime<Utc>>,
}

impl From<&CallNotice> for CallEventOut {
    fn from(n: &CallNotice) -> Self {
        Self {
            call_id: n.call_id.to_string(),
            campaign_id: n.campaign_id.get(),
            status: n.status.as_str().to_owned(),
            attempt: n.attempt,
            at: n.at,
            next_retry_at: n.next_retry_at,
        }
    }
}

/// Live call state changes as `text/event-stream`.
#[utoipa::path(
    get, path = "/api/v1/events", tag = "calls", params(EventQuery),
    responses(
        (status = 200, description = "`event: call` with a CallEventOut as data; `event: lagged` with a count", content_type = "text/event-stream", body = CallEventOut),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ),
    security(("token" = []))
)]
pub async fn events(
    State(state): State<AppState>,
    _: Authorized<can::Read>,
    Params(q): Params<EventQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let filter: Option<CampaignId> = q
        .campaign_id
        .map(|c| campaign_id("campaign_id", c))
        .transpose()?;
    let notices = state.engine.subscribe();
    let shutdown = state.shutdown.clone();
    let stream = futures::stream::unfold(
        (notices, shutdown),
        move |(mut notices, shutdown)| async move {
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return None,
                    next = notices.recv() => next,
                };
                let event = match next {
                    Ok(n) if filter.is_some_and(|c| c != n.campaign_id) => continue,
                    Ok(n) => Event::default()
                        .event("call")
                        .id(n.call_id.to_string())
                        .json_data(CallEventOut::from(&n))
                        .unwrap_or_else(|_| Event::default().event("error")),
                    Err(RecvError::Lagged(missed)) => {
                        Event::default().event("lagged").data(missed.to_string())
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (notices, shutdown)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
