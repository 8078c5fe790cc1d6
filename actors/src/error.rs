//! Why the engine refused or failed a request.

use dialer_storage::StorageError;

use crate::recorder::RecordError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The request conflicts with the current state (e.g. starting a stopped campaign).
    #[error("{0}")]
    Conflict(String),
    /// Storage or leases cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The same number was called in this campaign within the duplicate window.
    #[error("a call to this number in this campaign was made less than the duplicate window ago")]
    Duplicate { retry_after: chrono::Duration },
    /// The engine is shutting down.
    #[error("the engine is stopped")]
    Stopped,
}

impl From<StorageError> for EngineError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { what, id } => Self::NotFound { what, id },
            StorageError::Closed => Self::Stopped,
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<RecordError> for EngineError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Storage(e) => e.into(),
            RecordError::Restarting => Self::Unavailable(e.to_string()),
        }
    }
}
