//! The message store: messages created once per id, the due queue, claims as compare-and-set,
//! reports that only move forward, listings, counts, and messaging events.

use dialer_engine::CampaignId;
use dialer_engine::messaging::{Channel, MessageStatus};
use serde_json::json;

use crate::Store;
use crate::messages::{
    EventKind, Message, MessageEvent, MessageFilter, MessageScope, ReceiptWrite, Report,
};
use crate::testsuite::fixtures::{at, new_campaign, phone, t0};

fn message(campaign: CampaignId, n: u32, cause: &str, due_ms: i64) -> Message {
    let p = phone(n);
    Message {
        message_id: Message::id_for(campaign, cause, &p),
        campaign_id: campaign,
        phone_number: p,
        channel: Channel::Sms,
        cause: cause.to_owned(),
        body: format!("hello {n}"),
        status: MessageStatus::Pending,
        attempts: 0,
        due_at: at(due_ms),
        provider_sid: None,
        error_code: None,
        reason: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn report(status: MessageStatus, sid: Option<&str>, code: Option<&str>, ms: i64) -> Report {
    Report {
        status,
        provider_sid: sid.map(str::to_owned),
        error_code: code.map(str::to_owned),
        reason: None,
        at: at(ms),
    }
}

async fn campaign<S: Store>(s: &S) -> CampaignId {
    s.create_campaign(new_campaign("texts"), t0())
        .await
        .unwrap()
        .id
}

pub async fn messages_are_created_once_and_queued_by_due_time<S: Store>(s: &S) {
    let c = campaign(s).await;
    let a = message(c, 1, "launch", 2_000);
    let b = message(c, 2, "launch", 1_000);
    let later = message(c, 3, "launch", 60_000);
    let added = s
        .create_messages(vec![a.clone(), b.clone(), later.clone()])
        .await
        .unwrap();
    assert_eq!(added, [true, true, true]);
    let mut changed = a.clone();
    changed.body = "a second body".into();
    assert_eq!(
        s.create_messages(vec![changed]).await.unwrap(),
        [false],
        "one message per recipient and cause"
    );
    assert_eq!(s.get_message(&a.message_id).await.unwrap(), Some(a.clone()));
    let due = s.due_messages(at(5_000), 10).await.unwrap();
    assert_eq!(
        due,
        [b.clone(), a.clone()],
        "earliest first, not yet due left out"
    );
    assert_eq!(
        s.due_messages(at(5_000), 1).await.unwrap(),
        std::slice::from_ref(&b)
    );
    assert!(s.get_message("no-such").await.unwrap().is_none());
}

pub async fn a_claim_is_a_compare_and_set_and_leaves_the_queue<S: Store>(s: &S) {
    let c = campaign(s).await;
    let m = message(c, 1, "launch", 0);
    s.create_messages(vec![m.clone()]).await.unwrap();
    let mut sending = m.clone();
    sending.status = MessageStatus::Sending;
    sending.attempts = 1;
    sending.updated_at = at(10);
    assert!(
        s.transition(MessageStatus::Pending, 0, &sending)
            .await
            .unwrap()
    );
    assert!(
        !s.transition(MessageStatus::Pending, 0, &sending)
            .await
            .unwrap(),
        "a second claim of the same attempt fails"
    );
    assert!(s.due_messages(at(1_000), 10).await.unwrap().is_empty());
    // Failed, then put back for a second attempt later: due again then.
    let failed = s
        .apply_report(
            &m.message_id,
            report(MessageStatus::Failed, None, Some("30003"), 20),
        )
        .await
        .unwrap()
        .unwrap();
    let mut again = failed.clone();
    again.status = MessageStatus::Pending;
    again.due_at = at(300_000);
    assert!(
        s.transition(MessageStatus::Failed, 1, &again)
            .await
            .unwrap()
    );
    assert!(s.due_messages(at(1_000), 10).await.unwrap().is_empty());
    assert_eq!(
        s.due_messages(at(300_000), 10).await.unwrap(),
        [again.clone()]
    );
}

pub async fn reports_only_move_a_message_forward<S: Store>(s: &S) {
    let c = campaign(s).await;
    let m = message(c, 1, "launch", 0);
    s.create_messages(vec![m.clone()]).await.unwrap();
    let id = &m.message_id;
    let read = s
        .apply_report(id, report(MessageStatus::Read, None, None, 30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.status, MessageStatus::Read);
    // The send's own answer arrives late: no state change, but its SID is kept.
    let with_sid = s
        .apply_report(id, report(MessageStatus::Queued, Some("SM1"), None, 10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with_sid.status, MessageStatus::Read);
    assert_eq!(with_sid.provider_sid.as_deref(), Some("SM1"));
    assert_eq!(
        s.apply_report(id, report(MessageStatus::Delivered, Some("SM1"), None, 20))
            .await
            .unwrap(),
        None,
        "a delivered after read changes nothing"
    );
    let stored = s.get_message(id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Read);
    assert_eq!(stored.provider_sid.as_deref(), Some("SM1"));
    assert_eq!(
        s.apply_report("no-such", report(MessageStatus::Sent, None, None, 1))
            .await
            .unwrap(),
        None
    );
}

fn event(kind: EventKind, ms: i64, message_id: &str) -> MessageEvent {
    MessageEvent {
        event_id: MessageEvent::new_id(at(ms)),
        kind,
        at: at(ms),
        phone_number: None,
        message_id: Some(message_id.to_owned()),
        raw: json!({"at": ms}),
        normalized: json!({"kind": kind.as_str()}),
    }
}

pub async fn a_receipt_is_kept_and_applied_only_to_the_current_attempt<S: Store>(s: &S) {
    let c = campaign(s).await;
    let m = message(c, 1, "launch", 0);
    s.create_messages(vec![m.clone()]).await.unwrap();
    let id = &m.message_id;
    // A claim noted with its decision: the event exists only when the claim won.
    let mut sending = m.clone();
    sending.status = MessageStatus::Sending;
    sending.attempts = 1;
    let claim = event(EventKind::Decision, 5, id);
    assert!(
        s.transition_noting(MessageStatus::Pending, 0, &sending, claim.clone())
            .await
            .unwrap()
    );
    let lost = event(EventKind::Decision, 6, id);
    assert!(
        !s.transition_noting(MessageStatus::Pending, 0, &sending, lost.clone())
            .await
            .unwrap(),
        "the same attempt is not claimed twice"
    );
    let receipt = |attempt, status, ms| ReceiptWrite {
        report_for: id.clone(),
        attempt,
        report: report(status, Some("SM1"), None, ms),
        event: event(EventKind::Receipt, ms, id),
    };
    let sent = receipt(1, MessageStatus::Sent, 10);
    let applied = s.record_receipt(sent.clone()).await.unwrap().unwrap();
    assert_eq!(applied.before, sending);
    let moved = applied.moved.clone().unwrap();
    assert_eq!(
        (moved.status, moved.provider_sid.as_deref()),
        (MessageStatus::Sent, Some("SM1"))
    );
    assert_eq!(applied.current(), &moved);
    // The second attempt is claimed; a late word on the first is kept, never applied.
    let mut second = moved.clone();
    second.status = MessageStatus::Sending;
    second.attempts = 2;
    assert!(s.transition(MessageStatus::Sent, 1, &second).await.unwrap());
    let late = receipt(1, MessageStatus::Delivered, 20);
    let applied = s.record_receipt(late.clone()).await.unwrap().unwrap();
    assert_eq!(
        (applied.moved, applied.before.status),
        (None, MessageStatus::Sending)
    );
    let unknown = ReceiptWrite {
        report_for: "no-such".into(),
        ..receipt(0, MessageStatus::Read, 30)
    };
    assert_eq!(s.record_receipt(unknown.clone()).await.unwrap(), None);
    assert_eq!(
        s.get_message(id).await.unwrap().unwrap().status,
        MessageStatus::Sending
    );
    let kept: Vec<_> = s
        .message_events(None, None, 10, at(1_000))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        kept,
        [unknown.event, late.event, sent.event, claim]
            .into_iter()
            .map(|e| e.event_id)
            .collect::<Vec<_>>(),
        "every receipt is kept, even one applied to nothing; the lost claim's event is not"
    );
}

pub async fn messages_list_by_campaign_and_recipient_and_count<S: Store>(s: &S) {
    let c = campaign(s).await;
    let other = campaign(s).await;
    let batch: Vec<Message> = (1..=5).map(|n| message(c, n, "launch", 0)).collect();
    s.create_messages(batch.clone()).await.unwrap();
    s.create_messages(vec![
        message(other, 1, "launch", 0),
        message(c, 1, "alert-1", 0),
    ])
    .await
    .unwrap();
    s.apply_report(
        &batch[0].message_id,
        report(MessageStatus::Delivered, None, None, 5),
    )
    .await
    .unwrap();
    s.apply_report(
        &batch[1].message_id,
        report(MessageStatus::Undelivered, None, Some("30006"), 5),
    )
    .await
    .unwrap();
    let scope = |sc| MessageFilter {
        scope: sc,
        status: None,
    };
    // Pages in id order, every one once.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_messages(scope(MessageScope::Campaign(c)), after.clone(), 2)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|m| m.message_id.clone());
        seen.extend(page.into_iter().map(|m| m.message_id));
    }
    let mut expected: Vec<String> = batch.iter().map(|m| m.message_id.clone()).collect();
    expected.push(Message::id_for(c, "alert-1", &phone(1)));
    expected.sort();
    assert_eq!(seen, expected);
    let ones = s
        .list_messages(scope(MessageScope::Recipient(phone(1))), None, 10)
        .await
        .unwrap();
    assert_eq!(ones.len(), 3, "both campaigns' messages to the number");
    let delivered = s
        .list_messages(
            MessageFilter {
                scope: MessageScope::Campaign(c),
                status: Some(MessageStatus::Delivered),
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1);
    let counts = s.message_counts(c).await.unwrap();
    assert_eq!(counts.by_status.get("pending"), Some(&4));
    assert_eq!(counts.by_status.get("delivered"), Some(&1));
    assert_eq!(counts.by_status.get("undelivered"), Some(&1));
    assert_eq!(counts.by_error.get("30006"), Some(&1));
    assert_eq!(
        s.message_counts(other)
            .await
            .unwrap()
            .by_status
            .get("pending"),
        Some(&1)
    );
}

pub async fn message_events_keep_raw_and_normalized_newest_first<S: Store>(s: &S) {
    let event = |kind, ms: i64, n: u32| MessageEvent {
        event_id: MessageEvent::new_id(at(ms)),
        kind,
        at: at(ms),
        phone_number: Some(phone(n)),
        message_id: None,
        raw: json!({"Body": format!("raw {n}"), "From": phone(n).as_str()}),
        normalized: json!({"command": "stop", "n": n}),
    };
    let events = [
        event(EventKind::Inbound, 1_000, 1),
        event(EventKind::Receipt, 2_000, 2),
        event(EventKind::Inbound, 3_000, 3),
        event(EventKind::Decision, 4_000, 4),
    ];
    for e in &events {
        s.add_message_event(e.clone()).await.unwrap();
    }
    let all = s.message_events(None, None, 10, at(10_000)).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>(),
        events
            .iter()
            .rev()
            .map(|e| e.event_id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(all[3], events[0], "raw and normalized kept as given");
    let inbound = s
        .message_events(Some(EventKind::Inbound), None, 1, at(10_000))
        .await
        .unwrap();
    assert_eq!(inbound, [events[2].clone()]);
    let older = s
        .message_events(
            Some(EventKind::Inbound),
            Some(inbound[0].event_id.clone()),
            10,
            at(10_000),
        )
        .await
        .unwrap();
    assert_eq!(older, [events[0].clone()]);
}
