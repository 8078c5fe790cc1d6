//! The in-process lease store against the obvious model, by property test.

use std::time::Duration;

use dialer_storage::lease::{LeaseStore, PoolId};

use super::leases::in_process;

#[derive(Debug, Clone)]
enum LeaseOp {
    Acquire { holder: u8, ttl_ms: u64 },
    Renew { holder: u8, ttl_ms: u64 },
    Release { holder: u8 },
    Advance { ms: u64 },
}

fn lease_op() -> impl proptest::strategy::Strategy<Value = LeaseOp> {
    use proptest::prelude::*;
    prop_oneof![
        (0..6u8, 1..50u64).prop_map(|(holder, t)| LeaseOp::Acquire {
            holder,
            ttl_ms: t * 100
        }),
        (0..6u8, 1..50u64).prop_map(|(holder, t)| LeaseOp::Renew {
            holder,
            ttl_ms: t * 100
        }),
        (0..6u8).prop_map(|holder| LeaseOp::Release { holder }),
        (0..3_000u64).prop_map(|ms| LeaseOp::Advance { ms }),
    ]
}

proptest::proptest! {
    /// The in-process store against the obvious model (a map of holders to expiries, every
    /// expired one dropped before each operation): the same grants, refusals, renewals and
    /// counts, whatever the order of acquires, renewals, releases and the clock.
    #[test]
    fn in_process_leases_agree_with_the_model(
        ops in proptest::collection::vec(lease_op(), 1..120),
        limit in 1..4u32,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let (clock, store) = in_process();
            let pool = PoolId::named("model");
            let mut now = 0u64;
            let mut model: std::collections::HashMap<u8, u64> = Default::default();
            for op in ops {
                model.retain(|_, expiry| *expiry > now);
                match op {
                    LeaseOp::Acquire { holder, ttl_ms } => {
                        let got = store
                            .acquire(&pool, &holder.to_string(), Duration::from_millis(ttl_ms), limit)
                            .await
                            .unwrap();
                        let held = model.len() as u32;
                        let granted = model.contains_key(&holder) || held < limit;
                        assert_eq!(got.token().is_some(), granted, "{op:?} with {model:?} at {now}");
                        if granted {
                            model.insert(holder, now + ttl_ms);
                        }
                    }
                    LeaseOp::Renew { holder, ttl_ms } => {
                        let renewed = store
                            .renew(&pool, &holder.to_string(), Duration::from_millis(ttl_ms))
                            .await
                            .unwrap();
                        assert_eq!(renewed, model.contains_key(&holder), "{op:?} at {now}");
                        if renewed {
                            model.insert(holder, now + ttl_ms);
                        }
                    }
                    LeaseOp::Release { holder } => {
                        let released = store.release(&pool, &holder.to_string()).await.unwrap();
                        assert_eq!(released, model.remove(&holder).is_some(), "{op:?} at {now}");
                    }
                    LeaseOp::Advance { ms } => {
                        clock.advance(Duration::from_millis(ms));
                        now += ms;
                    }
                }
                model.retain(|_, expiry| *expiry > now);
                assert_eq!(store.count(&pool).await.unwrap() as usize, model.len());
            }
        });
    }
}
