//! A generic JSON messaging API: `POST {base_url}/messages` with
//! `{message_id, attempt, channel, to, from, body, callback_url}` and an `Idempotency-Key:
//! {message_id}:{attempt}` header the provider honours (a repeat never sends twice, so a
//! request whose answer was lost is sent again, up to three times). It answers
//! `{"id": "…", "status": "queued"}`; receipts come to `callback_url`
//! (`POST /api/v1/messages/callback`, `{message_id, attempt, status, error_code, id}`).

use std::time::Duration;

use async_trait::async_trait;
use dialer_engine::messaging::MessageStatus;
use serde::Deserialize;
use serde_json::json;

use super::{Messenger, Outbound, SendOutcome};
use crate::provider::http::{HttpProviderConfig, IDEMPOTENCY_KEY};
use crate::provider::send::send;

#[derive(Debug)]
pub struct HttpMessenger {
    config: HttpProviderConfig,
    client: reqwest::Client,
    /// Where receipts go: dialer's `/api/v1/messages/callback`.
    callback_url: Option<String>,
}

#[derive(Deserialize)]
struct Accepted {
    id: String,
    #[serde(default)]
    status: Option<String>,
}

impl HttpMessenger {
    pub fn new(config: HttpProviderConfig, callback_url: Option<String>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self {
            config,
            client,
            callback_url,
        })
    }
}

#[async_trait]
impl Messenger for HttpMessenger {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn idempotent(&self) -> bool {
        true
    }

    async fn send(&self, m: &Outbound) -> SendOutcome {
        let url = format!("{}/messages", self.config.base_url.trim_end_matches('/'));
        let body = json!({
            "message_id": m.message_id,
            "attempt": m.attempt,
            "channel": m.channel.as_str(),
            "to": m.to.as_str(),
            "from": m.from.as_ref().map(|f| f.as_str()),
            "body": m.body,
            "callback_url": self.callback_url,
        });
        let mut last = SendOutcome::NotSent {
            reason: "not sent".into(),
        };
        for _ in 0..3 {
            let mut request = self
                .client
                .post(&url)
                .header(IDEMPOTENCY_KEY, m.idempotency_key())
                .json(&body);
            if let Some(token) = &self.config.token {
                request = request.bearer_auth(token);
            }
            let response = match SendOutcome::of(send(request).await) {
                Ok(r) => r,
                // The key makes a repeat harmless: an unknown fate is asked again.
                Err(outcome @ SendOutcome::Uncertain { .. }) => {
                    last = outcome;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Err(outcome) => return outcome,
            };
            return match response.json::<Accepted>().await {
                Ok(a) => SendOutcome::Accepted {
                    status: a
                        .status
                        .as_deref()
                        .and_then(MessageStatus::from_provider)
                        .unwrap_or(MessageStatus::Queued),
                    sid: a.id,
                },
                Err(e) => SendOutcome::Uncertain {
                    reason: format!("unreadable answer: {e}"),
                },
            };
        }
        last
    }
}
