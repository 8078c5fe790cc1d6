//! The writes each call makes, checked in the program SQLite compiles for them.

use super::*;

/// The opcodes SQLite runs for `sql` (every parameter bound to 1).
fn program_of(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
    let n = stmt.parameter_count();
    stmt.query_map(rusqlite::params_from_iter(vec![1; n]), |r| {
        r.get::<_, String>(1)
    })
    .unwrap()
    .map(|op| op.unwrap())
    .collect()
}

#[test]
fn a_call_is_written_without_building_temporary_tables() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("t.sqlite")).unwrap();
    super::super::schema::migrate(&mut conn, 0).unwrap();
    // A partial index's condition is evaluated for the old and the new row of each write; an
    // IN list there is built into a temporary b-tree each time (nine per call upsert before
    // migration 0008), which cost about a tenth of the writer's time at full load.
    for sql in [UPSERT_CALL_SQL, INSERT_EVENT_SQL, ADD_COUNTER_SQL] {
        let program = program_of(&conn, sql);
        let ephemeral = program.iter().filter(|op| op.contains("Ephemeral")).count();
        assert_eq!(ephemeral, 0, "{sql}\n{program:?}");
    }
}
