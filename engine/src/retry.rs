//! The retry policy: which outcomes retry, how many attempts a contact gets, and when.
//!
//! It reads the seed-004 `config/retry_config.yaml` format — a list of rules, each a day of the
//! week, a local time window and the retry interval that applies inside it — and an extended
//! form that adds `max_attempts` (default 3), `retry_on` (default DISCONNECTED, RNR, FAILED) and
//! per-status rules. All rules share one per-contact cap: a contact never gets more than
//! `max_attempts` attempts, whatever mix of outcomes it collects.
//!
//! The next attempt after an outcome at `at` is the earliest instant that is at least one rule's
//! interval after `at` and inside that same rule's window, read in the recipient's zones.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::status::{Disposition, Outcome};
use crate::window::{self, DaySet, TimeOfDay, Window};

/// The most attempts a policy may allow per contact.
pub const MAX_ATTEMPTS_LIMIT: u32 = 20;
/// The longest retry interval a rule may ask for (one week).
pub const MAX_INTERVAL_MINUTES: u32 = 7 * 24 * 60;

/// A config mistake, with the path of the field that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

impl PolicyError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// One rule: inside `window`, retry `interval` after the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRule {
    pub window: Window,
    pub interval: Duration,
    /// The outcomes this rule applies to; `None` means every retryable outcome.
    pub statuses: Option<Vec<Outcome>>,
}

impl RetryRule {
    fn applies_to(&self, outcome: Outcome) -> bool {
        self.statuses.as_ref().is_none_or(|s| s.contains(&outcome))
    }
}

/// A validated retry policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawForm", into = "RawPolicy")]
pub struct RetryPolicy {
    max_attempts: u32,
    retry_on: Vec<Outcome>,
    rules: Vec<RetryRule>,
}

/// What the policy says after an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RetryDecision {
    /// The outcome is not one that retries (PICKED always; others per `retry_on`).
    NotRetryable,
    /// The contact has had `max_attempts` attempts.
    CapReached {
        max_attempts: u32,
    },
    /// No rule's window opens within the search horizon in the recipient's zones.
    NoWindow,
    RetryAt {
        at: DateTime<Utc>,
    },
}

impl RetryDecision {
    /// The state machine's view of this decision.
    pub fn disposition(self) -> Disposition {
        match self {
            Self::NotRetryable => Disposition::Final,
            Self::CapReached { .. } | Self::NoWindow => Disposition::Exhausted,
            Self::RetryAt { at } => Disposition::RetryAt { at },
        }
    }
}

impl RetryPolicy {
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    pub fn retry_on(&self) -> &[Outcome] {
        &self.retry_on
    }

    pub fn rules(&self) -> &[RetryRule] {
        &self.rules
    }

    /// The policy shipped in `config/retry_config.yaml`: the seed's weekend rules plus weekday
    /// evenings and daytime.
    pub fn shipped() -> Self {
        // The file is part of this repository and covered by `the_shipped_file_parses`.
        Self::from_yaml(SHIPPED).unwrap_or_else(|err| panic!("config/retry_config.yaml: {err}"))
    }

    /// Reads either the seed's bare list of rules or the extended mapping form.
    pub fn from_yaml(text: &str) -> Result<Self, PolicyError> {
        let raw: RawForm = yaml_serde::from_str(text)
            .map_err(|e| PolicyError::new("retry_config", e.to_string()))?;
        Self::try_from(raw.0)
    }

    /// When to try again after `outcome` at `at`, given the contact has had `attempts_so_far`
    /// attempts (counting the one that just ended).
    pub fn next_attempt(
        &self,
        outcome: Outcome,
        attempts_so_far: u32,
        at: DateTime<Utc>,
        zones: &[Tz],
    ) -> RetryDecision {
        if outcome == Outcome::Picked || !self.retry_on.contains(&outcome) {
            return RetryDecision::NotRetryable;
        }
        if attempts_so_far >= self.max_attempts {
            return RetryDecision::CapReached {
                max_attempts: self.max_attempts,
            };
        }
        // The earliest of the rules' next openings. A rule whose own interval already ends at
        // or after the best found cannot beat it, and finding a closed window's next opening is
        // a search days ahead (a weekend rule on a Monday): rules whose window is open when
        // their interval ends go first, and the rest are searched only when they could win.
        let rules = || self.rules.iter().filter(|rule| rule.applies_to(outcome));
        let open_at = |rule: &RetryRule| {
            let t = at + rule.interval;
            window::is_open(std::slice::from_ref(&rule.window), zones, t).then_some(t)
        };
        let mut best = rules().filter_map(open_at).min();
        for rule in rules() {
            let from = at + rule.interval;
            if best.is_some_and(|b| from >= b) {
                continue;
            }
            if let Some(t) = window::next_open(std::slice::from_ref(&rule.window), zones, from) {
                best = Some(best.map_or(t, |b| b.min(t)));
            }
        }
        best.map_or(RetryDecision::NoWindow, |at| RetryDecision::RetryAt { at })
    }

    /// The rule whose window contains `t` with the smallest interval — for explanations.
    pub fn rule_at(&self, outcome: Outcome, t: DateTime<Utc>, zones: &[Tz]) -> Option<&RetryRule> {
        self.rules
            .iter()
            .filter(|r| {
                r.applies_to(outcome) && window::is_open(std::slice::from_ref(&r.window), zones, t)
            })
            .min_by_key(|r| r.interval)
    }
}

const SHIPPED: &str = include_str!("../../config/retry_config.yaml");

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::shipped()
    }
}

fn default_max_attempts() -> u32 {
    3
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    day_of_week: DaySet,
    start_time: TimeOfDay,
    end_time: TimeOfDay,
    retry_interval_minutes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    statuses: Option<Vec<Outcome>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_on: Option<Vec<Outcome>>,
    rules: Vec<RawRule>,
}

/// The forms a policy is written in, wherever it is read (a campaign's settings over the API,
/// `retry_config.yaml`): the mapping `{max_attempts, retry_on, rules}`, or the seed's bare list
/// of rules (`max_attempts` then defaults).
struct RawForm(RawPolicy);

impl<'de> Deserialize<'de> for RawForm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        struct Form;
        impl<'de> serde::de::Visitor<'de> for Form {
            type Value = RawForm;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a retry policy ({max_attempts, rules}) or a list of retry rules")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawForm, A::Error> {
                RawPolicy::deserialize(MapAccessDeserializer::new(map)).map(RawForm)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<RawForm, A::Error> {
                let rules = Vec::<RawRule>::deserialize(SeqAccessDeserializer::new(seq))?;
                Ok(RawForm(RawPolicy {
                    max_attempts: default_max_attempts(),
                    retry_on: None,
                    rules,
                }))
            }
        }
        d.deserialize_any(Form)
    }
}

impl TryFrom<RawForm> for RetryPolicy {
    type Error = PolicyError;

    fn try_from(raw: RawForm) -> Result<Self, Self::Error> {
        Self::try_from(raw.0)
    }
}

impl TryFrom<RawPolicy> for RetryPolicy {
    type Error = PolicyError;

    fn try_from(raw: RawPolicy) -> Result<Self, Self::Error> {
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&raw.max_attempts) {
            return Err(PolicyError::new(
                "max_attempts",
                format!(
                    "must be between 1 and {MAX_ATTEMPTS_LIMIT}, got {}",
                    raw.max_attempts
                ),
            ));
        }
        let retry_on = raw
            .retry_on
            .unwrap_or_else(|| vec![Outcome::Disconnected, Outcome::Rnr, Outcome::Failed]);
        if retry_on.contains(&Outcome::Picked) {
            return Err(PolicyError::new(
                "retry_on",
                "PICKED is an answered call and never retries",
            ));
        }
        let mut rules = Vec::with_capacity(raw.rules.len());
        for (i, r) in raw.rules.into_iter().enumerate() {
            let field = |name: &str| format!("rules[{i}].{name}");
            let window = Window::new(r.day_of_week, r.start_time, r.end_time)
                .map_err(|e| PolicyError::new(field("end_time"), e.to_string()))?;
            if !(1..=MAX_INTERVAL_MINUTES).contains(&r.retry_interval_minutes) {
                return Err(PolicyError::new(
                    field("retry_interval_minutes"),
                    format!(
                        "must be between 1 and {MAX_INTERVAL_MINUTES}, got {}",
                        r.retry_interval_minutes
                    ),
                ));
            }
            if let Some(s) = r.statuses.iter().flatten().find(|s| !retry_on.contains(s)) {
                return Err(PolicyError::new(
                    field("statuses"),
                    format!("{s} is not in retry_on, so no rule can retry it"),
                ));
            }
            rules.push(RetryRule {
                window,
                interval: Duration::minutes(i64::from(r.retry_interval_minutes)),
                statuses: r.statuses,
            });
        }
        if let Some(orphan) = retry_on
            .iter()
            .find(|o| !rules.iter().any(|r| r.applies_to(**o)))
        {
            return Err(PolicyError::new(
                "rules",
                format!("{orphan} is retried but no rule applies to it"),
            ));
        }
        Ok(Self {
            max_attempts: raw.max_attempts,
            retry_on,
            rules,
        })
    }
}

impl From<RetryPolicy> for RawPolicy {
    fn from(p: RetryPolicy) -> Self {
        RawPolicy {
            max_attempts: p.max_attempts,
            retry_on: Some(p.retry_on),
            rules: p
                .rules
                .into_iter()
                .map(|r| RawRule {
                    day_of_week: r.window.days,
                    start_time: r.window.start,
                    end_time: r.window.end,
                    retry_interval_minutes: u32::try_from(r.interval.num_minutes())
                        .unwrap_or(u32::MAX),
                    statuses: r.statuses,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
