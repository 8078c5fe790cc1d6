//! Operations endpoints, the OpenAPI document, and the protections every route shares: unknown
//! routes and methods, body limits, request timeouts and per-token rate limits.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::json;

use crate::server::{ADMIN, OPERATOR, TestServer, VIEWER};

#[tokio::test]
async fn health_and_readiness_need_no_token() {
    let s = TestServer::start().await;
    let h = s.send(Method::GET, "/healthz", None, None).await;
    assert_eq!((h.status, h.body["status"].as_str()), (200, Some("ok")));
    let r = s.send(Method::GET, "/readyz/", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["checks"],
        json!({"engine": "ok", "leases (in_process)": "ok", "storage (embedded)": "ok"})
    );
    s.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_the_lease_store_is_unreachable() {
    let mut redis = dialer_storage::testsuite::redis_server::RedisServer::start().unwrap();
    let url = redis.url();
    let s = TestServer::start_with(|c| {
        c.leases = dialer_api::config::LeaseChoice::Redis {
            url,
            quarantine_ms: 0,
        }
    })
    .await;
    let r = s.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["checks"]["leases (redis)"], "ok");
    redis.stop();
    let r = s.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["status"], "unavailable");
    assert_ne!(r.body["checks"]["leases (redis)"], "ok");
    assert_eq!(r.body["checks"]["storage (embedded)"], "ok");
    redis.restart().unwrap();
    s.stop().await;
}

/// A pool Redis has never seen opens after a quarantine of half a second on Redis's own clock,
/// and a campaign's owner waits it out on that clock. It used to ask again every 250 ms of the
/// engine's clock — at 1,000×, every quarter of a millisecond: thousands of scripts to open the
/// campaign's pool and then the engine's.
#[tokio::test]
async fn a_fresh_lease_pool_is_waited_out_on_the_lease_store_s_clock() {
    let redis = dialer_storage::testsuite::redis_server::RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::server::settings(dir.path());
    settings.leases = dialer_api::config::LeaseChoice::Redis {
        url: redis.url(),
        quarantine_ms: 500,
    };
    let s = TestServer::start_in(dir, settings, 1_000).await;
    let c = s
        .campaign("fresh pools", json!({"max_concurrent": 4}))
        .await;
    let csv: String = std::iter::once("phone_number\n".to_string())
        .chain((0..4).map(|i| format!("+1212555{:04}\n", 100 + i)))
        .collect();
    let path = format!("/api/v1/campaigns/{c}/contacts/import");
    let r = s.post_raw(&path, OPERATOR, "text/csv", csv).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let path = format!("/api/v1/campaigns/{c}/start");
    assert_eq!(s.post(&path, OPERATOR, json!({})).await.status, 200);
    s.wait_for(
        c,
        dialer_engine::CampaignState::Completed,
        std::time::Duration::from_secs(60),
    )
    .await;
    let scripts = redis.calls("evalsha").unwrap();
    // Each attempt takes two leases and gives them back (and renews them at most a few times);
    // the quarantines add a poll every 50 ms for a second.
    assert!(
        (8..300).contains(&scripts),
        "{scripts} lease scripts for 4 contacts"
    );
    s.stop().await;
}

/// Runs `promtool check metrics` on `text`; returns its verdict.
fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (apt-get install -y prometheus; .ci/run does it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn prometheus_metrics_pass_promtool_and_never_name_a_number_or_a_call() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    let r = s
        .post(
            "/api/v1/initiate-call/",
            OPERATOR,
            json!({"phone_number": "+14155552671", "campaign_id": c}),
        )
        .await;
    let call_id = r.body["call_id"].as_str().unwrap().to_owned();
    s.get(&format!("/api/v1/calls/{call_id}"), VIEWER).await;
    s.get("/api/v1/dnc/%2B14155552671", VIEWER).await;
    let m = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(m.status(), 200);
    assert!(
        m.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = m.text().await.unwrap();
    let (ok, verdict) = promtool(&text);
    assert!(ok, "promtool: {verdict}\n{text}");
    assert!(text.contains("dialer_http_requests_total{"), "{text}");
    assert!(
        text.contains(r#"route="/api/v1/calls/{call_id}""#),
        "route templates label requests: {text}"
    );
    assert!(
        text.contains("dialer_http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.contains("dialer_calls_dialed_total{"), "{text}");
    // The dispatch lag in milliseconds, and the wait from due to dial.
    assert!(
        text.contains(r#"dialer_dispatch_lag_seconds_bucket{le="0.0075"}"#),
        "{text}"
    );
    assert!(
        text.contains("dialer_due_to_dial_seconds_bucket{"),
        "{text}"
    );
    assert!(
        !text.contains("4155552671") && !text.contains(&call_id),
        "no phone number or call id in labels"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_json_summary_reports_the_system() {
    let s = TestServer::start().await;
    let c = s.campaign("c", json!({})).await;
    s.post(
        "/api/v1/initiate-call/",
        OPERATOR,
        json!({"phone_number": "+14155552671", "campaign_id": c}),
    )
    .await;
    let r = s.get("/api/v1/metrics/", VIEWER).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.body;
    assert_eq!(
        (b["storage_backend"].as_str(), b["lease_backend"].as_str()),
        (Some("embedded"), Some("in_process"))
    );
    assert_eq!(b["max_concurrent_calls"], 100);
    assert_eq!(b["campaigns"], json!({"draft": 1}));
    assert_eq!(b["totals"]["calls_created"], 1);
    assert!(b["uptime_seconds"].as_i64().unwrap() >= 0);
    s.send(Method::GET, "/api/v1/metrics", None, None)
        .await
        .assert_error(401, "unauthorized", None);
    s.stop().await;
}

/// Fills `{param}` segments of a documented path with something of the right shape.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{call_id}", "0190b3a0-0000-7000-8000-000000000000")
        .replace("{phone_number}", "%2B14155552671")
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_every_route_answers() {
    let s = TestServer::start().await;
    s.campaign("c", json!({})).await;
    let doc = s
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert_eq!(
        doc["components"]["securitySchemes"]["token"]["name"],
        "X-Auth-Token"
    );
    let paths = doc["paths"].as_object().unwrap();
    for must in [
        "/api/v1/initiate-call",
        "/api/v1/callback",
        "/api/v1/campaigns",
        "/api/v1/campaigns/{id}/contacts/import",
        "/api/v1/calls/{call_id}",
        "/api/v1/dnc/{phone_number}",
        "/api/v1/events",
        "/api/v1/providers/twilio/status",
        "/api/v1/providers/twilio/inbound",
        "/api/v1/metrics",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(must), "{must} is documented");
    }
    // Every documented operation is routed: no request to it gets the unknown-route answer.
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if path == "/api/v1/events" {
                continue; // A stream: covered by its own tests.
            }
            operations += 1;
            let r = s
                .send(method.clone(), &concrete(path), Some(ADMIN), None)
                .await;
            assert!(
                !(r.status == 404
                    && r.body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("route"))),
                "{method} {path}"
            );
            assert_ne!(r.status, 405, "{method} {path}");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents its responses"
            );
        }
    }
    assert!(operations >= 30, "{operations}");
    let ui = s.http.get(s.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().to_lowercase().contains("swagger"));
    s.stop().await;
}

#[tokio::test]
async fn unknown_routes_methods_and_oversized_bodies_get_json_errors() {
    let s = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    s.get("/api/v1/nothing-here", VIEWER)
        .await
        .assert_error(404, "not_found", None);
    s.send(Method::DELETE, "/api/v1/initiate-call/", Some(ADMIN), None)
        .await
        .assert_error(405, "method_not_allowed", None);
    let huge: Vec<String> = (0..1000).map(|i| format!("+1415555{i:04}")).collect();
    let c = s.campaign("c", json!({})).await;
    let r = s
        .post(
            "/api/v1/initiate-call/bulk",
            OPERATOR,
            json!({"campaign_id": c, "phone_numbers": huge}),
        )
        .await;
    r.assert_error(413, "payload_too_large", None);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4096")
    );
    s.stop().await;
}

#[tokio::test]
async fn a_request_slower_than_the_timeout_gets_503() {
    let s = TestServer::start_with(|c| c.request_timeout_ms = 1).await;
    // Creating the campaign through the API might itself time out at 1 ms: go to the store.
    let new = dialer_engine::NewCampaign {
        name: "c".into(),
        description: String::new(),
        is_active: true,
        settings: dialer_engine::CampaignSettings::default(),
    };
    let campaign = s
        .state
        .store
        .create_campaign(new, crate::server::epoch())
        .await
        .unwrap();
    let numbers: Vec<String> = (0..2000).map(|i| format!("+1415555{i:04}")).collect();
    let r = s
        .post(
            "/api/v1/initiate-call/bulk",
            OPERATOR,
            json!({"campaign_id": campaign.id.get(), "phone_numbers": numbers}),
        )
        .await;
    r.assert_error(503, "unavailable", None);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 ms"),
        "{}",
        r.body
    );
    s.stop().await;
}

#[tokio::test]
async fn each_token_has_a_rate_limit_answered_with_retry_after() {
    let s = TestServer::start_with(|c| c.rate_limit_per_second = 3).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(s.get("/api/v1/campaigns", VIEWER).await);
    }
    assert_eq!(
        statuses.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 200, 429]
    );
    let limited = &statuses[3];
    limited.assert_error(429, "rate_limited", None);
    assert_eq!(limited.headers["retry-after"], "1");
    // Another token has its own budget; health checks have none.
    assert_eq!(s.get("/api/v1/campaigns", OPERATOR).await.status, 200);
    assert_eq!(
        s.send(Method::GET, "/healthz", None, None).await.status,
        200
    );
    s.stop().await;
}

#[tokio::test]
async fn every_role_may_do_exactly_what_it_should_on_every_route() {
    use crate::server::PROVIDER;
    let s = TestServer::start().await;
    s.campaign("c", json!({})).await;
    let doc = s
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .body;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let url = concrete(path);
            if op.get("security").is_none() {
                // Open routes: health, metrics, and webhooks that carry their own signature.
                let r = s.send(method.clone(), &url, None, None).await;
                assert_ne!(r.status, 401, "{method} {path} needs no token");
                continue;
            }
            let need = match (method.as_str(), path.as_str()) {
                ("PUT", "/api/v1/callback") | ("POST", "/api/v1/messages/callback") => "callback",
                // Every token may learn who it is.
                ("GET", "/api/v1/me") => "any",
                // Rendering a template changes nothing.
                ("POST", p) if p.ends_with("/preview") => "read",
                ("DELETE", _) => "admin",
                ("GET", _) => "read",
                _ => "write",
            };
            let r = s.send(method.clone(), &url, None, None).await;
            r.assert_error(401, "unauthorized", None);
            for (token, role) in [
                (ADMIN, "admin"),
                (OPERATOR, "operator"),
                (VIEWER, "viewer"),
                (PROVIDER, "provider"),
            ] {
                let allowed = match role {
                    _ if need == "any" => true,
                    "admin" => true,
                    "operator" => need != "admin",
                    "viewer" => need == "read",
                    _ => need == "callback",
                };
                if allowed && path == "/api/v1/events" {
                    continue; // An open stream: its own tests read it.
                }
                let r = s.send(method.clone(), &url, Some(token), None).await;
                if allowed {
                    assert!(
                        r.status != 401 && r.status != 403,
                        "{role} may {method} {path}: {}",
                        r.body
                    );
                } else {
                    assert_eq!(
                        (r.status, r.body["error"]["code"].as_str()),
                        (403, Some("forbidden")),
                        "{role} may not {method} {path}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "{checked}");
    s.stop().await;
}
