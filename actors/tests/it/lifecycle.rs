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

/// Outside its calling hours a campaign is not dead: its owner says when they open (the
/// campaign's stats show it), and makes no contact into a call before then.
#[tokio::test(start_paused = true)]
async fn a_campaign_outside_its_hours_says_when_they_open_and_makes_no_call_before() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(half_hour_at_nine(), 20).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let gauges = h.engine.campaign_gauges(campaign.id).unwrap();
    let opens = gauges.hours_open_at.unwrap();
    assert_eq!((opens.hour(), opens.minute()), (9, 0), "{opens}");
    assert!(opens > h.clock.now());
    assert_eq!((gauges.waiting_hours, gauges.waiting_lines), (0, 0));
    assert!(h.calls(campaign.id).await.is_empty());
    assert!(h.sim.record().dials.is_empty());
}

/// Numbers in New York, Chicago and Los Angeles, the list's order mixing them.
const MIXED: [&str; 6] = [
    "+13105550101",
    "+12125550100",
    "+13125550100",
    "+13105550102",
    "+12125550101",
    "+13125550101",
];

/// Starts a campaign of one line, hours 09:00–21:00 read in each recipient's zone, over
/// [`MIXED`], at `utc_hour` on the first day.
async fn mixed_list_at(utc_hour: u64) -> (Harness, dialer_engine::CampaignId) {
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
    let campaign = h.campaign(settings, 0).await;
    let contacts = MIXED
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
    tokio::time::sleep(Duration::from_secs(utc_hour * 3600)).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    (h, campaign.id)
}

/// A list is made into calls zone by zone, the zone whose calling hours close first first,
/// each in the list's order: New York's numbers are dialed before Chicago's, Chicago's before
/// Los Angeles' (the list's order, zones mixed, would leave New York's last contacts to be made
/// after New York's evening).
#[tokio::test(start_paused = true)]
async fn the_list_is_made_zone_by_zone_the_one_closing_first_first() {
    // 18:00 UTC: all three are open (13:00, 12:00 and 10:00 local).
    let (h, campaign) = mixed_list_at(18).await;
    // The one line carries each call for 35 s.
    tokio::time::sleep(Duration::from_secs(6 * 40)).await;
    let dialed: Vec<String> = (h.sim.record().dials.iter())
        .map(|d| d.to.as_str().to_owned())
        .collect();
    let order = [MIXED[1], MIXED[4], MIXED[2], MIXED[5], MIXED[0], MIXED[3]];
    assert_eq!(dialed, order);
    assert_eq!(h.calls(campaign).await.len(), 6);
}

/// A zone whose hours are closed waits unmade while the open ones are dialed, and is made and
/// dialed once they open.
#[tokio::test(start_paused = true)]
async fn a_zone_is_made_into_calls_when_its_hours_open() {
    // 15:00 UTC: past 09:00 in New York and Chicago, before it in Los Angeles (17:00 UTC).
    let (h, campaign) = mixed_list_at(15).await;
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    let west = |calls: &[dialer_engine::Call]| {
        calls
            .iter()
            .filter(|c| c.phone_number.as_str().starts_with("+1310"))
            .count()
    };
    assert_eq!(h.sim.record().dials.len(), 4);
    assert_eq!(west(&h.calls(campaign).await), 0);
    let gauges = h.engine.campaign_gauges(campaign).unwrap();
    let opens = gauges.hours_open_at.unwrap();
    let local = opens.with_timezone(&chrono_tz::America::Los_Angeles);
    assert_eq!((local.hour(), local.minute()), (9, 0), "{local}");
    // Past the opening: Los Angeles' contacts are made and dialed, inside their hours.
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 6);
    assert_eq!(west(&h.calls(campaign).await), 2);
    for d in record
        .dials
        .iter()
        .filter(|d| d.to.as_str().starts_with("+1310"))
    {
        assert!(d.at >= opens, "dialed at {}", d.at);
    }
}
