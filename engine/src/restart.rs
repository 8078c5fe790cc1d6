//! When a supervisor restarts a failed child, and when it gives up.
//!
//! ractor has no restart policy of its own; every supervisor in `actors` consults a
//! [`RestartTracker`] with this policy. Failures are counted in a sliding period: at most
//! `max_restarts` within `period`, each restart delayed by a capped exponential backoff with
//! jitter so that a crash loop neither spins nor restarts a fleet in lockstep. Time is an
//! argument (a monotonic offset from any origin); the jitter sample is too, so the result is
//! deterministic under test.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// Restarts allowed within `period_ms` before the supervisor gives up on the child.
    pub max_restarts: u32,
    pub period_ms: u64,
    /// Delay before the first restart; doubled for each further failure inside the period.
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Relative jitter, `0.0..=1.0`: the delay is scaled by a factor in `1 ± jitter`.
    pub jitter: f64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 10,
            period_ms: 60_000,
            initial_backoff_ms: 50,
            max_backoff_ms: 10_000,
            jitter: 0.2,
        }
    }
}

/// What a supervisor does with a failed child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Start generation `generation` of the child after `after`.
    Restart { after: Duration, generation: u64 },
    /// Too many failures in the period: escalate instead.
    GiveUp { failures_in_period: u32 },
}

/// A child's failure history.
#[derive(Debug, Clone, Default)]
pub struct RestartTracker {
    failures: VecDeque<Duration>,
    generation: u64,
    restarts_total: u64,
}

impl RestartTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The generation of the child currently running (0 for the first start).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Restarts decided so far.
    pub fn restarts_total(&self) -> u64 {
        self.restarts_total
    }

    /// Records a failure at monotonic time `now` and decides. `jitter_sample` is uniform in
    /// `[0, 1)`.
    pub fn record_failure(
        &mut self,
        policy: &RestartPolicy,
        now: Duration,
        jitter_sample: f64,
    ) -> RestartDecision {
        let period = Duration::from_millis(policy.period_ms);
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= period)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        let in_period = u32::try_from(self.failures.len()).unwrap_or(u32::MAX);
        if in_period > policy.max_restarts {
            return RestartDecision::GiveUp {
                failures_in_period: in_period,
            };
        }
        self.generation += 1;
        self.restarts_total += 1;
        RestartDecision::Restart {
            after: backoff(policy, in_period - 1, jitter_sample),
            generation: self.generation,
        }
    }
}

/// The delay before restart number `k` (0-based) inside a period.
pub fn backoff(policy: &RestartPolicy, k: u32, jitter_sample: f64) -> Duration {
    let cap = policy.max_backoff_ms as f64;
    let base =
        (policy.initial_backoff_ms as f64) * 2f64.powi(i32::try_from(k.min(62)).unwrap_or(62));
    let jitter = policy.jitter.clamp(0.0, 1.0);
    let factor = 1.0 + jitter * (2.0 * jitter_sample.clamp(0.0, 1.0) - 1.0);
    let ms = (base.min(cap) * factor).clamp(0.0, cap);
    Duration::from_micros((ms * 1000.0) as u64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn no_jitter() -> RestartPolicy {
        RestartPolicy {
            jitter: 0.0,
            ..RestartPolicy::default()
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = no_jitter();
        let ms: Vec<u128> = (0..10).map(|k| backoff(&p, k, 0.5).as_millis()).collect();
        assert_eq!(
            ms,
            [50, 100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]
        );
    }

    #[test]
    fn too_many_failures_in_the_period_give_up_and_old_ones_are_forgotten() {
        let p = RestartPolicy {
            max_restarts: 3,
            period_ms: 1000,
            ..no_jitter()
        };
        let mut t = RestartTracker::new();
        let ms = Duration::from_millis;
        for (i, at) in [0, 10, 20].into_iter().enumerate() {
            let d = t.record_failure(&p, ms(at), 0.5);
            assert_eq!(
                d,
                RestartDecision::Restart {
                    after: backoff(&p, i as u32, 0.5),
                    generation: i as u64 + 1
                }
            );
        }
        assert_eq!(
            t.record_failure(&p, ms(30), 0.5),
            RestartDecision::GiveUp {
                failures_in_period: 4
            }
        );
        // A second later the early failures have aged out.
        assert!(matches!(
            t.record_failure(&p, ms(1025), 0.5),
            RestartDecision::Restart { .. }
        ));
        assert_eq!(t.restarts_total(), 4);
    }

    proptest! {
        #[test]
        fn delays_stay_within_the_jitter_band_and_the_cap(k in 0u32..100, sample in 0.0f64..1.0, jitter in 0.0f64..1.0) {
            let p = RestartPolicy { jitter, ..RestartPolicy::default() };
            let d = backoff(&p, k, sample).as_secs_f64() * 1000.0;
            let plain = backoff(&RestartPolicy { jitter: 0.0, ..p.clone() }, k, sample).as_secs_f64() * 1000.0;
            prop_assert!(d <= p.max_backoff_ms as f64 + 1e-6);
            prop_assert!(d >= plain * (1.0 - jitter) - 1e-3);
            prop_assert!(d <= plain * (1.0 + jitter) + 1e-3);
        }
    }
}
