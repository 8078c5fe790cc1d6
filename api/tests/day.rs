//! The small day CI runs (issue 10): `dialer serve` as a process on the embedded store, Redis
//! leases and the `http` provider, dialing 20,000 contacts across US time zones on 200 lines
//! at 500× under recipient-local calling hours and the seed's retry rules, until every contact
//! is final or exhausted. The simulator is the witness: no attempt placed twice, no answered
//! call dialed again, the cap held, every placement recorded in storage, no contact lost.
//! A correctness run: it asserts no timing.
//!
//! Its own test binary, so that it runs alone.

use dialer_loadtest::day::{self, DayConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_day_finishes_every_contact_with_no_duplicate_and_the_cap_held() {
    let work = tempfile::tempdir().expect("a temporary directory");
    let config = DayConfig::ci(
        env!("CARGO_BIN_EXE_dialer").into(),
        work.path().to_path_buf(),
    );
    let report = day::run(config).await.expect("the day runs");
    assert!(report.complete(), "{report}");
    assert_eq!(report.contacts_dialed, 20_000, "{report}");
    assert!(
        report.attempts_placed > 20_000,
        "retries happened: {report}"
    );
    assert!(
        report.peak_concurrency > 0 && report.peak_concurrency <= 200,
        "{report}"
    );
    // What the machine and the other processes used is measured, for reading the figures.
    let host = report.host.expect("the machine's share is measured");
    assert!(host.cpus > 0 && host.busy > 0.0, "{report}");
    assert!(
        (host.busy + host.idle + host.steal - 1.0).abs() < 1e-6,
        "{report}"
    );
    assert!(
        report.redis_cpu_seconds > 0.0 && report.harness_cpu_seconds > 0.0,
        "{report}"
    );
}
