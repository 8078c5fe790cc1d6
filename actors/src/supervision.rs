//! Restarting failed children, written once for every supervisor of the tree.
//!
//! A supervisor keeps a [`Restarts`] keyed by what it supervises (a service, a campaign, the
//! call a slot carried). A failure is recorded against the key's [`RestartTracker`]; the answer
//! is when to start the child again and with which generation. A supervisor never gives up on a
//! transient error: when the policy counts too many failures in its period, the child is still
//! restarted, at the policy's longest backoff, and the crash loop is reported (a log line and
//! `dialer_actor_restarts_total`). A respawn that itself fails is just another failure.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use dialer_engine::{RestartDecision, RestartPolicy, RestartTracker};

/// When to start a failed child again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Restart {
    pub after: Duration,
    /// The generation the new child will be (the first start is 0).
    pub generation: u64,
    /// The child has failed more often than the policy's period allows: it keeps being
    /// restarted, at the longest backoff.
    pub crash_loop: bool,
}

/// The failure history of a supervisor's children.
#[derive(Debug)]
pub(crate) struct Restarts<K> {
    policy: RestartPolicy,
    kind: &'static str,
    trackers: HashMap<K, RestartTracker>,
    started: tokio::time::Instant,
}

impl<K: Eq + Hash + Clone + std::fmt::Debug> Restarts<K> {
    /// `kind` names the children in logs and metrics (`campaign`, `dialer_slot`…).
    pub(crate) fn new(policy: RestartPolicy, kind: &'static str) -> Self {
        Self {
            policy,
            kind,
            trackers: HashMap::new(),
            started: tokio::time::Instant::now(),
        }
    }

    /// Records a failure of `key` and decides when to restart it. `jitter` is uniform in
    /// `[0, 1)`.
    pub(crate) fn failed(&mut self, key: &K, jitter: f64) -> Restart {
        self.failed_as(key, jitter, self.kind)
    }

    /// [`failed`](Self::failed), counted under the actor kind `kind`.
    pub(crate) fn failed_as(&mut self, key: &K, jitter: f64, kind: &'static str) -> Restart {
        let now = self.started.elapsed();
        let tracker = self.trackers.entry(key.clone()).or_default();
        let restart = match tracker.record_failure(&self.policy, now, jitter) {
            RestartDecision::Restart { after, generation } => Restart {
                after,
                generation,
                crash_loop: false,
            },
            RestartDecision::GiveUp { failures_in_period } => {
                tracing::error!(
                    kind,
                    child = ?key,
                    failures_in_period,
                    "a child keeps failing; restarting it at the longest backoff"
                );
                Restart {
                    after: Duration::from_millis(self.policy.max_backoff_ms),
                    generation: tracker.generation(),
                    crash_loop: true,
                }
            }
        };
        crate::metrics::restart(kind);
        restart
    }

    /// Forgets a child that ended for good (its history no longer matters).
    pub(crate) fn forget(&mut self, key: &K) {
        self.trackers.remove(key);
    }
}

/// A jitter sample in `[0, 1)` for restart backoff.
pub(crate) fn jitter() -> f64 {
    use rand::RngExt;
    rand::rng().random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_child_that_keeps_failing_is_restarted_at_the_longest_backoff_and_never_dropped() {
        let policy = RestartPolicy {
            max_restarts: 2,
            period_ms: 60_000,
            initial_backoff_ms: 10,
            max_backoff_ms: 1_000,
            jitter: 0.0,
        };
        let mut r: Restarts<&str> = Restarts::new(policy, "test");
        let a = r.failed(&"a", 0.5);
        assert_eq!(
            (a.after, a.generation, a.crash_loop),
            (Duration::from_millis(10), 1, false)
        );
        let b = r.failed(&"a", 0.5);
        assert_eq!((b.after, b.generation), (Duration::from_millis(20), 2));
        for _ in 0..5 {
            let c = r.failed(&"a", 0.5);
            assert!(c.crash_loop);
            assert_eq!(c.after, Duration::from_millis(1_000));
        }
        // Another child has its own history.
        assert!(!r.failed(&"b", 0.5).crash_loop);
        r.forget(&"a");
        assert!(
            !r.failed(&"a", 0.5).crash_loop,
            "a forgotten child starts afresh"
        );
    }
}
