//! The simulator's messaging face: Twilio's `Messages.json` (form-encoded; status callbacks
//! signed and posted to the message's `StatusCallback`) and the generic JSON shape
//! (`POST /messages` with an `Idempotency-Key` it honours; receipts as JSON to the request's
//! `callback_url`). Each attempt's fate is dialer's own simulator's
//! ([`message_fate`]: a pure function of seed, number and attempt), so a test knows every
//! outcome in advance. Its witness counts what it received: sends, sends repeated for one
//! attempt, the most any number received, the peak per second, outcomes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use dialer_actors::messenger::sim::message_fate;
use dialer_actors::provider::twilio::signature;
use dialer_engine::PhoneNumber;
use dialer_engine::messaging::MessageStatus;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::witness::stable_hash;
use super::{Mode, Shared, lock};

/// What the simulator saw of messages.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageStats {
    /// Send requests received.
    pub requests: u64,
    /// Messages sent (a phone received one).
    pub sent: u64,
    /// Requests repeating an idempotency key already sent: answered, nothing sent.
    pub repeated_keys: u64,
    /// Attempts (message id, attempt) sent more than once.
    pub duplicate_sends_of_one_attempt: u64,
    pub max_messages_to_one_number: u64,
    pub peak_messages_in_one_second: u64,
    /// The median of the one-second windows' counts (each window opens at the first send
    /// after the last one closed; the last hour's windows): the rate while sending.
    pub median_messages_per_second: u64,
    /// Final outcomes of the messages sent.
    pub outcomes: BTreeMap<String, u64>,
    pub receipts_delivered: u64,
    pub receipts_failed: u64,
}

/// The messaging witness: about 16 bytes per attempt and per number, never a list of sends.
#[derive(Default)]
pub(super) struct MessageWitness {
    stats: MessageStats,
    attempts: HashSet<u64>,
    keys: HashMap<u64, String>,
    per_number: HashMap<u64, u64>,
    second: Option<Instant>,
    in_second: u64,
    /// The counts of the last hour's closed windows.
    windows: std::collections::VecDeque<u64>,
    next_sid: u64,
}

/// Closed one-second windows kept for the median.
const WINDOWS_KEPT: usize = 3_600;

impl MessageWitness {
    pub(super) fn stats(&self) -> MessageStats {
        let mut stats = self.stats.clone();
        let mut counts: Vec<u64> = self.windows.iter().copied().collect();
        if self.in_second > 0 {
            counts.push(self.in_second);
        }
        counts.sort_unstable();
        stats.median_messages_per_second = counts.get(counts.len() / 2).copied().unwrap_or(0);
        stats
    }

    /// Records a send; its SID, or the SID of the send its key repeats.
    fn send(
        &mut self,
        message_id: &str,
        attempt: u32,
        to: &PhoneNumber,
        key: Option<&str>,
    ) -> (String, bool) {
        self.stats.requests += 1;
        if let Some(sid) = key.and_then(|k| self.keys.get(&stable_hash(k))) {
            self.stats.repeated_keys += 1;
            return (sid.clone(), false);
        }
        self.stats.sent += 1;
        if !self
            .attempts
            .insert(stable_hash(&format!("{message_id}\u{0}{attempt}")))
        {
            self.stats.duplicate_sends_of_one_attempt += 1;
        }
        let n = self.per_number.entry(stable_hash(to.as_str())).or_default();
        *n += 1;
        self.stats.max_messages_to_one_number = self.stats.max_messages_to_one_number.max(*n);
        let now = Instant::now();
        match self.second {
            Some(s) if now.duration_since(s) < Duration::from_secs(1) => self.in_second += 1,
            _ => {
                if self.in_second > 0 {
                    if self.windows.len() == WINDOWS_KEPT {
                        self.windows.pop_front();
                    }
                    self.windows.push_back(self.in_second);
                }
                self.second = Some(now);
                self.in_second = 1;
            }
        }
        self.stats.peak_messages_in_one_second =
            self.stats.peak_messages_in_one_second.max(self.in_second);
        self.next_sid += 1;
        let sid = format!("SM{:032x}", self.next_sid);
        if let Some(k) = key {
            self.keys.insert(stable_hash(k), sid.clone());
        }
        (sid, true)
    }
}

/// `name=` from a URL's query string.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Where and how receipts go.
#[derive(Clone)]
enum Reply {
    Twilio {
        url: String,
        account: String,
    },
    Json {
        url: String,
        message_id: String,
        attempt: u32,
    },
}

/// The receipts of one send, in order, each (delay, status, error code).
fn receipts(
    seed: u64,
    to: &PhoneNumber,
    attempt: u32,
) -> Vec<(u64, MessageStatus, Option<&'static str>)> {
    let (outcome, code) = message_fate(seed, to, attempt);
    let mut steps = vec![(200, MessageStatus::Sent, None)];
    if outcome == MessageStatus::Read {
        steps.push((1_000, MessageStatus::Delivered, None));
        steps.push((5_000, MessageStatus::Read, None));
    } else {
        steps.push((1_000, outcome, code));
    }
    steps
}

fn send_receipts(sim: &Shared, sid: String, to: PhoneNumber, attempt: u32, reply: Reply) {
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let steps = receipts(sim.config.seed, &to, attempt);
        if let Some((_, last, _)) = steps.last() {
            *lock(&sim.messages)
                .stats
                .outcomes
                .entry(last.as_str().to_owned())
                .or_default() += 1;
        }
        let mut elapsed = 0;
        for (at, status, code) in steps {
            tokio::time::sleep(sim.scaled(Duration::from_millis(at - elapsed))).await;
            elapsed = at;
            let mut delay = Duration::from_millis(200);
            let mut ok = false;
            for _ in 0..=sim.config.callback_retries {
                ok = post_receipt(&sim, &reply, &sid, &to, status, code).await;
                if ok {
                    break;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            let mut w = lock(&sim.messages);
            if ok {
                w.stats.receipts_delivered += 1;
            } else {
                w.stats.receipts_failed += 1;
            }
        }
    });
}

async fn post_receipt(
    sim: &Shared,
    reply: &Reply,
    sid: &str,
    to: &PhoneNumber,
    status: MessageStatus,
    code: Option<&str>,
) -> bool {
    let request = match reply {
        Reply::Twilio { url, account } => {
            let Some(token) = &sim.config.twilio_auth_token else {
                return false;
            };
            let mut params = vec![
                ("AccountSid".to_owned(), account.clone()),
                ("MessageSid".to_owned(), sid.to_owned()),
                ("MessageStatus".to_owned(), status.as_str().to_owned()),
                ("To".to_owned(), to.as_str().to_owned()),
            ];
            if let Some(c) = code {
                params.push(("ErrorCode".to_owned(), c.to_owned()));
            }
            let sig = signature(token, url, &params);
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish();
            sim.http
                .post(sim.target(url))
                .header("X-Twilio-Signature", sig)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
        }
        Reply::Json {
            url,
            message_id,
            attempt,
        } => {
            let body = json!({"message_id": message_id, "attempt": attempt, "status": status.as_str(), "error_code": code, "id": sid});
            let mut r = sim.http.post(sim.target(url)).json(&body);
            if let Some(t) = &sim.config.callback_token {
                r = r.header("X-Auth-Token", t);
            }
            r
        }
    };
    request.send().await.is_ok_and(|r| r.status().is_success())
}

fn invalid_to() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"code": 21211, "message": "The 'To' number is not a valid phone number."})),
    )
        .into_response()
}

pub(super) async fn twilio_send(
    State(sim): State<Shared>,
    Path(account): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let to = form.get("To").map(|t| t.trim_start_matches("whatsapp:"));
    let Some(to) = to.and_then(|t| PhoneNumber::parse(t, None).ok()) else {
        return invalid_to();
    };
    let callback = form.get("StatusCallback").cloned();
    let message_id = callback
        .as_deref()
        .and_then(|u| query_param(u, "message_id"))
        .unwrap_or_else(|| to.as_str().to_owned());
    let attempt = callback
        .as_deref()
        .and_then(|u| query_param(u, "attempt"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let (sid, _) = lock(&sim.messages).send(&message_id, attempt, &to, None);
    if let (Some(url), Mode::Twilio) = (callback, sim.config.mode) {
        send_receipts(
            &sim,
            sid.clone(),
            to,
            attempt,
            Reply::Twilio { url, account },
        );
    }
    (
        StatusCode::CREATED,
        Json(json!({"sid": sid, "status": "queued"})),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct SendJson {
    message_id: String,
    attempt: u32,
    to: String,
    #[serde(default)]
    callback_url: Option<String>,
}

pub(super) async fn json_send(
    State(sim): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<SendJson>,
) -> Response {
    let Ok(to) = PhoneNumber::parse(&req.to, None) else {
        return invalid_to();
    };
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let (sid, new) = lock(&sim.messages).send(&req.message_id, req.attempt, &to, key);
    if new
        && sim.config.mode == Mode::Http
        && let Some(url) = req.callback_url
    {
        let reply = Reply::Json {
            url,
            message_id: req.message_id,
            attempt: req.attempt,
        };
        send_receipts(&sim, sid.clone(), to, req.attempt, reply);
    }
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(json!({"id": sid, "status": "queued"}))).into_response()
}
