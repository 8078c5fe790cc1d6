//! The messaging runner: reads due messages from storage in due order and, for each, carries
//! out the engine's decisions — the campaign's state, consent and the opt-out list, quiet hours
//! in the recipient's local time (`messaging::send::gate`), the campaign's and the sender's
//! rate, then the send — writing an auditable decision event for every one.
//!
//! A message is claimed for an attempt (pending → sending, attempts + 1) by a compare-and-set
//! before its request is sent, so no attempt is sent twice; a request whose fate is unknown is
//! never sent again, and its receipt settles it. A failure is retried by the error-code table
//! and the campaign's attempt budget (`messaging::send::after_failure`).

use std::sync::Arc;
use std::time::Duration;

use dialer_engine::messaging::send::{AfterFailure, Gate, after_failure, gate};
use dialer_engine::messaging::{Consent, MessageStatus, MessagingSettings};
use dialer_engine::{Campaign, CampaignState, Clock};
use dialer_storage::Store;
use dialer_storage::messages::{EventKind, Message, MessageEvent, Report};
use serde_json::json;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod receipts;
mod recover;

pub use receipts::RunnerSink;

pub use recover::{SENDING_DEADLINE, UNCERTAIN_REASON};

use super::{Messenger, Messengers, Outbound, SendOutcome};
use crate::rate::Buckets;

/// Due messages read per round.
const ROUND: u32 = 256;
/// Due messages handled at once (checks and claims).
const CONCURRENT: usize = 32;
/// Requests to messaging providers at once, counting those waiting at the departure gate.
const IN_FLIGHT: usize = 256;
/// How often (real time) messages left `sending` are looked for ([`Runner::sweep`]).
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long a paused campaign's messages wait before they are looked at again.
const PAUSED_RECHECK: chrono::Duration = chrono::Duration::seconds(30);
/// How long a message that provably was not sent waits before its attempt is made again.
const NOT_SENT_RETRY: chrono::Duration = chrono::Duration::seconds(5);

/// Where a message takes its rate tokens. At the claim, the buckets set how fast messages are
/// claimed (a claim's token is never wasted on a message that then waits claimed); at the
/// departure, a second set of the same buckets spaces the requests themselves, since claims
/// commit in write rounds and a round's requests would leave together — more in the provider's
/// second than any of ours granted. The first keeps the second's waits short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toll {
    Claim,
    Departure,
}

pub struct Runner {
    store: Arc<dyn Store>,
    messengers: Messengers,
    clock: Arc<dyn Clock>,
    buckets: Buckets,
    wake: Notify,
    in_flight: Arc<Semaphore>,
    /// Messages whose request is in progress in this process (the sweep leaves them alone).
    sending: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Every change the runner made or applied, as it now stands (for watchers: tests, streams).
    changes: tokio::sync::broadcast::Sender<Message>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").finish_non_exhaustive()
    }
}

impl Runner {
    pub fn new(store: Arc<dyn Store>, messengers: Messengers, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            store,
            messengers,
            buckets: Buckets::new(Arc::clone(&clock)),
            clock,
            wake: Notify::new(),
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
            sending: Default::default(),
            changes: tokio::sync::broadcast::channel(1024).0,
        })
    }

    pub fn messengers(&self) -> &Messengers {
        &self.messengers
    }

    /// Every message change from now on (a lagging receiver skips the oldest).
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<Message> {
        self.changes.subscribe()
    }

    fn changed(&self, m: &Message) {
        let _ = self.changes.send(m.clone());
    }

    /// New messages are due: look now rather than at the next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until `stop`; then waits for requests in flight.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut swept_at: Option<Instant> = None;
        loop {
            if swept_at.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                match self.sweep().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        messages = n,
                        "messaging runner: settled messages left sending"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "messaging runner: the sweep failed; trying again later")
                    }
                }
                swept_at = Some(Instant::now());
            }
            let busy = match self.round().await {
                Ok(n) => n == ROUND as usize,
                Err(e) => {
                    tracing::warn!(error = %e, "messaging runner: storage unavailable; retrying");
                    false
                }
            };
            if busy {
                tokio::task::yield_now().await;
                if stop.is_cancelled() {
                    break;
                }
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.clock.real_duration(Duration::from_secs(1))) => {}
            }
        }
        let _ = self.in_flight.acquire_many(IN_FLIGHT as u32).await;
    }

    /// One read of due messages, each handled; how many were read. Up to [`CONCURRENT`] are
    /// handled at once: each waits on storage (its reads, its claim's commit), and one at a time
    /// bounded a node to a few hundred messages a second.
    async fn round(self: &Arc<Self>) -> dialer_storage::Result<usize> {
        use futures::StreamExt;
        let now = self.clock.now();
        let due = self.store.due_messages(now, ROUND).await?;
        let n = due.len();
        let mut campaigns: std::collections::HashMap<_, Option<Campaign>> = Default::default();
        for m in &due {
            if let std::collections::hash_map::Entry::Vacant(e) = campaigns.entry(m.campaign_id) {
                e.insert(self.store.get_campaign(m.campaign_id).await?);
            }
        }
        let handled: Vec<dialer_storage::Result<()>> = futures::stream::iter(due)
            .map(|m| {
                let campaign = campaigns.get(&m.campaign_id).cloned().flatten();
                self.handle(m, campaign)
            })
            .buffer_unordered(CONCURRENT)
            .collect()
            .await;
        handled
            .into_iter()
            .collect::<dialer_storage::Result<Vec<()>>>()?;
        Ok(n)
    }

    /// The event of a decision about `m`.
    fn decision(&self, m: &Message, decision: &str, detail: serde_json::Value) -> MessageEvent {
        let now = self.clock.now();
        MessageEvent {
            event_id: MessageEvent::new_id(now),
            kind: EventKind::Decision,
            at: now,
            phone_number: Some(m.phone_number.clone()),
            message_id: Some(m.message_id.clone()),
            raw: json!({}),
            normalized: json!({"decision": decision, "attempt": m.attempts, "detail": detail}),
        }
    }

    /// A decision that moved nothing (the message was moved already), stored.
    async fn decide(&self, m: &Message, decision: &str, detail: serde_json::Value) {
        crate::metrics::message_decision(m.campaign_id, decision);
        let event = self.decision(m, decision, detail);
        if let Err(e) = self.store.add_message_event(event).await {
            tracing::warn!(error = %e, message_id = %m.message_id, "decision event not stored");
        }
    }

    /// Moves a message from where `m` stands to `to`, with the decision that did it, in one
    /// write; whether it moved (another hand moved it first otherwise).
    async fn settle(
        &self,
        m: &Message,
        to: Message,
        decision: &str,
        detail: serde_json::Value,
    ) -> dialer_storage::Result<bool> {
        let event = self.decision(&to, decision, detail);
        let done = self
            .store
            .transition_noting(m.status, m.attempts, &to, event)
            .await?;
        if done {
            crate::metrics::message_decision(to.campaign_id, decision);
            self.changed(&to);
        }
        Ok(done)
    }

    async fn handle(
        self: &Arc<Self>,
        m: Message,
        campaign: Option<Campaign>,
    ) -> dialer_storage::Result<()> {
        let now = self.clock.now();
        let mut next = m.clone();
        next.updated_at = now;
        let Some(campaign) = campaign else {
            next.status = MessageStatus::Cancelled;
            next.reason = Some("the campaign is gone".into());
            self.settle(&m, next, "cancelled", json!({"reason": "campaign gone"}))
                .await?;
            return Ok(());
        };
        match campaign.state {
            CampaignState::Running => {}
            CampaignState::Draft | CampaignState::Paused => {
                next.due_at = now + PAUSED_RECHECK;
                self.store.transition(m.status, m.attempts, &next).await?;
                return Ok(());
            }
            CampaignState::Stopped | CampaignState::Completed => {
                next.status = MessageStatus::Cancelled;
                next.reason = Some(format!("the campaign is {}", campaign.state.as_str()));
                self.settle(
                    &m,
                    next,
                    "cancelled",
                    json!({"campaign": campaign.state.as_str()}),
                )
                .await?;
                return Ok(());
            }
        }
        let settings = &campaign.settings;
        let Some(messaging) = &settings.messaging else {
            next.status = MessageStatus::Blocked;
            next.reason = Some("the campaign has no messaging settings".into());
            self.settle(
                &m,
                next,
                "blocked",
                json!({"reason": "not a messaging campaign"}),
            )
            .await?;
            return Ok(());
        };
        let consent = self
            .store
            .get_recipient(&m.phone_number)
            .await?
            .map_or(Consent::Unknown, |r| r.consent);
        let listed = !self.store.check_dnc(&m.phone_number).await?.is_empty();
        let zones = settings.zones_for(&m.phone_number);
        match gate(
            consent,
            listed,
            messaging.require_opt_in,
            &settings.calling_hours,
            zones.as_slice(),
            now,
        ) {
            Gate::Send => {}
            Gate::Block(why) => {
                next.status = MessageStatus::Blocked;
                next.reason = Some(why.as_str().into());
                self.settle(&m, next, "blocked", json!({"reason": why.as_str()}))
                    .await?;
                return Ok(());
            }
            Gate::Defer(until) => {
                next.due_at = until;
                next.reason = Some("quiet hours".into());
                self.settle(&m, next, "deferred", json!({"until": until}))
                    .await?;
                return Ok(());
            }
        }
        let Some(messenger) = self.messengers.get(&settings.provider).cloned() else {
            next.status = MessageStatus::Blocked;
            next.reason = Some(format!(
                "no messenger {:?} is configured",
                settings.provider
            ));
            self.settle(&m, next, "blocked", json!({"reason": "no messenger"}))
                .await?;
            return Ok(());
        };
        self.pace(&campaign, messaging, Toll::Claim).await;
        // The claim: no attempt is sent unless this compare-and-set wins.
        next.status = MessageStatus::Sending;
        next.attempts = m.attempts + 1;
        next.reason = None;
        next.updated_at = self.clock.now();
        if !self
            .settle(
                &m,
                next.clone(),
                "send",
                json!({"provider": settings.provider}),
            )
            .await?
        {
            return Ok(());
        }
        self.dispatch(messenger, next, &campaign).await;
        Ok(())
    }

    /// Takes a token from the campaign's and the sender's buckets at `toll`.
    async fn pace(&self, campaign: &Campaign, messaging: &MessagingSettings, toll: Toll) {
        let settings = &campaign.settings;
        let at = match toll {
            Toll::Claim => "",
            Toll::Departure => "departure:",
        };
        let mut buckets = Vec::new();
        if let Some(rate) = messaging.max_messages_per_second {
            buckets.push((format!("{at}campaign:{}", campaign.id), rate));
        }
        if let Some(rate) = messaging.max_messages_per_second_per_sender {
            let sender = settings
                .caller_id
                .as_ref()
                .map_or_else(|| settings.provider.clone(), |c| c.as_str().to_owned());
            buckets.push((format!("{at}sender:{sender}"), rate));
        }
        if self.buckets.take(&buckets).await && toll == Toll::Claim {
            crate::metrics::message_rate_wait(campaign.id);
        }
    }

    /// Sends the claimed attempt `next` in a task and applies the answer.
    async fn dispatch(
        self: &Arc<Self>,
        messenger: Arc<dyn Messenger>,
        next: Message,
        campaign: &Campaign,
    ) {
        let Some(messaging) = campaign.settings.messaging.clone() else {
            return;
        };
        let out = Outbound {
            message_id: next.message_id.clone(),
            campaign_id: next.campaign_id,
            attempt: next.attempts,
            channel: next.channel,
            to: next.phone_number.clone(),
            from: campaign.settings.caller_id.clone(),
            body: next.body.clone(),
        };
        let permit = Arc::clone(&self.in_flight).acquire_owned().await;
        self.sending_here(&out.message_id, true);
        let this = Arc::clone(self);
        let campaign = campaign.clone();
        tokio::spawn(async move {
            let _permit = permit;
            this.pace(&campaign, &messaging, Toll::Departure).await;
            let outcome = messenger.send(&out).await;
            crate::metrics::message_sent(out.campaign_id, out.channel.as_str(), &outcome);
            if let Err(e) = this.after_send(next, &messaging, outcome).await {
                tracing::warn!(error = %e, message_id = %out.message_id, "a send's answer is not stored; its receipt or the sweep will settle it");
            }
            this.sending_here(&out.message_id, false);
        });
    }

    /// Marks a message's request as in progress in this process, or no longer.
    fn sending_here(&self, id: &str, sending: bool) {
        let mut here = self.sending.lock().unwrap_or_else(|p| p.into_inner());
        if sending {
            here.insert(id.to_owned());
        } else {
            here.remove(id);
        }
    }

    async fn after_send(
        &self,
        m: Message,
        messaging: &MessagingSettings,
        outcome: SendOutcome,
    ) -> dialer_storage::Result<()> {
        let now = self.clock.now();
        let report = |status, sid, code, reason| Report {
            status,
            provider_sid: sid,
            error_code: code,
            reason,
            at: now,
        };
        match outcome {
            SendOutcome::Accepted { sid, status } => {
                if let Some(moved) = self
                    .store
                    .apply_report(&m.message_id, report(status, Some(sid), None, None))
                    .await?
                {
                    self.changed(&moved);
                }
            }
            SendOutcome::Rejected { code, message } => {
                let failed = report(MessageStatus::Failed, None, code, Some(message));
                if let Some(now_failed) = self.store.apply_report(&m.message_id, failed).await? {
                    self.changed(&now_failed);
                    self.after_failure(&now_failed, messaging).await?;
                }
            }
            SendOutcome::NotSent { reason } => {
                // Provably never sent: the attempt is given back.
                let mut back = m.clone();
                back.status = MessageStatus::Pending;
                back.attempts = m.attempts - 1;
                back.due_at = now + NOT_SENT_RETRY;
                back.reason = Some(reason.clone());
                back.updated_at = now;
                self.settle(&m, back, "not_sent", json!({"reason": reason}))
                    .await?;
                self.wake();
            }
            SendOutcome::Uncertain { reason } => {
                self.decide(&m, "uncertain", json!({"reason": reason}))
                    .await;
            }
        }
        Ok(())
    }

    /// A failed attempt: sent again, given up, or the recipient's opt-out recorded.
    async fn after_failure(
        &self,
        m: &Message,
        messaging: &MessagingSettings,
    ) -> dialer_storage::Result<()> {
        let now = self.clock.now();
        match after_failure(m.error_code.as_deref(), m.attempts, messaging, now) {
            AfterFailure::Retry(at) => {
                // The failed attempt's code stays in its decision event; the message's own
                // error code is its last attempt's, so aggregates count only what failed.
                let mut again = m.clone();
                again.status = MessageStatus::Pending;
                again.due_at = at;
                again.error_code = None;
                again.reason = Some(format!(
                    "attempt {} failed ({}); sent again",
                    m.attempts,
                    m.error_code.as_deref().unwrap_or("no code")
                ));
                again.updated_at = now;
                self.settle(m, again, "retry", json!({"at": at, "code": m.error_code}))
                    .await?;
            }
            AfterFailure::GiveUp => {
                self.decide(m, "given_up", json!({"code": m.error_code}))
                    .await;
            }
            AfterFailure::OptOut => {
                self.store
                    .set_consent(&m.phone_number, Consent::OptedOut, now)
                    .await?;
                self.decide(m, "opted_out", json!({"code": m.error_code}))
                    .await;
            }
        }
        Ok(())
    }
}
