//! A dialer serving on a real loopback socket (port 0), on the embedded store in a temporary
//! directory, with one token per role and a Twilio account whose signatures the tests compute.
//!
//! These tests run in real time: real sockets and the store's writer thread make paused tokio
//! time unsound (it would auto-advance while a request waits on I/O). Nothing here sleeps to
//! wait for something: tests wait on events (the engine's notices, campaign state changes) with
//! a deadline, and the engine's wall clock is a `ScaledClock` where calls must take time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use dialer_actors::clock::ScaledClock;
use dialer_actors::provider::sim::SimProvider;
use dialer_actors::provider::twilio::TwilioConfig;
use dialer_api::app::App;
use dialer_api::auth::Role;
use dialer_api::config::{self, ApiToken, Settings};
use dialer_api::state::AppState;
use dialer_engine::{CampaignId, CampaignState};
use reqwest::Method;
use serde_json::{Value, json};

pub const ADMIN: &str = "admin-token-0123456789";
pub const OPERATOR: &str = "operator-token-0123456789";
pub const VIEWER: &str = "viewer-token-0123456789";
pub const PROVIDER: &str = "provider-token-0123456789";
pub const TWILIO_SID: &str = "AC00000000000000000000000000000001";
pub const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
/// The URL dialer believes it is reached at (as behind a TLS proxy); Twilio signs this URL.
pub const PUBLIC_URL: &str = "https://dialer.example.com";

/// Wednesday 2026-06-03 16:00 UTC: noon in New York, 9:00 in Los Angeles.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 3, 16, 0, 0).unwrap()
}

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub sim: Arc<SimProvider>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub dir: tempfile::TempDir,
}

/// Settings as `dialer serve` would read them, for a temporary data directory.
pub fn settings(dir: &std::path::Path) -> Settings {
    let vars: HashMap<&str, String> = [
        ("DIALER_DATA_DIR", dir.display().to_string()),
        ("DIALER_LISTEN", "127.0.0.1:0".into()),
        ("DIALER_PUBLIC_URL", PUBLIC_URL.into()),
    ]
    .into_iter()
    .collect();
    let mut s = config::load(None, &|k| vars.get(k).cloned()).unwrap();
    s.tokens = [
        ("admin", Role::Admin, ADMIN),
        ("ops", Role::Operator, OPERATOR),
        ("dashboard", Role::Viewer, VIEWER),
        ("carrier", Role::Provider, PROVIDER),
    ]
    .into_iter()
    .map(|(name, role, secret)| ApiToken {
        name: name.into(),
        role,
        secret: secret.into(),
    })
    .collect();
    s.rate_limit_per_second = 0;
    s.twilio = vec![TwilioConfig {
        name: "twilio".into(),
        account_sid: TWILIO_SID.into(),
        auth_token: TWILIO_TOKEN.into(),
        // Nothing listens here: these tests only receive Twilio's webhooks.
        api_base: "http://127.0.0.1:9".into(),
        from: "+14155550100".into(),
        voice_url: "https://example.com/twiml".into(),
        public_url: PUBLIC_URL.into(),
        machine_detection: None,
        max_cps: None,
    }];
    s
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// With settings changed by `change`; the wall clock runs 60× (a minute per second).
    pub async fn start_with(change: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        change(&mut s);
        Self::start_in(dir, s, 60).await
    }

    pub async fn start_in(dir: tempfile::TempDir, settings: Settings, speed: u32) -> Self {
        let clock = Arc::new(ScaledClock::new(epoch(), speed));
        // Boxed: assembling a node is a large future to keep on every test's stack.
        let app = Box::pin(App::build(settings, clock)).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = app.state.clone();
        let sim = Arc::clone(&app.sim);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(listener, async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base,
            http,
            state,
            sim,
            stop: Some(stop),
            task: Some(task),
            dir,
        }
    }

    /// Graceful shutdown: waits for the server, the engine and storage to stop.
    pub async fn stop(self) -> tempfile::TempDir {
        let Self {
            stop, task, dir, ..
        } = self;
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(task) = task {
            task.await.unwrap().unwrap();
        }
        dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and returns the status, headers and body (JSON, or a string).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut r = self.http.request(method, self.url(path));
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        Reply::read(r.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Sends a raw body with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let r = self
            .http
            .post(self.url(path))
            .header("X-Auth-Token", token)
            .header("Content-Type", content_type)
            .body(body);
        Reply::read(r.send().await.unwrap()).await
    }

    /// Creates a campaign that dials around the clock in UTC, retrying every `minutes` up to
    /// `attempts` times, with `settings` merged over that.
    pub async fn campaign(&self, name: &str, extra: Value) -> i64 {
        let mut settings = json!({
            "zone_policy": "campaign",
            "time_zone": "UTC",
            "calling_hours": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00"}],
            "retry": {"max_attempts": 3, "rules": [{"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00", "retry_interval_minutes": 1}]},
            "max_concurrent": 10,
        });
        if let (Some(base), Value::Object(more)) = (settings.as_object_mut(), extra) {
            base.extend(more);
        }
        let r = self
            .post(
                "/api/v1/campaigns/",
                OPERATOR,
                json!({"name": name, "settings": settings}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_i64().unwrap()
    }

    /// Waits for a campaign to reach `state`, failing after `limit`.
    pub async fn wait_for(&self, id: i64, state: CampaignState, limit: Duration) {
        let id = CampaignId::new(id).unwrap();
        tokio::time::timeout(limit, self.state.engine.wait_for_campaign(id, state))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "campaign {id} did not become {} within {limit:?}",
                    state.as_str()
                )
            })
            .unwrap();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn read(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            body,
        }
    }

    /// Asserts an error answer: its status, stable code and (when given) the field at fault.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, field: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
        match field {
            Some(f) => assert_eq!(self.body["error"]["field"], f, "{}", self.body),
            None => assert!(self.body["error"].get("field").is_none(), "{}", self.body),
        }
        let ct = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(ct.starts_with("application/json"), "{ct}");
    }
}
