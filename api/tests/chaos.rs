//! The chaos run CI makes (issue 9): `dialer serve` as a child process on the embedded store,
//! Redis leases and the `http` provider pointed at the provider simulator; three `kill -9`s at
//! random moments, Redis stopped and brought back empty, a phase of 5xx answers and timeouts past
//! the request timeout, and a stop across due retries. The simulator's journal is the witness:
//! nothing accepted is lost, no attempt is dialed twice, no answered call is dialed again, the
//! cap holds, nothing is left overdue, and dialing resumes within a second of Redis returning.
//!
//! Its own test binary, so that it runs alone and the other tests do not crowd its timing.

use dialer_loadtest::chaos::{self, ChaosConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_outages_and_provider_faults_lose_nothing_and_dial_no_attempt_twice() {
    let work = tempfile::tempdir().expect("a temporary directory");
    let config = ChaosConfig::ci(
        env!("CARGO_BIN_EXE_dialer").into(),
        work.path().to_path_buf(),
    );
    let report = chaos::run(config).await.expect("the chaos run completes");
    assert!(report.kills >= 4, "three kills and one stop: {report}");
    assert!(
        report.redis_resume_secs.len() == 1,
        "one Redis outage: {report}"
    );
    assert!(report.passed(), "{report}");
    // The faults did happen: requests repeated under the same key after timeouts, and one-off
    // calls were accepted beside the list.
    assert!(report.repeated_keys > 0, "{report}");
    assert!(report.accepted_one_offs > 200, "{report}");
}
