use chrono::TimeZone;

use super::*;

/// Every event the machine knows, with every outcome × disposition and every block reason.
fn all_events() -> Vec<CallEvent> {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
    let mut events = vec![
        CallEvent::Due,
        CallEvent::DialStarted,
        CallEvent::Ringing,
        CallEvent::Answered,
        CallEvent::NotPlaced { retry_at: at },
    ];
    for outcome in Outcome::ALL {
        for disposition in [
            Disposition::Final,
            Disposition::RetryAt { at },
            Disposition::Exhausted,
        ] {
            events.push(CallEvent::Ended {
                outcome,
                disposition,
            });
        }
    }
    for reason in [
        BlockReason::Dnc,
        BlockReason::OptOut,
        BlockReason::CallingHours,
        BlockReason::Duplicate,
    ] {
        events.push(CallEvent::Blocked(reason));
    }
    events.push(CallEvent::Cancel);
    events
}

/// Which status can follow which in one step. Rows are `from`, columns `to`, in the order of
/// `CallStatus::ALL`. `x` marks a legal step; everything else must be impossible.
const EDGES: &str = "
                      SCH INI DIA RIN INP PIC DIS RNR FAI RET EXH CAN BDN BOO BCH BDU
SCHEDULED              .   x   .   .   .   .   .   .   .   .   .   x   x   x   x   x
INITIATED              .   .   x   x   x   x   x   x   x   x   x   x   x   x   x   x
DIALING                .   x   .   x   x   x   x   x   x   x   x   .   .   .   .   .
RINGING                .   .   .   .   x   x   x   x   x   x   x   .   .   .   .   .
IN_PROGRESS            .   .   .   .   .   x   x   x   x   x   x   .   .   .   .   .
PICKED                 .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
DISCONNECTED           .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
RNR                    .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
FAILED                 .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
RETRYING               .   x   .   .   .   .   .   .   .   .   .   x   x   x   x   x
EXHAUSTED              .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
CANCELLED              .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
BLOCKED_DNC            .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
BLOCKED_OPT_OUT        .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
BLOCKED_CALLING_HOURS  .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
BLOCKED_DUPLICATE      .   .   .   .   .   .   .   .   .   .   .   .   .   .   .   .
";

fn expected_edges() -> Vec<(CallStatus, CallStatus)> {
    let mut edges = Vec::new();
    let rows: Vec<&str> = EDGES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .skip(1)
        .collect();
    assert_eq!(rows.len(), CallStatus::ALL.len());
    for row in rows {
        let mut cells = row.split_whitespace();
        let from: CallStatus = cells.next().unwrap().parse().unwrap();
        let marks: Vec<&str> = cells.collect();
        assert_eq!(marks.len(), CallStatus::ALL.len(), "row {from}");
        for (to, mark) in CallStatus::ALL.into_iter().zip(marks) {
            if mark == "x" {
                edges.push((from, to));
            }
        }
    }
    edges
}

#[test]
fn every_pair_of_states_is_legal_exactly_when_the_table_says_so() {
    let expected = expected_edges();
    for from in CallStatus::ALL {
        for to in CallStatus::ALL {
            let reachable = all_events()
                .into_iter()
                .any(|e| transition(from, e) == Transition::To(to));
            let legal = expected.contains(&(from, to));
            assert_eq!(
                reachable, legal,
                "{from} -> {to}: reachable={reachable}, table says {legal}"
            );
        }
    }
}

#[test]
fn terminal_states_absorb_every_event() {
    for from in CallStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
        for event in all_events() {
            assert_eq!(
                transition(from, event),
                Transition::Ignored(Ignored::AlreadyTerminal(from)),
                "{from} + {event:?}"
            );
        }
    }
}

#[test]
fn no_event_leaves_a_status_unchanged_by_applying_it() {
    for from in CallStatus::ALL {
        for event in all_events() {
            assert_ne!(
                transition(from, event),
                Transition::To(from),
                "{from} + {event:?}"
            );
        }
    }
}

#[test]
fn late_and_duplicate_provider_events_change_nothing_and_say_why() {
    use CallStatus as S;
    let picked = CallEvent::Ended {
        outcome: Outcome::Picked,
        disposition: Disposition::Final,
    };
    // Ringing after the call completed.
    assert_eq!(
        transition(S::Picked, CallEvent::Ringing),
        Transition::Ignored(Ignored::AlreadyTerminal(S::Picked))
    );
    // A second hang-up.
    assert_eq!(
        transition(S::Picked, picked),
        Transition::Ignored(Ignored::AlreadyTerminal(S::Picked))
    );
    // Ringing after answered, and a repeated ringing.
    assert_eq!(
        transition(S::InProgress, CallEvent::Ringing),
        Transition::Ignored(Ignored::Stale {
            current: S::InProgress
        })
    );
    assert_eq!(
        transition(S::Ringing, CallEvent::Ringing),
        Transition::Ignored(Ignored::Stale {
            current: S::Ringing
        })
    );
    // The previous attempt's outcome arriving again while the retry waits.
    let rnr = CallEvent::Ended {
        outcome: Outcome::Rnr,
        disposition: Disposition::Final,
    };
    assert_eq!(
        transition(S::Retrying, rnr),
        Transition::Ignored(Ignored::Stale {
            current: S::Retrying
        })
    );
    assert_eq!(
        transition(S::Retrying, CallEvent::Ringing),
        Transition::Ignored(Ignored::Stale {
            current: S::Retrying
        })
    );
    // Cancelling a call in flight lets it finish.
    assert_eq!(
        transition(S::Ringing, CallEvent::Cancel),
        Transition::Ignored(Ignored::InFlight {
            current: S::Ringing
        })
    );
    // Only a dial still unanswered can turn out not to have been placed.
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
    assert_eq!(
        transition(S::Dialing, CallEvent::NotPlaced { retry_at: at }),
        Transition::To(S::Initiated)
    );
    assert_eq!(
        transition(S::Ringing, CallEvent::NotPlaced { retry_at: at }),
        Transition::Ignored(Ignored::NotApplicable {
            current: S::Ringing
        })
    );
    assert_eq!(
        transition(S::Dialing, CallEvent::Due),
        Transition::Ignored(Ignored::NotApplicable {
            current: S::Dialing
        })
    );
}

#[test]
fn outcomes_follow_the_policy_disposition() {
    use CallStatus as S;
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
    let ended = |outcome, disposition| {
        transition(
            S::Ringing,
            CallEvent::Ended {
                outcome,
                disposition,
            },
        )
    };
    assert_eq!(
        ended(Outcome::Picked, Disposition::Final),
        Transition::To(S::Picked)
    );
    assert_eq!(
        ended(Outcome::Rnr, Disposition::RetryAt { at }),
        Transition::To(S::Retrying)
    );
    assert_eq!(
        ended(Outcome::Failed, Disposition::Exhausted),
        Transition::To(S::Exhausted)
    );
    assert_eq!(
        ended(Outcome::Disconnected, Disposition::Final),
        Transition::To(S::Disconnected)
    );
    // PICKED is never retried, whatever the disposition says.
    assert_eq!(
        ended(Outcome::Picked, Disposition::RetryAt { at }),
        Transition::To(S::Picked)
    );
}

#[test]
fn status_names_round_trip_in_the_seed_spelling() {
    for s in CallStatus::ALL {
        assert_eq!(s.as_str().parse::<CallStatus>().unwrap(), s);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.as_str())
        );
    }
    assert_eq!("rnr".parse::<Outcome>().unwrap(), Outcome::Rnr);
    assert!("BUSY".parse::<Outcome>().is_err());
}
