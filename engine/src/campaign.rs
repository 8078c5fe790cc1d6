//! Campaigns as values: their record, lifecycle state and settings.
//!
//! The settings carry both the dialing policy — zone, whose local time counts, calling hours,
//! retry rules — and the operational limits: provider, caller id, concurrency cap, rate, call
//! durations. `dialer explain --campaign-config` reads the same fields.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::hours::{CallingHours, ZonePolicy, Zones};
use crate::ids::{CampaignId, ContactId};
use crate::phone::{PhoneNumber, Region};
use crate::retry::RetryPolicy;

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Created; its contact list is not being dialed.
    Draft,
    Running,
    /// No new dials; calls in flight finish.
    Paused,
    /// Pending work cancelled; the end.
    Stopped,
    /// Every contact imported so far reached a final status; it can be started again after
    /// more are imported.
    Completed,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::Running,
            Self::Paused,
            Self::Stopped,
            Self::Completed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether its contact list is being dialed.
    pub fn dials_list(self) -> bool {
        self == Self::Running
    }
}

/// The outcome mix and timings of the simulated provider, for demos and tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimProfile {
    /// Relative weights of the outcomes.
    #[serde(default = "weights::picked")]
    pub picked: u32,
    #[serde(default = "weights::disconnected")]
    pub disconnected: u32,
    #[serde(default = "weights::rnr")]
    pub rnr: u32,
    #[serde(default = "weights::failed")]
    pub failed: u32,
    /// Ringing time before an answer or a no-answer, uniform in the range.
    #[serde(default = "weights::ring_min")]
    pub ring_min_ms: u64,
    #[serde(default = "weights::ring_max")]
    pub ring_max_ms: u64,
    /// Conversation length of answered calls, uniform in the range.
    #[serde(default = "weights::talk_min")]
    pub talk_min_secs: u32,
    #[serde(default = "weights::talk_max")]
    pub talk_max_secs: u32,
}

mod weights {
    pub(super) fn picked() -> u32 {
        60
    }
    pub(super) fn disconnected() -> u32 {
        10
    }
    pub(super) fn rnr() -> u32 {
        20
    }
    pub(super) fn failed() -> u32 {
        10
    }
    pub(super) fn ring_min() -> u64 {
        2_000
    }
    pub(super) fn ring_max() -> u64 {
        15_000
    }
    pub(super) fn talk_min() -> u32 {
        10
    }
    pub(super) fn talk_max() -> u32 {
        120
    }
}

impl Default for SimProfile {
    fn default() -> Self {
        Self {
            picked: weights::picked(),
            disconnected: weights::disconnected(),
            rnr: weights::rnr(),
            failed: weights::failed(),
            ring_min_ms: weights::ring_min(),
            ring_max_ms: weights::ring_max(),
            talk_min_secs: weights::talk_min(),
            talk_max_secs: weights::talk_max(),
        }
    }
}

/// A campaign's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    /// The campaign's own zone: used when the number gives none, or with `zone_policy: campaign`.
    #[serde(default = "defaults::zone")]
    pub time_zone: Tz,
    #[serde(default)]
    pub zone_policy: ZonePolicy,
    /// The region national numbers in this campaign's lists are read in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_region: Option<Region>,
    /// How this campaign's numbers are checked: `strict` (the numbering plan) or `e164`
    /// (syntax only); the engine's `phone_validation` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_validation: Option<crate::PhoneValidation>,
    #[serde(default)]
    pub calling_hours: CallingHours,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The configured provider this campaign dials through.
    #[serde(default = "defaults::provider")]
    pub provider: String,
    /// The number shown to recipients; the provider's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<PhoneNumber>,
    /// Simultaneous calls of this campaign (its lease pool's limit).
    #[serde(default = "defaults::max_concurrent")]
    pub max_concurrent: u32,
    /// The share of the lines, in percent (rounded down, never all of them), that the contact
    /// list leaves to one-off calls (`initiate-call`, scheduled calls), so that an operator's
    /// call never waits for a busy list. One-off calls also go first whenever a line frees. 0
    /// lets the list take every line.
    #[serde(default = "defaults::one_off_share_percent")]
    pub one_off_share_percent: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls_per_second: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls_per_minute: Option<u32>,
    /// An attempt with no outcome after this long is a retryable FAILED.
    #[serde(default = "defaults::max_call_duration")]
    pub max_call_duration_secs: u32,
    /// How long the provider lets it ring.
    #[serde(default = "defaults::ring_timeout")]
    pub ring_timeout_secs: u32,
    /// Overrides the simulated provider's outcome mix for this campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimProfile>,
    /// What a call says when it is answered: a `voice` template, rendered with the contact's
    /// attributes (Twilio reads it out with `<Say>`); the provider's own TwiML when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_template: Option<VoiceTemplate>,
    /// How it reaches people: `voice` (calls, the default), `sms` or `whatsapp` (messages, as
    /// `messaging` says).
    #[serde(default, skip_serializing_if = "crate::messaging::Channel::is_voice")]
    pub channel: crate::messaging::Channel,
    /// What a messaging campaign sends; required for `sms` and `whatsapp`, refused for `voice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging: Option<crate::messaging::MessagingSettings>,
}

/// A campaign's `voice` template: its name and locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceTemplate {
    pub name: String,
    #[serde(default = "defaults::locale")]
    pub locale: String,
}

impl CampaignSettings {
    /// How this campaign reads numbers, `engine_default` deciding the validation it leaves open.
    pub fn numbering(&self, engine_default: crate::PhoneValidation) -> crate::Numbering {
        crate::Numbering {
            region: self.default_region,
            validation: self.phone_validation.unwrap_or(engine_default),
        }
    }
}

mod defaults {
    pub(super) fn locale() -> String {
        "en".into()
    }
    pub(super) fn zone() -> chrono_tz::Tz {
        chrono_tz::UTC
    }
    pub(super) fn provider() -> String {
        "sim".to_owned()
    }
    pub(super) fn max_concurrent() -> u32 {
        10
    }
    pub(super) fn one_off_share_percent() -> u32 {
        10
    }
    pub(super) fn max_call_duration() -> u32 {
        3600
    }
    pub(super) fn ring_timeout() -> u32 {
        30
    }
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            time_zone: defaults::zone(),
            zone_policy: ZonePolicy::default(),
            default_region: None,
            phone_validation: None,
            calling_hours: CallingHours::default(),
            retry: RetryPolicy::default(),
            provider: defaults::provider(),
            caller_id: None,
            max_concurrent: defaults::max_concurrent(),
            one_off_share_percent: defaults::one_off_share_percent(),
            max_calls_per_second: None,
            max_calls_per_minute: None,
            max_call_duration_secs: defaults::max_call_duration(),
            ring_timeout_secs: defaults::ring_timeout(),
            sim: None,
            voice_template: None,
            channel: crate::messaging::Channel::Voice,
            messaging: None,
        }
    }
}

/// A setting that breaks a rule, with the field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    pub field: &'static str,
    pub message: String,
}

impl CampaignSettings {
    pub fn zones_for(&self, number: &PhoneNumber) -> Zones {
        Zones::resolve(number, self.zone_policy, self.time_zone)
    }

    /// When a call that is due at `due` may actually be dialed: `due` itself inside calling
    /// hours, the next opening otherwise, `None` if they never open for this number.
    pub fn dial_time(&self, number: &PhoneNumber, due: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.calling_hours
            .next_open(self.zones_for(number).as_slice(), due)
    }

    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let err = |field, message: &str| {
            Err(SettingsError {
                field,
                message: message.to_owned(),
            })
        };
        if !(1..=10_000).contains(&self.max_concurrent) {
            return err("max_concurrent", "must be between 1 and 10000");
        }
        if self.one_off_share_percent > 100 {
            return err("one_off_share_percent", "must be between 0 and 100");
        }
        if self.max_calls_per_second == Some(0) {
            return err(
                "max_calls_per_second",
                "must be at least 1 (omit it for no limit)",
            );
        }
        if self.max_calls_per_minute == Some(0) {
            return err(
                "max_calls_per_minute",
                "must be at least 1 (omit it for no limit)",
            );
        }
        if !(10..=86_400).contains(&self.max_call_duration_secs) {
            return err("max_call_duration_secs", "must be between 10 and 86400");
        }
        if !(5..=600).contains(&self.ring_timeout_secs) {
            return err("ring_timeout_secs", "must be between 5 and 600");
        }
        if self.provider.trim().is_empty() {
            return err("provider", "must name a configured provider");
        }
        if let Some(t) = &self.voice_template {
            if !crate::messaging::valid_name(&t.name) {
                return err("voice_template.name", crate::messaging::NAME_RULE);
            }
            if !crate::messaging::template::valid_locale(&t.locale) {
                return err(
                    "voice_template.locale",
                    "must be a language tag such as en, de or pt-BR",
                );
            }
        }
        match (self.channel.is_voice(), &self.messaging) {
            (true, Some(_)) => {
                return err(
                    "messaging",
                    "is for sms and whatsapp campaigns (set channel)",
                );
            }
            (false, None) => {
                return err(
                    "messaging",
                    "an sms or whatsapp campaign needs messaging settings (at least a template)",
                );
            }
            (false, Some(m)) => {
                if let Err((field, message)) = m.validate() {
                    return Err(SettingsError {
                        field: messaging_field(field),
                        message,
                    });
                }
            }
            (true, None) => {}
        }
        if let Some(sim) = &self.sim {
            if sim.picked + sim.disconnected + sim.rnr + sim.failed == 0 {
                return err("sim", "outcome weights must not all be zero");
            }
            if sim.ring_min_ms > sim.ring_max_ms || sim.talk_min_secs > sim.talk_max_secs {
                return err("sim", "each minimum must not exceed its maximum");
            }
        }
        Ok(())
    }
}

/// `messaging.{field}`, for the field names [`crate::messaging::MessagingSettings::validate`]
/// gives.
fn messaging_field(field: &str) -> &'static str {
    const FIELDS: [&str; 8] = [
        "messaging.template",
        "messaging.locale",
        "messaging.segment",
        "messaging.topic",
        "messaging.max_messages_per_second",
        "messaging.max_messages_per_second_per_sender",
        "messaging.max_attempts",
        "messaging.retry_after_secs",
    ];
    FIELDS
        .into_iter()
        .find(|f| f.strip_prefix("messaging.") == Some(field))
        .unwrap_or("messaging")
}

/// A campaign record. `id`, `name`, `description`, `is_active`, `created_at` and `updated_at` are
/// the seed's Campaign fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    pub description: String,
    pub is_active: bool,
    pub state: CampaignState,
    pub settings: CampaignSettings,
    /// The last contact handed to dialing; the contact list is pulled from after it.
    pub dial_cursor: Option<ContactId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When an operator archived it: hidden from the campaign list, its calls and audit kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
}

/// What creating a campaign takes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign {
    pub name: String,
    pub description: String,
    pub is_active: bool,
    pub settings: CampaignSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_everything_and_reject_unknown_fields() {
        let s: CampaignSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, CampaignSettings::default());
        assert_eq!(s.provider, "sim");
        let err = serde_json::from_str::<CampaignSettings>(r#"{"max_concurent": 3}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `max_concurent`"),
            "{err}"
        );
    }

    #[test]
    fn range_rules_name_the_field() {
        let s = CampaignSettings {
            max_concurrent: 0,
            ..CampaignSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "max_concurrent");
        let s = CampaignSettings {
            max_calls_per_second: Some(0),
            ..CampaignSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "max_calls_per_second");
        assert!(CampaignSettings::default().validate().is_ok());
    }

    #[test]
    fn settings_round_trip_through_json() {
        let s = CampaignSettings {
            caller_id: Some("+14155550100".parse().unwrap()),
            max_calls_per_second: Some(5),
            sim: Some(SimProfile::default()),
            ..CampaignSettings::default()
        };
        let back: CampaignSettings =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
