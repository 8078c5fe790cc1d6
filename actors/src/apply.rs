//! Applying a provider report to a call that no dialer slot holds (it is queued, waiting for a
//! retry, or its slot is gone): straight from storage, through the same decision functions.

use chrono::{DateTime, Utc};
use dialer_engine::{Call, CallId, Effect, ProviderReport, Step, decide};
use serde::Serialize;

use crate::ctx::{Ctx, EngineError};

/// What a callback did to its call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallbackOutcome {
    pub call: Call,
    /// Whether the report changed the call (a duplicate or late report does not).
    pub applied: bool,
    pub retry_scheduled: bool,
    pub next_retry_at: Option<DateTime<Utc>>,
}

impl CallbackOutcome {
    pub(crate) fn of(call: &Call, step: &Step) -> Self {
        Self {
            call: call.clone(),
            applied: step.applied(),
            retry_scheduled: step.retry_at().is_some(),
            next_retry_at: step.retry_at(),
        }
    }
}

/// Carries out a step's effects other than notifying the owner (which the caller does).
pub(crate) fn carry_out(ctx: &Ctx, call: &Call, step: &Step) {
    for effect in &step.effects {
        match effect {
            Effect::ScheduleAt(at) => {
                crate::metrics::retry(call.campaign_id);
                ctx.schedule(call, *at);
            }
            Effect::ReleaseLeases => {
                crate::metrics::active(-1.0);
                ctx.release_leases(call.call_id);
            }
            Effect::Finished => {}
        }
    }
    if let Some(outcome) = step
        .applied()
        .then_some(call.last_outcome)
        .flatten()
        .filter(|_| {
            step.audits
                .iter()
                .any(|a| matches!(a.kind, dialer_engine::AuditKind::Ended { .. }))
        })
    {
        crate::metrics::outcome(call.campaign_id, outcome);
    }
}

/// Applies `report` to the stored call and persists the result.
pub(crate) async fn apply_direct(
    ctx: &Ctx,
    call_id: CallId,
    report: &ProviderReport,
) -> Result<(Call, Step), EngineError> {
    let call = ctx.call(call_id).await?;
    apply_to(ctx, call, report).await
}

/// [`apply_direct`] to a call already read.
pub(crate) async fn apply_to(
    ctx: &Ctx,
    mut call: Call,
    report: &ProviderReport,
) -> Result<(Call, Step), EngineError> {
    let campaign = ctx
        .store
        .get_campaign(call.campaign_id)
        .await?
        .ok_or_else(|| EngineError::NotFound {
            what: "campaign",
            id: call.campaign_id.to_string(),
        })?;
    let step = decide::reported(&mut call, &campaign.settings, report, ctx.now());
    ctx.record_step(&call, &step).await?;
    crate::metrics::provider_report(&report.provider, step.applied());
    carry_out(ctx, &call, &step);
    Ok((call, step))
}
