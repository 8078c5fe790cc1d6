//! The operators' console in a real browser: `api/tests/console/journeys.mjs` drives Debian's
//! chromium (through npm `playwright-core`) through the main journeys against a running
//! `dialer serve` — sign in, create a campaign, upload contacts, start it and watch the live
//! numbers, schedule and cancel a call, read an audit timeline, add a DNC entry, ask why a number
//! is not dialed, a viewer offered no write control, a phone-sized screen, an admin removing a
//! DNC entry; and messaging: a recipient and its topic, a segment (its rule's mistake shown,
//! then its count), a template previewed for the recipient and an event.
//!
//! Every page a journey ends on is also checked by axe-core for serious or critical WCAG 2.1
//! A/AA faults.
//!
//! Screenshots of every page land in `target/console-screenshots/` (CI keeps them as artifacts).
//! `.ci/run` installs chromium and the npm package (`npm ci` in `api/tests/console`).

use std::path::{Path, PathBuf};
use std::process::Command;

use dialer_loadtest::harness::Dialer;

const ADMIN: &str = "console-admin-token-0123456789";
const OPERATOR: &str = "console-operator-token-0123456789";
const VIEWER: &str = "console-viewer-token-0123456789";
const TWILIO_SID: &str = "AC00000000000000000000000000000007";
const TWILIO_TOKEN: &str = "console-twilio-auth-token";
/// What dialer believes it is reached at: Twilio signs this URL.
const CONSOLE_PUBLIC_URL: &str = "https://console.dialer.test";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_journeys_work_in_a_real_browser() {
    let journeys = root().join("api/tests/console");
    assert!(
        journeys.join("node_modules/playwright-core").exists(),
        "playwright-core and axe-core are not installed: run `npm ci --prefix api/tests/console` (or bash .ci/run)"
    );
    let work = tempfile::tempdir().expect("a temporary directory");
    // Short rings and talks, so that the live numbers move within seconds.
    // A Twilio account whose webhooks the journeys sign (as Twilio would, for dialer's public
    // URL), so an inbound message reaches the inbox.
    let rest = format!(
        r#"public_url: {CONSOLE_PUBLIC_URL}
auth:
  rate_limit_per_second: 0
  tokens:
    - {{name: admin, role: admin, token: {ADMIN}}}
    - {{name: ops, role: operator, token: {OPERATOR}}}
    - {{name: watcher, role: viewer, token: {VIEWER}}}
providers:
  sim:
    seed: 7
    profile: {{picked: 60, disconnected: 10, rnr: 20, failed: 10, ring_min_ms: 200, ring_max_ms: 1500, talk_min_secs: 1, talk_max_secs: 3}}
  twilio:
    - {{name: twilio, account_sid: {TWILIO_SID}, auth_token_env: CONSOLE_TWILIO_TOKEN, from: "+14155550100", voice_url: "https://example.com/twiml"}}"#
    );
    let mut dialer = Dialer::serve_in_with(
        Path::new(env!("CARGO_BIN_EXE_dialer")),
        work.path(),
        &rest,
        &[("CONSOLE_TWILIO_TOKEN", TWILIO_TOKEN)],
    )
    .await
    .expect("dialer serve starts");
    let shots = root().join("target/console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let mut node = Command::new("node");
    node.arg(journeys.join("journeys.mjs"))
        .current_dir(&journeys)
        .env("BASE_URL", dialer.base_url())
        .env("ADMIN_TOKEN", ADMIN)
        .env("OPERATOR_TOKEN", OPERATOR)
        .env("VIEWER_TOKEN", VIEWER)
        .env("PUBLIC_URL", CONSOLE_PUBLIC_URL)
        .env("TWILIO_SID", TWILIO_SID)
        .env("TWILIO_TOKEN", TWILIO_TOKEN)
        .env("SHOTS", &shots);
    let out = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("node runs (apt-get install nodejs, or bash .ci/run)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    dialer.stop().await.expect("dialer stops cleanly");
    assert!(
        out.status.success(),
        "the console journeys failed (screenshots in {}):\n{stdout}\n{stderr}",
        shots.display()
    );
    for page in [
        "01-sign-in",
        "02-create-campaign",
        "03-upload-contacts",
        "04-start-and-watch",
        "05-schedule-and-cancel",
        "06-audit-timeline",
        "07-dnc",
        "08-why-not-dialed",
        "09-viewer",
        "10-phone-sized",
        "11-admin-removes-dnc",
        "12-messaging",
        "13-messaging-viewer",
        "14-inbox-reply",
        "15-sms-campaign",
    ] {
        assert!(
            stdout.contains(&format!("ok    {page}")),
            "journey {page} did not pass:\n{stdout}"
        );
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
}
