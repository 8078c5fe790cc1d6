//! Twilio's Messages API: `POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded, with
//! a `StatusCallback` that carries the message id and attempt
//! (`/api/v1/providers/twilio/message-status?message_id=…&attempt=…`) and is signed like every
//! Twilio webhook. A WhatsApp message is addressed `whatsapp:+…` on both ends. Twilio takes no
//! idempotency key, so a request whose answer was lost is never sent again.

use std::time::Duration;

use async_trait::async_trait;
use dialer_engine::messaging::{Channel, MessageStatus};
use serde::Deserialize;

use super::{Messenger, Outbound, SendOutcome};
use crate::provider::send::send;
use crate::provider::twilio::TwilioConfig;

/// Where Twilio posts message status callbacks.
pub const MESSAGE_STATUS_PATH: &str = "/api/v1/providers/twilio/message-status";

#[derive(Debug)]
pub struct TwilioMessenger {
    config: TwilioConfig,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    #[serde(default)]
    status: Option<String>,
}

impl TwilioMessenger {
    pub fn new(config: TwilioConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self { config, client })
    }

    pub fn status_callback(&self, m: &Outbound) -> String {
        format!(
            "{}{MESSAGE_STATUS_PATH}?message_id={}&attempt={}",
            self.config.public_url.trim_end_matches('/'),
            m.message_id,
            m.attempt
        )
    }
}

fn address(channel: Channel, number: &str) -> String {
    match channel {
        Channel::Whatsapp if !number.starts_with("whatsapp:") => format!("whatsapp:{number}"),
        _ => number.to_owned(),
    }
}

#[async_trait]
impl Messenger for TwilioMessenger {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn send(&self, m: &Outbound) -> SendOutcome {
        let from = m
            .from
            .as_ref()
            .map_or(self.config.from.as_str(), |f| f.as_str());
        let form = [
            ("To", address(m.channel, m.to.as_str())),
            ("From", address(m.channel, from)),
            ("Body", m.body.clone()),
            ("StatusCallback", self.status_callback(m)),
        ];
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_base.trim_end_matches('/'),
            self.config.account_sid
        );
        let request = self
            .client
            .post(&url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&form);
        let response = match SendOutcome::of(send(request).await) {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        match response.json::<MessageResource>().await {
            Ok(r) => SendOutcome::Accepted {
                status: r
                    .status
                    .as_deref()
                    .and_then(MessageStatus::from_provider)
                    .unwrap_or(MessageStatus::Queued),
                sid: r.sid,
            },
            Err(e) => SendOutcome::Uncertain {
                reason: format!("unreadable answer: {e}"),
            },
        }
    }
}
