//! The `dialer serve` and `dialer import` binaries, run as an operator runs them: a config file
//! and environment variables, a real port, SIGTERM for a graceful stop, data that survives it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

const TOKEN: &str = "serve-test-operator-token";

struct Serve {
    child: Child,
    base: String,
    /// Everything the server logged, read as it is written (a full pipe would block it).
    log: std::thread::JoinHandle<String>,
}

/// Starts `dialer serve` and waits for the line that says where it listens.
fn serve(dir: &Path, config: Option<&Path>) -> Serve {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dialer"));
    cmd.arg("serve").args(["--listen", "127.0.0.1:0"]);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let mut child = cmd
        .env("DIALER_DATA_DIR", dir)
        .env("OPS_TOKEN", TOKEN)
        .env_remove("DIALER_SCYLLA_URI")
        .env_remove("DIALER_REDIS_URL")
        .env_remove("DIALER_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.trim().to_owned());
            }
        }
    });
    let Ok(base) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("dialer serve did not start: {}", log.join().unwrap());
    };
    Serve { child, base, log }
}

impl Serve {
    /// SIGTERM, then the exit status and what it logged.
    fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        (status.success(), self.log.join().unwrap())
    }
}

fn config_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("dialer.yaml");
    std::fs::write(
        &path,
        "version: 1\nnode_id: test-node\nmax_concurrent_calls: 20\nauth:\n  tokens:\n    - {name: ops, role: operator, token_env: OPS_TOKEN}\n",
    )
    .unwrap();
    path
}

#[tokio::test]
async fn serve_import_terminate_and_restart_keep_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path());
    let server = serve(dir.path(), Some(&config));
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/v1/campaigns/", server.base))
        .header("X-Auth-Token", TOKEN)
        .json(&json!({"name": "imported"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    // `dialer import` streams the file and prints the report.
    let csv = dir.path().join("contacts.csv");
    std::fs::write(
        &csv,
        "phone_number,name\n+14155552671,Ada\n+14155552672,Grace\n+14155552671,dup\nnope,bad\n",
    )
    .unwrap();
    let import = |file: &Path, campaign: i64| {
        Command::new(env!("CARGO_BIN_EXE_dialer"))
            .arg("import")
            .arg(file)
            .args([
                "--campaign",
                &campaign.to_string(),
                "--server",
                &server.base,
                "--token",
                TOKEN,
            ])
            .output()
            .unwrap()
    };
    let out = import(&csv, id);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("4 rows: 2 accepted (2 new, 0 merged), 1 duplicates, 1 invalid"),
        "{stdout}"
    );
    assert!(stdout.contains("line 5: \"nope\""), "{stdout}");
    // Its failures say what went wrong.
    let out = import(&csv, 999);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("campaign 999 not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = import(&dir.path().join("missing.csv"), id);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));

    let (ok, log) = server.terminate();
    assert!(ok, "a clean exit on SIGTERM: {log}");
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    assert!(!log.contains(TOKEN), "the token never reaches the log");

    // The same data directory, a new process: the campaign and its contacts are there.
    let server = serve(dir.path(), Some(&config));
    let contacts: serde_json::Value = http
        .get(format!("{}/api/v1/campaigns/{id}/contacts", server.base))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(contacts.as_array().unwrap().len(), 2, "{contacts}");
    assert!(server.terminate().0);
}

#[tokio::test]
async fn with_no_configuration_it_runs_and_makes_a_private_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), None);
    let token_file = dir.path().join("admin-token");
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let r = http
        .get(format!("{}/api/v1/campaigns", server.base))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
    assert!(!log.contains(&token), "the generated token is not logged");
}

/// Whatever modes the data directory and its files had, the engine makes them its own: a
/// directory made by hand (0755) and a token file written with 0644 were left readable to all.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_every_file_in_it_are_private_whatever_existed_before() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let token_file = dir.join("admin-token");
    std::fs::write(&token_file, "an-existing-admin-token-0123456789\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = serve(&dir, None);
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/campaigns", server.base))
        .header("X-Auth-Token", "an-existing-admin-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the existing token is kept");
    assert_eq!(mode(&dir), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(
        files >= 4,
        "the token, the database, its WAL and shared memory"
    );
    let (ok, log) = server.terminate();
    assert!(ok, "{log}");
}

#[test]
fn a_bad_config_file_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "max_concurent_calls: 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dialer"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("max_concurent_calls") && err.contains("bad.yaml"),
        "{err}"
    );
}
