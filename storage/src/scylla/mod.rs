//! The ScyllaDB backend, for scale: the same traits as the embedded store over tables designed
//! one per query (see `storage/cql/0001_init.cql`), with prepared statements throughout.
//!
//! Consistency: reads and writes at `LOCAL_QUORUM`, so a read sees every acknowledged write in
//! the local datacenter; id allocation, contact de-duplication and the DNC list's "first record
//! wins" use lightweight transactions at `LOCAL_SERIAL`. A [`WriteBatch`] is written as `LOGGED`
//! batches of at most [`MAX_BATCH_STATEMENTS`] statements, each call's statements kept together
//! (so a call's state, its schedule entry and its audit lines apply together), followed by one
//! `COUNTER` batch. Counter updates are not idempotent: a timed-out counter batch is not
//! retried, and the counters may then undercount.
//!
//! Writes of one call come from the node that owns its campaign, so the read-before-write that
//! keeps the schedule index exact does not race.

mod audience;
mod calls;
mod contacts;
mod messages;
mod rows;
mod schema;
mod statements;
mod store;
mod write;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

use crate::error::{Result, StorageError};
use statements::Statements;

pub use write::MAX_BATCH_STATEMENTS;

/// How to reach a ScyllaDB cluster.
#[derive(Debug, Clone)]
pub struct ScyllaConfig {
    /// Contact points, `host:port` (the `DIALER_SCYLLA_URI` list, comma-separated).
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// The keyspace's replication, a CQL map literal, used by `migrate`.
    pub replication: String,
}

impl ScyllaConfig {
    /// Reads a comma-separated node list such as `127.0.0.1:9042` or `scylla://a:9042,b:9042`.
    pub fn from_uri(uri: &str, keyspace: impl Into<String>) -> Self {
        let nodes = uri
            .trim_start_matches("scylla://")
            .split(',')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        Self {
            nodes,
            keyspace: keyspace.into(),
            replication: "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}".into(),
        }
    }
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(format!("scylla: {e}"))
}

async fn session(config: &ScyllaConfig) -> Result<Session> {
    if config.nodes.is_empty() {
        return Err(StorageError::Unavailable(
            "scylla: no nodes configured".into(),
        ));
    }
    SessionBuilder::new()
        .known_nodes(&config.nodes)
        .build()
        .await
        .map_err(unavailable)
}

/// The ScyllaDB store.
pub struct ScyllaStore {
    session: Session,
    st: Statements,
    /// Audit line order within a call: strictly increasing in this process, never below the
    /// audit's own time in µs.
    event_seq: AtomicI64,
    closed: AtomicBool,
}

impl std::fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl ScyllaStore {
    /// Creates the keyspace if needed and applies pending migrations (`dialer migrate`).
    pub async fn migrate(config: &ScyllaConfig, now_ms: i64) -> Result<Vec<i32>> {
        let session = session(config).await?;
        schema::migrate(&session, &config.keyspace, &config.replication, now_ms).await
    }

    /// Connects to a migrated keyspace and prepares every statement.
    pub async fn connect(config: &ScyllaConfig) -> Result<Self> {
        let session = session(config).await?;
        schema::check(&session, &config.keyspace).await?;
        // Many statements are prepared in one future: boxed, so that it does not sit on the stack.
        let st = Box::pin(Statements::prepare(&session, &config.keyspace)).await?;
        Ok(Self {
            session,
            st,
            event_seq: AtomicI64::new(0),
            closed: AtomicBool::new(false),
        })
    }

    /// The schema version this binary writes.
    pub fn schema_version() -> i32 {
        schema::latest_version()
    }

    fn open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(StorageError::Closed)
        } else {
            Ok(())
        }
    }

    fn next_event_seq(&self, at_ms: i64) -> i64 {
        let floor = at_ms.saturating_mul(1000);
        let mut current = self.event_seq.load(Ordering::Relaxed);
        loop {
            let next = (current + 1).max(floor);
            match self.event_seq.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => current = seen,
            }
        }
    }
}
