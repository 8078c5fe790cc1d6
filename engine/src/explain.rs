//! "Why was this contact not dialed?" — everything the policy decides about one number at one
//! instant, as a value (for `--json`) and as text for a terminal.

use std::fmt;

use chrono::{DateTime, Offset, SecondsFormat, TimeZone, Utc};
use serde::Serialize;

use crate::campaign::CampaignSettings;
use crate::hours::{HoursCheck, ZoneSource};
use crate::phone::PhoneNumber;
use crate::retry::RetryDecision;
use crate::status::Outcome;

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub e164: String,
    pub country_code: Option<u16>,
    pub at: DateTime<Utc>,
    pub zone_source: ZoneSource,
    pub zones: Vec<ZoneView>,
    pub calling_hours: HoursView,
    pub retries: Vec<OutcomePlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZoneView {
    pub zone: String,
    pub local_time: String,
    pub utc_offset: String,
    pub open: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct HoursView {
    pub windows: Vec<String>,
    pub open_now: bool,
    pub closes_at: Option<DateTime<Utc>>,
    pub next_open: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutcomePlan {
    pub outcome: Outcome,
    pub attempts: Vec<PlannedAttempt>,
    pub end: PlanEnd,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedAttempt {
    pub attempt: u32,
    /// When the attempt becomes due (the call's time, or the retry policy's instant).
    pub due_at: DateTime<Utc>,
    /// When it would be dialed: `due_at` moved into calling hours.
    pub dial_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanEnd {
    /// The outcome does not retry.
    Final,
    CapReached {
        max_attempts: u32,
    },
    /// No retry window opens in the number's zones.
    NoRetryWindow,
    /// The calling hours never open in all of the number's zones.
    CallingHoursNeverOpen,
}

/// Explains `number` at `at` under `policy`, assuming each attempt ends at once with the same
/// outcome.
pub fn explain(number: &PhoneNumber, at: DateTime<Utc>, policy: &CampaignSettings) -> Explanation {
    let zones = policy.zones_for(number);
    let hours = &policy.calling_hours;
    let zone_views = zones
        .as_slice()
        .iter()
        .map(|z| {
            let local = z.from_utc_datetime(&at.naive_utc());
            let offset = local.offset().fix().local_minus_utc();
            ZoneView {
                zone: z.name().to_owned(),
                local_time: local.format("%a %Y-%m-%d %H:%M:%S %Z").to_string(),
                utc_offset: format_offset(offset),
                open: hours.is_open(std::slice::from_ref(z), at),
            }
        })
        .collect();
    let check = hours.check(zones.as_slice(), at);
    let calling_hours = HoursView {
        windows: hours.windows().iter().map(ToString::to_string).collect(),
        open_now: matches!(check, HoursCheck::Open { .. }),
        closes_at: match check {
            HoursCheck::Open { closes_at } => closes_at,
            _ => None,
        },
        next_open: match check {
            HoursCheck::Open { .. } => Some(at),
            HoursCheck::Closed { opens_at } => Some(opens_at),
            HoursCheck::Never => None,
        },
    };
    let retries = Outcome::ALL
        .into_iter()
        .map(|outcome| plan(outcome, at, policy, zones.as_slice()))
        .collect();
    Explanation {
        e164: number.as_str().to_owned(),
        country_code: number.country_code(),
        at,
        zone_source: zones.source,
        zones: zone_views,
        calling_hours,
        retries,
    }
}

fn plan(
    outcome: Outcome,
    at: DateTime<Utc>,
    policy: &CampaignSettings,
    zones: &[chrono_tz::Tz],
) -> OutcomePlan {
    let mut attempts = Vec::new();
    let mut due = at;
    let end = loop {
        let Some(dial_at) = policy.calling_hours.next_open(zones, due) else {
            break PlanEnd::CallingHoursNeverOpen;
        };
        let attempt = u32::try_from(attempts.len()).unwrap_or(u32::MAX) + 1;
        attempts.push(PlannedAttempt {
            attempt,
            due_at: due,
            dial_at,
        });
        match policy.retry.next_attempt(outcome, attempt, dial_at, zones) {
            RetryDecision::RetryAt { at } => due = at,
            RetryDecision::NotRetryable => break PlanEnd::Final,
            RetryDecision::CapReached { max_attempts } => {
                break PlanEnd::CapReached { max_attempts };
            }
            RetryDecision::NoWindow => break PlanEnd::NoRetryWindow,
        }
    };
    OutcomePlan {
        outcome,
        attempts,
        end,
    }
}

fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", s / 3600, s / 60 % 60)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.country_code {
            Some(code) => writeln!(f, "number        {} (country code +{code})", self.e164)?,
            None => writeln!(f, "number        {} (no known country code)", self.e164)?,
        }
        writeln!(f, "at            {}", ts(self.at))?;
        let source = match self.zone_source {
            ZoneSource::Number => "from the number",
            ZoneSource::Campaign => "the campaign's zone",
        };
        writeln!(f, "zones         {} ({source})", self.zones.len())?;
        for z in &self.zones {
            let state = if z.open { "open" } else { "closed" };
            writeln!(
                f,
                "  {:<28} {} (UTC{}) {state}",
                z.zone, z.local_time, z.utc_offset
            )?;
        }
        writeln!(f, "calling hours {}", self.calling_hours.windows.join("; "))?;
        let h = &self.calling_hours;
        match (h.open_now, h.closes_at, h.next_open) {
            (true, Some(c), _) => writeln!(f, "  OPEN now in every zone, closes {}", ts(c))?,
            (true, None, _) => writeln!(f, "  OPEN now in every zone")?,
            (false, _, Some(o)) => writeln!(f, "  CLOSED now, next opens {}", ts(o))?,
            (false, _, None) => writeln!(
                f,
                "  NEVER open in all zones at once: this number would be blocked for calling hours"
            )?,
        }
        writeln!(
            f,
            "retry schedule (each attempt ending at once with the same outcome)"
        )?;
        for p in &self.retries {
            write!(f, "  {:<13}", p.outcome.as_str())?;
            let steps: Vec<String> = p
                .attempts
                .iter()
                .map(|a| {
                    if a.dial_at == a.due_at {
                        format!("#{} {}", a.attempt, ts(a.dial_at))
                    } else {
                        format!("#{} {} (due {})", a.attempt, ts(a.dial_at), ts(a.due_at))
                    }
                })
                .collect();
            write!(f, "{}", steps.join(" -> "))?;
            match p.end {
                PlanEnd::Final => writeln!(f, " -> done (not retried)"),
                PlanEnd::CapReached { max_attempts } => {
                    writeln!(f, " -> EXHAUSTED (max_attempts {max_attempts})")
                }
                PlanEnd::NoRetryWindow => writeln!(f, " -> EXHAUSTED (no retry window opens)"),
                PlanEnd::CallingHoursNeverOpen => {
                    writeln!(f, " -> blocked (calling hours never open)")
                }
            }?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn explains_a_new_york_number_on_a_saturday_morning() {
        let policy = CampaignSettings::default();
        let n: PhoneNumber = "+1 212 555 0100".parse().unwrap();
        // Saturday 2026-06-06 10:00 EDT = 14:00 UTC.
        let at = Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap();
        let e = explain(&n, at, &policy);
        assert_eq!(e.e164, "+12125550100");
        assert_eq!(e.zones.len(), 1);
        assert_eq!(e.zones[0].zone, "America/New_York");
        assert_eq!(e.zones[0].utc_offset, "-04:00");
        assert!(e.calling_hours.open_now);
        let picked = &e.retries[0];
        assert_eq!(picked.attempts.len(), 1);
        assert!(matches!(picked.end, PlanEnd::Final));
        let rnr = e
            .retries
            .iter()
            .find(|p| p.outcome == Outcome::Rnr)
            .unwrap();
        assert_eq!(rnr.attempts.len(), 3);
        assert!(matches!(rnr.end, PlanEnd::CapReached { max_attempts: 3 }));
        // Saturday 10:00-12:00 retries every 60 minutes: 11:00 EDT, then 12:00 is the end of the
        // window, so the evening window (19:00, +30 min) follows.
        assert_eq!(
            rnr.attempts[1].dial_at,
            Utc.with_ymd_and_hms(2026, 6, 6, 15, 0, 0).unwrap()
        );
        assert_eq!(
            rnr.attempts[2].dial_at,
            Utc.with_ymd_and_hms(2026, 6, 6, 23, 0, 0).unwrap()
        );
        let text = e.to_string();
        assert!(text.contains("OPEN now"), "{text}");
        assert!(text.contains("EXHAUSTED (max_attempts 3)"), "{text}");
    }

    #[test]
    fn uses_the_campaign_zone_when_the_policy_says_so() {
        let policy = CampaignSettings {
            zone_policy: crate::hours::ZonePolicy::Campaign,
            time_zone: chrono_tz::Pacific::Guam,
            ..CampaignSettings::default()
        };
        let n: PhoneNumber = "+12125550100".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap();
        let e = explain(&n, at, &policy);
        assert_eq!(e.zones[0].zone, "Pacific/Guam");
        assert!(
            !e.calling_hours.open_now,
            "00:00 in Guam is outside 08:00-21:00"
        );
        assert_eq!(
            e.calling_hours.next_open,
            Some(Utc.with_ymd_and_hms(2026, 6, 6, 22, 0, 0).unwrap())
        );
    }

    #[test]
    fn says_when_calling_hours_never_open_in_all_zones() {
        // A toll-free NANP number has no geography: it maps to every zone of +1, from Guam to
        // Bermuda, and a one-hour window is never open in all of them at once.
        let policy = CampaignSettings {
            calling_hours: yaml_serde::from_str(
                "[{day_of_week: daily, start_time: '09:00', end_time: '10:00'}]",
            )
            .unwrap(),
            ..CampaignSettings::default()
        };
        let n: PhoneNumber = "+1 800 555 0199".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap();
        let e = explain(&n, at, &policy);
        assert!(e.zones.len() > 30);
        assert_eq!(e.calling_hours.next_open, None);
        assert!(
            e.retries
                .iter()
                .all(|p| matches!(p.end, PlanEnd::CallingHoursNeverOpen) && p.attempts.is_empty())
        );
        assert!(e.to_string().contains("NEVER open"));
    }
}
