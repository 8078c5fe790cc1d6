//! The call state machine.
//!
//! One function, [`transition`], decides every change of a call's status. It is total: for any
//! status and any event it returns either the new status or the reason the event changes
//! nothing. Terminal statuses absorb everything; provider events that arrive late or twice
//! (ringing after an answer, a second hang-up) are reported as ignored, never applied.
//!
//! ```text
//!   SCHEDULED ─due─► INITIATED ─dial─► DIALING ─► RINGING ─► IN_PROGRESS
//!        ▲               │  ▲  ▲          │ │        │           │
//!        │               │  │  └not placed┘ │        │           │
//!        │               │  └──due── RETRYING ◄──────┴─ outcome ─┘ (retry decided by policy)
//!        │               │                            └► PICKED | DISCONNECTED | RNR | FAILED
//!        │               └─► BLOCKED_* (DNC, opt-out, calling hours, duplicate)   | EXHAUSTED
//!   (not in flight) ─cancel─► CANCELLED
//! ```
//!
//! "Not placed" is the one way back from DIALING: the provider request provably never created a
//! call (the connection was refused, or an idempotent provider has no call for the attempt), so
//! the attempt is given back and the call waits for a line again.
//!
//! The seed-004 names (INITIATED, PICKED, DISCONNECTED, RNR, FAILED, RETRYING) are kept exactly;
//! INITIATED is "accepted and queued for a line".

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallStatus {
    /// Accepted; due at a later time (a scheduled one-off call).
    Scheduled,
    /// Accepted and due: queued for a line, a lease and a rate token.
    Initiated,
    /// Recorded as dialing, before the provider request is sent.
    Dialing,
    /// The provider says it is ringing.
    Ringing,
    /// Answered, the conversation is running.
    InProgress,
    /// Answered (terminal success; never retried).
    Picked,
    /// Dropped; terminal when the policy does not retry it.
    Disconnected,
    /// Ring, no response; terminal when the policy does not retry it.
    Rnr,
    /// Failed to connect; terminal when the policy does not retry it.
    Failed,
    /// Waiting for the next attempt at `next_retry_at`.
    Retrying,
    /// A retryable outcome with no attempt left (cap reached or no retry window ahead).
    Exhausted,
    /// Cancelled by an operator or by stopping its campaign.
    Cancelled,
    /// Not dialed: the number is on the do-not-call list.
    BlockedDnc,
    /// Not dialed: the recipient opted out (STOP).
    BlockedOptOut,
    /// Not dialed: the calling hours never open for this number's zones.
    BlockedCallingHours,
    /// Not dialed: another call to the same number in the same campaign was live.
    BlockedDuplicate,
}

impl CallStatus {
    pub const ALL: [CallStatus; 16] = [
        Self::Scheduled,
        Self::Initiated,
        Self::Dialing,
        Self::Ringing,
        Self::InProgress,
        Self::Picked,
        Self::Disconnected,
        Self::Rnr,
        Self::Failed,
        Self::Retrying,
        Self::Exhausted,
        Self::Cancelled,
        Self::BlockedDnc,
        Self::BlockedOptOut,
        Self::BlockedCallingHours,
        Self::BlockedDuplicate,
    ];

    /// A terminal status never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Picked
                | Self::Disconnected
                | Self::Rnr
                | Self::Failed
                | Self::Exhausted
                | Self::Cancelled
                | Self::BlockedDnc
                | Self::BlockedOptOut
                | Self::BlockedCallingHours
                | Self::BlockedDuplicate
        )
    }

    /// A live call holds a line (and its leases) until an outcome arrives.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Dialing | Self::Ringing | Self::InProgress)
    }

    /// Waiting for its due time or for a line: cancellable, not yet dialed for this attempt.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Scheduled | Self::Initiated | Self::Retrying)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Initiated => "INITIATED",
            Self::Dialing => "DIALING",
            Self::Ringing => "RINGING",
            Self::InProgress => "IN_PROGRESS",
            Self::Picked => "PICKED",
            Self::Disconnected => "DISCONNECTED",
            Self::Rnr => "RNR",
            Self::Failed => "FAILED",
            Self::Retrying => "RETRYING",
            Self::Exhausted => "EXHAUSTED",
            Self::Cancelled => "CANCELLED",
            Self::BlockedDnc => "BLOCKED_DNC",
            Self::BlockedOptOut => "BLOCKED_OPT_OUT",
            Self::BlockedCallingHours => "BLOCKED_CALLING_HOURS",
            Self::BlockedDuplicate => "BLOCKED_DUPLICATE",
        }
    }

    /// Progress order of the live part of the lifecycle, for discarding stale provider events.
    fn progress_rank(self) -> Option<u8> {
        match self {
            Self::Initiated => Some(0),
            Self::Dialing => Some(1),
            Self::Ringing => Some(2),
            Self::InProgress => Some(3),
            _ => None,
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for CallStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// How an attempt ended, in the seed-004 vocabulary every provider is normalized to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Picked,
    Disconnected,
    Rnr,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Self::Picked, Self::Disconnected, Self::Rnr, Self::Failed];

    pub fn status(self) -> CallStatus {
        match self {
            Self::Picked => CallStatus::Picked,
            Self::Disconnected => CallStatus::Disconnected,
            Self::Rnr => CallStatus::Rnr,
            Self::Failed => CallStatus::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.status().as_str()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// What the retry policy decided for an outcome; carried by [`CallEvent::Ended`] so that the
/// state machine stays a pure function of (status, event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Disposition {
    /// Not retryable (PICKED, or a status the policy does not retry): the outcome is final.
    Final,
    /// Another attempt at this instant.
    RetryAt { at: DateTime<Utc> },
    /// Retryable, but no attempt is left.
    Exhausted,
}

/// Why a call was not dialed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    Dnc,
    OptOut,
    CallingHours,
    Duplicate,
}

impl BlockReason {
    pub fn status(self) -> CallStatus {
        match self {
            Self::Dnc => CallStatus::BlockedDnc,
            Self::OptOut => CallStatus::BlockedOptOut,
            Self::CallingHours => CallStatus::BlockedCallingHours,
            Self::Duplicate => CallStatus::BlockedDuplicate,
        }
    }
}

/// Everything that can happen to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    /// Its due time (scheduled, or a retry) arrived.
    Due,
    /// A line, the leases and a rate token were granted; recorded before the provider request.
    DialStarted,
    /// The provider reports ringing.
    Ringing,
    /// The provider reports the call was answered.
    Answered,
    /// The attempt ended (callback, or silence past the max call duration as FAILED).
    Ended {
        outcome: Outcome,
        disposition: Disposition,
    },
    /// The dial request provably never created a call: the attempt does not count, and the call
    /// waits for a line again from `retry_at`.
    NotPlaced { retry_at: DateTime<Utc> },
    /// A dispatch-time check refused the call.
    Blocked(BlockReason),
    /// An operator, or stopping the campaign, cancelled it.
    Cancel,
}

/// Why an event changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// The call is terminal; nothing changes it any more.
    AlreadyTerminal(CallStatus),
    /// A provider event for a step the call has already passed (late or duplicate).
    Stale { current: CallStatus },
    /// The event does not apply in this status (e.g. `Due` while dialing).
    NotApplicable { current: CallStatus },
    /// Cancelling a call in flight: it finishes its attempt instead.
    InFlight { current: CallStatus },
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyTerminal(s) => write!(f, "ignored: call is already {s}"),
            Self::Stale { current } => write!(f, "ignored: stale event, call is already {current}"),
            Self::NotApplicable { current } => {
                write!(f, "ignored: does not apply to a {current} call")
            }
            Self::InFlight { current } => write!(f, "ignored: call is in flight ({current})"),
        }
    }
}

/// The result of [`transition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    To(CallStatus),
    Ignored(Ignored),
}

/// The one function that decides every status change.
pub fn transition(from: CallStatus, event: CallEvent) -> Transition {
    use CallStatus as S;
    use Transition::{Ignored as No, To};
    if from.is_terminal() {
        return No(Ignored::AlreadyTerminal(from));
    }
    let not_applicable = No(Ignored::NotApplicable { current: from });
    match event {
        CallEvent::Due => match from {
            S::Scheduled | S::Retrying => To(S::Initiated),
            _ => not_applicable,
        },
        CallEvent::DialStarted => match from {
            S::Initiated => To(S::Dialing),
            _ => not_applicable,
        },
        CallEvent::NotPlaced { .. } => match from {
            S::Dialing => To(S::Initiated),
            _ => not_applicable,
        },
        CallEvent::Ringing => progress(from, S::Ringing),
        CallEvent::Answered => progress(from, S::InProgress),
        CallEvent::Ended {
            outcome,
            disposition,
        } => match from {
            // A provider may report an outcome for a call we still hold as queued: its own
            // record wins (a client of the seed API can report on any call it initiated).
            S::Initiated | S::Dialing | S::Ringing | S::InProgress => To(match disposition {
                Disposition::Final => outcome.status(),
                Disposition::RetryAt { .. } if outcome != Outcome::Picked => S::Retrying,
                Disposition::RetryAt { .. } => S::Picked,
                Disposition::Exhausted if outcome != Outcome::Picked => S::Exhausted,
                Disposition::Exhausted => S::Picked,
            }),
            // Waiting for a retry or a due time: the outcome belongs to an attempt that has
            // already been decided.
            S::Scheduled | S::Retrying => No(Ignored::Stale { current: from }),
            _ => not_applicable,
        },
        CallEvent::Blocked(reason) => match from {
            S::Scheduled | S::Initiated | S::Retrying => To(reason.status()),
            _ => No(Ignored::InFlight { current: from }),
        },
        CallEvent::Cancel => match from {
            S::Scheduled | S::Initiated | S::Retrying => To(S::Cancelled),
            _ => No(Ignored::InFlight { current: from }),
        },
    }
}

fn progress(from: CallStatus, to: CallStatus) -> Transition {
    match (from.progress_rank(), to.progress_rank()) {
        // Ringing or answered while still queued means the provider raced our own record of the
        // dial; the provider is right.
        (Some(have), Some(want)) if want > have => Transition::To(to),
        (Some(_), Some(_)) => Transition::Ignored(Ignored::Stale { current: from }),
        _ if from.is_pending() => Transition::Ignored(Ignored::Stale { current: from }),
        _ => Transition::Ignored(Ignored::NotApplicable { current: from }),
    }
}

#[cfg(test)]
mod tests;
