//! What happens to a call when something happens to it, as values.
//!
//! Each function takes the call, its campaign's settings and `now`, changes the call through
//! [`Call::apply`], and returns a [`Step`]: the audit lines and counter deltas to persist with
//! the new state, and the [`Effect`]s the actors must carry out (schedule a retry, release the
//! leases, report the call finished). Nothing here performs anything.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::call::{AuditKind, Call, CallAudit, DeferReason};
use crate::campaign::CampaignSettings;
use crate::status::{BlockReason, CallEvent, CallStatus, Disposition, Outcome, Transition};

/// A provider's report on a call, normalized. `event` is `None` for a status we record but do
/// not act on (an unknown or informational provider status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderReport {
    pub provider: String,
    /// The status exactly as the provider sent it.
    pub raw_status: String,
    pub event: Option<ProviderEvent>,
    pub external_id: Option<String>,
    /// The callback body as received, for the audit trail.
    pub payload: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ProviderEvent {
    Ringing,
    Answered,
    Ended {
        outcome: Outcome,
        duration_secs: u32,
        error_code: Option<String>,
    },
}

/// Something the actors must do after persisting a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Put the call back on the wheel for this instant.
    ScheduleAt(DateTime<Utc>),
    /// The attempt is over: give the line's leases back.
    ReleaseLeases,
    /// The call reached a terminal status.
    Finished,
}

/// The result of one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub transition: Transition,
    pub audits: Vec<CallAudit>,
    /// (counter name, delta) for the call's campaign.
    pub counters: Vec<(String, i64)>,
    pub effects: Vec<Effect>,
}

impl Step {
    fn new(transition: Transition) -> Self {
        Self {
            transition,
            audits: Vec::new(),
            counters: Vec::new(),
            effects: Vec::new(),
        }
    }

    fn count(&mut self, name: impl Into<String>, delta: i64) {
        self.counters.push((name.into(), delta));
    }

    pub fn applied(&self) -> bool {
        matches!(self.transition, Transition::To(_))
    }

    /// A step that changes nothing (to fold later steps into).
    pub fn unchanged(call: &Call) -> Self {
        Self::new(Transition::To(call.status))
    }

    /// Folds a later step of the same call into this one, to be written together: the later
    /// transition is the result, the audit lines and counters add up, the effects follow.
    pub fn then(mut self, later: Step) -> Step {
        self.transition = later.transition;
        self.audits.extend(later.audits);
        self.counters.extend(later.counters);
        self.effects.extend(later.effects);
        self
    }

    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        self.effects.iter().find_map(|e| match e {
            Effect::ScheduleAt(at) => Some(*at),
            _ => None,
        })
    }
}

/// Counters every terminal status adds.
fn finish(step: &mut Step, call: &Call) {
    if call.status.is_terminal() {
        step.count(format!("status.{}", call.status), 1);
        step.effects.push(Effect::Finished);
    }
}

fn ignored(call: &Call, step: &mut Step, now: DateTime<Utc>, event: &str) {
    if let Transition::Ignored(why) = step.transition {
        step.audits.push(CallAudit::ignored(call, now, event, why));
    }
}

/// A new call was accepted.
pub fn created(call: &Call, now: DateTime<Utc>) -> Step {
    let mut step = Step::new(Transition::To(call.status));
    step.audits.push(CallAudit::of(
        call,
        None,
        now,
        AuditKind::Created {
            origin: call.origin,
        },
    ));
    step.count("calls_created", 1);
    step
}

/// A scheduled call or a retry became due.
pub fn due(call: &mut Call, now: DateTime<Utc>) -> Step {
    let from = call.status;
    let mut step = Step::new(call.apply(CallEvent::Due, now));
    if step.applied() {
        step.audits
            .push(CallAudit::of(call, Some(from), now, AuditKind::Due));
    }
    step
}

/// What is decided for a call taken for dialing (`next`), folded after its due time's arrival
/// when it was waiting for one (a scheduled call, a retry).
pub fn when_due(call: &mut Call, now: DateTime<Utc>, next: impl FnOnce(&mut Call) -> Step) -> Step {
    let arrived = if matches!(call.status, CallStatus::Scheduled | CallStatus::Retrying) {
        due(call, now)
    } else {
        Step::unchanged(call)
    };
    let next = next(call);
    arrived.then(next)
}

/// The call is dialed now: recorded before the provider request.
pub fn dial_started(
    call: &mut Call,
    provider: &str,
    fencing_token: Option<u64>,
    now: DateTime<Utc>,
) -> Step {
    let from = call.status;
    let mut step = Step::new(call.apply(CallEvent::DialStarted, now));
    if step.applied() {
        step.audits.push(CallAudit::of(
            call,
            Some(from),
            now,
            AuditKind::Dialed {
                provider: provider.to_owned(),
                fencing_token,
            },
        ));
        step.count("attempts", 1);
        step.count("in_flight", 1);
    } else {
        ignored(call, &mut step, now, "dial_started");
    }
    step
}

/// A dispatch-time check refused the call.
pub fn blocked(call: &mut Call, reason: BlockReason, now: DateTime<Utc>) -> Step {
    let from = call.status;
    let mut step = Step::new(call.apply(CallEvent::Blocked(reason), now));
    if step.applied() {
        step.audits.push(CallAudit::of(
            call,
            Some(from),
            now,
            AuditKind::Blocked { reason },
        ));
        step.count(format!("blocked.{}", block_name(reason)), 1);
        finish(&mut step, call);
    } else {
        ignored(call, &mut step, now, "blocked");
    }
    step
}

fn block_name(reason: BlockReason) -> &'static str {
    match reason {
        BlockReason::Dnc => "dnc",
        BlockReason::OptOut => "opt_out",
        BlockReason::CallingHours => "calling_hours",
        BlockReason::Duplicate => "duplicate",
    }
}

/// The call's calling hours are closed: it waits, durably, until they open at `until`.
pub fn deferred(call: &mut Call, until: DateTime<Utc>, now: DateTime<Utc>) -> Step {
    let from = call.status;
    if !call.defer(until, now) {
        let mut step = Step::new(Transition::Ignored(crate::status::Ignored::NotApplicable {
            current: from,
        }));
        ignored(call, &mut step, now, "defer");
        return step;
    }
    let mut step = Step::new(Transition::To(call.status));
    step.audits.push(CallAudit::of(
        call,
        Some(from),
        now,
        AuditKind::Deferred {
            reason: DeferReason::CallingHours,
            until: Some(until),
        },
    ));
    step.count("deferred.calling_hours", 1);
    step
}

/// The dial request provably never created a call: the attempt is given back (it does not count
/// against the contact's attempts) and the call waits for a line again from `retry_at`.
pub fn not_placed(
    call: &mut Call,
    reason: &str,
    retry_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Step {
    let from = call.status;
    let attempt = call.attempt_count;
    let mut step = Step::new(call.apply(CallEvent::NotPlaced { retry_at }, now));
    if step.applied() {
        let mut audit = CallAudit::of(
            call,
            Some(from),
            now,
            AuditKind::NotPlaced {
                reason: reason.to_owned(),
            },
        );
        audit.attempt = attempt;
        step.audits.push(audit);
        step.count("attempts", -1);
        step.count("in_flight", -1);
        step.count("not_placed", 1);
        step.effects.push(Effect::ReleaseLeases);
    } else {
        ignored(call, &mut step, now, "not_placed");
    }
    step
}

/// The dial request may have created a call, or not: recorded, and the attempt waits for the
/// provider's word (a callback or a status query) or for its deadline. Nothing changes state.
pub fn uncertain(call: &Call, reason: &str, now: DateTime<Utc>) -> Step {
    let mut step = Step::new(Transition::To(call.status));
    step.audits.push(CallAudit::of(
        call,
        Some(call.status),
        now,
        AuditKind::Uncertain {
            reason: reason.to_owned(),
        },
    ));
    step.count("uncertain", 1);
    step
}

/// What the provider answered when asked about an attempt after a restart, for the audit
/// trail. Nothing changes state: the answer's report, if any, is applied by [`reported`].
pub fn resolved(call: &Call, answer: &str, now: DateTime<Utc>) -> Step {
    let mut step = Step::new(Transition::To(call.status));
    step.audits.push(CallAudit::of(
        call,
        Some(call.status),
        now,
        AuditKind::Resolved {
            answer: answer.to_owned(),
        },
    ));
    step
}

/// An operator, or stopping the campaign, cancels the call.
pub fn cancelled(call: &mut Call, by: &str, now: DateTime<Utc>) -> Step {
    let from = call.status;
    let mut step = Step::new(call.apply(CallEvent::Cancel, now));
    if step.applied() {
        step.audits.push(CallAudit::of(
            call,
            Some(from),
            now,
            AuditKind::Cancelled { by: by.to_owned() },
        ));
        finish(&mut step, call);
    } else {
        ignored(call, &mut step, now, "cancel");
    }
    step
}

/// A provider reported on the call.
pub fn reported(
    call: &mut Call,
    settings: &CampaignSettings,
    report: &ProviderReport,
    now: DateTime<Utc>,
) -> Step {
    let from = call.status;
    if let Some(id) = &report.external_id {
        call.external_call_id = Some(id.clone());
    }
    let raw = AuditKind::ProviderStatus {
        provider: report.provider.clone(),
        raw: report.raw_status.clone(),
        normalized: report.event.as_ref().map(event_name),
        payload: report.payload.clone(),
    };
    let Some(event) = &report.event else {
        // Recorded, not acted on.
        let mut step = Step::new(Transition::Ignored(crate::status::Ignored::NotApplicable {
            current: from,
        }));
        step.audits.push(CallAudit::of(call, Some(from), now, raw));
        return step;
    };
    let mut step = match event {
        ProviderEvent::Ringing => Step::new(call.apply(CallEvent::Ringing, now)),
        ProviderEvent::Answered => Step::new(call.apply(CallEvent::Answered, now)),
        ProviderEvent::Ended {
            outcome,
            duration_secs,
            error_code,
        } => {
            return ended(
                call,
                settings,
                *outcome,
                *duration_secs,
                error_code.clone(),
                Some(raw),
                now,
            );
        }
    };
    let mut audit = CallAudit::of(call, Some(from), now, raw);
    if !step.applied() {
        audit.to_status = None;
    }
    step.audits.push(audit);
    ignored(call, &mut step, now, &event_name(event));
    step
}

fn event_name(e: &ProviderEvent) -> String {
    match e {
        ProviderEvent::Ringing => CallStatus::Ringing.as_str().to_owned(),
        ProviderEvent::Answered => CallStatus::InProgress.as_str().to_owned(),
        ProviderEvent::Ended { outcome, .. } => outcome.as_str().to_owned(),
    }
}

/// No outcome arrived within the ring timeout plus the campaign's max call duration: a
/// retryable FAILED, recorded with `reason` (why nothing was heard).
pub fn timed_out(
    call: &mut Call,
    settings: &CampaignSettings,
    reason: &str,
    now: DateTime<Utc>,
) -> Step {
    let after = u64::from(settings.ring_timeout_secs) + u64::from(settings.max_call_duration_secs);
    let mut step = ended(
        call,
        settings,
        Outcome::Failed,
        0,
        Some("timeout".to_owned()),
        Some(AuditKind::TimedOut { after_secs: after }),
        now,
    );
    if step.applied() {
        call.error_message = Some(format!("{reason}: no outcome within {after} s"));
        step.count("timeouts", 1);
    }
    step
}

/// The provider refused or failed the dial request itself: the attempt is a FAILED.
pub fn dial_failed(
    call: &mut Call,
    settings: &CampaignSettings,
    error: &str,
    now: DateTime<Utc>,
) -> Step {
    let step = ended(
        call,
        settings,
        Outcome::Failed,
        0,
        Some("dial_error".to_owned()),
        None,
        now,
    );
    if step.applied() {
        call.error_message = Some(error.to_owned());
    }
    step
}

fn ended(
    call: &mut Call,
    settings: &CampaignSettings,
    outcome: Outcome,
    duration_secs: u32,
    error_code: Option<String>,
    first_audit: Option<AuditKind>,
    now: DateTime<Utc>,
) -> Step {
    let from = call.status;
    let zones = settings.zones_for(&call.phone_number);
    let decision =
        settings
            .retry
            .next_attempt(outcome, call.attempt_count.max(1), now, zones.as_slice());
    let disposition = match decision.disposition() {
        // The call's own cap may be lower than the policy's (it was created under older settings).
        Disposition::RetryAt { .. } if call.attempt_count >= call.max_attempts => {
            Disposition::Exhausted
        }
        d => d,
    };
    let was_live = from.is_live();
    let transition = call.apply(
        CallEvent::Ended {
            outcome,
            disposition,
        },
        now,
    );
    let mut step = Step::new(transition);
    if let Some(kind) = first_audit {
        let mut audit = CallAudit::of(call, Some(from), now, kind);
        if !step.applied() {
            audit.to_status = None;
        }
        step.audits.push(audit);
    }
    if !step.applied() {
        ignored(call, &mut step, now, outcome.as_str());
        return step;
    }
    call.total_call_time += duration_secs;
    if let Some(code) = &error_code {
        call.error_message.get_or_insert_with(|| code.clone());
        step.count(format!("error.{code}"), 1);
    }
    step.audits.push(CallAudit::of(
        call,
        Some(from),
        now,
        AuditKind::Ended {
            outcome,
            duration_secs,
            disposition,
            error_code,
        },
    ));
    step.count(format!("outcome.{outcome}"), 1);
    step.count("talk_seconds", i64::from(duration_secs));
    if was_live {
        step.count("in_flight", -1);
        step.effects.push(Effect::ReleaseLeases);
    }
    if let Disposition::RetryAt { at } = disposition {
        step.count("retries_scheduled", 1);
        step.effects.push(Effect::ScheduleAt(at));
    }
    finish(&mut step, call);
    step
}

#[cfg(test)]
mod tests;
