//! Calling hours around DST transitions in four zones with different rules: New York (US rules),
//! London (EU rules), Lord Howe (a 30-minute shift) and Kolkata (no DST, a half-hour offset).
//! `next_open` must agree with a minute-by-minute scan, and `next_close` must end the period.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use dialer_engine::window::{self, DaySet, TimeOfDay, Window};
use proptest::prelude::*;

const ZONES: [Tz; 4] = [
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kolkata,
];

/// Local dates of DST changes in 2025–2027 for the zones above (Kolkata has none).
const TRANSITION_DAYS: [(i32, u32, u32); 18] = [
    (2025, 3, 9),
    (2025, 11, 2),
    (2026, 3, 8),
    (2026, 11, 1),
    (2027, 3, 14),
    (2027, 11, 7),
    (2025, 3, 30),
    (2025, 10, 26),
    (2026, 3, 29),
    (2026, 10, 25),
    (2027, 3, 28),
    (2027, 10, 31),
    (2025, 4, 6),
    (2025, 10, 5),
    (2026, 4, 5),
    (2026, 10, 4),
    (2027, 4, 4),
    (2027, 10, 3),
];

fn window() -> impl Strategy<Value = Window> {
    // Minute-aligned windows, including ones that start or end inside DST gaps (01:00-03:00).
    (1u8..128, 0u32..1440, 1u32..600).prop_filter_map("empty window", |(days, start, len)| {
        let end = (start + len).min(1440);
        let days = DaySet::ALL
            .days()
            .filter(|d| days & (1 << d.num_days_from_monday()) != 0)
            .fold(DaySet::default(), |s, d| s.union(DaySet::single(d)));
        let t = |m: u32| TimeOfDay::from_hms(m / 60, m % 60, 0).ok();
        Window::new(days, t(start)?, t(end)?).ok()
    })
}

fn instant_near_a_transition() -> impl Strategy<Value = DateTime<Utc>> {
    (0..TRANSITION_DAYS.len(), -4 * 1440i64..4 * 1440).prop_map(|(i, minutes)| {
        let (y, m, d) = TRANSITION_DAYS[i];
        let day = NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        day + Duration::minutes(minutes)
    })
}

fn zones() -> impl Strategy<Value = Vec<Tz>> {
    prop_oneof![
        3 => (0..ZONES.len()).prop_map(|i| vec![ZONES[i]]),
        1 => (0..ZONES.len(), 0..ZONES.len()).prop_map(|(a, b)| vec![ZONES[a], ZONES[b]]),
    ]
}

/// The first open minute at or after `at`, scanning up to `days`.
fn scan(windows: &[Window], zones: &[Tz], at: DateTime<Utc>, days: i64) -> Option<DateTime<Utc>> {
    (0..days * 1440)
        .map(|m| at + Duration::minutes(m))
        .find(|t| window::is_open(windows, zones, *t))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn next_open_is_the_first_open_minute(
        windows in prop::collection::vec(window(), 1..3),
        zones in zones(),
        at in instant_near_a_transition(),
    ) {
        let got = window::next_open(&windows, &zones, at);
        let scanned = scan(&windows, &zones, at, 8);
        match (got, scanned) {
            (Some(g), Some(s)) => prop_assert_eq!(g, s),
            // Found beyond the scan: the scan must have seen nothing open.
            (Some(g), None) => prop_assert!(g >= at + Duration::days(8)),
            (None, Some(s)) => prop_assert!(false, "next_open found nothing, scan found {}", s),
            (None, None) => {}
        }
        if let Some(open) = got {
            prop_assert!(window::is_open(&windows, &zones, open));
            prop_assert!(open >= at);
            if let Some(close) = window::next_close(&windows, &zones, open) {
                prop_assert!(close > open);
                prop_assert!(!window::is_open(&windows, &zones, close));
                // Open through the whole period: check each minute.
                let minutes = (close - open).num_minutes();
                for m in 0..minutes {
                    let t = open + Duration::minutes(m);
                    prop_assert!(window::is_open(&windows, &zones, t), "closed at {} inside [{}, {})", t, open, close);
                }
            }
        }
    }

    #[test]
    fn local_time_at_next_open_is_inside_a_window(
        windows in prop::collection::vec(window(), 1..3),
        zone in 0..ZONES.len(),
        at in instant_near_a_transition(),
    ) {
        let zone = ZONES[zone];
        if let Some(open) = window::next_open(&windows, &[zone], at) {
            use chrono::{Datelike, Timelike};
            let local = open.with_timezone(&zone);
            let secs = local.num_seconds_from_midnight();
            prop_assert!(windows.iter().any(|w| w.days.contains(local.weekday())
                && w.start.seconds() <= secs && secs < w.end.seconds()),
                "{} local {} is in no window", open, local);
        }
    }
}

#[test]
fn default_hours_skip_the_missing_hour_in_new_york() {
    // 08:00-21:00 is unaffected by the 02:00 jump, but the day is 23 hours long: the UTC instant
    // of 08:00 moves from 13:00 to 12:00.
    let hours = dialer_engine::CallingHours::default();
    let ny = [chrono_tz::America::New_York];
    let sat = Utc.with_ymd_and_hms(2026, 3, 7, 14, 0, 0).unwrap();
    assert_eq!(
        hours.next_open(&ny, sat + Duration::hours(12)),
        Some(Utc.with_ymd_and_hms(2026, 3, 8, 12, 0, 0).unwrap())
    );
}
