//! The duplicate window's memory: which (campaign, number) pairs were accepted recently, with
//! O(1) amortized claims. Claims expire in the order they were made, so expiry pops from the
//! front of a queue instead of scanning every claim on every request.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use chrono::{DateTime, Duration, Utc};

#[derive(Debug)]
pub(crate) struct Recent<K> {
    claimed: HashMap<K, DateTime<Utc>>,
    /// Claims in the order they were made (clocks only move forward here; a claim made at an
    /// earlier instant than the last one is queued as if made at the last one's instant).
    order: VecDeque<(DateTime<Utc>, K)>,
}

impl<K: Eq + Hash + Clone> Default for Recent<K> {
    fn default() -> Self {
        Self {
            claimed: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> Recent<K> {
    /// Claims `key` at `now` unless it was claimed within `window`; then answers how long until
    /// it may be claimed again.
    pub(crate) fn claim(
        &mut self,
        key: K,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<(), Duration> {
        self.expire(now - window);
        if let Some(at) = self.claimed.get(&key) {
            return Err((*at + window - now).max(Duration::seconds(1)));
        }
        let queued_at = self.order.back().map_or(now, |(last, _)| (*last).max(now));
        self.claimed.insert(key.clone(), now);
        self.order.push_back((queued_at, key));
        Ok(())
    }

    /// Forgets a claim (the call it guarded was not created after all).
    pub(crate) fn release(&mut self, key: &K) {
        self.claimed.remove(key);
    }

    fn expire(&mut self, before: DateTime<Utc>) {
        while let Some((at, _)) = self.order.front() {
            if *at >= before {
                break;
            }
            if let Some((at, key)) = self.order.pop_front()
                && self.claimed.get(&key).is_some_and(|claimed| *claimed <= at)
            {
                self.claimed.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.claimed.len()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_key_is_refused_within_the_window_and_free_after_it() {
        let mut r = Recent::default();
        let w = Duration::seconds(300);
        assert!(r.claim("a", t(0), w).is_ok());
        assert_eq!(r.claim("a", t(100), w), Err(Duration::seconds(200)));
        assert!(r.claim("b", t(100), w).is_ok());
        assert_eq!(
            r.claim("a", t(300), w),
            Err(Duration::seconds(1)),
            "the window includes its end"
        );
        assert!(r.claim("a", t(301), w).is_ok(), "the window has passed");
        assert_eq!(r.claim("b", t(301), w), Err(Duration::seconds(99)));
    }

    #[test]
    fn expired_claims_are_dropped_and_released_keys_reclaimed() {
        let mut r = Recent::default();
        let w = Duration::seconds(10);
        for i in 0..1000 {
            assert!(r.claim(i, t(i), w).is_ok());
        }
        assert!(r.len() <= 11, "{}", r.len());
        r.release(&999);
        assert!(r.claim(999, t(999), w).is_ok());
        // The re-claim is not dropped when the first claim's queue entry expires.
        assert!(r.claim(1000, t(1005), w).is_ok());
        assert!(r.claim(999, t(1005), w).is_err());
    }
}
