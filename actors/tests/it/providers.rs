//! The HTTP and Twilio adapters against a real HTTP server on a loopback port, which records
//! what it received and answers as scripted (including failures the adapters must retry).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dialer_actors::provider::http::{HttpProvider, HttpProviderConfig};
use dialer_actors::provider::twilio::{TwilioConfig, TwilioProvider};
use dialer_actors::provider::{DialRequest, Provider, ProviderError};
use dialer_engine::{CallId, CampaignId, Outcome, ProviderEvent};

use crate::harness::{epoch, number};

#[derive(Default)]
struct Seen {
    bodies: Vec<String>,
    auth: Vec<Option<String>>,
    /// Status codes to answer with before succeeding.
    fail_first: Vec<u16>,
}

type Shared = Arc<Mutex<Seen>>;

fn scripted(seen: &Shared) -> Option<Response> {
    let mut s = seen.lock().unwrap();
    if s.fail_first.is_empty() {
        return None;
    }
    let code = s.fail_first.remove(0);
    let mut r = (
        StatusCode::from_u16(code).unwrap(),
        r#"{"code": 21211, "message": "scripted"}"#,
    )
        .into_response();
    r.headers_mut().insert("retry-after", "0".parse().unwrap());
    Some(r)
}

async fn create_json(State(seen): State<Shared>, headers: HeaderMap, body: String) -> Response {
    seen.lock().unwrap().auth.push(
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
    );
    seen.lock().unwrap().bodies.push(body);
    if let Some(r) = scripted(&seen) {
        return r;
    }
    (
        StatusCode::CREATED,
        r#"{"call_id": "ext-42", "status": "initiated"}"#,
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

async fn create_twilio(
    State(seen): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    seen.lock().unwrap().auth.push(
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
    );
    seen.lock()
        .unwrap()
        .bodies
        .push(serde_json::to_string(&form).unwrap());
    if let Some(r) = scripted(&seen) {
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

fn request() -> DialRequest {
    DialRequest {
        call_id: CallId::generate(epoch()),
        campaign_id: CampaignId::new(1).unwrap(),
        attempt: 1,
        to: number(7),
        from: None,
        ring_timeout_secs: 25,
        max_call_duration_secs: 600,
        sim: None,
    }
}

#[tokio::test]
async fn the_http_adapter_posts_json_retries_5xx_and_reads_status() {
    let seen = Shared::default();
    seen.lock().unwrap().fail_first = vec![503, 502];
    let router = Router::new()
        .route("/api/call", post(create_json))
        .route("/api/call/{id}", get(status_json))
        .with_state(Arc::clone(&seen));
    let base = serve(router).await;
    let provider = HttpProvider::new(HttpProviderConfig {
        name: "http".into(),
        base_url: base,
        token: Some("s3cret".into()),
        callback_url: Some("http://dialer/api/v1/callback/".into()),
        max_cps: None,
        timeout_ms: 2_000,
    })
    .unwrap();
    let r = request();
    let dialed = provider.dial(r.clone()).await.unwrap();
    assert_eq!(dialed.external_id, "ext-42");
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.bodies.len(), 3, "two 5xx answers were retried");
        let body: serde_json::Value = serde_json::from_str(&s.bodies[2]).unwrap();
        assert_eq!(body["phone_number"], r.to.as_str());
        assert_eq!(body["call_id"], r.call_id.to_string());
        assert_eq!(body["callback_url"], "http://dialer/api/v1/callback/");
        assert_eq!(s.auth[2].as_deref(), Some("Bearer s3cret"));
    }
    let status = provider.status("ext-42").await.unwrap().unwrap();
    assert_eq!(
        status.event,
        Some(ProviderEvent::Ended {
            outcome: Outcome::Picked,
            duration_secs: 37,
            error_code: None
        })
    );
}

#[tokio::test]
async fn the_http_adapter_reports_a_refusal_without_retrying_it() {
    let seen = Shared::default();
    seen.lock().unwrap().fail_first = vec![400];
    let base = serve(
        Router::new()
            .route("/api/call", post(create_json))
            .with_state(Arc::clone(&seen)),
    )
    .await;
    let provider = HttpProvider::new(HttpProviderConfig {
        name: "http".into(),
        base_url: base,
        token: None,
        callback_url: None,
        max_cps: None,
        timeout_ms: 2_000,
    })
    .unwrap();
    let err = provider.dial(request()).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "{err:?}"
    );
    assert_eq!(seen.lock().unwrap().bodies.len(), 1);
}

#[tokio::test]
async fn the_twilio_adapter_posts_the_calls_form_with_basic_auth_and_retries_429() {
    let seen = Shared::default();
    seen.lock().unwrap().fail_first = vec![429];
    let router = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Calls.json", post(create_twilio))
        .with_state(Arc::clone(&seen));
    let base = serve(router).await;
    let provider = TwilioProvider::new(TwilioConfig {
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
    .unwrap();
    let r = request();
    let dialed = provider.dial(r.clone()).await.unwrap();
    assert_eq!(dialed.external_id, "CA0123");
    let s = seen.lock().unwrap();
    assert_eq!(s.bodies.len(), 2, "the 429 was retried");
    // Basic auth with the account SID and auth token.
    assert_eq!(s.auth[1].as_deref(), Some("Basic QUMxMjM6dG9r"));
    let form: Vec<(String, String)> = serde_json::from_str(&s.bodies[1]).unwrap();
    let get = |k: &str| {
        form.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(get("To"), [r.to.as_str()]);
    assert_eq!(get("From"), ["+14155550100"]);
    assert_eq!(get("Url"), ["https://example.com/twiml"]);
    assert_eq!(
        get("StatusCallback"),
        [format!(
            "https://dialer.example.com/api/v1/providers/twilio/status?call_id={}",
            r.call_id
        )
        .as_str()]
    );
    assert_eq!(
        get("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(get("Timeout"), ["25"]);
    assert_eq!(get("MachineDetection"), ["Enable"]);
    assert_eq!(provider.max_cps(), Some(1));
}
