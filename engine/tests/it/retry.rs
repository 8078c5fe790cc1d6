//! Retry policy properties over random policies, outcomes and zones: the next attempt is always
//! inside a rule's window, never before the outcome plus that rule's interval, never earlier than
//! a minute-by-minute search would find, and the cap is never exceeded.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use dialer_engine::retry::{RetryDecision, RetryPolicy};
use dialer_engine::status::Outcome;
use dialer_engine::window;
use proptest::prelude::*;

const ZONES: [Tz; 5] = [
    chrono_tz::UTC,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kolkata,
];
const DAYS: [&str; 10] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "weekdays",
    "weekends",
    "daily",
];
const RETRYABLE: [Outcome; 3] = [Outcome::Disconnected, Outcome::Rnr, Outcome::Failed];

fn rule() -> impl Strategy<Value = String> {
    (0..DAYS.len(), 0u32..1380, 30u32..600, 1u32..240, prop::option::of(0usize..3)).prop_map(
        |(day, start, len, interval, only)| {
            let end = (start + len).min(1440);
            let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
            let statuses = only.map(|i| format!(", statuses: [{}]", RETRYABLE[i])).unwrap_or_default();
            format!(
                "  - {{day_of_week: {}, start_time: '{}', end_time: '{}', retry_interval_minutes: {interval}{statuses}}}\n",
                DAYS[day], hm(start), hm(end)
            )
        },
    )
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (1u32..6, prop::collection::vec(rule(), 1..5)).prop_filter_map("invalid policy", |(max, rules)| {
        // An unrestricted rule keeps every retryable status covered.
        let catch_all = "  - {day_of_week: daily, start_time: '09:00', end_time: '17:00', retry_interval_minutes: 90}\n";
        let text = format!("max_attempts: {max}\nrules:\n{}{catch_all}", rules.concat());
        RetryPolicy::from_yaml(&text).ok()
    })
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..3 * 365 * 1440)
        .prop_map(|m| Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(m))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn next_attempt_obeys_windows_intervals_and_the_cap(
        policy in policy(),
        outcome in prop::sample::select(Outcome::ALL.to_vec()),
        attempts in 1u32..8,
        at in instant(),
        zone in 0..ZONES.len(),
    ) {
        let zones = [ZONES[zone]];
        let decision = policy.next_attempt(outcome, attempts, at, &zones);
        let retryable = outcome != Outcome::Picked && policy.retry_on().contains(&outcome);
        match decision {
            RetryDecision::NotRetryable => prop_assert!(!retryable),
            RetryDecision::CapReached { max_attempts } => {
                prop_assert!(retryable);
                prop_assert_eq!(max_attempts, policy.max_attempts());
                prop_assert!(attempts >= policy.max_attempts());
            }
            RetryDecision::NoWindow => prop_assert!(false, "a daily catch-all rule always opens"),
            RetryDecision::RetryAt { at: next } => {
                prop_assert!(retryable);
                prop_assert!(attempts < policy.max_attempts(), "the cap is never exceeded");
                let applicable: Vec<_> = policy.rules().iter()
                    .filter(|r| r.statuses.as_ref().is_none_or(|s| s.contains(&outcome)))
                    .collect();
                // Inside a window whose interval has passed.
                prop_assert!(applicable.iter().any(|r| next >= at + r.interval
                    && window::is_open(std::slice::from_ref(&r.window), &zones, next)),
                    "{} is in no rule's window after its interval", next);
                // Never before the outcome plus the smallest interval.
                let min_interval = applicable.iter().map(|r| r.interval).min().unwrap_or_default();
                prop_assert!(next >= at + min_interval);
                // Nothing earlier qualifies: scan every minute from the outcome to `next`.
                let mut t = at;
                while t < next {
                    let ok = applicable.iter().any(|r| t >= at + r.interval
                        && window::is_open(std::slice::from_ref(&r.window), &zones, t));
                    prop_assert!(!ok, "{} qualifies but the policy said {}", t, next);
                    t += Duration::minutes(1);
                }
            }
        }
    }

    #[test]
    fn a_contact_never_gets_more_than_max_attempts(
        policy in policy(),
        outcomes in prop::collection::vec(prop::sample::select(RETRYABLE.to_vec()), 1..12),
        at in instant(),
    ) {
        // Replay a contact whose every attempt fails with the next outcome in the list.
        let mut attempts = 1;
        let mut now = at;
        for outcome in outcomes {
            match policy.next_attempt(outcome, attempts, now, &[chrono_tz::UTC]) {
                RetryDecision::RetryAt { at } => { attempts += 1; now = at; }
                _ => break,
            }
        }
        prop_assert!(attempts <= policy.max_attempts());
    }
}
