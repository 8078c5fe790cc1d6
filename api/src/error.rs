//! Errors at the HTTP edge: every failure becomes a status code and a JSON body
//! `{"error": {"code", "message", "field"}}` with a stable `code` and, for a caller's mistake,
//! the `field` that broke a rule. A caller's mistake is never a 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dialer_actors::EngineError;
use dialer_storage::StorageError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A field broke a rule (`code` names the rule family).
    #[error("{field}: {message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    /// The body (or `field` of it) is not JSON: where serde_json stopped.
    #[error("{field} is not valid JSON: {message} (line {line}, column {column})")]
    BrokenJson {
        field: String,
        message: String,
        line: usize,
        column: usize,
    },
    /// An import stopped at `error` after it had written part of the file.
    #[error(
        "{error}; the {rows} rows before it were imported ({added} contacts added, {merged} merged), the rest was not read"
    )]
    Partial {
        error: Box<ApiError>,
        rows: u64,
        added: u64,
        merged: u64,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or unknown X-Auth-Token")]
    Unauthorized,
    #[error("the request signature does not match")]
    BadSignature,
    #[error("this token's role may not {0}")]
    Forbidden(&'static str),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("a call to this number in this campaign was accepted less than {window_secs} s ago")]
    Duplicate {
        window_secs: u64,
        retry_after_secs: u64,
    },
    #[error("rate limit exceeded for this token")]
    RateLimited { retry_after_secs: u64 },
    #[error("this path does not answer this method")]
    MethodNotAllowed,
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    #[error("expected Content-Type {0}")]
    UnsupportedMediaType(&'static str),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal,
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_field`, `not_found`, `duplicate_call`.
    pub code: String,
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a body that is not valid JSON: the line (from 1) where parsing stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// For a body that is not valid JSON: the column (from 1) where parsing stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            code: "invalid_field",
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        Self::Invalid {
            code: "missing_field",
            field: field.into(),
            message: "is required".into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } | Self::BrokenJson { .. } | Self::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Partial { error, .. } => error.status(),
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::BadSignature => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Duplicate { .. } | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::BrokenJson { .. } => "invalid_json",
            Self::Partial { error, .. } => error.code(),
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::BadSignature => "invalid_signature",
            Self::NotFound { .. } => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Duplicate { .. } => "duplicate_call",
            Self::RateLimited { .. } => "rate_limited",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable(_) => "unavailable",
            Self::Internal => "internal",
        }
    }

    pub(crate) fn field(&self) -> Option<String> {
        match self {
            Self::Invalid { field, .. } | Self::BrokenJson { field, .. } => Some(field.clone()),
            Self::Partial { error, .. } => error.field(),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, Self::Internal | Self::Unavailable(_)) {
            tracing::warn!(error = %self, "request failed");
        }
        let (line, column) = match &self {
            Self::BrokenJson { line, column, .. } => (Some(*line), Some(*column)),
            _ => (None, None),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().into(),
                message: self.to_string(),
                field: self.field(),
                line,
                column,
            },
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        let retry_after = match self {
            Self::Duplicate {
                retry_after_secs, ..
            }
            | Self::RateLimited { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound { what, id } => Self::NotFound { what, id },
            EngineError::Conflict(m) => Self::Conflict(m),
            EngineError::Duplicate { retry_after } => Self::Duplicate {
                window_secs: 0,
                retry_after_secs: u64::try_from(retry_after.num_seconds()).unwrap_or(1),
            },
            EngineError::Unavailable(m) => Self::Unavailable(m),
            EngineError::Stopped => Self::Unavailable("the engine is shutting down".into()),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { what, id } => Self::NotFound { what, id },
            StorageError::Conflict(m) => Self::Conflict(m),
            StorageError::Unavailable(m) => Self::Unavailable(m),
            StorageError::Closed => Self::Unavailable("storage is shutting down".into()),
            StorageError::Corrupt(m) | StorageError::Schema(m) => {
                tracing::error!(error = %m, "storage error");
                Self::Internal
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
