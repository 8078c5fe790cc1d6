//! Dispatch-time checks: do-not-call, opt-outs, the duplicate guard, and the max-call-duration
//! timer that frees a line whose callback never comes.

use std::time::Duration;

use dialer_engine::{AuditKind, BlockReason, CallStatus, CampaignSettings, CampaignState, Outcome};
use dialer_storage::{CallStore, DncEntry, DncKind, DncStore, EventStore};

use crate::harness::{Harness, WEEK, always_picked, config, number, settings, wait_for};

#[tokio::test(start_paused = true)]
async fn numbers_on_the_dnc_list_or_opted_out_are_never_dialed_and_the_decision_is_recorded() {
    let h = Harness::start(always_picked(), config()).await;
    let now = h.clock.now();
    h.store
        .add_dnc(vec![
            DncEntry {
                phone_number: number(2),
                kind: DncKind::Dnc,
                source: "api".into(),
                added_at: now,
            },
            DncEntry {
                phone_number: number(3),
                kind: DncKind::OptOut,
                source: "twilio:SM1".into(),
                added_at: now,
            },
        ])
        .await
        .unwrap();
    let campaign = h.campaign(settings(3, 1, 10), 6).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    wait_for(
        &h,
        campaign.id,
        CampaignState::Completed,
        Duration::from_secs(86_400),
    )
    .await;

    let record = h.sim.record();
    assert_eq!(record.dials.len(), 4);
    assert!(record.dials_to(&number(2)).is_empty() && record.dials_to(&number(3)).is_empty());
    let calls = h.calls(campaign.id).await;
    let status_of = |n| calls.iter().find(|c| c.phone_number == number(n)).unwrap();
    assert_eq!(status_of(2).status, CallStatus::BlockedDnc);
    assert_eq!(status_of(3).status, CallStatus::BlockedOptOut);
    let events = h.store.events_for_call(status_of(3).call_id).await.unwrap();
    assert!(events.iter().any(|e| e.kind
        == AuditKind::Blocked {
            reason: BlockReason::OptOut
        }));
}

#[tokio::test(start_paused = true)]
async fn a_second_call_to_a_number_already_in_flight_is_blocked_as_a_duplicate() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(1, 1, 10), 1).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        h.sim.record().active,
        1,
        "the campaign's call to the number is in flight"
    );
    let one_off = h
        .engine
        .initiate_call(campaign.id, number(0), None, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let call = h.store.get_call(one_off.call_id).await.unwrap().unwrap();
    assert_eq!(call.status, CallStatus::BlockedDuplicate);
    wait_for(
        &h,
        campaign.id,
        CampaignState::Completed,
        Duration::from_secs(3600),
    )
    .await;
    assert_eq!(h.sim.record().dials_to(&number(0)).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn silence_past_the_deadline_is_settled_by_asking_the_provider() {
    let h = Harness::start(always_picked(), config()).await;
    // The network takes calls but no report reaches the engine.
    h.sim.detach();
    let s = CampaignSettings {
        max_call_duration_secs: 60,
        ring_timeout_secs: 30,
        ..settings(1, 2, 10)
    };
    let campaign = h.campaign(s, 2).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    // The first call is answered after 5 s and talks 30 s; its deadline is 30 + 60 s.
    tokio::time::sleep(Duration::from_secs(91)).await;
    let record = h.sim.record();
    assert_eq!(
        record.dials.len(),
        2,
        "the line was freed for the second contact"
    );
    assert_eq!((record.dials[1].at - record.dials[0].at).num_seconds(), 90);
    let calls = h.calls(campaign.id).await;
    let first = calls.iter().find(|c| c.phone_number == number(0)).unwrap();
    assert_eq!(
        (first.status, first.attempt_count, first.total_call_time),
        (CallStatus::Picked, 1, 30),
        "the provider said it was answered: it is never dialed again"
    );
    let events = h.store.events_for_call(first.call_id).await.unwrap();
    assert!(
        events.iter().any(
            |e| matches!(&e.kind, AuditKind::Resolved { answer } if answer.starts_with("ended"))
        )
    );
}

#[tokio::test(start_paused = true)]
async fn silence_nobody_can_account_for_fails_the_attempt_at_its_deadline_and_frees_the_line() {
    // A provider that cannot be asked, and whose reports never come.
    let h = Harness::start_with(always_picked(), config(), |sim| sim.blind()).await;
    h.sim.detach();
    let s = CampaignSettings {
        max_call_duration_secs: 60,
        ring_timeout_secs: 30,
        ..settings(1, 2, 10)
    };
    let campaign = h.campaign(s, 2).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(91)).await;

    let record = h.sim.record();
    assert_eq!(
        record.dials.len(),
        2,
        "the line was freed for the second contact"
    );
    assert_eq!((record.dials[1].at - record.dials[0].at).num_seconds(), 90);
    let first = h.calls(campaign.id).await;
    let first = first.iter().find(|c| c.phone_number == number(0)).unwrap();
    assert_eq!(
        (first.status, first.last_outcome),
        (CallStatus::Retrying, Some(Outcome::Failed))
    );
    assert_eq!(
        first.error_message.as_deref(),
        Some("no report from the provider: no outcome within 90 s")
    );
    let events = h.store.events_for_call(first.call_id).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, AuditKind::TimedOut { after_secs: 90 }))
    );
    use dialer_storage::lease::{LeaseStore, PoolId};
    assert_eq!(
        h.leases
            .count(&PoolId::campaign(campaign.id))
            .await
            .unwrap(),
        1,
        "only the second call holds a line"
    );
}

/// A running campaign of 20 contacts whose first page of list calls is being written, held.
async fn started_with_its_first_page_held() -> (Harness, dialer_engine::Campaign) {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(5, 1, 10), 20).await;
    h.store.hold_cursor_commits(true);
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    (h, campaign)
}

/// Contacts are made into calls beside the campaign's owner, not in its handler: while a
/// page's write is slow (storage's writer is one, so nothing else is written meanwhile either)
/// the owner goes on answering; the page's calls are dialed once it lands, each contact once.
#[tokio::test(start_paused = true)]
async fn the_owner_answers_while_new_list_calls_are_being_written() {
    let (h, campaign) = started_with_its_first_page_held().await;
    let snapshot = tokio::time::timeout(
        Duration::from_secs(5),
        h.engine.campaign_snapshot(campaign.id),
    )
    .await
    .expect("the owner answers while the page is written")
    .unwrap();
    assert_eq!(snapshot.ready_list, 0, "no list call is written yet");
    assert!(h.sim.record().dials.is_empty());

    h.store.hold_cursor_commits(false);
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 20);
    assert_eq!(record.duplicate_dials, 0);
    let numbers: std::collections::HashSet<_> = record.dials.iter().map(|d| &d.to).collect();
    assert_eq!(numbers.len(), 20, "each contact dialed once");
}

/// A stop that comes while a page of new list calls is being written waits for it and
/// cancels its calls with the rest: none is left pending or held, none is dialed.
#[tokio::test(start_paused = true)]
async fn a_stop_during_a_write_of_new_list_calls_cancels_them() {
    let (h, campaign) = started_with_its_first_page_held().await;
    let engine = std::sync::Arc::clone(&h.engine);
    let stop = tokio::spawn(async move { engine.stop_campaign(campaign.id).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    h.store.hold_cursor_commits(false);
    let (stopped, cancelled) = stop.await.unwrap().unwrap();
    assert_eq!(stopped.state, CampaignState::Stopped);
    let calls = h.calls(campaign.id).await;
    assert!(!calls.is_empty(), "the page was written");
    assert_eq!(cancelled as usize, calls.len());
    assert!(calls.iter().all(|c| c.status == CallStatus::Cancelled));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(h.sim.record().dials.is_empty());
    // The owner holds no stale copy of them (one would be dialed if the campaign started
    // again): it has nothing left and retires.
    assert!(
        h.engine
            .campaign_snapshot(campaign.id)
            .await
            .is_none_or(|s| s.held == 0),
        "the owner still holds calls of the stopped campaign"
    );
}
