//! A dial's leases in several pools at once (`acquire_all`): all or none, on both stores — the
//! in-process store by one acquire per pool, Redis by one script.

use std::sync::Arc;
use std::time::Duration;

use dialer_engine::CampaignId;
use dialer_storage::lease::{Acquire, LeaseStore, PoolId, RedisLeaseConfig, RedisLeases};
use dialer_storage::testsuite::redis_server::RedisServer;

use super::leases::in_process;

const TTL: Duration = Duration::from_secs(30);

async fn redis(server: &RedisServer) -> RedisLeases {
    let config = RedisLeaseConfig {
        command_timeout: Duration::from_millis(500),
        quarantine: Duration::ZERO,
        ..RedisLeaseConfig::new(server.url())
    };
    RedisLeases::connect(&config).await.unwrap()
}

fn dial_pools(campaign_lines: u32, engine_lines: u32) -> [(PoolId, u32); 2] {
    [
        (
            PoolId::campaign(CampaignId::new(7).unwrap()),
            campaign_lines,
        ),
        (PoolId::global(), engine_lines),
    ]
}

async fn counts(store: &dyn LeaseStore, pools: &[(PoolId, u32)]) -> Vec<u32> {
    let mut counts = Vec::new();
    for (pool, _) in pools {
        counts.push(store.count(pool).await.unwrap());
    }
    counts
}

/// Granted in every pool or held in none; asked again, a holder renews and keeps its token,
/// which is the last pool's.
async fn takes_every_pool_or_none(store: &dyn LeaseStore) {
    let pools = dial_pools(2, 1);
    let a = store
        .acquire_all(&pools, "a", TTL)
        .await
        .unwrap()
        .token()
        .unwrap();
    assert_eq!(counts(store, &pools).await, [1, 1]);
    // The engine's pool is full: "b" holds no campaign line either.
    assert_eq!(
        store.acquire_all(&pools, "b", TTL).await.unwrap(),
        Acquire::Full { held: 1 }
    );
    assert_eq!(counts(store, &pools).await, [1, 1], "b took nothing");
    assert_eq!(
        store.acquire_all(&pools, "a", TTL).await.unwrap(),
        Acquire::Granted { token: a },
        "a renews what it holds"
    );
    assert_eq!(
        store.acquire(&pools[1].0, "a", TTL, 1).await.unwrap(),
        Acquire::Granted { token: a },
        "the token is the engine pool's"
    );
    for (pool, _) in &pools {
        assert!(store.release(pool, "a").await.unwrap());
    }
    // The campaign's pool is full (no lines): "c" holds no engine line.
    let pools = dial_pools(0, 1);
    assert_eq!(
        store.acquire_all(&pools, "c", TTL).await.unwrap(),
        Acquire::Full { held: 0 }
    );
    assert_eq!(counts(store, &pools).await, [0, 0], "c took nothing");
}

/// Holders racing for two pools of different sizes: neither is ever over its limit, and no
/// lease is left behind in one pool by a holder the other refused.
async fn never_holds_half(store: Arc<dyn LeaseStore>) {
    let pools = Arc::new(dial_pools(6, 4));
    let mut tasks = Vec::new();
    for task in 0..32 {
        let (store, pools) = (Arc::clone(&store), Arc::clone(&pools));
        tasks.push(tokio::spawn(async move {
            let mut granted = 0;
            for round in 0..40 {
                let holder = format!("t{task}-r{round}");
                let answer = store.acquire_all(&pools[..], &holder, TTL).await.unwrap();
                if answer.token().is_none() {
                    continue;
                }
                granted += 1;
                let held = counts(store.as_ref(), &pools[..]).await;
                assert!(held[0] <= 6 && held[1] <= 4, "{held:?} over the limits");
                tokio::task::yield_now().await;
                for (pool, _) in pools.iter() {
                    assert!(store.release(pool, &holder).await.unwrap());
                }
            }
            granted
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap();
    }
    assert!(granted > 40, "grants happened across tasks: {granted}");
    assert_eq!(counts(store.as_ref(), &pools[..]).await, [0, 0]);
}

#[tokio::test]
async fn in_process_takes_every_pool_or_none() {
    let (_, store) = in_process();
    takes_every_pool_or_none(&store).await;
}

#[tokio::test]
async fn redis_takes_every_pool_or_none() {
    let server = RedisServer::start().unwrap();
    takes_every_pool_or_none(&redis(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_never_holds_half() {
    let (_, store) = in_process();
    never_holds_half(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_never_holds_half() {
    let server = RedisServer::start().unwrap();
    never_holds_half(Arc::new(redis(&server).await)).await;
}

/// Redis came back empty while a call holds its leases: the node that knew the pools takes no
/// fresh lease in either until it has re-asserted what it holds there.
#[tokio::test]
async fn redis_acquire_all_waits_for_the_reassert_after_redis_lost_its_state() {
    let mut server = RedisServer::start().unwrap();
    let store = redis(&server).await;
    let pools = dial_pools(2, 2);
    assert!(
        store
            .acquire_all(&pools, "a", TTL)
            .await
            .unwrap()
            .token()
            .is_some()
    );
    server.restart().unwrap();
    store.wait_connected().await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            store.acquire_all(&pools, "b", TTL).await.unwrap(),
            Acquire::Quarantined
        );
    }
    assert_eq!(counts(&store, &pools).await, [0, 0], "b took nothing");
    let mut lost: Vec<PoolId> = pools.iter().map(|(p, _)| p.clone()).collect();
    lost.sort();
    assert_eq!(store.changed(&lost).await.unwrap(), lost);
    for (pool, limit) in &pools {
        assert!(
            store
                .reassert(pool, "a", TTL, *limit)
                .await
                .unwrap()
                .token()
                .is_some()
        );
        store.settled(pool);
    }
    assert!(
        store
            .acquire_all(&pools, "b", TTL)
            .await
            .unwrap()
            .token()
            .is_some()
    );
    assert_eq!(counts(&store, &pools).await, [2, 2]);
    assert_eq!(
        store.acquire_all(&pools, "c", TTL).await.unwrap(),
        Acquire::Full { held: 2 }
    );
}
