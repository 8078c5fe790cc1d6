//! `dialer serve` as a child process: started, killed, stopped and started again, and what it
//! used (CPU, peak memory). Redis is `dialer_storage::testsuite::redis_server`, the tests' own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// `dialer serve` as a child process.
pub struct Dialer {
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    port: u16,
    level: &'static str,
    /// Environment variables it is started with (secrets a config names by `*_env`).
    envs: Vec<(String, String)>,
    child: Option<Child>,
}

/// What a process used so far (Linux `/proc`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// User and system CPU time.
    pub cpu_seconds: f64,
    /// The most resident memory it had at once (VmHWM).
    pub peak_rss_bytes: u64,
}

/// Reads `/proc/{pid}`: CPU time from `stat`, peak resident memory from `status`.
fn usage_of(pid: &str) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) — utime and stime are 14 and 15.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    // USER_HZ is 100 on Linux.
    Some(Usage {
        cpu_seconds: ticks / 100.0,
        peak_rss_bytes: hwm_kb * 1024,
    })
}

/// This process's peak resident memory.
pub fn own_peak_rss_bytes() -> Option<u64> {
    usage_of("self").map(|u| u.peak_rss_bytes)
}

/// What this process used so far (the simulator and the harness).
pub fn own_usage() -> Option<Usage> {
    usage_of("self")
}

/// What process `pid` used so far.
pub fn usage_of_pid(pid: u32) -> Option<Usage> {
    usage_of(&pid.to_string())
}

impl Dialer {
    /// Writes `dir/dialer.yaml` — `listen` on a free loopback port, `data_dir` in `dir`, then
    /// the YAML lines of `rest` — and starts `binary serve` with it, logging to
    /// `dir/dialer.log`; returns once it is ready.
    pub async fn serve_in(binary: &Path, dir: &Path, rest: &str) -> anyhow::Result<Self> {
        Self::serve_in_with(binary, dir, rest, &[]).await
    }

    /// As [`Self::serve_in`], with these environment variables set for it.
    pub async fn serve_in_with(
        binary: &Path,
        dir: &Path,
        rest: &str,
        envs: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let port = dialer_storage::testsuite::redis_server::free_port()?;
        let config = dir.join("dialer.yaml");
        std::fs::write(
            &config,
            format!(
                "version: 1\nlisten: 127.0.0.1:{port}\ndata_dir: {}\n{rest}\n",
                dir.join("data").display()
            ),
        )?;
        let mut dialer = Self::new(binary, &config, &dir.join("dialer.log"), port, "warn");
        dialer.envs = envs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        dialer.start(&reqwest::Client::new()).await?;
        Ok(dialer)
    }

    pub fn new(binary: &Path, config: &Path, log: &Path, port: u16, level: &'static str) -> Self {
        Self {
            binary: binary.to_owned(),
            config: config.to_owned(),
            log: log.to_owned(),
            port,
            level,
            envs: Vec::new(),
            child: None,
        }
    }

    /// What the running process used so far.
    pub fn usage(&self) -> Option<Usage> {
        usage_of(&self.child.as_ref()?.id().to_string())
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts it and waits until it answers `/readyz`.
    pub async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.binary)
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("DIALER_LOG", self.level)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        let ready = format!("{}/readyz", self.base_url());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "dialer exited at start ({status}); see {}",
                    self.log.display()
                );
            }
            if http
                .get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "dialer was not ready within 120 s; see {}",
            self.log.display()
        )
    }

    /// `kill -9`: no chance to flush or finish anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and waits for a clean exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .context("kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM failed: {status}");
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            if let Some(exit) = child.try_wait()? {
                if !exit.success() {
                    bail!(
                        "dialer exited with {exit} on SIGTERM; see {}",
                        self.log.display()
                    );
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        bail!("dialer did not stop within 60 s of SIGTERM")
    }
}

impl Drop for Dialer {
    fn drop(&mut self) {
        self.kill9();
    }
}
