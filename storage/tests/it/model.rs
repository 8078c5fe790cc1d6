//! The embedded backend against the in-memory model: random sequences of writes and reads give
//! the same answers from both.

use dialer_engine::{CallEvent, CallOrigin, CallStatus, CampaignState, Disposition, Lane, Outcome};
use dialer_storage::embedded::{EmbeddedConfig, EmbeddedStore};
use dialer_storage::memory::MemoryStore;
use dialer_storage::testsuite::fixtures::{at, call, new_campaign, phone, t0};
use dialer_storage::{
    Attributes, CallFilter, CallStore, CampaignDetails, CampaignStore, ContactStore, CounterStore,
    DncEntry, DncKind, DncStore, NewContact, ScheduleStore, StateChange, Store, WriteBatch,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    AddContacts {
        campaign: usize,
        phones: Vec<u32>,
    },
    NewCall {
        campaign: usize,
        phone: u32,
        created: i64,
        one_off: bool,
    },
    /// Moves the n-th call through the state machine.
    Step {
        call: usize,
        step: u8,
        at: i64,
    },
    Counter {
        campaign: usize,
        name: u8,
        delta: i64,
    },
    Dnc {
        phone: u32,
        opt_out: bool,
        add: bool,
    },
    Cursor {
        campaign: usize,
        contact: i64,
    },
    State {
        campaign: usize,
        state: u8,
        at: i64,
    },
    Details {
        campaign: usize,
        lines: u32,
        at: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, prop::collection::vec(0..30u32, 1..6))
            .prop_map(|(campaign, phones)| Op::AddContacts { campaign, phones }),
        (0..2usize, 0..30u32, 0..100_000i64, any::<bool>()).prop_map(
            |(campaign, phone, created, one_off)| Op::NewCall {
                campaign,
                phone,
                created,
                one_off
            }
        ),
        (any::<usize>(), 0..8u8, 0..200_000i64).prop_map(|(call, step, at)| Op::Step {
            call,
            step,
            at
        }),
        (0..2usize, 0..3u8, -5..10i64).prop_map(|(campaign, name, delta)| Op::Counter {
            campaign,
            name,
            delta
        }),
        (0..30u32, any::<bool>(), any::<bool>()).prop_map(|(phone, opt_out, add)| Op::Dnc {
            phone,
            opt_out,
            add
        }),
        (0..2usize, 1..50i64).prop_map(|(campaign, contact)| Op::Cursor { campaign, contact }),
        (0..2usize, 0..5u8, 0..200_000i64).prop_map(|(campaign, state, at)| Op::State {
            campaign,
            state,
            at
        }),
        (0..2usize, 1..100u32, 0..200_000i64).prop_map(|(campaign, lines, at)| Op::Details {
            campaign,
            lines,
            at
        }),
    ]
}

async fn same<T: PartialEq + std::fmt::Debug>(what: &str, a: T, b: T) -> Result<(), TestCaseError> {
    prop_assert_eq!(a, b, "{} differs", what);
    Ok(())
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let real = EmbeddedStore::open(&EmbeddedConfig::new(dir.path()), t0()).unwrap();
    let model = MemoryStore::new();
    let mut campaigns = Vec::new();
    for name in ["a", "b"] {
        let r = real
            .create_campaign(new_campaign(name), t0())
            .await
            .unwrap();
        let m = model
            .create_campaign(new_campaign(name), t0())
            .await
            .unwrap();
        prop_assert_eq!(&r, &m);
        campaigns.push(r.id);
    }
    let mut calls: Vec<dialer_engine::Call> = Vec::new();
    for op in ops {
        match op {
            Op::AddContacts { campaign, phones } => {
                let contacts: Vec<NewContact> = phones
                    .iter()
                    .map(|p| NewContact {
                        phone_number: phone(*p),
                        attributes: Attributes::from_iter([("p".to_owned(), serde_json::json!(p))]),
                    })
                    .collect();
                let r = real
                    .add_contacts(campaigns[campaign], contacts.clone(), t0())
                    .await
                    .unwrap();
                let m = model
                    .add_contacts(campaigns[campaign], contacts, t0())
                    .await
                    .unwrap();
                same("add_contacts", r, m).await?;
            }
            Op::NewCall {
                campaign,
                phone: p,
                created,
                one_off,
            } => {
                let origin = if one_off {
                    CallOrigin::Api
                } else {
                    CallOrigin::Campaign
                };
                let mut c = call(campaigns[campaign], p, at(created), origin);
                c.call_id = dialer_engine::CallId::generate(at(created));
                calls.push(c.clone());
                let b = WriteBatch {
                    calls: vec![c],
                    ..WriteBatch::default()
                };
                real.commit(b.clone()).await.unwrap();
                model.commit(b).await.unwrap();
            }
            Op::Step {
                call: n,
                step,
                at: t,
            } if !calls.is_empty() => {
                let i = n % calls.len();
                let c = &mut calls[i];
                let event = match step {
                    0 => CallEvent::DialStarted,
                    1 => CallEvent::Ended {
                        outcome: Outcome::Rnr,
                        disposition: Disposition::RetryAt { at: at(t) },
                    },
                    2 => CallEvent::Due,
                    3 => CallEvent::Ended {
                        outcome: Outcome::Picked,
                        disposition: Disposition::Final,
                    },
                    4 => CallEvent::Cancel,
                    5 => CallEvent::NotPlaced { retry_at: at(t) },
                    _ => CallEvent::Ringing,
                };
                if step == 7 {
                    c.defer(at(t), at(t));
                } else {
                    c.apply(event, at(t));
                }
                let b = WriteBatch {
                    calls: vec![c.clone()],
                    ..WriteBatch::default()
                };
                real.commit(b.clone()).await.unwrap();
                model.commit(b).await.unwrap();
            }
            Op::Step { .. } => {}
            Op::Counter {
                campaign,
                name,
                delta,
            } => {
                let mut b = WriteBatch::default();
                b.counter(
                    campaigns[campaign],
                    ["attempts", "outcome.RNR", "in_flight"][name as usize],
                    delta,
                );
                real.commit(b.clone()).await.unwrap();
                model.commit(b).await.unwrap();
            }
            Op::Dnc {
                phone: p,
                opt_out,
                add,
            } => {
                let kind = if opt_out {
                    DncKind::OptOut
                } else {
                    DncKind::Dnc
                };
                if add {
                    let e = vec![DncEntry {
                        phone_number: phone(p),
                        kind,
                        source: "test".into(),
                        added_at: t0(),
                    }];
                    same(
                        "add_dnc",
                        real.add_dnc(e.clone()).await.unwrap(),
                        model.add_dnc(e).await.unwrap(),
                    )
                    .await?;
                } else {
                    same(
                        "remove_dnc",
                        real.remove_dnc(&phone(p), kind).await.unwrap(),
                        model.remove_dnc(&phone(p), kind).await.unwrap(),
                    )
                    .await?;
                }
            }
            Op::State {
                campaign,
                state,
                at: t,
            } => {
                let b = WriteBatch {
                    states: vec![StateChange {
                        campaign_id: campaigns[campaign],
                        state: [
                            CampaignState::Draft,
                            CampaignState::Running,
                            CampaignState::Paused,
                            CampaignState::Completed,
                            CampaignState::Stopped,
                        ][state as usize],
                        at: at(t),
                    }],
                    ..WriteBatch::default()
                };
                real.commit(b.clone()).await.unwrap();
                model.commit(b).await.unwrap();
            }
            Op::Details {
                campaign,
                lines,
                at: t,
            } => {
                let mut details = CampaignDetails {
                    name: format!("renamed {lines}"),
                    description: "d".into(),
                    is_active: lines % 2 == 0,
                    settings: dialer_engine::CampaignSettings::default(),
                    archived_at: (lines % 3 == 0).then(|| at(t)),
                };
                details.settings.max_concurrent = lines;
                same(
                    "update_campaign_details",
                    real.update_campaign_details(campaigns[campaign], details.clone(), at(t))
                        .await
                        .unwrap(),
                    model
                        .update_campaign_details(campaigns[campaign], details, at(t))
                        .await
                        .unwrap(),
                )
                .await?;
            }
            Op::Cursor { campaign, contact } => {
                let b = WriteBatch {
                    cursors: vec![dialer_storage::ListCursor::new(
                        campaigns[campaign],
                        "",
                        dialer_engine::ContactId::new(contact).unwrap(),
                    )],
                    ..WriteBatch::default()
                };
                real.commit(b.clone()).await.unwrap();
                model.commit(b).await.unwrap();
            }
        }
    }
    // Every read agrees.
    for (i, id) in campaigns.iter().enumerate() {
        same(
            "campaign",
            real.get_campaign(*id).await.unwrap(),
            model.get_campaign(*id).await.unwrap(),
        )
        .await?;
        same(
            "counters",
            real.counters(*id).await.unwrap(),
            model.counters(*id).await.unwrap(),
        )
        .await?;
        same(
            "contacts_page",
            real.contacts_page(*id, None, 100).await.unwrap(),
            model.contacts_page(*id, None, 100).await.unwrap(),
        )
        .await?;
        for status in [None, Some(CallStatus::Retrying), Some(CallStatus::Picked)] {
            let f = CallFilter {
                campaign_id: Some(*id),
                status,
                ..CallFilter::default()
            };
            same(
                "list_calls",
                real.list_calls(&f, None, 100).await.unwrap(),
                model.list_calls(&f, None, 100).await.unwrap(),
            )
            .await?;
        }
        let p = phone(i as u32);
        same(
            "latest_call_to",
            real.latest_call_to(*id, &p, t0()).await.unwrap(),
            model.latest_call_to(*id, &p, t0()).await.unwrap(),
        )
        .await?;
        same(
            "live_calls",
            real.live_calls(*id, None, 1000).await.unwrap(),
            model.live_calls(*id, None, 1000).await.unwrap(),
        )
        .await?;
        same(
            "has_open_calls",
            real.has_open_calls(*id).await.unwrap(),
            model.has_open_calls(*id).await.unwrap(),
        )
        .await?;
        for lane in Lane::ALL {
            let all = model
                .pending_calls(*id, lane, None, 1000, t0())
                .await
                .unwrap();
            same(
                "pending_calls",
                real.pending_calls(*id, lane, None, 1000, t0())
                    .await
                    .unwrap(),
                all.clone(),
            )
            .await?;
            // Read on after each of the first few: the same rest, two at a time.
            for after in all
                .iter()
                .take(3)
                .filter_map(|c| c.due_at.map(|d| (d, c.call_id)))
            {
                same(
                    "pending_calls after",
                    real.pending_calls(*id, lane, Some(after), 2, t0())
                        .await
                        .unwrap(),
                    model
                        .pending_calls(*id, lane, Some(after), 2, t0())
                        .await
                        .unwrap(),
                )
                .await?;
            }
        }
    }
    for c in &calls {
        same(
            "get_call",
            real.get_call(c.call_id).await.unwrap(),
            model.get_call(c.call_id).await.unwrap(),
        )
        .await?;
    }
    same(
        "list_dnc",
        real.list_dnc(None, None, 1000).await.unwrap(),
        model.list_dnc(None, None, 1000).await.unwrap(),
    )
    .await?;
    real.close().await.unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_embedded_store_answers_like_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops))?;
    }
}
