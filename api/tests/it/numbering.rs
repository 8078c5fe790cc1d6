//! Phone validation modes and the seed's own examples: `strict` (the numbering plan) refuses the
//! seed's `+1234567890`; `e164` (syntax only), set for the engine or for one campaign, accepts
//! it — and every request of the seed document then succeeds as written, its bare-list retry
//! rules included.

use dialer_engine::PhoneValidation;
use serde_json::json;

use crate::seed::dialed_call;
use crate::server::{OPERATOR, PROVIDER, TestServer, VIEWER};

/// The seed document's retry_config.yaml, as a campaign's `retry` (a bare list of rules).
fn seed_retry() -> serde_json::Value {
    json!([
        {"day_of_week": "saturday", "start_time": "10:00:00", "end_time": "12:00:00", "retry_interval_minutes": 60},
        {"day_of_week": "saturday", "start_time": "19:00:00", "end_time": "20:00:00", "retry_interval_minutes": 30},
    ])
}

#[tokio::test]
async fn in_e164_mode_every_request_of_the_seed_document_succeeds_as_written() {
    let s = TestServer::start_with(|s| s.phone_validation = PhoneValidation::E164).await;
    let c = s.campaign("seed", json!({"retry": seed_retry()})).await;
    let campaign = s.get(&format!("/api/v1/campaigns/{c}"), VIEWER).await.body;
    assert_eq!(
        campaign["settings"]["retry"]["max_attempts"], 3,
        "{campaign}"
    );
    assert_eq!(
        campaign["settings"]["retry"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let id = dialed_call(&s, c, "+1234567890").await;
    let call = s.get(&format!("/api/v1/calls/{id}"), VIEWER).await.body;
    assert_eq!(call["phone_number"], "+1234567890");
    let r = s
        .put(
            "/api/v1/callback/",
            PROVIDER,
            json!({"call_id": id, "status": "PICKED", "call_duration": 45}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["message"], "Callback processed");
    let r = s.get("/api/v1/metrics", VIEWER).await;
    assert_eq!(r.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn strict_refuses_what_the_plan_cannot_assign_and_a_campaign_may_choose_e164() {
    let s = TestServer::start().await;
    let strict = s.campaign("strict", json!({})).await;
    let call = |c: i64, n: &str| json!({"phone_number": n, "campaign_id": c});
    s.post(
        "/api/v1/initiate-call/",
        OPERATOR,
        call(strict, "+1234567890"),
    )
    .await
    .assert_error(400, "invalid_field", Some("phone_number"));
    let loose = s
        .campaign("loose", json!({"phone_validation": "e164"}))
        .await;
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            call(loose, "+1234567890"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Syntax only: a country code that does not exist is fine (test ranges use such numbers)...
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            call(loose, "+9991234567"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["phone_number"], "+9991234567");
    // ...but the syntax counts: too short, too long, spaces, no plus, a leading 0.
    for bad in [
        "+1234567",
        "+1234567890123456",
        "+123 456 7890",
        "1234567890",
        "+0234567890",
    ] {
        let r = s
            .post("/api/v1/initiate-call/", OPERATOR, call(loose, bad))
            .await;
        r.assert_error(400, "invalid_field", Some("phone_number"));
    }
    // What the plan accepts is normalized in either mode.
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            call(loose, "+1 (415) 555-2671"),
        )
        .await;
    assert_eq!(r.body["phone_number"], "+14155552671");
    // The mode is part of the campaign's settings; an unknown one is refused naming it.
    let r = s
        .post(
            "/api/v1/campaigns/",
            OPERATOR,
            json!({"name": "x", "settings": {"phone_validation": "lenient"}}),
        )
        .await;
    r.assert_error(400, "invalid_field", Some("settings.phone_validation"));
    s.stop().await;
}
