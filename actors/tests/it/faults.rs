//! Faults: storage that fails, a lease store that is unreachable or loses its leases, a crash
//! that takes the simulated network with it, time passing while the engine is down, and a
//! number put on the do-not-call list at the last moment. Each asserted from the simulator's
//! record and from storage.

use std::collections::HashMap;
use std::time::Duration;

use dialer_engine::{
    AuditKind, BlockReason, CallStatus, CampaignSettings, CampaignState, SimProfile,
};
use dialer_storage::{CallStore, CounterStore, DncEntry, DncKind, DncStore, EventStore};

use crate::harness::{
    Harness, WEEK, always_picked, config, expected, mixed, number, picked_report, settings,
    talking, wait_for,
};

#[tokio::test(start_paused = true)]
async fn storage_that_fails_for_a_while_loses_no_state_change() {
    let profile = mixed();
    let h = Harness::start(profile.clone(), config()).await;
    let campaign = h.campaign(settings(10, 3, 15), 200).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    // Two minutes in, storage refuses every write for ten minutes: outcomes arrive meanwhile.
    tokio::time::sleep(Duration::from_secs(120)).await;
    h.store.fail_commits(true);
    tokio::time::sleep(Duration::from_secs(600)).await;
    h.store.fail_commits(false);
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;

    let want = expected(&h.sim, &profile, 200, 3);
    let record = h.sim.record();
    assert_eq!(record.duplicate_dials, 0);
    assert_eq!(record.dials.len(), want.dials);
    let counters = h.store.counters(campaign.id).await.unwrap();
    assert_eq!(counters.get("attempts"), Some(&(want.dials as i64)));
    assert_eq!(counters.get("status.PICKED"), Some(&(want.picked as i64)));
    assert_eq!(counters.get("in_flight"), Some(&0));
    assert!(
        h.calls(campaign.id)
            .await
            .iter()
            .all(|c| c.status.is_terminal())
    );
}

/// A page of contacts is made into calls in several commits: when storage refuses one after
/// the first, the calls already written are dialed and the list goes on after them — no
/// contact made into a call twice, none left out.
#[tokio::test(start_paused = true)]
async fn a_page_of_contacts_whose_later_commit_fails_is_made_into_calls_once() {
    let profile = mixed();
    let h = Harness::start(profile.clone(), config()).await;
    // 100 lines read 200 contacts ahead: the first page is all of them, written 64 calls a
    // commit, and storage refuses the second of those commits.
    let campaign = h.campaign(settings(100, 3, 15), 200).await;
    h.store.fail_cursor_commit(2);
    h.engine.start_campaign(campaign.id).await.unwrap();
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;

    let calls = h.calls(campaign.id).await;
    assert_eq!(calls.len(), 200, "one call for each contact");
    let mut contacts: Vec<_> = calls.iter().filter_map(|c| c.contact_id).collect();
    contacts.sort_unstable();
    contacts.dedup();
    assert_eq!(contacts.len(), 200);
    let want = expected(&h.sim, &profile, 200, 3);
    let record = h.sim.record();
    assert_eq!(record.duplicate_dials, 0);
    assert_eq!(record.dials.len(), want.dials);
    assert!(calls.iter().all(|c| c.status.is_terminal()));
}

#[tokio::test(start_paused = true)]
async fn an_owner_that_cannot_be_started_is_started_later_and_the_engine_keeps_running() {
    let mut h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(5, 1, 10), 50).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    h.stop().await;
    // The campaign cannot be read for its next three starts: each failed start is retried.
    h.store.fail_campaign_reads(3);
    h.start_again().await;
    assert!(h.engine.is_alive(), "the engine starts without it");
    tokio::time::sleep(Duration::from_secs(10)).await;
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    assert!(h.engine.is_alive(), "the engine never stopped itself");
    let restarts = h
        .engine
        .restarts()
        .campaigns
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(restarts >= 1, "{restarts} restarts");
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 50);
    assert_eq!(record.duplicate_dials, 0);
}

#[tokio::test(start_paused = true)]
async fn a_lease_store_outage_never_delays_a_provider_report() {
    let h = Harness::start(talking(60), config()).await;
    h.sim.detach();
    let campaign = h.campaign(settings(2, 1, 10), 10).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let in_flight: Vec<_> = h
        .calls(campaign.id)
        .await
        .into_iter()
        .filter(|c| c.status.is_live())
        .collect();
    assert_eq!(in_flight.len(), 2);
    // Every lease-store call now takes ten seconds and fails.
    h.leases.set_unreachable(Some(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let report = picked_report(12);
    let started = tokio::time::Instant::now();
    let outcome = h.engine.report(in_flight[0].call_id, report).await.unwrap();
    assert!(outcome.applied);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "the report took {:?}",
        started.elapsed()
    );
    // No new dial while leases cannot be taken: fail closed.
    let dials = h.sim.record().dials.len();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(h.sim.record().dials.len(), dials);
    // Back: dialing resumes.
    h.leases.set_unreachable(None);
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(h.sim.record().dials.len() > dials);
}

#[tokio::test(start_paused = true)]
async fn when_the_lease_store_loses_its_leases_holders_reassert_before_anyone_takes_more() {
    let mut config = config();
    config.max_concurrent_calls = 6;
    let h = Harness::start(talking(120), config).await;
    let a = h.campaign(settings(6, 1, 10), 60).await;
    let b = h.campaign(settings(6, 1, 10), 60).await;
    h.engine.start_campaign(a.id).await.unwrap();
    h.engine.start_campaign(b.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(h.sim.record().active, 6, "at the cap");
    // The lease store comes back empty while six calls are in flight.
    h.leases.forget_all();
    wait_for(&h, a.id, CampaignState::Completed, WEEK).await;
    wait_for(&h, b.id, CampaignState::Completed, WEEK).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 120);
    assert_eq!(
        record.max_active, 6,
        "never more than the cap, though the store lost every lease"
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_crash_that_took_the_network_too_calls_in_flight_are_resolved_at_once() {
    // Three-minute calls, a max call duration of an hour: waiting for silence would hold the
    // lines for an hour; asking frees them as the calls end.
    let profile = mixed();
    let mut h = Harness::start(profile.clone(), config()).await;
    let campaign = h.campaign(settings(20, 3, 15), 200).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(300)).await;
    let before = h.sim.record();
    assert!(
        before.active > 5,
        "{} in flight at the crash",
        before.active
    );
    let crashed_at = h.clock.now();
    h.crash_with_the_network().await;
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    let after = h.sim.record();
    // Every attempt is dialed once across both networks: none of those in flight at the crash
    // is dialed again, answered or not.
    let mut per_number: HashMap<_, u32> = HashMap::new();
    for d in before.dials.iter().chain(after.dials.iter()) {
        *per_number.entry(d.to.clone()).or_default() += 1;
    }
    let want = expected(&h.sim, &profile, 200, 3);
    for (i, attempts) in want.attempts.iter().enumerate() {
        assert_eq!(
            per_number.get(&number(i as u32)),
            Some(attempts),
            "contact {i}"
        );
    }
    for d in &after.dials {
        assert!(
            !before
                .dials
                .iter()
                .any(|b| b.call_id == d.call_id && b.attempt == d.attempt),
            "attempt {} of {} dialed again after the crash",
            d.attempt,
            d.call_id
        );
    }
    // The lines were free long before the hour of silence a wait would have cost.
    let first_after = after.dials.iter().map(|d| d.at).min().unwrap();
    assert!(
        first_after - crashed_at < chrono::Duration::minutes(5),
        "the first dial after the crash came {} later",
        first_after - crashed_at
    );
}

#[tokio::test(start_paused = true)]
async fn work_that_falls_due_while_the_engine_is_down_is_dialed_after_start_in_due_order() {
    // Every first attempt rings out: retries are due ten minutes later.
    let profile = SimProfile {
        picked: 0,
        disconnected: 0,
        rnr: 1,
        failed: 0,
        ..always_picked()
    };
    let mut h = Harness::start(profile, config()).await;
    let campaign = h.campaign(settings(10, 2, 10), 5).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    let t0 = h.clock.now();
    let scheduled = [
        t0 + chrono::Duration::minutes(20),
        t0 + chrono::Duration::minutes(15),
    ];
    for (i, at) in scheduled.iter().enumerate() {
        h.engine
            .initiate_call(campaign.id, number(100 + i as u32), Some(*at), None)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    // Down for an hour: the retries (due at ~10:30) and both scheduled calls fall due meanwhile.
    h.stop().await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let restarted = h.clock.now();
    h.start_again().await;
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    // The scheduled calls ring out too, and are retried ten minutes later.
    tokio::time::sleep(Duration::from_secs(1800)).await;

    let record = h.sim.record();
    let late: Vec<_> = record
        .dials
        .iter()
        .filter(|d| d.at >= restarted && d.at - restarted < chrono::Duration::minutes(1))
        .collect();
    assert_eq!(
        late.len(),
        7,
        "five retries and two scheduled calls: {late:#?}"
    );
    assert!(
        late.iter()
            .all(|d| d.at - restarted < chrono::Duration::seconds(1)),
        "dialed right after the start"
    );
    // One-off calls first, in due order (scheduled for :15, then :20); then the retries.
    let order: Vec<_> = late.iter().map(|d| d.to.clone()).collect();
    assert_eq!(order[..2], [number(101), number(100)]);
    let calls = h
        .store
        .list_calls(&Default::default(), None, 100)
        .await
        .unwrap();
    assert!(
        calls.iter().all(|c| c.status.is_terminal()),
        "nothing left pending"
    );
}

#[tokio::test(start_paused = true)]
async fn a_number_put_on_the_dnc_list_while_its_call_waits_for_a_line_is_never_dialed() {
    let h = Harness::start(talking(600), config()).await;
    let campaign = h
        .campaign(
            CampaignSettings {
                one_off_share_percent: 0,
                ..settings(1, 1, 10)
            },
            2,
        )
        .await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        h.sim.record().dials.len(),
        1,
        "the second contact waits for the line"
    );
    h.store
        .add_dnc(vec![DncEntry {
            phone_number: number(1),
            kind: DncKind::Dnc,
            source: "api".into(),
            added_at: h.clock.now(),
        }])
        .await
        .unwrap();
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    assert!(h.sim.record().dials_to(&number(1)).is_empty());
    let calls = h.calls(campaign.id).await;
    let blocked = calls.iter().find(|c| c.phone_number == number(1)).unwrap();
    assert_eq!(blocked.status, CallStatus::BlockedDnc);
    let events = h.store.events_for_call(blocked.call_id).await.unwrap();
    assert!(events.iter().any(|e| e.kind
        == AuditKind::Blocked {
            reason: BlockReason::Dnc
        }));
}
