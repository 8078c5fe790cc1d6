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
fn silence_past_the_max_duration_is_a_retryable_failure() {
    let s = settings();
    let mut c = call();
    dial_started(&mut c, "sim", None, t(0));
    let step = timed_out(&mut c, &s, t(60));
    assert_eq!(c.status, CallStatus::Retrying);
    assert_eq!(c.last_outcome, Some(Outcome::Failed));
    assert!(matches!(
        step.audits[0].kind,
        AuditKind::TimedOut { after_secs: 3600 }
    ));
    assert_eq!(counter(&step, "timeouts"), 1);
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
