//! The embedded store's read connections, and where its reads run.
//!
//! A read runs on tokio's blocking threads with a connection from a pool of at most `readers`,
//! waiting for locks as SQLite's busy handler lets it. A point read on the dial path (the
//! do-not-call check before every dial, a call by id) runs instead on the caller's own thread,
//! with a connection of its own that never waits for a lock: an indexed lookup of a page in
//! cache takes microseconds, while the hop to a blocking thread and back took two thread wakes
//! and about 4% of the engine at full load (bench/RESULTS.md). A point read that fails there —
//! a lock it would have had to wait for, or anything else — is made again the usual way.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::open_connection;
use crate::error::{Result, StorageError};

/// Connections for reads on the caller's thread: one per thread that may be reading at once is
/// enough, and more than the runtime's workers are never used together.
const INLINE_CONNECTIONS: usize = 4;

#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    /// Idle pooled connections; at most `readers` exist, each kept for the store's life (a
    /// connection's prepared statements and schema are worth keeping).
    idle: Arc<Mutex<Vec<Connection>>>,
    /// A permit per pooled connection: reads beyond `readers` wait for one to come back.
    permits: Arc<Semaphore>,
    /// Idle connections for reads on the caller's thread, and how many exist.
    inline: Mutex<(Vec<Connection>, usize)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read_only() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

impl Readers {
    pub(crate) fn new(path: PathBuf, readers: usize) -> Self {
        Self {
            path,
            idle: Arc::new(Mutex::new(Vec::new())),
            permits: Arc::new(Semaphore::new(readers.max(1))),
            inline: Mutex::new((Vec::new(), 0)),
        }
    }

    /// Runs `f` on a blocking thread with a pooled connection.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StorageError::Closed)?;
        let pool = Arc::clone(&self.idle);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = lock(&pool).pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&path, read_only())?,
            };
            let result = f(&conn);
            lock(&pool).push(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StorageError::Unavailable(format!("read task failed: {e}")))?
    }

    /// Runs `f`, a point read, on the caller's thread if a connection for that is free and the
    /// read needs no lock it would have to wait for; otherwise as [`Readers::read`] does.
    pub(crate) async fn read_point<T: Send + 'static>(
        &self,
        f: impl Fn(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if let Some(Ok(value)) = self.inline(&f) {
            return Ok(value);
        }
        self.read(f).await
    }

    /// `f` on an inline connection: `None` when none is free (or the store is closed).
    fn inline<T>(&self, f: &impl Fn(&Connection) -> Result<T>) -> Option<Result<T>> {
        if self.permits.is_closed() {
            return None;
        }
        let conn = {
            let mut inline = lock(&self.inline);
            match inline.0.pop() {
                Some(conn) => conn,
                None if inline.1 < INLINE_CONNECTIONS => {
                    let conn = open_connection(&self.path, read_only()).ok()?;
                    // Never waits: a lock taken is a read made the usual way.
                    conn.busy_timeout(std::time::Duration::ZERO).ok()?;
                    inline.1 += 1;
                    conn
                }
                None => return None,
            }
        };
        let result = f(&conn);
        lock(&self.inline).0.push(conn);
        Some(result)
    }

    /// Refuses reads from now on and closes the idle connections.
    pub(crate) fn close(&self) {
        self.permits.close();
        lock(&self.idle).clear();
        lock(&self.inline).0.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread::ThreadId;

    use super::*;

    fn readers() -> (tempfile::TempDir, Readers) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        (dir, Readers::new(path, 1))
    }

    /// Which thread ran a read, and how many times it was tried.
    fn where_it_ran(
        tries: &Arc<AtomicUsize>,
        fail_first: bool,
    ) -> impl Fn(&Connection) -> Result<ThreadId> + Send + 'static {
        let tries = Arc::clone(tries);
        move |conn| {
            conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?;
            if tries.fetch_add(1, Ordering::SeqCst) == 0 && fail_first {
                return Err(StorageError::Unavailable("database is locked".into()));
            }
            Ok(std::thread::current().id())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_point_read_runs_on_the_callers_thread() {
        let (_dir, readers) = readers();
        let tries = Arc::new(AtomicUsize::new(0));
        let ran_on = readers
            .read_point(where_it_ran(&tries, false))
            .await
            .unwrap();
        assert_eq!(ran_on, std::thread::current().id());
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        // The pooled path is a blocking thread.
        let ran_on = readers.read(where_it_ran(&tries, false)).await.unwrap();
        assert_ne!(ran_on, std::thread::current().id());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_point_read_that_fails_on_the_callers_thread_is_made_again_on_the_pool() {
        let (_dir, readers) = readers();
        let tries = Arc::new(AtomicUsize::new(0));
        let ran_on = readers
            .read_point(where_it_ran(&tries, true))
            .await
            .unwrap();
        assert_eq!(tries.load(Ordering::SeqCst), 2);
        assert_ne!(ran_on, std::thread::current().id());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_closed_store_refuses_point_reads() {
        let (_dir, readers) = readers();
        readers.close();
        let tries = Arc::new(AtomicUsize::new(0));
        let refused = readers.read_point(where_it_ran(&tries, false)).await;
        assert!(matches!(refused, Err(StorageError::Closed)), "{refused:?}");
        assert_eq!(tries.load(Ordering::SeqCst), 0);
    }
}
