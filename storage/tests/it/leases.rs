//! Lease stores: the in-process store on a manual clock, and the Redis store against a real
//! `redis-server` started on a free port for each test.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dialer_engine::clock::ManualClock;
use dialer_engine::{CampaignId, NodeId};
use dialer_storage::lease::{
    Acquire, InProcessLeases, LeaseError, LeaseStore, Ownership, PoolId, RedisLeaseConfig,
    RedisLeases,
};
use dialer_storage::testsuite::fixtures::t0;
use dialer_storage::testsuite::redis_server::RedisServer;

const TTL: Duration = Duration::from_secs(30);

async fn redis(server: &RedisServer) -> RedisLeases {
    redis_with_quarantine(server, Duration::ZERO).await
}

/// A node's Redis lease store; `quarantine`: how long a pool Redis no longer knows grants only
/// re-asserts.
async fn redis_with_quarantine(server: &RedisServer, quarantine: Duration) -> RedisLeases {
    let config = RedisLeaseConfig {
        command_timeout: Duration::from_millis(500),
        quarantine,
        ..RedisLeaseConfig::new(server.url())
    };
    RedisLeases::connect(&config).await.unwrap()
}

pub(crate) fn in_process() -> (Arc<ManualClock>, InProcessLeases) {
    let clock = Arc::new(ManualClock::new(t0()));
    (Arc::clone(&clock), InProcessLeases::new(clock))
}

/// What every store must do with grants, renewals, releases and tokens.
async fn grants_renewals_and_releases(store: &dyn LeaseStore) {
    let pool = PoolId::named("basics");
    let a = store
        .acquire(&pool, "a", TTL, 2)
        .await
        .unwrap()
        .token()
        .unwrap();
    let b = store
        .acquire(&pool, "b", TTL, 2)
        .await
        .unwrap()
        .token()
        .unwrap();
    assert!(b > a, "fencing tokens strictly increase");
    assert_eq!(
        store.acquire(&pool, "c", TTL, 2).await.unwrap(),
        Acquire::Full { held: 2 }
    );
    assert_eq!(store.count(&pool).await.unwrap(), 2);
    // Re-acquiring a held lease renews it and keeps its token.
    assert_eq!(
        store.acquire(&pool, "a", TTL, 2).await.unwrap(),
        Acquire::Granted { token: a }
    );
    assert!(store.renew(&pool, "a", TTL).await.unwrap());
    assert!(
        !store.renew(&pool, "c", TTL).await.unwrap(),
        "c never held it"
    );
    assert!(store.release(&pool, "a").await.unwrap());
    assert!(!store.release(&pool, "a").await.unwrap());
    assert!(
        !store.renew(&pool, "a", TTL).await.unwrap(),
        "a released it"
    );
    let c = store
        .acquire(&pool, "c", TTL, 2)
        .await
        .unwrap()
        .token()
        .unwrap();
    assert!(c > b);
    // Pools are independent.
    assert_eq!(store.count(&PoolId::named("other")).await.unwrap(), 0);
    // Several holders given back at once: each answered in order, the pool emptied, and a
    // released holder's renewal refused.
    let many = PoolId::named("many");
    let holders: Vec<String> = (0..1200).map(|i| format!("h{i}")).collect();
    for h in holders.iter().step_by(2) {
        assert!(
            store
                .acquire(&many, h, TTL, 2000)
                .await
                .unwrap()
                .token()
                .is_some()
        );
    }
    let released = store.release_many(&many, &holders).await.unwrap();
    assert_eq!(released.len(), holders.len());
    assert!(
        released.iter().enumerate().all(|(i, r)| *r == (i % 2 == 0)),
        "{released:?}"
    );
    assert_eq!(store.count(&many).await.unwrap(), 0);
    assert!(!store.renew(&many, "h0", TTL).await.unwrap());
    assert!(store.release_many(&many, &[]).await.unwrap().is_empty());
    assert!(matches!(
        store.acquire(&pool, "d", Duration::ZERO, 2).await,
        Err(LeaseError::Invalid(_))
    ));
}

/// 64 tasks acquiring and releasing thousands of times: never more holders than the limit.
async fn never_exceeds_the_limit(store: Arc<dyn LeaseStore>, rounds: u32) {
    const LIMIT: u32 = 8;
    let pool = PoolId::named("contended");
    let in_use = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let granted = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for task in 0..64 {
        let (store, pool, in_use, peak, granted) = (
            Arc::clone(&store),
            pool.clone(),
            Arc::clone(&in_use),
            Arc::clone(&peak),
            Arc::clone(&granted),
        );
        tasks.push(tokio::spawn(async move {
            for round in 0..rounds {
                let holder = format!("t{task}-r{round}");
                if let Acquire::Granted { .. } =
                    store.acquire(&pool, &holder, TTL, LIMIT).await.unwrap()
                {
                    let now = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    granted.fetch_add(1, Ordering::SeqCst);
                    assert!(now <= LIMIT, "{now} holders with a limit of {LIMIT}");
                    tokio::task::yield_now().await;
                    in_use.fetch_sub(1, Ordering::SeqCst);
                    assert!(store.release(&pool, &holder).await.unwrap());
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= LIMIT);
    assert!(
        peak.load(Ordering::SeqCst) > 1,
        "the test must actually contend"
    );
    assert!(
        granted.load(Ordering::SeqCst) > rounds,
        "grants happened across tasks"
    );
    assert_eq!(
        store.count(&pool).await.unwrap(),
        0,
        "every grant was released"
    );
}

#[tokio::test]
async fn in_process_grants_renewals_and_releases() {
    let (_, store) = in_process();
    grants_renewals_and_releases(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_never_exceeds_the_limit() {
    let (_, store) = in_process();
    never_exceeds_the_limit(Arc::new(store), 200).await;
}

#[tokio::test]
async fn in_process_reclaims_a_holder_that_stops_renewing() {
    let (clock, store) = in_process();
    let pool = PoolId::named("ttl");
    let first = store
        .acquire(&pool, "dead-node", Duration::from_secs(10), 1)
        .await
        .unwrap()
        .token()
        .unwrap();
    assert!(matches!(
        store.acquire(&pool, "live-node", TTL, 1).await.unwrap(),
        Acquire::Full { .. }
    ));
    clock.advance(Duration::from_millis(9_999));
    assert!(matches!(
        store.acquire(&pool, "live-node", TTL, 1).await.unwrap(),
        Acquire::Full { .. }
    ));
    clock.advance(Duration::from_millis(1));
    let second = store
        .acquire(&pool, "live-node", TTL, 1)
        .await
        .unwrap()
        .token()
        .unwrap();
    assert!(second > first);
    assert!(
        !store.renew(&pool, "dead-node", TTL).await.unwrap(),
        "the old holder lost it"
    );
}

#[tokio::test]
async fn redis_grants_renewals_and_releases() {
    let server = RedisServer::start().unwrap();
    let store = redis(&server).await;
    grants_renewals_and_releases(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_never_exceeds_the_limit() {
    let server = RedisServer::start().unwrap();
    never_exceeds_the_limit(Arc::new(redis(&server).await), 60).await;
}

#[tokio::test]
async fn redis_reclaims_a_holder_that_stops_renewing() {
    let server = RedisServer::start().unwrap();
    let store = redis(&server).await;
    let pool = PoolId::named("ttl");
    let first = store
        .acquire(&pool, "dead-node", Duration::from_millis(300), 1)
        .await
        .unwrap()
        .token()
        .unwrap();
    assert!(matches!(
        store.acquire(&pool, "live-node", TTL, 1).await.unwrap(),
        Acquire::Full { .. }
    ));
    // Redis's own clock decides expiry, so this one test waits for it in real time.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let second = store
        .acquire(&pool, "live-node", TTL, 1)
        .await
        .unwrap()
        .token()
        .unwrap();
    assert!(second > first);
    assert!(
        !store.renew(&pool, "dead-node", TTL).await.unwrap(),
        "the old holder lost it"
    );
    assert_eq!(store.count(&pool).await.unwrap(), 1);
}

#[tokio::test]
async fn redis_down_fails_closed_and_a_holder_reasserts_before_it_takes_more() {
    let mut server = RedisServer::start().unwrap();
    let store = redis(&server).await;
    let pool = PoolId::global();
    let before = store
        .acquire(&pool, "a", TTL, 2)
        .await
        .unwrap()
        .token()
        .unwrap();
    server.stop();
    // While Redis is down nothing is granted: every call is an error.
    for holder in ["b", "c"] {
        assert!(matches!(
            store.acquire(&pool, holder, TTL, 2).await,
            Err(LeaseError::Unavailable(_))
        ));
    }
    assert!(store.ping().await.is_err());
    server.restart().unwrap();
    store.wait_connected().await.unwrap();
    // Redis came back empty (no persistence), but "a"'s call is still in flight: a fresh lease
    // would let a third call in. This node knew the pool's old epoch, so it takes no fresh
    // lease there until it has re-asserted what it holds.
    assert_eq!(
        store.acquire(&pool, "b", TTL, 2).await.unwrap(),
        Acquire::Quarantined
    );
    assert_eq!(
        store.changed(std::slice::from_ref(&pool)).await.unwrap(),
        vec![pool.clone()]
    );
    assert_eq!(
        store.acquire(&pool, "b", TTL, 2).await.unwrap(),
        Acquire::Quarantined,
        "still not settled"
    );
    let again = store
        .reassert(&pool, "a", TTL, 2)
        .await
        .unwrap()
        .token()
        .unwrap();
    assert!(
        again > before,
        "token {again} after the restart is not above {before}"
    );
    store.settled(&pool);
    assert!(
        store
            .changed(std::slice::from_ref(&pool))
            .await
            .unwrap()
            .is_empty()
    );
    // Now the pool counts "a" again: one more fits, then it is full.
    store
        .acquire(&pool, "b", TTL, 2)
        .await
        .unwrap()
        .token()
        .unwrap();
    assert_eq!(store.count(&pool).await.unwrap(), 2);
    assert!(matches!(
        store.acquire(&pool, "c", TTL, 2).await.unwrap(),
        Acquire::Full { held: 2 }
    ));
}

#[tokio::test]
async fn a_pool_redis_lost_grants_only_reasserts_until_its_quarantine_ends() {
    let mut server = RedisServer::start().unwrap();
    let quarantine = Duration::from_millis(400);
    // Two nodes: "a" holds two leases; "b" holds none and knows nothing of the pool.
    let a = redis_with_quarantine(&server, quarantine).await;
    let pool = PoolId::named("shared");
    // A pool's first use starts in quarantine too (it might be one Redis lost).
    assert_eq!(
        a.acquire(&pool, "a1", TTL, 3).await.unwrap(),
        Acquire::Quarantined
    );
    // Redis's own clock ends the quarantine, so this test waits for it in real time.
    tokio::time::sleep(quarantine + Duration::from_millis(50)).await;
    for holder in ["a1", "a2"] {
        assert!(
            a.acquire(&pool, holder, TTL, 3)
                .await
                .unwrap()
                .token()
                .is_some()
        );
    }
    server.restart().unwrap();
    a.wait_connected().await.unwrap();
    let b = redis_with_quarantine(&server, quarantine).await;
    // "b" comes first: the pool is new to Redis, so it is quarantined, and "b" waits although
    // the pool looks empty.
    assert_eq!(
        b.acquire(&pool, "b1", TTL, 3).await.unwrap(),
        Acquire::Quarantined
    );
    // "a"'s keeper notices and re-asserts during the quarantine.
    assert_eq!(
        a.changed(std::slice::from_ref(&pool)).await.unwrap(),
        vec![pool.clone()]
    );
    for holder in ["a1", "a2"] {
        assert!(
            a.reassert(&pool, holder, TTL, 3)
                .await
                .unwrap()
                .token()
                .is_some()
        );
    }
    a.settled(&pool);
    tokio::time::sleep(quarantine + Duration::from_millis(50)).await;
    // After it, the pool holds "a"'s two: one more fits, whoever asks.
    assert!(
        b.acquire(&pool, "b1", TTL, 3)
            .await
            .unwrap()
            .token()
            .is_some()
    );
    assert!(matches!(
        a.acquire(&pool, "a3", TTL, 3).await.unwrap(),
        Acquire::Full { held: 3 }
    ));
    assert_eq!(b.count(&pool).await.unwrap(), 3);
}

#[tokio::test]
async fn redis_unreachable_at_start_is_a_clear_error() {
    let mut server = RedisServer::start().unwrap();
    let url = server.url();
    server.stop();
    let config = RedisLeaseConfig {
        command_timeout: Duration::from_millis(300),
        ..RedisLeaseConfig::new(url)
    };
    let err = RedisLeases::connect(&config).await.unwrap_err();
    assert!(
        matches!(err, LeaseError::Unavailable(ref m) if m.contains("redis")),
        "{err}"
    );
}

#[tokio::test]
async fn one_node_owns_a_campaign_until_it_stops_renewing() {
    let server = RedisServer::start().unwrap();
    let store = redis(&server).await;
    let campaign = CampaignId::new(7).unwrap();
    let node = |name: &str| Ownership {
        node: name.parse::<NodeId>().unwrap(),
        ttl: Duration::from_millis(300),
    };
    let (a, b) = (node("node-a"), node("node-b"));
    let token_a = a.claim(&store, campaign).await.unwrap().unwrap();
    assert_eq!(
        b.claim(&store, campaign).await.unwrap(),
        None,
        "a campaign has one owner"
    );
    assert!(a.keep(&store, campaign).await.unwrap());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let token_b = b.claim(&store, campaign).await.unwrap().unwrap();
    assert!(
        token_b > token_a,
        "the new owner's token fences the old one"
    );
    assert!(
        !a.keep(&store, campaign).await.unwrap(),
        "the old owner learns it lost the campaign"
    );
    assert!(b.give_up(&store, campaign).await.unwrap());
}
