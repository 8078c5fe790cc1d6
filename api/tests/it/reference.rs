//! The reference implementation's routes and fields, as its clients call them.

use serde_json::json;

use crate::server::{OPERATOR, TestServer, VIEWER};

#[tokio::test]
async fn phone_numbers_adds_a_campaign_s_numbers_in_the_reference_shape() {
    let s = TestServer::start().await;
    let c = s.campaign("numbers", json!({})).await;
    let body = json!({"campaign_id": c, "phone_numbers": ["+14155552671", "+1 415 555 2672", "12", "+14155552671"]});
    let r = s
        .post("/api/v1/phone-numbers/", OPERATOR, body.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["created_count"], 2);
    assert_eq!(
        r.body["created_numbers"],
        json!(["+14155552671", "+14155552672"])
    );
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", r.body);
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .starts_with("Invalid phone number: 12")
    );
    // They are the campaign's contacts, and again adds none.
    let contacts = s
        .get(&format!("/api/v1/campaigns/{c}/contacts"), VIEWER)
        .await;
    assert_eq!(
        contacts.body.as_array().map(Vec::len),
        Some(2),
        "{}",
        contacts.body
    );
    let again = s.post("/api/v1/phone-numbers", OPERATOR, body).await;
    assert_eq!(
        (again.status, &again.body["created_count"]),
        (201, &json!(0))
    );
    // Either field missing or empty is a 400 naming it; an unknown or inactive campaign 404.
    s.post(
        "/api/v1/phone-numbers/",
        OPERATOR,
        json!({"phone_numbers": ["+14155552671"]}),
    )
    .await
    .assert_error(400, "missing_field", Some("campaign_id"));
    s.post(
        "/api/v1/phone-numbers/",
        OPERATOR,
        json!({"campaign_id": c, "phone_numbers": []}),
    )
    .await
    .assert_error(400, "invalid_field", Some("phone_numbers"));
    s.post(
        "/api/v1/phone-numbers/",
        OPERATOR,
        json!({"campaign_id": 999, "phone_numbers": ["+14155552671"]}),
    )
    .await
    .assert_error(404, "not_found", None);
    let r = s
        .post(
            "/api/v1/campaigns/",
            OPERATOR,
            json!({"name": "off", "is_active": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let off = r.body["id"].as_i64().unwrap();
    s.post(
        "/api/v1/phone-numbers/",
        OPERATOR,
        json!({"campaign_id": off, "phone_numbers": ["+14155552671"]}),
    )
    .await
    .assert_error(404, "not_found", None);
    s.stop().await;
}

#[tokio::test]
async fn bulk_initiate_calls_places_calls_and_reports_the_queue_in_the_reference_shape() {
    let s = TestServer::start().await;
    let c = s.campaign("bulk", json!({})).await;
    let r = s
        .post(
            "/api/v1/bulk-initiate-calls/",
            OPERATOR,
            json!({"campaign_id": c, "phone_numbers": ["+14155552671", "+14155552672", "nope"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["success"], true);
    assert_eq!(b["campaign_id"], c);
    assert_eq!(b["campaign_name"], "bulk");
    assert_eq!(b["total_requested"], 3);
    assert_eq!(b["failed"], 1);
    assert_eq!(b["failed_count"], 1);
    assert_eq!(b["failed_numbers"][0]["phone_number"], "nope");
    assert_eq!(b["call_ids"].as_array().unwrap().len(), 2);
    let accepted =
        b["immediate_processed"].as_u64().unwrap() + b["queued_for_later"].as_u64().unwrap();
    assert_eq!(accepted, 2);
    for key in [
        "available_slots",
        "immediate_processed",
        "queued_pending",
        "total_in_queue",
        "message",
    ] {
        assert!(b["queue_info"].get(key).is_some(), "queue_info.{key}: {b}");
    }
    assert!(b["batch_id"].as_str().is_some_and(|id| !id.is_empty()));
    // Each is a real call.
    let id = b["call_ids"][0].as_str().unwrap();
    assert_eq!(
        s.get(&format!("/api/v1/calls/{id}"), VIEWER).await.status,
        200
    );
    // No failures: no failed_numbers at all.
    let r = s
        .post(
            "/api/v1/bulk-initiate-calls",
            OPERATOR,
            json!({"campaign_id": c, "phone_numbers": ["+14155552673"]}),
        )
        .await;
    assert!(r.body.get("failed_numbers").is_none(), "{}", r.body);

    // The campaign's own numbers, while it is not running (a running one dials them itself).
    let own = s.campaign("own", json!({})).await;
    s.post(
        "/api/v1/phone-numbers",
        OPERATOR,
        json!({"campaign_id": own, "phone_numbers": ["+14155552681", "+14155552682"]}),
    )
    .await;
    let r = s
        .post(
            "/api/v1/bulk-initiate-calls",
            OPERATOR,
            json!({"campaign_id": own, "use_campaign_numbers": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["call_ids"].as_array().unwrap().len(), 2);
    assert_eq!(
        s.post(
            &format!("/api/v1/campaigns/{own}/start"),
            OPERATOR,
            json!({})
        )
        .await
        .status,
        200
    );
    s.post(
        "/api/v1/bulk-initiate-calls",
        OPERATOR,
        json!({"campaign_id": own, "use_campaign_numbers": true}),
    )
    .await
    .assert_error(409, "conflict", None);
    s.post(
        "/api/v1/bulk-initiate-calls",
        OPERATOR,
        json!({"phone_numbers": ["+14155552671"]}),
    )
    .await
    .assert_error(400, "missing_field", Some("campaign_id"));
    s.post(
        "/api/v1/bulk-initiate-calls",
        OPERATOR,
        json!({"campaign_id": c}),
    )
    .await
    .assert_error(400, "missing_field", Some("phone_numbers"));
    s.post(
        "/api/v1/bulk-initiate-calls",
        OPERATOR,
        json!({"campaign_id": 999, "phone_numbers": ["+14155552671"]}),
    )
    .await
    .assert_error(404, "not_found", None);
    s.stop().await;
}

#[tokio::test]
async fn metrics_answers_the_reference_fields_with_today_s_figures() {
    let s = TestServer::start().await;
    let c = s.campaign("m", json!({})).await;
    for n in 0..3 {
        let r = s
            .post(
                "/api/v1/initiate-call/",
                OPERATOR,
                json!({"campaign_id": c, "phone_number": format!("+1415555{n:04}")}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let m = s.get("/api/v1/metrics/", VIEWER).await.body;
    assert!(m["current_concurrent_calls"].as_u64().is_some(), "{m}");
    assert_eq!(m["max_concurrent_calls"], 100);
    assert!(["healthy", "at_capacity"].contains(&m["system_status"].as_str().unwrap()));
    let days = m["recent_metrics"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let today = s.state.engine.clock().now().date_naive().to_string();
    assert_eq!(days[0]["date"], today.as_str());
    assert_eq!(days[0]["total_calls_initiated"], 3, "{m}");
    for key in [
        "total_calls_picked",
        "total_calls_disconnected",
        "total_calls_rnr",
        "total_calls_failed",
        "total_retries",
        "peak_concurrent_calls",
        "total_call_duration_seconds",
    ] {
        assert!(days[0][key].is_number(), "{key}: {m}");
    }
    assert!(
        m["totals"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("day.")),
        "daily counters stay out of the totals: {m}"
    );
    s.stop().await;
}
