//! The contract for a list kept per zone: each contact is listed under its number's zone key,
//! a zone's contacts page in id order, and each zone's cursor only moves forward.

use dialer_engine::{CampaignState, ContactId, PhoneNumber};

use super::super::fixtures::{new_campaign, t0};
use crate::model::{AddContact, Attributes, ListCursor, NewContact, StateChange, WriteBatch};
use crate::{ListZone, Store};

const NEW_YORK: &str = "America/New_York";
const LOS_ANGELES: &str = "America/Los_Angeles";

fn contact(e164: &str) -> NewContact {
    NewContact {
        phone_number: PhoneNumber::from_stored(e164).unwrap(),
        attributes: Attributes::new(),
    }
}

async fn zones<S: Store>(s: &S, c: dialer_engine::CampaignId) -> Vec<(String, Option<i64>)> {
    s.list_zones(c)
        .await
        .unwrap()
        .into_iter()
        .map(|ListZone { key, after }| (key, after.map(ContactId::get)))
        .collect()
}

async fn page_ids<S: Store>(
    s: &S,
    c: dialer_engine::CampaignId,
    zone: &str,
    after: Option<ContactId>,
    limit: u32,
) -> Vec<ContactId> {
    let page = s.zone_page(c, zone, after, limit).await.unwrap();
    page.into_iter().map(|c| c.id).collect()
}

pub async fn a_list_is_paged_by_zone_with_a_cursor_each<S: Store>(s: &S) {
    let c = s
        .create_campaign(new_campaign("zones"), t0())
        .await
        .unwrap();
    assert!(s.list_zones(c.id).await.unwrap().is_empty());
    // New York and Los Angeles numbers, mixed, and one New York number twice.
    let numbers = [
        "+12125550001",
        "+13105550001",
        "+12125550002",
        "+12125550003",
        "+13105550002",
        "+12125550001",
    ];
    let ids: Vec<ContactId> = s
        .add_contacts(c.id, numbers.iter().map(|n| contact(n)).collect(), t0())
        .await
        .unwrap()
        .into_iter()
        .map(AddContact::id)
        .collect();
    let (ny, la) = (vec![ids[0], ids[2], ids[3]], vec![ids[1], ids[4]]);
    assert_eq!(
        zones(s, c.id).await,
        vec![(LOS_ANGELES.into(), None), (NEW_YORK.into(), None)]
    );
    // A zone's contacts only, in id order, paged.
    assert_eq!(page_ids(s, c.id, NEW_YORK, None, 10).await, ny);
    assert_eq!(page_ids(s, c.id, NEW_YORK, None, 2).await, ny[..2]);
    assert_eq!(page_ids(s, c.id, NEW_YORK, Some(ny[1]), 10).await, ny[2..]);
    assert_eq!(page_ids(s, c.id, LOS_ANGELES, None, 10).await, la);
    assert!(page_ids(s, c.id, "Europe/Paris", None, 10).await.is_empty());
    let first = s.zone_page(c.id, LOS_ANGELES, None, 1).await.unwrap();
    assert_eq!(first[0].phone_number.as_str(), numbers[1]);

    // Each zone's cursor moves on its own, and never back; the campaign's follows the highest.
    let commit = |zone: &'static str, id: ContactId| {
        s.commit(WriteBatch {
            cursors: vec![ListCursor::new(c.id, zone, id)],
            ..WriteBatch::default()
        })
    };
    commit(NEW_YORK, ny[1]).await.unwrap();
    commit(NEW_YORK, ny[0]).await.unwrap();
    commit(LOS_ANGELES, la[0]).await.unwrap();
    assert_eq!(
        zones(s, c.id).await,
        vec![
            (LOS_ANGELES.into(), Some(la[0].get())),
            (NEW_YORK.into(), Some(ny[1].get())),
        ]
    );
    let campaign = s.get_campaign(c.id).await.unwrap().unwrap();
    assert_eq!(campaign.dial_cursor, Some(ny[1].max(la[0])));

    // A zone added later is listed with no cursor; the others keep theirs.
    s.add_contacts(c.id, vec![contact("+13125550001")], t0())
        .await
        .unwrap();
    assert_eq!(
        zones(s, c.id).await.first(),
        Some(&("America/Chicago".to_owned(), None))
    );

    // A deleted draft takes its zones with it.
    assert_eq!(campaign.state, CampaignState::Draft);
    let other = s
        .create_campaign(new_campaign("other"), t0())
        .await
        .unwrap();
    s.add_contacts(other.id, vec![contact("+12125550009")], t0())
        .await
        .unwrap();
    s.commit(WriteBatch {
        states: vec![StateChange {
            campaign_id: other.id,
            state: CampaignState::Draft,
            at: t0(),
        }],
        ..WriteBatch::default()
    })
    .await
    .unwrap();
    assert!(s.delete_draft_campaign(other.id).await.unwrap());
    assert!(s.list_zones(other.id).await.unwrap().is_empty());
    assert_eq!(zones(s, c.id).await.len(), 3);
}
