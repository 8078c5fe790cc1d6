//! A call's current state and its audit trail, as values.
//!
//! [`Call::apply`] is the only way a call changes: it asks [`transition`] and, when the event
//! applies, updates the bookkeeping the seed's CallLog carries (attempt count, last attempt,
//! next retry, total call time). Every applied or ignored event can be written down as a
//! [`CallAudit`] record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CallId, CampaignId, ContactId};
use crate::phone::PhoneNumber;
use crate::status::{
    BlockReason, CallEvent, CallStatus, Disposition, Ignored, Outcome, Transition, transition,
};

/// How a call came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOrigin {
    /// Taken from a running campaign's contact list.
    Campaign,
    /// `POST /api/v1/initiate-call/`: dial as soon as capacity allows.
    Api,
    /// A one-off call scheduled for a later time.
    Scheduled,
}

impl CallOrigin {
    pub const ALL: [Self; 3] = [Self::Campaign, Self::Api, Self::Scheduled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Campaign => "campaign",
            Self::Api => "api",
            Self::Scheduled => "scheduled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// A call: one contact's (or one request's) whole life across its attempts. Field names follow
/// the seed's CallLog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub call_id: CallId,
    pub campaign_id: CampaignId,
    pub contact_id: Option<ContactId>,
    pub phone_number: PhoneNumber,
    pub origin: CallOrigin,
    pub status: CallStatus,
    /// Attempts started (the seed's `attempt_count`).
    pub attempt_count: u32,
    pub max_attempts: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it was asked to be dialed (creation, or the requested time of a scheduled call).
    pub scheduled_at: DateTime<Utc>,
    /// When it is (or was) due, while it waits for a line: the scheduled time, the retry time
    /// (`next_retry_at`), the opening of its calling hours, or its acceptance. Set exactly while
    /// the call is pending (SCHEDULED, INITIATED, RETRYING): storage orders the pending calls of
    /// a campaign by it, and that order is the order they are dialed in.
    pub due_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<Outcome>,
    /// Seconds of conversation over all attempts (the seed's `total_call_time`).
    pub total_call_time: u32,
    /// The provider's id for the current or last attempt.
    pub external_call_id: Option<String>,
    pub error_message: Option<String>,
}

/// Inputs to create a call.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub call_id: CallId,
    pub campaign_id: CampaignId,
    pub contact_id: Option<ContactId>,
    pub phone_number: PhoneNumber,
    pub origin: CallOrigin,
    pub max_attempts: u32,
    /// `None` or a time not after `now`: due at once (INITIATED); later: SCHEDULED.
    pub scheduled_at: Option<DateTime<Utc>>,
}

impl Call {
    pub fn new(new: NewCall, now: DateTime<Utc>) -> Self {
        let scheduled_at = new.scheduled_at.unwrap_or(now);
        let status = if scheduled_at > now {
            CallStatus::Scheduled
        } else {
            CallStatus::Initiated
        };
        Self {
            call_id: new.call_id,
            campaign_id: new.campaign_id,
            contact_id: new.contact_id,
            phone_number: new.phone_number,
            origin: new.origin,
            status,
            attempt_count: 0,
            max_attempts: new.max_attempts,
            created_at: now,
            updated_at: now,
            scheduled_at,
            due_at: Some(scheduled_at),
            last_attempt_at: None,
            last_outcome: None,
            total_call_time: 0,
            external_call_id: None,
            error_message: None,
        }
    }

    /// The retry time, when one is pending (the seed's `next_retry_at`).
    pub fn next_retry_at(&self) -> Option<DateTime<Utc>> {
        (self.status == CallStatus::Retrying)
            .then_some(self.due_at)
            .flatten()
    }

    /// Applies `event` at `now`; returns what the state machine decided. The record changes
    /// only when the transition applies.
    pub fn apply(&mut self, event: CallEvent, now: DateTime<Utc>) -> Transition {
        let t = transition(self.status, event);
        let Transition::To(to) = t else { return t };
        match event {
            // A call that became due keeps its due time: it is its place in the queue.
            CallEvent::Due => {}
            CallEvent::DialStarted => {
                self.attempt_count += 1;
                self.last_attempt_at = Some(now);
                self.due_at = None;
                self.external_call_id = None;
                self.error_message = None;
            }
            CallEvent::Ended {
                outcome,
                disposition,
            } => {
                self.last_outcome = Some(outcome);
                self.due_at = match disposition {
                    Disposition::RetryAt { at } if to == CallStatus::Retrying => Some(at),
                    _ => None,
                };
                if self.attempt_count == 0 {
                    // The provider reported on a call it placed before we recorded the dial.
                    self.attempt_count = 1;
                    self.last_attempt_at = Some(now);
                }
            }
            CallEvent::NotPlaced { retry_at } => {
                // The attempt never reached anyone: it is given back.
                self.attempt_count = self.attempt_count.saturating_sub(1);
                self.due_at = Some(retry_at);
                self.external_call_id = None;
            }
            CallEvent::Blocked(_) | CallEvent::Cancel => self.due_at = None,
            CallEvent::Ringing | CallEvent::Answered => {}
        }
        self.status = to;
        self.updated_at = now;
        t
    }

    /// Moves a queued call's due time (its calling hours are closed until `until`). Not a status
    /// change: the call stays INITIATED, behind the calls due before it. False (and nothing
    /// changes) unless the call is INITIATED.
    pub fn defer(&mut self, until: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        if self.status != CallStatus::Initiated {
            return false;
        }
        self.due_at = Some(until);
        self.updated_at = now;
        true
    }
}

/// Why a due call was not dialed yet (it stays queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferReason {
    /// Outside calling hours; dialed when they open.
    CallingHours,
    /// The campaign or engine has no free line (lease).
    Capacity,
    /// The rate limit's bucket was empty.
    Rate,
    /// The campaign is paused.
    Paused,
}

/// One line of a call's audit trail: a decision taken or an event received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallAudit {
    pub call_id: CallId,
    pub campaign_id: CampaignId,
    pub at: DateTime<Utc>,
    pub attempt: u32,
    pub from_status: Option<CallStatus>,
    pub to_status: Option<CallStatus>,
    #[serde(flatten)]
    pub kind: AuditKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditKind {
    Created {
        origin: CallOrigin,
    },
    /// The due time arrived.
    Due,
    /// A line, leases and rate tokens were granted; the provider request follows.
    Dialed {
        provider: String,
        fencing_token: Option<u64>,
    },
    Deferred {
        reason: DeferReason,
        until: Option<DateTime<Utc>>,
    },
    Blocked {
        reason: BlockReason,
    },
    /// A provider status as received (`raw`) and as normalized (`normalized`).
    ProviderStatus {
        provider: String,
        raw: String,
        normalized: Option<String>,
        payload: Option<String>,
    },
    /// The attempt ended; the retry policy's decision is recorded with it.
    Ended {
        outcome: Outcome,
        duration_secs: u32,
        disposition: Disposition,
        error_code: Option<String>,
    },
    /// No outcome arrived within the ring timeout plus the max call duration.
    TimedOut {
        after_secs: u64,
    },
    /// The dial request provably never created a call (refused connection, or an idempotent
    /// provider that has no call for the attempt): the attempt is given back.
    NotPlaced {
        reason: String,
    },
    /// The dial request may or may not have created a call (a timeout after it was sent, a 5xx):
    /// the attempt waits for the provider to say, and is never sent again.
    Uncertain {
        reason: String,
    },
    /// After a restart (or a slot's crash) the provider was asked how an attempt went.
    Resolved {
        answer: String,
    },
    Cancelled {
        by: String,
    },
    /// An event that changed nothing, and why.
    Ignored {
        event: String,
        reason: String,
    },
}

impl AuditKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "created",
            Self::Due => "due",
            Self::Dialed { .. } => "dialed",
            Self::Deferred { .. } => "deferred",
            Self::Blocked { .. } => "blocked",
            Self::ProviderStatus { .. } => "provider_status",
            Self::Ended { .. } => "ended",
            Self::TimedOut { .. } => "timed_out",
            Self::NotPlaced { .. } => "not_placed",
            Self::Uncertain { .. } => "uncertain",
            Self::Resolved { .. } => "resolved",
            Self::Cancelled { .. } => "cancelled",
            Self::Ignored { .. } => "ignored",
        }
    }
}

impl CallAudit {
    /// An audit line for `call` as it is now, after (or instead of) a change from `from`.
    pub fn of(call: &Call, from: Option<CallStatus>, at: DateTime<Utc>, kind: AuditKind) -> Self {
        Self {
            call_id: call.call_id,
            campaign_id: call.campaign_id,
            at,
            attempt: call.attempt_count,
            from_status: from,
            to_status: Some(call.status),
            kind,
        }
    }

    /// An audit line for an event that was ignored.
    pub fn ignored(call: &Call, at: DateTime<Utc>, event: &str, why: Ignored) -> Self {
        Self {
            call_id: call.call_id,
            campaign_id: call.campaign_id,
            at,
            attempt: call.attempt_count,
            from_status: Some(call.status),
            to_status: None,
            kind: AuditKind::Ignored {
                event: event.to_owned(),
                reason: why.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn new_call(now: DateTime<Utc>, at: Option<DateTime<Utc>>) -> Call {
        Call::new(
            NewCall {
                call_id: CallId::generate(now),
                campaign_id: CampaignId::new(1).unwrap(),
                contact_id: None,
                phone_number: "+14155552671".parse().unwrap(),
                origin: CallOrigin::Api,
                max_attempts: 3,
                scheduled_at: at,
            },
            now,
        )
    }

    #[test]
    fn a_call_tracks_attempts_retries_and_outcomes() {
        let t0 = Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap();
        let mut c = new_call(t0, None);
        assert_eq!(c.status, CallStatus::Initiated);
        assert_eq!(
            c.apply(CallEvent::DialStarted, t0),
            Transition::To(CallStatus::Dialing)
        );
        assert_eq!((c.attempt_count, c.last_attempt_at), (1, Some(t0)));
        let retry = t0 + chrono::Duration::hours(1);
        let ended = CallEvent::Ended {
            outcome: Outcome::Rnr,
            disposition: Disposition::RetryAt { at: retry },
        };
        assert_eq!(c.apply(ended, t0), Transition::To(CallStatus::Retrying));
        assert_eq!(c.next_retry_at(), Some(retry));
        assert_eq!(c.last_outcome, Some(Outcome::Rnr));
        // The same callback again changes nothing.
        assert!(matches!(c.apply(ended, t0), Transition::Ignored(_)));
        assert_eq!(
            c.apply(CallEvent::Due, retry),
            Transition::To(CallStatus::Initiated)
        );
        assert_eq!(
            c.apply(CallEvent::DialStarted, retry),
            Transition::To(CallStatus::Dialing)
        );
        assert_eq!(c.attempt_count, 2);
        let picked = CallEvent::Ended {
            outcome: Outcome::Picked,
            disposition: Disposition::Final,
        };
        assert_eq!(c.apply(picked, retry), Transition::To(CallStatus::Picked));
        assert_eq!(c.due_at, None);
    }

    #[test]
    fn a_pending_call_has_a_due_time_and_only_a_pending_call_has_one() {
        let t0 = Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap();
        let t = |m| t0 + chrono::Duration::minutes(m);
        let mut c = new_call(t0, Some(t(5)));
        let check = |c: &Call| assert_eq!(c.status.is_pending(), c.due_at.is_some(), "{c:?}");
        check(&c);
        c.apply(CallEvent::Due, t(5));
        check(&c);
        assert_eq!(
            c.due_at,
            Some(t(5)),
            "a due call keeps its place in the queue"
        );
        assert!(c.defer(t(60), t(6)));
        assert_eq!((c.status, c.due_at), (CallStatus::Initiated, Some(t(60))));
        c.apply(CallEvent::DialStarted, t(60));
        check(&c);
        assert!(!c.defer(t(90), t(61)), "only a queued call can be deferred");
        c.apply(CallEvent::NotPlaced { retry_at: t(61) }, t(60));
        check(&c);
        assert_eq!(
            (c.status, c.attempt_count, c.due_at),
            (CallStatus::Initiated, 0, Some(t(61))),
            "an attempt that was never placed is given back"
        );
        c.apply(CallEvent::DialStarted, t(61));
        assert_eq!(c.attempt_count, 1);
        c.apply(
            CallEvent::Ended {
                outcome: Outcome::Rnr,
                disposition: Disposition::RetryAt { at: t(120) },
            },
            t(62),
        );
        check(&c);
        c.apply(CallEvent::Cancel, t(63));
        check(&c);
    }

    #[test]
    fn a_future_call_is_scheduled() {
        let t0 = Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap();
        let later = t0 + chrono::Duration::minutes(5);
        let c = new_call(t0, Some(later));
        assert_eq!((c.status, c.due_at), (CallStatus::Scheduled, Some(later)));
    }

    #[test]
    fn audit_records_serialize_with_their_kind() {
        let t0 = Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap();
        let c = new_call(t0, None);
        let a = CallAudit::of(
            &c,
            None,
            t0,
            AuditKind::Blocked {
                reason: BlockReason::Dnc,
            },
        );
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["kind"], "blocked");
        assert_eq!(json["reason"], "dnc");
        let back: CallAudit = serde_json::from_value(json).unwrap();
        assert_eq!(back, a);
    }
}
