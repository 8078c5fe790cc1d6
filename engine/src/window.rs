//! Weekly windows evaluated in one or more IANA zones — the calendar math under both calling
//! hours and retry rules.
//!
//! A window is a set of weekdays and a half-open local time range `[start, end)`. An instant is
//! inside it in zone `z` when its local date in `z` falls on one of the days and its local time of
//! day lies in the range. This definition is per instant, so DST needs no special case in the
//! rule: in a spring-forward gap the skipped local times simply never occur, and in a fall-back
//! overlap the repeated local times occur twice and are inside the window both times.
//!
//! With several zones (a number whose area spans zones) an instant is inside only when it is
//! inside in every zone.
//!
//! Finding the next open instant uses one fact: openness can only switch where local time crosses
//! a window boundary, or where the zone's UTC offset changes. [`next_open`] enumerates those
//! instants in order and returns the first open one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How far ahead [`next_open`] looks before it concludes that a window never opens. Two weeks
/// covers every weekly pattern plus a DST shift with margin.
pub const HORIZON_DAYS: i64 = 16;

/// Why a window or a day set is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("time {0:?} is not HH:MM or HH:MM:SS between 00:00 and 24:00")]
    BadTime(String),
    #[error("day {0:?} is not a weekday name (monday, mon), weekdays, weekends or daily")]
    BadDay(String),
    #[error("no days given")]
    NoDays,
    #[error("start {start} must be before end {end} (split a window that crosses midnight in two)")]
    Empty { start: TimeOfDay, end: TimeOfDay },
}

/// A local time of day with second precision, `00:00:00` to `24:00:00` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(pub(crate) u32);

impl TimeOfDay {
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);
    pub const END_OF_DAY: TimeOfDay = TimeOfDay(86_400);

    pub fn from_hms(h: u32, m: u32, s: u32) -> Result<Self, WindowError> {
        let secs = h * 3600 + m * 60 + s;
        if m < 60 && s < 60 && secs <= 86_400 {
            Ok(Self(secs))
        } else {
            Err(WindowError::BadTime(format!("{h:02}:{m:02}:{s:02}")))
        }
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl FromStr for TimeOfDay {
    type Err = WindowError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || WindowError::BadTime(s.to_owned());
        let parts: Vec<&str> = s.trim().split(':').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
            return Err(bad());
        }
        let num = |p: &str| p.parse::<u32>().map_err(|_| bad());
        let h = num(parts[0])?;
        let m = num(parts[1])?;
        let sec = parts.get(2).map_or(Ok(0), |p| num(p))?;
        Self::from_hms(h, m, sec).map_err(|_| bad())
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if s == 0 {
            write!(f, "{h:02}:{m:02}")
        } else {
            write!(f, "{h:02}:{m:02}:{s:02}")
        }
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A set of weekdays.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DaySet(u8);

impl DaySet {
    pub const ALL: DaySet = DaySet(0b111_1111);
    pub const WEEKDAYS: DaySet = DaySet(0b001_1111);
    pub const WEEKENDS: DaySet = DaySet(0b110_0000);

    pub fn single(day: Weekday) -> Self {
        Self(1 << day.num_days_from_monday())
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    pub fn union(self, other: DaySet) -> Self {
        Self(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn days(self) -> impl Iterator<Item = Weekday> {
        (0..7u8)
            .filter(move |i| self.0 & (1 << i) != 0)
            .filter_map(|i| Weekday::try_from(i).ok())
    }

    /// Reads one token: `monday`/`mon`, `weekdays`, `weekends`, `daily` (also `everyday`, `all`).
    pub fn parse_token(token: &str) -> Result<Self, WindowError> {
        let t = token.trim().to_ascii_lowercase();
        match t.as_str() {
            "daily" | "everyday" | "all" => Ok(Self::ALL),
            "weekdays" | "weekday" => Ok(Self::WEEKDAYS),
            "weekends" | "weekend" => Ok(Self::WEEKENDS),
            _ => t
                .parse::<Weekday>()
                .map(Self::single)
                .map_err(|_| WindowError::BadDay(token.to_owned())),
        }
    }
}

impl fmt::Debug for DaySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for DaySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ALL => f.write_str("daily"),
            Self::WEEKDAYS => f.write_str("weekdays"),
            Self::WEEKENDS => f.write_str("weekends"),
            _ => {
                let names: Vec<String> = self.days().map(|d| d.to_string()).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// `day_of_week` as written in config: one token or a list of tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum DaysText {
    One(String),
    Many(Vec<String>),
}

impl Serialize for DaySet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DaySet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let tokens = match DaysText::deserialize(d)? {
            DaysText::One(s) => s.split(',').map(str::to_owned).collect(),
            DaysText::Many(v) => v,
        };
        let mut set = DaySet::default();
        for token in tokens.iter().filter(|t| !t.trim().is_empty()) {
            set = set.union(DaySet::parse_token(token).map_err(serde::de::Error::custom)?);
        }
        if set.is_empty() {
            return Err(serde::de::Error::custom(WindowError::NoDays));
        }
        Ok(set)
    }
}

/// Days and a local time range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Window {
    #[serde(rename = "day_of_week")]
    pub days: DaySet,
    #[serde(rename = "start_time")]
    pub start: TimeOfDay,
    #[serde(rename = "end_time")]
    pub end: TimeOfDay,
}

impl Window {
    pub fn new(days: DaySet, start: TimeOfDay, end: TimeOfDay) -> Result<Self, WindowError> {
        if days.is_empty() {
            return Err(WindowError::NoDays);
        }
        if start >= end {
            return Err(WindowError::Empty { start, end });
        }
        Ok(Self { days, start, end })
    }

    /// Every day, `start` to `end`.
    pub fn daily(start: TimeOfDay, end: TimeOfDay) -> Result<Self, WindowError> {
        Self::new(DaySet::ALL, start, end)
    }

    fn contains_local(&self, day: Weekday, seconds: u32) -> bool {
        self.days.contains(day) && self.start.0 <= seconds && seconds < self.end.0
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}-{}", self.days, self.start, self.end)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowText {
    day_of_week: DaySet,
    start_time: TimeOfDay,
    end_time: TimeOfDay,
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WindowText::deserialize(d)?;
        Window::new(w.day_of_week, w.start_time, w.end_time).map_err(serde::de::Error::custom)
    }
}

/// Whether `t` lies inside any of `windows` in zone `zone`.
pub fn is_open_in(windows: &[Window], zone: Tz, t: DateTime<Utc>) -> bool {
    let local = t.with_timezone(&zone);
    let (day, secs) = (local.weekday(), local.num_seconds_from_midnight());
    windows.iter().any(|w| w.contains_local(day, secs))
}

/// Whether `t` lies inside `windows` in every one of `zones`. No zones means no constraint from
/// geography, which callers avoid by always resolving at least a campaign zone.
pub fn is_open(windows: &[Window], zones: &[Tz], t: DateTime<Utc>) -> bool {
    zones.iter().all(|z| is_open_in(windows, *z, t))
}

/// The earliest instant `>= at` that is open in every zone, within [`HORIZON_DAYS`].
pub fn next_open(windows: &[Window], zones: &[Tz], at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if is_open(windows, zones, at) {
        return Some(at);
    }
    switch_points(windows, zones, at).find(|t| is_open(windows, zones, *t))
}

/// The earliest instant `> at` at which an open period containing `at` closes, within
/// [`HORIZON_DAYS`]; `None` when `at` is not open or the windows never close in that horizon.
pub fn next_close(windows: &[Window], zones: &[Tz], at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !is_open(windows, zones, at) {
        return None;
    }
    switch_points(windows, zones, at).find(|t| *t > at && !is_open(windows, zones, *t))
}

/// Every instant after `at` at which openness may switch, in increasing order, chunk by chunk
/// up to the horizon. The chunks keep the common case (open within a day or two) cheap.
fn switch_points(
    windows: &[Window],
    zones: &[Tz],
    at: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> {
    const CHUNK_DAYS: i64 = 2;
    let windows = windows.to_vec();
    let zones = zones.to_vec();
    (0..HORIZON_DAYS / CHUNK_DAYS).flat_map(move |chunk| {
        let from = at + Duration::days(chunk * CHUNK_DAYS);
        let to = from + Duration::days(CHUNK_DAYS);
        let mut points: Vec<DateTime<Utc>> = zones
            .iter()
            .flat_map(|z| zone_switch_points(&windows, *z, from, to))
            .filter(|t| *t > at && *t >= from && *t < to)
            .collect();
        points.sort_unstable();
        points.dedup();
        points
    })
}

/// Candidate switch instants in `[from, to)` for one zone: local window boundaries mapped to UTC
/// under every offset the zone uses around them, plus the zone's offset transitions.
fn zone_switch_points(
    windows: &[Window],
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    // Offsets change rarely: sample every 6 hours and bisect where two samples differ.
    const STEP_SECS: i64 = 6 * 3600;
    let lo = from.timestamp() - 86_400;
    let hi = to.timestamp() + 86_400;
    let mut transitions = Vec::new();
    let mut offsets: Vec<i64> = Vec::new();
    let mut prev = (lo, offset_secs(zone, lo));
    offsets.push(prev.1);
    let mut s = lo + STEP_SECS;
    while s <= hi + STEP_SECS {
        let off = offset_secs(zone, s);
        if off != prev.1 {
            transitions.push(first_with_offset(zone, prev.0, s, off));
            if !offsets.contains(&off) {
                offsets.push(off);
            }
        }
        prev = (s, off);
        s += STEP_SECS;
    }

    let mut points: Vec<DateTime<Utc>> = transitions
        .into_iter()
        .filter_map(|t| DateTime::from_timestamp(t, 0))
        .collect();
    let first_day = local_date(zone, lo);
    let last_day = local_date(zone, hi);
    let mut day = first_day;
    while day <= last_day {
        let weekday = day.weekday();
        let midnight = day.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp());
        for w in windows.iter().filter(|w| w.days.contains(weekday)) {
            for boundary in [w.start.0, w.end.0] {
                let Some(midnight) = midnight else { continue };
                let local_as_utc = midnight + i64::from(boundary);
                for off in &offsets {
                    let t = local_as_utc - off;
                    if offset_secs(zone, t) == *off {
                        points.extend(DateTime::from_timestamp(t, 0));
                    }
                }
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    points.retain(|t| *t >= from && *t < to);
    points
}

fn offset_secs(zone: Tz, unix: i64) -> i64 {
    match DateTime::from_timestamp(unix, 0) {
        Some(t) => i64::from(
            zone.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        ),
        None => 0,
    }
}

fn local_date(zone: Tz, unix: i64) -> NaiveDate {
    DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .with_timezone(&zone)
        .date_naive()
}

/// The first second in `(lo, hi]` whose offset is `target`, given that `hi` has it and `lo` not.
fn first_with_offset(zone: Tz, mut lo: i64, mut hi: i64, target: i64) -> i64 {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_secs(zone, mid) == target {
            hi = mid
        } else {
            lo = mid
        }
    }
    hi
}

#[cfg(test)]
mod tests;
