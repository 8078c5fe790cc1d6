//! A simulated telephony provider on a port: the independent witness of what dialer did.
//!
//! It takes dial requests in the generic Call API's shape (`POST /api/call`, with an
//! `Idempotency-Key` it honours: a repeated key answers with the call it created, and never
//! creates a second) and Twilio's (`POST /2010-04-01/Accounts/{sid}/Calls.json`), answers
//! status queries (by id, and in the Call API by key: `GET /api/call?idempotency_key=`), and —
//! unless it runs in `accept` mode — reports each call's progress back the way that provider
//! would: the seed's `PUT /api/v1/callback/` with an `X-Auth-Token`, or Twilio's signed form
//! posts to the call's `StatusCallback`.
//!
//! Each attempt's fate (outcome, ring time, talk time) is the same pure function of the seed,
//! the number and the attempt that dialer's in-process simulator uses; `speed` divides every
//! duration. Faults can be switched on and off while it runs (`POST /faults`): answering 5xx
//! before anything is placed, 5xx after the call was placed, and answering only after a delay
//! (past the client's timeout) although the call was placed. [`witness`] keeps what it saw.

mod calls;
pub mod messages;
mod routes;
pub mod witness;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dialer_actors::clock::{ScaledClock, SystemClock};
use dialer_actors::provider::sim::{SimFate, SimProvider};
use dialer_actors::provider::twilio::signature;
use dialer_engine::{Clock, Outcome, PhoneNumber, SimProfile};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use calls::{Placed, Registry};
pub use routes::router;
pub use witness::{Entry, Stats, Witness, read_journal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Accept dials and report nothing (the load test reports instead).
    Accept,
    /// Report with the seed's `PUT /api/v1/callback/`.
    Http,
    /// Report with Twilio's signed status callbacks.
    Twilio,
}

/// Faults injected into create-call answers, in percent of requests (`POST /faults`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer 503 before placing anything.
    pub fail_percent: u8,
    /// Place the call, then answer 500.
    pub fail_after_placing_percent: u8,
    /// Place the call, then answer only after `timeout_ms`.
    pub timeout_percent: u8,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub mode: Mode,
    pub seed: u64,
    pub speed: u32,
    pub profile: SimProfile,
    pub callback_token: Option<String>,
    /// Where seed callbacks go when a dial request names no `callback_url`.
    pub callback_url: String,
    pub twilio_auth_token: Option<String>,
    /// Write every create-call request to this file, one JSON line each.
    pub journal: Option<PathBuf>,
    pub faults: Faults,
    /// How often an undelivered callback is tried again (real providers retry theirs).
    pub callback_retries: u32,
    /// With `speed` > 1, the real instant the simulated clock counts from (as dialer's
    /// `clock_epoch`): journal times are given on that clock too.
    pub clock_epoch: Option<DateTime<Utc>>,
    /// What the simulated clock reads at `clock_epoch` (dialer's `clock_start`).
    pub clock_start: Option<DateTime<Utc>>,
    /// How long (simulated) after its end a call can still be asked about or repeated.
    pub retain: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Http,
            seed: 1,
            speed: 1,
            profile: SimProfile::default(),
            callback_token: None,
            callback_url: "http://127.0.0.1:8080/api/v1/callback/".into(),
            twilio_auth_token: None,
            journal: None,
            faults: Faults::default(),
            callback_retries: 5,
            clock_epoch: None,
            clock_start: None,
            retain: Duration::from_secs(2 * 3600),
        }
    }
}

struct Calls {
    registry: Registry,
    rng: SmallRng,
    faults: Faults,
}

pub struct Sim {
    config: SimConfig,
    fates: SimProvider,
    http: reqwest::Client,
    calls: Mutex<Calls>,
    witness: Mutex<Witness>,
    messages: Mutex<messages::MessageWitness>,
    /// The simulated clock, when it is not the real one.
    clock: Option<ScaledClock>,
    /// Where callbacks are delivered when dialer sits behind a proxy: the callback URL's origin
    /// replaced by this one (the signature still covers the URL dialer gave).
    forward_to: Mutex<Option<String>>,
}

type Shared = Arc<Sim>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The steps of a call, spelled as one provider spells them.
struct Spelling {
    ringing: &'static str,
    in_progress: &'static str,
    completed: &'static str,
    disconnected: &'static str,
    no_answer: &'static str,
    failed: &'static str,
}

const SEED: Spelling = Spelling {
    ringing: "RINGING",
    in_progress: "IN_PROGRESS",
    completed: "PICKED",
    disconnected: "DISCONNECTED",
    no_answer: "RNR",
    failed: "FAILED",
};

const TWILIO: Spelling = Spelling {
    ringing: "ringing",
    in_progress: "in-progress",
    completed: "completed",
    disconnected: "failed",
    no_answer: "no-answer",
    failed: "busy",
};

/// Each step of a call as (offset from its dial, status, call duration), in simulated time.
fn steps(fate: SimFate, s: &Spelling) -> Vec<(Duration, &'static str, Option<u32>)> {
    let ring = fate.ring;
    let talk = Duration::from_secs(u64::from(fate.talk_secs));
    match fate.outcome {
        Outcome::Picked => vec![
            (Duration::ZERO, s.ringing, None),
            (ring, s.in_progress, None),
            (ring + talk, s.completed, Some(fate.talk_secs)),
        ],
        Outcome::Disconnected => vec![
            (Duration::ZERO, s.ringing, None),
            (ring, s.disconnected, Some(0)),
        ],
        Outcome::Rnr => vec![(Duration::ZERO, s.ringing, None), (ring, s.no_answer, None)],
        Outcome::Failed => vec![(ring / 4, s.failed, None)],
    }
}

impl Sim {
    pub fn new(config: SimConfig) -> std::io::Result<Self> {
        let witness = Witness::new(config.journal.as_deref())?;
        Ok(Self {
            fates: SimProvider::new(config.seed, config.profile.clone(), Arc::new(SystemClock)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(std::io::Error::other)?,
            calls: Mutex::new(Calls {
                registry: Registry::new(
                    config.mode == Mode::Twilio,
                    config.retain / config.speed.max(1),
                ),
                rng: SmallRng::seed_from_u64(config.seed),
                faults: config.faults,
            }),
            witness: Mutex::new(witness),
            messages: Mutex::default(),
            forward_to: Mutex::default(),
            clock: config
                .clock_epoch
                .filter(|_| config.speed > 1 || config.clock_start.is_some())
                .map(|epoch| {
                    ScaledClock::anchored_at(
                        epoch,
                        config.clock_start.unwrap_or(epoch),
                        config.speed,
                    )
                }),
            config,
        })
    }

    pub fn stats(&self) -> Stats {
        let kept = lock(&self.calls).registry.len();
        let mut witness = lock(&self.witness);
        witness.set_calls_kept(kept);
        let mut stats = witness.stats(Instant::now());
        drop(witness);
        stats.messages = lock(&self.messages).stats();
        stats
    }

    /// Delivers callbacks to `base` (`http://host:port`) in place of their URL's own origin, as
    /// a proxy in front of dialer would.
    pub fn forward_callbacks_to(&self, base: impl Into<String>) {
        *lock(&self.forward_to) = Some(base.into());
    }

    /// Where a callback for `url` is sent.
    fn target(&self, url: &str) -> String {
        match lock(&self.forward_to).as_deref() {
            Some(base) => {
                let path = url
                    .split_once("://")
                    .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                    .unwrap_or("/");
                format!("{}{path}", base.trim_end_matches('/'))
            }
            None => url.to_owned(),
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.calls).faults = faults;
    }

    /// Real and simulated Unix milliseconds now.
    fn times(&self) -> (i64, i64) {
        let real = SystemClock.now();
        let sim = self.clock.as_ref().map_or(real, Clock::now);
        (real.timestamp_millis(), sim.timestamp_millis())
    }

    fn scaled(&self, d: Duration) -> Duration {
        d / self.config.speed.max(1)
    }

    /// Places a call (or finds the one placed for `key`); what it answers, and whether to wait
    /// before answering.
    fn place(
        &self,
        call_id: &str,
        attempt: Option<u32>,
        to: &str,
        key: Option<&str>,
    ) -> Result<(Arc<Placed>, bool, Option<String>), &'static str> {
        // dialer sends numbers it validated, in E.164: read as such (a syntax check), and only
        // other spellings through the full parser (its regular expressions were 3% of the
        // harness's CPU at the throughput ceiling).
        let number = PhoneNumber::from_stored(to)
            .or_else(|_| PhoneNumber::parse(to, None))
            .map_err(|_| "invalid")?;
        let (real_ms, sim_ms) = self.times();
        let now = Instant::now();
        let mut calls = lock(&self.calls);
        let faults = calls.faults;
        let roll = |calls: &mut Calls| calls.rng.random_range(0..100u8);
        let mut entry = Entry {
            real_ms,
            sim_ms,
            call_id: call_id.to_owned(),
            attempt: attempt.unwrap_or(0),
            to: number.as_str().to_owned(),
            key: key.map(str::to_owned),
            result: String::new(),
            fault: None,
            outcome: None,
        };
        if let Some(existing) = key.and_then(|k| calls.registry.by_key(k)) {
            entry.result = "repeat".into();
            entry.attempt = existing.attempt;
            drop(calls);
            lock(&self.witness).request(entry, now, None, None);
            return Ok((existing, false, None));
        }
        if roll(&mut calls) < faults.fail_percent {
            entry.result = "refused".into();
            drop(calls);
            lock(&self.witness).request(entry, now, None, None);
            return Err("refused");
        }
        let attempt = match attempt {
            Some(a) => a,
            None => calls.registry.next_attempt(call_id),
        };
        entry.attempt = attempt;
        let fate = self
            .fates
            .outcome_for(&number, attempt, &self.config.profile);
        let all = steps(fate, &SEED);
        let lasts = self.scaled(all.last().map(|s| s.0).unwrap_or_default());
        let placed = calls
            .registry
            .insert(call_id, attempt, fate, now, lasts, key);
        let fault = if roll(&mut calls) < faults.fail_after_placing_percent {
            Some("5xx_after_placing".to_owned())
        } else if roll(&mut calls) < faults.timeout_percent {
            Some("timeout_after_placing".to_owned())
        } else {
            None
        };
        drop(calls);
        entry.result = "placed".into();
        entry.fault = fault.clone();
        entry.outcome = Some(fate.outcome);
        let answered = (fate.outcome == Outcome::Picked).then(|| self.scaled(fate.ring));
        lock(&self.witness).request(entry, now, Some(lasts), answered);
        Ok((placed, true, fault))
    }

    /// A placed call's status now (seed spelling), and its duration when it ended.
    fn status_now(&self, p: &Placed, spelling: &Spelling) -> (&'static str, Option<u32>) {
        let elapsed = p.at.elapsed() * self.config.speed.max(1);
        steps(p.fate, spelling)
            .into_iter()
            .rev()
            .find(|(at, _, _)| *at <= elapsed)
            .map_or(("initiated", None), |(_, s, d)| (s, d))
    }

    /// Plays a call's reports to dialer, retrying each a few times when it is not taken.
    fn report(self: &Arc<Self>, p: Arc<Placed>, callback: Option<String>, account: Option<String>) {
        let sim = Arc::clone(self);
        tokio::spawn(async move {
            let spelling = if sim.config.mode == Mode::Twilio {
                &TWILIO
            } else {
                &SEED
            };
            let mut elapsed = Duration::ZERO;
            let steps = steps(p.fate, spelling);
            let last = steps.len().saturating_sub(1);
            for (i, (at, status, duration)) in steps.into_iter().enumerate() {
                tokio::time::sleep(sim.scaled(at.saturating_sub(elapsed))).await;
                elapsed = elapsed.max(at);
                let first_sent = Instant::now();
                let mut delay = Duration::from_millis(200);
                for attempt in 0..=sim.config.callback_retries {
                    if attempt > 0 {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                    let ok = sim
                        .send_report(
                            &p,
                            status,
                            duration,
                            callback.as_deref(),
                            account.as_deref(),
                        )
                        .await;
                    let mut witness = lock(&sim.witness);
                    witness.callback(ok);
                    if ok {
                        if i == last {
                            witness.final_report(first_sent.elapsed());
                        }
                        break;
                    }
                }
            }
        });
    }

    async fn send_report(
        &self,
        p: &Placed,
        status: &str,
        duration: Option<u32>,
        callback: Option<&str>,
        account: Option<&str>,
    ) -> bool {
        let request = match self.config.mode {
            Mode::Accept => return true,
            Mode::Http => {
                let url = callback.unwrap_or(&self.config.callback_url);
                let body =
                    json!({"call_id": p.call_id, "status": status, "call_duration": duration});
                let mut r = self.http.put(url).json(&body);
                if let Some(t) = &self.config.callback_token {
                    r = r.header("X-Auth-Token", t);
                }
                r
            }
            Mode::Twilio => {
                let (Some(url), Some(token)) = (callback, &self.config.twilio_auth_token) else {
                    return false;
                };
                let mut params = vec![
                    (
                        "AccountSid".to_owned(),
                        account.unwrap_or_default().to_owned(),
                    ),
                    ("CallSid".to_owned(), p.external_id.clone()),
                    ("CallStatus".to_owned(), status.to_owned()),
                ];
                if let Some(d) = duration {
                    params.push(("CallDuration".to_owned(), d.to_string()));
                }
                let sig = signature(token, url, &params);
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&params)
                    .finish();
                self.http
                    .post(self.target(url))
                    .header("X-Twilio-Signature", sig)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body)
            }
        };
        request.send().await.is_ok_and(|r| r.status().is_success())
    }

    fn timeout_ms(&self) -> u64 {
        lock(&self.calls).faults.timeout_ms
    }
}

/// A simulator serving on a socket of its own.
pub struct Running {
    pub sim: Shared,
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a simulator on `listen` (port 0 for any) in the current runtime.
pub async fn start(config: SimConfig, listen: SocketAddr) -> std::io::Result<Running> {
    let sim = Arc::new(Sim::new(config)?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = router(Arc::clone(&sim));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Running {
        sim,
        address,
        stop: Some(stop),
    })
}
