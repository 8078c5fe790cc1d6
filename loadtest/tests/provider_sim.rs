//! `dialer-provider-sim` as a separate process: it takes dial requests in the generic and the
//! Twilio shape over a real socket and reports each call's progress back the way that provider
//! would, with the fate dialer's own simulator computes. The callbacks land on a receiver in
//! this test (axum on port 0). Real time, because the simulator is another process; its
//! `--speed 1000` makes a call's whole life take milliseconds.
#![allow(clippy::unwrap_used)] // Test code: a panic is the failure report.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{post, put};
use dialer_actors::clock::SystemClock;
use dialer_actors::provider::sim::SimProvider;
use dialer_actors::provider::twilio::signature;
use dialer_engine::{Outcome, PhoneNumber, SimProfile};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The simulator, stopped when dropped.
struct Sim {
    child: Child,
    base: String,
}

impl Sim {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dialer-provider-sim"))
            .args(["--listen", "127.0.0.1:0", "--speed", "1000"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dialer-provider-sim");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("its address");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, base }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One received callback: its headers and body.
type Received = (HeaderMap, String);

/// A receiver on port 0 for `PUT /api/v1/callback/` and Twilio's status posts.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel::<Received>();
    let take = |State(tx): State<mpsc::UnboundedSender<Received>>,
                headers: HeaderMap,
                body: String| async move {
        let _ = tx.send((headers, body));
        "ok"
    };
    let app = Router::new()
        .route("/api/v1/callback/", put(take))
        .route("/twilio/status", post(take))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a callback within 20 s")
        .expect("the receiver is open")
}

/// A number whose first attempt the default profile picks up, and one it does not.
fn numbers() -> (PhoneNumber, PhoneNumber) {
    let sim = SimProvider::new(1, SimProfile::default(), Arc::new(SystemClock));
    let fate = |n: &PhoneNumber| sim.outcome_for(n, 1, &SimProfile::default()).outcome;
    let all: Vec<PhoneNumber> = (0..500)
        .map(|i| PhoneNumber::parse(&format!("+1415555{i:04}"), None).unwrap())
        .collect();
    let picked = all.iter().find(|n| fate(n) == Outcome::Picked).unwrap();
    let rnr = all.iter().find(|n| fate(n) == Outcome::Rnr).unwrap();
    (picked.clone(), rnr.clone())
}

#[tokio::test]
async fn http_mode_reports_the_seed_statuses_of_each_calls_fate_with_the_token() {
    let (callbacks, mut rx) = receiver().await;
    let sim = Sim::start(&[
        "--mode",
        "http",
        "--callback-token",
        "provider-token-0123456789",
        "--callback-url",
        &format!("{callbacks}/api/v1/callback/"),
    ]);
    let (picked, rnr) = numbers();
    let http = reqwest::Client::new();
    let mut expected = HashMap::new();
    for (call_id, number, statuses) in [
        ("call-a", &picked, vec!["RINGING", "IN_PROGRESS", "PICKED"]),
        ("call-b", &rnr, vec!["RINGING", "RNR"]),
    ] {
        let r = http
            .post(format!("{}/api/call", sim.base))
            .json(&json!({"phone_number": number.as_str(), "call_id": call_id, "attempt": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "initiated");
        expected.insert(call_id.to_owned(), statuses);
    }
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for _ in 0..5 {
        let (headers, body) = next(&mut rx).await;
        assert_eq!(headers["x-auth-token"], "provider-token-0123456789");
        let body: Value = serde_json::from_str(&body).unwrap();
        let id = body["call_id"].as_str().unwrap().to_owned();
        let status = body["status"].as_str().unwrap().to_owned();
        if status == "PICKED" {
            assert!(body["call_duration"].as_u64().unwrap() > 0);
        }
        seen.entry(id).or_default().push(status);
    }
    for (id, statuses) in expected {
        assert_eq!(seen[&id], statuses, "{id}");
    }
    // The provider's own view of the call agrees. It counts a callback delivered once the
    // receiver's answer is back, which can be just after the receiver saw the request: the
    // process is asked again until its count settles (10 s at most).
    let stats = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let stats = stats_of(&http, &sim).await;
            if stats["callbacks_delivered"] == json!(5) || stats["callbacks_failed"] != json!(0) {
                return stats;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the simulator counts every callback it delivered");
    assert_eq!(
        (
            &stats["calls_placed"],
            &stats["callbacks_delivered"],
            &stats["callbacks_failed"]
        ),
        (&json!(2), &json!(5), &json!(0)),
        "{stats}"
    );
}

/// The simulator's `/stats`.
async fn stats_of(http: &reqwest::Client, sim: &Sim) -> Value {
    let r = http
        .get(format!("{}/stats", sim.base))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

#[tokio::test]
async fn an_idempotency_key_places_one_call_however_often_it_is_sent() {
    let sim = Sim::start(&["--mode", "accept"]);
    let (picked, _) = numbers();
    let http = reqwest::Client::new();
    let create = || {
        http.post(format!("{}/api/call", sim.base))
            .header("Idempotency-Key", "call-k:1")
            .json(&json!({"phone_number": picked.as_str(), "call_id": "call-k", "attempt": 1}))
            .send()
    };
    let first = create().await.unwrap();
    assert_eq!(first.status(), 201);
    let id = first.json::<Value>().await.unwrap()["call_id"].clone();
    for _ in 0..3 {
        let again = create().await.unwrap();
        assert_eq!(again.status(), 200, "the call it created before");
        assert_eq!(again.json::<Value>().await.unwrap()["call_id"], id);
    }
    // Found by its key; an unknown key was never placed.
    let found = http
        .get(format!("{}/api/call?idempotency_key=call-k:1", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 200);
    assert_eq!(found.json::<Value>().await.unwrap()["call_id"], id);
    let missing = http
        .get(format!("{}/api/call?idempotency_key=call-k:2", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let stats = stats_of(&http, &sim).await;
    assert_eq!(
        (
            &stats["requests"],
            &stats["calls_placed"],
            &stats["repeated_keys"]
        ),
        (&json!(4), &json!(1), &json!(3)),
        "{stats}"
    );
}

#[tokio::test]
async fn a_number_is_one_number_however_it_is_spelled_and_a_non_number_is_refused() {
    let sim = Sim::start(&["--mode", "accept"]);
    let http = reqwest::Client::new();
    let create = |n: u32, to: &'static str| {
        http.post(format!("{}/api/call", sim.base))
            .json(&json!({"phone_number": to, "call_id": format!("call-{n}"), "attempt": 1}))
            .send()
    };
    // E.164, as dialer sends it, is read as written; other spellings through the parser.
    for (n, to) in [
        (1, "+14155552671"),
        (2, "+1 (415) 555-2671"),
        (3, "tel:+1-415-555-2671"),
    ] {
        let placed = create(n, to).await.unwrap();
        assert_eq!(placed.status(), 201, "{to}");
    }
    for (n, to) in [(4, "not a number"), (5, "+1415"), (6, "")] {
        let refused = create(n, to).await.unwrap();
        assert_eq!(refused.status(), 400, "{to:?}");
        assert_eq!(
            refused.json::<Value>().await.unwrap()["code"],
            21211,
            "{to:?}"
        );
    }
    let stats = stats_of(&http, &sim).await;
    assert_eq!(
        (&stats["calls_placed"], &stats["max_calls_to_one_number"]),
        (&json!(3), &json!(3)),
        "{stats}"
    );
}

#[tokio::test]
async fn faults_switched_on_at_run_time_answer_late_or_with_a_5xx_and_are_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let sim = Sim::start(&["--mode", "accept", "--journal", journal.to_str().unwrap()]);
    let (picked, rnr) = numbers();
    let http = reqwest::Client::new();
    let faults = |f: Value| http.post(format!("{}/faults", sim.base)).json(&f).send();
    assert_eq!(
        faults(json!({"timeout_percent": 100, "timeout_ms": 60_000}))
            .await
            .unwrap()
            .status(),
        200
    );
    // The call is placed at once; the answer would come a minute later, so a
    // client that waits 200 ms gives up without knowing it was placed.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let r = impatient
        .post(format!("{}/api/call", sim.base))
        .header("Idempotency-Key", "late:1")
        .json(&json!({"phone_number": picked.as_str(), "call_id": "late", "attempt": 1}))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
    // Asking by the idempotency key finds the call the client never heard about.
    let found = http
        .get(format!("{}/api/call?idempotency_key=late:1", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 200);
    faults(json!({"fail_percent": 100})).await.unwrap();
    let refused = http
        .post(format!("{}/api/call", sim.base))
        .header("Idempotency-Key", "refused:1")
        .json(&json!({"phone_number": rnr.as_str(), "call_id": "refused", "attempt": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    faults(json!({})).await.unwrap();
    let entries = dialer_loadtest::sim::read_journal(&journal).unwrap();
    let results: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| (e.result.as_str(), e.fault.as_deref()))
        .collect();
    assert_eq!(
        results,
        [("placed", Some("timeout_after_placing")), ("refused", None)]
    );
    assert_eq!(entries[0].call_id, "late");
    assert_eq!(entries[0].key.as_deref(), Some("late:1"));
}

#[tokio::test]
async fn twilio_mode_posts_signed_status_callbacks_to_the_calls_status_callback() {
    let (callbacks, mut rx) = receiver().await;
    let sim = Sim::start(&["--mode", "twilio", "--twilio-auth-token", "twilio-secret"]);
    let (picked, _) = numbers();
    let status_url = format!("{callbacks}/twilio/status");
    let r = reqwest::Client::new()
        .post(format!("{}/2010-04-01/Accounts/AC123/Calls.json", sim.base))
        .form(&[
            ("To", picked.as_str()),
            ("From", "+14155550100"),
            ("StatusCallback", status_url.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let sid = r.json::<Value>().await.unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (headers, body) = next(&mut rx).await;
        let params: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            headers["x-twilio-signature"],
            signature("twilio-secret", &status_url, &params).as_str(),
            "signed as Twilio signs"
        );
        let field = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(field("CallSid").as_deref(), Some(sid.as_str()));
        assert_eq!(field("AccountSid").as_deref(), Some("AC123"));
        statuses.push(field("CallStatus").unwrap());
    }
    assert_eq!(statuses, ["ringing", "in-progress", "completed"]);
}
