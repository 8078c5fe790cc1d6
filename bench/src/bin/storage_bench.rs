//! Storage and lease throughput, measured end to end.
//!
//! `cargo run --release -p dialer-bench --bin storage-bench -- embedded` — call state updates
//! through the embedded store's group commit from 64 concurrent writers, with and without an
//! audit line each; reads by id and by campaign page.
//!
//! `cargo run --release -p dialer-bench --bin storage-bench -- leases` — acquire+release pairs
//! per second from 64 tasks through `RedisLeases` against a local redis-server, beside what
//! `redis-benchmark` measures for the same scripts on the same server in the same run.
#![allow(clippy::print_stdout, clippy::unwrap_used)] // A report tool.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use dialer_actors::clock::Stopwatch;
use dialer_engine::{AuditKind, CallEvent, CallId, CallOrigin};
use dialer_storage::embedded::{EmbeddedConfig, EmbeddedStore, Synchronous};
use dialer_storage::lease::{Acquire, LeaseStore, PoolId, RedisLeaseConfig, RedisLeases};
use dialer_storage::testsuite::fixtures::{at, audit, call, new_campaign, t0};
use dialer_storage::testsuite::redis_server::RedisServer;
use dialer_storage::{CallFilter, CallStore, CampaignStore, Store, WriteBatch};

const WRITERS: usize = 64;

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match what.as_str() {
        "embedded" => rt.block_on(embedded()),
        "leases" => rt.block_on(leases()),
        _ => println!("usage: storage-bench embedded|leases"),
    }
}

async fn embedded() {
    println!("| synchronous | writers | operation | ops | seconds | ops/s |");
    println!("|---|---:|---|---:|---:|---:|");
    for sync in [Synchronous::Normal, Synchronous::Full] {
        let dir = tempfile_dir();
        let config = EmbeddedConfig {
            synchronous: sync,
            ..EmbeddedConfig::new(&dir)
        };
        let store = Arc::new(EmbeddedStore::open(&config, t0()).unwrap());
        let campaign = store
            .create_campaign(new_campaign("bench"), t0())
            .await
            .unwrap();
        // 100k calls exist before the measured updates, as in a running campaign.
        let mut calls = Vec::with_capacity(100_000);
        for chunk in 0..100 {
            let batch: Vec<_> = (0..1000)
                .map(|i| {
                    let n = chunk * 1000 + i;
                    let mut c = call(
                        campaign.id,
                        n % 10_000,
                        at(i64::from(n)),
                        CallOrigin::Campaign,
                    );
                    c.call_id = CallId::generate(at(i64::from(n)));
                    c
                })
                .collect();
            calls.extend(batch.iter().cloned());
            store
                .commit(WriteBatch {
                    calls: batch,
                    ..WriteBatch::default()
                })
                .await
                .unwrap();
        }
        let calls = Arc::new(calls);
        let label = format!("{sync:?}").to_lowercase();
        // One update per commit (64 writers each waiting for its own acknowledgement), and the
        // recorder's pattern: each commit carries 16 updates.
        for (per_commit, with_audit) in [(1usize, false), (1, true), (16, false), (16, true)] {
            let per_writer = 4_000usize;
            let clock = Stopwatch::start();
            let mut tasks = Vec::new();
            for w in 0..WRITERS {
                let (store, calls) = (Arc::clone(&store), Arc::clone(&calls));
                tasks.push(tokio::spawn(async move {
                    for first in (0..per_writer).step_by(per_commit) {
                        let mut batch = WriteBatch::default();
                        for i in first..first + per_commit {
                            let mut c = calls[(w * per_writer + i) % calls.len()].clone();
                            c.apply(CallEvent::DialStarted, at(1_000_000));
                            if with_audit {
                                let kind = AuditKind::Dialed {
                                    provider: "sim".into(),
                                    fencing_token: None,
                                };
                                batch.audits.push(audit(&c, at(1_000_000), kind));
                            }
                            batch.calls.push(c);
                        }
                        store.commit(batch).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let secs = clock.elapsed().as_secs_f64();
            let ops = WRITERS * per_writer;
            let what = if with_audit {
                "call update + audit line"
            } else {
                "call update"
            };
            let op = format!("{what}, {per_commit} per commit");
            println!(
                "| {label} | {WRITERS} | {op} | {ops} | {secs:.2} | {:.0} |",
                ops as f64 / secs
            );
        }
        if sync == Synchronous::Normal {
            let reads = 50_000usize;
            let clock = Stopwatch::start();
            let mut tasks = Vec::new();
            for w in 0..8 {
                let (store, calls) = (Arc::clone(&store), Arc::clone(&calls));
                tasks.push(tokio::spawn(async move {
                    for i in 0..reads / 8 {
                        let id = calls[(i * 7919 + w * 104_729) % calls.len()].call_id;
                        assert!(store.get_call(id).await.unwrap().is_some());
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let secs = clock.elapsed().as_secs_f64();
            println!(
                "| {label} | 8 readers | read call by id | {reads} | {secs:.2} | {:.0} |",
                reads as f64 / secs
            );
            let pages = 2_000usize;
            let clock = Stopwatch::start();
            let filter = CallFilter {
                campaign_id: Some(campaign.id),
                ..CallFilter::default()
            };
            let mut before = None;
            for _ in 0..pages {
                let page = store.list_calls(&filter, before, 100).await.unwrap();
                before = if page.len() == 100 {
                    page.last().map(|c| c.call_id)
                } else {
                    None
                };
            }
            let secs = clock.elapsed().as_secs_f64();
            println!(
                "| {label} | 1 reader | read a campaign page of 100 calls | {pages} | {secs:.2} | {:.0} |",
                pages as f64 / secs
            );
        }
        store.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dialer-bench-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0u8)
}

async fn leases() {
    let server = RedisServer::start().unwrap();
    let config = RedisLeaseConfig {
        connections: 4,
        ..RedisLeaseConfig::new(server.url())
    };
    let store = Arc::new(RedisLeases::connect(&config).await.unwrap());
    let pool = PoolId::named("bench");
    let pairs_per_task = 2_000usize;
    let clock = Stopwatch::start();
    let mut tasks = Vec::new();
    for task in 0..WRITERS {
        let (store, pool) = (Arc::clone(&store), pool.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..pairs_per_task {
                let holder = format!("h{task}-{i}");
                let granted = store
                    .acquire(&pool, &holder, Duration::from_secs(30), 1_000_000)
                    .await
                    .unwrap();
                assert!(matches!(granted, Acquire::Granted { .. }));
                store.release(&pool, &holder).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = clock.elapsed().as_secs_f64();
    let ours = (WRITERS * pairs_per_task) as f64 / secs;

    // The same scripts, driven by redis-benchmark (50 clients, no pipelining), on the same server.
    let acquire_sha = dialer_storage::lease::script_sha("acquire");
    let release_sha = dialer_storage::lease::script_sha("release");
    let keys = [
        "dialer:lease:{rb}:holders",
        "dialer:lease:{rb}:tokens",
        "dialer:lease:{rb}:fence",
    ];
    let run = |args: &[&str]| -> f64 {
        let port = server.port().to_string();
        let out = Command::new("redis-benchmark")
            .args([
                "-p",
                &port,
                "-c",
                "50",
                "-n",
                "200000",
                "-r",
                "100000000",
                "--csv",
            ])
            .args(args)
            .output()
            .expect("redis-benchmark (apt-get install redis-tools)");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or_default();
        line.split(',')
            .nth(1)
            .unwrap_or("0")
            .trim_matches('"')
            .parse()
            .unwrap_or(0.0)
    };
    let acquire_rps = run(&[
        "EVALSHA",
        &acquire_sha,
        "3",
        keys[0],
        keys[1],
        keys[2],
        "h:__rand_int__",
        "30000",
        "1000000000",
    ]);
    let release_rps = run(&[
        "EVALSHA",
        &release_sha,
        "2",
        keys[0],
        keys[1],
        "h:__rand_int__",
    ]);
    let pair_rps = 1.0 / (1.0 / acquire_rps + 1.0 / release_rps);
    println!("| measurement | per second |");
    println!("|---|---:|");
    println!("| redis-benchmark EVALSHA acquire (50 clients) | {acquire_rps:.0} |");
    println!("| redis-benchmark EVALSHA release (50 clients) | {release_rps:.0} |");
    println!("| redis-benchmark acquire+release pairs (derived) | {pair_rps:.0} |");
    println!("| RedisLeases acquire+release pairs, 64 tasks, 4 connections | {ours:.0} |");
    println!("| ratio | {:.0}% |", 100.0 * ours / pair_rps);
}
