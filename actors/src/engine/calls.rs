//! The engine's calls: one-off calls with the duplicate window, provider reports, cancel.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dialer_engine::{
    Call, CallId, CallOrigin, CampaignId, CampaignState, NewCall, PhoneNumber, ProviderReport,
    decide,
};
use dialer_storage::WriteBatch;

use super::Engine;
use crate::campaign::{CampaignMessage, Hint};
use crate::error::EngineError;
use crate::live::{CallbackOutcome, Reported};

impl Engine {
    /// Accepts a one-off call: dialed as soon as caps allow, or at `at`. Returns once the call
    /// is durable; its campaign's owner finds it in storage. A call to the same number in the
    /// same campaign within `dedupe` of an earlier one is refused with
    /// [`EngineError::Duplicate`].
    pub async fn initiate_call(
        &self,
        campaign_id: CampaignId,
        phone: PhoneNumber,
        at: Option<DateTime<Utc>>,
        dedupe: Option<Duration>,
    ) -> Result<Call, EngineError> {
        let campaign = self.campaign(campaign_id).await?;
        if !campaign.is_active {
            return Err(EngineError::Conflict(format!(
                "campaign {campaign_id} is not active"
            )));
        }
        if campaign.archived_at.is_some() {
            return Err(EngineError::Conflict(format!(
                "campaign {campaign_id} is archived"
            )));
        }
        if campaign.state == CampaignState::Stopped {
            return Err(EngineError::Conflict(format!(
                "campaign {campaign_id} is stopped"
            )));
        }
        if !campaign.settings.channel.is_voice() {
            return Err(EngineError::Conflict(format!(
                "campaign {campaign_id} is an {} campaign: it sends messages, not calls",
                campaign.settings.channel.as_str()
            )));
        }
        let now = self.ctx.now();
        if let Some(window) = dedupe {
            self.claim_number(campaign_id, &phone, now, window).await?;
        }
        let origin = if at.is_some_and(|t| t > now) {
            CallOrigin::Scheduled
        } else {
            CallOrigin::Api
        };
        let call = Call::new(
            NewCall {
                call_id: CallId::generate(now),
                campaign_id,
                contact_id: None,
                phone_number: phone.clone(),
                origin,
                max_attempts: campaign.settings.retry.max_attempts(),
                scheduled_at: at,
            },
            now,
        );
        let step = decide::created(&call, now);
        let written = self
            .write_then_hint(&call, crate::ctx::batch_of(&call, &step))
            .await;
        match written {
            Ok(()) => {
                self.ctx.notify(&call);
                Ok(call)
            }
            Err(e) => {
                self.recent
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .release(&(campaign_id, phone));
                Err(e)
            }
        }
    }

    /// Writes a new call and then tells its campaign's owner, in a task of its own: a request
    /// abandoned midway (a client timeout) cannot stop the hint from following a write that
    /// lands — the owner never has to wait for a restart to find an accepted call — and the
    /// hint never comes before the call can be read.
    async fn write_then_hint(&self, call: &Call, batch: WriteBatch) -> Result<(), EngineError> {
        let ctx = Arc::clone(&self.ctx);
        let registry = Arc::clone(&self.registry);
        let (campaign_id, call_id) = (call.campaign_id, call.call_id);
        let task = tokio::spawn(async move {
            let written = ctx.record(batch).await;
            if written.is_ok() {
                registry.hint(campaign_id, Hint::Call(call_id));
            }
            written
        });
        task.await
            .map_err(|e| EngineError::Unavailable(format!("writing the call failed: {e}")))?
    }

    /// The duplicate window, checked and claimed atomically in this process and against
    /// storage (for calls accepted before a restart or by another node).
    async fn claim_number(
        &self,
        campaign_id: CampaignId,
        phone: &PhoneNumber,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<(), EngineError> {
        let since = now - window;
        let key = (campaign_id, phone.clone());
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .claim(key.clone(), now, window)
            .map_err(|retry_after| EngineError::Duplicate { retry_after })?;
        match self
            .ctx
            .store
            .latest_call_to(campaign_id, phone, since)
            .await
        {
            Ok(None) => Ok(()),
            Ok(Some(existing)) => {
                let retry_after = (existing.created_at + window - now).max(Duration::seconds(1));
                Err(EngineError::Duplicate { retry_after })
            }
            Err(e) => {
                self.recent
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .release(&key);
                Err(e.into())
            }
        }
    }

    /// Applies a provider report (a callback) to its call and answers with the result: in
    /// the slot that carries it, through its campaign's owner when it is pending, or — late or
    /// repeated for a call that ended — in this task, where a final state absorbs it.
    pub async fn report(
        &self,
        call_id: CallId,
        report: ProviderReport,
    ) -> Result<CallbackOutcome, EngineError> {
        if let Some(slot) = self.ctx.live.route(call_id) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let sent = slot.send_message(Reported {
                call_id,
                report: report.clone(),
                reply: Some(tx.into()),
            });
            if sent.is_ok() {
                match rx.await {
                    // The slot let go of the call meanwhile: look it up again.
                    Ok(Err(EngineError::NotFound { what: "slot", .. })) | Err(_) => {}
                    Ok(answer) => return answer,
                }
            }
        }
        let call = self.ctx.call(call_id).await?;
        if call.status.is_terminal() {
            return self.absorb(call, &report).await;
        }
        self.ask_owner(call.campaign_id, |reply| CampaignMessage::Report {
            call_id,
            report: report.clone(),
            reply: Some(reply),
        })
        .await?
    }

    /// A report for a call that ended changes nothing; it is recorded in the call's audit
    /// trail, where it says why it was ignored.
    async fn absorb(
        &self,
        mut call: Call,
        report: &ProviderReport,
    ) -> Result<CallbackOutcome, EngineError> {
        let campaign = self.campaign(call.campaign_id).await?;
        let step = decide::reported(&mut call, &campaign.settings, report, self.ctx.now());
        self.ctx
            .record(WriteBatch {
                audits: step.audits.clone(),
                ..WriteBatch::default()
            })
            .await?;
        crate::metrics::provider_report(&report.provider, step.applied());
        Ok(CallbackOutcome::of(&call, &step))
    }

    /// Cancels a call that is not in flight.
    pub async fn cancel_call(&self, call_id: CallId) -> Result<Call, EngineError> {
        let call = self.ctx.call(call_id).await?;
        if call.status.is_terminal() {
            return Err(EngineError::Conflict(format!(
                "call {call_id} is already {}",
                call.status
            )));
        }
        self.ask_owner(call.campaign_id, |reply| CampaignMessage::Cancel {
            call_id,
            reply,
        })
        .await?
    }
}
