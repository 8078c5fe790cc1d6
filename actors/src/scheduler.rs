//! The Scheduler owns the timing wheel: every pending due time of this node (scheduled calls,
//! retries, calling-hour deferrals) sits on it, and one timer — for the wheel's next deadline —
//! wakes it. Due calls are routed to the dispatcher that owns them.
//!
//! On (re)start it rebuilds the wheel from the store's pending schedule; deferrals, which live
//! only in memory, are re-registered by the dispatchers when told to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dialer_engine::clock::unix_ms;
use dialer_engine::{CallId, CallOrigin, CampaignId, TimerId, TimingWheel};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::campaign::CampaignMessage;
use crate::ctx::Ctx;

pub(crate) enum SchedulerMessage {
    /// Fire `Due` for this call at `at` (replacing an earlier timer for it).
    Schedule {
        call_id: CallId,
        campaign_id: CampaignId,
        origin: CallOrigin,
        at: DateTime<Utc>,
    },
    Cancel {
        call_id: CallId,
    },
    /// The timer for the wheel's next deadline fired.
    Tick {
        generation: u64,
    },
    /// Pending timers (for tests and status).
    Pending(RpcReplyPort<usize>),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    call_id: CallId,
    campaign_id: CampaignId,
    origin: CallOrigin,
}

pub(crate) struct SchedulerActor;

pub(crate) struct SchedulerState {
    ctx: Arc<Ctx>,
    wheel: TimingWheel<Entry>,
    timers: HashMap<CallId, (TimerId, u64)>,
    /// The deadline the pending tick is for, and its generation.
    armed: Option<(u64, u64)>,
    generation: u64,
}

impl Actor for SchedulerActor {
    type Msg = SchedulerMessage;
    type State = SchedulerState;
    type Arguments = Arc<Ctx>;

    async fn pre_start(
        &self,
        me: ActorRef<Self::Msg>,
        ctx: Arc<Ctx>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SchedulerState {
            wheel: TimingWheel::new(unix_ms(ctx.now())),
            ctx,
            timers: HashMap::new(),
            armed: None,
            generation: 0,
        };
        state.rebuild().await?;
        state.arm(&me);
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SchedulerMessage::Schedule {
                call_id,
                campaign_id,
                origin,
                at,
            } => state.on_schedule(
                &me,
                Entry {
                    call_id,
                    campaign_id,
                    origin,
                },
                at,
            ),
            SchedulerMessage::Cancel { call_id } => state.on_cancel(call_id),
            SchedulerMessage::Tick { generation } => state.on_tick(&me, generation),
            SchedulerMessage::Pending(reply) => drop(reply.send(state.wheel.len())),
        }
        Ok(())
    }
}

impl SchedulerState {
    /// Loads every scheduled call and pending retry from storage.
    async fn rebuild(&mut self) -> Result<(), ActorProcessingErr> {
        let horizon = self.ctx.now() + chrono::Duration::days(3650);
        let mut after = None;
        loop {
            let page = self.ctx.store.due_calls(horizon, after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.key());
            for d in page {
                self.insert(
                    Entry {
                        call_id: d.call_id,
                        campaign_id: d.campaign_id,
                        origin: d.origin,
                    },
                    d.due_at,
                );
            }
        }
        crate::metrics::wheel_timers(self.wheel.len());
        Ok(())
    }

    fn insert(&mut self, entry: Entry, at: DateTime<Utc>) {
        self.on_cancel(entry.call_id);
        let ms = unix_ms(at);
        let id = self.wheel.insert(ms, entry);
        self.timers.insert(entry.call_id, (id, ms));
    }

    fn on_schedule(&mut self, me: &ActorRef<SchedulerMessage>, entry: Entry, at: DateTime<Utc>) {
        self.insert(entry, at);
        crate::metrics::wheel_timers(self.wheel.len());
        self.arm(me);
    }

    fn on_cancel(&mut self, call_id: CallId) {
        if let Some((id, _)) = self.timers.remove(&call_id) {
            self.wheel.cancel(id);
        }
    }

    fn on_tick(&mut self, me: &ActorRef<SchedulerMessage>, generation: u64) {
        if self.armed.is_some_and(|(_, g)| g != generation) {
            return; // superseded by an earlier deadline
        }
        self.armed = None;
        let now = unix_ms(self.ctx.now());
        let due: Vec<(u64, Entry)> = self.wheel.advance(now).collect();
        for (_, entry) in due {
            self.timers.remove(&entry.call_id);
            self.route(entry);
        }
        crate::metrics::wheel_timers(self.wheel.len());
        self.arm(me);
    }

    fn route(&self, e: Entry) {
        let target = self.ctx.routes.dispatcher(e.campaign_id, e.origin);
        let delivered =
            target.is_some_and(|t| t.cast(CampaignMessage::Due { call_id: e.call_id }).is_ok());
        if !delivered {
            // No dispatcher runs this campaign now (paused and restarting, or not started): the
            // call stays pending in storage and is picked up when its dispatcher loads.
            tracing::debug!(call_id = %e.call_id, campaign_id = %e.campaign_id, "due call has no dispatcher yet");
        }
    }

    /// Keeps exactly one timer: for the wheel's next deadline.
    fn arm(&mut self, me: &ActorRef<SchedulerMessage>) {
        let Some(deadline) = self.wheel.next_deadline() else {
            self.armed = None;
            return;
        };
        if self.armed.is_some_and(|(at, _)| at <= deadline) {
            return;
        }
        self.generation += 1;
        let generation = self.generation;
        self.armed = Some((deadline, generation));
        let now = unix_ms(self.ctx.now());
        if deadline <= now {
            let _ = me.cast(SchedulerMessage::Tick { generation });
        } else {
            let wall = Duration::from_millis(deadline - now);
            // Never zero for a deadline still ahead: a zero sleep would tick before it, forever.
            let delay = self
                .ctx
                .clock
                .real_duration(wall)
                .max(Duration::from_micros(1));
            me.send_after(delay, move || SchedulerMessage::Tick { generation });
        }
    }
}
