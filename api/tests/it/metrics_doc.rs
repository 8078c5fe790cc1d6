//! docs/metrics.md against what `/metrics` exports: every family, every label value.

use std::time::Duration;

use serde_json::json;

use crate::server::{OPERATOR, TestServer};

#[tokio::test]
async fn docs_metrics_md_lists_every_metric_the_server_exports() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md"))
        .unwrap();
    let mut names: Vec<&str> = dialer_actors::metrics::DESCRIPTIONS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    names.extend(dialer_actors::gauges::DESCRIPTIONS.iter().map(|(n, _)| *n));
    names.extend([
        dialer_api::metrics::HTTP_REQUESTS,
        dialer_api::metrics::HTTP_DURATION,
        dialer_api::routes::ops::READY,
    ]);
    for name in &names {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/metrics.md lists {name}"
        );
    }
    // And every family the endpoint renders is one of them.
    let s = TestServer::start().await;
    let text = scrape(&s).await;
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let family = line.split_whitespace().nth(2).unwrap();
        assert!(names.contains(&family), "{family} is documented");
    }
    s.stop().await;
}

async fn scrape(s: &TestServer) -> String {
    let r = s.http.get(s.url("/metrics")).send().await.unwrap();
    r.text().await.unwrap()
}

/// The label values docs/metrics.md lists ("- `label`: `a`, `b`"), by label.
fn documented_label_values(doc: &str) -> std::collections::HashMap<String, Vec<String>> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split_once("`: "))
        .map(|(label, values)| {
            let values = values
                .split(", ")
                .map(|v| v.trim_matches('`').to_owned())
                .collect();
            (label.to_owned(), values)
        })
        .collect()
}

#[tokio::test]
async fn every_exported_label_value_is_documented_and_every_dispatch_step_timed() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md"))
        .unwrap();
    let documented = documented_label_values(&doc);
    for label in ["decision", "outcome", "reason", "step", "actor", "applied"] {
        assert!(
            documented.contains_key(label),
            "docs/metrics.md lists {label}'s values"
        );
    }
    // Calls dialed to their end, so that the labels take their values.
    let s = TestServer::start().await;
    let mut notices = s.state.engine.subscribe();
    let c = s.campaign("labels", json!({})).await;
    let mut calls = std::collections::HashSet::new();
    for n in 0..6 {
        let r = s
            .post(
                "/api/v1/initiate-call/",
                OPERATOR,
                json!({"phone_number": format!("+1415555{n:04}"), "campaign_id": c}),
            )
            .await;
        calls.insert(r.body["call_id"].as_str().unwrap().to_owned());
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while !calls.is_empty() {
            let notice = notices.recv().await.unwrap();
            if notice.status.is_terminal() {
                calls.remove(&notice.call_id.to_string());
            }
        }
    })
    .await
    .expect("every call ends");
    let text = scrape(&s).await;
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, rest)) = line.split_once('{') else {
            continue;
        };
        let labels = rest.split_once('}').unwrap().0;
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (label, value) = pair.split_once('=').unwrap();
            let value = value.trim_matches('"');
            if let Some(values) = documented.get(label) {
                assert!(
                    values.iter().any(|v| v == value),
                    "{label}={value:?} (in {line}) is not listed in docs/metrics.md"
                );
                checked += 1;
            }
        }
    }
    for family in [
        "dialer_dispatch_decisions_total{",
        "dialer_dispatch_step_seconds_bucket{",
        "dialer_call_outcomes_total{",
    ] {
        assert!(text.contains(family), "{family} is exported after calls");
    }
    assert!(checked > 0);
    // Every step of the dispatch lag is timed for every dial: six here (other tests may add).
    for step in &documented["step"] {
        let prefix = format!("dialer_dispatch_step_seconds_count{{step=\"{step}\"}} ");
        let count: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        assert!(
            count >= 6.0,
            "step {step:?} timed {count} times for 6 dials"
        );
    }
    s.stop().await;
}
