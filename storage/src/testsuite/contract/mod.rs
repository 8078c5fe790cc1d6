//! The storage contract: what every backend must do, written once, generic over [`Store`].
//!
//! Each function is one test; `storage/tests/it/contract.rs` runs every function against every
//! backend — memory and embedded always, ScyllaDB when `DIALER_SCYLLA_URI` is set.

use dialer_engine::{AuditKind, CallOrigin, CampaignState, PhoneNumber};

use super::fixtures::{at, audit, call, new_campaign, phone, t0};
use crate::model::{
    AddContact, Attributes, CampaignDetails, DncEntry, DncKind, ListCursor, NewContact,
    StateChange, WriteBatch,
};
use crate::{StorageError, Store};

mod audience;
mod calls;
mod lifecycle;
mod messages;
mod status;
mod zones;
pub use audience::*;
pub use calls::*;
pub use lifecycle::*;
pub use messages::*;
pub use status::*;
pub use zones::*;

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

pub async fn campaign_details_change_but_never_the_owners_state_or_cursor<S: Store>(s: &S) {
    let c = s
        .create_campaign(new_campaign("collections"), t0())
        .await
        .unwrap();
    // The owner moves the campaign along and dials past contact 7.
    s.commit(WriteBatch {
        states: vec![StateChange {
            campaign_id: c.id,
            state: CampaignState::Running,
            at: at(1_000),
        }],
        cursors: vec![ListCursor::new(
            c.id,
            "",
            dialer_engine::ContactId::new(7).unwrap(),
        )],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    let running = s.get_campaign(c.id).await.unwrap().unwrap();
    assert_eq!(
        (running.state, running.updated_at),
        (CampaignState::Running, at(1_000))
    );
    // An operator's edit, made from a copy read before the owner's writes, cannot undo them.
    let mut settings = c.settings.clone();
    settings.max_concurrent = 42;
    let details = CampaignDetails {
        name: "collections (EU)".into(),
        description: "edited".into(),
        is_active: false,
        settings,
        archived_at: Some(at(4_000)),
    };
    let updated = s
        .update_campaign_details(c.id, details.clone(), at(5_000))
        .await
        .unwrap();
    let stored = s.get_campaign(c.id).await.unwrap().unwrap();
    assert_eq!(updated, stored);
    assert_eq!(
        (
            stored.name.as_str(),
            stored.description.as_str(),
            stored.is_active,
            stored.settings.max_concurrent
        ),
        ("collections (EU)", "edited", false, 42)
    );
    assert_eq!(
        stored.state,
        CampaignState::Running,
        "the state is the owner's"
    );
    assert_eq!(
        stored.dial_cursor,
        dialer_engine::ContactId::new(7).ok(),
        "the cursor is the owner's"
    );
    assert_eq!(stored.archived_at, Some(at(4_000)));
    assert_eq!(stored.created_at, c.created_at);
    assert_eq!(stored.updated_at, at(5_000));
    let ghost = dialer_engine::CampaignId::new(c.id.get() + 10_000).unwrap();
    assert!(matches!(
        s.update_campaign_details(ghost, details, at(6_000)).await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(s.get_campaign(ghost).await.unwrap(), None);
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
        cursors: vec![ListCursor::new(c.id, "America/New_York", id(10))],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    s.commit(WriteBatch {
        cursors: vec![ListCursor::new(c.id, "America/New_York", id(7))],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.get_campaign(c.id).await.unwrap().unwrap().dial_cursor,
        Some(id(10))
    );
    s.commit(WriteBatch {
        cursors: vec![ListCursor::new(c.id, "America/New_York", id(12))],
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
    let mut with_cursor = batch.clone();
    with_cursor.cursors.push(ListCursor::new(
        missing,
        "",
        dialer_engine::ContactId::new(1).unwrap(),
    ));
    let mut with_state = batch;
    with_state.states.push(StateChange {
        campaign_id: missing,
        state: CampaignState::Running,
        at: t0(),
    });
    for batch in [with_cursor, with_state] {
        assert!(matches!(
            s.commit(batch).await,
            Err(StorageError::NotFound { .. })
        ));
        assert_eq!(s.get_call(x.call_id).await.unwrap(), None);
        assert!(s.events_for_call(x.call_id).await.unwrap().is_empty());
        assert!(s.counters(c.id).await.unwrap().is_empty());
    }
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
