use chrono::TimeZone;
use chrono_tz::America::New_York;
use chrono_tz::Australia::Lord_Howe;
use chrono_tz::Europe::London;

use super::*;

fn t(s: &str) -> TimeOfDay {
    s.parse().unwrap()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

#[test]
fn times_of_day_parse_and_print() {
    assert_eq!(t("08:00").seconds(), 8 * 3600);
    assert_eq!(t("10:00:30").seconds(), 36_030);
    assert_eq!(t("24:00"), TimeOfDay::END_OF_DAY);
    assert_eq!(t("08:30").to_string(), "08:30");
    for bad in ["8:00", "24:01", "10:60", "ab:cd", "10", "10:00:00:00", ""] {
        assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
    }
}

#[test]
fn day_sets_read_names_and_groups() {
    assert_eq!(
        DaySet::parse_token("Saturday").unwrap(),
        DaySet::single(Weekday::Sat)
    );
    assert_eq!(
        DaySet::parse_token("sat").unwrap(),
        DaySet::single(Weekday::Sat)
    );
    assert_eq!(DaySet::parse_token("weekdays").unwrap(), DaySet::WEEKDAYS);
    assert!(DaySet::parse_token("someday").is_err());
    let set: DaySet = yaml_serde::from_str("[sat, sunday]").unwrap();
    assert_eq!(set, DaySet::WEEKENDS);
    let set: DaySet = yaml_serde::from_str("\"mon,wed\"").unwrap();
    assert!(set.contains(Weekday::Wed) && !set.contains(Weekday::Tue));
}

#[test]
fn windows_must_not_be_empty() {
    assert!(Window::daily(t("10:00"), t("10:00")).is_err());
    assert!(Window::daily(t("21:00"), t("08:00")).is_err());
    let err = yaml_serde::from_str::<Window>(
        "{day_of_week: monday, start_time: '12:00', end_time: '11:00'}",
    )
    .unwrap_err();
    assert!(err.to_string().contains("must be before end"), "{err}");
    let err = yaml_serde::from_str::<Window>(
        "{day_of_week: monday, start_time: '10:00', end_time: '11:00', extra: 1}",
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn next_open_is_now_when_open_and_the_next_start_otherwise() {
    let w = [Window::daily(t("08:00"), t("21:00")).unwrap()];
    // 2026-06-01 14:00 UTC is 10:00 in New York (EDT, -4): open.
    let at = utc(2026, 6, 1, 14, 0);
    assert_eq!(next_open(&w, &[New_York], at), Some(at));
    // 02:00 UTC is 22:00 the evening before: next open is 08:00 EDT = 12:00 UTC.
    assert_eq!(
        next_open(&w, &[New_York], utc(2026, 6, 2, 2, 0)),
        Some(utc(2026, 6, 2, 12, 0))
    );
    // And it closes at 21:00 EDT = 01:00 UTC next day.
    assert_eq!(next_close(&w, &[New_York], at), Some(utc(2026, 6, 2, 1, 0)));
}

#[test]
fn a_window_inside_the_spring_forward_gap_does_not_open_that_day() {
    // 2026-03-08 02:00 EST jumps to 03:00 EDT in New York (07:00 UTC).
    let w = [Window::daily(t("02:00"), t("03:00")).unwrap()];
    let at = utc(2026, 3, 8, 5, 0); // 00:00 EST
    // Next occurrence is 02:00 EDT on the 9th = 06:00 UTC.
    assert_eq!(next_open(&w, &[New_York], at), Some(utc(2026, 3, 9, 6, 0)));
}

#[test]
fn a_window_straddling_the_gap_opens_at_the_jump() {
    let w = [Window::daily(t("02:30"), t("04:00")).unwrap()];
    let at = utc(2026, 3, 8, 5, 0);
    // Local time jumps from 01:59:59 EST to 03:00 EDT at 07:00 UTC, already inside the window.
    assert_eq!(next_open(&w, &[New_York], at), Some(utc(2026, 3, 8, 7, 0)));
}

#[test]
fn a_window_inside_the_fall_back_overlap_opens_twice() {
    // 2026-11-01 02:00 EDT falls back to 01:00 EST in New York (06:00 UTC).
    let w = [Window::daily(t("01:00"), t("01:30")).unwrap()];
    let first = next_open(&w, &[New_York], utc(2026, 11, 1, 4, 0)).unwrap();
    assert_eq!(first, utc(2026, 11, 1, 5, 0)); // 01:00 EDT
    assert_eq!(
        next_close(&w, &[New_York], first),
        Some(utc(2026, 11, 1, 5, 30))
    );
    let second = next_open(&w, &[New_York], utc(2026, 11, 1, 5, 30)).unwrap();
    assert_eq!(second, utc(2026, 11, 1, 6, 0)); // 01:00 EST
}

#[test]
fn lord_howe_shifts_by_half_an_hour() {
    // Lord Howe: +10:30 standard, +11:00 summer; 2026-04-05 02:00 LHDT -> 01:30 LHST.
    let w = [Window::daily(t("08:00"), t("21:00")).unwrap()];
    // 08:00 on the 4th is +11:00 -> 21:00 UTC on the 3rd.
    assert_eq!(
        next_open(&w, &[Lord_Howe], utc(2026, 4, 3, 12, 0)),
        Some(utc(2026, 4, 3, 21, 0))
    );
    // 08:00 on the 5th is +10:30 -> 21:30 UTC on the 4th.
    assert_eq!(
        next_open(&w, &[Lord_Howe], utc(2026, 4, 4, 12, 0)),
        Some(utc(2026, 4, 4, 21, 30))
    );
}

#[test]
fn several_zones_must_all_be_open() {
    let w = [Window::daily(t("08:00"), t("21:00")).unwrap()];
    // London 08:00 BST = 07:00 UTC; New York 08:00 EDT = 12:00 UTC. Both open from 12:00 UTC
    // until London closes at 21:00 BST = 20:00 UTC.
    let zones = [London, New_York];
    assert_eq!(
        next_open(&w, &zones, utc(2026, 6, 1, 6, 0)),
        Some(utc(2026, 6, 1, 12, 0))
    );
    assert_eq!(
        next_close(&w, &zones, utc(2026, 6, 1, 12, 0)),
        Some(utc(2026, 6, 1, 20, 0))
    );
    // Two 13-hour windows always overlap somewhere on a 24-hour circle, but three zones eight
    // hours apart (Tokyo +9, London +1 in summer, Los Angeles -7) never share an hour.
    let spread = [
        chrono_tz::Asia::Tokyo,
        London,
        chrono_tz::America::Los_Angeles,
    ];
    assert_eq!(next_open(&w, &spread, utc(2026, 6, 1, 6, 0)), None);
    assert_eq!(next_close(&w, &spread, utc(2026, 6, 1, 6, 0)), None);
}

#[test]
fn weekend_windows_wait_for_the_weekend() {
    let w = [Window::new(DaySet::single(Weekday::Sat), t("10:00"), t("12:00")).unwrap()];
    // Wednesday 2026-06-03 -> Saturday 2026-06-06 10:00 UTC.
    assert_eq!(
        next_open(&w, &[chrono_tz::UTC], utc(2026, 6, 3, 9, 0)),
        Some(utc(2026, 6, 6, 10, 0))
    );
}
