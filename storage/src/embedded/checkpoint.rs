//! WAL checkpoints off the write path. SQLite's automatic checkpoint runs inside the commit
//! that crosses the threshold, stalling the writer — and every request waiting on it — for
//! tens of milliseconds. Here the writer never checkpoints (`wal_autocheckpoint = 0`); this
//! thread runs a PASSIVE checkpoint on its own connection every interval, which copies what it
//! can without blocking the writer or the readers, and a TRUNCATE one when the store closes.
//!
//! A busy store always has a reader somewhere, so the writer alone would never find the moment
//! to start the WAL over, and the file would grow without bound. When a passive checkpoint has
//! copied everything and the WAL is past [`RESTART_FRAMES`], a RESTART checkpoint — with
//! little left to copy, only a wait for readers to move to the database file — lets the next
//! write begin at the start of the file.
//!
//! A RESTART holds the write lock while it waits for the readers, so it waits briefly
//! ([`RESTART_PATIENCE`]) and otherwise gives up until the next interval: with SQLite's own
//! busy handler it slept 1 + 2 + 5 + 10 + 15 ms for the readers of a busy store, and every
//! write waited the 33 ms with it (5% of the writer's time in a day benchmark).

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Result, StorageError};

#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path, every: Duration) -> Result<Self> {
        let conn = connect(path)?;
        let (stop, stopped) = mpsc::channel();
        let join = std::thread::Builder::new()
            .name("dialer-sqlite-checkpoint".into())
            .spawn(move || run(conn, &stopped, every))
            .map_err(|e| {
                StorageError::Unavailable(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Self {
            stop: Some(stop),
            join: Some(join),
        })
    }

    /// Stops the thread after a final TRUNCATE checkpoint (call once the writer has stopped).
    pub(crate) fn finish(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Without `finish`: the thread notices the closed channel and exits on its own.
        self.stop.take();
    }
}

/// WAL frames (pages, 4 KiB) past which a fully copied WAL is restarted.
pub(crate) const RESTART_FRAMES: i64 = 4096;

/// How long a RESTART waits for the write lock and for readers to leave the WAL before it
/// gives up until the next interval (it holds the write lock meanwhile).
pub(crate) const RESTART_PATIENCE: Duration = Duration::from_millis(2);

/// The checkpoint thread's connection: it waits for locks [`RESTART_PATIENCE`] at most.
fn connect(path: &Path) -> Result<Connection> {
    let mut conn = super::open_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_handler(Some(super::retry_every(
        Duration::from_micros(50),
        RESTART_PATIENCE,
    )))?;
    Ok(conn)
}

fn run(conn: Connection, stopped: &mpsc::Receiver<()>, every: Duration) {
    loop {
        match stopped.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {
                let _ = copy_back(&conn);
            }
            Ok(()) => {
                // The writer has stopped: the last checkpoint may wait for readers as long as
                // any connection would.
                let _ = conn.busy_timeout(super::BUSY_TIMEOUT);
                let _ = checkpoint(&conn, "TRUNCATE");
                return;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// At most this many more passive passes catch up with the frames written during the last one
/// before a RESTART.
const CATCH_UP_PASSES: usize = 3;

/// Frames few enough for a RESTART to copy while it holds the write lock.
const CATCH_UP_FRAMES: i64 = 256;

/// Copies the WAL back into the database file, and when the WAL is past [`RESTART_FRAMES`] has
/// it started over. Returns whether a RESTART ran.
///
/// A RESTART holds the write lock while it copies what is left and syncs, so it comes after
/// passive passes (no lock held) have caught up with the frames the writer added meanwhile:
/// after one pass over a half-second's WAL (8,000–13,000 frames in a day benchmark) the
/// RESTART still had a pass's worth of new frames to copy, 12–30 ms with every write waiting.
fn copy_back(conn: &Connection) -> Result<bool> {
    let (mut frames, copied) = checkpoint(conn, "PASSIVE")?;
    if frames < RESTART_FRAMES || copied != frames {
        return Ok(false);
    }
    for _ in 0..CATCH_UP_PASSES {
        let (now, copied) = checkpoint(conn, "PASSIVE")?;
        if now < frames {
            // The writer started the WAL over itself (it does when it finds it all copied).
            return Ok(false);
        }
        if copied != now {
            // A reader holds frames back; the next interval tries again.
            return Ok(false);
        }
        let added = now - frames;
        frames = now;
        if added <= CATCH_UP_FRAMES {
            break;
        }
    }
    checkpoint(conn, "RESTART")?;
    Ok(true)
}

/// Runs a checkpoint; returns (WAL frames, frames checkpointed).
fn checkpoint(conn: &Connection, mode: &str) -> Result<(i64, i64)> {
    Ok(
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_wal(path: &Path) -> Connection {
        let writer = super::super::open_connection(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
        .unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (v BLOB);",
            )
            .unwrap();
        writer
    }

    /// Frames in the WAL now, as a passive checkpoint reports them.
    fn frames(conn: &Connection) -> i64 {
        checkpoint(conn, "PASSIVE").unwrap().0
    }

    #[test]
    fn a_wal_past_the_restart_size_is_copied_back_and_started_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let writer = store_with_wal(&path);
        let cp = super::super::open_connection(&path, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
        writer.execute_batch("BEGIN").unwrap();
        for _ in 0..100 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        writer.execute_batch("COMMIT").unwrap();
        assert!(!copy_back(&cp).unwrap(), "a small WAL is only copied back");
        writer.execute_batch("BEGIN").unwrap();
        for _ in 0..RESTART_FRAMES {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        writer.execute_batch("COMMIT").unwrap();
        let before = frames(&cp);
        assert!(before > RESTART_FRAMES);
        assert!(copy_back(&cp).unwrap(), "a large one is started over");
        writer
            .execute("INSERT INTO t VALUES (zeroblob(10))", [])
            .unwrap();
        assert!(
            frames(&cp) < 10,
            "the next write starts the WAL over ({} frames, {before} before)",
            frames(&cp)
        );
    }

    #[test]
    fn a_restart_that_readers_hold_up_gives_the_write_lock_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let writer = store_with_wal(&path);
        let cp = connect(&path).unwrap();
        writer.execute_batch("BEGIN").unwrap();
        for _ in 0..(RESTART_FRAMES + 10) {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        writer.execute_batch("COMMIT").unwrap();
        // A reader in the middle of a read of the WAL's snapshot.
        let reader =
            super::super::open_connection(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        // The RESTART runs beside the reader, which does not move: it must give up rather than
        // wait out the reader as long as any other connection would (5 s), holding the write
        // lock all the while.
        let (done, finished) = mpsc::channel();
        let attempt = std::thread::spawn(move || {
            let restarted = copy_back(&cp).unwrap();
            let _ = done.send(());
            (cp, restarted)
        });
        assert!(
            finished
                .recv_timeout(super::super::BUSY_TIMEOUT / 2)
                .is_ok(),
            "the RESTART waited for the reader like any connection"
        );
        let (cp, restarted) = attempt.join().unwrap();
        assert!(restarted, "the RESTART was tried");
        // It gave up: the write lock is free (a writer that waits for nothing gets it) and the
        // WAL goes on where it was.
        writer.busy_timeout(Duration::ZERO).unwrap();
        writer
            .execute("INSERT INTO t VALUES (zeroblob(10))", [])
            .unwrap();
        assert!(
            frames(&cp) > RESTART_FRAMES,
            "not started over under a reader"
        );
        reader.execute_batch("COMMIT").unwrap();
        assert!(copy_back(&cp).unwrap());
        writer
            .execute("INSERT INTO t VALUES (zeroblob(10))", [])
            .unwrap();
        assert!(frames(&cp) < 10, "started over once the reader left");
    }

    fn wal_bytes(path: &Path) -> u64 {
        std::fs::metadata(path.with_extension("sqlite-wal")).map_or(0, |m| m.len())
    }

    #[test]
    fn the_wal_is_copied_back_in_the_background_and_emptied_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let writer = super::super::open_connection(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
        .unwrap();
        writer.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v BLOB);").unwrap();
        let mut cp = Checkpointer::start(&path, Duration::from_secs(3600)).unwrap();
        for _ in 0..200 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
        }
        assert!(
            wal_bytes(&path) > 800_000,
            "the writer itself never checkpoints"
        );
        let (frames, done) = checkpoint(&writer, "PASSIVE").unwrap();
        assert_eq!(
            frames, done,
            "a passive checkpoint copies every frame when nothing reads"
        );
        cp.finish();
        assert_eq!(
            wal_bytes(&path),
            0,
            "the final checkpoint truncates the WAL"
        );
        let n: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 200);
    }
}
