//! Messaging providers behind one trait: send one attempt of a message, and tell what the
//! answer — or its absence — proves. Delivery receipts arrive later as reports (Twilio's signed
//! status callbacks, the http shape's callback, the simulator's sink).
//!
//! - [`sim`]: in-process, the default; each attempt's fate is a pure function of (seed, number,
//!   attempt), and it keeps its own record of every send as a witness.
//! - [`twilio`]: Twilio's `Messages.json` (form-encoded, `StatusCallback` signed).
//! - [`http`]: a generic JSON API (`POST {base_url}/messages` with an idempotency key).
//!
//! As for calls, a request that may have reached the provider is never sent again for the same
//! attempt unless the provider honours an idempotency key: an [`SendOutcome::Uncertain`]
//! message waits for its receipt. One still `sending` long after any request could have taken
//! (its process died mid-request, or its answer was lost and no receipt came) is swept up by
//! the runner: sent again under the same key where the provider honours one, failed as
//! uncertain — never sent again — where it does not (`runner::recover`).

pub mod http;
pub mod runner;
pub mod sim;
pub mod twilio;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use dialer_engine::messaging::{Channel, MessageStatus};
use dialer_engine::{CampaignId, PhoneNumber};

use crate::provider::send::Sent;

/// One attempt of a message.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub message_id: String,
    pub campaign_id: CampaignId,
    pub attempt: u32,
    pub channel: Channel,
    pub to: PhoneNumber,
    /// The sender; the provider's default when absent.
    pub from: Option<PhoneNumber>,
    pub body: String,
}

impl Outbound {
    /// `{message_id}:{attempt}`: a repeated request under it never sends twice.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.message_id, self.attempt)
    }
}

/// What became of a send request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider took it.
    Accepted { sid: String, status: MessageStatus },
    /// The provider refused it: a failed attempt, with the provider's error code.
    Rejected {
        code: Option<String>,
        message: String,
    },
    /// Provably not sent (the connection was refused, a 429): the attempt is given back.
    NotSent { reason: String },
    /// It may have been sent: never sent again; its receipt settles it.
    Uncertain { reason: String },
}

impl SendOutcome {
    /// What an answer that carries no readable resource proves.
    pub(crate) fn of(sent: Sent) -> Result<reqwest::Response, Self> {
        match sent {
            Sent::Answered(r) => Ok(r),
            Sent::Refused { status: 429, .. } => Err(Self::NotSent {
                reason: "rate limited (429)".into(),
            }),
            Sent::Refused {
                status,
                code,
                message,
                ..
            } => Err(Self::Rejected {
                code: code.or_else(|| Some(status.to_string())),
                message,
            }),
            Sent::NeverLeft(reason) => Err(Self::NotSent { reason }),
            Sent::Unknown(reason) => Err(Self::Uncertain { reason }),
        }
    }
}

#[async_trait]
pub trait Messenger: Send + Sync + fmt::Debug {
    /// The name campaigns refer to it by (the same as the call provider's of that account).
    fn name(&self) -> &str;
    /// Whether the provider honours [`Outbound::idempotency_key`], so that an attempt whose
    /// answer was lost (the process died, the request timed out) may be sent again: it is sent
    /// at most once whatever the number of requests.
    fn idempotent(&self) -> bool {
        false
    }
    async fn send(&self, m: &Outbound) -> SendOutcome;
}

/// A delivery report that does not arrive over HTTP (the in-process simulator's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub message_id: String,
    pub attempt: u32,
    pub sid: String,
    pub status: MessageStatus,
    pub error_code: Option<String>,
}

/// Where the in-process simulator delivers its receipts.
#[async_trait]
pub trait ReceiptSink: Send + Sync {
    async fn deliver(&self, receipt: Receipt) -> Result<(), String>;
}

/// The configured messengers, by name.
#[derive(Debug, Clone, Default)]
pub struct Messengers {
    by_name: HashMap<String, Arc<dyn Messenger>>,
}

impl Messengers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, m: Arc<dyn Messenger>) -> Self {
        self.by_name.insert(m.name().to_owned(), m);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Messenger>> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}
