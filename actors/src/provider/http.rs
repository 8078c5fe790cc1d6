//! A generic JSON call API — the "Call API" of the seed documents: `POST /api/call` places a
//! call and answers with its id, `GET /api/call/{id}` answers with its status. Status reports
//! arrive at dialer's `PUT /api/v1/callback/` in the seed-004 shape.

use std::time::Duration;

use async_trait::async_trait;
use dialer_engine::ProviderReport;
use serde::{Deserialize, Serialize};

use super::{DialRequest, Dialed, Provider, ProviderError, normalize_status, send_with_retry};

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
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

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
    status: String,
    #[serde(default, alias = "call_duration")]
    duration: Option<u32>,
    #[serde(default)]
    error: Option<String>,
}

impl HttpProvider {
    pub fn new(config: HttpProviderConfig) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| ProviderError::Unavailable(format!("http client: {e}")))?;
        Ok(Self { config, client })
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

    async fn dial(&self, r: DialRequest) -> Result<Dialed, ProviderError> {
        let body = CreateCall {
            phone_number: r.to.as_str(),
            from: r.from.as_ref().map(|f| f.as_str()),
            call_id: r.call_id.to_string(),
            attempt: r.attempt,
            callback_url: self.config.callback_url.as_deref(),
            ring_timeout: r.ring_timeout_secs,
        };
        let url = self.url("/api/call");
        let response = send_with_retry(|| self.auth(self.client.post(&url).json(&body)), 4).await?;
        let created: Created = response
            .json()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("unreadable answer: {e}")))?;
        let external_id = match created.call_id {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        Ok(Dialed { external_id })
    }

    async fn status(&self, external_id: &str) -> Result<Option<ProviderReport>, ProviderError> {
        let url = self.url(&format!("/api/call/{external_id}"));
        let response = send_with_retry(|| self.auth(self.client.get(&url)), 2).await?;
        let status: Status = response
            .json()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("unreadable answer: {e}")))?;
        Ok(Some(ProviderReport {
            provider: self.config.name.clone(),
            event: normalize_status(&status.status, status.duration, status.error),
            raw_status: status.status,
            external_id: Some(external_id.to_owned()),
            payload: None,
        }))
    }

    fn max_cps(&self) -> Option<u32> {
        self.config.max_cps
    }
}
