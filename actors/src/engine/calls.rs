//! The engine's calls: one-off calls with the duplicate window, provider reports, cancel.

use chrono::{DateTime, Duration, Utc};
use dialer_engine::{
    Call, CallId, CallOrigin, CampaignId, CampaignState, NewCall, PhoneNumber, ProviderReport,
    decide,
};

use crate::apply::{CallbackOutcome, apply_direct, apply_to};
use crate::campaign::CampaignMessage;
use crate::ctx::EngineError;

use super::{Engine, rpc};

impl Engine {
    /// Accepts a one-off call: dialed as soon as caps allow, or at `at`. Returns once the call
    /// is durable. A call to the same number in the same campaign within `dedupe` of an earlier
    /// one is refused with [`EngineError::Duplicate`].
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
        if campaign.state == CampaignState::Stopped {
            return Err(EngineError::Conflict(format!(
                "campaign {campaign_id} is stopped"
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
                phone_number: phone,
                origin,
                max_attempts: campaign.settings.retry.max_attempts(),
                scheduled_at: at,
            },
            now,
        );
        self.ctx
            .record_step(&call, &decide::created(&call, now))
            .await?;
        match call.due_at.filter(|_| origin == CallOrigin::Scheduled) {
            Some(due) => self.ctx.schedule(&call, due),
            None => {
                let pool = self.ctx.routes.one_off().ok_or(EngineError::Stopped)?;
                let _ = pool.cast(CampaignMessage::Admit {
                    calls: vec![call.clone()],
                });
            }
        }
        Ok(call)
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

    /// How many calls this node's dialer slots are carrying now (0 once every call has ended).
    pub fn calls_in_slots(&self) -> usize {
        self.ctx
            .live_calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Applies a provider report (a callback) to its call and answers with the result.
    pub async fn report(
        &self,
        call_id: CallId,
        report: ProviderReport,
    ) -> Result<CallbackOutcome, EngineError> {
        // A call in flight is routed from memory; any other is looked up (and may be unknown).
        let (campaign_id, origin) = match self.ctx.live_route(call_id) {
            Some(route) => route,
            None => {
                let call = self.ctx.call(call_id).await?;
                if call.status.is_terminal() {
                    // A late or repeated report: a terminal state absorbs it, so no actor needs
                    // to order it, and it must not queue behind the campaign's dispatching.
                    return apply_to(&self.ctx, call, &report)
                        .await
                        .map(|(c, s)| CallbackOutcome::of(&c, &s));
                }
                (call.campaign_id, call.origin)
            }
        };
        match self.ctx.routes.dispatcher(campaign_id, origin) {
            Some(actor) => {
                let r = actor
                    .call(
                        |reply| CampaignMessage::Report {
                            call_id,
                            report,
                            reply: Some(reply),
                        },
                        None,
                    )
                    .await;
                rpc(r)?
            }
            // No dispatcher runs this campaign (a late report after it stopped): apply directly.
            None => apply_direct(&self.ctx, call_id, &report)
                .await
                .map(|(c, s)| CallbackOutcome::of(&c, &s)),
        }
    }

    /// Cancels a call that is not in flight.
    pub async fn cancel_call(&self, call_id: CallId) -> Result<Call, EngineError> {
        let call = self.ctx.call(call_id).await?;
        match self.ctx.routes.dispatcher(call.campaign_id, call.origin) {
            Some(actor) => rpc(actor
                .call(|reply| CampaignMessage::CancelCall { call_id, reply }, None)
                .await)?,
            None => {
                let mut call = call;
                if !call.status.is_pending() {
                    return Err(EngineError::Conflict(format!(
                        "call {call_id} is {}",
                        call.status
                    )));
                }
                let step = decide::cancelled(&mut call, "operator", self.ctx.now());
                self.ctx.record_step(&call, &step).await?;
                self.ctx.unschedule(call_id);
                Ok(call)
            }
        }
    }
}
