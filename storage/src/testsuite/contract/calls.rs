//! The contract for calls: round trips, listings and cursors, calls in flight, the duplicate
//! window's lookup, the audit trail and the pending schedule.

use dialer_engine::{
    AuditKind, BlockReason, CallEvent, CallOrigin, CallStatus, Disposition, Lane, Outcome,
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
    // One number called from both campaigns: found by number alone, or within one campaign.
    let again = call(b.id, 5, at(20_000), CallOrigin::Api);
    s.commit(batch_of(vec![again.clone()])).await.unwrap();
    let ids =
        |page: Vec<dialer_engine::Call>| page.into_iter().map(|c| c.call_id).collect::<Vec<_>>();
    let by_number = CallFilter {
        phone_number: Some(phone(5)),
        ..CallFilter::default()
    };
    assert_eq!(
        ids(s.list_calls(&by_number, None, 100).await.unwrap()),
        vec![again.call_id, calls[5].call_id]
    );
    assert_eq!(
        ids(s
            .list_calls(&by_number, Some(again.call_id), 100)
            .await
            .unwrap()),
        vec![calls[5].call_id]
    );
    let in_a = CallFilter {
        campaign_id: Some(a.id),
        ..by_number.clone()
    };
    assert_eq!(
        ids(s.list_calls(&in_a, None, 100).await.unwrap()),
        vec![calls[5].call_id]
    );
    let nobody = CallFilter {
        phone_number: Some(phone(9_999)),
        ..CallFilter::default()
    };
    assert!(s.list_calls(&nobody, None, 100).await.unwrap().is_empty());
}

pub async fn calls_in_flight_and_open_calls_are_found_per_campaign<S: Store>(s: &S) {
    let campaign = s.create_campaign(new_campaign("live"), t0()).await.unwrap();
    let other = s
        .create_campaign(new_campaign("other"), t0())
        .await
        .unwrap();
    assert!(!s.has_open_calls(campaign.id).await.unwrap());
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
    let mut elsewhere = call(other.id, 50, t0(), CallOrigin::Api);
    elsewhere.apply(CallEvent::DialStarted, at(100));
    calls.push(elsewhere);
    s.commit(batch_of(calls.clone())).await.unwrap();
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = s.live_calls(campaign.id, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|c| c.call_id);
        got.extend(page.into_iter().map(|c| (c.call_id, c.status)));
    }
    let want: Vec<_> = calls
        .iter()
        .filter(|c| c.campaign_id == campaign.id && c.status.is_live())
        .map(|c| (c.call_id, c.status))
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got, want,
        "each call in flight exactly once, in id order, across pages"
    );
    assert!(s.has_open_calls(campaign.id).await.unwrap());
    // A call that ends leaves the set; with every call final, nothing is open.
    for c in calls.iter_mut().filter(|c| c.campaign_id == campaign.id) {
        if c.status.is_live() {
            c.apply(
                CallEvent::Ended {
                    outcome: Outcome::Picked,
                    disposition: Disposition::Final,
                },
                at(200),
            );
        } else {
            c.apply(CallEvent::Cancel, at(200));
        }
    }
    s.commit(batch_of(calls.clone())).await.unwrap();
    assert!(
        s.live_calls(campaign.id, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!s.has_open_calls(campaign.id).await.unwrap());
    assert!(s.has_open_calls(other.id).await.unwrap());
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

pub async fn pending_calls_come_per_lane_in_the_order_they_are_dialed<S: Store>(s: &S) {
    let campaign = s.create_campaign(new_campaign("due"), t0()).await.unwrap();
    let other = s
        .create_campaign(new_campaign("other"), t0())
        .await
        .unwrap();
    let pending = |lane, limit| async move {
        s.pending_calls(campaign.id, lane, None, limit, at(0))
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.due_at.unwrap(), c.call_id))
            .collect::<Vec<_>>()
    };
    // One-off calls: a scheduled one, two queued ones (accepted in turn), one in another hour.
    let mut scheduled = call(campaign.id, 1, t0(), CallOrigin::Scheduled);
    scheduled.status = CallStatus::Scheduled;
    scheduled.due_at = Some(at(50_000));
    let queued = call(campaign.id, 3, at(10), CallOrigin::Api);
    let queued_later = call(campaign.id, 4, at(20), CallOrigin::Api);
    let mut tomorrow = call(campaign.id, 5, t0(), CallOrigin::Scheduled);
    tomorrow.status = CallStatus::Scheduled;
    tomorrow.due_at = Some(at(86_400_000));
    // List calls: one waiting for a retry, one queued, one in flight, one final.
    let mut retrying = call(campaign.id, 2, t0(), CallOrigin::Campaign);
    retrying.apply(CallEvent::DialStarted, t0());
    retrying.apply(
        CallEvent::Ended {
            outcome: Outcome::Failed,
            disposition: Disposition::RetryAt { at: at(20_000) },
        },
        t0(),
    );
    let listed = call(campaign.id, 6, at(30), CallOrigin::Campaign);
    let mut dialing = call(campaign.id, 7, at(5), CallOrigin::Campaign);
    dialing.apply(CallEvent::DialStarted, at(6));
    let mut done = call(campaign.id, 8, at(5), CallOrigin::Campaign);
    done.apply(CallEvent::Cancel, at(6));
    let elsewhere = call(other.id, 9, t0(), CallOrigin::Api);
    s.commit(batch_of(vec![
        scheduled.clone(),
        queued.clone(),
        queued_later.clone(),
        tomorrow.clone(),
        retrying.clone(),
        listed.clone(),
        dialing,
        done,
        elsewhere,
    ]))
    .await
    .unwrap();
    let key = |c: &dialer_engine::Call| (c.due_at.unwrap(), c.call_id);
    assert_eq!(
        pending(Lane::OneOff, 10).await,
        vec![
            key(&queued),
            key(&queued_later),
            key(&scheduled),
            key(&tomorrow)
        ]
    );
    assert_eq!(
        pending(Lane::OneOff, 2).await,
        vec![key(&queued), key(&queued_later)],
        "the first ones, whether due yet or not"
    );
    assert_eq!(
        pending(Lane::List, 10).await,
        vec![key(&listed), key(&retrying)]
    );
    // Rows carry whole calls.
    let first = s
        .pending_calls(campaign.id, Lane::List, None, 1, at(0))
        .await
        .unwrap();
    assert_eq!(first, vec![listed.clone()]);
    // A call that is dialed leaves the index; one deferred moves within it.
    let mut dialed = queued.clone();
    dialed.apply(CallEvent::DialStarted, at(100));
    let mut moved = queued_later.clone();
    assert!(moved.defer(at(60_000), at(100)));
    s.commit(batch_of(vec![dialed, moved.clone()]))
        .await
        .unwrap();
    assert_eq!(
        pending(Lane::OneOff, 10).await,
        vec![key(&scheduled), key(&moved), key(&tomorrow)]
    );
    // Equal due times keep id order.
    let mut twin = call(campaign.id, 10, t0(), CallOrigin::Scheduled);
    twin.status = CallStatus::Scheduled;
    twin.due_at = Some(at(50_000));
    s.commit(batch_of(vec![twin.clone()])).await.unwrap();
    let got = pending(Lane::OneOff, 2).await;
    let mut want = vec![key(&scheduled), key(&twin)];
    want.sort();
    assert_eq!(got, want);
    // Topping up: strictly after a key, across hours, twins in id order.
    let after = |k, limit| async move {
        s.pending_calls(campaign.id, Lane::OneOff, Some(k), limit, at(0))
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.due_at.unwrap(), c.call_id))
            .collect::<Vec<_>>()
    };
    let all = pending(Lane::OneOff, 10).await;
    assert_eq!(all.len(), 4);
    assert_eq!(after(all[0], 10).await, all[1..].to_vec());
    assert_eq!(after(all[1], 1).await, vec![all[2]]);
    assert_eq!(after(all[2], 10).await, vec![all[3]], "into a later hour");
    assert!(after(all[3], 10).await.is_empty());
}
