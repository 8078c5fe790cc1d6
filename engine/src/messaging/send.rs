//! A messaging campaign's settings and the runner's pure decisions: whether a message may be
//! sent now (consent, opt-outs, quiet hours in the recipient's local time), and what follows a
//! failed attempt (the error-code table and the campaign's attempt budget).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::errors::{ErrorClass, classify};
use super::{Consent, NAME_RULE, valid_name};
use crate::hours::CallingHours;

/// What an `sms` or `whatsapp` campaign sends, to whom, and how fast.
///
/// The campaign's `calling_hours` are its sending hours (quiet hours are the rest), read in the
/// recipient's local time as for calls; its `provider` sends; its `caller_id` is the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingSettings {
    /// The template (of the campaign's channel) a launch sends, and trigger events that name none.
    pub template: String,
    #[serde(default = "defaults::locale")]
    pub locale: String,
    /// Who a launch (starting the campaign) sends to: a saved segment…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// …or every subscriber of a topic. Neither: the campaign sends trigger events only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Only recipients who opted in are sent to (WhatsApp's rule); otherwise anyone who has not
    /// opted out.
    #[serde(default)]
    pub require_opt_in: bool,
    /// Messages per second for this campaign; no limit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages_per_second: Option<u32>,
    /// Messages per second from one sender number (carriers meter each: 1 for a US long code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages_per_second_per_sender: Option<u32>,
    /// Attempts a message gets when its failures are retryable (see [`super::errors`]).
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// How long after a retryable failure the next attempt is due.
    #[serde(default = "defaults::retry_after")]
    pub retry_after_secs: u32,
}

mod defaults {
    pub(super) fn locale() -> String {
        "en".into()
    }
    pub(super) fn max_attempts() -> u32 {
        3
    }
    pub(super) fn retry_after() -> u32 {
        300
    }
}

impl MessagingSettings {
    /// The rules serde cannot express, as (field under `messaging.`, rule).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !valid_name(&self.template) {
            return Err(("template", NAME_RULE.into()));
        }
        if !super::template::valid_locale(&self.locale) {
            return Err((
                "locale",
                "must be a language tag such as en, de or pt-BR".into(),
            ));
        }
        if self.segment.is_some() && self.topic.is_some() {
            return Err(("segment", "give a segment or a topic, not both".into()));
        }
        for (field, name) in [("segment", &self.segment), ("topic", &self.topic)] {
            if name.as_deref().is_some_and(|n| !valid_name(n)) {
                return Err((field, NAME_RULE.into()));
            }
        }
        for (field, rate) in [
            ("max_messages_per_second", self.max_messages_per_second),
            (
                "max_messages_per_second_per_sender",
                self.max_messages_per_second_per_sender,
            ),
        ] {
            if rate.is_some_and(|r| !(1..=10_000).contains(&r)) {
                return Err((
                    field,
                    "must be between 1 and 10000 (omit it for no limit)".into(),
                ));
            }
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(("max_attempts", "must be between 1 and 10".into()));
        }
        if !(1..=604_800).contains(&self.retry_after_secs) {
            return Err(("retry_after_secs", "must be between 1 and 604800".into()));
        }
        Ok(())
    }
}

/// Why a message is never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    /// The recipient opted out (STOP, the opt-out list, error 21610).
    OptedOut,
    /// The campaign requires an opt-in the recipient never gave.
    NoOptIn,
    /// The sending hours never open in the recipient's zones.
    HoursNeverOpen,
}

impl BlockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptedOut => "opted_out",
            Self::NoOptIn => "no_opt_in",
            Self::HoursNeverOpen => "hours_never_open",
        }
    }
}

/// The runner's answer for a message that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Send,
    Block(BlockReason),
    /// Quiet hours: due again when the recipient's sending hours open.
    Defer(DateTime<Utc>),
}

/// May a message go to a recipient with this consent (and on the opt-out list or not) now?
pub fn gate(
    consent: Consent,
    opted_out: bool,
    require_opt_in: bool,
    hours: &CallingHours,
    zones: &[Tz],
    now: DateTime<Utc>,
) -> Gate {
    if opted_out || consent == Consent::OptedOut {
        return Gate::Block(BlockReason::OptedOut);
    }
    if require_opt_in && consent != Consent::OptedIn {
        return Gate::Block(BlockReason::NoOptIn);
    }
    match hours.next_open(zones, now) {
        Some(at) if at <= now => Gate::Send,
        Some(at) => Gate::Defer(at),
        None => Gate::Block(BlockReason::HoursNeverOpen),
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Send again at this time.
    Retry(DateTime<Utc>),
    /// The failure is final: permanent, or the attempts are spent.
    GiveUp,
    /// The provider says the recipient opted out: record it, never send again.
    OptOut,
}

/// After attempt number `attempts` failed with `code`.
pub fn after_failure(
    code: Option<&str>,
    attempts: u32,
    settings: &MessagingSettings,
    now: DateTime<Utc>,
) -> AfterFailure {
    match classify(code) {
        ErrorClass::OptedOut => AfterFailure::OptOut,
        ErrorClass::Permanent => AfterFailure::GiveUp,
        ErrorClass::Retryable if attempts >= settings.max_attempts => AfterFailure::GiveUp,
        ErrorClass::Retryable => {
            AfterFailure::Retry(now + Duration::seconds(i64::from(settings.retry_after_secs)))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn settings() -> MessagingSettings {
        serde_json::from_value(serde_json::json!({"template": "t"})).unwrap()
    }

    fn nine_to_five() -> CallingHours {
        serde_json::from_value(serde_json::json!([
            {"day_of_week": "daily", "start_time": "09:00", "end_time": "17:00"}
        ]))
        .unwrap()
    }

    #[test]
    fn defaults_and_rules() {
        let s = settings();
        assert_eq!((s.max_attempts, s.retry_after_secs), (3, 300));
        assert_eq!(s.validate(), Ok(()));
        let bad = |patch: serde_json::Value| {
            let mut v = serde_json::json!({"template": "t"});
            v.as_object_mut()
                .unwrap()
                .extend(patch.as_object().unwrap().clone());
            serde_json::from_value::<MessagingSettings>(v)
                .unwrap()
                .validate()
                .unwrap_err()
                .0
        };
        assert_eq!(bad(serde_json::json!({"max_attempts": 0})), "max_attempts");
        assert_eq!(
            bad(serde_json::json!({"segment": "a", "topic": "b"})),
            "segment"
        );
        assert_eq!(bad(serde_json::json!({"topic": "no spaces"})), "topic");
        assert_eq!(
            bad(serde_json::json!({"max_messages_per_second": 0})),
            "max_messages_per_second"
        );
        assert_eq!(bad(serde_json::json!({"locale": "x y"})), "locale");
    }

    #[test]
    fn consent_then_quiet_hours() {
        let h = nine_to_five();
        let ny = [chrono_tz::America::New_York];
        // 12:00 UTC is 07:00 in New York (winter): quiet until 09:00 local = 14:00 UTC.
        let noon = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let opens = Utc.with_ymd_and_hms(2026, 12, 1, 14, 0, 0).unwrap();
        assert_eq!(
            gate(Consent::Unknown, false, false, &h, &ny, noon),
            Gate::Defer(opens)
        );
        assert_eq!(
            gate(Consent::Unknown, false, false, &h, &ny, opens),
            Gate::Send
        );
        assert_eq!(
            gate(Consent::OptedIn, true, false, &h, &ny, opens),
            Gate::Block(BlockReason::OptedOut)
        );
        assert_eq!(
            gate(Consent::Unknown, false, true, &h, &ny, opens),
            Gate::Block(BlockReason::NoOptIn)
        );
    }

    #[test]
    fn failures_follow_the_table_and_the_budget() {
        let s = settings();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert_eq!(
            after_failure(Some("30003"), 1, &s, now),
            AfterFailure::Retry(now + Duration::seconds(300))
        );
        assert_eq!(
            after_failure(Some("30003"), 3, &s, now),
            AfterFailure::GiveUp
        );
        assert_eq!(
            after_failure(Some("30006"), 1, &s, now),
            AfterFailure::GiveUp
        );
        assert_eq!(
            after_failure(Some("21610"), 1, &s, now),
            AfterFailure::OptOut
        );
    }

    proptest! {
        /// An opted-out recipient is never sent to, whatever else holds.
        #[test]
        fn an_opt_out_always_blocks(opted_in in any::<bool>(), listed in any::<bool>(),
                                    require in any::<bool>(), secs in 0i64..86_400 * 7) {
            let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::seconds(secs);
            let ny = [chrono_tz::America::New_York];
            let consent = if opted_in { Consent::OptedIn } else { Consent::OptedOut };
            let g = gate(consent, listed, require, &nine_to_five(), &ny, now);
            prop_assert_eq!(g == Gate::Block(BlockReason::OptedOut), listed || !opted_in);
            if let Gate::Defer(at) = g {
                prop_assert!(at > now);
            }
        }

        /// No more attempts than the budget, ever; never a retry of a permanent error.
        #[test]
        fn retries_stay_within_the_budget(attempts in 1u32..20, max in 1u32..=10,
                                          code in prop::sample::select(vec!["30003", "30006", "21211", "63018", ""])) {
            let mut s = settings();
            s.max_attempts = max;
            let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
            let code = (!code.is_empty()).then_some(code);
            if let AfterFailure::Retry(at) = after_failure(code, attempts, &s, now) {
                prop_assert!(attempts < max);
                prop_assert!(classify(code) == ErrorClass::Retryable);
                prop_assert!(at > now);
            }
        }
    }
}
