//! Giving calls lines: the board picks the next call ([`dialer_engine::dispatch::Board`]); the
//! duplicate guard, the rate buckets and the leases (campaign and engine together; taken in a
//! task, so the lease store's latency or an outage never holds up this actor) must let it
//! through; then a slot dials it — started beside the lease request while leases are granted,
//! after the grant otherwise. A slot that fails is restarted with backoff and adopts its call.

use std::sync::Arc;
use std::time::Duration;

use dialer_engine::dispatch::{Gate, Key, Lane, Listed, gate};
use dialer_engine::{BlockReason, Call, CallId, decide};
use dialer_storage::WriteBatch;
use dialer_storage::pending_key;
use ractor::ActorRef;

use super::leases::{Leased, QUARANTINE_POLL, release, take_leases};
use super::{CampaignMessage, CampaignState};
use crate::lease_keeper::on_store_clock;
use crate::slot::{Job, Lease, LeaseAnswer, Marks, SlotDone, SlotMessage};

/// A call holding one of the campaign's lines: waiting for its leases, or in a slot.
pub(super) struct Line {
    pub(super) lane: Lane,
    pub(super) key: Key,
    pub(super) call: Call,
    /// When it could first have been dialed: due, with a line of its campaign free.
    pub(super) ready: tokio::time::Instant,
    /// When its leases were asked for.
    pub(super) asked: tokio::time::Instant,
    pub(super) slot: Option<ActorRef<SlotMessage>>,
    /// Leases asked for and not answered yet.
    pub(super) leasing: bool,
    /// Its slot was started as its leases were asked for (and is passed their answer).
    pub(super) early: bool,
    /// Its leases were granted to a slot that may not have seen it yet.
    pub(super) granted: bool,
    /// Changed (cancelled, reported on, or its slot done without dialing) while its leases
    /// were being taken: it is not dialed.
    pub(super) void: Option<Call>,
}

/// Rounds of reading and deferring one message may take before the owner wakes itself.
const PUMP_ROUNDS: usize = 4;

impl CampaignState {
    /// Reads what is needed and gives lines to ready calls while lines, rates and leases allow.
    ///
    /// Deferring calls whose calling hours closed can leave a lane empty with storage holding
    /// more that are due, and no line freed to make it read again (a campaign stalled at the
    /// close of its window until its next message): it reads and defers again, a bounded number
    /// of rounds, then wakes itself to go on.
    pub(super) async fn pump(&mut self, me: &ActorRef<CampaignMessage>) {
        for _ in 0..PUMP_ROUNDS {
            if !self.pump_once(me).await {
                return;
            }
            let now = self.ctx.now();
            if !Lane::ALL
                .iter()
                .any(|l| self.board.lane(*l).wants_pull(now))
            {
                return;
            }
        }
        // Any wake will do: 0 is never a timer's generation.
        let _ = me.cast(CampaignMessage::Wake { generation: 0 });
    }

    /// One round of [`pump`](Self::pump): true when it deferred calls (wrote their deferral).
    async fn pump_once(&mut self, me: &ActorRef<CampaignMessage>) -> bool {
        self.refill(me).await;
        let now = self.ctx.now();
        self.board.advance(now);
        let real_now = tokio::time::Instant::now();
        if self.lease_wait.is_some_and(|t| t > real_now)
            || self.rate_wait.is_some_and(|t| t > real_now)
        {
            return false;
        }
        let open = [self.open(Lane::OneOff), self.open(Lane::List)];
        let mut closed = Vec::new();
        while let Some((lane, key, call)) = self.board.next(now, |l| open[l as usize]) {
            if self.duplicate_due(&call, now) {
                self.board.release(lane);
                self.block_duplicate(call).await;
                continue;
            }
            let settings = &self.campaign.settings;
            // Outside its calling hours: deferred here, before it takes leases and a slot (a
            // quarter of the calls handed out when a zone's hours were still closed). The
            // slot's last check still decides for every call that goes on.
            if let Gate::Defer { until } =
                gate(settings, &call.phone_number, Listed::default(), now)
            {
                self.board.release(lane);
                closed.push((call, until));
                continue;
            }
            let cps = self
                .ctx
                .providers
                .get(&settings.provider)
                .and_then(|p| p.max_cps());
            if let Err(wait) =
                self.ctx
                    .rates
                    .try_take(call.campaign_id, settings, &settings.provider, cps)
            {
                crate::metrics::rate_wait(call.campaign_id);
                self.board.lane_mut(lane).put_back(key, call, now);
                self.board.release(lane);
                self.rate_wait = Some(real_now + wait);
                break;
            }
            self.request_leases(me, lane, key, call).await;
        }
        self.defer_closed(closed).await
    }

    /// Writes the deferral of calls whose calling hours are closed, together, and holds them
    /// again at their new due time.
    async fn defer_closed(&mut self, closed: Vec<(Call, chrono::DateTime<chrono::Utc>)>) -> bool {
        if closed.is_empty() {
            return false;
        }
        let now = self.ctx.now();
        let mut batch = WriteBatch::default();
        let mut calls = Vec::with_capacity(closed.len());
        for (mut call, until) in closed {
            let step = decide::when_due(&mut call, now, |call| {
                crate::ctx::defer_to_opening(call, until, now)
            });
            batch.extend(crate::ctx::batch_of(&call, &step));
            calls.push(call);
        }
        if self.ctx.persist(batch).await.is_err() {
            // Not written: storage still has them as they were; read the lanes again.
            for lane in Lane::ALL {
                self.board.lane_mut(lane).mark_dirty();
            }
            return false;
        }
        for call in calls {
            if let Some(key) = pending_key(&call) {
                self.board
                    .lane_mut(Lane::of(call.origin))
                    .offer(key, call, now);
            }
        }
        true
    }

    /// Whether `call` is due while another call to its number is being dialed or in flight:
    /// the duplicate guard (one call per number and campaign at a time).
    pub(super) fn duplicate_due(&self, call: &Call, now: chrono::DateTime<chrono::Utc>) -> bool {
        call.status.is_pending()
            && call.due_at.is_some_and(|d| d <= now)
            && self
                .numbers
                .get(&call.phone_number)
                .is_some_and(|holder| *holder != call.call_id)
    }

    pub(super) async fn block_duplicate(&mut self, mut call: Call) {
        let step = decide::blocked(&mut call, BlockReason::Duplicate, self.ctx.now());
        crate::metrics::decision(call.campaign_id, "blocked_duplicate");
        if let Err(e) = self.ctx.persist_step(&call, &step).await {
            tracing::warn!(error = %e, "could not record a duplicate block");
        }
    }

    /// Takes the call's leases in a task; the answer comes back as a message. While leases are
    /// granted, the call's slot is started at once: its last checks and its dial's record are
    /// made while the lease store answers, and the dial is sent once both are done. After a
    /// refusal (a full pool, a quarantine, the store down) the slot waits for the grant, so a
    /// pool that stays shut records no dial it then gives back.
    async fn request_leases(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        lane: Lane,
        key: dialer_engine::dispatch::Key,
        call: Call,
    ) {
        let call_id = call.call_id;
        // Ready since it fell due or a line freed, whichever came last.
        let real_now = tokio::time::Instant::now();
        let late = call
            .due_at
            .map(|due| self.ctx.now() - due)
            .and_then(|d| d.to_std().ok())
            .map_or(Duration::ZERO, |d| self.ctx.clock.real_duration(d));
        let ready = real_now
            .checked_sub(late)
            .unwrap_or(real_now)
            .max(self.line_freed)
            .min(real_now);
        self.numbers.insert(call.phone_number.clone(), call_id);
        let early = self.leases_flowing.then(|| call.clone());
        self.lines.insert(
            call_id,
            Line {
                lane,
                key,
                call,
                ready,
                asked: real_now,
                slot: None,
                leasing: true,
                early: early.is_some(),
                granted: false,
                void: None,
            },
        );
        let leases = Arc::clone(&self.ctx.leases);
        let pools = self
            .ctx
            .pools(self.id(), self.campaign.settings.max_concurrent);
        let ttl = self.ctx.config.lease_ttl;
        let owner = me.clone();
        tokio::spawn(async move {
            let holder = call_id.to_string();
            let answer = take_leases(leases.as_ref(), &pools, &holder, ttl).await;
            let granted = matches!(answer, Leased::Granted { .. });
            let answered = tokio::time::Instant::now();
            if owner
                .cast(CampaignMessage::Leased {
                    call_id,
                    answer,
                    answered,
                })
                .is_err()
                && granted
            {
                // Nobody will dial it: give the lines back at once rather than at expiry.
                release(leases.as_ref(), &pools, &holder).await;
            }
        });
        if let Some(call) = early {
            let marks = Marks {
                ready,
                asked: real_now,
            };
            let lease = Lease::Asked;
            self.start_slot(me, call_id, Job::Dial { call, lease, marks })
                .await;
        }
    }

    pub(super) async fn on_leased(
        &mut self,
        me: &ActorRef<CampaignMessage>,
        call_id: CallId,
        answer: Leased,
        answered: tokio::time::Instant,
    ) {
        let campaign_id = self.id();
        let granted = matches!(answer, Leased::Granted { .. });
        self.leases_flowing = granted;
        let Some(line) = self.lines.get_mut(&call_id) else {
            if granted {
                self.release_leases(call_id).await;
            }
            return;
        };
        line.leasing = false;
        let (early, void) = (line.early, line.void.take());
        // A full pool is asked again soon on the engine's clock (lines free as fast as it
        // runs); a lease store that is down, after the same time in real time.
        let retry = self.ctx.config.capacity_retry;
        let (token, retry) = match answer {
            Leased::Granted { token } => (Ok(token), retry),
            Leased::Wait => {
                crate::metrics::lease_wait(campaign_id);
                let why = "no line free: the lease pool is full".to_owned();
                (Err(why), self.ctx.clock.real_duration(retry))
            }
            // A quarantine ends on the store's clock, whatever the engine's speed: asked again
            // every few milliseconds at 100×, a fresh pool took ~11,000 round trips to open.
            Leased::Quarantined => {
                crate::metrics::lease_wait(campaign_id);
                let poll = on_store_clock(
                    self.ctx.leases.as_ref(),
                    self.ctx.clock.as_ref(),
                    QUARANTINE_POLL,
                );
                (Err("the lease pool is in quarantine".to_owned()), poll)
            }
            Leased::Failed(e) => {
                crate::metrics::lease_error();
                tracing::warn!(error = %e, "lease store unavailable; dialing waits");
                (Err(format!("the lease store is unavailable: {e}")), retry)
            }
        };
        if !granted {
            self.lease_wait = Some(tokio::time::Instant::now() + retry);
        }
        if let Some(call) = void {
            // Changed while it waited (or its slot is done without dialing): taken as it now is.
            if granted {
                self.release_leases(call_id).await;
            }
            if self.free_line(call_id).is_some() {
                self.take_back(me, call).await;
            }
            return;
        }
        let answer = LeaseAnswer {
            token,
            answered,
            passed: tokio::time::Instant::now(),
        };
        if early {
            // Its slot has recorded the dial (or is recording it), and sends it if granted.
            let passed = self.lines.get_mut(&call_id).is_some_and(|line| {
                line.granted = granted;
                line.slot
                    .as_ref()
                    .is_some_and(|slot| slot.cast(SlotMessage::Leases(answer)).is_ok())
            });
            if !passed {
                // Its slot failed: the call is taken over from what storage says of it.
                if granted {
                    self.release_leases(call_id).await;
                }
                if let Some(line) = self.lines.get_mut(&call_id) {
                    line.granted = false;
                }
                // Its failure, if not reported yet, finds no line to restart when it is.
                self.detach_slot(call_id);
                self.on_restart_slot(me, call_id).await;
            }
            return;
        }
        if !granted {
            if let Some(line) = self.free_line(call_id) {
                let now = self.ctx.now();
                self.board
                    .lane_mut(line.lane)
                    .put_back(line.key, line.call, now);
            }
            return;
        }
        let Some(line) = self.lines.get(&call_id) else {
            return;
        };
        let call = line.call.clone();
        let marks = Marks {
            ready: line.ready,
            asked: line.asked,
        };
        let lease = Lease::Held(answer);
        self.start_slot(me, call_id, Job::Dial { call, lease, marks })
            .await;
    }

    /// Gives back leases granted to a call that will not be dialed on them.
    async fn release_leases(&self, call_id: CallId) {
        let pools = self
            .ctx
            .pools(self.id(), self.campaign.settings.max_concurrent);
        release(self.ctx.leases.as_ref(), &pools, &call_id.to_string()).await;
    }

    /// Takes a call's slot off its line and out of the owner's slots: what that slot reports
    /// later (done, failed) finds nothing to act on.
    fn detach_slot(&mut self, call_id: CallId) -> Option<ActorRef<SlotMessage>> {
        let slot = self.lines.get_mut(&call_id)?.slot.take()?;
        self.slots.remove(&slot.get_id());
        Some(slot)
    }

    /// Frees a call's line; returns what held it.
    pub(super) fn free_line(&mut self, call_id: CallId) -> Option<Line> {
        let line = self.lines.remove(&call_id)?;
        self.line_freed = tokio::time::Instant::now();
        if let Some(slot) = &line.slot {
            self.slots.remove(&slot.get_id());
            slot.stop(None);
        }
        if self.numbers.get(&line.call.phone_number) == Some(&call_id) {
            self.numbers.remove(&line.call.phone_number);
        }
        self.board.release(line.lane);
        Some(line)
    }

    /// A call comes back from a line, as stored: pending again (a retry, a deferral, not
    /// placed) goes back to its lane — or is cancelled if the campaign stopped; in flight gets
    /// a slot to adopt it; final is done.
    pub(super) async fn take_back(&mut self, me: &ActorRef<CampaignMessage>, call: Call) {
        if call.status.is_live() {
            self.adopt(me, call).await;
        } else {
            self.take_back_pending(call).await;
        }
    }

    pub(super) async fn on_slot_done(&mut self, done: SlotDone) {
        let SlotDone { call, leased } = done;
        let call_id = call.call_id;
        if self.lines.get(&call_id).is_some_and(|l| l.leasing) {
            // Done before its leases were answered: the line is freed with their answer.
            if let Some(slot) = self.detach_slot(call_id) {
                slot.stop(None);
            }
            if let Some(line) = self.lines.get_mut(&call_id) {
                line.void = Some(call);
            }
            return;
        }
        let Some(line) = self.free_line(call_id) else {
            return;
        };
        if line.granted && !leased {
            // Granted to a slot that was done before it saw the grant.
            self.release_leases(call_id).await;
        }
        self.restarts.forget(&call_id);
        // Nothing in flight is taken back here: a slot is done only once its call is not.
        if !call.status.is_live() {
            self.take_back_pending(call).await;
        }
    }

    pub(super) async fn take_back_pending(&mut self, mut call: Call) {
        if !call.status.is_pending() {
            return;
        }
        if self.lifecycle() == dialer_engine::CampaignState::Stopped {
            let step = decide::cancelled(&mut call, "campaign stopped", self.ctx.now());
            if let Err(e) = self.ctx.persist_step(&call, &step).await {
                tracing::warn!(error = %e, "could not cancel a call of a stopped campaign");
            }
            return;
        }
        if let Some(key) = pending_key(&call) {
            let now = self.ctx.now();
            self.board
                .lane_mut(Lane::of(call.origin))
                .offer(key, call, now);
        }
    }
}
