//! The contract for a campaign's end: a draft that never called anyone can be deleted with its
//! contacts and counters; anything else cannot (it is archived instead, which keeps it).

use dialer_engine::{CallOrigin, CampaignState};

use crate::model::{CounterDelta, NewContact, StateChange, WriteBatch};
use crate::testsuite::fixtures::{at, call, new_campaign, phone, t0};
use crate::{StorageError, Store};

use super::batch_of;

pub async fn only_a_draft_without_calls_is_deleted_and_its_contacts_go_with_it<S: Store>(s: &S) {
    let draft = s
        .create_campaign(new_campaign("draft"), t0())
        .await
        .unwrap();
    let kept = s.create_campaign(new_campaign("kept"), t0()).await.unwrap();
    for campaign in [draft.id, kept.id] {
        let contacts = (0..3)
            .map(|n| NewContact {
                phone_number: phone(n),
                attributes: Default::default(),
            })
            .collect();
        s.add_contacts(campaign, contacts, t0()).await.unwrap();
    }
    s.commit(WriteBatch {
        counters: vec![CounterDelta {
            campaign_id: draft.id,
            name: "contacts".into(),
            delta: 3,
        }],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    assert!(s.delete_draft_campaign(draft.id).await.unwrap());
    assert_eq!(s.get_campaign(draft.id).await.unwrap(), None);
    assert!(
        s.contacts_page(draft.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.count_contacts(draft.id).await.unwrap(), 0);
    assert!(s.get_contact(draft.id, &phone(1)).await.unwrap().is_none());
    assert!(s.counters(draft.id).await.unwrap().is_empty());
    assert!(!s.delete_draft_campaign(draft.id).await.unwrap(), "gone");
    // The other campaign's contacts are untouched.
    assert_eq!(s.count_contacts(kept.id).await.unwrap(), 3);

    // A draft with a call (a one-off, say) keeps it: no delete.
    let called = s
        .create_campaign(new_campaign("called"), t0())
        .await
        .unwrap();
    s.commit(batch_of(vec![call(called.id, 5, t0(), CallOrigin::Api)]))
        .await
        .unwrap();
    assert!(matches!(
        s.delete_draft_campaign(called.id).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(s.get_campaign(called.id).await.unwrap().is_some());

    // A campaign past its draft cannot be deleted either.
    s.commit(WriteBatch {
        states: vec![StateChange {
            campaign_id: kept.id,
            state: CampaignState::Stopped,
            at: at(1_000),
        }],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    assert!(matches!(
        s.delete_draft_campaign(kept.id).await,
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(s.count_contacts(kept.id).await.unwrap(), 3);
}
