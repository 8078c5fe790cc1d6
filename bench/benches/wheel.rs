//! The timing wheel against `BinaryHeap` and tokio-util's `DelayQueue` at 10k, 100k and 1M
//! pending timers: insert, cancel, and insert + expire while time advances through the span in
//! one-second steps (the way the scheduler drives it).
//!
//! `cargo bench -p dialer-bench --bench wheel`

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dialer_bench::timers::{
    deadlines, drain_delay_queue, drain_heap, drain_wheel, fill_delay_queue, fill_heap, fill_wheel,
    paused_runtime,
};

/// Deadlines spread over one hour, advanced in 1 s steps.
const SPAN_MS: u64 = 3_600_000;
const STEP_MS: u64 = 1_000;
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(3));
    g
}

fn insert(c: &mut Criterion) {
    let mut g = configure(c, "insert");
    for n in SIZES {
        let ds = deadlines(n, SPAN_MS);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("wheel", n), &ds, |b, ds| {
            b.iter(|| black_box(fill_wheel(ds)))
        });
        g.bench_with_input(BenchmarkId::new("binary_heap", n), &ds, |b, ds| {
            b.iter(|| black_box(fill_heap(ds)))
        });
        let rt = paused_runtime();
        g.bench_with_input(BenchmarkId::new("delay_queue", n), &ds, |b, ds| {
            b.iter(|| rt.block_on(async { black_box(fill_delay_queue(ds)) }))
        });
    }
    g.finish();
}

fn cancel(c: &mut Criterion) {
    let mut g = configure(c, "cancel");
    for n in SIZES {
        let ds = deadlines(n, SPAN_MS);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("wheel", n), &ds, |b, ds| {
            b.iter_batched(
                || fill_wheel(ds),
                |(mut w, ids)| {
                    for id in ids {
                        black_box(w.cancel(id));
                    }
                    w
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_with_input(BenchmarkId::new("binary_heap", n), &ds, |b, ds| {
            b.iter_batched(
                || fill_heap(ds),
                |(mut h, ids)| {
                    for id in ids {
                        black_box(h.cancel(id));
                    }
                    h
                },
                BatchSize::PerIteration,
            )
        });
        let rt = paused_runtime();
        g.bench_with_input(BenchmarkId::new("delay_queue", n), &ds, |b, ds| {
            b.iter_batched(
                || rt.block_on(async { fill_delay_queue(ds) }),
                |(mut q, keys)| {
                    rt.block_on(async {
                        for k in &keys {
                            black_box(q.remove(k));
                        }
                    });
                    q
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn insert_and_expire(c: &mut Criterion) {
    let mut g = configure(c, "insert_expire");
    for n in SIZES {
        let ds = deadlines(n, SPAN_MS);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("wheel", n), &ds, |b, ds| {
            b.iter(|| {
                let (mut w, _) = fill_wheel(ds);
                assert_eq!(drain_wheel(&mut w, SPAN_MS, STEP_MS), ds.len());
            })
        });
        g.bench_with_input(BenchmarkId::new("binary_heap", n), &ds, |b, ds| {
            b.iter(|| {
                let (mut h, _) = fill_heap(ds);
                assert_eq!(drain_heap(&mut h, SPAN_MS, STEP_MS), ds.len());
            })
        });
        g.bench_with_input(BenchmarkId::new("delay_queue", n), &ds, |b, ds| {
            b.iter(|| {
                // A fresh paused runtime per iteration: its clock starts at zero again.
                let rt = paused_runtime();
                rt.block_on(async {
                    let (mut q, _) = fill_delay_queue(ds);
                    assert_eq!(drain_delay_queue(&mut q, SPAN_MS, STEP_MS).await, ds.len());
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, insert, cancel, insert_and_expire);
criterion_main!(benches);
