//! The embedded backend, dialer's default: SQLite (bundled) in WAL mode in one data directory.
//!
//! All writes go through one writer thread that commits them in groups (see `writer`);
//! reads run on a small pool of connections, point reads on the dial path on the caller's
//! thread (see `read` and `readers`). An acknowledged write is durable at the configured
//! `synchronous` level: `NORMAL` (the default) survives a process crash or `kill -9`; `FULL`
//! also survives a power loss, at the cost of an fsync per commit.

mod audience;
mod checkpoint;
mod codec;
mod messages;
mod read;
mod readers;
mod schema;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dialer_engine::{
    Call, CallAudit, CallId, Campaign, CampaignId, ContactId, Lane, NewCampaign, PhoneNumber,
};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, StorageError};
use crate::model::{
    AddContact, CallFilter, CampaignDetails, Contact, DncEntry, DncKind, ListZone, NewContact,
    WriteBatch,
};
use crate::traits::{
    CallStore, CampaignStore, ContactStore, CounterStore, DncStore, EventStore, ScheduleStore,
    Store,
};
use writer::{Answer, Job, Work};

/// SQLite's `synchronous` setting for the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// Durable across process crashes; the last commits may be lost on power failure.
    #[default]
    Normal,
    /// Durable across power failure: an fsync per group commit.
    Full,
}

/// How to open the embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The data directory; the database is `dialer.sqlite` inside it.
    pub dir: PathBuf,
    pub synchronous: Synchronous,
    /// Writes that may wait for the writer before senders are slowed down (backpressure).
    pub queue_depth: usize,
    /// Read connections kept open.
    pub readers: usize,
    /// How often the WAL is checkpointed, off the write path.
    pub checkpoint_every: std::time::Duration,
}

impl EmbeddedConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            synchronous: Synchronous::Normal,
            queue_depth: 8192,
            readers: 4,
            checkpoint_every: std::time::Duration::from_millis(500),
        }
    }
}

/// The embedded store.
#[derive(Debug)]
pub struct EmbeddedStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    readers: readers::Readers,
    checkpointer: Mutex<Option<checkpoint::Checkpointer>>,
}

const DB_FILE: &str = "dialer.sqlite";

/// How long a connection waits for a lock another holds before it answers `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A busy handler that tries again every `step` until `limit` has passed since the lock was
/// first found taken. SQLite's own (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20 … ms between
/// tries, so a lock held for 3 ms cost a waiter 8: the writer waited out the checkpointer's
/// WAL restarts in those steps (bench/RESULTS.md).
///
/// It runs inside SQLite on the connection's own thread, waiting for a lock held by another
/// process or thread in real time, as SQLite's own handler does: no engine clock applies.
#[allow(clippy::disallowed_methods)]
fn retry_every(step: Duration, limit: Duration) -> impl FnMut(i32) -> bool + Send + 'static {
    let mut since = Instant::now();
    move |tries| {
        if tries == 0 {
            since = Instant::now();
        }
        if since.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(step);
        true
    }
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StorageError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `config.dir`, applying pending migrations.
    /// `now` stamps the migration records.
    pub fn open(config: &EmbeddedConfig, now: DateTime<Utc>) -> Result<Self> {
        crate::private::private_dir(&config.dir).map_err(|e| {
            StorageError::Unavailable(format!("cannot create {}: {e}", config.dir.display()))
        })?;
        let path = config.dir.join(DB_FILE);
        let mut conn = open_connection(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        let sync = match config.synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        // The writer's page cache is 8 MiB, not more: while the database is under 1 GiB, every
        // commit after a B-tree page split walks the whole page cache (SQLite renumbers pages
        // through the page number at the 1 GiB lock byte, and the cache then drops every page
        // past the end of the file by scanning all of them). With 64 MiB that scan was a fifth
        // of the writer thread's time (bench/RESULTS.md).
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = OFF;
             PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192;
             PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;"
        ))?;
        // The WAL and shared-memory files take the database file's mode.
        for suffix in ["", "-wal", "-shm"] {
            let file = config.dir.join(format!("{DB_FILE}{suffix}"));
            crate::private::private_file(&file).map_err(|e| {
                StorageError::Unavailable(format!("cannot make {} private: {e}", file.display()))
            })?;
        }
        schema::migrate(&mut conn, now.timestamp_millis())?;
        // The writer only ever waits for the checkpointer (a WAL restart holds the write lock
        // for about a millisecond): it tries again every 50 µs, not in SQLite's steps.
        conn.busy_handler(Some(retry_every(Duration::from_micros(50), BUSY_TIMEOUT)))?;
        let checkpointer = checkpoint::Checkpointer::start(&path, config.checkpoint_every)?;
        let (tx, rx) = mpsc::channel(config.queue_depth.max(1));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("dialer-sqlite-writer".into())
            .spawn(move || writer::run(conn, rx, done_tx))
            .map_err(|e| {
                StorageError::Unavailable(format!("cannot start the writer thread: {e}"))
            })?;
        Ok(Self {
            readers: readers::Readers::new(path.clone(), config.readers),
            path,
            writer: Mutex::new(Some(tx)),
            writer_done: Mutex::new(Some(done_rx)),
            checkpointer: Mutex::new(Some(checkpointer)),
        })
    }

    /// The schema version this binary writes.
    pub fn schema_version() -> i64 {
        schema::latest_version()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write(&self, work: Work) -> Result<Answer> {
        let sender = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(StorageError::Closed)?;
        let (ack, answer) = oneshot::channel();
        sender
            .send(Job { work, ack })
            .await
            .map_err(|_| StorageError::Closed)?;
        answer.await.map_err(|_| StorageError::Closed)?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.readers.read(f).await
    }
}

/// The writer answered a job with the wrong kind of answer: a bug, reported rather than panicked.
fn unexpected(answer: Answer) -> StorageError {
    StorageError::Corrupt(format!("unexpected writer answer {answer:?}"))
}

#[async_trait]
impl CampaignStore for EmbeddedStore {
    async fn create_campaign(&self, new: NewCampaign, now: DateTime<Utc>) -> Result<Campaign> {
        match self.write(Work::CreateCampaign(Box::new(new), now)).await? {
            Answer::Campaign(c) => Ok(*c),
            other => Err(unexpected(other)),
        }
    }

    async fn get_campaign(&self, id: CampaignId) -> Result<Option<Campaign>> {
        self.read(move |c| read::campaign(c, id)).await
    }

    async fn list_campaigns(&self, after: Option<CampaignId>, limit: u32) -> Result<Vec<Campaign>> {
        self.read(move |c| read::campaigns(c, after, limit)).await
    }

    async fn update_campaign_details(
        &self,
        id: CampaignId,
        details: CampaignDetails,
        now: DateTime<Utc>,
    ) -> Result<Campaign> {
        match self
            .write(Work::UpdateDetails(id, Box::new(details), now))
            .await?
        {
            Answer::Campaign(c) => Ok(*c),
            other => Err(unexpected(other)),
        }
    }

    async fn delete_draft_campaign(&self, id: CampaignId) -> Result<bool> {
        match self.write(Work::DeleteDraft(id)).await? {
            Answer::Flag(deleted) => Ok(deleted),
            other => Err(unexpected(other)),
        }
    }
}

#[async_trait]
impl ContactStore for EmbeddedStore {
    async fn add_contacts(
        &self,
        campaign: CampaignId,
        contacts: Vec<NewContact>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AddContact>> {
        match self
            .write(Work::AddContacts(campaign, contacts, now))
            .await?
        {
            Answer::Contacts(added) => Ok(added),
            other => Err(unexpected(other)),
        }
    }

    async fn contacts_page(
        &self,
        campaign: CampaignId,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>> {
        self.read(move |c| read::contacts_page(c, campaign, after, limit))
            .await
    }

    async fn list_zones(&self, campaign: CampaignId) -> Result<Vec<ListZone>> {
        self.read(move |c| read::list_zones(c, campaign)).await
    }

    async fn zone_page(
        &self,
        campaign: CampaignId,
        zone: &str,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>> {
        let zone = zone.to_owned();
        self.read(move |c| read::zone_page(c, campaign, &zone, after, limit))
            .await
    }

    async fn get_contact(
        &self,
        campaign: CampaignId,
        phone: &PhoneNumber,
    ) -> Result<Option<Contact>> {
        let phone = phone.clone();
        self.read(move |c| read::contact(c, campaign, &phone)).await
    }

    async fn count_contacts(&self, campaign: CampaignId) -> Result<u64> {
        self.read(move |c| read::count_contacts(c, campaign)).await
    }
}

#[async_trait]
impl CallStore for EmbeddedStore {
    async fn get_call(&self, id: CallId) -> Result<Option<Call>> {
        self.readers.read_point(move |c| read::call(c, id)).await
    }

    async fn list_calls(
        &self,
        filter: &CallFilter,
        before: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<Call>> {
        let filter = filter.clone();
        self.read(move |c| read::calls(c, &filter, before, limit))
            .await
    }

    async fn live_calls(
        &self,
        campaign: CampaignId,
        after: Option<CallId>,
        limit: u32,
    ) -> Result<Vec<Call>> {
        self.read(move |c| read::live(c, campaign, after, limit))
            .await
    }

    async fn has_open_calls(&self, campaign: CampaignId) -> Result<bool> {
        self.read(move |c| read::has_open(c, campaign)).await
    }

    async fn latest_call_to(
        &self,
        campaign: CampaignId,
        phone: &PhoneNumber,
        since: DateTime<Utc>,
    ) -> Result<Option<Call>> {
        let phone = phone.clone();
        self.readers
            .read_point(move |c| read::latest_call_to(c, campaign, &phone, since))
            .await
    }
}

#[async_trait]
impl EventStore for EmbeddedStore {
    async fn events_for_call(&self, id: CallId) -> Result<Vec<CallAudit>> {
        self.read(move |c| read::events(c, id)).await
    }
}

#[async_trait]
impl ScheduleStore for EmbeddedStore {
    async fn pending_calls(
        &self,
        campaign: CampaignId,
        lane: Lane,
        after: Option<(DateTime<Utc>, CallId)>,
        limit: u32,
        _now: DateTime<Utc>,
    ) -> Result<Vec<Call>> {
        self.read(move |c| read::pending(c, campaign, lane, after, limit))
            .await
    }
}

#[async_trait]
impl DncStore for EmbeddedStore {
    async fn add_dnc(&self, entries: Vec<DncEntry>) -> Result<u32> {
        match self.write(Work::AddDnc(entries)).await? {
            Answer::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    async fn remove_dnc(&self, phone: &PhoneNumber, kind: DncKind) -> Result<bool> {
        let phone = phone.clone();
        match self.write(Work::RemoveDnc(phone, kind)).await? {
            Answer::Flag(removed) => Ok(removed),
            other => Err(unexpected(other)),
        }
    }

    async fn check_dnc(&self, phone: &PhoneNumber) -> Result<Vec<DncEntry>> {
        let phone = phone.clone();
        self.readers
            .read_point(move |c| read::dnc_for(c, &phone))
            .await
    }

    async fn list_dnc(
        &self,
        kind: Option<DncKind>,
        after: Option<(PhoneNumber, DncKind)>,
        limit: u32,
    ) -> Result<Vec<DncEntry>> {
        self.read(move |c| read::dnc_list(c, kind, after, limit))
            .await
    }
}

#[async_trait]
impl CounterStore for EmbeddedStore {
    async fn counters(&self, campaign: CampaignId) -> Result<BTreeMap<String, i64>> {
        self.read(move |c| read::counters(c, campaign)).await
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn commit(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(Work::Batch(batch)).await.map(|_| ())
    }

    async fn ping(&self) -> Result<()> {
        if self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
        {
            return Err(StorageError::Closed);
        }
        self.read(read::ping).await
    }

    async fn close(&self) -> Result<()> {
        // Dropping the last sender lets the writer drain its queue and stop.
        drop(self.writer.lock().unwrap_or_else(|p| p.into_inner()).take());
        let done = self
            .writer_done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(done) = done {
            tokio::task::spawn_blocking(move || done.recv())
                .await
                .map_err(|e| StorageError::Unavailable(format!("writer did not stop: {e}")))?
                .ok();
        }
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut checkpointer) = checkpointer {
            tokio::task::spawn_blocking(move || checkpointer.finish())
                .await
                .map_err(|e| StorageError::Unavailable(format!("checkpoint did not stop: {e}")))?;
        }
        self.readers.close();
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }
}
