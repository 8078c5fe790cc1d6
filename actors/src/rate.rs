//! Rate limits: governor token buckets per campaign and per provider account, on tokio's clock
//! (so paused-time tests pace exactly and a scaled demo clock paces in wall time).
//!
//! Buckets have a burst of one: dials are spaced evenly (`1/rate` apart), so no window of one
//! second (or one minute) ever holds more dials than the configured rate.

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
    let count = NonZeroU32::new(count)?;
    let quota = Quota::with_period(per / count.get())?.allow_burst(NonZeroU32::MIN);
    Some(RateLimiter::direct_with_clock(quota, clock.clone()))
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
