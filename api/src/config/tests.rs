//! Loading and validating the configuration: files, environment, and the errors that name
//! their field.

use std::collections::HashMap;

use super::*;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn nothing_configured_means_embedded_in_process_and_sim() {
    let s = settings(FileConfig::default(), &env(&[])).unwrap();
    assert!(matches!(s.storage, StorageChoice::Embedded { .. }));
    assert!(matches!(s.leases, LeaseChoice::InProcess));
    assert_eq!(s.max_concurrent_calls, 100);
    assert_eq!(s.duplicate_window_secs, 300);
    assert!(s.tokens.is_empty());
}

#[test]
fn environment_variables_override_the_file() {
    let file: FileConfig =
        yaml_serde::from_str("max_concurrent_calls: 20\nlisten: 0.0.0.0:9000\n").unwrap();
    let s = settings(
        file,
        &env(&[
            ("MAX_CONCURRENT_CALLS", "50"),
            ("DIALER_REDIS_URL", "redis://r:6379"),
            ("DIALER_ADMIN_TOKEN", "0123456789abcdef"),
        ]),
    )
    .unwrap();
    assert_eq!(s.max_concurrent_calls, 50);
    assert_eq!(s.listen.port(), 9000);
    assert!(matches!(s.leases, LeaseChoice::Redis { .. }));
    assert_eq!(s.tokens.len(), 1);
    assert!(
        !format!("{s:?}").contains("0123456789abcdef"),
        "secrets stay out of Debug output"
    );
}

#[test]
fn the_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/dialer.example.yaml");
    let vars = [
        ("DIALER_OPS_TOKEN", "ops-token-0123456789"),
        ("DIALER_VIEWER_TOKEN", "viewer-token-0123456789"),
        ("DIALER_PROVIDER_TOKEN", "provider-token-0123456789"),
        ("TWILIO_AUTH_TOKEN", "twilio-secret"),
    ];
    let s = load(Some(&path), &env(&vars)).unwrap();
    assert_eq!(s.tokens.len(), 3);
    assert_eq!(s.twilio[0].public_url, "https://dialer.example.com");
    assert_eq!(s.http_providers[0].max_cps, Some(20));
    let retry = s.default_retry.unwrap();
    assert_eq!(
        retry.rules(),
        RetryPolicy::shipped().rules(),
        "read from config/retry_config.yaml"
    );
}

#[test]
fn mistakes_name_their_field() {
    let bad = [
        ("max_concurent_calls: 3\n", "unknown field"),
        ("storage: {backend: mysql}\n", "storage.backend"),
        (
            "auth: {tokens: [{name: a, role: admin, token: short}]}\n",
            "auth.tokens[0].token",
        ),
        (
            "auth: {tokens: [{name: a, role: king, token: 0123456789abcdef}]}\n",
            "unknown variant",
        ),
        ("version: 2\n", "version"),
    ];
    for (text, want) in bad {
        let err = yaml_serde::from_str::<FileConfig>(text)
            .map_err(anyhow::Error::from)
            .and_then(|f| settings(f, &env(&[])))
            .unwrap_err();
        assert!(format!("{err:#}").contains(want), "{text}: {err:#}");
    }
}

#[test]
fn a_fast_clock_can_start_on_a_chosen_day() {
    use dialer_actors::clock::{Clock, SystemClock};
    let epoch = SystemClock.now();
    let file: FileConfig = yaml_serde::from_str(&format!(
        "clock_speed: 60\nclock_epoch: {}\nclock_start: 2026-12-07T05:00:00Z\n",
        epoch.to_rfc3339()
    ))
    .unwrap();
    let s = settings(file, &env(&[])).unwrap();
    let start: chrono::DateTime<chrono::Utc> = "2026-12-07T05:00:00Z".parse().unwrap();
    let now = crate::app::clock(&s).now();
    // Less than a real second since `epoch`: under a minute at 60×.
    assert!(
        now >= start && now < start + chrono::Duration::seconds(60),
        "{now}"
    );
    let moved: FileConfig = yaml_serde::from_str("clock_start: 2026-12-07T05:00:00Z\n").unwrap();
    let s = settings(
        moved,
        &env(&[("DIALER_CLOCK_START", "2027-01-01T00:00:00Z")]),
    )
    .unwrap();
    assert_eq!(s.clock_start, "2027-01-01T00:00:00Z".parse().ok());
}

#[test]
fn the_bench_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/api/dialer.yaml");
    let s = load(
        Some(&path),
        &env(&[("BENCH_TOKEN", "bench-token-0123456789")]),
    )
    .unwrap();
    assert_eq!(s.max_concurrent_calls, 100_000);
    assert_eq!(s.http_providers[0].name, "loadsim");
}
