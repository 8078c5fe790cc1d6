//! Sending requests to a provider and telling what an answer — or its absence — proves.
//!
//! A create-call request that failed is one of three things: it never left (the connection was
//! refused: nothing reached the provider), it was turned away (a 4xx: the provider created
//! nothing), or its fate is unknown (a timeout after it was sent, a reset, a 5xx: the provider
//! may have created the call). Only the first is sent again — or any of them when the provider
//! honours an idempotency key, since a repeat of the same key never creates a second call.

use std::time::Duration;

use super::{DialOutcome, ProviderError};

/// What one request proved.
pub(crate) enum Sent {
    /// A 2xx answer.
    Answered(reqwest::Response),
    /// A 4xx answer: the provider created nothing.
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The request never left: the connection could not be made.
    NeverLeft(String),
    /// It may have been received: a timeout after it was sent, a reset, a 5xx.
    Unknown(String),
}

pub(crate) async fn send(request: reqwest::RequestBuilder) -> Sent {
    match request.send().await {
        Ok(r) if r.status().is_success() => Sent::Answered(r),
        Ok(r) if r.status().is_client_error() => {
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let code = body.get("code").map(|c| match c {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let message = body
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("refused")
                .to_owned();
            Sent::Refused {
                status,
                code,
                message,
                retry_after,
            }
        }
        Ok(r) => Sent::Unknown(format!("HTTP {}", r.status())),
        Err(e) if e.is_connect() => Sent::NeverLeft(e.to_string()),
        Err(e) => Sent::Unknown(e.to_string()),
    }
}

/// How a create-call request may be repeated.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tries {
    pub tries: u32,
    /// The provider honours an idempotency key (sent by `build` on every try).
    pub idempotent: bool,
}

/// Sends a create-call request built by `build`: the provider's answer, or what became of the
/// attempt when there is none to read.
pub(super) async fn create(
    build: impl Fn() -> reqwest::RequestBuilder,
    tries: Tries,
) -> Result<reqwest::Response, DialOutcome> {
    let mut delay = Duration::from_millis(200);
    let mut unknown: Option<String> = None;
    let mut last = String::new();
    for attempt in 1..=tries.tries.max(1) {
        match send(build()).await {
            Sent::Answered(r) => return Ok(r),
            // An earlier try may have created the call: what the provider says now does not
            // undo that.
            Sent::Refused { status, .. } if unknown.is_some() => {
                last = format!("HTTP {status} after an unanswered try");
                break;
            }
            Sent::Refused {
                status: status @ (408 | 429),
                message,
                retry_after,
                ..
            } => {
                return Err(DialOutcome::NotPlaced {
                    reason: format!("provider answered {status}: {message}"),
                    retry_after,
                });
            }
            Sent::Refused {
                status,
                code,
                message,
                ..
            } => {
                return Err(DialOutcome::Rejected {
                    status,
                    code,
                    message,
                });
            }
            Sent::NeverLeft(e) => last = format!("connection failed: {e}"),
            Sent::Unknown(e) if !tries.idempotent => {
                return Err(DialOutcome::Uncertain { reason: e });
            }
            Sent::Unknown(e) => {
                last = e.clone();
                unknown = Some(e);
            }
        }
        if attempt < tries.tries {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    Err(match unknown {
        Some(_) => DialOutcome::Uncertain { reason: last },
        None => DialOutcome::NotPlaced {
            reason: last,
            retry_after: None,
        },
    })
}

/// A read (safe to repeat): the answer, `Ok(None)` for a 404, or why there is none.
pub(super) async fn get(
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Option<reqwest::Response>, ProviderError> {
    let mut last = String::new();
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match send(build()).await {
            Sent::Answered(r) => return Ok(Some(r)),
            Sent::Refused { status: 404, .. } => return Ok(None),
            Sent::Refused {
                status,
                code,
                message,
                ..
            } => {
                return Err(ProviderError::Rejected {
                    status,
                    code,
                    message,
                });
            }
            Sent::NeverLeft(e) | Sent::Unknown(e) => last = e,
        }
    }
    Err(ProviderError::Unavailable(last))
}
