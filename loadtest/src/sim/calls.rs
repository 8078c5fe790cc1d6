//! The calls the simulator placed, kept as a provider keeps them: found by id (status
//! queries) and by idempotency key (a repeated request answers with the call it created) until
//! a retention window after they end. Older ones are forgotten, so what this holds follows the
//! window, not the length of the run.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use dialer_actors::provider::sim::SimFate;
use tokio::time::Instant;

use super::witness::stable_hash;

/// A call the simulator placed.
pub(super) struct Placed {
    pub external_id: String,
    pub call_id: String,
    pub attempt: u32,
    pub fate: SimFate,
    pub at: Instant,
    /// When its last report is due (real time).
    ends: Instant,
    key: Option<(u64, u64)>,
}

/// Two independent hashes of a key: a repeat is recognized by both.
fn key_hashes(key: &str) -> (u64, u64) {
    (stable_hash(key), stable_hash(&format!("{key}\u{0}check")))
}

pub(super) struct Registry {
    /// By sequence number, oldest first; `first_seq` is the front's.
    placed: VecDeque<Arc<Placed>>,
    first_seq: u64,
    by_key: HashMap<u64, u64>,
    /// Twilio-shaped requests carry no attempt: placements per call id.
    attempts: HashMap<u64, u32>,
    twilio: bool,
    /// How long after it ends a call is still kept (real time).
    retain: Duration,
}

impl Registry {
    pub fn new(twilio: bool, retain: Duration) -> Self {
        Self {
            placed: VecDeque::new(),
            first_seq: 1,
            by_key: HashMap::new(),
            attempts: HashMap::new(),
            twilio,
            retain,
        }
    }

    pub fn len(&self) -> usize {
        self.placed.len()
    }

    fn get(&self, seq: u64) -> Option<&Arc<Placed>> {
        let i = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.placed.get(i)
    }

    /// The call placed for `key`, if it is still kept.
    pub fn by_key(&self, key: &str) -> Option<Arc<Placed>> {
        let (h, check) = key_hashes(key);
        let p = self.get(*self.by_key.get(&h)?)?;
        (p.key == Some((h, check))).then(|| Arc::clone(p))
    }

    /// The call with this provider id, if it is still kept.
    pub fn by_id(&self, id: &str) -> Option<Arc<Placed>> {
        let seq = if self.twilio {
            u64::from_str_radix(id.strip_prefix("CA")?, 16).ok()?
        } else {
            id.strip_prefix("ext-")?.parse().ok()?
        };
        self.get(seq)
            .filter(|p| p.external_id == id)
            .map(Arc::clone)
    }

    /// The next attempt of a call whose requests carry none.
    pub fn next_attempt(&mut self, call_id: &str) -> u32 {
        let n = self.attempts.entry(stable_hash(call_id)).or_insert(0);
        *n += 1;
        *n
    }

    /// Keeps a new call; `lasts` is how long until its last report.
    pub fn insert(
        &mut self,
        call_id: &str,
        attempt: u32,
        fate: SimFate,
        at: Instant,
        lasts: Duration,
        key: Option<&str>,
    ) -> Arc<Placed> {
        self.forget_before(at);
        let seq = self.first_seq + self.placed.len() as u64;
        let external_id = if self.twilio {
            format!("CA{seq:032x}")
        } else {
            format!("ext-{seq}")
        };
        let key = key.map(key_hashes);
        let placed = Arc::new(Placed {
            external_id,
            call_id: call_id.to_owned(),
            attempt,
            fate,
            at,
            ends: at + lasts,
            key,
        });
        if let Some((h, _)) = key {
            self.by_key.insert(h, seq);
        }
        self.placed.push_back(Arc::clone(&placed));
        placed
    }

    /// Forgets the calls that ended more than the retention window before `now` (oldest
    /// first; a long call at the front holds the ones behind it for a while).
    fn forget_before(&mut self, now: Instant) {
        while let Some(front) = self.placed.front() {
            if front.ends + self.retain > now {
                break;
            }
            if let Some((h, _)) = front.key
                && self.by_key.get(&h) == Some(&self.first_seq)
            {
                self.by_key.remove(&h);
            }
            self.placed.pop_front();
            self.first_seq += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dialer_engine::Outcome;
    use tokio::time::Instant;

    use super::*;

    fn fate() -> SimFate {
        SimFate {
            outcome: Outcome::Picked,
            ring: Duration::from_secs(1),
            talk_secs: 2,
        }
    }

    #[test]
    fn calls_are_found_by_id_and_key_until_the_window_after_their_end_passes() {
        let mut r = Registry::new(false, Duration::from_secs(10));
        let t0 = Instant::now();
        let long = r.insert("a", 1, fate(), t0, Duration::from_secs(3), Some("a:1"));
        let short = r.insert("b", 1, fate(), t0, Duration::from_secs(1), Some("b:1"));
        assert_eq!(
            r.by_key("a:1").map(|p| p.external_id.clone()),
            Some(long.external_id.clone())
        );
        assert_eq!(
            r.by_id(&short.external_id).map(|p| p.call_id.clone()),
            Some("b".into())
        );
        assert!(r.by_key("a:2").is_none());
        assert!(r.by_id("ext-999").is_none());
        assert!(r.by_id("CA01").is_none(), "another provider's shape");
        // 12 s on: `b` ended 11 s ago, but `a` (ended 9 s ago) is in front and holds it.
        r.insert(
            "c",
            1,
            fate(),
            t0 + Duration::from_secs(12),
            Duration::ZERO,
            None,
        );
        assert_eq!(r.len(), 3);
        // 14 s on: both ended more than 10 s ago and are forgotten, by id and by key.
        let d = r.insert(
            "d",
            1,
            fate(),
            t0 + Duration::from_secs(14),
            Duration::ZERO,
            Some("a:1"),
        );
        assert_eq!(r.len(), 2);
        assert!(r.by_id(&long.external_id).is_none());
        assert!(r.by_id(&short.external_id).is_none());
        assert_eq!(
            r.by_key("a:1").map(|p| p.call_id.clone()),
            Some(d.call_id.clone())
        );
    }

    #[test]
    fn what_it_keeps_follows_the_window_not_the_run() {
        let mut r = Registry::new(true, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..100_000u64 {
            let at = t0 + Duration::from_secs(i);
            let id = format!("call-{i}");
            r.insert(
                &id,
                1,
                fate(),
                at,
                Duration::from_secs(5),
                Some(&format!("{id}:1")),
            );
        }
        assert!(r.len() <= 66, "kept {}", r.len());
        assert!(r.by_key.len() <= 66);
        let last = r.by_key("call-99999:1").expect("the newest is kept");
        assert!(last.external_id.starts_with("CA"));
        assert_eq!(
            r.by_id(&last.external_id).map(|p| p.call_id.clone()),
            Some("call-99999".into())
        );
    }

    #[test]
    fn requests_without_an_attempt_are_counted_per_call() {
        let mut r = Registry::new(true, Duration::from_secs(60));
        assert_eq!(r.next_attempt("x"), 1);
        assert_eq!(r.next_attempt("y"), 1);
        assert_eq!(r.next_attempt("x"), 2);
    }
}
