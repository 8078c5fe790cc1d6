//! A dial recorded while its leases are asked for: sent only once they are granted, given back
//! unsent when they are refused, never sent for a campaign stopped meanwhile — and a lease
//! store that stays shut records no dials it would have to give back.

use std::time::Duration;

use dialer_engine::{AuditKind, CallStatus, CampaignState};
use dialer_storage::lease::{LeaseStore, PoolId};
use dialer_storage::{CounterStore, DncEntry, DncKind, DncStore, EventStore};

use crate::harness::{Harness, WEEK, config, settings, talking, wait_for};

/// Two lines, calls of 60 s answered after 5 s: the first two calls end 65 s after the start.
async fn two_in_flight(contacts: u32) -> (Harness, dialer_engine::Campaign) {
    let h = Harness::start(talking(60), config()).await;
    let campaign = h.campaign(settings(2, 1, 10), contacts).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.sim.record().dials.len(), 2);
    (h, campaign)
}

/// As [`two_in_flight`], with leases answered 10 s after they are asked for from 1 s on: at
/// 70 s the next two calls (taken at 65 s) wait for theirs, their dials recorded.
async fn two_recorded_waiting(
    contacts: u32,
) -> (Harness, dialer_engine::Campaign, Vec<dialer_engine::Call>) {
    let (h, campaign) = two_in_flight(contacts).await;
    h.leases.set_grant_delay(Some(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_secs(69)).await;
    let recorded = dialing(&h, &campaign).await;
    assert_eq!(
        recorded.len(),
        2,
        "the next two dials are recorded while their leases are asked for"
    );
    assert_eq!(h.sim.record().dials.len(), 2, "and not sent before");
    (h, campaign, recorded)
}

async fn dialing(h: &Harness, campaign: &dialer_engine::Campaign) -> Vec<dialer_engine::Call> {
    h.calls(campaign.id)
        .await
        .into_iter()
        .filter(|c| c.status == CallStatus::Dialing)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_dial_is_recorded_while_its_leases_are_asked_for_and_sent_once_they_are_granted() {
    let (h, campaign, recorded) = two_recorded_waiting(4).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 4, "sent once granted");
    for call in &recorded {
        assert_eq!(record.dials_to(&call.phone_number).len(), 1);
    }
    h.leases.set_grant_delay(None);
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    let record = h.sim.record();
    assert_eq!(
        (
            record.dials.len(),
            record.duplicate_dials,
            record.max_active
        ),
        (4, 0, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_refused_after_the_dial_was_recorded_gives_the_attempt_back_unsent() {
    let (h, campaign, _) = two_recorded_waiting(6).await;
    // The lease store goes away before it answers, for four minutes: every call to it then
    // takes 10 s more and fails.
    h.leases.set_unreachable(Some(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_secs(240)).await;
    assert_eq!(
        h.sim.record().dials.len(),
        2,
        "nothing dialed without leases"
    );
    assert!(dialing(&h, &campaign).await.is_empty(), "nor left dialing");
    h.leases.set_unreachable(None);
    h.leases.set_grant_delay(None);
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;

    // Every contact was dialed once, on its one attempt: the attempts recorded and given back
    // did not count against it.
    let record = h.sim.record();
    assert_eq!((record.dials.len(), record.duplicate_dials), (6, 0));
    let calls = h.calls(campaign.id).await;
    assert!(
        calls
            .iter()
            .all(|c| c.status == CallStatus::Picked && c.attempt_count == 1)
    );
    let counters = h.store.counters(campaign.id).await.unwrap();
    assert_eq!(counters.get("attempts"), Some(&6));
    assert_eq!(counters.get("in_flight"), Some(&0));
    // Only the dials recorded while the last answer was a grant were given back: once the
    // store refused, the next dials waited for their leases before being recorded.
    let mut given_back = 0;
    for call in &calls {
        for event in h.store.events_for_call(call.call_id).await.unwrap() {
            if let AuditKind::NotPlaced { reason } = &event.kind {
                assert!(reason.contains("lease store"), "{reason}");
                given_back += 1;
            }
        }
    }
    assert_eq!(
        given_back, 2,
        "one per line, not one per retry of the store"
    );
}

#[tokio::test(start_paused = true)]
async fn a_campaign_stopped_while_a_recorded_dial_waits_for_its_leases_never_sends_it() {
    let (h, campaign, recorded) = two_recorded_waiting(4).await;
    h.engine.stop_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(h.sim.record().dials.len(), 2, "never sent");
    for call in h.calls(campaign.id).await {
        if recorded.iter().any(|r| r.call_id == call.call_id) {
            assert_eq!(
                (call.status, call.attempt_count),
                (CallStatus::Cancelled, 0),
                "given back, then cancelled"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_blocked_while_its_leases_are_asked_for_gives_their_grant_back() {
    let (h, campaign) = two_in_flight(4).await;
    // The two calls not dialed yet go on the do-not-call list; leases take 10 s.
    let dialed = h.sim.record();
    let now = h.clock.now();
    let entries = h
        .calls(campaign.id)
        .await
        .into_iter()
        .filter(|c| dialed.dials_to(&c.phone_number).is_empty())
        .map(|c| DncEntry {
            phone_number: c.phone_number,
            kind: DncKind::Dnc,
            source: "api".into(),
            added_at: now,
        })
        .collect::<Vec<_>>();
    assert_eq!(entries.len(), 2);
    h.store.add_dnc(entries).await.unwrap();
    h.leases.set_grant_delay(Some(Duration::from_secs(10)));
    // Taken at 65 s and blocked at once; their leases granted at 75 s, and given back.
    tokio::time::sleep(Duration::from_secs(80)).await;
    let calls = h.calls(campaign.id).await;
    let blocked = calls
        .iter()
        .filter(|c| c.status == CallStatus::BlockedDnc)
        .count();
    assert_eq!(blocked, 2);
    let campaign_pool = PoolId::campaign(campaign.id);
    assert_eq!(
        h.leases.count(&campaign_pool).await.unwrap(),
        0,
        "its lines"
    );
    assert_eq!(
        h.leases.count(&PoolId::global()).await.unwrap(),
        0,
        "the engine's"
    );
    assert_eq!(h.sim.record().dials.len(), 2);
}
