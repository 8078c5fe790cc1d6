//! The campaign lifecycle, as one total function.
//!
//! [`campaign_transition`] decides every change of a campaign's state, like
//! [`crate::status::transition`] does for calls: for any state and any event it returns the new
//! state, "unchanged" (the event is already in effect — a client may repeat an action), or the
//! refusal an operator sees as a conflict. Only the campaign's owner — its actor — applies it
//! and writes the result; nothing else writes a campaign's state.
//!
//! ```text
//!            start               pause
//!   DRAFT ─────────► RUNNING ◄──────────► PAUSED
//!     │               │   ▲     resume      │
//!     │               │   │ start           │
//!     │     list done ▼   │                 │
//!     │           COMPLETED                 │
//!     │               │                     │
//!     └──── stop ─────┴───► STOPPED ◄───────┘
//! ```
//!
//! COMPLETED means every contact imported so far reached a final status. It is not the end: new
//! contacts can be imported and the campaign started again. A campaign whose list has never
//! been pulled (no contacts yet) is running and idle, never completed. STOPPED is the end.

use std::fmt;

use crate::campaign::CampaignState;

/// What an operator asks of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignCommand {
    Start,
    Pause,
    Resume,
    Stop,
}

impl CampaignCommand {
    pub const ALL: [CampaignCommand; 4] = [Self::Start, Self::Pause, Self::Resume, Self::Stop];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Stop => "stop",
        }
    }
}

impl fmt::Display for CampaignCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can happen to a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignEvent {
    Command(CampaignCommand),
    /// Its owner found the contact list pulled to the end and every list call final.
    ListDone,
}

/// The result of [`campaign_transition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    To(CampaignState),
    /// Already in effect: nothing to write.
    Unchanged,
    /// Not allowed from this state.
    Refused {
        from: CampaignState,
        command: CampaignCommand,
    },
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::To(s) => write!(f, "to {}", s.as_str()),
            Self::Unchanged => f.write_str("unchanged"),
            Self::Refused { from, command } => {
                write!(f, "a {} campaign cannot {command}", from.as_str())
            }
        }
    }
}

/// The one function that decides every change of a campaign's state.
pub fn campaign_transition(from: CampaignState, event: CampaignEvent) -> Lifecycle {
    use CampaignCommand as C;
    use CampaignState as S;
    use Lifecycle::{To, Unchanged};
    let command = match event {
        CampaignEvent::ListDone => {
            return match from {
                S::Running => To(S::Completed),
                // Paused: the operator holds it; it completes after resuming. Others: no list
                // is being dialed.
                _ => Unchanged,
            };
        }
        CampaignEvent::Command(c) => c,
    };
    let refused = Lifecycle::Refused { from, command };
    match (from, command) {
        (S::Stopped, C::Stop) => Unchanged,
        (S::Stopped, _) => refused,
        (_, C::Stop) => To(S::Stopped),
        (S::Running, C::Start | C::Resume) | (S::Paused, C::Pause) => Unchanged,
        (S::Draft | S::Paused | S::Completed, C::Start) | (S::Paused, C::Resume) => To(S::Running),
        (S::Running, C::Pause) => To(S::Paused),
        (S::Draft | S::Completed, C::Pause | C::Resume) => refused,
    }
}

/// Whether a campaign's contact list is done: it was pulled at least once (a campaign with no
/// contacts yet is idle, not done), a pull found nothing after the cursor, and no call of the
/// list is pending or in flight.
pub fn list_done(pulled_once: bool, list_exhausted: bool, list_calls_open: usize) -> bool {
    pulled_once && list_exhausted && list_calls_open == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [CampaignState; 5] = [
        CampaignState::Draft,
        CampaignState::Running,
        CampaignState::Paused,
        CampaignState::Completed,
        CampaignState::Stopped,
    ];

    /// Every (state, event) and its result: `-` unchanged, `!` refused, else the new state.
    const TABLE: &str = "
                 start      pause    resume     stop      list_done
    draft        running    !        !          stopped   -
    running      -          paused   -          stopped   completed
    paused       running    -        running    stopped   -
    completed    running    !        !          stopped   -
    stopped      !          !        !          -         -
    ";

    fn events() -> [CampaignEvent; 5] {
        [
            CampaignEvent::Command(CampaignCommand::Start),
            CampaignEvent::Command(CampaignCommand::Pause),
            CampaignEvent::Command(CampaignCommand::Resume),
            CampaignEvent::Command(CampaignCommand::Stop),
            CampaignEvent::ListDone,
        ]
    }

    #[test]
    fn every_state_and_event_does_what_the_table_says() {
        let rows: Vec<&str> = TABLE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .skip(1)
            .collect();
        assert_eq!(rows.len(), STATES.len());
        for row in rows {
            let mut cells = row.split_whitespace();
            let from = CampaignState::parse(cells.next().unwrap()).unwrap();
            let cells: Vec<&str> = cells.collect();
            assert_eq!(cells.len(), events().len(), "row {row}");
            for (event, cell) in events().into_iter().zip(cells) {
                let want = match cell {
                    "-" => Lifecycle::Unchanged,
                    "!" => {
                        let CampaignEvent::Command(command) = event else {
                            panic!("only commands are refused")
                        };
                        Lifecycle::Refused { from, command }
                    }
                    state => Lifecycle::To(CampaignState::parse(state).unwrap()),
                };
                assert_eq!(
                    campaign_transition(from, event),
                    want,
                    "{} + {event:?}",
                    from.as_str()
                );
            }
        }
    }

    #[test]
    fn a_transition_always_changes_the_state_and_stopped_is_the_end() {
        for from in STATES {
            for event in events() {
                match campaign_transition(from, event) {
                    Lifecycle::To(to) => assert_ne!(to, from, "{from:?} + {event:?}"),
                    Lifecycle::Unchanged | Lifecycle::Refused { .. } => {}
                }
                if from == CampaignState::Stopped {
                    assert!(!matches!(
                        campaign_transition(from, event),
                        Lifecycle::To(_)
                    ));
                }
            }
        }
    }

    #[test]
    fn a_completed_campaign_can_be_started_again() {
        assert_eq!(
            campaign_transition(
                CampaignState::Completed,
                CampaignEvent::Command(CampaignCommand::Start)
            ),
            Lifecycle::To(CampaignState::Running)
        );
    }

    #[test]
    fn a_list_is_done_only_once_pulled_exhausted_and_idle() {
        assert!(
            !list_done(false, true, 0),
            "no contacts yet: idle, not done"
        );
        assert!(!list_done(true, false, 0));
        assert!(!list_done(true, true, 1));
        assert!(list_done(true, true, 0));
    }

    #[test]
    fn refusals_read_as_sentences() {
        let r = campaign_transition(
            CampaignState::Stopped,
            CampaignEvent::Command(CampaignCommand::Resume),
        );
        assert_eq!(r.to_string(), "a stopped campaign cannot resume");
    }
}
