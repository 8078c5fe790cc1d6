//! What the web console is served with and the API routes it added: the console's files,
//! `GET /api/v1/me`, `GET /api/v1/campaigns/{id}/explain`, and searching calls by number. (The
//! console itself runs in a real browser in `api/tests/console.rs`.)

use chrono::{Duration, SecondsFormat};
use reqwest::Method;
use serde_json::json;

use crate::server::{ADMIN, OPERATOR, PROVIDER, TestServer, VIEWER, epoch};

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_a_strict_policy() {
    let s = TestServer::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, to) in [("/console", "/console/"), ("/", "/console/")] {
        let r = http.get(s.url(path)).send().await.unwrap();
        assert!(r.status().is_redirection(), "{path}: {}", r.status());
        assert_eq!(r.headers()["location"], to);
    }
    // The page and every file it loads, with no token: they hold no data.
    let page = http.get(s.url("/console/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    for (file, mime) in [
        ("app.js", "text/javascript"),
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        assert!(html.contains(file), "index.html does not load {file}");
        let r = http
            .get(s.url(&format!("/console/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(mime),
            "{file}"
        );
    }
    let missing = s.get("/console/nothing.js", VIEWER).await;
    missing.assert_error(404, "not_found", None);
}

#[tokio::test]
async fn a_token_learns_its_name_and_role() {
    let s = TestServer::start().await;
    for (token, role) in [
        (ADMIN, "admin"),
        (OPERATOR, "operator"),
        (VIEWER, "viewer"),
        (PROVIDER, "provider"),
    ] {
        let r = s.get("/api/v1/me", token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["role"], role);
        assert!(r.body["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
    let anonymous = s.send(Method::GET, "/api/v1/me", None, None).await;
    anonymous.assert_error(401, "unauthorized", None);
}

fn reasons(body: &serde_json::Value) -> Vec<String> {
    body["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn why_a_number_is_not_dialed_names_every_reason() {
    let s = TestServer::start().await;
    // 09:00–17:00 New York time; the test clock reads noon in New York.
    let id = s
        .campaign(
            "explained",
            json!({"zone_policy": "recipient", "calling_hours": [{"day_of_week": "daily", "start_time": "09:00", "end_time": "17:00"}]}),
        )
        .await;
    let path = |number: &str, at: Option<&str>| {
        let mut p = format!(
            "/api/v1/campaigns/{id}/explain?phone_number={}",
            number.replace('+', "%2B")
        );
        if let Some(at) = at {
            p.push_str(&format!("&at={at}"));
        }
        p
    };
    let r = s.get(&path("+12125550100", None), VIEWER).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["dialable"], false);
    assert_eq!(r.body["campaign_state"], "draft");
    assert_eq!(
        reasons(&r.body),
        ["the campaign is draft: its contact list is not being dialed"]
    );
    assert_eq!(r.body["policy"]["zones"][0]["zone"], "America/New_York");
    assert_eq!(r.body["policy"]["calling_hours"]["open_now"], true);
    assert!(r.body["latest_call"].is_null());

    // At 22:00 in New York the hours are closed until 09:00 the next morning.
    let now = s.state.engine.clock().now();
    let late = (now + Duration::hours(10)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let r = s.get(&path("+12125550100", Some(&late)), VIEWER).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let opens = (epoch() + Duration::hours(21)).to_rfc3339_opts(SecondsFormat::Secs, true);
    assert!(
        reasons(&r.body).contains(&format!(
            "outside the recipient's calling hours until {opens}"
        )),
        "{:?}",
        reasons(&r.body)
    );

    // On the do-not-call list, with a call scheduled.
    let added = s
        .post(
            "/api/v1/dnc",
            OPERATOR,
            json!({"phone_number": "+12125550100"}),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    let at = (now + Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let call = s
        .post(
            "/api/v1/calls",
            OPERATOR,
            json!({"campaign_id": id, "phone_number": "+12125550100", "scheduled_at": at}),
        )
        .await;
    assert_eq!(call.status, 201, "{}", call.body);
    let r = s.get(&path("+12125550100", None), VIEWER).await;
    assert_eq!(r.body["dnc"]["blocked"], true);
    let all = reasons(&r.body);
    assert!(
        all.iter()
            .any(|x| x.starts_with("the number is on the do-not-call list (dnc, added ")),
        "{all:?}"
    );
    assert!(
        all.contains(&format!("its call is scheduled for {at}")),
        "{all:?}"
    );
    assert_eq!(r.body["latest_call"]["call_id"], call.body["call_id"]);

    // The caller's mistakes name their field.
    s.get(&path("12345", None), VIEWER).await.assert_error(
        400,
        "invalid_field",
        Some("phone_number"),
    );
    s.get(
        &format!("/api/v1/campaigns/{id}/explain?phone_number=%2B12125550100&at=tomorrow"),
        VIEWER,
    )
    .await
    .assert_error(400, "invalid_field", Some("at"));
    s.get(
        "/api/v1/campaigns/999/explain?phone_number=%2B12125550100",
        VIEWER,
    )
    .await
    .assert_error(404, "not_found", None);
}

#[tokio::test]
async fn calls_are_found_by_number_across_campaigns_or_within_one() {
    let s = TestServer::start().await;
    let a = s.campaign("a", json!({})).await;
    let b = s.campaign("b", json!({})).await;
    let at = (s.state.engine.clock().now() + Duration::hours(3))
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut ids = Vec::new();
    for (campaign, number) in [
        (a, "+14155550111"),
        (b, "+14155550111"),
        (a, "+14155550122"),
    ] {
        let r = s
            .post(
                "/api/v1/calls",
                OPERATOR,
                json!({"campaign_id": campaign, "phone_number": number, "scheduled_at": at}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["call_id"].as_str().unwrap().to_owned());
    }
    let s = &s;
    let found = |path: String| async move {
        let r = s.get(&path, VIEWER).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["call_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        found("/api/v1/calls?phone_number=%2B14155550111".into()).await,
        [ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(
        found(format!(
            "/api/v1/calls?phone_number=%2B14155550111&campaign_id={a}"
        ))
        .await,
        [ids[0].clone()]
    );
    assert!(
        found("/api/v1/calls?phone_number=%2B14155550199".into())
            .await
            .is_empty()
    );
    s.get("/api/v1/calls?phone_number=555", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("phone_number"));
}
