use super::*;

#[test]
fn level_math_places_deadlines_by_their_highest_differing_bit_group() {
    // (elapsed, when, level)
    let cases: &[(u64, u64, usize)] = &[
        (0, 1, 0),
        (0, 63, 0),
        (0, 64, 1),
        (0, 4095, 1),
        (0, 4096, 2),
        (0, 262_143, 2),
        (0, 262_144, 3),
        (0, 16_777_216, 4),
        (0, 1_073_741_824, 5),
        (0, TURN - 1, 5),
        // Same 64 ms block as elapsed: level 0 even when the distance is small but crosses nothing.
        (100, 127, 0),
        // Crossing a 64 ms boundary with a 1 ms distance still goes up a level.
        (127, 128, 1),
    ];
    for &(elapsed, when, level) in cases {
        assert_eq!(
            level_for(elapsed, when),
            level,
            "elapsed={elapsed} when={when}"
        );
    }
    assert_eq!(slot_for(0b1_000011, 0), 3);
    assert_eq!(slot_for(0b101_000011, 1), 5);
}

#[test]
fn timers_fire_at_their_deadline_not_before() {
    let mut w = TimingWheel::new(1_000);
    w.insert(1_010, "a");
    w.insert(1_500, "b");
    w.insert(90_000, "c");
    assert_eq!(w.advance(1_009).count(), 0);
    assert_eq!(w.advance(1_010).collect::<Vec<_>>(), [(1_010, "a")]);
    assert_eq!(w.advance(89_999).collect::<Vec<_>>(), [(1_500, "b")]);
    assert_eq!(w.advance(90_000).collect::<Vec<_>>(), [(90_000, "c")]);
    assert!(w.is_empty());
}

#[test]
fn past_deadlines_fire_on_the_next_advance() {
    let mut w = TimingWheel::new(5_000);
    w.insert(10, 1);
    w.insert(5_000, 2);
    assert_eq!(w.next_deadline(), Some(5_000));
    let mut got: Vec<_> = w.advance(5_000).collect();
    got.sort_unstable();
    assert_eq!(got, [(10, 1), (5_000, 2)]);
}

#[test]
fn deadlines_years_away_are_kept_and_fire_on_time() {
    let day = 86_400_000u64;
    let mut w = TimingWheel::new(0);
    w.insert(3 * 365 * day + 7, "far");
    w.insert(2 * day, "near");
    assert_eq!(w.advance(2 * day).collect::<Vec<_>>(), [(2 * day, "near")]);
    assert_eq!(w.advance(3 * 365 * day + 6).count(), 0);
    assert_eq!(w.len(), 1);
    assert_eq!(
        w.advance(3 * 365 * day + 7).collect::<Vec<_>>(),
        [(3 * 365 * day + 7, "far")]
    );
}

#[test]
fn timers_beyond_the_turn_wait_in_overflow_without_blocking_earlier_ones() {
    // One timer just past the end of the current turn, one late inside it: the late-in-turn one
    // must fire first even though both sit at the top of the wheel.
    let mut w = TimingWheel::new(2);
    let id = w.insert(TURN + 5, "next turn");
    w.insert(TURN - 1_000, "this turn");
    assert_eq!(
        w.advance(TURN - 1).collect::<Vec<_>>(),
        [(TURN - 1_000, "this turn")]
    );
    assert_eq!(w.next_deadline(), Some(TURN));
    assert_eq!(w.advance(TURN + 4).count(), 0);
    assert!(w.contains(id));
    assert_eq!(
        w.advance(TURN + 5).collect::<Vec<_>>(),
        [(TURN + 5, "next turn")]
    );
}

#[test]
fn cancel_removes_once_and_stale_ids_are_harmless() {
    let mut w = TimingWheel::new(0);
    let a = w.insert(100, "a");
    let b = w.insert(100, "b");
    assert!(w.contains(a));
    assert_eq!(w.cancel(a), Some("a"));
    assert_eq!(w.cancel(a), None);
    assert!(!w.contains(a));
    // The freed entry is reused; the old id must not cancel the new timer.
    let c = w.insert(200, "c");
    assert_eq!(w.cancel(a), None);
    assert_eq!(w.advance(100).collect::<Vec<_>>(), [(100, "b")]);
    assert_eq!(w.cancel(b), None, "a fired timer cannot be cancelled");
    assert_eq!(w.cancel(c), Some("c"));
    assert!(w.is_empty());
}

#[test]
fn next_deadline_is_a_lower_bound_that_tightens_as_slots_cascade() {
    let mut w = TimingWheel::new(0);
    w.insert(5_000, ());
    let mut previous = None;
    let mut wakeups = 0;
    loop {
        let d = w.next_deadline().unwrap();
        assert!(d <= 5_000, "never later than the timer");
        if let Some(p) = previous {
            assert!(d > p, "each wake-up moves forward: {p} then {d}");
        }
        if w.advance(d).count() > 0 {
            assert_eq!(d, 5_000);
            break;
        }
        previous = Some(d);
        wakeups += 1;
        assert!(
            wakeups < NUM_LEVELS,
            "cascades are bounded by the level count"
        );
    }
    assert!(w.is_empty());
    assert_eq!(w.next_deadline(), None);
}

#[test]
fn an_abandoned_advance_leaves_the_rest_due() {
    let mut w = TimingWheel::new(0);
    for i in 0..10 {
        w.insert(50, i);
    }
    assert_eq!(w.advance(60).take(3).count(), 3);
    assert_eq!(w.len(), 7);
    assert_eq!(w.advance(60).count(), 7);
}

#[test]
fn a_cancelled_timer_never_fires_even_after_its_entry_is_reused() {
    let mut w = TimingWheel::new(0);
    let a = w.insert(5_000, "a");
    assert_eq!(w.cancel(a), Some("a"));
    // The entry is reused at once by a later timer; the stale ticket for 5 000 must not fire it.
    w.insert(9_000, "b");
    assert_eq!(w.advance(8_999).count(), 0);
    assert_eq!(w.advance(9_000).collect::<Vec<_>>(), [(9_000, "b")]);
    assert_eq!(w.next_deadline(), None);
}

#[test]
fn entries_and_tickets_stay_small() {
    assert!(std::mem::size_of::<Entry<[u8; 16]>>() <= 24);
    assert_eq!(std::mem::size_of::<Ticket>(), 16);
}
