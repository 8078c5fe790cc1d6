use std::sync::atomic::{AtomicU32, Ordering};

use chrono::TimeZone;
use dialer_storage::lease::{InProcessLeases, LeaseError};

use super::*;
use crate::clock::ScaledClock;

/// The in-process store, counting renewals and the round trips releases take, with the clock
/// its TTLs run on chosen; a renewal waits for a permit of `renew_gate`.
#[derive(Debug)]
struct Counting {
    inner: InProcessLeases,
    real_time: bool,
    renewals: AtomicU32,
    release_trips: AtomicU32,
    renew_gate: tokio::sync::Semaphore,
}

impl Counting {
    fn new(clock: Arc<dyn Clock>, real_time: bool) -> Self {
        Self {
            inner: InProcessLeases::new(clock),
            real_time,
            renewals: AtomicU32::new(0),
            release_trips: AtomicU32::new(0),
            renew_gate: tokio::sync::Semaphore::new(tokio::sync::Semaphore::MAX_PERMITS),
        }
    }
}

#[async_trait::async_trait]
impl LeaseStore for Counting {
    async fn acquire(
        &self,
        pool: &PoolId,
        holder: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Acquire, LeaseError> {
        self.inner.acquire(pool, holder, ttl, limit).await
    }
    async fn renew(&self, pool: &PoolId, holder: &str, ttl: Duration) -> Result<bool, LeaseError> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        let _permit = self.renew_gate.acquire().await;
        self.inner.renew(pool, holder, ttl).await
    }
    async fn release(&self, pool: &PoolId, holder: &str) -> Result<bool, LeaseError> {
        self.release_trips.fetch_add(1, Ordering::SeqCst);
        self.inner.release(pool, holder).await
    }
    async fn release_many(
        &self,
        pool: &PoolId,
        holders: &[String],
    ) -> Result<Vec<bool>, LeaseError> {
        self.release_trips.fetch_add(1, Ordering::SeqCst);
        let mut released = Vec::new();
        for holder in holders {
            released.push(self.inner.release(pool, holder).await?);
        }
        Ok(released)
    }
    async fn count(&self, pool: &PoolId) -> Result<u32, LeaseError> {
        self.inner.count(pool).await
    }
    async fn ping(&self) -> Result<(), LeaseError> {
        Ok(())
    }
    fn backend(&self) -> &'static str {
        "counting"
    }
    fn ttl_in_real_time(&self) -> bool {
        self.real_time
    }
}

/// A keeper (30 s TTL) on a counting store, the engine's clock at `speed`× from Monday
/// 2026-12-07 15:00 UTC.
async fn keeper_on(
    speed: u32,
    real_time: bool,
) -> (
    chrono::DateTime<chrono::Utc>,
    Arc<Counting>,
    ActorRef<LeaseKeeperMessage>,
    tokio::task::JoinHandle<()>,
) {
    let epoch = chrono::Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(epoch, speed));
    let store = Arc::new(Counting::new(Arc::clone(&clock), real_time));
    let args = KeeperArgs {
        leases: store.clone(),
        clock,
        ttl: Duration::from_secs(30),
        watch: Duration::from_secs(3600),
    };
    let (keeper, task) = Actor::spawn(None, LeaseKeeperActor, args).await.unwrap();
    (epoch, store, keeper, task)
}

/// Renewals of one call's lease over 35 real seconds, the engine's clock at 100×.
async fn renewals_in_35_real_seconds(real_time: bool) -> u32 {
    let (epoch, store, keeper, task) = keeper_on(100, real_time).await;
    let call_id = CallId::generate(epoch);
    let pool = PoolId::global();
    store
        .acquire(&pool, &call_id.to_string(), Duration::from_secs(30), 10)
        .await
        .unwrap();
    keeper
        .cast(LeaseKeeperMessage::Track {
            call_id,
            pools: vec![(pool, 10)],
            held: true,
        })
        .unwrap();
    for _ in 0..350 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    keeper.stop(None);
    task.await.unwrap();
    store.renewals.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn renewals_are_paced_on_the_clock_the_store_expires_leases_by() {
    // Redis expires by its own clock: every 10 real seconds, whatever the engine's speed.
    assert_eq!(renewals_in_35_real_seconds(true).await, 3);
    // The in-process store expires by the engine's clock: every 10 of its seconds, 0.1 s here.
    let scaled = renewals_in_35_real_seconds(false).await;
    assert!((345..=350).contains(&scaled), "{scaled}");
}

/// A keeper on a store on the engine's clock at 1×, and calls holding leases in two pools.
async fn keeper_with_calls(
    n: usize,
) -> (
    Arc<Counting>,
    ActorRef<LeaseKeeperMessage>,
    tokio::task::JoinHandle<()>,
    Vec<CallId>,
) {
    let (epoch, store, keeper, task) = keeper_on(1, true).await;
    let pools = vec![
        (PoolId::global(), 10_000),
        (PoolId::named("campaign"), 10_000),
    ];
    let mut calls = Vec::new();
    for _ in 0..n {
        let call_id = CallId::generate(epoch);
        for (pool, limit) in &pools {
            store
                .acquire(pool, &call_id.to_string(), Duration::from_secs(30), *limit)
                .await
                .unwrap();
        }
        keeper
            .cast(LeaseKeeperMessage::Track {
                call_id,
                pools: pools.clone(),
                held: true,
            })
            .unwrap();
        calls.push(call_id);
    }
    (store, keeper, task, calls)
}

async fn held(store: &Counting) -> (u32, u32) {
    (
        store.inner.count(&PoolId::global()).await.unwrap(),
        store.inner.count(&PoolId::named("campaign")).await.unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn releases_asked_for_together_go_back_in_rounds_of_one_trip_per_pool() {
    let (store, keeper, task, calls) = keeper_with_calls(300).await;
    let handle = KeeperHandle::default();
    handle.set(Some(keeper.clone()));
    let (last, rest) = calls.split_last().unwrap();
    for call_id in rest {
        handle.release(*call_id);
    }
    // Waits for its own leases: when it returns they are back in the store.
    handle.release_now(*last).await;
    assert_eq!(held(&store).await, (0, 0));
    // 600 leases: the first call's in a round of its own, the rest in rounds formed while one
    // was in flight — a few trips per pool, not one per lease.
    let trips = store.release_trips.load(Ordering::SeqCst);
    assert!(
        (2..=8).contains(&trips),
        "{trips} round trips for 600 leases"
    );
    keeper.stop(None);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_lease_released_during_a_renewal_round_is_not_taken_again() {
    let (store, keeper, task, calls) = keeper_with_calls(2).await;
    let handle = KeeperHandle::default();
    handle.set(Some(keeper.clone()));
    // A renewal round starts and stalls in the store.
    let permits = store.renew_gate.available_permits();
    store.renew_gate.forget_permits(permits);
    keeper.cast(LeaseKeeperMessage::Renew).unwrap();
    tokio::task::yield_now().await;
    // Meanwhile the first call ends and its leases go back.
    handle.release_now(calls[0]).await;
    assert_eq!(held(&store).await, (1, 1));
    // The round resumes: the store no longer has the first call's leases, and they stay given
    // back; the second call's are renewed.
    store.renew_gate.add_permits(permits);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(held(&store).await, (1, 1));
    assert_eq!(store.renewals.load(Ordering::SeqCst), 4);
    keeper.stop(None);
    task.await.unwrap();
}
