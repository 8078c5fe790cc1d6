use chrono::TimeZone;

use super::*;
use crate::call::{CallOrigin, NewCall};
use crate::ids::{CallId, CampaignId};

fn settings() -> CampaignSettings {
    let retry = crate::retry::RetryPolicy::from_yaml(
        "max_attempts: 2\nrules:\n  - {day_of_week: daily, start_time: '00:00', end_time: '24:00', retry_interval_minutes: 10}\n",
    )
    .unwrap();
    CampaignSettings {
        retry,
        ..CampaignSettings::default()
    }
}

fn t(m: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap() + chrono::Duration::minutes(m)
}

fn call() -> Call {
    Call::new(
        NewCall {
            call_id: CallId::generate(t(0)),
            campaign_id: CampaignId::new(1).unwrap(),
            contact_id: None,
            phone_number: "+12125550100".parse().unwrap(),
            origin: CallOrigin::Api,
            max_attempts: 2,
            scheduled_at: None,
        },
        t(0),
    )
}

fn report(event: Option<ProviderEvent>, raw: &str) -> ProviderReport {
    ProviderReport {
        provider: "sim".into(),
        raw_status: raw.into(),
        event,
        external_id: Some("SIM1".into()),
        payload: None,
    }
}

fn counter(step: &Step, name: &str) -> i64 {
    step.counters
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, d)| d)
        .sum()
}

#[test]
fn an_unanswered_attempt_retries_then_exhausts_at_the_cap() {
    let s = settings();
    let mut c = call();
    let step = dial_started(&mut c, "sim", Some(7), t(0));
    assert_eq!(counter(&step, "attempts"), 1);
    assert_eq!(counter(&step, "in_flight"), 1);
    let rnr = Some(ProviderEvent::Ended {
        outcome: Outcome::Rnr,
        duration_secs: 0,
        error_code: None,
    });
    let step = reported(&mut c, &s, &report(rnr.clone(), "no-answer"), t(1));
    assert_eq!(c.status, CallStatus::Retrying);
    assert_eq!(step.retry_at(), Some(t(11)));
    assert!(step.effects.contains(&Effect::ReleaseLeases));
    assert_eq!(counter(&step, "in_flight"), -1);
    assert_eq!(counter(&step, "outcome.RNR"), 1);
    assert_eq!(c.external_call_id.as_deref(), Some("SIM1"));
    // The raw status is kept beside the decision.
    assert!(
        matches!(&step.audits[0].kind, AuditKind::ProviderStatus { raw, .. } if raw == "no-answer")
    );
    due(&mut c, t(11));
    dial_started(&mut c, "sim", Some(8), t(11));
    let step = reported(&mut c, &s, &report(rnr, "no-answer"), t(12));
    assert_eq!(c.status, CallStatus::Exhausted);
    assert_eq!(step.retry_at(), None);
    assert!(step.effects.contains(&Effect::Finished));
    assert_eq!(counter(&step, "status.EXHAUSTED"), 1);
}

#[test]
fn a_duplicate_outcome_changes_nothing_and_is_audited_as_ignored() {
    let s = settings();
    let mut c = call();
    dial_started(&mut c, "sim", None, t(0));
    let picked = Some(ProviderEvent::Ended {
        outcome: Outcome::Picked,
        duration_secs: 30,
        error_code: None,
    });
    let first = reported(&mut c, &s, &report(picked.clone(), "completed"), t(1));
    assert_eq!(c.total_call_time, 30);
    assert_eq!(counter(&first, "status.PICKED"), 1);
    let again = reported(&mut c, &s, &report(picked, "completed"), t(2));
    assert!(!again.applied());
    assert!(again.counters.is_empty(), "nothing counts twice");
    assert!(again.effects.is_empty());
    assert_eq!(c.total_call_time, 30);
    assert!(
        again
            .audits
            .iter()
            .any(|a| matches!(a.kind, AuditKind::Ignored { .. }))
    );
}

#[test]
fn unknown_statuses_are_recorded_not_acted_on() {
    let s = settings();
    let mut c = call();
    dial_started(&mut c, "twilio", None, t(0));
    let step = reported(&mut c, &s, &report(None, "queued-for-carrier"), t(1));
    assert!(!step.applied());
    assert_eq!(c.status, CallStatus::Dialing);
    assert_eq!(step.audits.len(), 1);
}

#[test]
fn silence_past_the_ring_timeout_and_max_duration_is_a_retryable_failure() {
    let s = settings();
    let mut c = call();
    dial_started(&mut c, "sim", None, t(0));
    let step = timed_out(&mut c, &s, "no report", t(61));
    assert_eq!(c.status, CallStatus::Retrying);
    assert_eq!(c.last_outcome, Some(Outcome::Failed));
    assert!(matches!(
        step.audits[0].kind,
        AuditKind::TimedOut { after_secs: 3630 }
    ));
    assert_eq!(counter(&step, "timeouts"), 1);
    assert_eq!(counter(&step, "error.timeout"), 1);
    assert_eq!(
        c.error_message.as_deref(),
        Some("no report: no outcome within 3630 s"),
        "the reason is recorded"
    );
}

#[test]
fn an_attempt_that_was_never_placed_is_given_back() {
    let s = settings();
    let mut c = call();
    let dial = dial_started(&mut c, "http", Some(3), t(0));
    let step = not_placed(&mut c, "connection refused", t(1), t(0));
    assert_eq!(
        (c.status, c.attempt_count, c.due_at),
        (CallStatus::Initiated, 0, Some(t(1)))
    );
    // The counters it took are given back, and its leases.
    assert_eq!(counter(&dial, "attempts") + counter(&step, "attempts"), 0);
    assert_eq!(counter(&dial, "in_flight") + counter(&step, "in_flight"), 0);
    assert!(step.effects.contains(&Effect::ReleaseLeases));
    assert!(
        matches!(&step.audits[0].kind, AuditKind::NotPlaced { reason } if reason == "connection refused")
    );
    assert_eq!(
        step.audits[0].attempt, 1,
        "audited against the attempt it gives back"
    );
    // The next dial is attempt 1 again, and the policy still allows every attempt.
    dial_started(&mut c, "http", Some(4), t(1));
    assert_eq!(c.attempt_count, 1);
    let rnr = Some(ProviderEvent::Ended {
        outcome: Outcome::Rnr,
        duration_secs: 0,
        error_code: None,
    });
    reported(&mut c, &s, &report(rnr, "no-answer"), t(2));
    assert_eq!(c.status, CallStatus::Retrying);
    // Only a dial in progress can turn out not to have been placed.
    let again = not_placed(&mut c, "late", t(3), t(2));
    assert!(!again.applied());
    assert!(again.counters.is_empty());
}

#[test]
fn an_uncertain_dial_is_recorded_and_changes_nothing() {
    let mut c = call();
    dial_started(&mut c, "twilio", None, t(0));
    let step = uncertain(&c, "timed out after 10 s", t(0));
    assert_eq!(c.status, CallStatus::Dialing);
    assert!(matches!(&step.audits[0].kind, AuditKind::Uncertain { .. }));
    assert!(step.effects.is_empty(), "the line stays held");
}

#[test]
fn a_closed_calling_window_moves_the_due_time_and_keeps_the_call_queued() {
    let mut c = call();
    let step = deferred(&mut c, t(600), t(0));
    assert!(step.applied());
    assert_eq!((c.status, c.due_at), (CallStatus::Initiated, Some(t(600))));
    assert!(matches!(
        step.audits[0].kind,
        AuditKind::Deferred { until: Some(u), .. } if u == t(600)
    ));
    dial_started(&mut c, "sim", None, t(600));
    assert!(
        !deferred(&mut c, t(700), t(601)).applied(),
        "a dialed call is not deferred"
    );
}

#[test]
fn steps_fold_into_one_write() {
    let mut c = call();
    c.status = CallStatus::Retrying;
    let step = due(&mut c, t(0)).then(dial_started(&mut c, "sim", None, t(0)));
    assert_eq!(step.transition, Transition::To(CallStatus::Dialing));
    let kinds: Vec<&str> = step.audits.iter().map(|a| a.kind.name()).collect();
    assert_eq!(kinds, ["due", "dialed"]);
}

#[test]
fn blocking_finishes_the_call() {
    let mut c = call();
    let step = blocked(&mut c, BlockReason::OptOut, t(0));
    assert_eq!(c.status, CallStatus::BlockedOptOut);
    assert_eq!(counter(&step, "blocked.opt_out"), 1);
    assert!(step.effects.contains(&Effect::Finished));
    assert!(
        !step.effects.contains(&Effect::ReleaseLeases),
        "it never held a line"
    );
}
