//! Twilio-compatible voice calls: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`
//! (form-encoded, basic auth with the account SID and auth token), status callbacks posted to
//! dialer with an `X-Twilio-Signature`, and the signature scheme itself:
//! base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value sorted by name)).
//!
//! `Calls.json` takes no idempotency key, so a create request is sent again only when it never
//! left (the connection was refused); any other failure leaves the attempt uncertain until a
//! status callback (which carries dialer's `call_id` in its URL) or the attempt's deadline.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use dialer_engine::{CallId, ProviderReport};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

use super::send::{Tries, create, get};
use super::{
    Attempt, AttemptStatus, DialOutcome, Provider, ProviderError, normalize_status, status_of,
};

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    #[serde(default = "default_name")]
    pub name: String,
    pub account_sid: String,
    /// Secret: never printed (see the `Debug` impl).
    #[serde(skip_serializing)]
    pub auth_token: String,
    /// `https://api.twilio.com`, or a compatible endpoint (the load-test simulator).
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// The caller id used when a campaign has none.
    pub from: String,
    /// The TwiML URL Twilio fetches when the call connects.
    pub voice_url: String,
    /// dialer's public base URL; status callbacks go to `{public_url}/api/v1/providers/twilio/status`.
    pub public_url: String,
    /// `Enable` or `DetectMessageEnd` to have Twilio detect answering machines.
    #[serde(default)]
    pub machine_detection: Option<String>,
    #[serde(default)]
    pub max_cps: Option<u32>,
}

fn default_name() -> String {
    "twilio".into()
}

fn default_api_base() -> String {
    "https://api.twilio.com".into()
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct TwilioProvider {
    config: TwilioConfig,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct CallResource {
    sid: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    duration: Option<String>,
}

/// The path status callbacks are posted to; `call_id` travels in the query string.
pub const STATUS_PATH: &str = "/api/v1/providers/twilio/status";
/// Where Twilio fetches the TwiML of a campaign with a voice template.
pub const TWIML_PATH: &str = "/api/v1/providers/twilio/twiml";

impl TwilioProvider {
    pub fn new(config: TwilioConfig) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| ProviderError::Unavailable(format!("http client: {e}")))?;
        Ok(Self { config, client })
    }

    fn calls_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            self.config.api_base.trim_end_matches('/'),
            self.config.account_sid
        )
    }

    /// The status callback URL for a call.
    /// Where Twilio fetches what an answered call says: the campaign's voice template rendered
    /// by dialer, or the configured `voice_url`.
    pub fn voice_url(&self, r: &Attempt) -> String {
        if r.voice_template {
            format!(
                "{}{TWIML_PATH}?call_id={}",
                self.config.public_url.trim_end_matches('/'),
                r.call_id
            )
        } else {
            self.config.voice_url.clone()
        }
    }

    pub fn status_callback(&self, call_id: CallId) -> String {
        format!(
            "{}{STATUS_PATH}?call_id={call_id}",
            self.config.public_url.trim_end_matches('/')
        )
    }
}

#[async_trait]
impl Provider for TwilioProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn dial(&self, r: &Attempt) -> DialOutcome {
        let from = r
            .from
            .as_ref()
            .map_or(self.config.from.as_str(), |f| f.as_str())
            .to_owned();
        let mut form: Vec<(&str, String)> = vec![
            ("To", r.to.as_str().to_owned()),
            ("From", from),
            ("Url", self.voice_url(r)),
            ("StatusCallback", self.status_callback(r.call_id)),
            ("StatusCallbackMethod", "POST".into()),
            ("Timeout", r.ring_timeout_secs.to_string()),
            ("TimeLimit", r.max_call_duration_secs.to_string()),
        ];
        for event in ["initiated", "ringing", "answered", "completed"] {
            form.push(("StatusCallbackEvent", event.into()));
        }
        if let Some(md) = &self.config.machine_detection {
            form.push(("MachineDetection", md.clone()));
        }
        let url = self.calls_url();
        let (sid, token) = (&self.config.account_sid, &self.config.auth_token);
        let build = || {
            self.client
                .post(&url)
                .basic_auth(sid, Some(token))
                .form(&form)
        };
        let tries = Tries {
            tries: 3,
            idempotent: false,
        };
        let response = match create(build, tries).await {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        match response.json::<CallResource>().await {
            Ok(call) => DialOutcome::Placed {
                external_id: call.sid,
            },
            Err(e) => DialOutcome::Uncertain {
                reason: format!("unreadable answer: {e}"),
            },
        }
    }

    async fn status(&self, a: &Attempt) -> Result<Option<AttemptStatus>, ProviderError> {
        // Without the call's SID there is nothing to ask for: its callbacks will say.
        let Some(external_id) = &a.external_id else {
            return Ok(None);
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Calls/{external_id}.json",
            self.config.api_base.trim_end_matches('/'),
            self.config.account_sid
        );
        let (sid, token) = (&self.config.account_sid, &self.config.auth_token);
        let Some(response) = get(|| self.client.get(&url).basic_auth(sid, Some(token))).await?
        else {
            return Ok(None);
        };
        let call: CallResource = response
            .json()
            .await
            .map_err(|e| ProviderError::Unavailable(format!("unreadable answer: {e}")))?;
        let raw = call.status.unwrap_or_default();
        let duration = call.duration.and_then(|d| d.parse().ok());
        Ok(Some(status_of(ProviderReport {
            provider: self.config.name.clone(),
            event: normalize_status(&raw, duration, None),
            raw_status: raw,
            external_id: Some(call.sid),
            payload: None,
        })))
    }

    fn max_cps(&self) -> Option<u32> {
        self.config.max_cps
    }
}

/// Twilio's request signature for `url` and the POST `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut data = String::from(url);
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `header` is Twilio's signature for this request, compared in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = signature(auth_token, url, params);
    expected.as_bytes().ct_eq(header.trim().as_bytes()).into()
}

/// Reads a status callback's form parameters into a report (`CallStatus` as sent, normalized).
pub fn status_report(provider: &str, params: &[(String, String)]) -> ProviderReport {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let raw = get("CallStatus").unwrap_or_default();
    let duration = get("CallDuration").and_then(|d| d.parse().ok());
    let error = get("ErrorCode").filter(|e| !e.is_empty());
    ProviderReport {
        provider: provider.to_owned(),
        event: normalize_status(&raw, duration, error),
        raw_status: raw,
        external_id: get("CallSid"),
        payload: Some(
            serde_json::to_string(&params.iter().map(|(k, v)| (k, v)).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use dialer_engine::{Outcome, ProviderEvent};

    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn signatures_match_twilios_published_example() {
        // Computed independently with Python's hmac module for Twilio's documented example.
        let p = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(signature("12345", url, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify("12345", url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(
            !verify("12345", url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ"),
            "one character short"
        );
        assert!(
            !verify("54321", url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
            "another token"
        );
        let mut tampered = p.clone();
        tampered[2].1 = "9999".into();
        assert!(!verify(
            "12345",
            url,
            &tampered,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn status_callbacks_normalize_every_twilio_status() {
        let cases = [
            ("queued", None),
            ("initiated", None),
            ("ringing", Some(ProviderEvent::Ringing)),
            ("in-progress", Some(ProviderEvent::Answered)),
            (
                "completed",
                Some(ProviderEvent::Ended {
                    outcome: Outcome::Picked,
                    duration_secs: 42,
                    error_code: None,
                }),
            ),
            (
                "busy",
                Some(ProviderEvent::Ended {
                    outcome: Outcome::Rnr,
                    duration_secs: 42,
                    error_code: Some("busy".into()),
                }),
            ),
            (
                "no-answer",
                Some(ProviderEvent::Ended {
                    outcome: Outcome::Rnr,
                    duration_secs: 42,
                    error_code: None,
                }),
            ),
            (
                "failed",
                Some(ProviderEvent::Ended {
                    outcome: Outcome::Failed,
                    duration_secs: 42,
                    error_code: None,
                }),
            ),
            ("some-new-status", None),
        ];
        for (status, want) in cases {
            let r = status_report(
                "twilio",
                &params(&[
                    ("CallSid", "CA1"),
                    ("CallStatus", status),
                    ("CallDuration", "42"),
                ]),
            );
            assert_eq!(r.event, want, "{status}");
            assert_eq!(r.raw_status, status, "the raw status is kept");
            assert_eq!(r.external_id.as_deref(), Some("CA1"));
        }
    }

    #[test]
    fn the_auth_token_never_reaches_debug_output() {
        let c = TwilioConfig {
            name: "twilio".into(),
            account_sid: "AC1".into(),
            auth_token: "supersecret".into(),
            api_base: default_api_base(),
            from: "+14155550100".into(),
            voice_url: "https://example.com/twiml".into(),
            public_url: "https://dialer.example.com".into(),
            machine_detection: None,
            max_cps: None,
        };
        assert!(!format!("{c:?}").contains("supersecret"));
    }

    #[test]
    fn a_campaign_with_a_voice_template_has_twilio_ask_dialer_what_to_say() {
        let config = TwilioConfig {
            name: "twilio".into(),
            account_sid: "AC1".into(),
            auth_token: "secret".into(),
            api_base: default_api_base(),
            from: "+14155550100".into(),
            voice_url: "https://example.com/twiml".into(),
            public_url: "https://dialer.example.com/".into(),
            machine_detection: None,
            max_cps: None,
        };
        let twilio = TwilioProvider::new(config).unwrap();
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let mut attempt = Attempt {
            call_id: CallId::generate(at),
            campaign_id: dialer_engine::CampaignId::new(1).unwrap(),
            attempt: 1,
            to: dialer_engine::PhoneNumber::from_stored("+14155552671").unwrap(),
            from: None,
            ring_timeout_secs: 30,
            max_call_duration_secs: 600,
            sim: None,
            dialed_at: at,
            external_id: None,
            voice_template: false,
        };
        assert_eq!(twilio.voice_url(&attempt), "https://example.com/twiml");
        attempt.voice_template = true;
        assert_eq!(
            twilio.voice_url(&attempt),
            format!(
                "https://dialer.example.com/api/v1/providers/twilio/twiml?call_id={}",
                attempt.call_id
            )
        );
    }
}
