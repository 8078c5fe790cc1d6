//! The HTTP and Twilio adapters against a real HTTP server on a loopback port, which records
//! what it received and answers as scripted: which failures an adapter may send again (only a
//! request that never left, or any with an idempotency key), and which leave the attempt
//! uncertain — never sent twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dialer_actors::provider::http::{HttpProvider, HttpProviderConfig};
use dialer_actors::provider::twilio::{TwilioConfig, TwilioProvider};
use dialer_actors::provider::{Attempt, AttemptStatus, DialOutcome, Provider};
use dialer_engine::{CallId, CampaignId, Outcome, ProviderEvent};

use crate::harness::{epoch, number};

/// What the scripted server does with the next request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Create the call, then answer only after this long (past the client's timeout).
    SlowOk(u64),
}

#[derive(Default)]
struct Seen {
    bodies: Vec<String>,
    auth: Vec<Option<String>>,
    keys: Vec<Option<String>>,
    /// Answers to give before succeeding.
    script: Vec<Answer>,
    /// Calls created, by idempotency key (a repeat of a key creates nothing new).
    created: HashMap<String, String>,
}

type Shared = Arc<Mutex<Seen>>;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().unwrap().to_owned())
}

/// Records the request; answers as scripted, or `None` to let the handler succeed.
async fn scripted(seen: &Shared, headers: &HeaderMap, body: String) -> Option<Response> {
    let next = {
        let mut s = seen.lock().unwrap();
        s.auth.push(header(headers, "authorization"));
        s.keys.push(header(headers, "idempotency-key"));
        s.bodies.push(body);
        if s.script.is_empty() {
            None
        } else {
            Some(s.script.remove(0))
        }
    };
    match next? {
        Answer::Status(code) => {
            let mut r = (
                StatusCode::from_u16(code).unwrap(),
                r#"{"code": 21211, "message": "scripted"}"#,
            )
                .into_response();
            r.headers_mut().insert("retry-after", "7".parse().unwrap());
            Some(r)
        }
        Answer::SlowOk(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
    }
}

async fn create_json(State(seen): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if let Some(r) = scripted(&seen, &headers, body).await {
        return r;
    }
    let key = header(&headers, "idempotency-key").unwrap_or_default();
    let mut s = seen.lock().unwrap();
    let n = s.created.len();
    let id = s
        .created
        .entry(key)
        .or_insert_with(|| format!("ext-{}", 42 + n))
        .clone();
    (
        StatusCode::CREATED,
        format!(r#"{{"call_id": "{id}", "status": "initiated"}}"#),
    )
        .into_response()
}

async fn status_json(Path(id): Path<String>) -> Response {
    (
        StatusCode::OK,
        format!(r#"{{"call_id": "{id}", "status": "completed", "duration": 37}}"#),
    )
        .into_response()
}

async fn status_by_key(
    State(seen): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let key = q.get("idempotency_key").cloned().unwrap_or_default();
    match seen.lock().unwrap().created.get(&key) {
        Some(id) => (
            StatusCode::OK,
            format!(r#"{{"call_id": "{id}", "status": "ringing"}}"#),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, r#"{"message": "no such call"}"#).into_response(),
    }
}

async fn create_twilio(
    State(seen): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let body = serde_json::to_string(&form).unwrap();
    if let Some(r) = scripted(&seen, &headers, body).await {
        return r;
    }
    (
        StatusCode::CREATED,
        r#"{"sid": "CA0123", "status": "queued"}"#,
    )
        .into_response()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn attempt() -> Attempt {
    Attempt {
        call_id: CallId::generate(epoch()),
        campaign_id: CampaignId::new(1).unwrap(),
        attempt: 1,
        to: number(7),
        from: None,
        ring_timeout_secs: 25,
        max_call_duration_secs: 600,
        sim: None,
        dialed_at: epoch(),
        external_id: None,
        voice_template: false,
    }
}

fn http_provider(base: String, timeout_ms: u64) -> HttpProvider {
    bounded_http_provider(base, timeout_ms, 256)
}

fn bounded_http_provider(base: String, timeout_ms: u64, max_in_flight: u32) -> HttpProvider {
    HttpProvider::new(HttpProviderConfig {
        name: "http".into(),
        base_url: base,
        token: Some("s3cret".into()),
        callback_url: Some("http://dialer/api/v1/callback/".into()),
        max_cps: None,
        timeout_ms,
        max_in_flight,
    })
    .unwrap()
}

#[tokio::test]
async fn the_http_adapter_keeps_its_requests_at_once_within_max_in_flight() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let inside = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let counts = Arc::clone(&inside);
    let router = Router::new().route(
        "/api/call",
        post(move || {
            let counts = Arc::clone(&counts);
            async move {
                let now = counts.0.fetch_add(1, Ordering::SeqCst) + 1;
                counts.1.fetch_max(now, Ordering::SeqCst);
                // Held a moment, so that requests would overlap if nothing bounded them.
                tokio::time::sleep(Duration::from_millis(20)).await;
                counts.0.fetch_sub(1, Ordering::SeqCst);
                (StatusCode::CREATED, r#"{"call_id": "ext-1"}"#)
            }
        }),
    );
    let base = serve(router).await;
    let provider = Arc::new(bounded_http_provider(base, 5_000, 2));
    let dials: Vec<_> = (0..8)
        .map(|_| {
            let p = Arc::clone(&provider);
            tokio::spawn(async move { p.dial(&attempt()).await })
        })
        .collect();
    for d in dials {
        assert!(matches!(d.await.unwrap(), DialOutcome::Placed { .. }));
    }
    assert_eq!(
        inside.1.load(Ordering::SeqCst),
        2,
        "two at a time, never more"
    );
}

fn json_router(seen: &Shared) -> Router {
    Router::new()
        .route("/api/call", post(create_json).get(status_by_key))
        .route("/api/call/{id}", get(status_json))
        .with_state(Arc::clone(seen))
}

#[tokio::test]
async fn the_http_adapter_repeats_an_unanswered_create_only_with_the_same_idempotency_key() {
    let seen = Shared::default();
    // A 503, then an answer that comes after the client gave up (the call was created), then
    // a success: the provider must see one key throughout, and create one call.
    seen.lock().unwrap().script = vec![Answer::Status(503), Answer::SlowOk(1_500)];
    let base = serve(json_router(&seen)).await;
    let provider = http_provider(base, 1_000);
    assert!(provider.idempotent());
    let a = attempt();
    let outcome = provider.dial(&a).await;
    assert_eq!(
        outcome,
        DialOutcome::Placed {
            external_id: "ext-42".into()
        }
    );
    let s = seen.lock().unwrap();
    assert_eq!(s.bodies.len(), 3, "two unanswered tries were repeated");
    let key = format!("{}:1", a.call_id);
    assert!(
        s.keys.iter().all(|k| k.as_deref() == Some(key.as_str())),
        "{:?}",
        s.keys
    );
    assert_eq!(s.created.len(), 1, "one call for the attempt");
    let body: serde_json::Value = serde_json::from_str(&s.bodies[2]).unwrap();
    assert_eq!(body["phone_number"], a.to.as_str());
    assert_eq!(body["call_id"], a.call_id.to_string());
    assert_eq!(body["attempt"], 1);
    assert_eq!(body["callback_url"], "http://dialer/api/v1/callback/");
    assert_eq!(s.auth[2].as_deref(), Some("Bearer s3cret"));
}

#[tokio::test]
async fn the_http_adapter_finds_an_attempt_by_its_key_or_proves_it_was_never_placed() {
    let seen = Shared::default();
    let base = serve(json_router(&seen)).await;
    let provider = http_provider(base, 2_000);
    let a = attempt();
    // Never placed: the provider has nothing for the key.
    assert_eq!(
        provider.status(&a).await.unwrap(),
        Some(AttemptStatus::Unknown)
    );
    provider.dial(&a).await;
    match provider.status(&a).await.unwrap() {
        Some(AttemptStatus::Live {
            external_id,
            report,
        }) => {
            assert_eq!(external_id.as_deref(), Some("ext-42"));
            assert_eq!(report.unwrap().event, Some(ProviderEvent::Ringing));
        }
        other => panic!("{other:?}"),
    }
    // By its id, once known.
    let known = Attempt {
        external_id: Some("ext-42".into()),
        ..a
    };
    match provider.status(&known).await.unwrap() {
        Some(AttemptStatus::Ended(report)) => assert_eq!(
            report.event,
            Some(ProviderEvent::Ended {
                outcome: Outcome::Picked,
                duration_secs: 37,
                error_code: None
            })
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_http_adapter_reports_a_refusal_without_repeating_it() {
    let seen = Shared::default();
    seen.lock().unwrap().script = vec![Answer::Status(400)];
    let provider = http_provider(serve(json_router(&seen)).await, 2_000);
    let outcome = provider.dial(&attempt()).await;
    assert!(
        matches!(outcome, DialOutcome::Rejected { status: 400, .. }),
        "{outcome:?}"
    );
    assert_eq!(seen.lock().unwrap().bodies.len(), 1);
    // A 429 creates nothing either: the attempt is given back, with the provider's wait.
    seen.lock().unwrap().script = vec![Answer::Status(429)];
    let outcome = provider.dial(&attempt()).await;
    assert_eq!(
        outcome,
        DialOutcome::NotPlaced {
            reason: "provider answered 429: scripted".into(),
            retry_after: Some(Duration::from_secs(7))
        }
    );
}

fn twilio_provider(base: String) -> TwilioProvider {
    TwilioProvider::new(TwilioConfig {
        name: "twilio".into(),
        account_sid: "AC123".into(),
        auth_token: "tok".into(),
        api_base: base,
        from: "+14155550100".into(),
        voice_url: "https://example.com/twiml".into(),
        public_url: "https://dialer.example.com".into(),
        machine_detection: Some("Enable".into()),
        max_cps: Some(1),
    })
    .unwrap()
}

fn twilio_router(seen: &Shared) -> Router {
    Router::new()
        .route("/2010-04-01/Accounts/{sid}/Calls.json", post(create_twilio))
        .with_state(Arc::clone(seen))
}

#[tokio::test]
async fn the_twilio_adapter_posts_the_calls_form_with_basic_auth() {
    let seen = Shared::default();
    let provider = twilio_provider(serve(twilio_router(&seen)).await);
    assert!(
        !provider.idempotent(),
        "Calls.json takes no idempotency key"
    );
    let a = attempt();
    assert_eq!(
        provider.dial(&a).await,
        DialOutcome::Placed {
            external_id: "CA0123".into()
        }
    );
    let s = seen.lock().unwrap();
    assert_eq!(s.bodies.len(), 1);
    // Basic auth with the account SID and auth token.
    assert_eq!(s.auth[0].as_deref(), Some("Basic QUMxMjM6dG9r"));
    let form: Vec<(String, String)> = serde_json::from_str(&s.bodies[0]).unwrap();
    let get = |k: &str| {
        form.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(get("To"), [a.to.as_str()]);
    assert_eq!(get("From"), ["+14155550100"]);
    assert_eq!(get("Url"), ["https://example.com/twiml"]);
    assert_eq!(
        get("StatusCallback"),
        [format!(
            "https://dialer.example.com/api/v1/providers/twilio/status?call_id={}",
            a.call_id
        )
        .as_str()]
    );
    assert_eq!(
        get("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(get("Timeout"), ["25"]);
    assert_eq!(get("TimeLimit"), ["600"]);
    assert_eq!(get("MachineDetection"), ["Enable"]);
    assert_eq!(provider.max_cps(), Some(1));
}

#[tokio::test]
async fn the_twilio_adapter_never_sends_a_create_twice_once_it_may_have_arrived() {
    let seen = Shared::default();
    seen.lock().unwrap().script = vec![Answer::Status(500)];
    let provider = twilio_provider(serve(twilio_router(&seen)).await);
    let outcome = provider.dial(&attempt()).await;
    assert!(
        matches!(outcome, DialOutcome::Uncertain { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        seen.lock().unwrap().bodies.len(),
        1,
        "a 5xx is not repeated"
    );
    // Without a call SID there is nothing to ask Twilio: its callbacks will say.
    assert_eq!(provider.status(&attempt()).await.unwrap(), None);
}

#[tokio::test]
async fn a_request_that_never_left_is_sent_again_and_then_given_back() {
    // Nothing listens on this port: every try is refused before a byte is written.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}")
    };
    for provider in [
        Box::new(twilio_provider(closed.clone())) as Box<dyn Provider>,
        Box::new(http_provider(closed.clone(), 1_000)),
    ] {
        let outcome = provider.dial(&attempt()).await;
        assert!(
            matches!(&outcome, DialOutcome::NotPlaced { reason, retry_after: None } if reason.contains("connection")),
            "{}: {outcome:?}",
            provider.name()
        );
    }
}
