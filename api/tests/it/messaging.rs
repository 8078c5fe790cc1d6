//! Messaging end to end over real HTTP, with the provider simulator (`loadtest::sim`) as
//! Twilio: an inbound SUBSCRIBE → a trigger event for that topic → the campaign sends through
//! the simulator → its signed status callbacks (and a stale one sent out of order) → the
//! message's final state and the campaign's aggregates → a STOP blocks the next send. The
//! simulator's witness, not dialer's own records, says what was sent.

use std::time::Duration;

use dialer_actors::messenger::sim::message_fate;
use dialer_engine::PhoneNumber;
use dialer_engine::messaging::MessageStatus;
use dialer_loadtest::sim::{Mode, SimConfig};
use dialer_storage::messages::Message;
use reqwest::Method;
use serde_json::json;

use crate::server::{OPERATOR, PUBLIC_URL, TWILIO_SID, TWILIO_TOKEN, TestServer, VIEWER, settings};
use crate::twilio::{form, post_signed};

const SEED: u64 = 7;

/// Waits until message `id` is in `status`, on the runner's change notices.
async fn settled(
    s: &TestServer,
    changes: &mut tokio::sync::broadcast::Receiver<Message>,
    id: &str,
    status: MessageStatus,
) -> Message {
    let wait = async {
        loop {
            if let Some(m) = s.state.store.get_message(id).await.unwrap()
                && m.status == status
            {
                return m;
            }
            match changes.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("the runner stopped: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("message {id} did not become {}", status.as_str()))
}

async fn inbound(s: &TestServer, from: &str, body: &str) {
    let path = "/api/v1/providers/twilio/inbound";
    let params = form(&[
        ("AccountSid", TWILIO_SID),
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("From", from),
        ("To", "+14155550100"),
        ("Body", body),
    ]);
    let r = post_signed(
        s,
        path,
        &params,
        &format!("{PUBLIC_URL}{path}"),
        TWILIO_TOKEN,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn trigger(s: &TestServer, campaign: i64, lines: &str) -> serde_json::Value {
    let r = s
        .post_raw(
            &format!("/api/v1/campaigns/{campaign}/trigger-events"),
            OPERATOR,
            "application/x-ndjson",
            lines.to_owned(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn subscribe_trigger_send_receipts_aggregates_and_stop() {
    // A number whose first attempt the simulator will deliver and see read.
    let number = (100..200)
        .map(|n| PhoneNumber::parse(&format!("+1415555{n:04}"), None).unwrap())
        .find(|p| message_fate(SEED, p, 1).0 == MessageStatus::Read)
        .unwrap();
    let to = number.as_str().to_owned();
    let sim = dialer_loadtest::sim::start(
        SimConfig {
            mode: Mode::Twilio,
            seed: SEED,
            speed: 20,
            twilio_auth_token: Some(TWILIO_TOKEN.into()),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = settings(dir.path());
    config.twilio[0].api_base = sim.base_url();
    let s = TestServer::start_in(dir, config, 60).await;
    // dialer sits behind https://dialer.example.com; the simulator reaches it through that
    // "proxy", signing the public URL as Twilio does.
    sim.sim.forward_callbacks_to(s.base.clone());
    let mut changes = s.state.messaging.changes();

    // 1. The recipient subscribes by message; an operator adds their name.
    inbound(&s, &to, "SUBSCRIBE price-alerts").await;
    let r = s
        .post(
            "/api/v1/recipients",
            OPERATOR,
            json!({"recipients": [{"phone_number": to, "attributes": {"first_name": "Ada"}}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s
        .send(
            Method::PUT,
            "/api/v1/templates/price-drop/sms/en",
            Some(OPERATOR),
            Some(json!({"text": "Hi {first_name}, {event.product} is now {event.price}"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // 2. An sms campaign through Twilio (the simulator), started.
    let c = s
        .campaign(
            "alerts",
            json!({"channel": "sms", "provider": "twilio", "messaging": {"template": "price-drop"}}),
        )
        .await;
    let r = s
        .post(&format!("/api/v1/campaigns/{c}/start"), OPERATOR, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A messaging campaign has no contact list.
    let r = s
        .post(
            &format!("/api/v1/campaigns/{c}/phone-numbers"),
            OPERATOR,
            json!({"phone_numbers": [to]}),
        )
        .await;
    r.assert_error(409, "conflict", None);

    // 3. A trigger event for the topic; a broken line is reported by number, the rest sent.
    let sent = trigger(
        &s,
        c,
        "{\"id\": \"drop-1\", \"rule\": {\"subscribed\": \"price-alerts\"}, \"template\": \"price-drop\", \"fields\": {\"product\": \"a kettle\", \"price\": \"19.50\"}}\n{broken\n",
    )
    .await;
    assert_eq!(sent["errors"][0]["line"], 2, "{sent}");
    assert_eq!(sent["events"][0]["created"], 1, "{sent}");
    let id = Message::id_for(
        dialer_engine::CampaignId::new(c).unwrap(),
        "event-drop-1",
        &number,
    );

    // 4. Sent through the simulator; its signed callbacks carry it to `read`.
    let m = settled(&s, &mut changes, &id, MessageStatus::Read).await;
    assert_eq!(m.body, "Hi Ada, a kettle is now 19.50");
    assert_eq!(m.attempts, 1);
    let sid = m.provider_sid.clone().expect("the provider's SID is kept");
    assert!(sid.starts_with("SM"), "{sid}");
    // The same event again sends nothing twice.
    let again = trigger(
        &s,
        c,
        "{\"id\": \"drop-1\", \"rule\": {\"subscribed\": \"price-alerts\"}, \"template\": \"price-drop\", \"fields\": {\"product\": \"a kettle\", \"price\": \"19.50\"}}",
    )
    .await;
    assert_eq!(again["events"][0]["existing"], 1, "{again}");

    // 5. A late `delivered` (out of order, signed as Twilio would) does not move it back.
    let path = format!("/api/v1/providers/twilio/message-status?message_id={id}&attempt=1");
    let late = form(&[
        ("AccountSid", TWILIO_SID),
        ("MessageSid", &sid),
        ("MessageStatus", "delivered"),
    ]);
    let r = post_signed(
        &s,
        &path,
        &late,
        &format!("{PUBLIC_URL}{path}"),
        TWILIO_TOKEN,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.get(&format!("/api/v1/messages/{id}"), VIEWER).await;
    assert_eq!(r.body["status"], "read", "{}", r.body);
    // A forged one is refused.
    let r = post_signed(
        &s,
        &path,
        &late,
        &format!("{PUBLIC_URL}{path}"),
        "not-the-token",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // 6. The campaign's aggregates.
    let r = s
        .get(&format!("/api/v1/campaigns/{c}/message-stats"), VIEWER)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["messages"], 1, "{}", r.body);
    assert_eq!(r.body["by_status"]["read"], 1, "{}", r.body);
    assert_eq!(r.body["delivered_percent"], 100.0, "{}", r.body);
    assert_eq!(r.body["read_percent"], 100.0, "{}", r.body);

    // 7. STOP, then the next event: blocked, never sent.
    inbound(&s, &to, "STOP").await;
    trigger(
        &s,
        c,
        "{\"id\": \"drop-2\", \"rule\": {\"subscribed\": \"price-alerts\"}, \"template\": \"price-drop\", \"fields\": {\"product\": \"a lamp\", \"price\": \"5\"}}",
    )
    .await;
    let second = Message::id_for(
        dialer_engine::CampaignId::new(c).unwrap(),
        "event-drop-2",
        &number,
    );
    let blocked = settled(&s, &mut changes, &second, MessageStatus::Blocked).await;
    assert_eq!(blocked.reason.as_deref(), Some("opted_out"));
    let r = s
        .get(&format!("/api/v1/campaigns/{c}/message-stats"), VIEWER)
        .await;
    assert_eq!(r.body["opted_out"], 1, "{}", r.body);
    // A reply is refused too.
    let r = s
        .post(
            &format!("/api/v1/recipients/{}/reply", to.replace('+', "%2B")),
            OPERATOR,
            json!({"campaign_id": c, "body": "are you there?"}),
        )
        .await;
    r.assert_error(409, "conflict", None);

    // The witness: one message sent, never twice, read.
    let witnessed = sim.sim.stats().messages;
    assert_eq!(witnessed.sent, 1, "{witnessed:?}");
    assert_eq!(witnessed.duplicate_sends_of_one_attempt, 0);
    assert_eq!(witnessed.outcomes.get("read"), Some(&1));

    // Inbound messages and receipts are kept raw and normalized.
    let r = s.get("/api/v1/message-events?kind=inbound", VIEWER).await;
    let inbound: Vec<&serde_json::Value> = r.body.as_array().unwrap().iter().collect();
    assert_eq!(inbound.len(), 2, "{}", r.body);
    assert_eq!(inbound[0]["normalized"]["command"], "opt_out");
    assert_eq!(inbound[1]["raw"]["Body"], "SUBSCRIBE price-alerts");
    let r = s.get("/api/v1/message-events?kind=receipt", VIEWER).await;
    let receipts = r.body.as_array().unwrap();
    assert!(
        receipts.len() >= 4,
        "sent, delivered, read and the late one: {}",
        r.body
    );
    assert!(
        receipts
            .iter()
            .all(|e| e["raw"]["AccountSid"] == TWILIO_SID)
    );
    s.stop().await;
}

/// Starting a topic campaign sends to every subscriber, on
/// the in-process simulator; a retryable failure (30003) is sent again as the next attempt and
/// ends delivered, a permanent one (30006) is not; non-subscribers get nothing.
#[tokio::test]
async fn a_launch_reaches_the_topic_once_and_retries_by_the_error_table() {
    let s = TestServer::start().await;
    let mut changes = s.state.messaging.changes();
    let seed = s.state.settings.sim.seed;
    let fate = |p: &PhoneNumber, a| message_fate(seed, p, a);
    let numbers: Vec<PhoneNumber> = (300..600)
        .map(|n| PhoneNumber::parse(&format!("+1415555{n:04}"), None).unwrap())
        .collect();
    // One whose first attempt is undelivered (retryable) and whose second is read; one that
    // fails for good; one that is read at once.
    let retried = numbers
        .iter()
        .find(|p| fate(p, 1).0 == MessageStatus::Undelivered && fate(p, 2).0 == MessageStatus::Read)
        .unwrap()
        .clone();
    let permanent = numbers
        .iter()
        .find(|p| fate(p, 1).0 == MessageStatus::Failed)
        .unwrap()
        .clone();
    let read = numbers
        .iter()
        .find(|p| fate(p, 1).0 == MessageStatus::Read)
        .unwrap()
        .clone();
    let outsider = "+14155559999";
    let mut people: Vec<serde_json::Value> = [&retried, &permanent, &read]
        .iter()
        .map(|p| json!({"phone_number": p.as_str(), "attributes": {"first_name": "Kim"}}))
        .collect();
    people.push(json!({"phone_number": outsider, "attributes": {"first_name": "Out"}}));
    let r = s
        .post(
            "/api/v1/recipients",
            OPERATOR,
            json!({ "recipients": people }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for p in [&retried, &permanent, &read] {
        let path = format!(
            "/api/v1/recipients/{}/subscribe",
            p.as_str().replace('+', "%2B")
        );
        let r = s.post(&path, OPERATOR, json!({"topic": "wake-up"})).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = s
        .send(
            Method::PUT,
            "/api/v1/templates/wake/sms/en",
            Some(OPERATOR),
            Some(json!({"text": "Good morning, {first_name}"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let c = s
        .campaign(
            "wake-ups",
            json!({"channel": "sms", "messaging": {"template": "wake", "topic": "wake-up", "retry_after_secs": 60}}),
        )
        .await;
    let cid = dialer_engine::CampaignId::new(c).unwrap();
    let r = s
        .post(&format!("/api/v1/campaigns/{c}/start"), OPERATOR, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = |p: &PhoneNumber| Message::id_for(cid, "launch", p);
    let m = settled(&s, &mut changes, &id(&read), MessageStatus::Read).await;
    assert_eq!((m.attempts, m.body.as_str()), (1, "Good morning, Kim"));
    let m = settled(&s, &mut changes, &id(&permanent), MessageStatus::Failed).await;
    assert_eq!((m.attempts, m.error_code.as_deref()), (1, Some("30006")));
    let m = settled(&s, &mut changes, &id(&retried), MessageStatus::Read).await;
    assert_eq!(m.attempts, 2, "sent again after the retryable failure");
    assert_eq!(m.error_code, None, "the last attempt did not fail");
    // The subscribers' three messages, and nothing for the one who is not subscribed.
    let r = s
        .get(&format!("/api/v1/campaigns/{c}/message-stats"), VIEWER)
        .await;
    assert_eq!(r.body["messages"], 3, "{}", r.body);
    assert_eq!(
        r.body["failures_by_code"],
        json!({"30006": 1}),
        "{}",
        r.body
    );
    let out = s
        .get(
            &format!(
                "/api/v1/recipients/{}/messages",
                outsider.replace('+', "%2B")
            ),
            VIEWER,
        )
        .await;
    assert_eq!(out.body, json!([]), "{}", out.body);
    s.stop().await;
}
