//! Versioned migrations of the embedded store. Each migration runs once, in its own
//! transaction, and is recorded in `schema_migrations`; a database written by a newer binary is
//! refused rather than misread.

use rusqlite::{Connection, OptionalExtension};

use crate::error::{Result, StorageError};

/// (version, name, SQL), in order. Append only: never edit a migration that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "pending",
        include_str!("../../migrations/sqlite/0002_pending.sql"),
    ),
    (
        3,
        "archive",
        include_str!("../../migrations/sqlite/0003_archive.sql"),
    ),
    (
        4,
        "audience",
        include_str!("../../migrations/sqlite/0004_audience.sql"),
    ),
    (
        5,
        "messages",
        include_str!("../../migrations/sqlite/0005_messages.sql"),
    ),
    (
        6,
        "status_index",
        include_str!("../../migrations/sqlite/0006_status_index.sql"),
    ),
    (
        7,
        "list_zones",
        include_str!("../../migrations/sqlite/0007_list_zones.sql"),
    ),
    (
        8,
        "status_predicates",
        include_str!("../../migrations/sqlite/0008_status_predicates.sql"),
    ),
];

/// The schema version this binary writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Brings the database up to the latest schema; returns the versions applied now.
pub(crate) fn migrate(conn: &mut Connection, now_ms: i64) -> Result<Vec<i64>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT    NOT NULL,
            applied_at INTEGER NOT NULL
        )",
    )?;
    let current: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0);
    if current > latest_version() {
        return Err(StorageError::Schema(format!(
            "the database is at schema version {current}, newer than this binary's {}; upgrade dialer",
            latest_version()
        )));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| {
            StorageError::Schema(format!("migration {version} ({name}) failed: {e}"))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, now_ms],
        )?;
        tx.commit()?;
        applied.push(*version);
    }
    Ok(applied)
}
