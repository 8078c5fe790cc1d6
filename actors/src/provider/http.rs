//! A generic JSON call API — the "Call API" of the seed documents, with the one addition a
//! dialer needs to never ring a person twice for one attempt:
//!
//! - `POST /api/call` places a call and answers with its id. Every request carries
//!   `Idempotency-Key: {call_id}:{attempt}`; the provider creates at most one call per key and
//!   answers a repeated key with the call it created the first time.
//! - `GET /api/call/{id}` answers with a call's status; `GET /api/call?idempotency_key=K` with
//!   the status of the call created for a key, or 404 when none was.
//!
//! Status reports arrive at dialer's `PUT /api/v1/callback/` in the seed-004 shape. Because the
//! key makes a repeat harmless, a create request whose answer was lost is sent again (a few
//! times), and an attempt still in doubt is settled by asking for its key.

use std::time::Duration;

use async_trait::async_trait;
use dialer_engine::ProviderReport;
use serde::{Deserialize, Serialize};

use super::send::{Tries, create, get};
use super::{
    Attempt, AttemptStatus, DialOutcome, InFlight, Provider, ProviderError, normalize_status,
    status_of,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProviderConfig {
    /// The name campaigns use (`provider: http`).
    #[serde(default = "default_name")]
    pub name: String,
    /// The Call API's base URL, e.g. `http://localhost:5000`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
    /// Where the Call API should report statuses (dialer's `/api/v1/callback/`).
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub max_cps: Option<u32>,
    /// How long a request may take before its answer is given up on.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Requests to the provider at once; more wait here for their turn (see [`InFlight`]).
    #[serde(default = "super::default_max_in_flight")]
    pub max_in_flight: u32,
}

/// The name of the header that carries a create request's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

fn default_name() -> String {
    "http".into()
}

fn default_timeout_ms() -> u64 {
    5_000
}

#[derive(Debug)]
pub struct HttpProvider {
    config: HttpProviderConfig,
    client: reqwest::Client,
    in_flight: InFlight,
}

#[derive(Serialize)]
struct CreateCall<'a> {
    phone_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    call_id: String,
    attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_url: Option<&'a str>,
    ring_timeout: u32,
}

#[derive(Deserialize)]
struct Created {
    #[serde(alias = "id")]
    call_id: serde_json::Value,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default, alias = "id")]
    call_id: Option<serde_json::Value>,
    status: String,
    #[serde(default, alias = "call_duration")]
    duration: Option<u32>,
    #[serde(default)]
    error: Option<String>,
}

fn id_text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

impl HttpProvider {
    pub fn new(config: HttpProviderConfig) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(3_000)))
            .build()
            .map_err(|e| ProviderError::Unavailable(format!("http client: {e}")))?;
        let in_flight = InFlight::new(config.max_in_flight);
        Ok(Self {
            config,
            client,
            in_flight,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }
}

#[async_trait]
impl Provider for HttpProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn idempotent(&self) -> bool {
        true
    }

    async fn dial(&self, a: &Attempt) -> DialOutcome {
        let body = CreateCall {
            phone_number: a.to.as_str(),
            from: a.from.as_ref().map(|f| f.as_str()),
            call_id: a.call_id.to_string(),
            attempt: a.attempt,
            callback_url: self.config.callback_url.as_deref(),
            ring_timeout: a.ring_timeout_secs,
        };
        let url = self.url("/api/call");
        let key = a.idempotency_key();
        let build = || {
            self.auth(self.client.post(&url).json(&body))
                .header(IDEMPOTENCY_KEY, &key)
        };
        let tries = Tries {
            tries: 3,
            idempotent: true,
        };
        let _turn = self.in_flight.turn().await;
        let response = match create(build, tries).await {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        match response.json::<Created>().await {
            Ok(created) => DialOutcome::Placed {
                external_id: id_text(created.call_id),
            },
            // It answered 2xx: the call exists, but its id was not readable.
            Err(e) => DialOutcome::Uncertain {
                reason: format!("unreadable answer: {e}"),
            },
        }
    }

    async fn status(&self, a: &Attempt) -> Result<Option<AttemptStatus>, ProviderError> {
        let _turn = self.in_flight.turn().await;
        let response = match &a.external_id {
            Some(id) => {
                let url = self.url(&format!("/api/call/{id}"));
                get(|| self.auth(self.client.get(&url))).await?
            }
            None => {
                // The key is a UUID, a colon and a number: nothing to escape in a query.
                let url = self.url(&format!(
                    "/api/call?idempotency_key={}",
                    a.idempotency_key()
                ));
                get(|| self.auth(self.client.get(&url))).await?
            }
        };
        let Some(response) = response else {
            // Asked by key: no call was ever created for this attempt.
            return Ok(a.external_id.is_none().then_some(AttemptStatus::Unknown));
        };
        let status: Status = response
            .json()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("unreadable answer: {e}")))?;
        let external_id = status
            .call_id
            .map(id_text)
            .or_else(|| a.external_id.clone());
        Ok(Some(status_of(ProviderReport {
            provider: self.config.name.clone(),
            event: normalize_status(&status.status, status.duration, status.error),
            raw_status: status.status,
            external_id,
            payload: None,
        })))
    }

    fn max_cps(&self) -> Option<u32> {
        self.config.max_cps
    }
}
