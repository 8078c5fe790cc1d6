//! The storage contract: what every backend must do, written once, generic over [`Store`].
//!
//! Each function is one test; `storage/tests/it/contract.rs` runs every function against every
//! backend — memory and embedded always, ScyllaDB when `DIALER_SCYLLA_URI` is set.

use chrono::Duration;
use dialer_engine::{
    AuditKind, BlockReason, CallEvent, CallOrigin, CallStatus, CampaignState, Disposition, Outcome,
    PhoneNumber,
};

use super::fixtures::{at, audit, call, new_campaign, phone, t0};
use crate::model::{AddContact, Attributes, CallFilter, DncEntry, DncKind, NewContact, WriteBatch};
use crate::{StorageError, Store};

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
        .collect()
}

fn batch_of(calls: Vec<dialer_engine::Call>) -> WriteBatch {
    WriteBatch {
        calls,
        ..WriteBatch::default()
    }
}

pub async fn campaigns_get_increasing_ids_and_read_back<S: Store>(s: &S) {
    let a = s
        .create_campaign(new_campaign("reminders"), t0())
        .await
        .unwrap();
    let b = s
        .create_campaign(new_campaign("wake-ups"), at(1))
        .await
        .unwrap();
    assert!(b.id > a.id);
    assert_eq!(a.state, CampaignState::Draft);
    assert_eq!(s.get_campaign(a.id).await.unwrap().as_ref(), Some(&a));
    assert_eq!(s.get_campaign(b.id).await.unwrap().as_ref(), Some(&b));
    let listed = s.list_campaigns(None, 10).await.unwrap();
    assert!(listed.iter().any(|c| c.id == a.id) && listed.iter().any(|c| c.id == b.id));
    assert!(
        listed.windows(2).all(|w| w[0].id < w[1].id),
        "ascending ids"
    );
    let after_a = s.list_campaigns(Some(a.id), 10).await.unwrap();
    assert!(after_a.iter().all(|c| c.id > a.id));
    assert_eq!(s.list_campaigns(None, 1).await.unwrap().len(), 1);
}

pub async fn campaign_updates_replace_the_record<S: Store>(s: &S) {
    let mut c = s
        .create_campaign(new_campaign("collections"), t0())
        .await
        .unwrap();
    c.name = "collections (EU)".into();
    c.state = CampaignState::Running;
    c.is_active = false;
    c.settings.max_concurrent = 42;
    c.updated_at = at(5_000);
    s.update_campaign(&c).await.unwrap();
    assert_eq!(s.get_campaign(c.id).await.unwrap(), Some(c.clone()));
    let mut ghost = c.clone();
    ghost.id = dialer_engine::CampaignId::new(c.id.get() + 10_000).unwrap();
    assert!(matches!(
        s.update_campaign(&ghost).await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(s.get_campaign(ghost.id).await.unwrap(), None);
}

pub async fn contacts_are_unique_per_campaign_and_merge_attributes<S: Store>(s: &S) {
    let a = s.create_campaign(new_campaign("a"), t0()).await.unwrap();
    let b = s.create_campaign(new_campaign("b"), t0()).await.unwrap();
    let first = s
        .add_contacts(
            a.id,
            vec![
                NewContact {
                    phone_number: phone(1),
                    attributes: attrs(&[("name", "Ada"), ("plan", "gold")]),
                },
                NewContact {
                    phone_number: phone(2),
                    attributes: Attributes::new(),
                },
            ],
            t0(),
        )
        .await
        .unwrap();
    assert!(matches!(
        first[..],
        [AddContact::Added(_), AddContact::Added(_)]
    ));
    let again = s
        .add_contacts(
            a.id,
            vec![NewContact {
                phone_number: phone(1),
                attributes: attrs(&[("plan", "platinum")]),
            }],
            at(1),
        )
        .await
        .unwrap();
    assert_eq!(again, vec![AddContact::Merged(first[0].id())]);
    let merged = s.get_contact(a.id, &phone(1)).await.unwrap().unwrap();
    assert_eq!(
        merged.attributes,
        attrs(&[("name", "Ada"), ("plan", "platinum")])
    );
    assert_eq!(merged.added_at, t0(), "a merge keeps the original record");
    // The same number in another campaign is another contact.
    let other = s
        .add_contacts(
            b.id,
            vec![NewContact {
                phone_number: phone(1),
                attributes: Attributes::new(),
            }],
            t0(),
        )
        .await
        .unwrap();
    assert!(matches!(other[..], [AddContact::Added(id)] if id != first[0].id()));
    assert_eq!(s.count_contacts(a.id).await.unwrap(), 2);
    assert_eq!(s.count_contacts(b.id).await.unwrap(), 1);
    assert_eq!(s.get_contact(b.id, &phone(2)).await.unwrap(), None);
    let missing = dialer_engine::CampaignId::new(b.id.get() + 10_000).unwrap();
    assert!(matches!(
        s.add_contacts(
            missing,
            vec![NewContact {
                phone_number: phone(3),
                attributes: Attributes::new()
            }],
            t0()
        )
        .await,
        Err(StorageError::NotFound { .. })
    ));
}

pub async fn contacts_page_in_id_order<S: Store>(s: &S) {
    let c = s
        .create_campaign(new_campaign("paging"), t0())
        .await
        .unwrap();
    let contacts: Vec<NewContact> = (0..25)
        .map(|i| NewContact {
            phone_number: phone(i),
            attributes: Attributes::new(),
        })
        .collect();
    let ids: Vec<_> = s
        .add_contacts(c.id, contacts, t0())
        .await
        .unwrap()
        .into_iter()
        .map(AddContact::id)
        .collect();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.contacts_page(c.id, after, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        after = page.last().map(|p| p.id);
        seen.extend(page.into_iter().map(|p| p.id));
    }
    assert_eq!(seen, ids);
}

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

pub async fn dnc_entries_add_check_remove_and_list<S: Store>(s: &S) {
    let entry = |n: u32, kind| DncEntry {
        phone_number: phone(n),
        kind,
        source: "api".into(),
        added_at: t0(),
    };
    let added = s
        .add_dnc(vec![
            entry(50, DncKind::Dnc),
            entry(50, DncKind::OptOut),
            entry(51, DncKind::Dnc),
            entry(51, DncKind::Dnc),
        ])
        .await
        .unwrap();
    assert_eq!(added, 3, "a repeated (number, kind) is not added twice");
    let again = s
        .add_dnc(vec![DncEntry {
            source: "import".into(),
            ..entry(51, DncKind::Dnc)
        }])
        .await
        .unwrap();
    assert_eq!(again, 0);
    let found = s.check_dnc(&phone(50)).await.unwrap();
    assert_eq!(
        found.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![DncKind::Dnc, DncKind::OptOut]
    );
    assert_eq!(
        s.check_dnc(&phone(51)).await.unwrap()[0].source,
        "api",
        "the first record is kept"
    );
    assert!(s.check_dnc(&phone(52)).await.unwrap().is_empty());
    let opt_outs = s.list_dnc(Some(DncKind::OptOut), None, 100).await.unwrap();
    assert!(opt_outs.iter().any(|e| e.phone_number == phone(50)));
    assert!(opt_outs.iter().all(|e| e.kind == DncKind::OptOut));
    let first = s.list_dnc(None, None, 1).await.unwrap();
    let rest = s
        .list_dnc(
            None,
            Some((first[0].phone_number.clone(), first[0].kind)),
            100,
        )
        .await
        .unwrap();
    assert!(!rest.contains(&first[0]));
    assert!(s.remove_dnc(&phone(50), DncKind::OptOut).await.unwrap());
    assert!(!s.remove_dnc(&phone(50), DncKind::OptOut).await.unwrap());
    assert_eq!(s.check_dnc(&phone(50)).await.unwrap().len(), 1);
}

pub async fn counters_add_up_per_campaign<S: Store>(s: &S) {
    let a = s
        .create_campaign(new_campaign("counters-a"), t0())
        .await
        .unwrap();
    let b = s
        .create_campaign(new_campaign("counters-b"), t0())
        .await
        .unwrap();
    let mut batch = WriteBatch::default();
    batch.counter(a.id, "attempts", 3);
    batch.counter(a.id, "outcome.PICKED", 1);
    batch.counter(b.id, "attempts", 1);
    s.commit(batch).await.unwrap();
    let mut batch = WriteBatch::default();
    batch.counter(a.id, "attempts", 2);
    batch.counter(a.id, "in_flight", -1);
    s.commit(batch).await.unwrap();
    let got = s.counters(a.id).await.unwrap();
    assert_eq!(got.get("attempts"), Some(&5));
    assert_eq!(got.get("outcome.PICKED"), Some(&1));
    assert_eq!(got.get("in_flight"), Some(&-1));
    assert_eq!(s.counters(b.id).await.unwrap().get("attempts"), Some(&1));
}

pub async fn dial_cursors_only_move_forward<S: Store>(s: &S) {
    let c = s
        .create_campaign(new_campaign("cursor"), t0())
        .await
        .unwrap();
    let id = |v| dialer_engine::ContactId::new(v).unwrap();
    s.commit(WriteBatch {
        cursors: vec![(c.id, id(10))],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    s.commit(WriteBatch {
        cursors: vec![(c.id, id(7))],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.get_campaign(c.id).await.unwrap().unwrap().dial_cursor,
        Some(id(10))
    );
    s.commit(WriteBatch {
        cursors: vec![(c.id, id(12))],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.get_campaign(c.id).await.unwrap().unwrap().dial_cursor,
        Some(id(12))
    );
}

pub async fn a_failed_batch_writes_nothing<S: Store>(s: &S) {
    let c = s
        .create_campaign(new_campaign("atomic"), t0())
        .await
        .unwrap();
    let x = call(c.id, 1, t0(), CallOrigin::Api);
    let missing = dialer_engine::CampaignId::new(c.id.get() + 10_000).unwrap();
    let mut batch = batch_of(vec![x.clone()]);
    batch.audits.push(audit(
        &x,
        t0(),
        AuditKind::Created {
            origin: CallOrigin::Api,
        },
    ));
    batch.counter(c.id, "attempts", 1);
    batch
        .cursors
        .push((missing, dialer_engine::ContactId::new(1).unwrap()));
    assert!(matches!(
        s.commit(batch).await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(s.get_call(x.call_id).await.unwrap(), None);
    assert!(s.events_for_call(x.call_id).await.unwrap().is_empty());
    assert!(s.counters(c.id).await.unwrap().is_empty());
}

pub async fn concurrent_commits_all_land<S: Store + 'static>(s: std::sync::Arc<S>) {
    let c = s
        .create_campaign(new_campaign("concurrent"), t0())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..32u32 {
        let s = std::sync::Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..25u32 {
                let mut x = call(
                    c.id,
                    task * 100 + i,
                    at(i64::from(task * 1000 + i)),
                    CallOrigin::Campaign,
                );
                x.call_id = dialer_engine::CallId::generate(at(i64::from(task * 1000 + i)));
                let mut batch = batch_of(vec![x.clone()]);
                batch.counter(c.id, "attempts", 1);
                s.commit(batch).await.unwrap();
                ids.push(x.call_id);
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    for id in &all {
        assert!(s.get_call(*id).await.unwrap().is_some());
    }
    assert_eq!(
        s.counters(c.id).await.unwrap().get("attempts"),
        Some(&(32 * 25))
    );
}

pub async fn a_closed_store_refuses_work<S: Store>(s: &S) {
    let c = s
        .create_campaign(new_campaign("closing"), t0())
        .await
        .unwrap();
    s.ping().await.unwrap();
    s.close().await.unwrap();
    assert!(
        s.commit(batch_of(vec![call(c.id, 1, t0(), CallOrigin::Api)]))
            .await
            .is_err()
    );
    assert!(s.ping().await.is_err());
}

/// The phone numbers the fixtures use parse as real numbers too.
pub fn fixture_numbers_are_valid() {
    for n in [0, 1, 50, 99, 150, 2599] {
        let p = phone(n);
        assert_eq!(PhoneNumber::parse(p.as_str(), None).unwrap(), p);
    }
}
