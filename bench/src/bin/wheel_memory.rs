//! Bytes per pending timer, measured by a counting allocator: live heap bytes after inserting N
//! timers into each structure, divided by N.
//!
//! `cargo run --release -p dialer-bench --bin wheel-memory`
#![allow(unsafe_code)] // The counting allocator below: a `GlobalAlloc` impl is unsafe by definition.
#![allow(clippy::print_stdout)] // A report tool.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use dialer_bench::timers::{deadlines, fill_delay_queue, fill_heap, fill_wheel, paused_runtime};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` unchanged and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn measure<T>(n: usize, build: impl FnOnce() -> T) -> (f64, T) {
    let before = LIVE.load(Ordering::Relaxed);
    let built = build();
    let after = LIVE.load(Ordering::Relaxed);
    ((after - before) as f64 / n as f64, built)
}

fn main() {
    println!("| pending timers | wheel B/timer | BinaryHeap B/timer | DelayQueue B/timer |");
    println!("|---:|---:|---:|---:|");
    for n in [10_000usize, 100_000, 1_000_000] {
        let ds = deadlines(n, 3_600_000);
        // Ids and keys are kept by the caller in every case, so they are excluded: build them,
        // then measure the structure alone by dropping the id vector inside the measurement.
        let (wheel, _) = measure(n, || fill_wheel(&ds).0);
        let (heap, _) = measure(n, || fill_heap(&ds).0);
        let rt = paused_runtime();
        let (queue, q) = rt.block_on(async { measure(n, || fill_delay_queue(&ds).0) });
        println!("| {n} | {wheel:.1} | {heap:.1} | {queue:.1} |");
        drop(q);
    }
}
