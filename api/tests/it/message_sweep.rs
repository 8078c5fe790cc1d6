//! A message left `sending` — its process died mid-request, or the request's answer was lost
//! and no receipt came — is settled by the runner's sweep, as the provider simulator's witness
//! sees it: where the provider honours the idempotency key it is sent again under the same key
//! (one send, whether or not the first request reached the provider); elsewhere it fails as
//! uncertain and is never sent again. A message `sending` for less than the deadline is left.

use std::time::Duration;

use chrono::Utc;
use dialer_actors::messenger::runner::{SENDING_DEADLINE, UNCERTAIN_REASON};
use dialer_actors::provider::http::HttpProviderConfig;
use dialer_engine::messaging::{Channel, MessageStatus};
use dialer_engine::{CampaignId, PhoneNumber};
use dialer_loadtest::sim::{Mode, SimConfig};
use dialer_storage::messages::Message;
use serde_json::json;

use crate::server::{OPERATOR, PROVIDER, TWILIO_TOKEN, TestServer, settings};

async fn simulator(mode: Mode) -> dialer_loadtest::sim::Running {
    dialer_loadtest::sim::start(
        SimConfig {
            mode,
            seed: 3,
            speed: 20,
            callback_token: Some(PROVIDER.into()),
            twilio_auth_token: Some(TWILIO_TOKEN.into()),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// A message of `campaign` to `n` claimed for its first attempt at `claimed`, as a process
/// that died before its request was answered left it.
fn left_sending(campaign: i64, n: u32, claimed: chrono::DateTime<Utc>) -> Message {
    let campaign = CampaignId::new(campaign).unwrap();
    let to = PhoneNumber::parse(&format!("+1415555{n:04}"), None).unwrap();
    Message {
        message_id: Message::id_for(campaign, "launch", &to),
        campaign_id: campaign,
        phone_number: to,
        channel: Channel::Sms,
        cause: "launch".into(),
        body: format!("hello {n}"),
        status: MessageStatus::Sending,
        attempts: 1,
        due_at: claimed,
        provider_sid: None,
        error_code: None,
        reason: None,
        created_at: claimed,
        updated_at: claimed,
    }
}

/// Waits until message `id` is as `done` says.
async fn until(s: &TestServer, id: &str, done: impl Fn(&Message) -> bool) -> Message {
    let mut changes = s.state.messaging.changes();
    let wait = async {
        loop {
            let m = s.state.store.get_message(id).await.unwrap().unwrap();
            if done(&m) {
                return m;
            }
            let _ = changes.recv().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("message {id} did not move"))
}

#[tokio::test]
async fn messages_left_sending_are_sent_once_under_their_key_or_failed_as_uncertain() {
    let http_sim = simulator(Mode::Http).await;
    let twilio_sim = simulator(Mode::Twilio).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = settings(dir.path());
    config.http_providers = vec![HttpProviderConfig {
        name: "loadsim".into(),
        base_url: http_sim.base_url(),
        token: None,
        callback_url: None,
        max_cps: None,
        timeout_ms: 5_000,
        max_in_flight: 64,
    }];
    config.twilio[0].api_base = twilio_sim.base_url();
    let s = TestServer::start_in(dir, config, 60).await;
    http_sim.sim.forward_callbacks_to(s.base.clone());
    twilio_sim.sim.forward_callbacks_to(s.base.clone());
    let r = s
        .put(
            "/api/v1/templates/note/sms/en",
            OPERATOR,
            json!({"text": "hello"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut campaigns = Vec::new();
    for provider in ["loadsim", "twilio"] {
        let c = s
            .campaign(
                provider,
                json!({"channel": "sms", "provider": provider, "messaging": {"template": "note"}}),
            )
            .await;
        let r = s
            .post(&format!("/api/v1/campaigns/{c}/start"), OPERATOR, json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        campaigns.push(c);
    }
    let (http, twilio) = (campaigns[0], campaigns[1]);

    // Left by a process that died: two through the idempotent http shape — one whose
    // request never arrived, one whose request arrived but whose answer was lost — one
    // through Twilio, and one claimed a moment ago (its request may still be under way).
    let now = s.state.engine.clock().now();
    let old = now - SENDING_DEADLINE - chrono::Duration::minutes(1);
    let never_arrived = left_sending(http, 1, old);
    let arrived = left_sending(http, 2, old);
    let through_twilio = left_sending(twilio, 3, old);
    let recent = left_sending(http, 4, now);
    let all = [&never_arrived, &arrived, &through_twilio, &recent];
    let added = s
        .state
        .store
        .create_messages(all.iter().map(|m| (*m).clone()).collect())
        .await
        .unwrap();
    assert_eq!(added, [true; 4]);
    let first = s
        .http
        .post(format!("{}/messages", http_sim.base_url()))
        .header("Idempotency-Key", format!("{}:1", arrived.message_id))
        .json(&json!({
            "message_id": arrived.message_id, "attempt": 1, "channel": "sms",
            "to": arrived.phone_number.as_str(), "body": arrived.body,
            // Its receipts went nowhere: the process was gone.
            "callback_url": "http://127.0.0.1:9/gone",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first_sid = first.json::<serde_json::Value>().await.unwrap()["id"].clone();

    assert_eq!(s.state.messaging.sweep().await.unwrap(), 3);

    // Sent once, its receipts carry it to its outcome.
    let m = until(&s, &never_arrived.message_id, |m| m.status.is_final()).await;
    assert_eq!(m.attempts, 1);
    // Answered with the first request's message (its receipts went elsewhere).
    let m = until(&s, &arrived.message_id, |m| m.provider_sid.is_some()).await;
    assert_eq!(
        (m.attempts, m.provider_sid.as_deref()),
        (1, first_sid.as_str())
    );
    let m = until(&s, &through_twilio.message_id, |m| {
        m.status != MessageStatus::Sending
    })
    .await;
    assert_eq!(
        (m.status, m.reason.as_deref()),
        (MessageStatus::Failed, Some(UNCERTAIN_REASON))
    );
    // An accepted message waits for its receipts, however long: the sweep leaves it.
    assert_eq!(s.state.messaging.sweep().await.unwrap(), 0);
    let m = s.state.store.get_message(&recent.message_id).await.unwrap();
    assert_eq!(
        m.unwrap().status,
        MessageStatus::Sending,
        "still within its deadline"
    );

    let witness = http_sim.sim.stats().messages;
    assert_eq!(witness.sent, 2, "{witness:?}");
    assert_eq!(witness.repeated_keys, 1, "{witness:?}");
    assert_eq!(witness.duplicate_sends_of_one_attempt, 0, "{witness:?}");
    assert_eq!(
        twilio_sim.sim.stats().messages.requests,
        0,
        "never sent again"
    );
    // Each decision is on record.
    let events = s
        .get("/api/v1/message-events?kind=decision&limit=50", OPERATOR)
        .await;
    let decisions = events.body.to_string();
    assert_eq!(decisions.matches("\"resend\"").count(), 2, "{decisions}");
    assert_eq!(decisions.matches("\"uncertain\"").count(), 1, "{decisions}");
    s.stop().await;
}
