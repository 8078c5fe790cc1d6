//! The three timer structures compared in `benches/wheel.rs` and `wheel-memory`, behind one small
//! interface: our [`TimingWheel`], a `BinaryHeap` with lazy cancellation (the usual
//! hand-rolled scheduler), and tokio-util's `DelayQueue` (tokio's own wheel design, with a slab).
//!
//! Deadlines are milliseconds from the start. Every structure holds a 16-byte item, the size of
//! a `CallId`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use dialer_engine::wheel::{TimerId, TimingWheel};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key;

pub type Item = [u8; 16];

/// `n` deadlines spread uniformly over `span_ms`, from a fixed seed.
pub fn deadlines(n: usize, span_ms: u64) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(0x5EED);
    (0..n).map(|_| rng.random_range(1..=span_ms)).collect()
}

pub fn item(i: usize) -> Item {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(i as u64).to_le_bytes());
    b
}

/// A binary heap of (deadline, sequence) with a generation table for O(1) lazy cancel.
#[derive(Debug, Default)]
pub struct HeapTimers {
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    items: Vec<(u32, Option<Item>)>,
}

impl HeapTimers {
    pub fn insert(&mut self, when: u64, item: Item) -> (u32, u32) {
        let index = self.items.len() as u32;
        self.items.push((0, Some(item)));
        self.heap.push(Reverse((when, index, 0)));
        (index, 0)
    }

    pub fn cancel(&mut self, (index, generation): (u32, u32)) -> Option<Item> {
        let slot = self.items.get_mut(index as usize)?;
        if slot.0 != generation {
            return None;
        }
        slot.0 += 1;
        slot.1.take()
    }

    /// Pops everything due at `now`, skipping cancelled entries.
    pub fn advance(&mut self, now: u64, mut f: impl FnMut(u64, Item)) {
        while let Some(Reverse((when, index, generation))) = self.heap.peek().copied() {
            if when > now {
                break;
            }
            self.heap.pop();
            let slot = &mut self.items[index as usize];
            if slot.0 == generation
                && let Some(item) = slot.1.take()
            {
                f(when, item);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// Inserts every deadline into a wheel.
pub fn fill_wheel(deadlines: &[u64]) -> (TimingWheel<Item>, Vec<TimerId>) {
    let mut wheel = TimingWheel::new(0);
    let ids = deadlines
        .iter()
        .enumerate()
        .map(|(i, &d)| wheel.insert(d, item(i)))
        .collect();
    (wheel, ids)
}

/// Advances a wheel through `span_ms` in `step_ms` steps, returning how many fired.
pub fn drain_wheel(wheel: &mut TimingWheel<Item>, span_ms: u64, step_ms: u64) -> usize {
    let mut fired = 0;
    let mut now = 0;
    while now < span_ms {
        now = (now + step_ms).min(span_ms);
        fired += wheel.advance(now).count();
    }
    fired
}

pub fn fill_heap(deadlines: &[u64]) -> (HeapTimers, Vec<(u32, u32)>) {
    let mut heap = HeapTimers::default();
    let ids = deadlines
        .iter()
        .enumerate()
        .map(|(i, &d)| heap.insert(d, item(i)))
        .collect();
    (heap, ids)
}

pub fn drain_heap(heap: &mut HeapTimers, span_ms: u64, step_ms: u64) -> usize {
    let mut fired = 0;
    let mut now = 0;
    while now < span_ms {
        now = (now + step_ms).min(span_ms);
        heap.advance(now, |_, _| fired += 1);
    }
    fired
}

/// A current-thread tokio runtime with paused time, which `DelayQueue` needs for its deadlines.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
}

/// Inserts every deadline into a `DelayQueue`; call inside the paused runtime.
pub fn fill_delay_queue(deadlines: &[u64]) -> (DelayQueue<Item>, Vec<Key>) {
    let start = tokio::time::Instant::now();
    let mut q = DelayQueue::new();
    let keys = deadlines
        .iter()
        .enumerate()
        .map(|(i, &d)| q.insert_at(item(i), start + Duration::from_millis(d)))
        .collect();
    (q, keys)
}

/// Advances paused tokio time through `span_ms` in `step_ms` steps, draining what expires.
/// Run unconstrained: tokio's cooperative budget would otherwise return `Pending` after 128
/// expirations in one poll loop and leave the rest for a later step.
pub async fn drain_delay_queue(q: &mut DelayQueue<Item>, span_ms: u64, step_ms: u64) -> usize {
    tokio::task::unconstrained(drain_delay_queue_inner(q, span_ms, step_ms)).await
}

async fn drain_delay_queue_inner(q: &mut DelayQueue<Item>, span_ms: u64, step_ms: u64) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut fired = 0;
    let mut now = 0;
    while now < span_ms {
        let step = step_ms.min(span_ms - now);
        now += step;
        tokio::time::advance(Duration::from_millis(step)).await;
        while let Poll::Ready(Some(_)) = q.poll_expired(&mut cx) {
            fired += 1;
        }
    }
    fired
}
