//! The in-process messaging simulator: the default messenger, needing no configuration. Each
//! attempt's fate is a pure function of (seed, number, attempt) — read 50 %, delivered 35 %,
//! undelivered with 30003 (unreachable handset: retryable) 10 %, failed with 30006 (landline:
//! permanent) 5 % — and its receipts (`sent`, then the outcome, then `read`) are delivered to
//! the attached sink on the engine's clock. It keeps its own record of every send as a
//! witness: sends, sends repeated for one attempt, the most any number received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use dialer_engine::messaging::MessageStatus;
use dialer_engine::{Clock, PhoneNumber};

use super::{Messenger, Outbound, Receipt, ReceiptSink, SendOutcome};
use crate::provider::sim::mix;

/// What the simulator does with one attempt: its final status and error code.
pub fn message_fate(
    seed: u64,
    to: &PhoneNumber,
    attempt: u32,
) -> (MessageStatus, Option<&'static str>) {
    match mix(seed ^ 0x005E_ED00_0515, to, attempt) % 100 {
        0..50 => (MessageStatus::Read, None),
        50..85 => (MessageStatus::Delivered, None),
        85..95 => (MessageStatus::Undelivered, Some("30003")),
        _ => (MessageStatus::Failed, Some("30006")),
    }
}

/// The simulator's witness: counts, and a hash of each of the last [`ATTEMPTS_KEPT`] attempts
/// sent (so a months-long `dialer serve` on the simulator stays bounded; a repeat of an older
/// attempt would go unseen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageRecord {
    pub sends: u64,
    /// Sends of an attempt already sent.
    pub duplicates: u64,
    /// Sends per number, at most.
    pub max_per_number: u32,
    attempts: std::collections::HashSet<u64>,
    order: std::collections::VecDeque<u64>,
    per_number: HashMap<PhoneNumber, u32>,
}

/// Attempts the witness remembers.
pub const ATTEMPTS_KEPT: usize = 1_000_000;

impl MessageRecord {
    /// Records a send of `attempt` of `message_id`; whether that attempt was sent before.
    fn sent(&mut self, message_id: &str, attempt: u32) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (message_id, attempt).hash(&mut h);
        let key = h.finish();
        self.sends += 1;
        if !self.attempts.insert(key) {
            self.duplicates += 1;
            return true;
        }
        self.order.push_back(key);
        if self.order.len() > ATTEMPTS_KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.attempts.remove(&old);
        }
        false
    }

    /// Attempts remembered.
    pub fn attempts_kept(&self) -> usize {
        self.order.len()
    }
}

#[derive(Default)]
struct State {
    record: MessageRecord,
    sink: Option<Arc<dyn ReceiptSink>>,
    next_sid: u64,
}

pub struct SimMessenger {
    name: String,
    seed: u64,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for SimMessenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimMessenger")
            .field("name", &self.name)
            .finish()
    }
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimMessenger {
    pub fn new(seed: u64, clock: Arc<dyn Clock>) -> Self {
        Self {
            name: "sim".into(),
            seed,
            clock,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Where receipts go.
    pub fn attach(&self, sink: Arc<dyn ReceiptSink>) {
        lock(&self.state).sink = Some(sink);
    }

    pub fn detach(&self) {
        lock(&self.state).sink = None;
    }

    pub fn record(&self) -> MessageRecord {
        lock(&self.state).record.clone()
    }
}

/// Delivers `receipt` after `after` (engine time), trying again while the sink is away.
fn deliver_later(
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    after: Duration,
    receipt: Receipt,
) {
    tokio::spawn(async move {
        tokio::time::sleep(clock.real_duration(after)).await;
        for _ in 0..20 {
            let sink = lock(&state).sink.clone();
            if let Some(sink) = sink
                && sink.deliver(receipt.clone()).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tracing::warn!(message_id = %receipt.message_id, "simulated receipt not delivered");
    });
}

#[async_trait]
impl Messenger for SimMessenger {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, m: &Outbound) -> SendOutcome {
        let sid = {
            let mut s = lock(&self.state);
            let r = &mut s.record;
            r.sent(&m.message_id, m.attempt);
            let per = r.per_number.entry(m.to.clone()).or_default();
            *per += 1;
            r.max_per_number = r.max_per_number.max(*per);
            s.next_sid += 1;
            format!("SMsim{:016x}", s.next_sid)
        };
        let (outcome, code) = message_fate(self.seed, &m.to, m.attempt);
        let receipt = |status, error_code: Option<&str>| Receipt {
            message_id: m.message_id.clone(),
            attempt: m.attempt,
            sid: sid.clone(),
            status,
            error_code: error_code.map(str::to_owned),
        };
        let mut steps = vec![(200, receipt(MessageStatus::Sent, None))];
        if outcome == MessageStatus::Read {
            steps.push((1_000, receipt(MessageStatus::Delivered, None)));
            steps.push((5_000, receipt(MessageStatus::Read, None)));
        } else {
            steps.push((1_000, receipt(outcome, code)));
        }
        for (ms, r) in steps {
            deliver_later(
                Arc::clone(&self.state),
                Arc::clone(&self.clock),
                Duration::from_millis(ms),
                r,
            );
        }
        SendOutcome::Accepted {
            sid,
            status: MessageStatus::Queued,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_witness_sees_a_repeat_and_forgets_only_beyond_its_bound() {
        let mut r = MessageRecord::default();
        assert!(!r.sent("1.launch.1", 1));
        assert!(!r.sent("1.launch.1", 2), "another attempt is no repeat");
        assert!(r.sent("1.launch.1", 1));
        assert_eq!((r.sends, r.duplicates), (3, 1));
        for i in 0..ATTEMPTS_KEPT {
            r.sent(&format!("m{i}"), 1);
        }
        assert_eq!(r.attempts_kept(), ATTEMPTS_KEPT);
        assert!(!r.sent("1.launch.1", 1), "the oldest were forgotten");
        assert!(r.sent(&format!("m{}", ATTEMPTS_KEPT - 1), 1));
    }
}
