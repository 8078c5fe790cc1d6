//! One-off calls: initiate-call, scheduled calls, cancelling, the duplicate window, and
//! provider reports that arrive for calls the engine has not dialed yet.

use std::time::Duration;

use dialer_actors::EngineError;
use dialer_engine::CallStatus;
use dialer_storage::CallStore;

use crate::harness::{Harness, always_picked, config, number, picked_report, settings};

#[tokio::test(start_paused = true)]
async fn an_initiated_call_is_dialed_at_once_and_a_scheduled_one_at_its_time() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(5, 1, 10), 0).await;
    let now = h.clock.now();
    let call = h
        .engine
        .initiate_call(campaign.id, number(1), None, None)
        .await
        .unwrap();
    assert_eq!(call.status, CallStatus::Initiated);
    let at = now + chrono::Duration::hours(2);
    let later = h
        .engine
        .initiate_call(campaign.id, number(2), Some(at), None)
        .await
        .unwrap();
    assert_eq!(later.status, CallStatus::Scheduled);

    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 2);
    assert_eq!(record.dials_to(&number(1))[0].at, now, "dialed at once");
    assert_eq!(record.dials_to(&number(2))[0].at, at, "dialed at its time");
    for id in [call.call_id, later.call_id] {
        assert_eq!(
            h.store.get_call(id).await.unwrap().unwrap().status,
            CallStatus::Picked
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_scheduled_call_is_never_dialed() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(5, 1, 10), 0).await;
    let at = h.clock.now() + chrono::Duration::hours(1);
    let call = h
        .engine
        .initiate_call(campaign.id, number(1), Some(at), None)
        .await
        .unwrap();
    let cancelled = h.engine.cancel_call(call.call_id).await.unwrap();
    assert_eq!(cancelled.status, CallStatus::Cancelled);
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    assert!(h.sim.record().dials.is_empty());
    assert!(matches!(
        h.engine.cancel_call(call.call_id).await,
        Err(EngineError::Conflict(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn the_same_number_within_the_duplicate_window_is_refused() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(5, 1, 10), 0).await;
    let window = Some(chrono::Duration::minutes(5));
    h.engine
        .initiate_call(campaign.id, number(1), None, window)
        .await
        .unwrap();
    let again = h
        .engine
        .initiate_call(campaign.id, number(1), None, window)
        .await;
    assert!(
        matches!(again, Err(EngineError::Duplicate { .. })),
        "{again:?}"
    );
    // Another number, or the same one five minutes later, is fine.
    h.engine
        .initiate_call(campaign.id, number(2), None, window)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(301)).await;
    h.engine
        .initiate_call(campaign.id, number(1), None, window)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_report_for_a_call_not_yet_dialed_is_applied_and_the_call_is_not_dialed() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(1, 1, 10), 0).await;
    // Fill the only line, then queue a second call behind it.
    h.engine
        .initiate_call(campaign.id, number(1), None, None)
        .await
        .unwrap();
    let queued = h
        .engine
        .initiate_call(campaign.id, number(2), None, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = picked_report(12);
    let outcome = h
        .engine
        .report(queued.call_id, report.clone())
        .await
        .unwrap();
    assert!(outcome.applied);
    assert_eq!(outcome.call.status, CallStatus::Picked);
    // A duplicate report changes nothing.
    let again = h.engine.report(queued.call_id, report).await.unwrap();
    assert!(!again.applied);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(
        h.sim.record().dials_to(&number(2)).is_empty(),
        "a call the provider reported is not dialed"
    );
}

/// Issue 10, point 5: outcomes arrived up to 17 s after the network produced them, because
/// reports waited in the campaign owner's mailbox behind its lease and page work. Here a long
/// list keeps the owner busy while one-offs arrive at 10 a second; every event of every
/// one-off is stored at the instant the simulator's timeline says it happened.
#[tokio::test(start_paused = true)]
async fn every_report_is_stored_when_the_network_sends_it_while_the_owner_is_busy() {
    use dialer_engine::AuditKind;
    use dialer_storage::EventStore;
    let h = Harness::start(always_picked(), config()).await;
    let mut s = settings(400, 1, 10);
    s.one_off_share_percent = 50;
    let campaign = h.campaign(s, 3_000).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..50 {
        let call = h
            .engine
            .initiate_call(campaign.id, number(10_000 + i), None, None)
            .await
            .unwrap();
        calls.push(call.call_id);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(120)).await;
    for id in calls {
        let events = h.store.events_for_call(id).await.unwrap();
        let at = |f: &dyn Fn(&AuditKind) -> bool| {
            events
                .iter()
                .find(|e| f(&e.kind))
                .map(|e| e.at)
                .unwrap_or_else(|| panic!("{id}: no such event in {events:?}"))
        };
        let created = at(&|k| matches!(k, AuditKind::Created { .. }));
        let dialed = at(&|k| matches!(k, AuditKind::Dialed { .. }));
        let status = |want: &'static str| move |k: &AuditKind| matches!(k, AuditKind::ProviderStatus { raw, .. } if raw.as_str() == want);
        let ended = at(&|k| matches!(k, AuditKind::Ended { .. }));
        let ms = |d: chrono::Duration| d.num_milliseconds();
        assert_eq!(ms(dialed - created), 0, "{id}: dialed when accepted");
        assert_eq!(ms(at(&status("ringing")) - dialed), 500, "{id}: ringing");
        assert_eq!(
            ms(at(&status("in-progress")) - dialed),
            5_000,
            "{id}: answered"
        );
        assert_eq!(ms(ended - dialed), 35_000, "{id}: ended");
    }
}
