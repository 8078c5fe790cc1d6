//! Campaigns: the seed's CRUD fields, settings validation, lifecycle actions and roles.

use dialer_engine::CampaignState;
use reqwest::Method;
use serde_json::json;

use crate::server::{ADMIN, OPERATOR, TestServer, VIEWER};

#[tokio::test]
async fn campaigns_are_created_listed_read_and_updated_with_the_seed_fields() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/api/v1/campaigns/",
            OPERATOR,
            json!({"name": "  Dental reminders ", "description": "June"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let c = r.body;
    for field in [
        "id",
        "name",
        "description",
        "is_active",
        "created_at",
        "updated_at",
    ] {
        assert!(c.get(field).is_some(), "{field} missing from {c}");
    }
    assert_eq!(c["name"], "Dental reminders");
    assert_eq!(c["is_active"], true);
    assert_eq!(c["state"], "draft");
    assert_eq!(c["settings"]["provider"], "sim");
    assert_eq!(c["settings"]["retry"]["max_attempts"], 3);
    let id = c["id"].as_i64().unwrap();
    assert!(id > 0);

    let second = s
        .post(
            "/api/v1/campaigns",
            ADMIN,
            json!({"name": "Wake-up", "is_active": false}),
        )
        .await
        .body;
    let list = s.get("/api/v1/campaigns/", VIEWER).await;
    assert_eq!(list.status, 200);
    let ids: Vec<i64> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [id, second["id"].as_i64().unwrap()]);
    let page = s
        .get(&format!("/api/v1/campaigns?after={id}&limit=5"), VIEWER)
        .await
        .body;
    assert_eq!(page.as_array().unwrap().len(), 1);

    let got = s.get(&format!("/api/v1/campaigns/{id}/"), VIEWER).await;
    assert_eq!(got.body, c);

    // PUT with changed fields; a client may send back what it read (id, timestamps, state).
    let mut edited = c.clone();
    edited["description"] = json!("June and July");
    edited["settings"] = json!({"max_concurrent": 25, "time_zone": "America/Chicago"});
    let r = s
        .put(&format!("/api/v1/campaigns/{id}/"), OPERATOR, edited)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["description"], "June and July");
    assert_eq!(r.body["settings"]["max_concurrent"], 25);
    assert_eq!(r.body["settings"]["time_zone"], "America/Chicago");
    assert_eq!(
        r.body["settings"]["provider"], "sim",
        "unchanged settings are kept"
    );
    assert_eq!(r.body["created_at"], c["created_at"]);
    let r = s
        .send(
            Method::PATCH,
            &format!("/api/v1/campaigns/{id}"),
            Some(OPERATOR),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["is_active"], false);
    assert_eq!(r.body["description"], "June and July");
    // And it is stored.
    assert_eq!(
        s.get(&format!("/api/v1/campaigns/{id}"), VIEWER).await.body,
        r.body
    );
    s.stop().await;
}

#[tokio::test]
async fn campaign_mistakes_name_the_field_and_the_rule() {
    let s = TestServer::start().await;
    let create = |body| s.post("/api/v1/campaigns", OPERATOR, body);
    create(json!({"name": ""}))
        .await
        .assert_error(400, "invalid_field", Some("name"));
    create(json!({"description": "x"}))
        .await
        .assert_error(400, "missing_field", Some("name"));
    create(json!({"name": "x", "settings": {"max_concurrent": 0}}))
        .await
        .assert_error(400, "invalid_field", Some("settings.max_concurrent"));
    create(json!({"name": "x", "settings": {"max_concurrent": "ten"}}))
        .await
        .assert_error(400, "invalid_field", Some("settings.max_concurrent"));
    create(json!({"name": "x", "settings": {"time_zone": "Mars/Olympus"}}))
        .await
        .assert_error(400, "invalid_field", Some("settings.time_zone"));
    create(json!({"name": "x", "settings": {"provider": "acme"}}))
        .await
        .assert_error(400, "invalid_field", Some("settings.provider"));
    create(json!({"name": "x", "settings": {"calling_hours": [{"day_of_week": "daily", "start_time": "21:00", "end_time": "08:00"}]}}))
        .await
        .assert_error(400, "invalid_field", Some("settings.calling_hours[0]"));
    create(json!({"name": "x", "settings": {"retry": {"max_attempts": 0}}}))
        .await
        .assert_error(400, "invalid_field", Some("settings.retry.max_attempts"));
    create(json!({"name": "x", "settings": {"colour": "red"}}))
        .await
        .assert_error(400, "invalid_field", Some("settings.colour"));
    create(json!({"name": "x", "settings": [1]}))
        .await
        .assert_error(400, "invalid_field", Some("settings"));
    let id = s.campaign("c", json!({})).await;
    let r = s
        .put(
            &format!("/api/v1/campaigns/{id}"),
            OPERATOR,
            json!({"settings": {"max_calls_per_second": 0}}),
        )
        .await;
    r.assert_error(400, "invalid_field", Some("settings.max_calls_per_second"));
    s.get("/api/v1/campaigns/abc", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("id"));
    s.get("/api/v1/campaigns/404", VIEWER)
        .await
        .assert_error(404, "not_found", None);
    s.put("/api/v1/campaigns/404", OPERATOR, json!({"name": "y"}))
        .await
        .assert_error(404, "not_found", None);
    s.stop().await;
}

#[tokio::test]
async fn a_viewer_reads_but_changes_nothing() {
    let s = TestServer::start().await;
    let id = s.campaign("c", json!({})).await;
    s.post("/api/v1/campaigns", VIEWER, json!({"name": "x"}))
        .await
        .assert_error(403, "forbidden", None);
    s.put(
        &format!("/api/v1/campaigns/{id}"),
        VIEWER,
        json!({"name": "x"}),
    )
    .await
    .assert_error(403, "forbidden", None);
    for action in ["start", "pause", "resume", "stop"] {
        s.post(
            &format!("/api/v1/campaigns/{id}/{action}"),
            VIEWER,
            json!({}),
        )
        .await
        .assert_error(403, "forbidden", None);
    }
    assert_eq!(
        s.get(&format!("/api/v1/campaigns/{id}"), VIEWER).await.body["name"],
        "c"
    );
    assert_eq!(
        s.get(&format!("/api/v1/campaigns/{id}/stats"), VIEWER)
            .await
            .status,
        200
    );
    s.stop().await;
}

#[tokio::test]
async fn lifecycle_actions_move_the_campaign_and_refuse_what_its_state_forbids() {
    let s = TestServer::start().await;
    let id = s
        .campaign(
            "c",
            json!({"sim": {"ring_min_ms": 600000, "ring_max_ms": 600000}}),
        )
        .await;
    let csv = "phone_number\n+14155552671\n+14155552672\n+14155552673\n";
    assert_eq!(
        s.post_raw(
            &format!("/api/v1/campaigns/{id}/contacts/import"),
            OPERATOR,
            "text/csv",
            csv
        )
        .await
        .status,
        200
    );
    let act = |a: &'static str| {
        let path = format!("/api/v1/campaigns/{id}/{a}");
        let s = &s;
        async move { s.send(Method::POST, &path, Some(OPERATOR), None).await }
    };

    act("pause").await.assert_error(409, "conflict", None);
    let r = act("start").await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (200, Some("running")),
        "{}",
        r.body
    );
    // Repeating an action that is already in effect is harmless (a client may retry).
    assert_eq!(act("start").await.body["state"], "running");
    assert_eq!(act("pause").await.body["state"], "paused");
    assert_eq!(act("resume").await.body["state"], "running");
    let r = act("stop").await;
    assert_eq!(r.body["state"], "stopped", "{}", r.body);
    assert!(r.body["cancelled_calls"].as_u64().is_some());
    act("resume").await.assert_error(409, "conflict", None);
    act("start").await.assert_error(409, "conflict", None);
    s.wait_for(
        id,
        CampaignState::Stopped,
        std::time::Duration::from_secs(5),
    )
    .await;
    s.post("/api/v1/campaigns/99/start", OPERATOR, json!({}))
        .await
        .assert_error(404, "not_found", None);
    s.stop().await;
}

#[tokio::test]
async fn stats_report_a_campaigns_numbers() {
    let s = TestServer::start().await;
    let id = s.campaign("c", json!({})).await;
    let stats = s
        .get(&format!("/api/v1/campaigns/{id}/stats"), VIEWER)
        .await;
    assert_eq!(stats.status, 200);
    let b = stats.body;
    assert_eq!(
        (b["campaign_id"].as_i64(), b["state"].as_str()),
        (Some(id), Some("draft"))
    );
    for zero in [
        "contacts",
        "calls",
        "attempts",
        "picked",
        "retries_scheduled",
        "retries_pending",
        "opt_outs",
        "in_flight",
    ] {
        assert_eq!(b[zero], 0, "{zero}: {b}");
    }
    assert_eq!(b["pick_up_rate"], 0.0);
    s.stop().await;
}

/// A campaign's stats keep its list and its one-off calls apart, and say what calls wait for
/// while its owner runs.
#[tokio::test]
async fn stats_split_list_and_one_off_calls_and_say_what_calls_wait_for() {
    let s = TestServer::start().await;
    let c = s.campaign("split", json!({"max_concurrent": 2})).await;
    let numbers: Vec<String> = (0..6).map(|i| format!("+1415555{i:04}")).collect();
    let r = s
        .post(
            &format!("/api/v1/campaigns/{c}/phone-numbers"),
            OPERATOR,
            json!({"phone_numbers": numbers}),
        )
        .await;
    assert_eq!(r.body["added"], 6, "{}", r.body);
    let before = s
        .get(&format!("/api/v1/campaigns/{c}/stats"), VIEWER)
        .await
        .body;
    assert_eq!(before["contacts_not_called"], 6, "{before}");
    for n in ["+14155559001", "+14155559002"] {
        let r = s
            .post(
                "/api/v1/initiate-call/",
                OPERATOR,
                json!({"campaign_id": c, "phone_number": n}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let mut notices = s.state.engine.subscribe();
    s.post(&format!("/api/v1/campaigns/{c}/start"), OPERATOR, json!({}))
        .await;
    // Every list call and every one-off ends (the simulator answers them).
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut ended = 0;
        while ended < 8 {
            let n = notices.recv().await.unwrap();
            if n.status.is_terminal() {
                ended += 1;
            }
        }
    })
    .await
    .expect("every call ends");
    let stats = s
        .get(&format!("/api/v1/campaigns/{c}/stats"), VIEWER)
        .await
        .body;
    assert_eq!(stats["by_origin"]["list"]["calls"], 6, "{stats}");
    assert_eq!(stats["by_origin"]["one_off"]["calls"], 2, "{stats}");
    let attempts = stats["by_origin"]["list"]["attempts"].as_i64().unwrap()
        + stats["by_origin"]["one_off"]["attempts"].as_i64().unwrap();
    assert_eq!(attempts, stats["attempts"].as_i64().unwrap(), "{stats}");
    assert_eq!(stats["contacts_not_called"], 0, "{stats}");
    s.stop().await;
}
