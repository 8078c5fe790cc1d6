//! The do-not-call list: add, bulk add, check, remove (admin only), list; dialing honours it.

use dialer_engine::CallStatus;
use reqwest::Method;
use serde_json::json;

use crate::seed::reached;
use crate::server::{ADMIN, OPERATOR, TestServer, VIEWER};

#[tokio::test]
async fn numbers_are_added_checked_listed_and_removed() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/api/v1/dnc/",
            OPERATOR,
            json!({"phone_number": "+1 (415) 555-2671"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["phone_number"].as_str(), r.body["kind"].as_str()),
        (Some("+14155552671"), Some("dnc"))
    );
    assert_eq!(r.body["source"], "api:ops");
    // Adding again keeps the first entry.
    let again = s
        .post(
            "/api/v1/dnc",
            ADMIN,
            json!({"phone_number": "+14155552671"}),
        )
        .await;
    assert_eq!(
        (again.status, again.body["source"].as_str()),
        (200, Some("api:ops"))
    );
    assert_eq!(
        s.post(
            "/api/v1/dnc",
            OPERATOR,
            json!({"phone_number": "4155552671", "region": "US", "kind": "opt_out"})
        )
        .await
        .status,
        201
    );

    let check = s.get("/api/v1/dnc/%2B14155552671", VIEWER).await;
    assert_eq!(check.status, 200, "{}", check.body);
    assert_eq!(check.body["blocked"], true);
    let kinds: Vec<&str> = check.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"dnc") && kinds.contains(&"opt_out"));
    assert_eq!(
        s.get("/api/v1/dnc/+14155552672", VIEWER).await.body["blocked"],
        false
    );

    let bulk = s
        .post("/api/v1/dnc/bulk", OPERATOR, json!({"phone_numbers": ["+14155552672", "+14155552673", "+14155552672", "+14155552671", "bogus"]}))
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    assert_eq!(
        (
            bulk.body["added"].as_u64(),
            bulk.body["already_listed"].as_u64()
        ),
        (Some(2), Some(1)),
        "{}",
        bulk.body
    );
    assert_eq!(bulk.body["invalid"][0]["line"], 5);

    // Pages of two, following the cursor.
    let mut all = Vec::new();
    let mut path = "/api/v1/dnc?limit=2".to_owned();
    loop {
        let page = s.get(&path, VIEWER).await.body;
        all.extend(page["results"].as_array().unwrap().iter().map(|e| {
            format!(
                "{} {}",
                e["phone_number"].as_str().unwrap(),
                e["kind"].as_str().unwrap()
            )
        }));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/dnc?limit=2&cursor={}", c.replace('+', "%2B")),
            None => break,
        }
    }
    assert_eq!(all.len(), 4, "{all:?}");
    let opt_outs = s.get("/api/v1/dnc?kind=opt_out", VIEWER).await.body;
    assert_eq!(opt_outs["results"].as_array().unwrap().len(), 1);

    // Removing is an admin action; the opt-out stays until it is removed itself.
    let remove = |token, path: &'static str| s.send(Method::DELETE, path, Some(token), None);
    remove(OPERATOR, "/api/v1/dnc/%2B14155552671")
        .await
        .assert_error(403, "forbidden", None);
    assert_eq!(
        remove(ADMIN, "/api/v1/dnc/%2B14155552671").await.status,
        204
    );
    remove(ADMIN, "/api/v1/dnc/%2B14155552671")
        .await
        .assert_error(404, "not_found", None);
    let check = s.get("/api/v1/dnc/%2B14155552671", VIEWER).await.body;
    assert_eq!(
        (
            check["blocked"].as_bool(),
            check["entries"][0]["kind"].as_str()
        ),
        (Some(true), Some("opt_out"))
    );
    assert_eq!(
        remove(ADMIN, "/api/v1/dnc/%2B14155552671?kind=opt_out")
            .await
            .status,
        204
    );
    assert_eq!(
        s.get("/api/v1/dnc/%2B14155552671", VIEWER).await.body["blocked"],
        false
    );
    s.stop().await;
}

#[tokio::test]
async fn dnc_mistakes_name_the_field() {
    let s = TestServer::start().await;
    s.post("/api/v1/dnc", OPERATOR, json!({"phone_number": "12"}))
        .await
        .assert_error(400, "invalid_field", Some("phone_number"));
    s.post(
        "/api/v1/dnc",
        OPERATOR,
        json!({"phone_number": "+14155552671", "kind": "maybe"}),
    )
    .await
    .assert_error(400, "invalid_field", Some("kind"));
    s.post(
        "/api/v1/dnc",
        OPERATOR,
        json!({"phone_number": "4155552671", "region": "Atlantis"}),
    )
    .await
    .assert_error(400, "invalid_field", Some("region"));
    s.post(
        "/api/v1/dnc",
        VIEWER,
        json!({"phone_number": "+14155552671"}),
    )
    .await
    .assert_error(403, "forbidden", None);
    s.get("/api/v1/dnc/nonsense", VIEWER).await.assert_error(
        400,
        "invalid_field",
        Some("phone_number"),
    );
    s.get("/api/v1/dnc?cursor=zzz", VIEWER).await.assert_error(
        400,
        "invalid_field",
        Some("cursor"),
    );
    s.stop().await;
}

#[tokio::test]
async fn a_listed_number_is_never_dialed() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    assert_eq!(
        s.post(
            "/api/v1/dnc",
            OPERATOR,
            json!({"phone_number": "+14155552671"})
        )
        .await
        .status,
        201
    );
    let mut notices = s.state.engine.subscribe();
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            json!({"phone_number": "+14155552671", "campaign_id": c}),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "the call is accepted, then blocked by the dispatcher"
    );
    let id = r.body["call_id"].as_str().unwrap().to_owned();
    reached(&mut notices, &id, CallStatus::BlockedDnc).await;
    assert!(s.sim.record().dials.is_empty());
    let stats = s
        .get(&format!("/api/v1/campaigns/{c}/stats"), VIEWER)
        .await
        .body;
    assert_eq!(stats["blocked"], json!({"dnc": 1}), "{stats}");
    assert_eq!(stats["attempts"], 0);
    s.stop().await;
}
