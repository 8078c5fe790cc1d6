//! Archiving a campaign hides it from the list and keeps its calls; only a draft that never
//! called anyone can be deleted, with its contacts.

use reqwest::Method;
use serde_json::json;

use crate::seed::dialed_call;
use crate::server::{ADMIN, OPERATOR, TestServer, VIEWER};

#[tokio::test]
async fn an_archived_campaign_leaves_the_list_keeps_its_calls_and_takes_no_new_ones() {
    let s = TestServer::start().await;
    let c = s.campaign("old", json!({})).await;
    let other = s.campaign("current", json!({})).await;
    let call = dialed_call(&s, c, "+14155552671").await;
    let archive = format!("/api/v1/campaigns/{c}/archive");
    // Dialing: stop it first.
    s.post(&format!("/api/v1/campaigns/{c}/start"), OPERATOR, json!({}))
        .await;
    s.post(&archive, OPERATOR, json!({}))
        .await
        .assert_error(409, "conflict", None);
    s.post(&format!("/api/v1/campaigns/{c}/stop"), OPERATOR, json!({}))
        .await;
    let r = s.post(&archive, OPERATOR, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["archived_at"].is_string(), "{}", r.body);
    assert_eq!(r.body["is_active"], false);
    let ids = |list: &serde_json::Value| -> Vec<i64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&s.get("/api/v1/campaigns", VIEWER).await.body), [other]);
    // A page of one still finds the next campaign that is not archived.
    assert_eq!(
        ids(&s.get("/api/v1/campaigns?limit=1", VIEWER).await.body),
        [other]
    );
    assert_eq!(
        ids(&s.get("/api/v1/campaigns?archived=true", VIEWER).await.body),
        [c, other]
    );
    // Its record, calls and audit are all still there.
    assert_eq!(
        s.get(&format!("/api/v1/campaigns/{c}"), VIEWER)
            .await
            .status,
        200
    );
    let r = s.get(&format!("/api/v1/calls/{call}"), VIEWER).await;
    assert_eq!(r.status, 200);
    assert!(!r.body["events"].as_array().unwrap().is_empty());
    // No new calls, no restart, no delete.
    s.post(
        "/api/v1/initiate-call",
        OPERATOR,
        json!({"campaign_id": c, "phone_number": "+14155552672"}),
    )
    .await
    .assert_error(409, "conflict", None);
    s.post(&format!("/api/v1/campaigns/{c}/start"), OPERATOR, json!({}))
        .await
        .assert_error(409, "conflict", None);
    s.send(
        Method::DELETE,
        &format!("/api/v1/campaigns/{c}"),
        Some(ADMIN),
        None,
    )
    .await
    .assert_error(409, "conflict", None);
    // Unarchived, it is listed again (and stays inactive until made active).
    let r = s
        .post(
            &format!("/api/v1/campaigns/{c}/unarchive"),
            OPERATOR,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("archived_at").is_none(), "{}", r.body);
    assert_eq!(
        ids(&s.get("/api/v1/campaigns", VIEWER).await.body),
        [c, other]
    );
    s.stop().await;
}

#[tokio::test]
async fn a_draft_without_calls_is_deleted_with_its_contacts_and_nothing_else_is() {
    let s = TestServer::start().await;
    let draft = s.campaign("typo", json!({})).await;
    let r = s
        .post(
            &format!("/api/v1/campaigns/{draft}/phone-numbers"),
            OPERATOR,
            json!({"phone_numbers": ["+14155552671", "+14155552672"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let path = format!("/api/v1/campaigns/{draft}");
    // An admin's decision: an operator may archive, not delete.
    s.send(Method::DELETE, &path, Some(OPERATOR), None)
        .await
        .assert_error(403, "forbidden", None);
    let r = s.send(Method::DELETE, &path, Some(ADMIN), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    s.get(&path, VIEWER)
        .await
        .assert_error(404, "not_found", None);
    s.get(&format!("{path}/contacts"), VIEWER)
        .await
        .assert_error(404, "not_found", None);
    s.send(Method::DELETE, &path, Some(ADMIN), None)
        .await
        .assert_error(404, "not_found", None);
    // A draft that placed a one-off call keeps it: archive it instead.
    let called = s.campaign("called", json!({})).await;
    dialed_call(&s, called, "+14155552673").await;
    s.send(
        Method::DELETE,
        &format!("/api/v1/campaigns/{called}"),
        Some(ADMIN),
        None,
    )
    .await
    .assert_error(409, "conflict", None);
    s.stop().await;
}
