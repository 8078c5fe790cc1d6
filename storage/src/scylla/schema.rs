//! CQL migrations for a keyspace: applied by `dialer migrate`, checked at connect.

use futures::StreamExt;
use scylla::client::session::Session;
use scylla::value::CqlValue;

use super::rows::{CALL_COLUMNS, CallRow, HOUR_MS, call_values, lane_name};
use super::statements::call_insert;
use super::unavailable;
use crate::decode::ms;
use crate::error::{Result, StorageError};

/// (version, name, CQL with `{keyspace}`), in order. Append only. A version listed in
/// [`backfills`] also copies data after its statements run, before it is recorded.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "init", include_str!("../../cql/0001_init.cql")),
    (2, "pending", include_str!("../../cql/0002_pending.cql")),
    (
        3,
        "drop_node_schedule",
        include_str!("../../cql/0003_drop_node_schedule.cql"),
    ),
    (4, "archive", include_str!("../../cql/0004_archive.cql")),
    (5, "audience", include_str!("../../cql/0005_audience.cql")),
    (6, "messages", include_str!("../../cql/0006_messages.cql")),
    (
        7,
        "list_zones",
        include_str!("../../cql/0007_list_zones.cql"),
    ),
];

/// Copies every open call of version 1's `calls_open` shards into version 2's per-campaign
/// pending index and calls-in-flight table, so that an upgrade loses no pending work.
async fn backfill_pending(session: &Session, keyspace: &str) -> Result<()> {
    let pending_put = session
        .prepare(call_insert(
            &format!("{keyspace}.calls_pending"),
            &["campaign_id", "lane", "hour", "due_at", "call_id"],
        ))
        .await
        .map_err(unavailable)?;
    let hour_put = session
        .prepare(format!(
            "INSERT INTO {keyspace}.pending_hours (campaign_id, lane, hour) VALUES (:campaign_id, :lane, :hour)"
        ))
        .await
        .map_err(unavailable)?;
    let live_put = session
        .prepare(call_insert(
            &format!("{keyspace}.calls_live"),
            &["campaign_id", "call_id"],
        ))
        .await
        .map_err(unavailable)?;
    let read = session
        .prepare(format!(
            "SELECT {CALL_COLUMNS} FROM {keyspace}.calls_open WHERE shard = ?"
        ))
        .await
        .map_err(unavailable)?;
    // Version 1 kept 16 shards.
    for shard in 0..16i32 {
        let mut rows = session
            .execute_iter(read.clone(), (shard,))
            .await
            .map_err(unavailable)?
            .rows_stream::<CallRow>()
            .map_err(unavailable)?;
        while let Some(row) = rows.next().await {
            let call = row.map_err(unavailable)?.into_call()?;
            let mut v = call_values(&call);
            if call.status.is_live() {
                session
                    .execute_unpaged(&live_put, v)
                    .await
                    .map_err(unavailable)?;
            } else if let Some(due) = call.due_at.map(ms) {
                let lane = dialer_engine::Lane::of(call.origin);
                let keys = [
                    ("lane", Some(CqlValue::Text(lane_name(lane).into()))),
                    ("hour", Some(CqlValue::BigInt(due / HOUR_MS))),
                ];
                v.extend(keys.clone());
                session
                    .execute_unpaged(&pending_put, v)
                    .await
                    .map_err(unavailable)?;
                let mut h = std::collections::HashMap::from(keys);
                h.insert(
                    "campaign_id",
                    Some(CqlValue::BigInt(call.campaign_id.get())),
                );
                session
                    .execute_unpaged(&hour_put, h)
                    .await
                    .map_err(unavailable)?;
            }
        }
    }
    Ok(())
}

/// Lists every contact of version 6 under the empty zone key, whose cursor is its campaign's
/// single cursor: every contact up to it has its call, and none after it is lost.
async fn backfill_list_zones(session: &Session, keyspace: &str) -> Result<()> {
    let zone_put = session
        .prepare(format!(
            "INSERT INTO {keyspace}.contacts_by_zone (campaign_id, zone, bucket, id) VALUES (?, '', ?, ?)"
        ))
        .await
        .map_err(unavailable)?;
    let cursor_put = session
        .prepare(format!(
            "INSERT INTO {keyspace}.list_zones (campaign_id, zone, cursor) VALUES (?, '', ?)"
        ))
        .await
        .map_err(unavailable)?;
    let mut cursors = std::collections::HashMap::new();
    let mut campaigns = session
        .query_iter(
            format!("SELECT id, dial_cursor FROM {keyspace}.campaigns"),
            (),
        )
        .await
        .map_err(unavailable)?
        .rows_stream::<(i64, Option<i64>)>()
        .map_err(unavailable)?;
    while let Some(row) = campaigns.next().await {
        let (id, cursor) = row.map_err(unavailable)?;
        cursors.insert(id, cursor);
    }
    let mut listed = std::collections::HashSet::new();
    let mut contacts = session
        .query_iter(
            format!("SELECT campaign_id, id FROM {keyspace}.contacts"),
            (),
        )
        .await
        .map_err(unavailable)?
        .rows_stream::<(i64, i64)>()
        .map_err(unavailable)?;
    while let Some(row) = contacts.next().await {
        let (campaign, id) = row.map_err(unavailable)?;
        let bucket = super::rows::contact_seq(id) / super::rows::CONTACT_BUCKET;
        session
            .execute_unpaged(&zone_put, (campaign, bucket, id))
            .await
            .map_err(unavailable)?;
        if listed.insert(campaign) {
            let cursor = cursors.get(&campaign).copied().flatten();
            session
                .execute_unpaged(&cursor_put, (campaign, cursor))
                .await
                .map_err(unavailable)?;
        }
    }
    Ok(())
}

pub(crate) fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The statements of a CQL file: comments dropped, split on `;`.
/// The table and column of an `ALTER TABLE {keyspace}.table ADD column type` statement. CQL has
/// no `IF NOT EXISTS` for it, so the migration runner checks first: a migration interrupted after
/// the column was added must be able to run again.
fn added_column<'a>(stmt: &'a str, keyspace: &str) -> Option<(&'a str, &'a str)> {
    let mut words = stmt.split_whitespace();
    let (Some("ALTER"), Some("TABLE"), Some(target), Some("ADD"), Some(column)) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return None;
    };
    let table = target.strip_prefix(keyspace)?.strip_prefix('.')?;
    Some((table, column))
}

async fn column_exists(
    session: &Session,
    keyspace: &str,
    table: &str,
    column: &str,
) -> Result<bool> {
    let found = session
        .query_unpaged(
            "SELECT column_name FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
            (keyspace, table, column),
        )
        .await
        .map_err(unavailable)?
        .into_rows_result()
        .map_err(unavailable)?;
    Ok(found.rows_num() > 0)
}

fn statements(cql: &str, keyspace: &str) -> Vec<String> {
    let text: String = cql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("{keyspace}", keyspace);
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Keyspace names are interpolated into CQL, so only plain identifiers are accepted.
pub(crate) fn check_keyspace(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase();
    if ok {
        Ok(())
    } else {
        Err(StorageError::Schema(format!(
            "keyspace {name:?} must match [a-z][a-z0-9_]{{0,47}}"
        )))
    }
}

async fn applied_versions(session: &Session, keyspace: &str) -> Result<Vec<i32>> {
    let result = session
        .query_unpaged(
            format!("SELECT version FROM {keyspace}.schema_migrations"),
            (),
        )
        .await
        .map_err(unavailable)?;
    let rows = result.into_rows_result().map_err(unavailable)?;
    let mut versions = Vec::new();
    for row in rows.rows::<(i32,)>().map_err(unavailable)? {
        versions.push(row.map_err(unavailable)?.0);
    }
    versions.sort_unstable();
    Ok(versions)
}

/// Creates the keyspace (with `replication`, a CQL map literal) and applies pending migrations.
pub(crate) async fn migrate(
    session: &Session,
    keyspace: &str,
    replication: &str,
    now_ms: i64,
) -> Result<Vec<i32>> {
    check_keyspace(keyspace)?;
    let ddl = [
        format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {keyspace}.schema_migrations \
             (version int PRIMARY KEY, name text, applied_at bigint)"
        ),
    ];
    for stmt in ddl {
        session.query_unpaged(stmt, ()).await.map_err(unavailable)?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(unavailable)?;
    let applied = applied_versions(session, keyspace).await?;
    if applied.last().is_some_and(|v| *v > latest_version()) {
        return Err(newer(applied.last().copied().unwrap_or_default()));
    }
    let mut now_applied = Vec::new();
    for (version, name, cql) in MIGRATIONS.iter().filter(|m| !applied.contains(&m.0)) {
        for stmt in statements(cql, keyspace) {
            if let Some((table, column)) = added_column(&stmt, keyspace)
                && column_exists(session, keyspace, table, column).await?
            {
                continue;
            }
            session.query_unpaged(stmt.clone(), ()).await.map_err(|e| {
                StorageError::Schema(format!("migration {version} ({name}): {e}\n{stmt}"))
            })?;
        }
        session
            .await_schema_agreement()
            .await
            .map_err(unavailable)?;
        if *version == 2 {
            backfill_pending(session, keyspace).await?;
        }
        if *version == 7 {
            backfill_list_zones(session, keyspace).await?;
        }
        session
            .query_unpaged(
                format!("INSERT INTO {keyspace}.schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
                (*version, *name, now_ms),
            )
            .await
            .map_err(unavailable)?;
        now_applied.push(*version);
    }
    Ok(now_applied)
}

fn newer(version: i32) -> StorageError {
    StorageError::Schema(format!(
        "the keyspace is at schema version {version}, newer than this binary's {}; upgrade dialer",
        latest_version()
    ))
}

/// Refuses a keyspace that is missing migrations (run `dialer migrate`) or is newer than us.
pub(crate) async fn check(session: &Session, keyspace: &str) -> Result<()> {
    check_keyspace(keyspace)?;
    let applied = applied_versions(session, keyspace).await.map_err(|e| {
        StorageError::Schema(format!(
            "keyspace {keyspace} has no dialer schema ({e}); run `dialer migrate`"
        ))
    })?;
    match applied.last().copied() {
        Some(v) if v > latest_version() => Err(newer(v)),
        Some(v) if v == latest_version() => Ok(()),
        other => Err(StorageError::Schema(format!(
            "keyspace {keyspace} is at schema version {}, this binary needs {}; run `dialer migrate`",
            other.unwrap_or(0),
            latest_version()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_splits_into_statements_for_a_keyspace() {
        let stmts = statements(MIGRATIONS[0].2, "dialer_prod");
        assert!(stmts.len() >= 15, "{}", stmts.len());
        assert!(
            stmts
                .iter()
                .all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS dialer_prod.")),
            "{stmts:#?}"
        );
        assert!(
            stmts
                .iter()
                .all(|s| !s.contains("ALLOW FILTERING") && !s.contains("--"))
        );
    }

    #[test]
    fn later_migrations_create_drop_or_add_to_tables_of_the_keyspace_only() {
        for (_, _, cql) in &MIGRATIONS[1..] {
            for stmt in statements(cql, "dialer_prod") {
                assert!(
                    stmt.starts_with("CREATE TABLE IF NOT EXISTS dialer_prod.")
                        || stmt.starts_with("DROP TABLE IF EXISTS dialer_prod.")
                        || added_column(&stmt, "dialer_prod").is_some(),
                    "{stmt}"
                );
            }
        }
        assert_eq!(
            added_column(
                "ALTER TABLE dialer_prod.campaigns ADD archived_at bigint",
                "dialer_prod"
            ),
            Some(("campaigns", "archived_at"))
        );
        assert_eq!(
            added_column(
                "ALTER TABLE other.campaigns ADD archived_at bigint",
                "dialer_prod"
            ),
            None
        );
        assert_eq!(
            added_column("DROP TABLE IF EXISTS dialer_prod.x", "dialer_prod"),
            None
        );
    }

    #[test]
    fn only_plain_keyspace_names_are_accepted() {
        assert!(check_keyspace("dialer_1").is_ok());
        for bad in ["", "1dialer", "Dialer", "dialer;drop", "a.b"] {
            assert!(check_keyspace(bad).is_err(), "{bad}");
        }
    }
}
