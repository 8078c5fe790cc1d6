//! Crashes: a dialer slot that panics mid-call, and a whole engine restarted mid-campaign.

use std::collections::HashMap;
use std::time::Duration;

use dialer_engine::{CallStatus, CampaignState};
use dialer_storage::{CallFilter, CallStore, CounterStore};

use crate::harness::{
    Harness, WEEK, always_picked, config, expected, mixed, number, settings, wait_for,
};

#[tokio::test(start_paused = true)]
async fn a_slot_that_panics_mid_call_is_restarted_and_its_call_is_neither_lost_nor_redialed() {
    let h = Harness::start(always_picked(), config()).await;
    // The simulator places this call, then panics inside the slot: a crash after the request.
    h.sim.panic_after_dialing(number(3));
    let campaign = h.campaign(settings(3, 3, 10), 10).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;

    let record = h.sim.record();
    assert_eq!(record.dials_to(&number(3)).len(), 1, "dialed exactly once");
    assert_eq!(record.dials.len(), 10);
    assert_eq!(record.duplicate_dials, 0);
    assert_eq!(
        h.engine
            .restarts()
            .slots
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let calls = h.calls(campaign.id).await;
    assert_eq!(calls.len(), 10);
    let crashed = calls.iter().find(|c| c.phone_number == number(3)).unwrap();
    assert_eq!(
        (crashed.status, crashed.attempt_count),
        (CallStatus::Picked, 1),
        "its outcome was adopted"
    );
    assert!(calls.iter().all(|c| c.status == CallStatus::Picked));
    assert_eq!(
        h.engine.calls_in_slots(),
        0,
        "the crashed slot's route went with it"
    );
}

#[tokio::test(start_paused = true)]
async fn an_engine_restarted_mid_campaign_finishes_it_with_no_contact_lost_or_dialed_twice() {
    let profile = mixed();
    let mut h = Harness::start(profile.clone(), config()).await;
    let campaign = h.campaign(settings(20, 3, 15), 400).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    // Mid-campaign: calls are queued, in flight, and waiting for retries.
    tokio::time::sleep(Duration::from_secs(400)).await;
    let before = h.sim.record();
    let filter = CallFilter {
        campaign_id: Some(campaign.id),
        status: Some(CallStatus::Retrying),
        ..CallFilter::default()
    };
    assert!(
        !h.store
            .list_calls(&filter, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "retries are pending at the restart"
    );
    assert!(
        before.dials.len() > 20 && before.active > 0,
        "restart while calls are in flight: {} dials, {} active",
        before.dials.len(),
        before.active
    );
    h.restart().await;
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;

    let want = expected(&h.sim, &profile, 400, 3);
    let record = h.sim.record();
    assert_eq!(record.duplicate_dials, 0);
    assert_eq!(record.dials.len(), want.dials);
    let mut per_number: HashMap<_, u32> = HashMap::new();
    for d in &record.dials {
        *per_number.entry(d.to.clone()).or_default() += 1;
    }
    for (i, attempts) in want.attempts.iter().enumerate() {
        assert_eq!(
            per_number.get(&number(i as u32)),
            Some(attempts),
            "contact {i}"
        );
    }
    let calls = h.calls(campaign.id).await;
    assert_eq!(calls.len(), 400, "one call per contact");
    assert!(calls.iter().all(|c| c.status.is_terminal()));
    let counters = h.store.counters(campaign.id).await.unwrap();
    assert_eq!(counters.get("attempts"), Some(&(want.dials as i64)));
    assert_eq!(counters.get("in_flight"), Some(&0));
}
