//! `GET /api/v1/events`: server-sent events of call state changes, filtered by campaign.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::server::{OPERATOR, TestServer, VIEWER};

/// Reads SSE frames from a response until `done` says stop; returns (event, data) pairs.
async fn read_events(
    response: reqwest::Response,
    mut done: impl FnMut(&str, &Value) -> bool,
) -> Vec<(String, Value)> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let reading = async {
        while let Some(chunk) = stream.next().await {
            buffer.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() {
                    continue; // A keep-alive comment.
                }
                let data: Value = serde_json::from_str(&data).unwrap_or(Value::String(data));
                let stop = done(&name, &data);
                events.push((name, data));
                if stop {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), reading)
        .await
        .expect("the events arrived");
    events
}

#[tokio::test]
async fn call_changes_stream_to_subscribers_of_their_campaign() {
    let s = TestServer::start().await;
    let a = s.campaign("a", json!({})).await;
    let b = s.campaign("b", json!({})).await;
    let response = s
        .http
        .get(s.url(&format!("/api/v1/events?campaign_id={a}")))
        .header("X-Auth-Token", VIEWER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");

    let in_b = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            json!({"phone_number": "+14155552671", "campaign_id": b}),
        )
        .await;
    let in_a = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            json!({"phone_number": "+14155552672", "campaign_id": a}),
        )
        .await;
    let a_call = in_a.body["call_id"].as_str().unwrap().to_owned();
    let want = a_call.clone();
    let events = read_events(response, |_, data| {
        data["call_id"] == want.as_str() && data["status"] == "DIALING"
    })
    .await;

    assert!(events.iter().all(|(name, _)| name == "call"), "{events:?}");
    assert!(
        events.iter().all(|(_, d)| d["campaign_id"] == a),
        "only campaign {a}: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|(_, d)| d["call_id"] == in_b.body["call_id"])
    );
    let statuses: Vec<&str> = events
        .iter()
        .map(|(_, d)| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["INITIATED", "DIALING"]);
    assert_eq!(events[1].1["attempt"], 1);
    // The server shuts down gracefully with the stream still open.
    s.stop().await;
}

#[tokio::test]
async fn the_event_stream_needs_a_token_and_a_valid_filter() {
    let s = TestServer::start().await;
    let r = s
        .send(reqwest::Method::GET, "/api/v1/events", None, None)
        .await;
    r.assert_error(401, "unauthorized", None);
    s.get("/api/v1/events?campaign_id=-1", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("campaign_id"));
    s.get("/api/v1/events?campaign_id=x", VIEWER)
        .await
        .assert_error(400, "invalid_field", Some("campaign_id"));
    s.stop().await;
}
