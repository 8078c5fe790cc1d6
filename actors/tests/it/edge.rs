//! The outbound edge: a dial request that may have reached the provider is never sent again
//! for the same attempt; one that provably never did is given back without using up an attempt.
//! Asserted from the simulator's own record of what reached the network.

use std::time::Duration;

use dialer_actors::provider::sim::SimFault;
use dialer_engine::{AuditKind, CallStatus, CampaignState};
use dialer_storage::{CounterStore, EventStore};

use crate::harness::{Harness, always_picked, config, number, settings, wait_for};

const DAY: Duration = Duration::from_secs(86_400);

async fn one_contact(h: &Harness, fault: SimFault) -> dialer_engine::Call {
    h.sim.fault_on(number(0), fault);
    let campaign = h.campaign(settings(1, 1, 10), 1).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    wait_for(h, campaign.id, CampaignState::Completed, DAY).await;
    h.calls(campaign.id).await.remove(0)
}

#[tokio::test(start_paused = true)]
async fn a_dial_that_timed_out_after_the_call_was_placed_is_not_sent_again() {
    let h = Harness::start(always_picked(), config()).await;
    let call = one_contact(&h, SimFault::TimeoutAfterPlacing).await;
    let record = h.sim.record();
    assert_eq!(record.dials_to(&number(0)).len(), 1, "rung exactly once");
    assert_eq!(record.duplicate_dials, 0);
    // The provider's reports said how it went.
    assert_eq!(
        (call.status, call.attempt_count, call.total_call_time),
        (CallStatus::Picked, 1, 30)
    );
    let events = h.store.events_for_call(call.call_id).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, AuditKind::Uncertain { .. })),
        "the doubt is on record"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_gives_the_attempt_back_and_dials_again() {
    let h = Harness::start(always_picked(), config()).await;
    // max_attempts 1: were the refused dial counted, the call could never be placed.
    let call = one_contact(&h, SimFault::Refused).await;
    let record = h.sim.record();
    assert_eq!(
        record.dials_to(&number(0)).len(),
        1,
        "placed once, after the refusal"
    );
    assert_eq!(record.dials_to(&number(0))[0].attempt, 1);
    assert_eq!(
        (call.status, call.attempt_count),
        (CallStatus::Picked, 1),
        "the refused try did not count"
    );
    let events = h.store.events_for_call(call.call_id).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert!(
        kinds
            .windows(3)
            .any(|w| w == ["dialed", "not_placed", "dialed"]),
        "{kinds:?}"
    );
    let counters = h.store.counters(call.campaign_id).await.unwrap();
    assert_eq!(counters.get("attempts"), Some(&1));
    assert_eq!(counters.get("in_flight"), Some(&0));
}

#[tokio::test(start_paused = true)]
async fn a_failure_before_anything_was_placed_is_found_out_and_dialed_again() {
    let h = Harness::start(always_picked(), config()).await;
    // The request fails in a way that looks uncertain; asked, the provider has no such call.
    let call = one_contact(&h, SimFault::FailBeforePlacing).await;
    let record = h.sim.record();
    assert_eq!(record.dials_to(&number(0)).len(), 1);
    assert_eq!(record.duplicate_dials, 0);
    assert_eq!((call.status, call.attempt_count), (CallStatus::Picked, 1));
    let events = h.store.events_for_call(call.call_id).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert!(
        kinds
            .windows(3)
            .any(|w| w == ["dialed", "uncertain", "not_placed"]),
        "{kinds:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn callbacks_that_never_come_are_recovered_by_asking_and_the_call_is_not_redialed() {
    let h = Harness::start(always_picked(), config()).await;
    let call = one_contact(&h, SimFault::NoCallbacks).await;
    let record = h.sim.record();
    assert_eq!(record.dials_to(&number(0)).len(), 1);
    assert_eq!(
        (call.status, call.attempt_count),
        (CallStatus::Picked, 1),
        "answered, as the provider said when asked at the deadline"
    );
}
