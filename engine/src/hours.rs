//! Calling hours and the zones they are read in.
//!
//! A campaign may only dial inside its weekly calling windows (default 08:00–21:00 every day),
//! read in the recipient's local time. The recipient's zones come from the number when the
//! campaign's [`ZonePolicy`] is `recipient` and the numbering plan knows them; otherwise the
//! campaign's own zone is used. When a number maps to several zones (an area code that spans
//! two), the window must be open in all of them.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::phone::PhoneNumber;
use crate::window::{self, TimeOfDay, Window};

/// Weekly calling windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Window>", into = "Vec<Window>")]
pub struct CallingHours {
    windows: Vec<Window>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calling hours need at least one window")]
pub struct NoWindows;

impl CallingHours {
    pub fn new(windows: Vec<Window>) -> Result<Self, NoWindows> {
        if windows.is_empty() {
            Err(NoWindows)
        } else {
            Ok(Self { windows })
        }
    }

    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    pub fn is_open(&self, zones: &[Tz], t: DateTime<Utc>) -> bool {
        window::is_open(&self.windows, zones, t)
    }

    /// The earliest instant `>= at` inside the hours in every zone; `None` if they never are.
    pub fn next_open(&self, zones: &[Tz], at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        window::next_open(&self.windows, zones, at)
    }

    /// When the open period containing `at` ends.
    pub fn next_close(&self, zones: &[Tz], at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        window::next_close(&self.windows, zones, at)
    }

    /// The dispatch-time question in one call.
    pub fn check(&self, zones: &[Tz], at: DateTime<Utc>) -> HoursCheck {
        match self.next_open(zones, at) {
            Some(t) if t == at => HoursCheck::Open {
                closes_at: self.next_close(zones, at),
            },
            Some(t) => HoursCheck::Closed { opens_at: t },
            None => HoursCheck::Never,
        }
    }
}

impl Default for CallingHours {
    /// 08:00–21:00 local, every day: the common outer bound of telemarketing rules.
    fn default() -> Self {
        let window = Window {
            days: crate::window::DaySet::ALL,
            start: TimeOfDay(8 * 3600),
            end: TimeOfDay(21 * 3600),
        };
        Self {
            windows: vec![window],
        }
    }
}

impl TryFrom<Vec<Window>> for CallingHours {
    type Error = NoWindows;
    fn try_from(windows: Vec<Window>) -> Result<Self, Self::Error> {
        Self::new(windows)
    }
}

impl From<CallingHours> for Vec<Window> {
    fn from(hours: CallingHours) -> Self {
        hours.windows
    }
}

/// The answer to "may this number be dialed now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoursCheck {
    Open {
        closes_at: Option<DateTime<Utc>>,
    },
    Closed {
        opens_at: DateTime<Utc>,
    },
    /// The windows never open in all of the number's zones at once.
    Never,
}

/// Whose local time the calling hours and retry windows are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZonePolicy {
    /// The recipient's, derived from the number; the campaign zone when the number says nothing.
    #[default]
    Recipient,
    /// Always the campaign's zone.
    Campaign,
}

/// Where a set of zones came from, for explanations and audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    Number,
    Campaign,
}

/// The zones a number's windows are read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zones {
    pub zones: Cow<'static, [Tz]>,
    pub source: ZoneSource,
}

impl Zones {
    pub fn resolve(number: &PhoneNumber, policy: ZonePolicy, campaign_zone: Tz) -> Self {
        match (policy, number.time_zones()) {
            (ZonePolicy::Recipient, zones) if !zones.is_empty() => Self {
                zones: Cow::Borrowed(zones),
                source: ZoneSource::Number,
            },
            _ => Self {
                zones: Cow::Owned(vec![campaign_zone]),
                source: ZoneSource::Campaign,
            },
        }
    }

    pub fn as_slice(&self) -> &[Tz] {
        &self.zones
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn default_hours_are_eight_to_nine_every_day() {
        let hours = CallingHours::default();
        let ny = [chrono_tz::America::New_York];
        let t = |h, m| Utc.with_ymd_and_hms(2026, 1, 15, h, m, 0).unwrap(); // EST = UTC-5
        assert!(!hours.is_open(&ny, t(12, 59)));
        assert!(hours.is_open(&ny, t(13, 0)));
        assert!(hours.is_open(&ny, t(23, 59)));
        // 02:00 UTC is 21:00 EST the evening before: closed until 08:00 EST.
        assert_eq!(
            hours.check(&ny, t(2, 0)),
            HoursCheck::Closed { opens_at: t(13, 0) }
        );
        let next_day_close = Utc.with_ymd_and_hms(2026, 1, 16, 2, 0, 0).unwrap();
        assert_eq!(
            hours.check(&ny, t(13, 0)),
            HoursCheck::Open {
                closes_at: Some(next_day_close)
            }
        );
        let spread = [
            chrono_tz::Asia::Tokyo,
            chrono_tz::Europe::London,
            chrono_tz::America::Los_Angeles,
        ];
        assert_eq!(hours.check(&spread, t(13, 0)), HoursCheck::Never);
    }

    #[test]
    fn zones_come_from_the_number_unless_the_policy_says_campaign() {
        let n: PhoneNumber = "+12125550100".parse().unwrap();
        let tokyo = chrono_tz::Asia::Tokyo;
        let z = Zones::resolve(&n, ZonePolicy::Recipient, tokyo);
        assert_eq!(
            (z.as_slice(), z.source),
            (&[chrono_tz::America::New_York][..], ZoneSource::Number)
        );
        let z = Zones::resolve(&n, ZonePolicy::Campaign, tokyo);
        assert_eq!(
            (z.as_slice(), z.source),
            (&[tokyo][..], ZoneSource::Campaign)
        );
    }

    #[test]
    fn hours_deserialize_from_the_window_list() {
        let h: CallingHours = yaml_serde::from_str(
            "- {day_of_week: weekdays, start_time: '09:00', end_time: '20:00'}\n",
        )
        .unwrap();
        assert_eq!(h.windows().len(), 1);
        assert!(yaml_serde::from_str::<CallingHours>("[]").is_err());
    }
}
