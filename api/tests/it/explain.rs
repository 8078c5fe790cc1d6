//! `dialer explain`, run as an operator runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn dialer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dialer"))
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("run dialer")
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn explains_a_number_with_the_shipped_retry_rules() {
    // Saturday 2026-06-06 14:00 UTC is 10:00 in New York.
    let o = dialer(&[
        "explain",
        "--number",
        "+1 (212) 555-0100",
        "--at",
        "2026-06-06T14:00:00Z",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("+12125550100"), "{out}");
    assert!(out.contains("America/New_York"), "{out}");
    assert!(out.contains("Sat 2026-06-06 10:00:00 EDT"), "{out}");
    assert!(out.contains("OPEN now"), "{out}");
    assert!(out.contains("PICKED"), "{out}");
    // RNR: 10:00 EDT, then +60 min at 11:00, then the evening window (+30 min) at 19:00.
    assert!(
        out.contains(
            "#1 2026-06-06T14:00:00Z -> #2 2026-06-06T15:00:00Z -> #3 2026-06-06T23:00:00Z"
        ),
        "{out}"
    );
    assert!(out.contains("EXHAUSTED (max_attempts 3)"), "{out}");
}

#[test]
fn reads_a_campaign_config_and_answers_in_json() {
    let o = dialer(&[
        "explain",
        "--number",
        "(415) 555-2671",
        "--at",
        "2026-06-08T02:00:00Z",
        "--campaign-config",
        "config/campaign.example.yaml",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["e164"], "+14155552671",
        "default_region US reads the national number"
    );
    assert_eq!(v["zones"][0]["zone"], "America/Los_Angeles");
    // Sunday 19:00 PDT: the example campaign does not call on Sundays; Monday 09:00 PDT.
    assert_eq!(v["calling_hours"]["open_now"], false);
    assert_eq!(v["calling_hours"]["next_open"], "2026-06-08T16:00:00Z");
}

#[test]
fn a_seed_retry_file_overrides_the_campaign_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("retry_config.yaml");
    std::fs::write(
        &path,
        "- day_of_week: \"saturday\"\n  start_time: \"10:00:00\"\n  end_time: \"12:00:00\"\n  retry_interval_minutes: 60\n",
    )
    .unwrap();
    let o = dialer(&[
        "explain",
        "--number",
        "+442079460958",
        "--at",
        "2026-06-06T09:00:00Z",
        "--retry-config",
        path.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rnr = v["retries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["outcome"] == "RNR")
        .unwrap();
    // 10:00 BST is 09:00 UTC: attempt 2 at 11:00 BST, attempt 3 a week later.
    assert_eq!(rnr["attempts"][1]["dial_at"], "2026-06-06T10:00:00Z");
    assert_eq!(rnr["attempts"][2]["dial_at"], "2026-06-13T09:00:00Z");
}

#[test]
fn bad_input_fails_with_a_reason_and_no_panic() {
    let o = dialer(&[
        "explain",
        "--number",
        "415 555 2671",
        "--at",
        "2026-06-06T14:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no country code"), "{}", stderr(&o));

    let o = dialer(&["explain", "--number", "+12125550100", "--at", "yesterday"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("RFC 3339"), "{}", stderr(&o));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, "calling_hour: []\n").unwrap();
    let o = dialer(&[
        "explain",
        "--number",
        "+12125550100",
        "--campaign-config",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown field `calling_hour`"),
        "{}",
        stderr(&o)
    );

    let o = dialer(&["explain"]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2");
}
