//! `dialer-provider-sim`: a telephony provider on a port, for load tests and demos. It accepts
//! dial requests in the generic Call API's shape (`POST /api/call`) and Twilio's
//! (`POST /2010-04-01/Accounts/{sid}/Calls.json`), answers status queries, and — unless it runs
//! in `accept` mode — reports each call's progress back to dialer the way that provider would:
//! the seed's `PUT /api/v1/callback/` with an `X-Auth-Token`, or Twilio's signed form posts to
//! the call's `StatusCallback`.
//!
//! Each attempt's fate (outcome, ring time, talk time) is the same pure function of the seed,
//! the number and the attempt that dialer's in-process simulator uses, so runs are repeatable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::{Parser, ValueEnum};
use dialer_actors::clock::SystemClock;
use dialer_actors::provider::sim::{SimFate, SimProvider};
use dialer_actors::provider::twilio::signature;
use dialer_engine::{Outcome, PhoneNumber, SimProfile};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Accept dials and report nothing (the load test reports instead).
    Accept,
    /// Report with the seed's `PUT /api/v1/callback/`.
    Http,
    /// Report with Twilio's signed status callbacks.
    Twilio,
}

#[derive(Debug, Parser)]
#[command(
    name = "dialer-provider-sim",
    version,
    about = "A simulated telephony provider for load tests and demos"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:18090")]
    listen: SocketAddr,
    #[arg(long, value_enum, default_value = "http")]
    mode: Mode,
    /// The X-Auth-Token for seed callbacks (a provider or operator token).
    #[arg(long, env = "PROVIDER_SIM_CALLBACK_TOKEN", hide_env_values = true)]
    callback_token: Option<String>,
    /// Where seed callbacks go when a dial request names no callback_url.
    #[arg(long, default_value = "http://127.0.0.1:8080/api/v1/callback/")]
    callback_url: String,
    /// The Twilio auth token status callbacks are signed with.
    #[arg(long, env = "PROVIDER_SIM_TWILIO_TOKEN", hide_env_values = true)]
    twilio_auth_token: Option<String>,
    /// The seed of every call's fate.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Ring and talk times are divided by this (a demo at 60× rings for a fraction of a second).
    #[arg(long, default_value_t = 1)]
    speed: u32,
    /// The outcome mix and timings as JSON (SimProfile), e.g. '{"picked": 80, "rnr": 20}'.
    #[arg(long)]
    profile: Option<String>,
}

struct Sim {
    mode: Mode,
    fates: SimProvider,
    profile: SimProfile,
    speed: u32,
    http: reqwest::Client,
    callback_token: Option<String>,
    callback_url: String,
    twilio_auth_token: Option<String>,
    /// The last status of each call, by the id we gave it.
    calls: Mutex<HashMap<String, String>>,
    /// Calls placed to each number (Twilio-shaped requests carry no attempt number).
    dialed: Mutex<HashMap<String, u32>>,
    next_id: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
}

type Shared = Arc<Sim>;

impl Sim {
    fn record(&self, id: &str, status: &str) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), status.to_owned());
    }

    fn status_of(&self, id: &str) -> Option<String> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn fate(&self, to: &str, attempt: u32) -> Option<SimFate> {
        let number = PhoneNumber::parse(to, None).ok()?;
        Some(self.fates.outcome_for(&number, attempt, &self.profile))
    }

    async fn pause(&self, d: Duration) {
        tokio::time::sleep(d / self.speed.max(1)).await;
    }

    fn delivered(&self, ok: bool) {
        let counter = if ok { &self.delivered } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Deserialize)]
struct CreateCall {
    phone_number: String,
    call_id: String,
    #[serde(default = "one")]
    attempt: u32,
    #[serde(default)]
    callback_url: Option<String>,
}

fn one() -> u32 {
    1
}

/// How a provider spells each step of a call.
struct Spelling {
    ringing: &'static str,
    in_progress: &'static str,
    completed: &'static str,
    disconnected: &'static str,
    no_answer: &'static str,
    failed: &'static str,
}

/// The seed's statuses (`PUT /api/v1/callback/`).
const SEED: Spelling = Spelling {
    ringing: "RINGING",
    in_progress: "IN_PROGRESS",
    completed: "PICKED",
    disconnected: "DISCONNECTED",
    no_answer: "RNR",
    failed: "FAILED",
};

/// Twilio's `CallStatus` values.
const TWILIO: Spelling = Spelling {
    ringing: "ringing",
    in_progress: "in-progress",
    completed: "completed",
    disconnected: "failed",
    no_answer: "no-answer",
    failed: "busy",
};

/// Each step of a call as (wait before it, status, call duration), spelled as `s` spells it.
fn steps(fate: SimFate, s: &Spelling) -> Vec<(Duration, &'static str, Option<u32>)> {
    let ring = fate.ring;
    match fate.outcome {
        Outcome::Picked => vec![
            (Duration::ZERO, s.ringing, None),
            (ring, s.in_progress, None),
            (
                Duration::from_secs(u64::from(fate.talk_secs)),
                s.completed,
                Some(fate.talk_secs),
            ),
        ],
        Outcome::Disconnected => vec![
            (Duration::ZERO, s.ringing, None),
            (ring, s.disconnected, Some(0)),
        ],
        Outcome::Rnr => vec![(Duration::ZERO, s.ringing, None), (ring, s.no_answer, None)],
        Outcome::Failed => vec![(ring / 4, s.failed, None)],
    }
}

async fn create_call(State(sim): State<Shared>, Json(req): Json<CreateCall>) -> Response {
    let Some(fate) = sim.fate(&req.phone_number, req.attempt) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": 21211, "message": "invalid 'To' phone number"})),
        )
            .into_response();
    };
    let id = format!("ext-{}", sim.next_id.fetch_add(1, Ordering::Relaxed));
    sim.record(&id, "initiated");
    if sim.mode == Mode::Http {
        let sim = Arc::clone(&sim);
        let url = req
            .callback_url
            .clone()
            .unwrap_or_else(|| sim.callback_url.clone());
        let (call_id, ext) = (req.call_id.clone(), id.clone());
        tokio::spawn(async move {
            for (wait, status, duration) in steps(fate, &SEED) {
                sim.pause(wait).await;
                sim.record(&ext, &status.to_ascii_lowercase());
                let body = json!({"call_id": call_id, "status": status, "call_duration": duration});
                let mut r = sim.http.put(&url).json(&body);
                if let Some(t) = &sim.callback_token {
                    r = r.header("X-Auth-Token", t);
                }
                let ok = r.send().await.is_ok_and(|r| r.status().is_success());
                sim.delivered(ok);
            }
        });
    }
    (
        StatusCode::CREATED,
        Json(json!({"call_id": id, "status": "initiated"})),
    )
        .into_response()
}

async fn call_status(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    match sim.status_of(&id) {
        Some(status) => Json(json!({"call_id": id, "status": status})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"code": 20404, "message": "not found"})),
        )
            .into_response(),
    }
}

async fn twilio_create(
    State(sim): State<Shared>,
    Path(account): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let to = form.get("To").cloned().unwrap_or_default();
    let callback = form.get("StatusCallback").cloned();
    // Twilio's API has no attempt number: count the calls to each number, as a carrier sees them.
    let attempt = {
        let mut dialed = sim.dialed.lock().unwrap_or_else(|p| p.into_inner());
        let n = dialed.entry(to.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let Some(fate) = sim.fate(&to, attempt) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": 21211, "message": "The 'To' number is not a valid phone number."})),
        )
            .into_response();
    };
    let sid = format!("CA{:032x}", sim.next_id.fetch_add(1, Ordering::Relaxed));
    sim.record(&sid, "queued");
    if let (Mode::Twilio, Some(url), Some(token)) =
        (sim.mode, callback, sim.twilio_auth_token.clone())
    {
        let sim = Arc::clone(&sim);
        let (sid, account) = (sid.clone(), account.clone());
        tokio::spawn(async move {
            for (wait, status, duration) in steps(fate, &TWILIO) {
                sim.pause(wait).await;
                sim.record(&sid, status);
                let mut params = vec![
                    ("AccountSid".to_owned(), account.clone()),
                    ("CallSid".to_owned(), sid.clone()),
                    ("CallStatus".to_owned(), status.to_owned()),
                    ("To".to_owned(), to.clone()),
                ];
                if let Some(d) = duration {
                    params.push(("CallDuration".to_owned(), d.to_string()));
                }
                let sig = signature(&token, &url, &params);
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&params)
                    .finish();
                let ok = sim
                    .http
                    .post(&url)
                    .header("X-Twilio-Signature", sig)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                sim.delivered(ok);
            }
        });
    }
    (
        StatusCode::CREATED,
        Json(json!({"sid": sid, "status": "queued"})),
    )
        .into_response()
}

async fn twilio_status(
    State(sim): State<Shared>,
    Path((_account, file)): Path<(String, String)>,
) -> Response {
    let sid = file.trim_end_matches(".json");
    match sim.status_of(sid) {
        Some(status) => Json(json!({"sid": sid, "status": status})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"code": 20404, "message": "not found"})),
        )
            .into_response(),
    }
}

async fn stats(State(sim): State<Shared>) -> Json<serde_json::Value> {
    Json(json!({
        "calls": sim.next_id.load(Ordering::Relaxed) - 1,
        "callbacks_delivered": sim.delivered.load(Ordering::Relaxed),
        "callbacks_failed": sim.failed.load(Ordering::Relaxed),
    }))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let profile: SimProfile = match &args.profile {
        Some(p) => serde_json::from_str(p).map_err(|e| anyhow::anyhow!("--profile: {e}"))?,
        None => SimProfile::default(),
    };
    if args.mode == Mode::Twilio && args.twilio_auth_token.is_none() {
        anyhow::bail!("--mode twilio needs --twilio-auth-token (or PROVIDER_SIM_TWILIO_TOKEN)");
    }
    let sim = Arc::new(Sim {
        mode: args.mode,
        fates: SimProvider::new(args.seed, profile.clone(), Arc::new(SystemClock)),
        profile,
        speed: args.speed,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        callback_token: args.callback_token,
        callback_url: args.callback_url,
        twilio_auth_token: args.twilio_auth_token,
        calls: Mutex::new(HashMap::new()),
        dialed: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/api/call", post(create_call))
        .route("/api/call/{id}", get(call_status))
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(twilio_create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            get(twilio_status),
        )
        .route("/stats", get(stats))
        .with_state(sim);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let address = listener.local_addr()?;
        tracing::info!(%address, mode = ?args.mode, "provider simulator listening");
        // The first line on stdout is the address (with --listen 127.0.0.1:0, the port chosen).
        #[allow(clippy::print_stdout)]
        {
            println!("listening on http://{address}");
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })
}
