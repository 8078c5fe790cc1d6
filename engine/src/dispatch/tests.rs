use std::collections::{BTreeSet, HashSet};

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::campaign::CampaignSettings;
use crate::hours::ZonePolicy;

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 6, 14, 0, 0).unwrap() + chrono::Duration::seconds(s)
}

fn id(n: u32) -> CallId {
    CallId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1))
}

#[test]
fn the_one_off_share_is_rounded_down_and_never_every_line() {
    let cases = [
        (1, 10, 0),
        (2, 10, 0),
        (9, 10, 0),
        (10, 10, 1),
        (19, 10, 1),
        (100, 10, 10),
        (1000, 0, 0),
        (5, 100, 4),
        (7, 250, 6),
    ];
    for (total, share, reserved) in cases {
        let lines = Lines::new(total, share);
        assert_eq!(lines.reserved, reserved, "{total} lines, {share}%");
        assert_eq!(lines.limit(Lane::List), total - reserved);
        assert_eq!(lines.limit(Lane::OneOff), total);
    }
}

#[test]
fn a_campaign_above_the_global_cap_keeps_its_share_of_the_lines_it_can_get() {
    let settings = CampaignSettings {
        max_concurrent: 400,
        one_off_share_percent: 50,
        ..CampaignSettings::default()
    };
    assert_eq!(Lines::of(&settings, 100), Lines::new(100, 50));
    assert_eq!(Lines::of(&settings, 100).limit(Lane::List), 50);
    assert_eq!(Lines::of(&settings, 1000), Lines::new(400, 50));
}

#[test]
fn one_off_calls_take_the_next_free_line_and_the_list_keeps_out_of_the_reserve() {
    let lines = Lines::new(10, 20);
    let busy = |one_off, list| Busy { one_off, list };
    assert_eq!(next_lane(lines, busy(0, 0), true, true), Some(Lane::OneOff));
    assert_eq!(next_lane(lines, busy(0, 7), false, true), Some(Lane::List));
    assert_eq!(
        next_lane(lines, busy(0, 8), false, true),
        None,
        "two lines stay free for one-off calls"
    );
    assert_eq!(next_lane(lines, busy(0, 8), true, true), Some(Lane::OneOff));
    assert_eq!(
        next_lane(lines, busy(2, 8), true, true),
        None,
        "every line held"
    );
    assert_eq!(
        next_lane(lines, busy(9, 0), false, true),
        Some(Lane::List),
        "one-off calls may use every line; the list takes what is left"
    );
}

proptest! {
    #[test]
    fn lanes_never_exceed_their_lines_and_the_reserve_is_always_there(
        total in 1u32..200,
        share in 0u32..=100,
        one_off in 0u32..200,
        list in 0u32..200,
        one_off_ready: bool,
        list_ready: bool,
    ) {
        let lines = Lines::new(total, share);
        // Only reachable occupancies: the list within its limit, everything within the total.
        let list = list.min(lines.limit(Lane::List));
        let one_off = one_off.min(total - list);
        let busy = Busy { one_off, list };
        match next_lane(lines, busy, one_off_ready, list_ready) {
            Some(Lane::OneOff) => {
                prop_assert!(one_off_ready);
                prop_assert!(busy.total() < total);
            }
            Some(Lane::List) => {
                prop_assert!(list_ready);
                prop_assert!(busy.total() < total);
                prop_assert!(list < lines.limit(Lane::List));
                prop_assert!(!(one_off_ready && busy.total() < total), "one-off calls go first");
            }
            None => {
                // The guarantee: a waiting one-off call below its share always gets a line.
                prop_assert!(!(one_off_ready && one_off < lines.reserved));
                prop_assert!(!(one_off_ready && busy.total() < total));
            }
        }
    }
}

fn settings() -> CampaignSettings {
    let hours = serde_json::from_str(
        r#"[{"day_of_week": "daily", "start_time": "09:00", "end_time": "17:00"}]"#,
    )
    .unwrap();
    CampaignSettings {
        zone_policy: ZonePolicy::Campaign,
        time_zone: chrono_tz::UTC,
        calling_hours: hours,
        ..CampaignSettings::default()
    }
}

#[test]
fn the_last_check_reads_dnc_then_opt_out_then_calling_hours() {
    let s = settings();
    let n: PhoneNumber = "+12125550100".parse().unwrap();
    let open = t(0); // 14:00 UTC
    let both = Listed {
        dnc: true,
        opt_out: true,
    };
    assert_eq!(gate(&s, &n, both, open), Gate::Block(BlockReason::Dnc));
    let opted = Listed {
        dnc: false,
        opt_out: true,
    };
    assert_eq!(gate(&s, &n, opted, open), Gate::Block(BlockReason::OptOut));
    assert_eq!(gate(&s, &n, Listed::default(), open), Gate::Dial);
    let evening = t(4 * 3600); // 18:00
    assert_eq!(
        gate(&s, &n, Listed::default(), evening),
        Gate::Defer {
            until: t(19 * 3600)
        },
        "tomorrow at 09:00"
    );
    // Hours are never open when the DNC list blocks anyway: the block wins.
    assert_eq!(gate(&s, &n, both, evening), Gate::Block(BlockReason::Dnc));
}

#[test]
fn a_queue_holds_the_first_calls_and_knows_where_its_view_ends() {
    let mut q: LaneQueue<u32> = LaneQueue::new(3);
    assert!(q.wants_pull(t(0)), "never read");
    let rows = vec![((t(-5), id(1)), 1), ((t(0), id(2)), 2), ((t(30), id(3)), 3)];
    q.replace(rows, 3, t(0), |_| false);
    assert!(
        !q.drained(),
        "three asked, three came: storage may hold more"
    );
    assert_eq!(q.ready(), 2);
    assert_eq!(q.next_wake(t(0)), Some(t(30)));
    assert!(!q.wants_pull(t(0)), "two ready: enough for now");
    assert_eq!(q.pop().map(|(_, v)| v), Some(1));
    assert_eq!(q.pop().map(|(_, v)| v), Some(2));
    assert_eq!(q.pop(), None, "the third is not due yet");
    assert!(
        !q.wants_pull(t(10)),
        "nothing more can be due before the horizon"
    );
    assert!(
        q.wants_pull(t(30)),
        "at the horizon, storage may hold due calls"
    );
    q.advance(t(30));
    assert_eq!(q.pop().map(|(_, v)| v), Some(3));
    // A short pull drains the lane: then what the owner offers is kept.
    q.replace(vec![((t(40), id(4)), 4)], 3, t(31), |_| false);
    assert!(q.drained());
    assert!(q.offer((t(35), id(5)), 5, t(31)));
    assert_eq!(q.next_wake(t(31)), Some(t(35)));
    // In flight calls read back from storage are not held twice.
    q.replace(vec![((t(1), id(6)), 6)], 3, t(31), |c| c == id(6));
    assert!(q.is_empty());
}

#[test]
fn an_offer_outside_the_view_narrows_it_instead_of_being_lost() {
    let mut q: LaneQueue<u32> = LaneQueue::new(2);
    q.replace(
        vec![((t(10), id(1)), 1), ((t(20), id(2)), 2)],
        2,
        t(0),
        |_| false,
    );
    // Full, and beyond the horizon: it comes with a later pull.
    assert!(!q.offer((t(30), id(3)), 3, t(0)));
    // Full, and before the horizon: the view now ends at it.
    assert!(!q.offer((t(5), id(4)), 4, t(0)));
    assert_eq!(q.next_wake(t(0)), Some(t(5)));
    assert!(
        q.wants_pull(t(5)),
        "at its due time the queue reads storage again"
    );
    assert_eq!(q.next_wake(t(5)), Some(t(10)), "a wake-up is always ahead");
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
    Pull,
    /// Read on after the horizon, at most this many (when the queue says a top-up will do).
    TopUp(usize),
    /// A new pending call due at `s` seconds, offered to the queue (as a nudge is).
    New(i64),
    /// A new pending call the queue is only told exists.
    Hint(i64),
    /// Dial the next ready call.
    Pop,
    /// A call in flight ends; `Some(s)`: it is pending again, due at `s` (a retry).
    Finish(usize, Option<i64>),
    Tick(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Pull),
        3 => (1usize..4).prop_map(Op::TopUp),
        3 => (-20i64..200).prop_map(Op::New),
        1 => (-20i64..200).prop_map(Op::Hint),
        4 => Just(Op::Pop),
        2 => (0usize..8, proptest::option::of(0i64..300)).prop_map(|(i, r)| Op::Finish(i, r)),
        2 => (1i64..60).prop_map(Op::Tick),
    ]
}

proptest! {
    /// The queue against a model of storage: a call is dialed only while pending, never twice
    /// for one pending spell, in due order among what is held; and a pending call that is due
    /// and not held always makes the queue read storage once it runs low.
    #[test]
    fn nothing_pending_is_lost_or_dialed_twice(limit in 1usize..6, ops in proptest::collection::vec(op(), 1..120)) {
        let mut q: LaneQueue<CallId> = LaneQueue::new(limit);
        let mut storage: BTreeSet<Key> = BTreeSet::new();
        let mut in_flight: Vec<CallId> = Vec::new();
        let mut dialed_while_pending: HashSet<Key> = HashSet::new();
        let mut now = 0i64;
        let mut next_id = 0u32;
        for op in ops {
            match op {
                Op::Pull => {
                    let rows: Vec<(Key, CallId)> =
                        storage.iter().take(limit).map(|k| (*k, k.1)).collect();
                    q.replace(rows, limit, t(now), |c| in_flight.contains(&c));
                }
                Op::TopUp(chunk) => {
                    if let Some((after, n)) = q.top_up(t(now), chunk) {
                        prop_assert!(n <= chunk && n >= 1);
                        let rows: Vec<(Key, CallId)> = storage
                            .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                            .take(n)
                            .map(|k| (*k, k.1))
                            .collect();
                        q.extend(rows, n, t(now), |c| in_flight.contains(&c));
                        prop_assert!(q.len() <= limit, "a top-up overfilled the queue");
                    }
                }
                Op::New(s) | Op::Hint(s) => {
                    next_id += 1;
                    let key = (t(now + s), id(next_id));
                    storage.insert(key);
                    match op {
                        Op::New(_) => {
                            q.offer(key, key.1, t(now));
                        }
                        _ => q.mark_dirty(),
                    }
                }
                Op::Pop => {
                    q.advance(t(now));
                    if let Some((key, call)) = q.pop() {
                        prop_assert_eq!(key.1, call);
                        prop_assert!(key.0 <= t(now), "dialed before it was due");
                        prop_assert!(storage.remove(&key), "dialed a call that was not pending");
                        prop_assert!(dialed_while_pending.insert(key), "dialed twice");
                        // Everything still held and ready is due no earlier.
                        storage.iter().filter(|k| q.contains(k.1) && k.0 <= t(now)).for_each(|k| {
                            assert!(*k >= key, "{k:?} was due before {key:?}");
                        });
                        in_flight.push(call);
                    }
                }
                Op::Finish(i, retry) => {
                    if !in_flight.is_empty() {
                        let call = in_flight.remove(i % in_flight.len());
                        if let Some(s) = retry {
                            let key = (t(now + s), call);
                            // A new pending spell of the same call (a retry).
                            dialed_while_pending.remove(&key);
                            storage.insert(key);
                            q.offer(key, call, t(now));
                        }
                    }
                }
                Op::Tick(s) => now += s,
            }
            // Invariants: what is held is pending; what is pending and not held lies beyond the
            // view, or the queue knows it must read again.
            for k in storage.iter() {
                if !q.contains(k.1) {
                    prop_assert!(!q.drained(), "{k:?} pending but the queue thinks it holds all");
                }
            }
            let due_unheld = storage.iter().any(|k| !q.contains(k.1) && k.0 <= t(now));
            if due_unheld {
                let mut probe = q.clone();
                probe.advance(t(now));
                prop_assert!(
                    probe.wants_pull(t(now)) || probe.ready() >= limit.div_ceil(2),
                    "a due call is neither held nor going to be read"
                );
            }
        }
    }
}

#[test]
fn the_board_gives_lines_to_ready_lanes_and_counts_them() {
    let mut b: Board<u32> = Board::new(Lines::new(3, 34), 10);
    b.lane_mut(Lane::List).replace(
        (1..=5).map(|i| ((t(0), id(i)), i)).collect(),
        10,
        t(0),
        |_| false,
    );
    let all = |_: Lane| true;
    assert!(matches!(b.next(t(0), all), Some((Lane::List, _, 1))));
    assert!(matches!(b.next(t(0), all), Some((Lane::List, _, 2))));
    assert!(
        b.next(t(0), all).is_none(),
        "the third line is kept for one-off calls"
    );
    b.lane_mut(Lane::OneOff)
        .replace(vec![((t(0), id(9)), 9)], 10, t(0), |_| false);
    assert!(
        b.next(t(0), |l| l == Lane::List).is_none(),
        "a lane that may not dial gets nothing"
    );
    assert!(matches!(b.next(t(0), all), Some((Lane::OneOff, _, 9))));
    assert_eq!(
        b.busy(),
        Busy {
            one_off: 1,
            list: 2
        }
    );
    b.release(Lane::List);
    assert!(matches!(b.next(t(0), all), Some((Lane::List, _, 3))));
}
