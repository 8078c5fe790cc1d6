//! End to end, as an operator and a provider use dialer: create a campaign, import contacts,
//! start it; the simulated provider dials and reports every status through `PUT
//! /api/v1/callback/` over HTTP; failed attempts are retried by the campaign's rules; and the
//! campaign's statistics match, exactly, what the simulator's fate function says must happen.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dialer_actors::provider::ReportSink;
use dialer_engine::{
    CallId, CampaignState, Outcome, PhoneNumber, ProviderEvent, ProviderReport, SimProfile,
};
use serde_json::json;

use crate::server::{OPERATOR, PROVIDER, TestServer, VIEWER, settings};

/// Delivers the simulator's reports the way an HTTP provider does: the seed's callback.
struct SeedCallbacks {
    url: String,
    http: reqwest::Client,
}

#[async_trait]
impl ReportSink for SeedCallbacks {
    async fn deliver(&self, call_id: CallId, report: ProviderReport) -> Result<(), String> {
        let body = match &report.event {
            Some(ProviderEvent::Ringing) => {
                json!({"call_id": call_id.to_string(), "status": "RINGING"})
            }
            Some(ProviderEvent::Answered) => {
                json!({"call_id": call_id.to_string(), "status": "IN_PROGRESS"})
            }
            Some(ProviderEvent::Ended {
                outcome,
                duration_secs,
                error_code,
            }) => json!({
                "call_id": call_id.to_string(), "status": outcome.as_str(), "call_duration": duration_secs, "error_code": error_code,
            }),
            None => json!({"call_id": call_id.to_string(), "status": report.raw_status}),
        };
        let r = self
            .http
            .put(&self.url)
            .header("X-Auth-Token", PROVIDER)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("callback answered {}", r.status()))
        }
    }
}

fn profile() -> SimProfile {
    SimProfile {
        picked: 50,
        disconnected: 15,
        rnr: 25,
        failed: 10,
        ring_min_ms: 2_000,
        ring_max_ms: 20_000,
        talk_min_secs: 10,
        talk_max_secs: 90,
    }
}

fn number(i: u32) -> String {
    format!("+1212{:07}", 5_550_000 + i)
}

#[tokio::test]
async fn a_campaign_runs_end_to_end_and_its_stats_match_the_simulator_exactly() {
    const CONTACTS: u32 = 200;
    const LINES: u32 = 15;
    // Two minutes of wall time per real second.
    let dir = tempfile::tempdir().unwrap();
    let config = settings(dir.path());
    let s = TestServer::start_in(dir, config, 120).await;
    s.sim.attach(Arc::new(SeedCallbacks {
        url: s.url("/api/v1/callback/"),
        http: reqwest::Client::new(),
    }));

    // 1. The campaign, through the API.
    let campaign = s
        .campaign(
            "e2e",
            json!({"max_concurrent": LINES, "default_region": "US", "sim": serde_json::to_value(profile()).unwrap()}),
        )
        .await;

    // 2. Contacts: every number once, plus a duplicate row and two bad rows.
    let mut csv = String::from("phone_number,name\n");
    for i in 0..CONTACTS {
        csv.push_str(&format!("{},contact {i}\n", number(i)));
    }
    csv.push_str(&format!(
        "{},again\nnot-a-number,x\n+1212,short\n",
        number(7)
    ));
    let report = s
        .post_raw(
            &format!("/api/v1/campaigns/{campaign}/contacts/import"),
            OPERATOR,
            "text/csv",
            csv,
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(
        (
            report.body["accepted"].as_u64(),
            report.body["duplicates"].as_u64(),
            report.body["invalid"].as_u64()
        ),
        (Some(u64::from(CONTACTS)), Some(1), Some(2))
    );

    // 3. Start, and wait for every contact to reach a final status.
    let started = s
        .post(
            &format!("/api/v1/campaigns/{campaign}/start"),
            OPERATOR,
            json!({}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    s.wait_for(campaign, CampaignState::Completed, Duration::from_secs(120))
        .await;

    // 4. What must have happened, from the simulator's pure fate function.
    let mut attempts = 0i64;
    let mut outcomes: BTreeMap<String, i64> = BTreeMap::new();
    let (mut picked, mut exhausted) = (0i64, 0i64);
    for i in 0..CONTACTS {
        let to = PhoneNumber::from_stored(&number(i)).unwrap();
        for attempt in 1..=3 {
            let outcome = s.sim.outcome_for(&to, attempt, &profile()).outcome;
            attempts += 1;
            *outcomes.entry(outcome.as_str().to_owned()).or_default() += 1;
            if outcome == Outcome::Picked {
                picked += 1;
                break;
            }
            if attempt == 3 {
                exhausted += 1;
            }
        }
    }
    assert!(
        attempts > i64::from(CONTACTS) && exhausted > 0,
        "the mix exercises retries and exhaustion"
    );

    // 5. What dialer says happened.
    let stats = s
        .get(&format!("/api/v1/campaigns/{campaign}/stats"), VIEWER)
        .await
        .body;
    assert_eq!(stats["state"], "completed");
    assert_eq!(stats["contacts"], CONTACTS);
    assert_eq!(stats["calls"], CONTACTS);
    assert_eq!(stats["attempts"], attempts, "{stats}");
    assert_eq!(stats["picked"], picked);
    assert_eq!(
        stats["outcomes"],
        serde_json::to_value(&outcomes).unwrap(),
        "{stats}"
    );
    let mut finals = BTreeMap::from([("PICKED".to_owned(), picked)]);
    finals.insert("EXHAUSTED".to_owned(), exhausted);
    assert_eq!(
        stats["final_statuses"],
        serde_json::to_value(&finals).unwrap(),
        "{stats}"
    );
    assert_eq!(stats["retries_scheduled"], attempts - i64::from(CONTACTS));
    assert_eq!(
        (
            stats["retries_pending"].as_i64(),
            stats["in_flight"].as_i64()
        ),
        (Some(0), Some(0))
    );
    let rate = stats["pick_up_rate"].as_f64().unwrap();
    assert!((rate - picked as f64 / attempts as f64).abs() < 1e-9);

    // The simulator's own record agrees: each attempt dialed once, never above the cap.
    let record = s.sim.record();
    assert_eq!(record.dials.len() as i64, attempts);
    assert_eq!(record.duplicate_dials, 0);
    assert!(
        record.max_active <= LINES as usize,
        "{} > {LINES}",
        record.max_active
    );

    // And the call list: every exhausted call tried three times.
    let page = s
        .get(
            &format!("/api/v1/calls?campaign_id={campaign}&status=EXHAUSTED&limit=500"),
            VIEWER,
        )
        .await
        .body;
    let calls = page["results"].as_array().unwrap();
    assert_eq!(calls.len() as i64, exhausted);
    assert!(
        calls
            .iter()
            .all(|c| c["attempt_count"] == 3 && c["next_retry_at"].is_null())
    );
    // Every status arrived through the seed callback (recorded as provider `http`).
    let one = s
        .get(
            &format!("/api/v1/calls/{}", calls[0]["call_id"].as_str().unwrap()),
            VIEWER,
        )
        .await
        .body;
    let reports: Vec<&serde_json::Value> = one["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "provider_status")
        .collect();
    assert!(
        reports.len() >= 3 && reports.iter().all(|e| e["detail"]["provider"] == "http"),
        "{one}"
    );
    s.stop().await;
}
