//! Rate limits: governor token buckets per campaign and per provider account, on tokio's clock
//! (so paused-time tests pace exactly and a scaled demo clock paces in wall time).
//!
//! No window of one second (or one minute) ever holds more grants than the configured count.
//! Below 200 a window, grants are spaced evenly (`1/rate` apart, a burst of one). From 200 on,
//! a bucket holds a burst of a hundredth of the count and refills about 2% slower to make up for
//! it (`pacing`): with a burst of one, a token that nobody takes at its instant is gone, and
//! waiters that wake on a 1 ms timer a little late capped a 1,000/s bucket at about 600/s.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dialer_engine::{CampaignId, CampaignSettings, Clock};
use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Governor's clock on tokio time, scaled to the engine's wall clock: `Nanos` of wall time
/// since the limiter was created.
#[derive(Clone, Debug)]
pub struct TokioWallClock {
    start: tokio::time::Instant,
    clock: Arc<dyn Clock>,
}

impl TokioWallClock {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            start: tokio::time::Instant::now(),
            clock,
        }
    }
}

impl GovernorClock for TokioWallClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        // Real elapsed time, converted to wall time through the clock's rate.
        let real = self.start.elapsed();
        let per_second = self
            .clock
            .real_duration(Duration::from_secs(1))
            .as_nanos()
            .max(1);
        let wall = real.as_nanos().saturating_mul(1_000_000_000) / per_second;
        Nanos::from(u64::try_from(wall).unwrap_or(u64::MAX))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioWallClock, NoOpMiddleware<Nanos>>;

fn limiter(per: Duration, count: u32, clock: &TokioWallClock) -> Option<Limiter> {
    let (period, burst) = pacing(per, count)?;
    let quota = Quota::with_period(period)?.allow_burst(burst);
    Some(RateLimiter::direct_with_clock(quota, clock.clone()))
}

/// The refill period and burst of a bucket that grants at most `count` in any window of `per`.
/// A bucket of burst `b` refilled every `τ` grants at most `b + n - 1` in a window of `n τ`.
/// Below 200 a window, `b = 1` and `τ = per / count`. From 200 on, `b` is a hundredth of the
/// count and the bucket refills `b` fewer times than that bound allows, `τ = per / (count - 2b
/// + 1)`: a receiver that sees the grants up to `b τ` (~1% of the window) apart from when they
/// were granted still counts no more than `count` in any window of its own.
fn pacing(per: Duration, count: u32) -> Option<(Duration, NonZeroU32)> {
    let count = NonZeroU32::new(count)?;
    Some(
        match NonZeroU32::new(count.get() / 100).filter(|b| b.get() >= 2) {
            None => (per / count.get(), NonZeroU32::MIN),
            Some(burst) => (per / (count.get() - 2 * burst.get() + 1), burst),
        },
    )
}

/// A campaign's buckets, rebuilt when its limits change.
struct CampaignBuckets {
    limits: (Option<u32>, Option<u32>),
    per_second: Option<Limiter>,
    per_minute: Option<Limiter>,
}

/// Every bucket of the engine.
pub struct RateLimits {
    clock: TokioWallClock,
    campaigns: Mutex<HashMap<CampaignId, Arc<CampaignBuckets>>>,
    providers: Mutex<HashMap<String, Arc<Option<Limiter>>>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock: TokioWallClock::new(clock),
            campaigns: Mutex::default(),
            providers: Mutex::default(),
        }
    }

    fn campaign(&self, id: CampaignId, settings: &CampaignSettings) -> Arc<CampaignBuckets> {
        let limits = (settings.max_calls_per_second, settings.max_calls_per_minute);
        let mut map = self.campaigns.lock().unwrap_or_else(|p| p.into_inner());
        let current = map.get(&id).filter(|b| b.limits == limits).cloned();
        current.unwrap_or_else(|| {
            let buckets = Arc::new(CampaignBuckets {
                limits,
                per_second: limits
                    .0
                    .and_then(|n| limiter(Duration::from_secs(1), n, &self.clock)),
                per_minute: limits
                    .1
                    .and_then(|n| limiter(Duration::from_secs(60), n, &self.clock)),
            });
            map.insert(id, Arc::clone(&buckets));
            buckets
        })
    }

    fn provider(&self, name: &str, cps: Option<u32>) -> Arc<Option<Limiter>> {
        let mut map = self.providers.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(cps.and_then(|n| limiter(Duration::from_secs(1), n, &self.clock)))
        }))
    }

    /// Takes one token from each of the campaign's buckets and the provider's, or says how long
    /// (in real tokio time) to wait before asking again. The provider's bucket is asked first:
    /// a token taken from it for a dial the campaign's bucket then refuses is simply unused,
    /// which can slow the provider's rate but never exceed it.
    pub fn try_take(
        &self,
        campaign: CampaignId,
        settings: &CampaignSettings,
        provider: &str,
        provider_cps: Option<u32>,
    ) -> Result<(), Duration> {
        let p = self.provider(provider, provider_cps);
        let c = self.campaign(campaign, settings);
        for bucket in [
            p.as_ref().as_ref(),
            c.per_second.as_ref(),
            c.per_minute.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if let Err(not_until) = bucket.check() {
                let wall = not_until.wait_time_from(self.clock.now());
                return Err(self
                    .clock
                    .clock
                    .real_duration(wall)
                    .max(Duration::from_millis(1)));
            }
        }
        Ok(())
    }
}

/// Named per-second buckets (a messaging campaign's, a sender number's), each rebuilt when
/// its rate changes; same spacing as the dial buckets.
pub struct Buckets {
    clock: TokioWallClock,
    by_key: Mutex<HashMap<String, (u32, Arc<Limiter>)>>,
}

impl std::fmt::Debug for Buckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets").finish_non_exhaustive()
    }
}

impl Buckets {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock: TokioWallClock::new(clock),
            by_key: Mutex::default(),
        }
    }

    /// Takes a token from each `(key, per second)` bucket in turn, waiting (real tokio time)
    /// for each; whether any wait was needed.
    pub async fn take(&self, buckets: &[(String, u32)]) -> bool {
        let mut waited = false;
        for (key, rate) in buckets {
            let bucket = {
                let mut map = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
                let current = map
                    .get(key)
                    .filter(|(r, _)| r == rate)
                    .map(|(_, l)| Arc::clone(l));
                match current {
                    Some(l) => l,
                    None => {
                        let Some(l) = limiter(Duration::from_secs(1), *rate, &self.clock) else {
                            continue;
                        };
                        let l = Arc::new(l);
                        map.insert(key.clone(), (*rate, Arc::clone(&l)));
                        l
                    }
                }
            };
            while let Err(not_until) = bucket.check() {
                waited = true;
                let wall = not_until.wait_time_from(self.clock.now());
                let real = self.clock.clock.real_duration(wall);
                tokio::time::sleep(real.max(Duration::from_millis(1))).await;
            }
        }
        waited
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::clock::ScaledClock;

    #[tokio::test(start_paused = true)]
    async fn dials_are_spaced_evenly_at_the_campaign_rate() {
        let clock: Arc<dyn Clock> = Arc::new(ScaledClock::tokio(
            chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let limits = RateLimits::new(clock);
        let settings = CampaignSettings {
            max_calls_per_second: Some(4),
            ..CampaignSettings::default()
        };
        let id = CampaignId::new(1).unwrap();
        let mut granted = Vec::new();
        let start = tokio::time::Instant::now();
        while granted.len() < 9 {
            match limits.try_take(id, &settings, "sim", None) {
                Ok(()) => granted.push(start.elapsed()),
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
        // 4 per second, one every 250 ms, no burst.
        let ms: Vec<u128> = granted.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000]);
    }

    /// Grants of a bucket of `count` a second to takers that come at the given gaps (in µs),
    /// each retrying late by `late_us` after the wait it was told, for `seconds` of paused time;
    /// the instants granted, in µs.
    fn grants(count: u32, gaps: &[u64], late_us: u64, seconds: u64) -> Vec<u64> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let clock: Arc<dyn Clock> = Arc::new(ScaledClock::tokio(
                chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            ));
            let wall = TokioWallClock::new(clock);
            let bucket = limiter(Duration::from_secs(1), count, &wall).unwrap();
            let start = tokio::time::Instant::now();
            let end = Duration::from_secs(seconds);
            let mut granted = Vec::new();
            let mut gap = gaps.iter().cycle();
            while start.elapsed() < end {
                match bucket.check() {
                    Ok(()) => {
                        granted.push(u64::try_from(start.elapsed().as_micros()).unwrap());
                        let next = gap.next().copied().unwrap_or(0);
                        tokio::time::sleep(Duration::from_micros(next)).await;
                    }
                    Err(not_until) => {
                        let wait = not_until.wait_time_from(wall.now());
                        tokio::time::sleep(wait + Duration::from_micros(late_us)).await;
                    }
                }
            }
            granted
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever the count and however takers come, no window of one second holds more.
        #[test]
        fn no_second_holds_more_than_the_count(
            count in 1u32..3_000,
            gaps in proptest::collection::vec(0u64..5_000, 1..20),
            late_us in 0u64..2_000,
        ) {
            let at = grants(count, &gaps, late_us, 3);
            // From 200 on, a window stretched by the burst's refill time holds no more either.
            let (period, burst) = pacing(Duration::from_secs(1), count).unwrap();
            let slack = if burst.get() > 1 { period * burst.get() } else { Duration::ZERO };
            let window = u64::try_from((Duration::from_secs(1) + slack).as_micros()).unwrap();
            let most = at
                .iter()
                .enumerate()
                .map(|(i, t)| at[i..].iter().take_while(|u| **u < t + window).count())
                .max()
                .unwrap_or(0);
            proptest::prop_assert!(most <= count as usize, "{most} grants in {window} µs of {count}");
        }
    }

    #[test]
    fn takers_that_wake_late_still_get_nearly_the_whole_rate() {
        // Waiters woken up to 1 ms late, as by tokio's timer: a burst of one lost every
        // token not taken at its instant (about 600 of 1,000 a second).
        let at = grants(1_000, &[0], 1_000, 10);
        assert!(at.len() >= 9_500, "{} of 10,000 granted", at.len());
    }

    #[tokio::test(start_paused = true)]
    async fn the_slower_of_campaign_and_provider_wins() {
        let clock: Arc<dyn Clock> = Arc::new(ScaledClock::tokio(
            chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let limits = RateLimits::new(clock);
        let settings = CampaignSettings {
            max_calls_per_second: Some(100),
            ..CampaignSettings::default()
        };
        let id = CampaignId::new(1).unwrap();
        assert!(limits.try_take(id, &settings, "carrier", Some(2)).is_ok());
        assert_eq!(
            limits.try_take(id, &settings, "carrier", Some(2)),
            Err(Duration::from_millis(500))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_clock_paces_in_wall_time() {
        let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            10,
        ));
        let limits = RateLimits::new(clock);
        let settings = CampaignSettings {
            max_calls_per_second: Some(1),
            ..CampaignSettings::default()
        };
        let id = CampaignId::new(1).unwrap();
        assert!(limits.try_take(id, &settings, "sim", None).is_ok());
        // One wall second is a tenth of a real second at 10x.
        assert_eq!(
            limits.try_take(id, &settings, "sim", None),
            Err(Duration::from_millis(100))
        );
    }
}
