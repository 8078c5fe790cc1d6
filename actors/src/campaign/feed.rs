//! Where a dispatcher's calls come from and where they end: recovering open calls after a
//! restart, pulling the contact list in pages, stopping, completing, and recovering the calls
//! of a window that failed.

use std::collections::HashMap;
use std::sync::Arc;

use dialer_engine::{Call, CallOrigin, CallStatus, CampaignState as Lifecycle, NewCall, decide};
use dialer_storage::WriteBatch;
use ractor::{ActorId, ActorProcessingErr, ActorRef};

use super::admit::zone_key;
use super::{CampaignMessage, CampaignState, Feed};
use crate::ctx::{Ctx, EngineError};
use crate::window::{Take, WindowMessage};

/// Every open call of a feed, from storage.
pub(super) async fn load_open_calls(ctx: &Ctx, feed: Feed) -> Result<Vec<Call>, EngineError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = ctx.store.open_calls(after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.call_id);
        out.extend(page.into_iter().filter(|c| feed.owns(c)));
    }
    Ok(out)
}

impl CampaignState {
    /// Takes up the open calls found at start: live ones are adopted (never dialed again),
    /// queued ones are admitted again, scheduled ones are on the scheduler's wheel already.
    pub(super) async fn recover(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        open: Vec<Call>,
    ) -> Result<(), ActorProcessingErr> {
        let mut adopt: HashMap<String, Vec<(Call, Arc<dialer_engine::Campaign>)>> = HashMap::new();
        let mut queued = Vec::new();
        for call in open {
            if call.status.is_live() {
                let campaign = self.campaign(call.campaign_id).await?;
                let zones = campaign.settings.zones_for(&call.phone_number);
                adopt
                    .entry(zone_key(zones.as_slice()))
                    .or_default()
                    .push((call, campaign));
            } else if call.status == CallStatus::Initiated {
                queued.push(call);
            }
        }
        for (key, calls) in adopt {
            let Some((first, campaign)) = calls.first().cloned() else {
                continue;
            };
            let zones = campaign.settings.zones_for(&first.phone_number);
            let now = self.ctx.now();
            // Outside calling hours the window only drains: it closes as soon as it can.
            let closes_at = match campaign.settings.calling_hours.check(zones.as_slice(), now) {
                dialer_engine::HoursCheck::Open { closes_at } => closes_at,
                _ => Some(now),
            };
            let ids: Vec<_> = calls
                .iter()
                .map(|(c, _)| (c.call_id, c.campaign_id, c.phone_number.clone()))
                .collect();
            let window = self
                .window_for(me, &key, &campaign, closes_at, calls)
                .await?;
            for (call_id, campaign_id, phone) in ids {
                self.window_of.insert(call_id, window);
                let claim = dialer_engine::Call {
                    call_id,
                    campaign_id,
                    phone_number: phone.clone(),
                    ..first.clone()
                };
                self.ctx.claim_number(&claim);
                self.numbers.insert(call_id, (campaign_id, phone));
            }
        }
        self.admit_all(me, queued).await
    }

    /// Pulls the next page of contacts while lines and the read-ahead allow.
    pub(super) async fn pull(
        &mut self,
        me: &ActorRef<CampaignMessage>,
    ) -> Result<(), ActorProcessingErr> {
        let Feed::List(id) = self.feed else {
            return Ok(());
        };
        if self.exhausted || self.paused || self.stopping {
            return Ok(());
        }
        let campaign = self.campaign(id).await?;
        let read_ahead = (campaign.settings.max_concurrent * self.ctx.config.read_ahead_per_line)
            .max(1) as usize;
        let in_memory = self.window_of.len();
        if in_memory >= read_ahead
            || self.deferred.len() >= self.ctx.config.max_deferred_per_campaign
        {
            return Ok(());
        }
        let want = (read_ahead - in_memory) as u32;
        let page = self.ctx.store.contacts_page(id, self.cursor, want).await?;
        let Some(last) = page.last().map(|c| c.id) else {
            self.exhausted = true;
            return Ok(());
        };
        let now = self.ctx.now();
        let mut batch = WriteBatch {
            cursors: vec![(id, last)],
            ..WriteBatch::default()
        };
        let mut calls = Vec::with_capacity(page.len());
        for contact in page {
            let call = Call::new(
                NewCall {
                    call_id: dialer_engine::CallId::generate(now),
                    campaign_id: id,
                    contact_id: Some(contact.id),
                    phone_number: contact.phone_number,
                    origin: CallOrigin::Campaign,
                    max_attempts: campaign.settings.retry.max_attempts(),
                    scheduled_at: None,
                },
                now,
            );
            batch.extend(crate::ctx::batch_of(&call, &decide::created(&call, now)));
            calls.push(call);
        }
        // The calls and the cursor past their contacts are written together: after a crash a
        // contact has exactly one call, never none and never two.
        self.ctx.record(batch).await?;
        self.cursor = Some(last);
        self.outstanding.extend(calls.iter().map(|c| c.call_id));
        self.admit_all(me, calls).await?;
        let _ = me.cast(CampaignMessage::Pull);
        Ok(())
    }

    /// A list campaign whose contacts are all pulled and whose calls are all terminal is done.
    pub(super) async fn check_complete(
        &mut self,
        me: &ActorRef<CampaignMessage>,
    ) -> Result<(), ActorProcessingErr> {
        let Feed::List(id) = self.feed else {
            return Ok(());
        };
        let done =
            self.outstanding.is_empty() && self.window_of.is_empty() && self.deferred.is_empty();
        if !(done && (self.exhausted || self.stopping)) {
            return Ok(());
        }
        if !self.stopping
            && let Some(mut campaign) = self.ctx.store.get_campaign(id).await?
            && campaign.state == Lifecycle::Running
        {
            campaign.state = Lifecycle::Completed;
            campaign.updated_at = self.ctx.now();
            self.ctx.store.update_campaign(&campaign).await?;
            let _ = self.ctx.lifecycle.send((id, Lifecycle::Completed));
            tracing::info!(campaign_id = %id, "campaign completed");
        }
        self.ctx.routes.set_campaign(id, None);
        me.stop(Some("campaign finished".into()));
        Ok(())
    }

    /// Cancels pending work of `campaign_id`: queued, deferred, scheduled and retrying calls.
    /// Calls in flight finish their attempt (and are not retried).
    pub(super) async fn stop(
        &mut self,
        campaign_id: dialer_engine::CampaignId,
    ) -> Result<u32, EngineError> {
        if self.feed == Feed::List(campaign_id) {
            self.stopping = true;
        }
        let now = self.ctx.now();
        let mut cancelled = 0;
        let which = match self.feed {
            Feed::List(_) => Take::All,
            Feed::OneOff => Take::Campaign(campaign_id),
        };
        let mut queued = Vec::new();
        for entry in self.by_id.values() {
            if let Ok(ractor::rpc::CallResult::Success(calls)) = entry
                .actor
                .call(|reply| WindowMessage::TakeQueued { which, reply }, None)
                .await
            {
                queued.extend(calls);
            }
        }
        for call in &queued {
            self.unroute(call.call_id);
        }
        let pending = load_open_calls(&self.ctx, self.feed).await?;
        let queued_ids: Vec<_> = queued.iter().map(|c| c.call_id).collect();
        for mut call in queued.into_iter().chain(
            pending
                .into_iter()
                .filter(|c| !queued_ids.contains(&c.call_id)),
        ) {
            let ours =
                call.campaign_id == campaign_id && !self.window_of.contains_key(&call.call_id);
            if !ours || !call.status.is_pending() {
                continue;
            }
            let step = decide::cancelled(&mut call, "campaign stopped", now);
            if step.applied() {
                self.ctx.record_step(&call, &step).await?;
                self.ctx.unschedule(call.call_id);
                self.deferred.remove(&call.call_id);
                self.outstanding.remove(&call.call_id);
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    pub(super) fn forget_window(&mut self, id: ActorId) {
        if let Some(entry) = self.by_id.remove(&id)
            && self.windows.get(&entry.key) == Some(&id)
        {
            self.windows.remove(&entry.key);
        }
    }

    pub(super) fn window_failed(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        id: ActorId,
    ) -> Result<(), ActorProcessingErr> {
        let Some(entry) = self.by_id.get(&id) else {
            return Ok(());
        };
        let key = entry.key.clone();
        self.forget_window(id);
        self.orphans.entry(key.clone()).or_default().extend(
            self.window_of
                .iter()
                .filter(|(_, w)| **w == id)
                .map(|(call_id, _)| *call_id),
        );
        let policy = self.ctx.config.restart.clone();
        let jitter = self.ctx.jitter();
        let now = self.started.elapsed();
        let tracker = self.window_trackers.entry(key.clone()).or_default();
        match tracker.record_failure(&policy, now, jitter) {
            dialer_engine::RestartDecision::Restart { after, .. } => {
                self.ctx
                    .restarts
                    .windows
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                crate::metrics::restart("window");
                me.send_after(after, move || CampaignMessage::RestartWindow { key });
                Ok(())
            }
            dialer_engine::RestartDecision::GiveUp { failures_in_period } => {
                Err(format!("window {key} failed {failures_in_period} times; giving up").into())
            }
        }
    }

    /// Recovers the calls a failed window held, from storage.
    pub(super) async fn restart_window(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        key: &str,
    ) -> Result<(), ActorProcessingErr> {
        let orphans = self.orphans.remove(key).unwrap_or_default();
        let mut open = Vec::new();
        for call_id in orphans {
            self.unroute(call_id);
            match self.ctx.store.get_call(call_id).await? {
                Some(call) if call.status.is_live() || call.status == CallStatus::Initiated => {
                    open.push(call)
                }
                Some(call) if call.status.is_terminal() => {
                    self.outstanding.remove(&call_id);
                    self.ctx.release_leases(call_id);
                }
                Some(call) => {
                    self.ctx.release_leases(call_id);
                    if let Some(at) = call.next_retry_at() {
                        self.ctx.schedule(&call, at);
                    }
                }
                None => {}
            }
        }
        self.recover(me, open).await
    }
}
