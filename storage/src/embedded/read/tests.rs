//! The read path's queries: their plans use their indexes, and each is prepared once.

use rusqlite::StatementStatus;
use rusqlite::types::Value;

use super::*;

/// The query plan of `sql` bound with `args`, one line per step.
fn plan_of(conn: &Connection, sql: &str, args: Vec<Value>) -> Vec<String> {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(params_from_iter(args), |r| r.get::<_, String>(3))
        .unwrap()
        .map(|d| d.unwrap())
        .collect()
}

#[test]
fn listing_calls_by_status_reads_an_index_not_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("t.sqlite")).unwrap();
    super::super::schema::migrate(&mut conn, 0).unwrap();
    for status in dialer_engine::CallStatus::ALL {
        for campaign_id in [None, Some(CampaignId::new(1).unwrap())] {
            let filter = CallFilter {
                campaign_id,
                status: Some(status),
                ..CallFilter::default()
            };
            let (sql, args) = calls_sql(&filter, None, 50);
            let plan = plan_of(&conn, &sql, args);
            assert!(
                !plan.iter().any(|d| d.starts_with("SCAN calls")),
                "{status:?} in {campaign_id:?}: {plan:?}"
            );
            // Calls in flight come from their own small index; the others from the
            // status index, or the campaign's, already in order.
            let index = if status.is_live() {
                "calls_live"
            } else if campaign_id.is_none() {
                "calls_by_status"
            } else {
                "calls_by_"
            };
            assert!(
                plan.iter().any(|d| d.contains(&format!("INDEX {index}"))),
                "{status:?} in {campaign_id:?}: {plan:?}"
            );
        }
    }
}

#[test]
fn hot_queries_use_their_indexes_and_are_prepared_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("t.sqlite")).unwrap();
    super::super::schema::migrate(&mut conn, 0).unwrap();
    let text = |i: i64| Value::Text(format!("+1415555{i:04}"));
    let blob = |i: i64| Value::Blob(i.to_be_bytes().repeat(2));
    type Args = Box<dyn Fn(i64) -> Vec<Value>>;
    let queries: Vec<(String, Args)> = vec![
        (
            contacts_page_sql(),
            Box::new(|i| vec![Value::Integer(i), Value::Integer(0), Value::Integer(10)]),
        ),
        (
            zone_page_sql(),
            Box::new(|i| {
                vec![
                    Value::Integer(i),
                    Value::Text("America/New_York".into()),
                    Value::Integer(0),
                    Value::Integer(10),
                ]
            }),
        ),
        (
            latest_call_to_sql(),
            Box::new(move |i| vec![Value::Integer(i), text(i), Value::Integer(i)]),
        ),
        (events_sql(), Box::new(move |i| vec![blob(i)])),
        (dnc_for_sql(), Box::new(move |i| vec![text(i)])),
        (
            COUNTERS_SQL.to_owned(),
            Box::new(|i| vec![Value::Integer(i)]),
        ),
        (
            pending_sql(),
            Box::new(|i| vec![Value::Integer(i), Value::Integer(i % 2), Value::Integer(10)]),
        ),
        (
            live_sql(),
            Box::new(move |i| vec![Value::Integer(i), blob(i), Value::Integer(10)]),
        ),
        (has_open_sql(), Box::new(|i| vec![Value::Integer(i)])),
    ];
    for (sql, args) in &queries {
        let plan = plan_of(&conn, sql, args(1));
        assert!(
            plan.iter()
                .all(|d| (!d.starts_with("SCAN") || d == "SCAN CONSTANT ROW")
                    && !d.contains("TEMP B-TREE")),
            "{sql}: {plan:?}"
        );
        for i in 1..=20 {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            let _ = stmt
                .query(params_from_iter(args(i)))
                .unwrap()
                .next()
                .unwrap();
        }
        let stmt = conn.prepare_cached(sql).unwrap();
        assert_eq!(
            stmt.get_status(StatementStatus::RePrepare),
            0,
            "{sql} is re-prepared per binding"
        );
    }
}
