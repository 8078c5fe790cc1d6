//! schemathesis (from PyPI; `.ci/run` installs it into `target/st-venv`) against `dialer serve`
//! and the OpenAPI document it serves: every operation, coverage, fuzzing and stateful phases
//! (following the document's links), every check — never a 5xx; only documented status codes,
//! content types and headers; bodies and events that match their schemas; schema-valid input
//! accepted and schema-invalid input refused. `schemathesis.toml` beside this file names the
//! three operations whose positive check is off, and why. The node runs in `e164` mode, whose
//! document gives phone numbers a pattern (the numbering plan of `strict` mode has none).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is the failure report.

use std::path::{Path, PathBuf};
use std::process::Command;

use dialer_loadtest::harness::Dialer;
use dialer_storage::testsuite::redis_server::free_port;

const TOKEN: &str = "schemathesis-admin-token-0123456789";

fn schemathesis() -> PathBuf {
    if let Some(p) = std::env::var_os("SCHEMATHESIS") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/st-venv/bin/schemathesis");
    if venv.exists() {
        return venv;
    }
    "schemathesis".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_server_and_its_document_in_agreement() {
    let work = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let config = work.path().join("dialer.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nlisten: 127.0.0.1:{port}\ndata_dir: {}\nphone_validation: e164\n\
             auth: {{rate_limit_per_second: 0, tokens: [{{name: admin, role: admin, token: {TOKEN}}}]}}\n",
            work.path().join("data").display()
        ),
    )
    .unwrap();
    let mut dialer = Dialer::new(
        Path::new(env!("CARGO_BIN_EXE_dialer")),
        &config,
        &work.path().join("dialer.log"),
        port,
        "warn",
    );
    dialer
        .start(&reqwest::Client::new())
        .await
        .expect("dialer serve starts");
    let mut run = Command::new(schemathesis());
    let config_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    // One worker: with two, hypothesis describes strategies' lambdas by parsing source with
    // `ast` in both threads at once, and CPython 3.11 (Debian 12's) can then fail with
    // "AST constructor recursion depth mismatch" (a CI run failed so; the API was fine).
    run.current_dir(work.path())
        .arg("--config-file")
        .arg(config_file)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", dialer.base_url()))
        .args(["-H", &format!("X-Auth-Token: {TOKEN}")])
        .args(["--max-examples", "5", "--workers", "1", "--seed", "1"])
        .args(["--suppress-health-check", "filter_too_much"])
        .env("NO_COLOR", "1");
    let out = tokio::task::spawn_blocking(move || run.output())
        .await
        .unwrap()
        .expect("schemathesis runs (pip install schemathesis, or bash .ci/run)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
    dialer.stop().await.expect("dialer stops");
}
