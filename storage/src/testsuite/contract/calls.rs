//! The contract for calls: round trips, listings and cursors, open calls, the duplicate
//! window's lookup, the audit trail and the due schedule.

use chrono::Duration;
use dialer_engine::{
    AuditKind, BlockReason, CallEvent, CallOrigin, CallStatus, Disposition, Outcome,
};

use crate::Store;
use crate::model::{CallFilter, WriteBatch};
use crate::testsuite::fixtures::{at, audit, call, new_campaign, phone, t0};

use super::batch_of;

pub async fn calls_round_trip_every_field<S: Store>(s: &S) {
    let campaign = s
        .create_campaign(new_campaign("calls"), t0())
        .await
        .unwrap();
    let mut c = call(campaign.id, 7, t0(), CallOrigin::Api);
    s.commit(batch_of(vec![c.clone()])).await.unwrap();
    assert_eq!(s.get_call(c.call_id).await.unwrap(), Some(c.clone()));
    c.apply(CallEvent::DialStarted, at(10));
    c.external_call_id = Some("CA123".into());
    c.error_message = Some("busy".into());
    c.total_call_time = 45;
    let retry_at = at(3_600_000);
    c.apply(
        CallEvent::Ended {
            outcome: Outcome::Rnr,
            disposition: Disposition::RetryAt { at: retry_at },
        },
        at(20),
    );
    s.commit(batch_of(vec![c.clone()])).await.unwrap();
    let back = s.get_call(c.call_id).await.unwrap().unwrap();
    assert_eq!(back, c);
    assert_eq!(back.status, CallStatus::Retrying);
    assert_eq!(back.next_retry_at(), Some(retry_at));
    assert_eq!(
        s.get_call(dialer_engine::CallId::generate(at(1)))
            .await
            .unwrap(),
        None
    );
}

pub async fn calls_list_newest_first_with_filters_and_cursor<S: Store>(s: &S) {
    let a = s
        .create_campaign(new_campaign("list-a"), t0())
        .await
        .unwrap();
    let b = s
        .create_campaign(new_campaign("list-b"), t0())
        .await
        .unwrap();
    let mut calls = Vec::new();
    for i in 0..12 {
        let campaign = if i % 3 == 0 { b.id } else { a.id };
        let origin = if i % 2 == 0 {
            CallOrigin::Api
        } else {
            CallOrigin::Campaign
        };
        let mut c = call(campaign, i, at(i64::from(i) * 1000), origin);
        if i % 4 == 0 {
            c.apply(CallEvent::Cancel, at(i64::from(i) * 1000 + 1));
        }
        calls.push(c);
    }
    s.commit(batch_of(calls.clone())).await.unwrap();
    let newest_first = |pred: &dyn Fn(&dialer_engine::Call) -> bool| -> Vec<_> {
        let mut v: Vec<_> = calls
            .iter()
            .filter(|c| pred(c))
            .map(|c| c.call_id)
            .collect();
        v.sort();
        v.reverse();
        v
    };
    let by_a = CallFilter {
        campaign_id: Some(a.id),
        ..CallFilter::default()
    };
    let mut got = Vec::new();
    let mut before = None;
    loop {
        let page = s.list_calls(&by_a, before, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|c| c.call_id);
        got.extend(page.into_iter().map(|c| c.call_id));
    }
    assert_eq!(got, newest_first(&|c| c.campaign_id == a.id));
    let cancelled_b = CallFilter {
        campaign_id: Some(b.id),
        status: Some(CallStatus::Cancelled),
        ..CallFilter::default()
    };
    let got: Vec<_> = s
        .list_calls(&cancelled_b, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(
        got,
        newest_first(&|c| c.campaign_id == b.id && c.status == CallStatus::Cancelled)
    );
    let window = CallFilter {
        campaign_id: Some(a.id),
        origin: Some(CallOrigin::Campaign),
        scheduled_from: Some(at(2_000)),
        scheduled_to: Some(at(8_000)),
        ..CallFilter::default()
    };
    let got: Vec<_> = s
        .list_calls(&window, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(
        got,
        newest_first(&|c| c.campaign_id == a.id
            && c.origin == CallOrigin::Campaign
            && c.scheduled_at >= at(2_000)
            && c.scheduled_at < at(8_000))
    );
}

pub async fn open_calls_are_every_non_terminal_call<S: Store>(s: &S) {
    let campaign = s.create_campaign(new_campaign("open"), t0()).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..9 {
        let mut c = call(campaign.id, i, at(i64::from(i)), CallOrigin::Campaign);
        match i % 3 {
            1 => {
                c.apply(CallEvent::DialStarted, at(100));
            }
            2 => {
                c.apply(CallEvent::Cancel, at(100));
            }
            _ => {}
        }
        calls.push(c);
    }
    s.commit(batch_of(calls.clone())).await.unwrap();
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = s.open_calls(after, 4).await.unwrap();
        assert!(page.len() <= 4);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|c| c.call_id);
        got.extend(
            page.into_iter()
                .filter(|c| c.campaign_id == campaign.id)
                .map(|c| (c.call_id, c.status)),
        );
    }
    got.sort();
    let mut want: Vec<_> = calls
        .iter()
        .filter(|c| !c.status.is_terminal())
        .map(|c| (c.call_id, c.status))
        .collect();
    want.sort();
    assert_eq!(got, want, "each open call exactly once, across pages");
    // A call that ends leaves the open set.
    let mut ended = calls[1].clone();
    ended.apply(
        CallEvent::Ended {
            outcome: Outcome::Picked,
            disposition: Disposition::Final,
        },
        at(200),
    );
    s.commit(batch_of(vec![ended.clone()])).await.unwrap();
    let open = s.open_calls(None, 1000).await.unwrap();
    assert!(!open.iter().any(|c| c.call_id == ended.call_id));
}

pub async fn latest_call_to_finds_the_duplicate_window<S: Store>(s: &S) {
    let campaign = s
        .create_campaign(new_campaign("dupes"), t0())
        .await
        .unwrap();
    let old = call(campaign.id, 1, t0(), CallOrigin::Api);
    let new = call(campaign.id, 1, at(60_000), CallOrigin::Api);
    let other = call(campaign.id, 2, at(61_000), CallOrigin::Api);
    s.commit(batch_of(vec![old.clone(), new.clone(), other]))
        .await
        .unwrap();
    let found = s
        .latest_call_to(campaign.id, &phone(1), at(-300_000))
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.call_id), Some(new.call_id));
    assert_eq!(
        s.latest_call_to(campaign.id, &phone(1), at(60_001))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.latest_call_to(campaign.id, &phone(3), t0())
            .await
            .unwrap(),
        None
    );
}

pub async fn audits_append_in_order_per_call<S: Store>(s: &S) {
    let campaign = s
        .create_campaign(new_campaign("audit"), t0())
        .await
        .unwrap();
    let mut c = call(campaign.id, 1, t0(), CallOrigin::Campaign);
    let d = call(campaign.id, 2, t0(), CallOrigin::Campaign);
    let first = audit(
        &c,
        t0(),
        AuditKind::Created {
            origin: CallOrigin::Campaign,
        },
    );
    s.commit(WriteBatch {
        calls: vec![c.clone(), d.clone()],
        audits: vec![first.clone()],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    c.apply(CallEvent::DialStarted, at(5));
    let second = audit(
        &c,
        at(5),
        AuditKind::Dialed {
            provider: "sim".into(),
            fencing_token: Some(9),
        },
    );
    let third = audit(
        &c,
        at(6),
        AuditKind::ProviderStatus {
            provider: "twilio".into(),
            raw: "ringing".into(),
            normalized: Some("RINGING".into()),
            payload: Some("CallStatus=ringing".into()),
        },
    );
    let for_d = audit(
        &d,
        at(7),
        AuditKind::Blocked {
            reason: BlockReason::Dnc,
        },
    );
    s.commit(WriteBatch {
        calls: vec![c.clone()],
        audits: vec![second.clone(), for_d.clone()],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    s.commit(WriteBatch {
        audits: vec![third.clone()],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.events_for_call(c.call_id).await.unwrap(),
        vec![first, second, third]
    );
    assert_eq!(s.events_for_call(d.call_id).await.unwrap(), vec![for_d]);
}

pub async fn due_calls_follow_status_and_due_time<S: Store>(s: &S) {
    let campaign = s.create_campaign(new_campaign("due"), t0()).await.unwrap();
    let mut scheduled = call(campaign.id, 1, t0(), CallOrigin::Scheduled);
    scheduled.status = CallStatus::Scheduled;
    scheduled.due_at = Some(at(50_000));
    let mut retrying = call(campaign.id, 2, t0(), CallOrigin::Campaign);
    retrying.apply(CallEvent::DialStarted, t0());
    retrying.apply(
        CallEvent::Ended {
            outcome: Outcome::Failed,
            disposition: Disposition::RetryAt { at: at(20_000) },
        },
        t0(),
    );
    let queued = call(campaign.id, 3, t0(), CallOrigin::Api);
    s.commit(batch_of(vec![scheduled.clone(), retrying.clone(), queued]))
        .await
        .unwrap();
    let (scheduled_id, retrying_id) = (scheduled.call_id, retrying.call_id);
    let due = |before| async move {
        let all = s.due_calls(before, None, 100).await.unwrap();
        all.into_iter()
            .filter(|d| d.call_id == scheduled_id || d.call_id == retrying_id)
            .map(|d| d.key())
            .collect::<Vec<_>>()
    };
    // Entries carry what the scheduler needs to route them.
    let entries = s.due_calls(at(100_000), None, 100).await.unwrap();
    let entry = entries.iter().find(|d| d.call_id == scheduled_id).unwrap();
    assert_eq!(
        (entry.campaign_id, entry.origin),
        (campaign.id, CallOrigin::Scheduled)
    );
    assert_eq!(
        due(at(100_000)).await,
        vec![
            (at(20_000), retrying.call_id),
            (at(50_000), scheduled.call_id)
        ]
    );
    assert_eq!(due(at(30_000)).await, vec![(at(20_000), retrying.call_id)]);
    // Once due, a call leaves the schedule.
    retrying.apply(CallEvent::Due, at(20_000));
    s.commit(batch_of(vec![retrying.clone()])).await.unwrap();
    assert_eq!(
        due(at(100_000)).await,
        vec![(at(50_000), scheduled.call_id)]
    );
    // The cursor skips what was already read, even at equal due times.
    let mut twin = call(
        campaign.id,
        4,
        t0() + Duration::milliseconds(1),
        CallOrigin::Scheduled,
    );
    twin.status = CallStatus::Scheduled;
    twin.due_at = Some(at(50_000));
    s.commit(batch_of(vec![twin.clone()])).await.unwrap();
    let all = s.due_calls(at(100_000), None, 100).await.unwrap();
    let pos = all
        .iter()
        .position(|k| k.call_id == scheduled.call_id)
        .unwrap();
    let rest = s
        .due_calls(at(100_000), Some(all[pos].key()), 100)
        .await
        .unwrap();
    assert_eq!(rest, all[pos + 1..].to_vec());
}
