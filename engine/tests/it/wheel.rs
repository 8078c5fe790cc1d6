//! The timing wheel against a `BTreeMap` model: any sequence of inserts, cancels and advances
//! gives the same expirations, in deadline order, and the same pending set.

use std::collections::BTreeMap;

use dialer_engine::wheel::{TimerId, TimingWheel};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Insert at `elapsed + delta` (negative: in the past).
    Insert(i64),
    /// Cancel the timer created by the n-th insert (it may have fired or been cancelled).
    Cancel(usize),
    /// Advance to `elapsed + delta`; a negative delta asks to go backwards, which must not.
    Advance(i64),
}

/// Deadlines on every level, past ones, and ones beyond the wheel's ~2.2-year span.
fn delta() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0i64..64,
        4 => 0i64..5_000,
        3 => 0i64..400_000,
        2 => 0i64..100_000_000,
        1 => 0i64..200_000_000_000,
        1 => -5_000i64..0,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => delta().prop_map(Op::Insert),
        2 => any::<usize>().prop_map(Op::Cancel),
        3 => delta().prop_map(Op::Advance),
    ]
}

struct Model {
    elapsed: u64,
    /// (deadline, insert sequence) -> item
    pending: BTreeMap<(u64, usize), usize>,
}

fn check(start: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut wheel = TimingWheel::new(start);
    let mut model = Model {
        elapsed: start,
        pending: BTreeMap::new(),
    };
    let mut ids: Vec<(TimerId, u64)> = Vec::new();
    let at = |elapsed: u64, d: i64| elapsed.saturating_add_signed(d);
    let mut ops = ops;
    // Finish by draining everything.
    ops.push(Op::Advance(400_000_000_000));
    for op in ops {
        match op {
            Op::Insert(d) => {
                let when = at(model.elapsed, d);
                let seq = ids.len();
                let id = wheel.insert(when, seq);
                ids.push((id, when));
                model.pending.insert((when, seq), seq);
            }
            Op::Cancel(n) if !ids.is_empty() => {
                let seq = n % ids.len();
                let (id, when) = ids[seq];
                let expected = model.pending.remove(&(when, seq));
                prop_assert_eq!(wheel.cancel(id), expected);
            }
            Op::Cancel(_) => {}
            Op::Advance(d) => {
                let now = at(model.elapsed, d);
                let fired: Vec<(u64, usize)> = wheel.advance(now).collect();
                model.elapsed = model.elapsed.max(now);
                let due: Vec<(u64, usize)> = model
                    .pending
                    .range(..(model.elapsed.saturating_add(1), 0))
                    .map(|(&(when, _), &item)| (when, item))
                    .collect();
                for (when, item) in &due {
                    model.pending.remove(&(*when, *item));
                }
                prop_assert!(
                    fired.windows(2).all(|w| w[0].0 <= w[1].0),
                    "deadline order: {:?}",
                    fired
                );
                let mut fired_sorted = fired.clone();
                fired_sorted.sort_unstable();
                prop_assert_eq!(fired_sorted, due);
            }
        }
        prop_assert_eq!(wheel.len(), model.pending.len());
        match model.pending.keys().next() {
            None => prop_assert_eq!(wheel.next_deadline(), None),
            Some(&(earliest, _)) => {
                let next = wheel.next_deadline();
                prop_assert!(next.is_some());
                let next = next.unwrap_or_default();
                prop_assert!(
                    next <= earliest.max(model.elapsed),
                    "next_deadline {} > earliest {}",
                    next,
                    earliest
                );
                prop_assert!(next >= model.elapsed.min(earliest));
            }
        }
    }
    prop_assert!(wheel.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_wheel_expires_what_the_model_expires(
        start in prop_oneof![Just(0u64), 0u64..1_000_000, 1_700_000_000_000u64..1_800_000_000_000],
        ops in prop::collection::vec(op(), 1..300),
    ) {
        check(start, ops)?;
    }
}

#[test]
fn a_hundred_thousand_timers_fire_in_order() {
    let mut wheel = TimingWheel::new(0);
    // A deterministic spread: an LCG over 0..10^9 ms (~11.5 days).
    let mut x: u64 = 12345;
    for i in 0..100_000u32 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        wheel.insert((x >> 33) % 1_000_000_000, i);
    }
    let mut last = 0;
    let mut count = 0;
    let mut now = 0;
    while !wheel.is_empty() {
        now += 3_600_000;
        for (when, _) in wheel.advance(now) {
            assert!(when >= last && when <= now);
            last = when;
            count += 1;
        }
    }
    assert_eq!(count, 100_000);
}
