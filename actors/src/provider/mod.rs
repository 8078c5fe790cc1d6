//! Telephony providers behind one trait: place a call, optionally query its status; their
//! callbacks are parsed by each adapter into the engine's [`ProviderReport`].
//!
//! - [`sim`]: in-process simulated network for demos, tests and benchmarks; never reaches a
//!   network.
//! - [`http`]: a generic JSON call API (create a call, get its status); callbacks arrive at
//!   `PUT /api/v1/callback/`.
//! - [`twilio`]: Twilio's `Calls.json`, with status callbacks signed by `X-Twilio-Signature`.

pub mod http;
pub mod sim;
pub mod twilio;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use dialer_engine::{
    CallId, CampaignId, Outcome, PhoneNumber, ProviderEvent, ProviderReport, SimProfile,
};

/// What a provider needs to place one attempt.
#[derive(Debug, Clone)]
pub struct DialRequest {
    pub call_id: CallId,
    pub campaign_id: CampaignId,
    pub attempt: u32,
    pub to: PhoneNumber,
    pub from: Option<PhoneNumber>,
    pub ring_timeout_secs: u32,
    pub max_call_duration_secs: u32,
    /// The campaign's simulated outcome mix, for the sim provider.
    pub sim: Option<SimProfile>,
}

/// The provider accepted the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialed {
    pub external_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused this call (bad number, account limits): the attempt fails.
    #[error("provider refused the call ({status}): {message}")]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The provider could not be reached or kept failing after retries.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// The name campaigns refer to it by.
    fn name(&self) -> &str;
    async fn dial(&self, request: DialRequest) -> Result<Dialed, ProviderError>;
    /// Asks the provider for a call's status, when it supports that.
    async fn status(&self, _external_id: &str) -> Result<Option<ProviderReport>, ProviderError> {
        Ok(None)
    }
    /// The account's calls-per-second limit, which the engine paces dials to.
    fn max_cps(&self) -> Option<u32> {
        None
    }
}

/// Where provider reports that do not come over HTTP (the simulator's) are delivered.
#[async_trait]
pub trait ReportSink: Send + Sync {
    /// Delivers a report; an error means "try again later" (the engine is not running).
    async fn deliver(&self, call_id: CallId, report: ProviderReport) -> Result<(), String>;
}

/// Normalizes the call statuses providers send — the seed's (`PICKED`, `DISCONNECTED`, `RNR`,
/// `FAILED`), the generic Call API's (`initiated`, `ringing`, `connected`, `completed`) and
/// Twilio's (`queued`, `in-progress`, `busy`, `no-answer`, `canceled`…) — to an event. `None`:
/// a status to record but not act on (queued, initiated, or unknown).
pub fn normalize_status(
    raw: &str,
    duration_secs: Option<u32>,
    error_code: Option<String>,
) -> Option<ProviderEvent> {
    let ended = |outcome, code: Option<String>| {
        Some(ProviderEvent::Ended {
            outcome,
            duration_secs: duration_secs.unwrap_or(0),
            error_code: code,
        })
    };
    match raw.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "ringing" => Some(ProviderEvent::Ringing),
        "connected" | "in-progress" | "answered" => Some(ProviderEvent::Answered),
        "picked" | "completed" => ended(Outcome::Picked, error_code),
        "disconnected" => ended(Outcome::Disconnected, error_code),
        "rnr" | "no-answer" => ended(Outcome::Rnr, error_code),
        "busy" => ended(
            Outcome::Rnr,
            Some(error_code.unwrap_or_else(|| "busy".into())),
        ),
        "failed" => ended(Outcome::Failed, error_code),
        "canceled" | "cancelled" => ended(
            Outcome::Failed,
            Some(error_code.unwrap_or_else(|| "canceled".into())),
        ),
        _ => None,
    }
}

/// Sends a request built by `build`, retrying 429 and 5xx answers and connection errors with
/// exponential backoff (honouring `Retry-After`, capped); other 4xx answers are refusals.
pub(crate) async fn send_with_retry(
    build: impl Fn() -> reqwest::RequestBuilder,
    attempts: u32,
) -> Result<reqwest::Response, ProviderError> {
    let mut delay = std::time::Duration::from_millis(250);
    let mut last = String::new();
    for attempt in 1..=attempts.max(1) {
        match build().send().await {
            Ok(r) if r.status().is_success() => return Ok(r),
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                let retry_after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(std::time::Duration::from_secs);
                last = format!("HTTP {}", r.status());
                if attempt < attempts {
                    tokio::time::sleep(
                        retry_after
                            .unwrap_or(delay)
                            .min(std::time::Duration::from_secs(5)),
                    )
                    .await;
                }
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let code = body
                    .get("code")
                    .map(|c| c.to_string().trim_matches('"').to_owned());
                let message = body
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("refused")
                    .to_owned();
                return Err(ProviderError::Rejected {
                    status,
                    code,
                    message,
                });
            }
            Err(e) => {
                last = e.to_string();
                if attempt < attempts {
                    tokio::time::sleep(delay).await;
                }
            }
        }
        delay *= 2;
    }
    Err(ProviderError::Unavailable(format!(
        "after {attempts} attempts: {last}"
    )))
}

/// The configured providers by name.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    by_name: HashMap<String, Arc<dyn Provider>>,
}

impl Providers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, provider: Arc<dyn Provider>) -> Self {
        self.by_name.insert(provider.name().to_owned(), provider);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.by_name.values()
    }
}
