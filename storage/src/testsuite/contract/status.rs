//! The contract for listing calls by status: every status, with and without a campaign, calls
//! found under the status they are in now — not one they passed through — and paged newest first.

use dialer_engine::{CallEvent, CallOrigin, CallStatus, Disposition, Outcome};

use crate::Store;
use crate::model::CallFilter;
use crate::testsuite::fixtures::{at, call, new_campaign, t0};

use super::batch_of;

pub async fn calls_list_by_each_status_with_or_without_a_campaign<S: Store>(s: &S) {
    let a = s
        .create_campaign(new_campaign("status-a"), t0())
        .await
        .unwrap();
    let b = s
        .create_campaign(new_campaign("status-b"), t0())
        .await
        .unwrap();
    let picked = CallEvent::Ended {
        outcome: Outcome::Picked,
        disposition: Disposition::Final,
    };
    let retry = CallEvent::Ended {
        outcome: Outcome::Rnr,
        disposition: Disposition::RetryAt { at: at(3_600_000) },
    };
    let paths: [&[CallEvent]; 7] = [
        &[],
        &[CallEvent::DialStarted],
        &[CallEvent::DialStarted, CallEvent::Ringing],
        &[
            CallEvent::DialStarted,
            CallEvent::Ringing,
            CallEvent::Answered,
        ],
        &[CallEvent::DialStarted, CallEvent::Ringing, retry],
        &[CallEvent::Cancel],
        &[
            CallEvent::DialStarted,
            CallEvent::Ringing,
            CallEvent::Answered,
            picked,
        ],
    ];
    // Written in the states the paths pass through, each state its own commit, as the engine
    // writes them: a call must leave every status it passes.
    let mut calls = Vec::new();
    for i in 0..28u32 {
        let campaign = if i % 2 == 0 { a.id } else { b.id };
        let first = call(campaign, i, at(i64::from(i) * 1000), CallOrigin::Campaign);
        s.commit(batch_of(vec![first.clone()])).await.unwrap();
        let path = paths[i as usize % paths.len()];
        let mut c = first;
        for (n, e) in (0i64..).zip(path) {
            c.apply(*e, at(50_000 + n));
            s.commit(batch_of(vec![c.clone()])).await.unwrap();
        }
        calls.push(c);
    }
    let statuses: Vec<CallStatus> = calls.iter().map(|c| c.status).collect();
    for status in [
        CallStatus::Initiated,
        CallStatus::Dialing,
        CallStatus::Ringing,
        CallStatus::InProgress,
        CallStatus::Retrying,
        CallStatus::Cancelled,
        CallStatus::Picked,
    ] {
        assert!(statuses.contains(&status), "no call is {status:?}");
    }
    for status in CallStatus::ALL {
        for campaign in [None, Some(a.id), Some(b.id)] {
            let mut want: Vec<_> = calls
                .iter()
                .filter(|c| c.status == status && campaign.is_none_or(|id| c.campaign_id == id))
                .map(|c| c.call_id)
                .collect();
            want.sort();
            want.reverse();
            let filter = CallFilter {
                campaign_id: campaign,
                status: Some(status),
                ..CallFilter::default()
            };
            let mut got = Vec::new();
            let mut before = None;
            loop {
                let page = s.list_calls(&filter, before, 2).await.unwrap();
                if page.is_empty() {
                    break;
                }
                assert!(page.iter().all(|c| c.status == status));
                before = page.last().map(|c| c.call_id);
                got.extend(page.into_iter().map(|c| c.call_id));
            }
            assert_eq!(got, want, "{status:?} in {campaign:?}");
        }
    }
}
