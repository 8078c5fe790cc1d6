//! The messaging channel's pure core: who may be messaged (consent, topics, segments), what they
//! are sent (templates), what an inbound message asks for, how a message's delivery state moves
//! when provider reports arrive in any order, which provider errors are worth a retry, and how
//! trigger events (JSON lines) are read.

pub mod errors;
pub mod inbound;
pub mod message;
pub mod segment;
pub mod send;
pub mod template;
pub mod trigger;

use serde::{Deserialize, Serialize};

pub use errors::{ErrorClass, classify};
pub use inbound::Command;
pub use message::{MessageStatus, apply_report};
pub use segment::{Rule, RuleError, Subject};
pub use send::{AfterFailure, BlockReason, Gate, MessagingSettings};
pub use template::{RenderError, Template, TemplateError};

/// What a topic's, segment's or template's name must be.
pub const NAME_RULE: &str = "must be 1 to 64 letters, digits, '-', '_' or '.'";

/// A topic, segment or template name: 1–64 ASCII letters, digits, `-`, `_` or `.`.
pub fn valid_name(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// How a campaign reaches people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Voice,
    Sms,
    Whatsapp,
}

impl Channel {
    pub fn is_voice(&self) -> bool {
        *self == Self::Voice
    }

    pub const ALL: [Self; 3] = [Self::Voice, Self::Sms, Self::Whatsapp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The longest body a message may carry, in characters (Twilio: 1,600 for SMS, 4,096 for
    /// WhatsApp; a voice template is spoken, and capped at what TwiML `<Say>` reads out).
    pub fn max_body_chars(self) -> usize {
        match self {
            Self::Sms => 1_600,
            Self::Whatsapp => 4_096,
            Self::Voice => 4_096,
        }
    }
}

/// A recipient's consent to be messaged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    OptedIn,
    OptedOut,
    #[default]
    Unknown,
}

impl Consent {
    pub const ALL: [Self; 3] = [Self::OptedIn, Self::OptedOut, Self::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptedIn => "opted_in",
            Self::OptedOut => "opted_out",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}
