//! A line's leases: the campaign's and the engine's, taken together or not at all, and given
//! back together.

use std::time::Duration;

use dialer_storage::lease::{Acquire, LeaseStore, PoolId};
use futures::future::join_all;

/// A lease request's answer.
#[derive(Debug, Clone)]
pub(crate) enum Leased {
    Granted {
        token: u64,
    },
    /// A pool is full.
    Wait,
    /// A pool is in quarantine (the lease store lost its state, or has just met the pool):
    /// only calls in flight re-asserting their leases are granted until it ends, by the
    /// store's clock.
    Quarantined,
    Failed(String),
}

/// How often a quarantined pool is asked again, on the clock the lease store's TTLs run on
/// (a quarantine lasts half a second by default).
pub(super) const QUARANTINE_POLL: Duration = Duration::from_millis(50);

/// The campaign's lease and the engine's, all or none (one round trip to Redis); the fencing
/// token is the last pool's (the engine's).
pub(super) async fn take_leases(
    leases: &dyn LeaseStore,
    pools: &[(PoolId, u32)],
    holder: &str,
    ttl: Duration,
) -> Leased {
    match leases.acquire_all(pools, holder, ttl).await {
        Ok(Acquire::Granted { token }) => Leased::Granted { token },
        Ok(Acquire::Quarantined) => Leased::Quarantined,
        Ok(Acquire::Full { .. }) => Leased::Wait,
        Err(e) => Leased::Failed(e.to_string()),
    }
}

pub(super) async fn release(leases: &dyn LeaseStore, pools: &[(PoolId, u32)], holder: &str) {
    join_all(pools.iter().map(|(pool, _)| leases.release(pool, holder))).await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dialer_engine::CampaignId;
    use dialer_engine::clock::ManualClock;
    use dialer_storage::lease::InProcessLeases;

    use super::*;

    /// Both pools are asked at once; a refusal by either gives the other's lease back, so a
    /// full engine pool never leaves a campaign's line taken (nor the other way round).
    #[tokio::test]
    async fn a_lease_refused_by_either_pool_gives_the_other_back() {
        let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
        let leases = InProcessLeases::new(clock);
        let ttl = Duration::from_secs(30);
        let campaign = PoolId::campaign(CampaignId::new(1).unwrap());
        let pools = [(campaign.clone(), 2), (PoolId::global(), 1)];
        let first = take_leases(&leases, &pools, "a", ttl).await;
        assert!(matches!(first, Leased::Granted { token } if token > 0));
        assert!(matches!(
            take_leases(&leases, &pools, "b", ttl).await,
            Leased::Wait
        ));
        assert_eq!(
            leases.count(&campaign).await.unwrap(),
            1,
            "b's campaign lease given back"
        );
        release(&leases, &pools, "a").await;
        let pools = [(campaign.clone(), 0), (PoolId::global(), 1)];
        assert!(matches!(
            take_leases(&leases, &pools, "c", ttl).await,
            Leased::Wait
        ));
        assert_eq!(
            leases.count(&PoolId::global()).await.unwrap(),
            0,
            "c's engine lease given back"
        );
    }
}
