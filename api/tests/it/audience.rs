//! The messaging audience over HTTP: recipients, subscriptions, segments with a preview,
//! templates with a rendered preview.

use reqwest::Method;
use serde_json::json;

use crate::server::{ADMIN, OPERATOR, TestServer, VIEWER};

#[tokio::test]
async fn recipients_merge_subscribe_and_page() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/api/v1/recipients",
            OPERATOR,
            json!({"recipients": [
                {"phone_number": "+14155550101", "attributes": {"name": "Ada", "city": "Berlin"}, "consent": "opted_in"},
                {"phone_number": "+14155550102", "attributes": {"name": "Grace"}},
                {"phone_number": "not a number"},
                {"phone_number": "+1 (415) 555-0101", "attributes": {"city": "London"}},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["added"].as_u64(), r.body["merged"].as_u64()),
        (Some(2), Some(1))
    );
    let invalid: Vec<u64> = r.body["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(invalid, [2]);
    // A consent outside the three states is the request's mistake, named where it is.
    s.post(
        "/api/v1/recipients",
        OPERATOR,
        json!({"recipients": [{"phone_number": "+14155550103", "consent": "maybe"}]}),
    )
    .await
    .assert_error(400, "invalid_field", Some("recipients[0].consent"));

    let ada = s.get("/api/v1/recipients/%2B14155550101", VIEWER).await;
    assert_eq!(ada.status, 200, "{}", ada.body);
    assert_eq!(
        ada.body["attributes"],
        json!({"name": "Ada", "city": "London"})
    );
    assert_eq!(ada.body["consent"], "opted_in");
    assert_eq!(ada.body["topics"], json!([]));

    for topic in ["Price-Alerts", "news"] {
        let r = s
            .post(
                "/api/v1/recipients/%2B14155550101/subscribe",
                OPERATOR,
                json!({"topic": topic}),
            )
            .await;
        assert_eq!(
            (r.status, &r.body["changed"]),
            (200, &json!(true)),
            "{}",
            r.body
        );
    }
    let again = s
        .post(
            "/api/v1/recipients/%2B14155550101/subscribe",
            OPERATOR,
            json!({"topic": "news"}),
        )
        .await;
    assert_eq!(again.body["changed"], false);
    let ada = s.get("/api/v1/recipients/%2B14155550101", VIEWER).await;
    assert_eq!(ada.body["topics"], json!(["news", "price-alerts"]));
    let off = s
        .post(
            "/api/v1/recipients/%2B14155550101/unsubscribe",
            OPERATOR,
            json!({"topic": "news"}),
        )
        .await;
    assert_eq!(off.body["changed"], true);
    s.post(
        "/api/v1/recipients/%2B14155550101/subscribe",
        OPERATOR,
        json!({"topic": "two words"}),
    )
    .await
    .assert_error(400, "invalid_field", Some("topic"));

    // Paging visits everyone once.
    let first = s.get("/api/v1/recipients?limit=1", VIEWER).await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = s
        .get(
            &format!(
                "/api/v1/recipients?limit=5&after={}",
                cursor.replace('+', "%2B")
            ),
            VIEWER,
        )
        .await;
    assert_eq!(rest.body["results"].as_array().unwrap().len(), 1);
    assert!(rest.body["next_cursor"].is_null());
    s.get("/api/v1/recipients/%2B14155550999", VIEWER)
        .await
        .assert_error(404, "not_found", None);
    // A viewer reads and changes nothing.
    s.post("/api/v1/recipients", VIEWER, json!({"recipients": []}))
        .await
        .assert_error(403, "forbidden", None);
}

#[tokio::test]
async fn recipients_import_from_csv_with_a_quality_report() {
    let s = TestServer::start().await;
    let csv = "phone_number,first_name,consent\n+14155550401,Ada,opted_in\n+14155550402,Grace,\nnope,Linus,opted_out\n+14155550401,Ada again,opted_out\n";
    let r = s
        .post_raw("/api/v1/recipients/import", OPERATOR, "text/csv", csv)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (
            &r.body["rows"],
            &r.body["added"],
            &r.body["invalid"],
            &r.body["duplicates"]
        ),
        (&json!(4), &json!(2), &json!(1), &json!(1))
    );
    assert_eq!(r.body["invalid_rows"][0]["line"], 4);
    let ada = s.get("/api/v1/recipients/%2B14155550401", VIEWER).await;
    assert_eq!(ada.body["consent"], "opted_in");
    assert_eq!(ada.body["attributes"], json!({"first_name": "Ada"}));
    let grace = s.get("/api/v1/recipients/%2B14155550402", VIEWER).await;
    assert_eq!(grace.body["consent"], "unknown");
    // Again, as JSON lines: merged, not added.
    let again = s
        .post_raw(
            "/api/v1/recipients/import",
            OPERATOR,
            "application/x-ndjson",
            "{\"phone_number\": \"+14155550402\", \"city\": \"Paris\"}\n",
        )
        .await;
    assert_eq!(
        (&again.body["added"], &again.body["merged"]),
        (&json!(0), &json!(1))
    );
    let grace = s.get("/api/v1/recipients/%2B14155550402", VIEWER).await;
    assert_eq!(
        grace.body["attributes"],
        json!({"first_name": "Grace", "city": "Paris"})
    );
    s.post_raw("/api/v1/recipients/import", OPERATOR, "text/plain", "x")
        .await
        .assert_error(415, "unsupported_media_type", None);
}

#[tokio::test]
async fn a_segment_names_its_mistakes_and_previews_who_it_selects() {
    let s = TestServer::start().await;
    let people: Vec<_> = (0..12)
        .map(|i| {
            json!({"phone_number": format!("+1415555{:04}", 200 + i),
                   "attributes": {"age": 20 + i * 5, "tier": if i % 2 == 0 { "gold" } else { "silver" }},
                   "consent": if i == 0 { "opted_out" } else { "opted_in" }})
        })
        .collect();
    let r = s
        .post(
            "/api/v1/recipients",
            OPERATOR,
            json!({"recipients": people}),
        )
        .await;
    assert_eq!(r.body["added"], 12, "{}", r.body);
    for i in [0, 2, 4, 5] {
        s.post(
            &format!("/api/v1/recipients/%2B1415555{:04}/subscribe", 200 + i),
            OPERATOR,
            json!({"topic": "price-alerts"}),
        )
        .await;
    }
    let bad = s
        .send(
            Method::PUT,
            "/api/v1/segments/gold-alerts",
            Some(OPERATOR),
            Some(json!({"rule": {"all": [{"subscribed": "price-alerts"}, {"range": {"attr": "age"}}]}})),
        )
        .await;
    bad.assert_error(400, "invalid_field", Some("rule.all[1].range"));
    let rule = json!({"all": [
        {"subscribed": "price-alerts"},
        {"eq": {"attr": "tier", "value": "gold"}},
        {"consent": "opted_in"},
        {"range": {"attr": "age", "gte": 25}},
    ]});
    let put = s
        .send(
            Method::PUT,
            "/api/v1/segments/gold-alerts",
            Some(OPERATOR),
            Some(json!({"rule": rule, "description": "gold subscribers who agreed"})),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.body);
    let replaced = s
        .send(
            Method::PUT,
            "/api/v1/segments/gold-alerts",
            Some(OPERATOR),
            Some(json!({"rule": rule})),
        )
        .await;
    assert_eq!(replaced.status, 200);
    // Subscribed: 200 (opted out), 202, 204, 205 (silver) → 202 and 204.
    let p = s
        .get("/api/v1/segments/gold-alerts/preview?sample=1", VIEWER)
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(
        (p.body["count"].as_u64(), p.body["of"].as_u64()),
        (Some(2), Some(12))
    );
    assert_eq!(p.body["sample"].as_array().unwrap().len(), 1);
    let listed = s.get("/api/v1/segments", VIEWER).await;
    assert_eq!(listed.body[0]["name"], "gold-alerts");
    assert_eq!(listed.body[0]["rule"], rule);
    s.send(
        Method::DELETE,
        "/api/v1/segments/gold-alerts",
        Some(OPERATOR),
        None,
    )
    .await
    .assert_error(403, "forbidden", None);
    let gone = s
        .send(
            Method::DELETE,
            "/api/v1/segments/gold-alerts",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(gone.status, 204);
    s.get("/api/v1/segments/gold-alerts", VIEWER)
        .await
        .assert_error(404, "not_found", None);
}

#[tokio::test]
async fn trigger_events_preview_who_they_reach_and_what_they_say_line_by_line() {
    let s = TestServer::start().await;
    s.post(
        "/api/v1/recipients",
        OPERATOR,
        json!({"recipients": [
            {"phone_number": "+14155550501", "attributes": {"first_name": "Ada", "tier": "gold"}},
            {"phone_number": "+14155550502", "attributes": {"first_name": "Grace", "tier": "silver"}},
        ]}),
    )
    .await;
    s.post(
        "/api/v1/recipients/%2B14155550501/subscribe",
        OPERATOR,
        json!({"topic": "price-alerts"}),
    )
    .await;
    let put = |path: &'static str, body: serde_json::Value| {
        let s = &s;
        async move {
            let r = s.send(Method::PUT, path, Some(OPERATOR), Some(body)).await;
            assert!(r.status == 201 || r.status == 200, "{}", r.body);
        }
    };
    put(
        "/api/v1/segments/alerted",
        json!({"rule": {"subscribed": "price-alerts"}}),
    )
    .await;
    put(
        "/api/v1/templates/price-drop/sms/en",
        json!({"text": "Hi {first_name}, {event.product} is now {event.price}"}),
    )
    .await;
    let lines = [
        r#"{"id": "e1", "segment": "alerted", "template": "price-drop", "fields": {"product": "a kettle", "price": 19.5}}"#,
        r#"{"rule": {"eq": {"attr": "tier", "value": "silver"}}, "template": "price-drop", "fields": {"product": "a lamp"}}"#,
        "{broken",
        r#"{"segment": "nobody", "template": "price-drop"}"#,
    ]
    .join("\n");
    let r = s
        .post_raw(
            "/api/v1/trigger-events/preview",
            VIEWER,
            "application/x-ndjson",
            lines,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = &r.body["events"];
    assert_eq!(r.body["audience"], 2);
    assert_eq!(
        (&e[0]["line"], &e[0]["recipients"], &e[1]["recipients"]),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(e[0]["text"], "Hi Ada, a kettle is now 19.5");
    assert_eq!(e[1]["first"], "+14155550502");
    assert!(e[1]["text"].is_null());
    assert_eq!(e[1]["missing"], json!(["event.price"]));
    assert_eq!(e[2]["line"], 4);
    assert!(
        e[2]["error"].as_str().unwrap().contains("segment"),
        "{}",
        e[2]
    );
    assert_eq!(r.body["errors"][0]["line"], 3);
    s.post_raw("/api/v1/trigger-events/preview", VIEWER, "text/csv", "x")
        .await
        .assert_error(415, "unsupported_media_type", None);
}

#[tokio::test]
async fn a_template_renders_for_a_recipient_and_never_sends_a_blank() {
    let s = TestServer::start().await;
    s.post(
        "/api/v1/recipients",
        OPERATOR,
        json!({"recipients": [{"phone_number": "+14155550301", "attributes": {"first_name": "Ada"}}]}),
    )
    .await;
    let path = "/api/v1/templates/price-drop/sms/en";
    s.send(
        Method::PUT,
        path,
        Some(OPERATOR),
        Some(json!({"text": "Hi {first_name"})),
    )
    .await
    .assert_error(400, "invalid_field", Some("text"));
    s.send(
        Method::PUT,
        "/api/v1/templates/price-drop/fax/en",
        Some(OPERATOR),
        Some(json!({"text": "x"})),
    )
    .await
    .assert_error(400, "invalid_field", Some("channel"));
    let put = s
        .send(
            Method::PUT,
            path,
            Some(OPERATOR),
            Some(json!({"text": "Hi {first_name}, {event.product} is now {event.price} {{EUR}}"})),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.body);
    assert_eq!(
        put.body["placeholders"],
        json!(["first_name", "event.product", "event.price"])
    );
    let ok = s
        .post(
            &format!("{path}/preview"),
            VIEWER,
            json!({"phone_number": "+14155550301", "event": {"product": "a kettle", "price": 19.5}}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["text"], "Hi Ada, a kettle is now 19.5 {EUR}");
    let blank = s
        .post(
            &format!("{path}/preview"),
            VIEWER,
            json!({"event": {"product": ""}}),
        )
        .await;
    assert!(blank.body["text"].is_null());
    assert_eq!(
        blank.body["missing"],
        json!(["first_name", "event.product", "event.price"])
    );
    let listed = s.get("/api/v1/templates", VIEWER).await;
    assert_eq!(
        (
            &listed.body[0]["name"],
            &listed.body[0]["channel"],
            &listed.body[0]["locale"]
        ),
        (&json!("price-drop"), &json!("sms"), &json!("en"))
    );
    let gone = s.send(Method::DELETE, path, Some(ADMIN), None).await;
    assert_eq!(gone.status, 204);
    s.get(path, VIEWER)
        .await
        .assert_error(404, "not_found", None);
}
