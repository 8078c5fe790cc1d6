//! A lane's queue against a model of storage and of the campaign owner that drives it
//! (`actors/src/campaign`): the owner reads the lane as its `refill` does, dials what is ready,
//! and is given calls back in any order its slots allow. A call holding a line stays pending in
//! storage until its slot dials it, and a slot writes a retry before its owner hears of it — so
//! reads see calls the owner holds lines for, and skip them.

use std::collections::BTreeSet;
use std::ops::Bound;

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::ids::CallId;

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

fn id(n: u32) -> CallId {
    CallId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1))
}

/// The most a top-up reads at once (the owner's `STEP`, scaled down to the model's lanes).
const STEP: usize = 3;
/// Rounds of reading and deferring the owner takes per message before it wakes itself.
const PUMP_ROUNDS: usize = 4;

/// A call holding a line.
#[derive(Debug, Clone)]
struct Flight {
    call: CallId,
    key: Key,
    dialed: bool,
    /// Its attempt ended; `Some(key)`: pending again at `key` (a retry), written already.
    ended: Option<Option<Key>>,
}

struct World {
    q: LaneQueue<CallId>,
    /// The lane's pending calls, as storage's index holds them.
    storage: BTreeSet<Key>,
    flights: Vec<Flight>,
    now: i64,
    next_id: u32,
}

impl World {
    fn new(limit: usize) -> Self {
        Self {
            q: LaneQueue::new(limit),
            storage: BTreeSet::new(),
            flights: Vec::new(),
            now: 0,
            next_id: 0,
        }
    }

    fn flying(&self, call: CallId) -> bool {
        self.flights.iter().any(|f| f.call == call)
    }

    /// As `CampaignState::pull`: the first pending calls, asking for as many more as there are
    /// lines held, minus the calls holding lines.
    fn pull(&mut self) {
        let limit = self.q.limit();
        let ask = limit + self.flights.len();
        let read: Vec<Key> = self.storage.iter().take(ask).copied().collect();
        let got = read.len();
        let mut rows: Vec<(Key, CallId)> = read
            .into_iter()
            .filter(|k| !self.flying(k.1))
            .map(|k| (k, k.1))
            .collect();
        let drained = got < ask && rows.len() <= limit;
        rows.truncate(limit);
        let asked = if drained { rows.len() + 1 } else { rows.len() };
        self.q.replace(rows, asked, t(self.now), |_| false);
    }

    /// As `CampaignState::top_up`: strictly after the horizon, skipping calls holding lines.
    fn top_up(&mut self, after: Key, n: usize) -> Result<(), TestCaseError> {
        prop_assert!((1..=STEP).contains(&n), "a top-up of {} asked", n);
        let rows: Vec<(Key, CallId)> = self
            .storage
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(n)
            .map(|k| (*k, k.1))
            .collect();
        let flights = &self.flights;
        self.q.extend(rows, n, t(self.now), |c| {
            flights.iter().any(|f| f.call == c)
        });
        prop_assert!(
            self.q.len() <= self.q.limit(),
            "a top-up overfilled the queue"
        );
        Ok(())
    }

    /// As `CampaignState::refill`.
    fn refill(&mut self) -> Result<(), TestCaseError> {
        let now = t(self.now);
        match self.q.top_up(now, STEP) {
            Some((after, n)) => self.top_up(after, n)?,
            None if self.q.wants_pull(now) => self.pull(),
            None => {}
        }
        Ok(())
    }

    /// Gives the next ready call a line.
    fn pop(&mut self) -> Result<bool, TestCaseError> {
        self.q.advance(t(self.now));
        let Some((key, call)) = self.q.pop() else {
            return Ok(false);
        };
        prop_assert_eq!(key.1, call);
        prop_assert!(key.0 <= t(self.now), "dialed before it was due");
        prop_assert!(self.storage.contains(&key), "dialed a call not pending");
        prop_assert!(
            !self.flying(call),
            "a call holding a line was given another"
        );
        // In due order: nothing still held was due before it.
        for (held, _) in self.q.clone().drain() {
            prop_assert!(
                held.0 > t(self.now) || held > key,
                "{:?} was due before {:?}",
                held,
                key
            );
        }
        self.flights.push(Flight {
            call,
            key,
            dialed: false,
            ended: None,
        });
        Ok(true)
    }

    /// What must hold after every step.
    fn check(&self) -> Result<(), TestCaseError> {
        for (key, _) in self.q.clone().drain() {
            prop_assert!(
                self.storage.contains(&key),
                "{:?} held but not pending",
                key
            );
            prop_assert!(!self.flying(key.1), "{:?} held and holding a line", key);
        }
        for k in &self.storage {
            if !self.q.contains(k.1) && !self.flying(k.1) {
                prop_assert!(
                    !self.q.drained(),
                    "{:?} pending, but the queue thinks it holds all",
                    k
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// The owner's refill, as after every message.
    Refill,
    /// A full read, as when storage said it holds calls the queue has not seen.
    Pull,
    /// A call the owner wrote itself (new list calls, a deferral), due at `s`, offered.
    New(i64),
    /// A pending call the queue is only told exists (a hint it could not place).
    Hint(i64),
    Pop,
    /// A slot dials its call: no longer pending.
    Dial(usize),
    /// A dialed call's attempt ends; `Some(s)`: a retry due at `s`, written by the slot.
    End(usize, Option<i64>),
    /// The owner hears of it and frees the line: an ended call is offered back (when pending);
    /// one never dialed is put back (no lease) or offered (not placed).
    Done(usize, bool),
    Tick(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Refill),
        1 => Just(Op::Pull),
        3 => (-20i64..200).prop_map(Op::New),
        1 => (-20i64..200).prop_map(Op::Hint),
        4 => Just(Op::Pop),
        3 => (0usize..8).prop_map(Op::Dial),
        3 => (0usize..8, proptest::option::of(0i64..300)).prop_map(|(i, r)| Op::End(i, r)),
        3 => (0usize..8, any::<bool>()).prop_map(|(i, b)| Op::Done(i, b)),
        2 => (1i64..60).prop_map(Op::Tick),
    ]
}

impl World {
    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        let n = self.flights.len().max(1);
        match op {
            Op::Refill => self.refill()?,
            Op::Pull => self.pull(),
            Op::New(s) | Op::Hint(s) => {
                self.next_id += 1;
                let key = (t(self.now + s), id(self.next_id));
                self.storage.insert(key);
                if matches!(op, Op::New(_)) {
                    self.q.offer(key, key.1, t(self.now));
                } else {
                    self.q.mark_dirty();
                }
            }
            Op::Pop => {
                self.pop()?;
            }
            Op::Dial(i) => {
                if let Some(f) = self.flights.get_mut(i % n).filter(|f| !f.dialed) {
                    f.dialed = true;
                    self.storage.remove(&f.key);
                }
            }
            Op::End(i, retry) => {
                if let Some(f) = self
                    .flights
                    .get_mut(i % n)
                    .filter(|f| f.dialed && f.ended.is_none())
                {
                    let next = retry.map(|s| (t(self.now + s), f.call));
                    f.ended = Some(next);
                    if let Some(key) = next {
                        self.storage.insert(key);
                    }
                }
            }
            Op::Done(i, put_back) => {
                let Some(f) = self.flights.get(i % n).cloned() else {
                    return Ok(());
                };
                let now = t(self.now);
                match (f.dialed, f.ended) {
                    (true, None) => return Ok(()),
                    (true, Some(next)) => {
                        self.flights.remove(i % n);
                        if let Some(key) = next {
                            self.q.offer(key, f.call, now);
                        }
                    }
                    (false, _) => {
                        self.flights.remove(i % n);
                        if put_back {
                            self.q.put_back(f.key, f.call, now);
                        } else {
                            self.q.offer(f.key, f.call, now);
                        }
                    }
                }
            }
            Op::Tick(s) => self.now += s,
        }
        Ok(())
    }

    /// As the owner's `pump`: reads and gives lines; while calling hours are closed (until
    /// `closed_until`) what it pops is deferred to their opening instead, written together
    /// after the pops and offered back. Deferring can empty the lane with more due in storage
    /// and no line freed to make it read again, so it reads and defers again, `PUMP_ROUNDS` at
    /// most; true when it must wake itself to go on.
    fn pump(&mut self, closed_until: Option<i64>) -> Result<bool, TestCaseError> {
        for _ in 0..PUMP_ROUNDS {
            self.refill()?;
            let Some(until) = closed_until else {
                while self.pop()? {}
                return Ok(false);
            };
            self.q.advance(t(self.now));
            let mut closed = Vec::new();
            while let Some((key, _)) = self.q.pop() {
                prop_assert!(self.storage.contains(&key), "deferred a call not pending");
                closed.push(key);
            }
            if closed.is_empty() {
                return Ok(false);
            }
            for key in closed {
                let deferred = (t(until), key.1);
                self.storage.remove(&key);
                self.storage.insert(deferred);
                self.q.offer(deferred, key.1, t(self.now));
            }
            if !self.q.wants_pull(t(self.now)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Calling hours close, for 500 s, and the owner is left to itself: woken only by its
    /// lines ending (a message each), by its timer (the queue's next wake) or by itself. Every
    /// line's call is dialed and ends (a retry already written stays), and in the end every
    /// pending call is dialed — or the owner is stuck.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        let opens = self.now + 500;
        let mut woken = true;
        let rounds = 4 * (self.storage.len() + self.flights.len() + 4);
        for _ in 0..rounds {
            while !self.flights.is_empty() {
                self.apply(Op::Dial(0))?;
                self.apply(Op::End(0, None))?;
                self.apply(Op::Done(0, false))?;
                woken = true;
            }
            if woken {
                woken = self.pump((self.now < opens).then_some(opens))?;
                self.check()?;
            }
            if self.storage.is_empty() && self.flights.is_empty() {
                return Ok(());
            }
            if !woken && self.flights.is_empty() {
                // Asleep until its timer, if it has one.
                let Some(at) = self.q.next_wake(t(self.now)) else {
                    break;
                };
                self.now = (at - t(0)).num_seconds();
                woken = true;
            }
        }
        prop_assert!(
            self.storage.is_empty(),
            "stuck: {:?} pending and never dialed",
            self.storage
        );
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// A call is dialed only while pending and holding no line, never before it is due; the
    /// queue never claims to hold every pending call while one is neither held nor on a line;
    /// and once the owner's calls end, every pending call is dialed in the end, even when
    /// calling hours close first and the owner wakes only for its lines, its timer and itself.
    #[test]
    fn nothing_pending_is_lost_stuck_or_dialed_twice(
        limit in 1usize..6,
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let mut world = World::new(limit);
        for op in ops {
            world.apply(op)?;
            world.check()?;
        }
        world.finish()?;
    }
}
