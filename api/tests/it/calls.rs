//! Scheduled one-off calls: create at a time, list with filters and cursor pagination, read with
//! the full event history, cancel.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use dialer_engine::CallStatus;
use serde_json::{Value, json};

use crate::seed::reached;
use crate::server::{OPERATOR, TestServer, VIEWER, settings};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn now(s: &TestServer) -> DateTime<Utc> {
    s.state.engine.clock().now()
}

#[tokio::test]
async fn scheduled_calls_are_listed_filtered_paged_and_cancelled() {
    let s = TestServer::start().await;
    let a = s.campaign("a", json!({})).await;
    let b = s.campaign("b", json!({})).await;
    let at = now(&s) + Duration::hours(2);
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = s
            .post(
                "/api/v1/calls/",
                OPERATOR,
                json!({"campaign_id": a, "phone_number": format!("+1415555{:04}", 2600 + i), "scheduled_at": rfc3339(at + Duration::minutes(i))}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            (r.body["status"].as_str(), r.body["origin"].as_str()),
            (Some("SCHEDULED"), Some("scheduled"))
        );
        // Compared as instants: a whole second is written without its `.000`.
        let scheduled: DateTime<Utc> = r.body["scheduled_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            scheduled.timestamp_millis(),
            (at + Duration::minutes(i)).timestamp_millis()
        );
        ids.push(r.body["call_id"].as_str().unwrap().to_owned());
    }
    let other = s
        .post(
            "/api/v1/calls",
            OPERATOR,
            json!({"campaign_id": b, "phone_number": "+14155559999", "scheduled_at": rfc3339(at)}),
        )
        .await;
    assert_eq!(other.status, 201);

    // Newest first, two per page, following the cursor.
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/calls?campaign_id={a}&status=SCHEDULED&limit=2");
    loop {
        let page = s.get(&path, VIEWER).await;
        assert_eq!(page.status, 200, "{}", page.body);
        seen.extend(
            page.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["call_id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!(
                    "/api/v1/calls?campaign_id={a}&status=SCHEDULED&limit=2&cursor={cursor}"
                )
            }
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    // Filtered by the time they are scheduled for: [at + 1 min, at + 3 min).
    let window = format!(
        "/api/v1/calls?origin=scheduled&from={}&to={}",
        rfc3339(at + Duration::minutes(1)).replace('+', "%2B"),
        rfc3339(at + Duration::minutes(3))
    );
    let got = s.get(&window, VIEWER).await.body;
    let got: Vec<&str> = got["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);

    // Cancel one: it is never dialed, and cancelling again is a conflict.
    let r = s
        .post(
            &format!("/api/v1/calls/{}/cancel", ids[0]),
            OPERATOR,
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("CANCELLED")),
        "{}",
        r.body
    );
    s.post(
        &format!("/api/v1/calls/{}/cancel/", ids[0]),
        OPERATOR,
        json!({}),
    )
    .await
    .assert_error(409, "conflict", None);
    let cancelled = s.get("/api/v1/calls?status=CANCELLED", VIEWER).await.body;
    assert_eq!(cancelled["results"].as_array().unwrap().len(), 1);
    s.post(
        &format!("/api/v1/calls/{}/cancel", ids[1]),
        VIEWER,
        json!({}),
    )
    .await
    .assert_error(403, "forbidden", None);
    s.stop().await;
}

#[tokio::test]
async fn call_queries_and_schedules_refuse_bad_input() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let t = now(&s);
    let schedule = |body: Value| s.post("/api/v1/calls", OPERATOR, body);
    schedule(json!({"campaign_id": c, "phone_number": "+14155552671", "scheduled_at": rfc3339(t - Duration::hours(1))}))
        .await
        .assert_error(400, "invalid_field", Some("scheduled_at"));
    schedule(json!({"campaign_id": c, "phone_number": "+14155552671", "scheduled_at": rfc3339(t + Duration::days(400))}))
        .await
        .assert_error(400, "invalid_field", Some("scheduled_at"));
    schedule(json!({"campaign_id": c, "phone_number": "+14155552671", "scheduled_at": "tomorrow"}))
        .await
        .assert_error(400, "invalid_field", Some("scheduled_at"));
    schedule(json!({"campaign_id": c, "phone_number": "555"}))
        .await
        .assert_error(400, "invalid_field", Some("phone_number"));
    schedule(json!({"campaign_id": 42, "phone_number": "+14155552671"}))
        .await
        .assert_error(404, "not_found", None);
    s.get("/api/v1/calls?status=SLEEPING", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("status"));
    s.get("/api/v1/calls?origin=fax", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("origin"));
    s.get("/api/v1/calls?cursor=xyz", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("cursor"));
    let t1 = rfc3339(t);
    // An empty range is a question with no answer, not a mistake.
    let r = s
        .get(&format!("/api/v1/calls?from={t1}&to={t1}"), VIEWER)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["results"], json!([]));
    s.get("/api/v1/calls?colour=red", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("colour"));
    s.get("/api/v1/calls/not-a-call", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("call_id"));
    let unknown = dialer_engine::CallId::generate(t);
    s.get(&format!("/api/v1/calls/{unknown}"), VIEWER)
        .await
        .assert_error(404, "not_found", None);
    s.post(
        &format!("/api/v1/calls/{unknown}/cancel"),
        OPERATOR,
        json!({}),
    )
    .await
    .assert_error(404, "not_found", None);
    s.stop().await;
}

#[tokio::test]
async fn a_scheduled_call_is_dialed_when_due_and_its_history_tells_the_story() {
    // A minute of wall time per real second.
    let dir = tempfile::tempdir().unwrap();
    let config = settings(dir.path());
    let s = TestServer::start_in(dir, config, 60).await;
    let c = s
        .campaign("c", json!({"sim": {"picked": 1, "disconnected": 0, "rnr": 0, "failed": 0, "ring_min_ms": 3000, "ring_max_ms": 3000, "talk_min_secs": 20, "talk_max_secs": 20}}))
        .await;
    let mut notices = s.state.engine.subscribe();
    let due = now(&s) + Duration::minutes(1);
    let r = s
        .post(
            "/api/v1/calls",
            OPERATOR,
            json!({"campaign_id": c, "phone_number": "+14155552671", "scheduled_at": rfc3339(due)}),
        )
        .await;
    let id = r.body["call_id"].as_str().unwrap().to_owned();
    reached(&mut notices, &id, CallStatus::Picked).await;

    let call = s.get(&format!("/api/v1/calls/{id}"), VIEWER).await.body;
    assert_eq!(call["status"], "PICKED");
    assert_eq!(call["total_call_time"], 20);
    let dialed: DateTime<Utc> = call["last_attempt_at"].as_str().unwrap().parse().unwrap();
    assert!(dialed >= due, "dialed at {dialed}, due at {due}");
    // Every decision and every provider report, in order: (kind, status it led to).
    let history: Vec<(&str, &str)> = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["to_status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("created", "SCHEDULED"),
            ("due", "INITIATED"),
            ("dialed", "DIALING"),
            ("provider_status", "RINGING"),
            ("provider_status", "IN_PROGRESS"),
            ("provider_status", "PICKED"),
            ("ended", "PICKED"),
        ],
        "{call}"
    );
    assert_eq!(call["events"][5]["detail"]["raw"], "completed");
    s.stop().await;
}

/// `POST /api/v1/calls` and initiate-call share one duplicate window: the same number in the
/// same campaign is refused by either route while an earlier one is within it.
#[tokio::test]
async fn scheduling_a_call_honours_the_duplicate_window_of_initiate_call() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let later = rfc3339(now(&s) + Duration::hours(2));
    let body = json!({"campaign_id": c, "phone_number": "+14155552671", "scheduled_at": later});
    assert_eq!(
        s.post("/api/v1/calls", OPERATOR, body.clone()).await.status,
        201
    );
    s.post("/api/v1/calls", OPERATOR, body)
        .await
        .assert_error(429, "duplicate_call", None);
    s.post(
        "/api/v1/initiate-call",
        OPERATOR,
        json!({"campaign_id": c, "phone_number": "+14155552671"}),
    )
    .await
    .assert_error(429, "duplicate_call", None);
    // Another number, or the same one in another campaign, is not a duplicate.
    let other = s.campaign("other", json!({})).await;
    let r = s
        .post(
            "/api/v1/calls",
            OPERATOR,
            json!({"campaign_id": other, "phone_number": "+14155552671"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    s.stop().await;
}
