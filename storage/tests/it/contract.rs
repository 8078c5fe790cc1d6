//! Runs every function of `testsuite::contract` against every backend. ScyllaDB joins when
//! `DIALER_SCYLLA_URI` is set (e.g. `DIALER_SCYLLA_URI=127.0.0.1:9042 cargo test -p dialer-storage`).

use std::sync::Arc;

use dialer_storage::embedded::{EmbeddedConfig, EmbeddedStore};
use dialer_storage::memory::MemoryStore;
use dialer_storage::testsuite::{contract, fixtures};

/// An embedded store in a fresh directory, kept alive with it.
pub(crate) struct Embedded {
    pub(crate) store: EmbeddedStore,
    _dir: tempfile::TempDir,
}

pub(crate) fn embedded() -> Embedded {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&EmbeddedConfig::new(dir.path()), fixtures::t0()).unwrap();
    Embedded { store, _dir: dir }
}

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $( #[tokio::test] async fn $name() { contract::$name(&MemoryStore::new()).await; } )*
            #[tokio::test] async fn concurrent_commits_all_land() {
                contract::concurrent_commits_all_land(Arc::new(MemoryStore::new())).await;
            }
        }
        mod embedded {
            use super::*;
            $( #[tokio::test] async fn $name() { let e = embedded(); contract::$name(&e.store).await; } )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn concurrent_commits_all_land() {
                let e = embedded();
                contract::concurrent_commits_all_land(Arc::new(e.store)).await;
            }
        }
        mod scylla {
            $( #[tokio::test] async fn $name() {
                let Some(store) = crate::contract::scylla_store().await else { return };
                dialer_storage::testsuite::contract::$name(&store).await;
            } )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn concurrent_commits_all_land() {
                let Some(store) = crate::contract::scylla_store().await else { return };
                dialer_storage::testsuite::contract::concurrent_commits_all_land(std::sync::Arc::new(store)).await;
            }
        }
    };
}

contract_tests!(
    campaigns_get_increasing_ids_and_read_back,
    campaign_details_change_but_never_the_owners_state_or_cursor,
    only_a_draft_without_calls_is_deleted_and_its_contacts_go_with_it,
    contacts_are_unique_per_campaign_and_merge_attributes,
    contacts_page_in_id_order,
    a_list_is_paged_by_zone_with_a_cursor_each,
    calls_round_trip_every_field,
    calls_list_newest_first_with_filters_and_cursor,
    calls_list_by_each_status_with_or_without_a_campaign,
    calls_in_flight_and_open_calls_are_found_per_campaign,
    latest_call_to_finds_the_duplicate_window,
    audits_append_in_order_per_call,
    pending_calls_come_per_lane_in_the_order_they_are_dialed,
    dnc_entries_add_check_remove_and_list,
    counters_add_up_per_campaign,
    dial_cursors_only_move_forward,
    a_failed_batch_writes_nothing,
    a_closed_store_refuses_work,
    recipients_are_added_then_merged_key_by_key,
    recipients_page_through_every_one_once,
    consent_is_set_on_new_and_known_recipients,
    subscriptions_are_read_both_ways,
    definitions_are_put_read_listed_and_deleted,
    messages_are_created_once_and_queued_by_due_time,
    a_claim_is_a_compare_and_set_and_leaves_the_queue,
    reports_only_move_a_message_forward,
    a_receipt_is_kept_and_applied_only_to_the_current_attempt,
    messages_list_by_campaign_and_recipient_and_count,
    message_events_keep_raw_and_normalized_newest_first,
);

#[test]
fn fixture_numbers_are_valid() {
    contract::fixture_numbers_are_valid();
}

/// A ScyllaDB store in a fresh keyspace when `DIALER_SCYLLA_URI` is set; `None` (the test is
/// skipped, and says so) otherwise.
pub(crate) async fn scylla_store() -> Option<dialer_storage::scylla::ScyllaStore> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let Ok(uri) = std::env::var("DIALER_SCYLLA_URI") else {
        eprintln!("skipped: DIALER_SCYLLA_URI is not set");
        return None;
    };
    let keyspace = format!(
        "dialer_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let mut config = dialer_storage::scylla::ScyllaConfig::from_uri(&uri, keyspace);
    config.replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}".into();
    dialer_storage::scylla::ScyllaStore::migrate(&config, 0)
        .await
        .unwrap();
    Some(
        dialer_storage::scylla::ScyllaStore::connect(&config)
            .await
            .unwrap(),
    )
}
