//! Hand-offs and ownership: accepted calls are found in storage whatever happens to the
//! request; memory stays bounded whatever the input rate; one writer per campaign, with its
//! lifecycle; one-off calls keep their share of the lines.

use std::time::Duration;

use dialer_engine::{CallStatus, CampaignSettings, CampaignState};
use dialer_storage::{
    Attributes, CallStore, CampaignDetails, CampaignStore, ContactStore, NewContact,
};

use crate::harness::{Harness, always_picked, config, number, settings, talking, wait_for};

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test(start_paused = true)]
async fn a_call_accepted_by_a_request_abandoned_midway_is_still_dialed() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(5, 1, 10), 0).await;
    // Requests dropped at every point of their way (as a client timeout drops them).
    for k in 0..12u32 {
        let engine = std::sync::Arc::clone(&h.engine);
        let task = tokio::spawn(async move {
            engine
                .initiate_call(campaign.id, number(100 + k), None, None)
                .await
        });
        for _ in 0..k {
            tokio::task::yield_now().await;
        }
        task.abort();
    }
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let calls = h.calls(campaign.id).await;
    assert!(
        !calls.is_empty(),
        "some of the abandoned requests wrote their call"
    );
    for call in &calls {
        assert_eq!(call.status, CallStatus::Picked, "{call:?}");
        assert_eq!(h.sim.record().dials_to(&call.phone_number).len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn memory_stays_bounded_whatever_the_input_rate() {
    let h = Harness::start(talking(30), config()).await;
    let lines = 2;
    let campaign = h.campaign(settings(lines, 1, 10), 0).await;
    let read_ahead = (lines * h.config.read_ahead_per_line).max(4) as usize;
    // A burst of 1,000 one-off calls, far more than two lines can carry at once.
    for i in 0..1_000 {
        h.engine
            .initiate_call(campaign.id, number(i), None, None)
            .await
            .unwrap();
    }
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(300)).await;
        let s = h.engine.campaign_snapshot(campaign.id).await.unwrap();
        assert!(
            s.held <= 2 * read_ahead,
            "{} calls held in memory for a read-ahead of {read_ahead}",
            s.held
        );
    }
    tokio::time::sleep(Duration::from_secs(86_400)).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 1_000, "every call was dialed");
    assert!(record.max_active <= lines as usize);
    // In the order they were accepted.
    let order: Vec<_> = record.dials.iter().map(|d| d.to.clone()).collect();
    let want: Vec<_> = (0..1_000).map(number).collect();
    assert_eq!(order, want);
}

#[tokio::test(start_paused = true)]
async fn a_campaign_without_contacts_runs_idle_and_dials_what_is_imported_within_a_second() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(5, 1, 10), 0).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let state = h
        .store
        .get_campaign(campaign.id)
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(
        state,
        CampaignState::Running,
        "running and idle, not completed"
    );
    // Contacts arrive while it runs.
    let imported_at = h.clock.now();
    add_contacts(&h, campaign.id, 0..20).await;
    h.engine.contacts_added(campaign.id);
    wait_for(&h, campaign.id, CampaignState::Completed, DAY).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 20);
    let first = record.dials.iter().map(|d| d.at).min().unwrap();
    assert!(
        first - imported_at < chrono::Duration::seconds(1),
        "dialed {} after the import",
        first - imported_at
    );
    // More contacts for the completed campaign: it can be started again, and dials only them.
    add_contacts(&h, campaign.id, 20..30).await;
    h.engine.contacts_added(campaign.id);
    let restarted = h.engine.start_campaign(campaign.id).await.unwrap();
    assert_eq!(restarted.state, CampaignState::Running);
    wait_for(&h, campaign.id, CampaignState::Completed, DAY).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 30);
    assert_eq!(record.duplicate_dials, 0);
    assert_eq!(h.calls(campaign.id).await.len(), 30, "one call per contact");
}

async fn add_contacts(h: &Harness, id: dialer_engine::CampaignId, range: std::ops::Range<u32>) {
    let contacts = range
        .map(|i| NewContact {
            phone_number: number(i),
            attributes: Attributes::new(),
        })
        .collect();
    h.store
        .add_contacts(id, contacts, h.clock.now())
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_operators_edit_never_moves_the_state_or_the_cursor_back() {
    let mut h = Harness::start(talking(60), config()).await;
    let campaign = h.campaign(settings(5, 1, 10), 100).await;
    // The operator read the campaign before it started…
    let stale = h.store.get_campaign(campaign.id).await.unwrap().unwrap();
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
    let before = h.store.get_campaign(campaign.id).await.unwrap().unwrap();
    assert!(before.dial_cursor.is_some());
    // …and saves an edit made on that copy while the campaign dials.
    let mut details = CampaignDetails {
        name: "renamed".into(),
        ..CampaignDetails::of(&stale)
    };
    details.settings.max_calls_per_minute = Some(600);
    let edited = h
        .store
        .update_campaign_details(campaign.id, details, h.clock.now())
        .await
        .unwrap();
    h.engine.campaign_updated(&edited);
    assert_eq!(edited.state, CampaignState::Running);
    assert_eq!(edited.dial_cursor, before.dial_cursor);
    // A restart reads the cursor back: no contact is called twice.
    h.restart().await;
    wait_for(&h, campaign.id, CampaignState::Completed, DAY).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 100);
    assert_eq!(record.duplicate_dials, 0);
    let done = h.store.get_campaign(campaign.id).await.unwrap().unwrap();
    assert_eq!(done.name, "renamed");
}

#[tokio::test(start_paused = true)]
async fn a_one_off_call_is_dialed_at_once_while_a_long_list_holds_the_campaigns_lines() {
    // Ten-minute calls; ten lines, of which the list may hold eight.
    let h = Harness::start(talking(600), config()).await;
    let campaign = h
        .campaign(
            CampaignSettings {
                one_off_share_percent: 20,
                ..settings(10, 1, 10)
            },
            200,
        )
        .await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(h.sim.record().active, 8, "the list keeps two lines free");
    let accepted = h.clock.now();
    let call = h
        .engine
        .initiate_call(campaign.id, number(5_000), None, None)
        .await
        .unwrap();
    let at = h
        .clock
        .now()
        .checked_add_signed(chrono::Duration::seconds(1))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dials = h.sim.record().dials_to(&number(5_000)).len();
    assert_eq!(dials, 1, "dialed within a second of {accepted}, by {at}");
    let stored = h.store.get_call(call.call_id).await.unwrap().unwrap();
    assert!(stored.status.is_live());
    // A scheduled one-off call too, at its time.
    let due = h.clock.now() + chrono::Duration::minutes(5);
    h.engine
        .initiate_call(campaign.id, number(5_001), Some(due), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(301)).await;
    let record = h.sim.record();
    let dialed = record.dials_to(&number(5_001));
    assert_eq!(dialed.len(), 1);
    assert!(
        dialed[0].at - due < chrono::Duration::seconds(1),
        "{}",
        dialed[0].at - due
    );
}
