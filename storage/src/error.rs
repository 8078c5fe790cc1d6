//! Storage errors: what went wrong, in terms a caller can act on.

/// A storage failure. Expected absences are `Ok(None)`, not errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The backend cannot be reached or refused the operation for now; retrying may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The record to update does not exist.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// A uniqueness or version rule refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data that this binary cannot read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The schema is missing, too old or too new for this binary.
    #[error("schema: {0}")]
    Schema(String),
    /// The store was closed.
    #[error("storage is closed")]
    Closed,
}

pub type Result<T> = std::result::Result<T, StorageError>;

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::ConstraintViolation) => Self::Conflict(e.to_string()),
            Some(
                C::DatabaseBusy
                | C::DatabaseLocked
                | C::DiskFull
                | C::CannotOpen
                | C::SystemIoFailure,
            ) => Self::Unavailable(e.to_string()),
            Some(C::DatabaseCorrupt | C::NotADatabase) => Self::Corrupt(e.to_string()),
            _ => match e {
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..) => Self::Corrupt(e.to_string()),
                other => Self::Unavailable(other.to_string()),
            },
        }
    }
}
