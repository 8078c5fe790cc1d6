//! Campaign lifecycle (pause, resume, stop) and calling-window boundaries.

use std::time::Duration;

use chrono::Timelike;
use dialer_engine::{CallStatus, CampaignSettings, CampaignState, SimProfile};

use crate::harness::{Harness, WEEK, always_picked, config, settings, wait_for};

#[tokio::test(start_paused = true)]
async fn pause_stops_new_dials_and_resume_continues() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(5, 1, 10), 100).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(100)).await;
    h.engine.pause_campaign(campaign.id).await.unwrap();
    let paused_at = h.clock.now();
    let dialed_before = h.sim.record().dials.len();
    assert!(dialed_before > 5 && dialed_before < 100);

    tokio::time::sleep(Duration::from_secs(600)).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), dialed_before, "no dial while paused");
    assert_eq!(record.active, 0, "calls in flight at the pause finished");
    assert!(record.dials.iter().all(|d| d.at <= paused_at));

    h.engine.resume_campaign(campaign.id).await.unwrap();
    let resumed_at = h.clock.now();
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 100);
    assert_eq!(record.duplicate_dials, 0);
    assert!(
        record
            .dials
            .iter()
            .all(|d| d.at <= paused_at || d.at >= resumed_at)
    );
}

#[tokio::test(start_paused = true)]
async fn stop_cancels_pending_work_and_lets_calls_in_flight_finish() {
    // Every attempt rings out: retries are always pending.
    let profile = SimProfile {
        picked: 0,
        disconnected: 0,
        rnr: 1,
        failed: 0,
        ..always_picked()
    };
    let h = Harness::start(profile, config()).await;
    let campaign = h.campaign(settings(5, 3, 2), 100).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(200)).await;
    let (stopped, cancelled) = h.engine.stop_campaign(campaign.id).await.unwrap();
    let stopped_at = h.clock.now();
    assert_eq!(stopped.state, CampaignState::Stopped);
    assert!(cancelled > 0, "queued and retrying calls were cancelled");

    tokio::time::sleep(Duration::from_secs(86_400)).await;
    let record = h.sim.record();
    assert!(
        record.dials.iter().all(|d| d.at <= stopped_at),
        "no dial after the stop"
    );
    assert_eq!(record.active, 0);
    let calls = h.calls(campaign.id).await;
    assert!(calls.len() < 100, "contacts not yet pulled got no call");
    assert!(
        calls.iter().all(|c| c.status.is_terminal()),
        "nothing left pending: {:?}",
        calls
            .iter()
            .filter(|c| !c.status.is_terminal())
            .map(|c| c.status)
            .collect::<Vec<_>>()
    );
    assert!(calls.iter().any(|c| c.status == CallStatus::Cancelled));
    // Calls that were in flight finished their attempt and were not retried.
    assert!(
        calls
            .iter()
            .filter(|c| c.status != CallStatus::Cancelled)
            .all(|c| c.status == CallStatus::Rnr
                || c.status == CallStatus::Exhausted
                || c.attempt_count >= 1)
    );
    assert!(!h.engine.is_running(campaign.id));
    assert_eq!(
        h.store.get_campaign_state(campaign.id).await,
        CampaignState::Stopped
    );
}

/// Two lines, one attempt, calls only 09:00-09:30 UTC.
fn half_hour_at_nine() -> CampaignSettings {
    let hours = serde_json::from_str(
        r#"[{"day_of_week": "daily", "start_time": "09:00", "end_time": "09:30"}]"#,
    )
    .unwrap();
    CampaignSettings {
        calling_hours: hours,
        ..settings(2, 1, 10)
    }
}

#[tokio::test(start_paused = true)]
async fn dials_happen_only_inside_the_calling_window_and_resume_at_the_next_one() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(half_hour_at_nine(), 200).await;
    // Start at 08:50: ten minutes before the window opens.
    tokio::time::sleep(Duration::from_secs(8 * 3600 + 50 * 60)).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;

    let record = h.sim.record();
    assert_eq!(record.dials.len(), 200);
    dialed_between_nine_and_half_past(&record);
    let mut days: Vec<_> = record.dials.iter().map(|d| d.at.date_naive()).collect();
    days.dedup();
    assert!(days.len() >= 2, "the work outlasted one window");
    for day in days {
        let first = record
            .dials
            .iter()
            .filter(|d| d.at.date_naive() == day)
            .map(|d| d.at)
            .min()
            .unwrap();
        assert_eq!(
            (first.hour(), first.minute(), first.second()),
            (9, 0, 0),
            "the window opens at 09:00 on {day}"
        );
    }
}

/// More calls due at the window's close than the owner holds are all deferred to the next
/// windows and dialed in them. (Deferring a lane's calls left it empty with storage holding
/// more that were due, and nothing woke the owner to read them: 4 of the 200 were ever dialed.)
#[tokio::test(start_paused = true)]
async fn calls_due_at_the_close_beyond_what_the_owner_holds_dial_in_the_next_window() {
    let h = Harness::start(always_picked(), config()).await;
    // Two lines: the owner holds four calls of a lane.
    let campaign = h.campaign(half_hour_at_nine(), 0).await;
    tokio::time::sleep(Duration::from_secs(9 * 3600 + 29 * 60)).await;
    for i in 0..200 {
        h.engine
            .initiate_call(campaign.id, crate::harness::number(i), None, None)
            .await
            .unwrap();
    }
    // About a hundred calls fit in a window: through the third day's.
    tokio::time::sleep(Duration::from_secs(3 * 24 * 3600 + 60)).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 200, "every call dialed");
    assert_eq!(record.duplicate_dials, 0);
    dialed_between_nine_and_half_past(&record);
}

fn dialed_between_nine_and_half_past(record: &dialer_actors::provider::sim::SimRecord) {
    for d in &record.dials {
        let minutes = d.at.hour() * 60 + d.at.minute();
        assert!(
            (9 * 60..9 * 60 + 30).contains(&minutes),
            "dialed at {}",
            d.at
        );
    }
}

/// A small helper trait for reading a campaign's state in tests.
trait CampaignStateOf {
    async fn get_campaign_state(&self, id: dialer_engine::CampaignId) -> CampaignState;
}

impl CampaignStateOf for dialer_storage::memory::MemoryStore {
    async fn get_campaign_state(&self, id: dialer_engine::CampaignId) -> CampaignState {
        use dialer_storage::CampaignStore;
        self.get_campaign(id).await.unwrap().unwrap().state
    }
}

/// Outside its calling hours a campaign is not dead: its owner says how many calls wait for the
/// hours and when they open (the campaign's stats show it).
#[tokio::test(start_paused = true)]
async fn calls_waiting_for_calling_hours_are_counted_with_the_opening_time() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(half_hour_at_nine(), 20).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let gauges = h.engine.campaign_gauges(campaign.id).unwrap();
    // The owner holds its read-ahead (2 lines x 2 per line) of the list; the rest of the
    // contacts are not made into calls yet.
    assert_eq!(gauges.waiting_hours, 4, "{gauges:?}");
    // One page, whose every call waits for the hours: no other is made before they open.
    assert_eq!(h.calls(campaign.id).await.len(), 4);
    assert_eq!(gauges.waiting_lines, 0);
    let opens = gauges.hours_open_at.unwrap();
    assert_eq!((opens.hour(), opens.minute()), (9, 0), "{opens}");
    assert!(opens > h.clock.now());
    assert!(h.sim.record().dials.is_empty());
}

/// A contact whose calling hours are closed when it is made into a call is stored due at their
/// opening, in the write that makes it. (Made due now, it waited in the lane to be taken and
/// deferred by a second write the owner waited for: at 100x, with the Pacific zone still
/// closed, 13 of the owner's 20 busy seconds in a 3-hour slice.)
#[tokio::test(start_paused = true)]
async fn a_contact_made_into_a_call_outside_its_hours_is_due_at_their_opening() {
    use dialer_engine::ZonePolicy;
    use dialer_storage::{ContactStore, NewContact};
    let h = Harness::start(always_picked(), config()).await;
    let hours = serde_json::from_str(
        r#"[{"day_of_week": "daily", "start_time": "09:00", "end_time": "21:00"}]"#,
    )
    .unwrap();
    let settings = CampaignSettings {
        zone_policy: ZonePolicy::Recipient,
        calling_hours: hours,
        ..settings(1, 1, 10)
    };
    let campaign = h.campaign(settings.clone(), 0).await;
    // New York first, then Los Angeles.
    let numbers = [
        "+12125550100",
        "+13105550101",
        "+13105550102",
        "+13105550103",
    ];
    let contacts = numbers
        .iter()
        .map(|n| NewContact {
            phone_number: dialer_engine::PhoneNumber::from_stored(n).unwrap(),
            attributes: Default::default(),
        })
        .collect();
    h.store
        .add_contacts(campaign.id, contacts, h.clock.now())
        .await
        .unwrap();
    // 15:00 UTC: past 09:00 in New York, before it in Los Angeles.
    tokio::time::sleep(Duration::from_secs(15 * 3600)).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    // The one line carries New York's call (5 s of ringing, 30 of talk).
    tokio::time::sleep(Duration::from_secs(10)).await;
    let now = h.clock.now();
    assert_eq!(h.sim.record().dials.len(), 1);
    let calls = h.calls(campaign.id).await;
    let west: Vec<_> = calls
        .iter()
        .filter(|c| c.phone_number.as_str().starts_with("+1310"))
        .collect();
    assert!(!west.is_empty(), "{calls:?}");
    for call in west {
        assert_eq!(call.status, CallStatus::Initiated);
        let due = call.due_at.unwrap();
        assert!(due > now, "due at {due}, now {now}");
        assert_eq!(Some(due), settings.dial_time(&call.phone_number, now));
        let local = due.with_timezone(&chrono_tz::America::Los_Angeles);
        assert_eq!((local.hour(), local.minute()), (9, 0), "{local}");
    }
}
