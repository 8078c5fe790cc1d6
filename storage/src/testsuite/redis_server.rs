//! A real `redis-server` for tests: started on a free loopback port in a temporary directory,
//! stopped (killed) when dropped. `.ci/run` installs `redis-server` when it is absent.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// Why a test redis-server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RedisServerError {
    #[error("redis-server is not installed (apt-get install -y redis-server): {0}")]
    NotInstalled(std::io::Error),
    #[error("redis-server did not accept connections on port {0} within 10 s")]
    NotReady(u16),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A loopback port nothing listens on now.
pub fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

impl RedisServer {
    /// Starts a server with persistence off, on a free port.
    pub fn start() -> Result<Self, RedisServerError> {
        let dir = std::env::temp_dir().join(format!(
            "dialer-redis-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&dir)?;
        let mut server = Self {
            port: free_port()?,
            dir,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), RedisServerError> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(RedisServerError::NotInstalled)?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits for the server to accept TCP connections (a process start-up, not a test poll).
    fn wait_ready(&self) -> Result<(), RedisServerError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        for _ in 0..200 {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(50)).is_ok() {
                return Ok(());
            }
            std::thread::park_timeout(Duration::from_millis(50));
        }
        Err(RedisServerError::NotReady(self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `redis://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// How many times the server ran `command` (`INFO commandstats`, read with `redis-cli`).
    pub fn calls(&self, command: &str) -> std::io::Result<u64> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "INFO", "commandstats"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let prefix = format!("cmdstat_{}:calls=", command.to_ascii_lowercase());
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty (persistence is off).
    pub fn restart(&mut self) -> Result<(), RedisServerError> {
        self.stop();
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
