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
