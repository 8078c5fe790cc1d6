//! Storage traits and backends: the embedded SQLite default, ScyllaDB, and lease stores.
