//! WAL checkpoints off the write path. SQLite's automatic checkpoint runs inside the commit
//! that crosses the threshold, stalling the writer — and every request waiting on it — for
//! tens of milliseconds. Here the writer never checkpoints (`wal_autocheckpoint = 0`); this
//! thread runs a PASSIVE checkpoint on its own connection every interval, which copies what it
//! can without blocking the writer or the readers, and a TRUNCATE one when the store closes.
//!
//! A busy store always has a reader somewhere, so the writer alone would never find the moment
//! to start the WAL over, and the file would grow without bound. When a passive checkpoint has
//! copied everything and the WAL is past [`RESTART_FRAMES`], a RESTART checkpoint — with
//! nothing left to copy, only a wait for readers to move to the database file — lets the next
//! write begin at the start of the file.

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
        let conn = super::open_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let (stop, stopped) = mpsc::channel();
        let join = std::thread::Builder::new()
            .name("dialer-sqlite-checkpoint".into())
            .spawn(move || run(&conn, &stopped, every))
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

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>, every: Duration) {
    loop {
        match stopped.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {
                if let Ok((frames, copied)) = checkpoint(conn, "PASSIVE")
                    && frames >= RESTART_FRAMES
                    && copied == frames
                {
                    let _ = checkpoint(conn, "RESTART");
                }
            }
            Ok(()) => {
                let _ = checkpoint(conn, "TRUNCATE");
                return;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
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
