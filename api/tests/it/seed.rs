//! The seed-004 contract, exactly as a client written for it uses it.

use dialer_engine::{CallId, CallStatus};
use reqwest::Method;
use serde_json::json;

use crate::server::{ADMIN, OPERATOR, PROVIDER, TestServer, VIEWER};

/// Waits for the engine's notice that `call` reached `status`.
pub async fn reached(
    notices: &mut tokio::sync::broadcast::Receiver<dialer_actors::CallNotice>,
    call: &str,
    status: CallStatus,
) {
    let id: CallId = call.parse().unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let n = notices.recv().await.unwrap();
            if n.call_id == id && n.status == status {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("call {call} did not reach {status:?}"));
}

#[tokio::test]
async fn initiate_call_answers_201_with_the_seed_fields() {
    let s = TestServer::start().await;
    let campaign = s.campaign("reminders", json!({})).await;
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            json!({"phone_number": "+14155552671", "campaign_id": campaign}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "call_id",
            "campaign_id",
            "created_at",
            "phone_number",
            "status"
        ]
    );
    assert_eq!(r.body["status"], "INITIATED");
    assert_eq!(r.body["campaign_id"], campaign);
    assert_eq!(r.body["phone_number"], "+14155552671");
    assert!(
        r.body["call_id"]
            .as_str()
            .unwrap()
            .parse::<CallId>()
            .is_ok()
    );
    assert!(
        r.body["created_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .is_ok()
    );
    // Durable: the call can be read back at once.
    let id = r.body["call_id"].as_str().unwrap();
    let got = s.get(&format!("/api/v1/calls/{id}"), VIEWER).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["origin"], "api");
    s.stop().await;
}

#[tokio::test]
async fn paths_answer_with_and_without_the_trailing_slash() {
    let s = TestServer::start().await;
    let campaign = s.campaign("c", json!({})).await;
    for path in ["/api/v1/initiate-call/", "/api/v1/initiate-call"] {
        let n = if path.ends_with('/') {
            "+14155552671"
        } else {
            "+14155552672"
        };
        let r = s
            .post(
                path,
                OPERATOR,
                json!({"phone_number": n, "campaign_id": campaign}),
            )
            .await;
        assert_eq!(r.status, 201, "{path}: {}", r.body);
    }
    for path in [
        "/api/v1/campaigns/",
        "/api/v1/campaigns",
        &format!("/api/v1/campaigns/{campaign}/"),
    ] {
        assert_eq!(s.get(path, VIEWER).await.status, 200, "{path}");
    }
    s.stop().await;
}

#[tokio::test]
async fn initiate_call_refuses_bad_input_naming_the_field() {
    let s = TestServer::start().await;
    let campaign = s.campaign("c", json!({})).await;
    let cases = [
        (
            json!({"phone_number": "12", "campaign_id": campaign}),
            "invalid_field",
            "phone_number",
        ),
        (
            json!({"phone_number": "+999 123", "campaign_id": campaign}),
            "invalid_field",
            "phone_number",
        ),
        (
            json!({"campaign_id": campaign}),
            "missing_field",
            "phone_number",
        ),
        (
            json!({"phone_number": "+14155552671"}),
            "missing_field",
            "campaign_id",
        ),
        (
            json!({"phone_number": "+14155552671", "campaign_id": "one"}),
            "invalid_field",
            "campaign_id",
        ),
        (
            json!({"phone_number": "+14155552671", "campaign_id": 0}),
            "invalid_field",
            "campaign_id",
        ),
        (
            json!({"phone_number": "+14155552671", "campaign_id": campaign, "priority": 1}),
            "invalid_field",
            "priority",
        ),
        (json!([1, 2]), "invalid_field", ""),
    ];
    for (body, code, field) in cases {
        let r = s
            .post("/api/v1/initiate-call/", OPERATOR, body.clone())
            .await;
        if field.is_empty() {
            assert_eq!(r.status, 400, "{body}: {}", r.body);
        } else {
            r.assert_error(400, code, Some(field));
        }
    }
    // Not JSON at all, and not declared as JSON.
    let r = s
        .post_raw(
            "/api/v1/initiate-call/",
            OPERATOR,
            "application/json",
            "{\"phone_number\": ",
        )
        .await;
    r.assert_error(400, "invalid_json", Some("body"));
    assert_eq!(
        (&r.body["error"]["line"], &r.body["error"]["column"]),
        (&json!(1), &json!(17)),
        "{}",
        r.body
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("body is not valid JSON: "),
        "{}",
        r.body
    );
    let r = s
        .post_raw(
            "/api/v1/initiate-call/",
            OPERATOR,
            "text/plain",
            "+14155552671",
        )
        .await;
    r.assert_error(415, "unsupported_media_type", None);
    s.stop().await;
}

#[tokio::test]
async fn initiate_call_needs_a_writing_token_and_a_known_campaign() {
    let s = TestServer::start().await;
    let campaign = s.campaign("c", json!({})).await;
    let body = json!({"phone_number": "+14155552671", "campaign_id": campaign});
    let r = s
        .send(
            Method::POST,
            "/api/v1/initiate-call/",
            None,
            Some(body.clone()),
        )
        .await;
    r.assert_error(401, "unauthorized", None);
    let r = s
        .send(
            Method::POST,
            "/api/v1/initiate-call/",
            Some("operator-token-012345678X"),
            Some(body.clone()),
        )
        .await;
    r.assert_error(401, "unauthorized", None);
    s.post("/api/v1/initiate-call/", VIEWER, body.clone())
        .await
        .assert_error(403, "forbidden", None);
    s.post("/api/v1/initiate-call/", PROVIDER, body.clone())
        .await
        .assert_error(403, "forbidden", None);
    assert_eq!(
        s.post("/api/v1/initiate-call/", ADMIN, body).await.status,
        201
    );
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            json!({"phone_number": "+14155552671", "campaign_id": 999}),
        )
        .await;
    r.assert_error(404, "not_found", None);
    s.stop().await;
}

#[tokio::test]
async fn the_same_number_in_the_same_campaign_within_the_window_is_429() {
    let s = TestServer::start().await;
    let a = s.campaign("a", json!({})).await;
    let b = s.campaign("b", json!({})).await;
    let call = |c: i64, n: &str| json!({"phone_number": n, "campaign_id": c});
    assert_eq!(
        s.post("/api/v1/initiate-call/", OPERATOR, call(a, "+14155552671"))
            .await
            .status,
        201
    );
    // The same number written differently is the same number.
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            call(a, "+1 (415) 555-2671"),
        )
        .await;
    r.assert_error(429, "duplicate_call", None);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((295..=300).contains(&wait), "{wait}");
    // Another campaign, or another number, is not a duplicate.
    assert_eq!(
        s.post("/api/v1/initiate-call/", OPERATOR, call(b, "+14155552671"))
            .await
            .status,
        201
    );
    assert_eq!(
        s.post("/api/v1/initiate-call/", OPERATOR, call(a, "+14155552672"))
            .await
            .status,
        201
    );
    s.stop().await;

    // The window is configurable; 0 turns it off.
    let s = TestServer::start_with(|c| c.duplicate_window_secs = 0).await;
    let a = s.campaign("a", json!({})).await;
    for _ in 0..2 {
        assert_eq!(
            s.post("/api/v1/initiate-call/", OPERATOR, call(a, "+14155552671"))
                .await
                .status,
            201
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn bulk_initiation_accepts_and_rejects_each_number_on_its_own() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let r = s
        .post(
            "/api/v1/initiate-call/bulk/",
            OPERATOR,
            json!({"campaign_id": c, "phone_numbers": ["+14155552671", "nope", "+14155552672", "+14155552671"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["accepted"].as_array().unwrap().len(), 2);
    let rejected = r.body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(
        (rejected[0]["index"].as_u64(), rejected[0]["code"].as_str()),
        (Some(1), Some("invalid_field"))
    );
    assert_eq!(
        (rejected[1]["index"].as_u64(), rejected[1]["code"].as_str()),
        (Some(3), Some("duplicate_call"))
    );
    let r = s
        .post(
            "/api/v1/initiate-call/bulk",
            OPERATOR,
            json!({"campaign_id": 77, "phone_numbers": []}),
        )
        .await;
    r.assert_error(404, "not_found", None);
    s.stop().await;
}

/// A call the simulator dialed but whose reports are held back, so the test is the provider.
pub async fn dialed_call(s: &TestServer, campaign: i64, number: &str) -> String {
    s.sim.detach();
    let mut notices = s.state.engine.subscribe();
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            json!({"phone_number": number, "campaign_id": campaign}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["call_id"].as_str().unwrap().to_owned();
    reached(&mut notices, &id, CallStatus::Dialing).await;
    id
}

#[tokio::test]
async fn a_picked_callback_ends_the_call_without_a_retry() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let id = dialed_call(&s, c, "+14155552671").await;
    let r = s
        .put(
            "/api/v1/callback/",
            PROVIDER,
            json!({"call_id": id, "status": "PICKED", "call_duration": 45}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"message": "Callback processed", "retry_scheduled": false, "next_retry_at": null})
    );
    let call = s.get(&format!("/api/v1/calls/{id}"), VIEWER).await.body;
    assert_eq!(call["status"], "PICKED");
    assert_eq!(call["total_call_time"], 45);
    assert_eq!(call["attempt_count"], 1);
    s.stop().await;
}

#[tokio::test]
async fn a_retryable_callback_schedules_the_next_attempt_by_the_rules() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let id = dialed_call(&s, c, "+14155552671").await;
    let r = s
        .put(
            "/api/v1/callback",
            PROVIDER,
            json!({"call_id": id, "status": "RNR"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["retry_scheduled"], true);
    let next: chrono::DateTime<chrono::Utc> =
        r.body["next_retry_at"].as_str().unwrap().parse().unwrap();
    let call = s.get(&format!("/api/v1/calls/{id}"), VIEWER).await.body;
    assert_eq!(call["status"], "RETRYING");
    assert_eq!(call["last_outcome"], "RNR");
    let ended: chrono::DateTime<chrono::Utc> =
        call["updated_at"].as_str().unwrap().parse().unwrap();
    // The campaign's rule: every minute, around the clock.
    assert_eq!((next - ended).num_seconds(), 60, "{call}");
    s.stop().await;
}

#[tokio::test]
async fn duplicate_and_late_callbacks_change_nothing_and_count_once() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let id = dialed_call(&s, c, "+14155552671").await;
    let first = s
        .put(
            "/api/v1/callback/",
            PROVIDER,
            json!({"call_id": id, "status": "DISCONNECTED"}),
        )
        .await;
    assert_eq!(first.status, 200);
    // The same report again, then reports that arrive after the end.
    let again = s
        .put(
            "/api/v1/callback/",
            PROVIDER,
            json!({"call_id": id, "status": "DISCONNECTED"}),
        )
        .await;
    assert_eq!(
        again.body, first.body,
        "a duplicate answers as the first did"
    );
    for late in ["RINGING", "IN_PROGRESS", "PICKED", "FAILED"] {
        let r = s
            .put(
                "/api/v1/callback/",
                PROVIDER,
                json!({"call_id": id, "status": late}),
            )
            .await;
        assert_eq!(r.status, 200, "{late}: {}", r.body);
        assert_eq!(r.body["retry_scheduled"], true);
    }
    let call = s.get(&format!("/api/v1/calls/{id}"), VIEWER).await.body;
    assert_eq!(call["status"], "RETRYING");
    assert_eq!(call["last_outcome"], "DISCONNECTED");
    let stats = s
        .get(&format!("/api/v1/campaigns/{c}/stats"), VIEWER)
        .await
        .body;
    assert_eq!(stats["outcomes"], json!({"DISCONNECTED": 1}), "{stats}");
    assert_eq!(stats["attempts"], 1);
    assert_eq!(stats["retries_scheduled"], 1);
    s.stop().await;
}

#[tokio::test]
async fn callbacks_refuse_bad_input() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let id = dialed_call(&s, c, "+14155552671").await;
    let put = |body| s.put("/api/v1/callback/", PROVIDER, body);
    put(json!({"call_id": id, "status": "EXPLODED"}))
        .await
        .assert_error(400, "invalid_field", Some("status"));
    put(json!({"call_id": "not-a-uuid", "status": "PICKED"}))
        .await
        .assert_error(400, "invalid_field", Some("call_id"));
    put(json!({"call_id": id}))
        .await
        .assert_error(400, "missing_field", Some("status"));
    put(json!({"call_id": id, "status": "PICKED", "call_duration": -4}))
        .await
        .assert_error(400, "invalid_field", Some("call_duration"));
    let unknown = CallId::generate(crate::server::epoch()).to_string();
    put(json!({"call_id": unknown, "status": "PICKED"}))
        .await
        .assert_error(404, "not_found", None);
    // A viewer may not report; a provider token may report but not read.
    s.put(
        "/api/v1/callback/",
        VIEWER,
        json!({"call_id": id, "status": "PICKED"}),
    )
    .await
    .assert_error(403, "forbidden", None);
    s.get("/api/v1/campaigns", PROVIDER)
        .await
        .assert_error(403, "forbidden", None);
    s.send(
        Method::PUT,
        "/api/v1/callback/",
        None,
        Some(json!({"call_id": id, "status": "PICKED"})),
    )
    .await
    .assert_error(401, "unauthorized", None);
    s.stop().await;
}
