use chrono::TimeZone;

use super::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

const SEED: &str = r#"
# Saturday/Sunday: 10AM-12PM, 7PM-8PM
- day_of_week: "saturday"
  start_time: "10:00:00"
  end_time: "12:00:00"
  retry_interval_minutes: 60

- day_of_week: "saturday"
  start_time: "19:00:00"
  end_time: "20:00:00"
  retry_interval_minutes: 30
"#;

const UTC: [Tz; 1] = [chrono_tz::UTC];

#[test]
fn the_seed_list_form_parses_with_seed_defaults() {
    let p = RetryPolicy::from_yaml(SEED).unwrap();
    assert_eq!(p.max_attempts(), 3);
    assert_eq!(
        p.retry_on(),
        [Outcome::Disconnected, Outcome::Rnr, Outcome::Failed]
    );
    assert_eq!(p.rules().len(), 2);
}

#[test]
fn the_shipped_file_parses() {
    let p = RetryPolicy::shipped();
    assert_eq!(p.max_attempts(), 3);
    assert_eq!(p.rules().len(), 6);
}

#[test]
fn picked_never_retries_and_the_others_do() {
    let p = RetryPolicy::from_yaml(SEED).unwrap();
    // Saturday 2026-06-06 10:00 UTC.
    let at = utc(2026, 6, 6, 10, 0);
    assert_eq!(
        p.next_attempt(Outcome::Picked, 1, at, &UTC),
        RetryDecision::NotRetryable
    );
    for o in [Outcome::Disconnected, Outcome::Rnr, Outcome::Failed] {
        assert_eq!(
            p.next_attempt(o, 1, at, &UTC),
            RetryDecision::RetryAt {
                at: utc(2026, 6, 6, 11, 0)
            }
        );
    }
}

#[test]
fn the_next_attempt_is_the_earliest_across_rules() {
    let p = RetryPolicy::from_yaml(SEED).unwrap();
    // 11:30: +60 is 12:30, outside the morning window; the evening window (+30) opens at 19:00.
    assert_eq!(
        p.next_attempt(Outcome::Rnr, 1, utc(2026, 6, 6, 11, 30), &UTC),
        RetryDecision::RetryAt {
            at: utc(2026, 6, 6, 19, 0)
        }
    );
    // 19:45: +30 is 20:15, after the evening window; next is Saturday a week later at 10:00.
    assert_eq!(
        p.next_attempt(Outcome::Rnr, 1, utc(2026, 6, 6, 19, 45), &UTC),
        RetryDecision::RetryAt {
            at: utc(2026, 6, 13, 10, 0)
        }
    );
    // A Monday outcome waits for Saturday morning.
    assert_eq!(
        p.next_attempt(Outcome::Failed, 2, utc(2026, 6, 8, 9, 0), &UTC),
        RetryDecision::RetryAt {
            at: utc(2026, 6, 13, 10, 0)
        }
    );
}

#[test]
fn the_cap_counts_every_attempt_whatever_its_outcome() {
    let p = RetryPolicy::from_yaml(SEED).unwrap();
    let at = utc(2026, 6, 6, 10, 0);
    assert!(matches!(
        p.next_attempt(Outcome::Rnr, 2, at, &UTC),
        RetryDecision::RetryAt { .. }
    ));
    assert_eq!(
        p.next_attempt(Outcome::Rnr, 3, at, &UTC),
        RetryDecision::CapReached { max_attempts: 3 }
    );
    assert_eq!(
        p.next_attempt(Outcome::Failed, 3, at, &UTC),
        RetryDecision::CapReached { max_attempts: 3 }
    );
}

#[test]
fn per_status_rules_share_one_cap() {
    let p = RetryPolicy::from_yaml(
        r#"
max_attempts: 2
retry_on: [RNR, FAILED]
rules:
  - {day_of_week: daily, start_time: "00:00", end_time: "24:00", retry_interval_minutes: 10, statuses: [RNR]}
  - {day_of_week: daily, start_time: "00:00", end_time: "24:00", retry_interval_minutes: 120, statuses: [FAILED]}
"#,
    )
    .unwrap();
    let at = utc(2026, 6, 6, 10, 0);
    assert_eq!(
        p.next_attempt(Outcome::Rnr, 1, at, &UTC),
        RetryDecision::RetryAt {
            at: utc(2026, 6, 6, 10, 10)
        }
    );
    assert_eq!(
        p.next_attempt(Outcome::Failed, 1, at, &UTC),
        RetryDecision::RetryAt {
            at: utc(2026, 6, 6, 12, 0)
        }
    );
    // One RNR then one FAILED: two attempts, the cap; the FAILED rule has no budget of its own.
    assert_eq!(
        p.next_attempt(Outcome::Failed, 2, at, &UTC),
        RetryDecision::CapReached { max_attempts: 2 }
    );
    assert_eq!(
        p.next_attempt(Outcome::Disconnected, 1, at, &UTC),
        RetryDecision::NotRetryable
    );
}

#[test]
fn windows_are_read_in_the_recipient_zone() {
    let p = RetryPolicy::from_yaml(SEED).unwrap();
    // Saturday 10:00 in New York (EDT) is 14:00 UTC.
    let ny = [chrono_tz::America::New_York];
    assert_eq!(
        p.next_attempt(Outcome::Rnr, 1, utc(2026, 6, 6, 12, 0), &ny),
        RetryDecision::RetryAt {
            at: utc(2026, 6, 6, 14, 0)
        }
    );
}

#[test]
fn config_mistakes_name_the_field_and_the_rule() {
    let cases = [
        ("max_attempts: 0\nrules: []", "max_attempts"),
        ("retry_on: [PICKED]\nrules: []", "retry_on"),
        (
            "rules:\n  - {day_of_week: monday, start_time: '10:00', end_time: '11:00', retry_interval_minutes: 0}",
            "rules[0].retry_interval_minutes",
        ),
        (
            "rules:\n  - {day_of_week: monday, start_time: '10:00', end_time: '11:00', retry_interval_minutes: 5, statuses: [RNR]}",
            "rules",
        ),
        (
            "retry_on: [RNR]\nrules:\n  - {day_of_week: monday, start_time: '10:00', end_time: '11:00', retry_interval_minutes: 5, statuses: [FAILED]}",
            "rules[0].statuses",
        ),
        ("rules: []\nmax_atempts: 3", "retry_config"),
        (
            "- {day_of_week: funday, start_time: '10:00', end_time: '11:00', retry_interval_minutes: 5}",
            "retry_config",
        ),
    ];
    for (text, field) in cases {
        let err = RetryPolicy::from_yaml(text).unwrap_err();
        assert_eq!(err.field, field, "{text}: {err}");
    }
}

#[test]
fn policies_round_trip_through_json() {
    let p = RetryPolicy::shipped();
    let json = serde_json::to_string(&p).unwrap();
    let back: RetryPolicy = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
}
