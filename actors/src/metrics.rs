//! Every metric the actor engine exports. Names follow `dialer_<subsystem>_<name>_<unit>`,
//! counters end in `_total`, durations are `_seconds`; labels come from bounded sets
//! (campaign id, outcome, decision, provider, actor kind) — never a phone number or call id.
//! `docs/metrics.md` lists them all.

use std::time::Duration;

use dialer_engine::{CampaignId, Outcome};
use metrics::{counter, gauge, histogram};

pub const CALLS_DIALED: &str = "dialer_calls_dialed_total";
pub const CALL_OUTCOMES: &str = "dialer_call_outcomes_total";
pub const DECISIONS: &str = "dialer_dispatch_decisions_total";
pub const RETRIES: &str = "dialer_retries_scheduled_total";
pub const DISPATCH_LAG: &str = "dialer_dispatch_lag_seconds";
pub const DISPATCH_STEP: &str = "dialer_dispatch_step_seconds";
pub const DUE_TO_DIAL: &str = "dialer_due_to_dial_seconds";
pub const PROVIDER_REQUEST: &str = "dialer_provider_request_duration_seconds";
pub const PROVIDER_FIRST_REPORT: &str = "dialer_provider_first_report_seconds";
pub const PROVIDER_ERRORS: &str = "dialer_provider_errors_total";
pub const PROVIDER_REPORTS: &str = "dialer_provider_reports_total";
pub const PERSIST_RETRIES: &str = "dialer_storage_write_retries_total";
pub const LEASES_HELD: &str = "dialer_leases_held";
pub const LEASE_WAITS: &str = "dialer_lease_waits_total";
pub const LEASE_ERRORS: &str = "dialer_lease_errors_total";
pub const RATE_WAITS: &str = "dialer_rate_limit_waits_total";
pub const STORAGE_WRITE: &str = "dialer_storage_write_duration_seconds";
pub const STORAGE_COMMIT: &str = "dialer_storage_commit_duration_seconds";
pub const STORAGE_BATCH: &str = "dialer_storage_commit_batch_calls";
pub const STORAGE_ERRORS: &str = "dialer_storage_commit_errors_total";
pub const RESTARTS: &str = "dialer_actor_restarts_total";
pub const MESSAGES_SENT: &str = "dialer_messages_sent_total";
pub const MESSAGE_RECEIPTS: &str = "dialer_message_receipts_total";
pub const MESSAGE_DECISIONS: &str = "dialer_message_decisions_total";
pub const MESSAGE_RATE_WAITS: &str = "dialer_message_rate_limit_waits_total";

/// (name, help) of every metric above, registered with the exporter at start-up.
pub const DESCRIPTIONS: &[(&str, &str)] = &[
    (CALLS_DIALED, "Attempts dialed, by campaign."),
    (CALL_OUTCOMES, "Attempt outcomes, by campaign and outcome."),
    (
        DECISIONS,
        "Dispatch decisions (dialed, deferred, blocked), by campaign and decision.",
    ),
    (
        RETRIES,
        "Retries scheduled by the retry policy, by campaign.",
    ),
    (
        DISPATCH_LAG,
        "Real seconds from the moment a call could be dialed (due, with a line of its campaign free) to its dial request.",
    ),
    (
        DISPATCH_STEP,
        "Real seconds each step of the dispatch lag took (owner: to the lease request; leases: the lease store's answer; mailbox: the answer's wait for the owner; slot: to the slot's start; checks: the do-not-call read; record: the dial's write), by step.",
    ),
    (
        DUE_TO_DIAL,
        "Seconds on the engine's clock from a call falling due to its dial, waiting for a line included.",
    ),
    (
        PROVIDER_REQUEST,
        "Seconds a provider took to accept a dial request, by provider.",
    ),
    (
        PROVIDER_FIRST_REPORT,
        "Real seconds from a dial request to the provider's first status report about it, by provider.",
    ),
    (
        PROVIDER_ERRORS,
        "Dial requests a provider refused or failed, by provider.",
    ),
    (
        PROVIDER_REPORTS,
        "Provider status reports received, by provider and whether they changed the call.",
    ),
    (
        PERSIST_RETRIES,
        "State changes retried because storage was unavailable (never dropped).",
    ),
    (
        LEASES_HELD,
        "Concurrency leases held by calls of this node.",
    ),
    (
        LEASE_WAITS,
        "Dispatches that waited because a lease pool was full, by campaign.",
    ),
    (
        LEASE_ERRORS,
        "Lease store operations that failed (the lease store was unreachable).",
    ),
    (
        RATE_WAITS,
        "Dispatches that waited for a rate-limit token, by campaign.",
    ),
    (
        STORAGE_WRITE,
        "Seconds from a state change reaching the recorder to it being durable (its wait for a commit included).",
    ),
    (STORAGE_COMMIT, "Seconds a storage commit took."),
    (STORAGE_BATCH, "Call updates per storage commit."),
    (STORAGE_ERRORS, "Storage commits that failed."),
    (
        RESTARTS,
        "Actors restarted by their supervisor, by kind of actor.",
    ),
    (
        MESSAGES_SENT,
        "Message send requests, by campaign, channel and result (accepted, rejected, not_sent, uncertain).",
    ),
    (
        MESSAGE_RECEIPTS,
        "Message delivery receipts received, by reported status.",
    ),
    (
        MESSAGE_DECISIONS,
        "Messaging runner decisions (send, deferred, blocked, retry, given_up, opted_out, cancelled, not_sent, uncertain), by campaign and decision.",
    ),
    (
        MESSAGE_RATE_WAITS,
        "Message sends that waited for a campaign or sender rate-limit token, by campaign.",
    ),
];

fn campaign(id: CampaignId) -> String {
    id.to_string()
}

pub(crate) fn dialed(id: CampaignId, waited: Duration) {
    counter!(CALLS_DIALED, "campaign" => campaign(id)).increment(1);
    histogram!(DUE_TO_DIAL).record(waited.as_secs_f64());
}

pub(crate) fn dispatch_lag(lag: Duration) {
    histogram!(DISPATCH_LAG).record(lag.as_secs_f64());
}

/// The steps of the dispatch lag, in order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DispatchStep {
    Owner,
    Leases,
    Mailbox,
    Slot,
    Checks,
    Record,
}

pub(crate) fn dispatch_step(step: DispatchStep, took: Duration) {
    let step = match step {
        DispatchStep::Owner => "owner",
        DispatchStep::Leases => "leases",
        DispatchStep::Mailbox => "mailbox",
        DispatchStep::Slot => "slot",
        DispatchStep::Checks => "checks",
        DispatchStep::Record => "record",
    };
    histogram!(DISPATCH_STEP, "step" => step).record(took.as_secs_f64());
}

pub(crate) fn outcome(id: CampaignId, outcome: Outcome) {
    counter!(CALL_OUTCOMES, "campaign" => campaign(id), "outcome" => outcome.as_str()).increment(1);
}

pub(crate) fn decision(id: CampaignId, decision: &'static str) {
    counter!(DECISIONS, "campaign" => campaign(id), "decision" => decision).increment(1);
}

pub(crate) fn retry(id: CampaignId) {
    counter!(RETRIES, "campaign" => campaign(id)).increment(1);
}

/// The number of calls in flight on this node (it is the number of routes to slots).
pub(crate) fn provider_request(provider: &str, took: Duration, ok: bool) {
    histogram!(PROVIDER_REQUEST, "provider" => provider.to_owned()).record(took.as_secs_f64());
    if !ok {
        counter!(PROVIDER_ERRORS, "provider" => provider.to_owned()).increment(1);
    }
}

pub(crate) fn first_report(provider: &str, took: Duration) {
    histogram!(PROVIDER_FIRST_REPORT, "provider" => provider.to_owned()).record(took.as_secs_f64());
}

pub(crate) fn provider_report(provider: &str, applied: bool) {
    let applied = if applied { "true" } else { "false" };
    counter!(PROVIDER_REPORTS, "provider" => provider.to_owned(), "applied" => applied)
        .increment(1);
}

pub(crate) fn persist_retry() {
    counter!(PERSIST_RETRIES).increment(1);
}

pub(crate) fn leases_held(n: usize) {
    gauge!(LEASES_HELD).set(n as f64);
}

pub(crate) fn lease_wait(id: CampaignId) {
    counter!(LEASE_WAITS, "campaign" => campaign(id)).increment(1);
}

pub(crate) fn lease_error() {
    counter!(LEASE_ERRORS).increment(1);
}

pub(crate) fn message_sent(id: CampaignId, channel: &str, outcome: &crate::messenger::SendOutcome) {
    use crate::messenger::SendOutcome as S;
    let result = match outcome {
        S::Accepted { .. } => "accepted",
        S::Rejected { .. } => "rejected",
        S::NotSent { .. } => "not_sent",
        S::Uncertain { .. } => "uncertain",
    };
    counter!(MESSAGES_SENT, "campaign" => campaign(id), "channel" => channel.to_owned(), "result" => result)
        .increment(1);
}

pub(crate) fn message_receipt(status: &'static str) {
    counter!(MESSAGE_RECEIPTS, "message_status" => status).increment(1);
}

pub(crate) fn message_decision(id: CampaignId, decision: &str) {
    counter!(MESSAGE_DECISIONS, "campaign" => campaign(id), "decision" => decision.to_owned())
        .increment(1);
}

pub(crate) fn message_rate_wait(id: CampaignId) {
    counter!(MESSAGE_RATE_WAITS, "campaign" => campaign(id)).increment(1);
}

pub(crate) fn rate_wait(id: CampaignId) {
    counter!(RATE_WAITS, "campaign" => campaign(id)).increment(1);
}

pub(crate) fn storage_write(took: Duration) {
    histogram!(STORAGE_WRITE).record(took.as_secs_f64());
}

pub(crate) fn storage_commit(took: Duration, calls: usize, ok: bool) {
    histogram!(STORAGE_COMMIT).record(took.as_secs_f64());
    histogram!(STORAGE_BATCH).record(calls as f64);
    if !ok {
        counter!(STORAGE_ERRORS).increment(1);
    }
}

pub(crate) fn restart(kind: &'static str) {
    counter!(RESTARTS, "actor" => kind).increment(1);
}
