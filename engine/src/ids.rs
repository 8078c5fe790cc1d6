//! Identifier newtypes.
//!
//! Every id that crosses a crate or process boundary gets its own type, so that a campaign id can
//! never be passed where a contact id is expected. Each one round-trips through `Display` /
//! `FromStr` and serde in the same textual form.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be a positive integer, got {value:?}")]
    NotAPositiveInteger { kind: &'static str, value: String },
    #[error("{kind} must be a UUID, got {value:?}")]
    NotAUuid { kind: &'static str, value: String },
    #[error("{kind} must be 1 to 64 characters of [A-Za-z0-9._-], got {value:?}")]
    BadName { kind: &'static str, value: String },
}

macro_rules! integer_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a raw value; ids are positive.
            pub fn new(value: i64) -> Result<Self, IdError> {
                if value > 0 {
                    Ok(Self(value))
                } else {
                    Err(IdError::NotAPositiveInteger { kind: $kind, value: value.to_string() })
                }
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let bad = || IdError::NotAPositiveInteger { kind: $kind, value: s.to_owned() };
                let value: i64 = s.trim().parse().map_err(|_| bad())?;
                Self::new(value).map_err(|_| bad())
            }
        }
    };
}

/// The counter in the version 7 ids this process makes: it orders ids made in the same
/// millisecond in the order they were made (a page of calls is dialed in the order of its
/// contacts), while the timestamp stays exactly the one given, whatever other clocks the process
/// runs (tests run several at once; a restarted scaled clock may read earlier).
#[derive(Debug)]
struct Sequence(AtomicU64);

/// 42 bits of counter: `rand_a` and the top of `rand_b`; the rest of `rand_b` stays random.
const COUNTER_BITS: usize = 42;

static SEQUENCE: Sequence = Sequence(AtomicU64::new(0));

impl uuid::ClockSequence for Sequence {
    type Output = u64;

    fn generate_sequence(&self, _seconds: u64, _subsec_nanos: u32) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) & ((1 << COUNTER_BITS) - 1)
    }

    fn usable_bits(&self) -> usize {
        COUNTER_BITS
    }
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new UUID v7 id whose time prefix is `now`, so ids sort by creation time — and,
            /// within a millisecond, in the order this process made them.
            pub fn generate(now: DateTime<Utc>) -> Self {
                let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
                let ts = uuid::Timestamp::from_unix(
                    &SEQUENCE,
                    ms / 1000,
                    u32::try_from(ms % 1000).unwrap_or(0) * 1_000_000,
                );
                Self(Uuid::new_v7(ts))
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The creation time encoded in a v7 id, in Unix milliseconds.
            pub fn created_ms(&self) -> Option<u64> {
                self.0.get_timestamp().map(|ts| {
                    let (secs, nanos) = ts.to_unix();
                    secs * 1000 + u64::from(nanos) / 1_000_000
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| IdError::NotAUuid { kind: $kind, value: s.to_owned() })
            }
        }
    };
}

integer_id!(
    /// A campaign. Integers, because the seed-004 contract exposes `"campaign_id": 1`.
    CampaignId,
    "campaign id"
);
integer_id!(
    /// A contact (one phone number inside one campaign).
    ContactId,
    "contact id"
);
uuid_id!(
    /// One call: a contact's (or a one-off request's) whole life across all its attempts.
    CallId,
    "call id"
);

/// A node of a multi-node deployment, as named in its config (`node_id`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

impl NodeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::BadName {
                kind: "node id",
                value: s.to_owned(),
            })
        }
    }
}

impl TryFrom<String> for NodeId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<NodeId> for String {
    fn from(value: NodeId) -> Self {
        value.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn integer_ids_round_trip_and_reject_non_positive_values() {
        let id: CampaignId = "42".parse().unwrap();
        assert_eq!(id.get(), 42);
        assert_eq!(id.to_string(), "42");
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert!("0".parse::<CampaignId>().is_err());
        assert!("-3".parse::<ContactId>().is_err());
        assert!("abc".parse::<CampaignId>().is_err());
        assert!(serde_json::from_str::<CampaignId>("\"x\"").is_err());
    }

    #[test]
    fn call_ids_are_v7_and_carry_their_creation_time() {
        let now = Utc.with_ymd_and_hms(2026, 3, 8, 12, 0, 0).unwrap();
        let id = CallId::generate(now);
        assert_eq!(id.as_uuid().get_version_num(), 7);
        assert_eq!(id.created_ms(), Some(now.timestamp_millis() as u64));
        let back: CallId = id.to_string().parse().unwrap();
        assert_eq!(back, id);
        let later = CallId::generate(now + chrono::Duration::milliseconds(1));
        assert!(later > id, "v7 ids sort by creation time");
        // Within one millisecond, in the order they were made; an id made for an earlier
        // instant still carries that instant.
        let same: Vec<CallId> = (0..100).map(|_| CallId::generate(now)).collect();
        assert!(same.windows(2).all(|w| w[0] < w[1]));
        assert!(
            same.iter()
                .all(|i| i.created_ms() == Some(now.timestamp_millis() as u64))
        );
        let earlier = now - chrono::Duration::days(3);
        assert_eq!(
            CallId::generate(earlier).created_ms(),
            Some(earlier.timestamp_millis() as u64)
        );
        assert!("not-a-uuid".parse::<CallId>().is_err());
    }

    #[test]
    fn node_ids_are_short_safe_names() {
        assert!("node-1.eu".parse::<NodeId>().is_ok());
        assert!("".parse::<NodeId>().is_err());
        assert!("a b".parse::<NodeId>().is_err());
        assert!("x".repeat(65).parse::<NodeId>().is_err());
    }
}
