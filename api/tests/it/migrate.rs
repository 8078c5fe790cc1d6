//! `dialer migrate` on the embedded store.

use std::process::Command;

#[test]
fn migrate_creates_the_embedded_schema_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let o = Command::new(env!("CARGO_BIN_EXE_dialer"))
            .args(["migrate", "--data-dir"])
            .arg(dir.path())
            .env_remove("DIALER_SCYLLA_URI")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let version = format!(
            "schema version {}",
            dialer_storage::embedded::EmbeddedStore::schema_version()
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains(&version));
    }
    assert!(dir.path().join("dialer.sqlite").exists());
}

#[test]
fn migrate_reports_an_unreachable_scylla_cluster() {
    // Nothing listens on port 1: the error names the keyspace and the nodes.
    let o = Command::new(env!("CARGO_BIN_EXE_dialer"))
        .args([
            "migrate",
            "--scylla-uri",
            "127.0.0.1:1",
            "--keyspace",
            "dialer_x",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("dialer_x") && err.contains("127.0.0.1:1"),
        "{err}"
    );
}
