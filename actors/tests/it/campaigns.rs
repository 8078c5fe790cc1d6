//! Whole campaigns: exact outcome counts, caps, rates, retries at the policy's instants.

use std::collections::HashMap;
use std::time::Duration;

use dialer_engine::{
    AuditKind, CallStatus, CampaignSettings, CampaignState, Outcome, RetryDecision, SimProfile,
};
use dialer_storage::{CounterStore, EventStore};

use crate::harness::{
    Harness, WEEK, always_picked, config, expected, mixed, number, settings, wait_for,
};

#[tokio::test(start_paused = true)]
async fn ten_thousand_contacts_complete_with_the_exact_expected_counts() {
    let profile = mixed();
    let h = Harness::start(profile.clone(), config()).await;
    let campaign = h.campaign(settings(50, 3, 15), 10_000).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;

    let want = expected(&h.sim, &profile, 10_000, 3);
    let record = h.sim.record();
    // The simulator's own record: every attempt exactly once.
    assert_eq!(record.dials.len(), want.dials);
    assert_eq!(record.duplicate_dials, 0);
    assert_eq!(record.outcomes, want.by_outcome);
    assert!(record.max_active <= 50);
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
    // Storage agrees: final statuses and counters.
    let counters = h.store.counters(campaign.id).await.unwrap();
    assert_eq!(counters.get("attempts"), Some(&(want.dials as i64)));
    assert_eq!(counters.get("calls_created"), Some(&10_000));
    assert_eq!(counters.get("status.PICKED"), Some(&(want.picked as i64)));
    assert_eq!(
        counters.get("status.EXHAUSTED").copied().unwrap_or(0),
        want.exhausted as i64
    );
    assert_eq!(counters.get("in_flight"), Some(&0));
    for (outcome, n) in &want.by_outcome {
        assert_eq!(
            counters.get(&format!("outcome.{outcome}")),
            Some(&(*n as i64)),
            "{outcome}"
        );
    }
    let retries = want.dials as i64 - 10_000;
    assert_eq!(counters.get("retries_scheduled"), Some(&retries));
    // Every lease was given back, and no slot still routes a call.
    assert_eq!(h.engine.calls_in_slots(), 0);
    use dialer_storage::lease::{LeaseStore, PoolId};
    assert_eq!(h.leases.count(&PoolId::global()).await.unwrap(), 0);
    assert_eq!(
        h.leases
            .count(&PoolId::campaign(campaign.id))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn simultaneous_calls_never_exceed_the_campaign_or_the_global_cap() {
    let mut config = config();
    config.max_concurrent_calls = 12;
    let h = Harness::start(always_picked(), config).await;
    let a = h.campaign(settings(10, 1, 10), 200).await;
    let b = h.campaign(settings(10, 1, 10), 200).await;
    h.engine.start_campaign(a.id).await.unwrap();
    h.engine.start_campaign(b.id).await.unwrap();
    wait_for(&h, a.id, CampaignState::Completed, WEEK).await;
    wait_for(&h, b.id, CampaignState::Completed, WEEK).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 400);
    // The global cap binds (two campaigns of 10 would reach 20), and it is reached.
    assert_eq!(record.max_active, 12, "max active {}", record.max_active);
}

#[tokio::test(start_paused = true)]
async fn calls_per_second_never_exceed_the_campaign_bucket() {
    // Short calls, so that the 100 lines could dial far faster than the bucket allows.
    let quick = SimProfile {
        ring_min_ms: 1_000,
        ring_max_ms: 1_000,
        talk_min_secs: 1,
        talk_max_secs: 1,
        ..always_picked()
    };
    let h = Harness::start(quick, config()).await;
    let campaign = h
        .campaign(
            CampaignSettings {
                max_calls_per_second: Some(4),
                ..settings(100, 1, 10)
            },
            300,
        )
        .await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 300);
    assert_eq!(record.max_dials_in(chrono::Duration::seconds(1)), 4);
    // Paced, not bursty: 300 dials at 4/s take 74.75 s.
    let first = record.dials.iter().map(|d| d.at).min().unwrap();
    let last = record.dials.iter().map(|d| d.at).max().unwrap();
    assert_eq!((last - first).num_milliseconds(), 74_750);
}

#[tokio::test(start_paused = true)]
async fn the_provider_account_rate_binds_across_campaigns() {
    // A provider limited to 3 calls per second, shared by two campaigns.
    let h = Harness::start_with_cps(always_picked(), config(), 3).await;
    let a = h.campaign(settings(50, 1, 10), 60).await;
    let b = h.campaign(settings(50, 1, 10), 60).await;
    h.engine.start_campaign(a.id).await.unwrap();
    h.engine.start_campaign(b.id).await.unwrap();
    wait_for(&h, a.id, CampaignState::Completed, WEEK).await;
    wait_for(&h, b.id, CampaignState::Completed, WEEK).await;
    let record = h.sim.record();
    assert_eq!(record.dials.len(), 120);
    assert_eq!(record.max_dials_in(chrono::Duration::seconds(1)), 3);
}

#[tokio::test(start_paused = true)]
async fn retries_fire_at_exactly_the_policys_instants() {
    // Every attempt rings out (RNR after the 30 s ring timeout); retries every 10 minutes.
    let profile = SimProfile {
        picked: 0,
        disconnected: 0,
        rnr: 1,
        failed: 0,
        ..always_picked()
    };
    let h = Harness::start(profile, config()).await;
    let s = settings(5, 4, 10);
    let campaign = h.campaign(s.clone(), 5).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;

    let record = h.sim.record();
    assert_eq!(record.dials.len(), 20, "4 attempts each");
    let calls = h.calls(campaign.id).await;
    for call in &calls {
        assert_eq!(call.status, CallStatus::Exhausted);
        let events = h.store.events_for_call(call.call_id).await.unwrap();
        let ended: Vec<_> = events
            .iter()
            .filter(|e| matches!(e.kind, AuditKind::Ended { .. }))
            .collect();
        let dials: Vec<_> = record
            .dials
            .iter()
            .filter(|d| d.call_id == call.call_id)
            .collect();
        assert_eq!(ended.len(), 4);
        for k in 1..4 {
            // Attempt k+1 is dialed exactly when the policy said, from attempt k's outcome time.
            let decision =
                s.retry
                    .next_attempt(Outcome::Rnr, k as u32, ended[k - 1].at, &[chrono_tz::UTC]);
            let RetryDecision::RetryAt { at } = decision else {
                panic!("{decision:?}")
            };
            assert_eq!(at, ended[k - 1].at + chrono::Duration::minutes(10));
            assert_eq!(dials[k].at, at, "attempt {} of {}", k + 1, call.call_id);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_campaign_holds_slots_for_the_calls_it_carries_not_for_every_line() {
    let h = Harness::start(
        always_picked(),
        dialer_actors::EngineConfig {
            max_concurrent_calls: 20_000,
            ..config()
        },
    )
    .await;
    let campaign = h.campaign(settings(10_000, 1, 10), 20).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    // Every call rings for 5 s: one second in, all 20 are in flight.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let snapshot = h.engine.campaign_snapshot(campaign.id).await.unwrap();
    assert_eq!(snapshot.in_flight, 20, "one slot per call in flight");
    assert_eq!(snapshot.lines, 10_000);
    assert_eq!(h.engine.calls_in_slots(), 20);
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    assert_eq!(h.engine.calls_in_slots(), 0);
}

/// A finished call leaves nothing running behind it. Each slot's deadline (ring timeout plus
/// the max call duration: an hour here) used to be a task that slept out the hour holding the
/// slot's memory after its call ended — at the throughput ceiling the engine grew to 2 GB.
#[tokio::test(start_paused = true)]
async fn a_finished_call_leaves_no_timer_and_no_slot_behind() {
    let h = Harness::start(always_picked(), config()).await;
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let before = alive();
    let campaign = h.campaign(settings(50, 1, 10), 500).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    wait_for(&h, campaign.id, CampaignState::Completed, WEEK).await;
    assert_eq!(h.sim.record().dials.len(), 500);
    assert_eq!(h.engine.calls_in_slots(), 0);
    // The deadlines of the last calls are still most of an hour away.
    let after = alive();
    assert!(
        after <= before + 10,
        "{} tasks outlive 500 finished calls",
        after.saturating_sub(before)
    );
}

/// The scrape's gauges are read from the owners' state: a running campaign shows its busy lines
/// and its waiting calls; once stopped, its series are gone (they used to stay at their last
/// value for ever), and nothing is left in flight.
#[tokio::test(start_paused = true)]
async fn a_campaign_s_gauges_follow_its_state_and_leave_with_it() {
    let h = Harness::start(always_picked(), config()).await;
    let campaign = h.campaign(settings(10, 1, 10), 100).await;
    h.engine.start_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let text = h.engine.state_metrics();
    let id = campaign.id;
    // Nine of its ten lines carry list calls; the tenth is the one-off calls' reserve.
    assert!(
        text.contains(&format!(
            "dialer_campaign_lines_busy{{campaign=\"{id}\"}} 9\n"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("dialer_campaign_lines{{campaign=\"{id}\"}} 10\n")));
    assert!(text.contains("dialer_calls_active 9\n"), "{text}");
    let waiting = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!(
                "dialer_calls_waiting{{campaign=\"{id}\",reason=\"lines\"}} "
            ))
        })
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(waiting > 0.0, "calls wait for the busy lines: {text}");

    h.engine.stop_campaign(campaign.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(86_400)).await;
    assert!(!h.engine.is_running(campaign.id));
    let text = h.engine.state_metrics();
    assert!(!text.contains(&format!("campaign=\"{id}\"")), "{text}");
    assert!(text.contains("dialer_calls_active 0\n"), "{text}");
}
