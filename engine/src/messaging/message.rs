//! A message's delivery state, and how provider reports move it. Reports arrive out of order
//! (a `delivered` after `read`, a `sent` after `delivered`): a state only ever moves forward, so
//! a late report changes nothing.
//!
//! ```text
//! pending → queued → sending → sent → delivered → read
//!                                   ↘ failed | undelivered | cancelled
//! pending → blocked (consent, quiet hours that never open, a render error: never sent)
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Materialized for a recipient; not handed to the provider yet.
    Pending,
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
    Undelivered,
    Cancelled,
    /// Never sent: the runner's decision (opted out, no consent, a template that cannot render).
    Blocked,
}

impl MessageStatus {
    pub const ALL: [Self; 10] = [
        Self::Pending,
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Undelivered,
        Self::Cancelled,
        Self::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Undelivered => "undelivered",
            Self::Cancelled => "cancelled",
            Self::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Every provider word [`Self::from_provider`] reads (in lower case).
    pub const PROVIDER_WORDS: [&'static str; 12] = [
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "partially_delivered",
        "read",
        "failed",
        "undelivered",
        "canceled",
        "cancelled",
    ];

    /// A provider's status word (Twilio's `MessageStatus`, any case), as a state; `None` for
    /// words that say nothing about an outbound message (`receiving`, `received`).
    pub fn from_provider(word: &str) -> Option<Self> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "accepted" | "scheduled" | "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "delivered" | "partially_delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            "undelivered" => Self::Undelivered,
            "canceled" | "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// How far along a message is. A final delivery outcome (delivered, failed, undelivered,
    /// cancelled) shares one rank, so the first to arrive stands; `read` outranks them all,
    /// being the strongest evidence there is; `blocked` was never sent and nothing moves it.
    fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Queued => 1,
            Self::Sending => 2,
            Self::Sent => 3,
            Self::Delivered | Self::Failed | Self::Undelivered | Self::Cancelled => 4,
            Self::Read => 5,
            Self::Blocked => 6,
        }
    }

    /// No report can move it further but `read`.
    pub fn is_final(self) -> bool {
        self.rank() >= 4
    }

    /// It reached the recipient.
    pub fn is_delivered(self) -> bool {
        matches!(self, Self::Delivered | Self::Read)
    }
}

/// The state a report moves `current` to, or `None` when it is stale or a repeat.
pub fn apply_report(current: MessageStatus, reported: MessageStatus) -> Option<MessageStatus> {
    (reported.rank() > current.rank()).then_some(reported)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::MessageStatus::*;
    use super::*;

    #[test]
    fn a_late_report_never_moves_a_message_back() {
        assert_eq!(apply_report(Read, Delivered), None);
        assert_eq!(apply_report(Delivered, Sent), None);
        assert_eq!(apply_report(Sent, Sent), None);
        assert_eq!(
            apply_report(Delivered, Failed),
            None,
            "the first outcome stands"
        );
        assert_eq!(apply_report(Delivered, Read), Some(Read));
        assert_eq!(apply_report(Failed, Read), Some(Read));
        assert_eq!(apply_report(Pending, Queued), Some(Queued));
        assert_eq!(apply_report(Blocked, Read), None);
    }

    #[test]
    fn twilio_words_are_read() {
        assert_eq!(MessageStatus::from_provider("Accepted"), Some(Queued));
        assert_eq!(
            MessageStatus::from_provider("undelivered"),
            Some(Undelivered)
        );
        assert_eq!(MessageStatus::from_provider("canceled"), Some(Cancelled));
        assert_eq!(MessageStatus::from_provider("received"), None);
        for w in MessageStatus::PROVIDER_WORDS {
            assert!(MessageStatus::from_provider(w).is_some(), "{w}");
        }
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
    }

    fn reported() -> impl Strategy<Value = MessageStatus> {
        // Every state a provider can report: all but our own `pending` and `blocked`.
        let reported: Vec<_> = MessageStatus::ALL
            .into_iter()
            .filter(|s| MessageStatus::from_provider(s.as_str()).is_some())
            .collect();
        prop::sample::select(reported)
    }

    fn fold(reports: &[MessageStatus]) -> MessageStatus {
        reports
            .iter()
            .fold(Pending, |s, r| apply_report(s, *r).unwrap_or(s))
    }

    proptest! {
        /// Whatever the order, the state ends at the furthest report (the first of a tie), and
        /// never moves back on the way.
        #[test]
        fn the_furthest_report_wins_in_any_order(reports in proptest::collection::vec(reported(), 1..12)) {
            let mut s = Pending;
            for r in &reports {
                let next = apply_report(s, *r).unwrap_or(s);
                prop_assert!(next.rank() >= s.rank());
                s = next;
            }
            let top = reports.iter().map(|r| r.rank()).max().unwrap();
            let first_top = reports.iter().find(|r| r.rank() == top).copied().unwrap();
            prop_assert_eq!(s, first_top);
        }

        /// Reports of distinct ranks give the same state in every order.
        #[test]
        fn order_does_not_matter_without_ties(mut reports in proptest::collection::vec(reported(), 1..8), seed in any::<u64>()) {
            reports.sort_by_key(|r| r.rank());
            reports.dedup_by_key(|r| r.rank());
            let expected = fold(&reports);
            let mut shuffled = reports.clone();
            let n = shuffled.len();
            for i in (1..n).rev() {
                let j = (seed.rotate_left(i as u32) % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            prop_assert_eq!(fold(&shuffled), expected);
        }
    }
}
