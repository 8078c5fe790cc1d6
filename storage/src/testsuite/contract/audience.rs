//! The audience store: recipients, consent, subscriptions, named definitions.

use std::collections::BTreeSet;

use dialer_engine::messaging::Consent;
use serde_json::json;

use super::attrs;
use crate::Store;
use crate::audience::{DefinitionKind, RecipientUpsert, Upserted};
use crate::testsuite::fixtures::{at, phone, t0};

fn upsert(n: u32, pairs: &[(&str, &str)], consent: Option<Consent>) -> RecipientUpsert {
    RecipientUpsert {
        phone_number: phone(n),
        attributes: attrs(pairs),
        consent,
    }
}

pub async fn recipients_are_added_then_merged_key_by_key<S: Store>(s: &S) {
    let outcomes = s
        .upsert_recipients(
            vec![
                upsert(1, &[("name", "Ada"), ("city", "Berlin")], None),
                upsert(2, &[("name", "Grace")], Some(Consent::OptedIn)),
                upsert(1, &[("city", "London"), ("tier", "gold")], None),
            ],
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [Upserted::Added, Upserted::Added, Upserted::Merged]
    );
    let ada = s.get_recipient(&phone(1)).await.unwrap().unwrap();
    assert_eq!(
        ada.attributes,
        attrs(&[("name", "Ada"), ("city", "London"), ("tier", "gold")])
    );
    assert_eq!(ada.consent, Consent::Unknown);
    // A later merge keeps the creation time and the consent it does not mention.
    let again = s
        .upsert_recipients(vec![upsert(2, &[("tier", "silver")], None)], at(5))
        .await
        .unwrap();
    assert_eq!(again, [Upserted::Merged]);
    let grace = s.get_recipient(&phone(2)).await.unwrap().unwrap();
    assert_eq!((grace.created_at, grace.updated_at), (t0(), at(5)));
    assert_eq!(grace.consent, Consent::OptedIn);
    assert_eq!(
        grace.attributes,
        attrs(&[("name", "Grace"), ("tier", "silver")])
    );
    assert!(s.get_recipient(&phone(3)).await.unwrap().is_none());
}

pub async fn recipients_page_through_every_one_once<S: Store>(s: &S) {
    let batch = (0..11).map(|n| upsert(100 + n, &[], None)).collect();
    s.upsert_recipients(batch, t0()).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.list_recipients(after.clone(), 3).await.unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.phone_number.clone());
        seen.extend(page.into_iter().map(|r| r.phone_number));
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a recipient came twice");
    assert_eq!(unique, (0..11).map(|n| phone(100 + n)).collect());
}

pub async fn consent_is_set_on_new_and_known_recipients<S: Store>(s: &S) {
    // A STOP from a stranger is remembered.
    s.set_consent(&phone(7), Consent::OptedOut, t0())
        .await
        .unwrap();
    let stranger = s.get_recipient(&phone(7)).await.unwrap().unwrap();
    assert_eq!(stranger.consent, Consent::OptedOut);
    assert!(stranger.attributes.is_empty());
    s.upsert_recipients(vec![upsert(8, &[("name", "Linus")], None)], t0())
        .await
        .unwrap();
    s.set_consent(&phone(8), Consent::OptedIn, at(3))
        .await
        .unwrap();
    let linus = s.get_recipient(&phone(8)).await.unwrap().unwrap();
    assert_eq!(linus.consent, Consent::OptedIn);
    assert_eq!(
        linus.attributes,
        attrs(&[("name", "Linus")]),
        "attributes kept"
    );
}

pub async fn subscriptions_are_read_both_ways<S: Store>(s: &S) {
    assert!(s.subscribe(&phone(1), "news", t0()).await.unwrap());
    assert!(
        !s.subscribe(&phone(1), "news", at(1)).await.unwrap(),
        "already"
    );
    assert!(s.subscribe(&phone(1), "alerts", t0()).await.unwrap());
    for n in 2..7 {
        assert!(s.subscribe(&phone(n), "news", t0()).await.unwrap());
    }
    assert!(
        s.get_recipient(&phone(4)).await.unwrap().is_some(),
        "a subscriber is a recipient"
    );
    assert_eq!(s.topics_of(&phone(1)).await.unwrap(), ["alerts", "news"]);
    let first = s.subscribers("news", None, 4).await.unwrap();
    assert_eq!(first, (1..5).map(phone).collect::<Vec<_>>());
    let rest = s
        .subscribers("news", first.last().cloned(), 4)
        .await
        .unwrap();
    assert_eq!(rest, (5..7).map(phone).collect::<Vec<_>>());
    assert!(s.unsubscribe(&phone(1), "news").await.unwrap());
    assert!(!s.unsubscribe(&phone(1), "news").await.unwrap());
    assert_eq!(s.topics_of(&phone(1)).await.unwrap(), ["alerts"]);
    assert_eq!(s.subscribers("news", None, 10).await.unwrap().len(), 5);
    assert!(s.subscribers("nobody", None, 10).await.unwrap().is_empty());
}

pub async fn definitions_are_put_read_listed_and_deleted<S: Store>(s: &S) {
    let rule = json!({"rule": {"subscribed": "news"}, "description": "news readers"});
    assert!(
        s.put_definition(DefinitionKind::Segment, "readers", rule.clone(), t0())
            .await
            .unwrap()
    );
    let text = json!({"channel": "sms", "locale": "en", "body": "Hi {name}"});
    assert!(
        s.put_definition(DefinitionKind::Template, "readers", text.clone(), t0())
            .await
            .unwrap(),
        "kinds are apart"
    );
    let changed = json!({"rule": {"subscribed": "alerts"}, "description": ""});
    assert!(
        !s.put_definition(DefinitionKind::Segment, "readers", changed.clone(), at(9))
            .await
            .unwrap()
    );
    s.put_definition(
        DefinitionKind::Segment,
        "all",
        json!({"rule": {"all": []}}),
        at(2),
    )
    .await
    .unwrap();
    let got = s
        .get_definition(DefinitionKind::Segment, "readers")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.body, got.created_at, got.updated_at),
        (changed, t0(), at(9))
    );
    let names: Vec<String> = s
        .list_definitions(DefinitionKind::Segment)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["all", "readers"]);
    assert!(
        s.delete_definition(DefinitionKind::Segment, "readers")
            .await
            .unwrap()
    );
    assert!(
        !s.delete_definition(DefinitionKind::Segment, "readers")
            .await
            .unwrap()
    );
    assert!(
        s.get_definition(DefinitionKind::Segment, "readers")
            .await
            .unwrap()
            .is_none()
    );
    let template = s
        .get_definition(DefinitionKind::Template, "readers")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(template.body, text);
}
