//! Durability and schema handling of the embedded store.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use dialer_engine::{CallId, CallOrigin, Campaign};
use dialer_storage::embedded::{EmbeddedConfig, EmbeddedStore, Synchronous};
use dialer_storage::testsuite::fixtures::{call, new_campaign, t0};
use dialer_storage::{CallStore, CampaignStore, StorageError, Store, WriteBatch};

#[tokio::test]
async fn reopening_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        synchronous: Synchronous::Full,
        ..EmbeddedConfig::new(dir.path())
    };
    let store = EmbeddedStore::open(&config, t0()).unwrap();
    let campaign = store
        .create_campaign(new_campaign("durable"), t0())
        .await
        .unwrap();
    let c = call(campaign.id, 1, t0(), CallOrigin::Api);
    store
        .commit(WriteBatch {
            calls: vec![c.clone()],
            ..WriteBatch::default()
        })
        .await
        .unwrap();
    store.close().await.unwrap();
    drop(store);
    let store = EmbeddedStore::open(&config, t0()).unwrap();
    assert_eq!(
        store.get_campaign(campaign.id).await.unwrap(),
        Some(campaign)
    );
    assert_eq!(store.get_call(c.call_id).await.unwrap(), Some(c));
}

#[tokio::test]
async fn a_database_from_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig::new(dir.path());
    let store = EmbeddedStore::open(&config, t0()).unwrap();
    store.close().await.unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("dialer.sqlite")).unwrap();
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let err = EmbeddedStore::open(&config, t0()).unwrap_err();
    assert!(
        matches!(err, StorageError::Schema(ref m) if m.contains("999")),
        "{err}"
    );
}

#[test]
fn migrations_are_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig::new(dir.path());
    for _ in 0..2 {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = EmbeddedStore::open(&config, t0()).unwrap();
            store.close().await.unwrap();
        });
    }
    let conn = rusqlite::Connection::open(dir.path().join("dialer.sqlite")).unwrap();
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        versions,
        (1..=EmbeddedStore::schema_version()).collect::<Vec<_>>()
    );
}

const CHILD_DIR: &str = "DIALER_KILL9_DIR";

/// `kill -9` the process while it writes: every write it saw acknowledged is there afterwards.
#[test]
fn kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "embedded::kill_9_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("ACK ") {
            acked.push(id.parse::<CallId>().unwrap());
            if acked.len() == 2_000 {
                // SIGKILL: no destructor, no flush, no close.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(acked.len(), 2_000, "the child stopped early");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = EmbeddedStore::open(&EmbeddedConfig::new(dir.path()), t0()).unwrap();
        let mut missing = 0;
        for id in &acked {
            if store.get_call(*id).await.unwrap().is_none() {
                missing += 1;
            }
        }
        assert_eq!(missing, 0, "acknowledged calls lost after kill -9");
    });
}

/// The child side of `kill_9_loses_no_acknowledged_write`: writes until killed, printing each
/// acknowledged call id. Does nothing unless started by that test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs only as the child process of kill_9_loses_no_acknowledged_write"]
async fn kill_9_child_writer() {
    use std::io::Write;
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let store = std::sync::Arc::new(EmbeddedStore::open(&EmbeddedConfig::new(dir), t0()).unwrap());
    let campaign = store
        .create_campaign(new_campaign("kill-9"), t0())
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<CallId>();
    // Sixteen concurrent writers, so that group commits hold many writes when the kill lands.
    for w in 0..16u32 {
        let store = std::sync::Arc::clone(&store);
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 0u32.. {
                let c = call(campaign.id, (w * 7919 + i) % 10_000, t0(), CallOrigin::Api);
                let c = dialer_engine::Call {
                    call_id: CallId::generate(t0() + chrono::Duration::milliseconds(i64::from(i))),
                    ..c
                };
                if store
                    .commit(WriteBatch {
                        calls: vec![c.clone()],
                        ..WriteBatch::default()
                    })
                    .await
                    .is_ok()
                {
                    let _ = tx.send(c.call_id);
                }
            }
        });
    }
    let mut out = std::io::stdout().lock();
    while let Some(id) = rx.recv().await {
        writeln!(out, "ACK {id}").unwrap();
        out.flush().unwrap();
    }
}

/// A store in a new directory, with one campaign.
async fn store_with_campaign(
    name: &str,
) -> (tempfile::TempDir, EmbeddedConfig, EmbeddedStore, Campaign) {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig::new(dir.path());
    let store = EmbeddedStore::open(&config, t0()).unwrap();
    let campaign = store
        .create_campaign(new_campaign(name), t0())
        .await
        .unwrap();
    (dir, config, store, campaign)
}

/// Closes `store`, takes its database back to an older schema with `sql`, and opens it again,
/// which migrates it.
async fn reopened_after(store: EmbeddedStore, config: &EmbeddedConfig, sql: &str) -> EmbeddedStore {
    store.close().await.unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(config.dir.join("dialer.sqlite")).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    EmbeddedStore::open(config, t0()).unwrap()
}

/// A database from before the list was kept by zone: its contacts are listed under the empty
/// key, from the campaign's single cursor on — none made twice, none left out.
#[tokio::test]
async fn contacts_from_before_zones_keep_their_cursor() {
    use dialer_engine::PhoneNumber;
    use dialer_storage::{ContactStore, ListCursor, ListZone, NewContact};
    let (_dir, config, store, campaign) = store_with_campaign("old list").await;
    let contact = |n: u32| NewContact {
        phone_number: PhoneNumber::from_stored(&format!("+1212555{n:04}")).unwrap(),
        attributes: Default::default(),
    };
    let ids: Vec<_> = store
        .add_contacts(campaign.id, (0..5).map(contact).collect(), t0())
        .await
        .unwrap()
        .into_iter()
        .map(dialer_storage::AddContact::id)
        .collect();
    store
        .commit(WriteBatch {
            cursors: vec![ListCursor::new(campaign.id, "America/New_York", ids[1])],
            ..WriteBatch::default()
        })
        .await
        .unwrap();
    // Back to schema 6: one cursor per campaign, no zones.
    let store = reopened_after(
        store,
        &config,
        "DROP INDEX contacts_by_zone; DROP TABLE list_zones; ALTER TABLE contacts DROP COLUMN zone;
         DELETE FROM schema_migrations WHERE version >= 7;",
    )
    .await;
    let zones = store.list_zones(campaign.id).await.unwrap();
    assert_eq!(
        zones,
        vec![ListZone {
            key: String::new(),
            after: Some(ids[1])
        }]
    );
    let rest: Vec<_> = (store.zone_page(campaign.id, "", zones[0].after, 10).await)
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(rest, ids[2..]);
    // Contacts imported after the upgrade are listed under their zone.
    store
        .add_contacts(campaign.id, vec![contact(9)], t0())
        .await
        .unwrap();
    let keys: Vec<String> = (store.list_zones(campaign.id).await.unwrap().into_iter())
        .map(|z| z.key)
        .collect();
    assert_eq!(keys, ["", "America/New_York"]);
}

/// A database whose partial indexes on `calls` name their statuses in IN lists (schema 7): the
/// upgrade rebuilds them with comparisons, and every call is still found where it was.
#[tokio::test]
async fn calls_indexed_by_status_lists_are_found_after_the_upgrade() {
    use dialer_engine::{CallStatus, Lane};
    use dialer_storage::{CallFilter, ScheduleStore};
    let (_dir, config, store, campaign) = store_with_campaign("indexes").await;
    let with = |n: u32, status: CallStatus| {
        let mut c = call(campaign.id, n, t0(), CallOrigin::Campaign);
        c.status = status;
        c
    };
    let (pending, live, done) = (
        with(1, CallStatus::Scheduled),
        with(2, CallStatus::Dialing),
        with(3, CallStatus::Picked),
    );
    store
        .commit(WriteBatch {
            calls: vec![pending.clone(), live.clone(), done.clone()],
            ..WriteBatch::default()
        })
        .await
        .unwrap();
    // Back to schema 7's indexes.
    let store = reopened_after(
        store,
        &config,
        "DROP INDEX calls_pending; DROP INDEX calls_live; DROP INDEX calls_by_status;
         CREATE INDEX calls_pending ON calls (campaign_id, origin = 'campaign', due_at, call_id)
             WHERE status IN ('SCHEDULED', 'INITIATED', 'RETRYING');
         CREATE INDEX calls_live ON calls (campaign_id, call_id)
             WHERE status IN ('DIALING', 'RINGING', 'IN_PROGRESS');
         CREATE INDEX calls_by_status ON calls (status, call_id)
             WHERE status NOT IN ('DIALING', 'RINGING', 'IN_PROGRESS');
         DELETE FROM schema_migrations WHERE version >= 8;",
    )
    .await;
    let ids =
        |calls: Vec<dialer_engine::Call>| calls.into_iter().map(|c| c.call_id).collect::<Vec<_>>();
    let found = store
        .pending_calls(campaign.id, Lane::List, None, 10, t0())
        .await
        .unwrap();
    assert_eq!(ids(found), vec![pending.call_id]);
    let found = store.live_calls(campaign.id, None, 10).await.unwrap();
    assert_eq!(ids(found), vec![live.call_id]);
    let filter = CallFilter {
        status: Some(CallStatus::Picked),
        ..CallFilter::default()
    };
    let found = store.list_calls(&filter, None, 10).await.unwrap();
    assert_eq!(ids(found), vec![done.call_id]);
    store.close().await.unwrap();
    let conn = rusqlite::Connection::open(config.dir.join("dialer.sqlite")).unwrap();
    let lists: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'calls'
             AND sql LIKE '% IN (%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(lists, 0);
}
