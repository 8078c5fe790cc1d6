//! Telephony providers behind one trait: place an attempt, and say what became of one; their
//! callbacks are parsed by each adapter into the engine's [`ProviderReport`].
//!
//! - [`sim`]: in-process simulated network for demos, tests and benchmarks; never reaches a
//!   network.
//! - [`http`]: a generic JSON call API (create a call with an idempotency key, get its status);
//!   callbacks arrive at `PUT /api/v1/callback/`.
//! - [`twilio`]: Twilio's `Calls.json`, with status callbacks signed by `X-Twilio-Signature`.
//!
//! A dial request that may have reached the provider is never sent again for the same attempt
//! unless the provider takes an idempotency key ([`Provider::idempotent`]): every adapter tells
//! a request that provably never left (the connection was refused) from one whose fate is
//! unknown (a timeout after it was sent, a 5xx), and answers the latter
//! [`DialOutcome::Uncertain`] — the engine then waits for the provider to say ([`send`]).

pub mod http;
pub(crate) mod send;
pub mod sim;
pub mod twilio;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{
    Call, CallId, CampaignId, CampaignSettings, Outcome, PhoneNumber, ProviderEvent,
    ProviderReport, SimProfile,
};

/// One attempt of a call, as a provider needs it to place it or to say what became of it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub call_id: CallId,
    pub campaign_id: CampaignId,
    pub attempt: u32,
    pub to: PhoneNumber,
    pub from: Option<PhoneNumber>,
    pub ring_timeout_secs: u32,
    pub max_call_duration_secs: u32,
    /// The campaign's simulated outcome mix, for the sim provider.
    pub sim: Option<SimProfile>,
    /// When the dial was recorded (the attempt's start).
    pub dialed_at: DateTime<Utc>,
    /// The provider's id for the attempt, once it answered the dial request.
    pub external_id: Option<String>,
    /// The campaign has a voice template: the provider fetches what to say from dialer.
    pub voice_template: bool,
}

impl Attempt {
    /// The attempt a call recorded as dialing is on.
    pub fn of(call: &Call, settings: &CampaignSettings) -> Self {
        Self {
            call_id: call.call_id,
            campaign_id: call.campaign_id,
            attempt: call.attempt_count,
            to: call.phone_number.clone(),
            from: settings.caller_id.clone(),
            ring_timeout_secs: settings.ring_timeout_secs,
            max_call_duration_secs: settings.max_call_duration_secs,
            sim: settings.sim.clone(),
            dialed_at: call.last_attempt_at.unwrap_or(call.updated_at),
            external_id: call.external_call_id.clone(),
            voice_template: settings.voice_template.is_some(),
        }
    }

    /// The key that makes a repeated create-call request for this attempt harmless at a
    /// provider that honours it: `{call_id}:{attempt}`.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.call_id, self.attempt)
    }
}

/// What became of a dial request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialOutcome {
    /// The provider created the call.
    Placed { external_id: String },
    /// Provably no call was created: the request never left (the connection was refused), or
    /// the provider turned it away before creating anything (429). The attempt is given back.
    NotPlaced {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The provider refused this call (a bad number, account limits): the attempt failed.
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The request may have created a call, or not (a timeout after it was sent, a 5xx, an
    /// unreadable answer). It is never sent again; the provider's callbacks, a status query,
    /// or the attempt's deadline settle it.
    Uncertain { reason: String },
}

/// What a provider says about an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptStatus {
    /// It has no such attempt: no call was created.
    Unknown,
    /// The call is in progress; `report` says how far, when the provider said.
    Live {
        external_id: Option<String>,
        report: Option<ProviderReport>,
    },
    /// The call ended.
    Ended(ProviderReport),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request.
    #[error("provider refused the request ({status}): {message}")]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The provider could not be reached or answered unreadably.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// The name campaigns refer to it by.
    fn name(&self) -> &str;
    /// Whether the provider honours an idempotency key on create-call requests, so that a
    /// request repeated for the same attempt never creates a second call, and whether it can
    /// find an attempt by that key (then [`AttemptStatus::Unknown`] proves it was never placed).
    fn idempotent(&self) -> bool {
        false
    }
    async fn dial(&self, attempt: &Attempt) -> DialOutcome;
    /// What became of an attempt; `Ok(None)` when this provider cannot tell.
    async fn status(&self, _attempt: &Attempt) -> Result<Option<AttemptStatus>, ProviderError> {
        Ok(None)
    }
    /// The account's calls-per-second limit, which the engine paces dials to.
    fn max_cps(&self) -> Option<u32> {
        None
    }
}

/// The default of a provider's `max_in_flight`.
pub(crate) fn default_max_in_flight() -> u32 {
    256
}

/// A bound on a provider's requests at once. Without it a burst (a window opening on a
/// thousand free lines) opens a connection per request — thousands of sockets, their buffers
/// and the kernel's work for each — where a pool of a few hundred carries the same rate. A
/// request waits for its turn before it is sent, so its timeout counts from the sending.
#[derive(Debug, Clone)]
pub struct InFlight(std::sync::Arc<tokio::sync::Semaphore>);

impl InFlight {
    pub fn new(max: u32) -> Self {
        Self(std::sync::Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(max.max(1)).unwrap_or(usize::MAX),
        )))
    }

    /// Waits for a turn; the turn ends when the returned permit is dropped.
    pub async fn turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        std::sync::Arc::clone(&self.0).acquire_owned().await.ok()
    }
}

/// Where provider reports that do not come over HTTP (the simulator's) are delivered.
#[async_trait]
pub trait ReportSink: Send + Sync {
    /// Delivers a report; an error means "try again later" (the engine is not running).
    async fn deliver(&self, call_id: CallId, report: ProviderReport) -> Result<(), String>;
}

/// Every status [`normalize_status`] and [`is_known_status`] take, in the seed's spelling (any
/// case is read, `-` and `_` alike): the OpenAPI document's list.
pub const STATUS_NAMES: [&str; 16] = [
    "PICKED",
    "DISCONNECTED",
    "RNR",
    "FAILED",
    "RINGING",
    "IN_PROGRESS",
    "CONNECTED",
    "ANSWERED",
    "COMPLETED",
    "NO_ANSWER",
    "BUSY",
    "CANCELED",
    "CANCELLED",
    "INITIATED",
    "QUEUED",
    "DIALING",
];

/// Statuses recorded but not acted on: the call is on its way.
const PENDING_STATUSES: [&str; 3] = ["initiated", "queued", "dialing"];

/// Whether `raw` is a status a provider may send: one that [`normalize_status`] turns into an
/// event, or one of the pending ones it records only.
pub fn is_known_status(raw: &str) -> bool {
    normalize_status(raw, None, None).is_some() || is_pending_status(raw)
}

/// Whether `raw` says the call is on its way (`initiated`, `queued`, `dialing`): recorded, not
/// acted on. With [`normalize_status`]'s event in hand, this is the rest of
/// [`is_known_status`] without normalizing twice.
pub fn is_pending_status(raw: &str) -> bool {
    PENDING_STATUSES.contains(&raw.trim().to_ascii_lowercase().as_str())
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

/// A provider's answer about an attempt, as a status: ended, in progress, or not yet reported.
pub(crate) fn status_of(report: ProviderReport) -> AttemptStatus {
    match report.event {
        Some(ProviderEvent::Ended { .. }) => AttemptStatus::Ended(report),
        _ => AttemptStatus::Live {
            external_id: report.external_id.clone(),
            report: report.event.is_some().then_some(report),
        },
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_status_is_known_in_any_case_and_nothing_else_is() {
        for name in STATUS_NAMES {
            assert!(is_known_status(name), "{name}");
            assert!(is_known_status(&name.to_ascii_lowercase()), "{name}");
            assert!(is_known_status(&name.replace('_', "-")), "{name}");
        }
        assert_eq!(
            normalize_status("no-answer", None, None),
            normalize_status("NO_ANSWER", None, None)
        );
        for other in ["", "PICKEDX", "voicemail", "ok"] {
            assert!(!is_known_status(other), "{other}");
        }
    }
}
