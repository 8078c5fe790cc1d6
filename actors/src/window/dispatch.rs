//! A window's dispatch: the head of the queue gets a line, its leases (campaign, then global)
//! and a token from each rate bucket, or waits.

use std::sync::Arc;
use std::time::Duration;

use dialer_engine::{Call, Campaign};
use dialer_storage::lease::{Acquire, PoolId};
use ractor::ActorRef;

use super::{Grant, WindowMessage, WindowState};
use crate::ctx::Ctx;
use crate::slot::SlotMessage;

impl WindowState {
    pub(super) fn arm_retry(&mut self, me: &ActorRef<WindowMessage>, after: Duration) {
        if !self.retry_armed {
            self.retry_armed = true;
            me.send_after(after, || WindowMessage::Dispatch);
        }
    }

    /// Dials from the head of the queue while lines, leases and rate tokens allow.
    pub(super) async fn dispatch(&mut self, me: &ActorRef<WindowMessage>) {
        crate::metrics::queue_depth(
            self.queue.front().map(|q| q.call.campaign_id),
            self.queue.len(),
        );
        while !self.paused && !self.closing {
            if !self.line_available() {
                break;
            }
            let Some(head) = self.queue.front() else {
                break;
            };
            if head.call.status.is_live() {
                // An adopted call waiting for a line.
                if let Some(q) = self.queue.pop_front()
                    && !self.on_adopt(me, q.call, q.campaign).await
                {
                    break;
                }
                continue;
            }
            if head.grant.is_none() {
                match acquire(&self.ctx, &head.call, &head.campaign).await {
                    Ok(Some(grant)) => {
                        if let Some(q) = self.queue.front_mut() {
                            q.grant = Some(grant);
                        }
                    }
                    Ok(None) => {
                        crate::metrics::lease_wait(head.call.campaign_id);
                        self.arm_retry(
                            me,
                            self.ctx.clock.real_duration(self.ctx.config.capacity_retry),
                        );
                        break;
                    }
                    Err(e) => {
                        // Fail closed: no lease, no dial. Try again shortly.
                        tracing::warn!(error = %e, "lease store unavailable; dialing waits");
                        crate::metrics::lease_error();
                        self.arm_retry(
                            me,
                            self.ctx.clock.real_duration(self.ctx.config.capacity_retry),
                        );
                        break;
                    }
                }
            }
            let Some(head) = self.queue.front() else {
                break;
            };
            let settings = &head.campaign.settings;
            let cps = self
                .ctx
                .providers
                .get(&settings.provider)
                .and_then(|p| p.max_cps());
            if let Err(wait) =
                self.ctx
                    .rates
                    .try_take(head.call.campaign_id, settings, &settings.provider, cps)
            {
                crate::metrics::rate_wait(head.call.campaign_id);
                self.arm_retry(me, wait);
                break;
            }
            let Some(slot) = self.take_line(me).await else {
                break;
            };
            let Some(q) = self.queue.pop_front() else {
                self.idle.push(slot);
                break;
            };
            let Some(grant) = q.grant else {
                self.idle.push(slot);
                continue;
            };
            self.track(&q.call, &q.campaign, true);
            let call_id = q.call.call_id;
            if let Some(actor) = &self.lines[slot].actor {
                let _ = actor.cast(SlotMessage::Dial {
                    call: q.call,
                    campaign: Arc::clone(&q.campaign),
                    token: Some(grant.token),
                });
            }
            self.hold(slot, call_id, q.campaign);
        }
    }
}

pub(super) fn pools_for(ctx: &Ctx, call: &Call, campaign: &Campaign) -> Vec<(PoolId, u32)> {
    vec![
        (
            PoolId::campaign(call.campaign_id),
            campaign.settings.max_concurrent,
        ),
        (PoolId::global(), ctx.config.max_concurrent_calls),
    ]
}

/// Takes the campaign's lease, then the global one; `None` when either pool is full.
async fn acquire(
    ctx: &Ctx,
    call: &Call,
    campaign: &Campaign,
) -> Result<Option<Grant>, dialer_storage::lease::LeaseError> {
    let holder = call.call_id.to_string();
    let ttl = ctx.config.lease_ttl;
    let pools = pools_for(ctx, call, campaign);
    let mut token = 0;
    for (i, (pool, limit)) in pools.iter().enumerate() {
        match ctx.leases.acquire(pool, &holder, ttl, *limit).await {
            Ok(Acquire::Granted { token: t }) => token = t,
            Ok(Acquire::Full { .. }) => {
                for (taken, _) in &pools[..i] {
                    let _ = ctx.leases.release(taken, &holder).await;
                }
                return Ok(None);
            }
            Err(e) => {
                for (taken, _) in &pools[..i] {
                    let _ = ctx.leases.release(taken, &holder).await;
                }
                return Err(e);
            }
        }
    }
    Ok(Some(Grant { token }))
}
