//! Contact and recipient import: CSV or JSON, streamed. Each row is validated (E.164, read in
//! the campaign's default region), de-duplicated within the file, merged with the records that
//! exist (a campaign's contacts, or the messaging audience — the [`Sink`]), and written in
//! batches; the answer is a data-quality report with line numbers and reasons.
//!
//! CSV needs a header row with a `phone_number` column (or `phone`, `number`, `msisdn`); every
//! other column becomes an attribute. JSON is an array of objects or newline-delimited objects
//! with a `phone_number` field; the other fields become attributes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use dialer_engine::{Numbering, PhoneNumber};
use dialer_storage::{Attributes, NewContact};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};
use utoipa::ToSchema;

use crate::error::ApiError;

mod lines;
mod parse;

/// Rows written per storage batch.
const BATCH: usize = 1000;
/// Imports running at once on this node; another one is refused (429) until one ends. Each
/// parses on a thread of its own, never on the runtime's blocking pool (the embedded store
/// reads there).
pub const MAX_IMPORTS: usize = 8;
/// A body that sends nothing for this long is abandoned (400).
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
/// Columns of a CSV file, at most: every column of every row becomes an attribute, and a file
/// thousands of columns wide took over a hundred times its size in memory.
pub const MAX_COLUMNS: usize = 200;
/// Attributes of a JSON row, at most (as CSV columns).
pub const MAX_FIELDS: usize = MAX_COLUMNS;
/// Bytes of one attribute value, at most.
pub const MAX_VALUE_BYTES: usize = 4096;

/// Rows listed in each section of the report (counts are always complete).
const LISTED: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    /// Newline-delimited JSON objects.
    NdJson,
    /// One JSON array of objects.
    JsonArray,
}

impl Format {
    pub fn from_content_type(ct: Option<&str>) -> Option<Self> {
        let ct = ct?.split(';').next()?.trim().to_ascii_lowercase();
        match ct.as_str() {
            "text/csv" | "application/csv" => Some(Self::Csv),
            "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => {
                Some(Self::NdJson)
            }
            "application/json" => Some(Self::JsonArray),
            _ => None,
        }
    }
}

/// The data-quality report.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read (not counting a CSV header).
    pub rows: u64,
    /// Valid, unique rows written: `added + merged`.
    pub accepted: u64,
    /// New contacts.
    pub added: u64,
    /// Numbers already in the campaign, whose attributes were merged.
    pub merged: u64,
    /// Rows repeating a number seen earlier in the same file.
    pub duplicates: u64,
    pub invalid: u64,
    pub duplicate_rows: Vec<DuplicateRow>,
    pub invalid_rows: Vec<InvalidRow>,
    /// The numbers added (E.164), kept only when the caller asked for them
    /// ([`Limits::keep_added`]).
    #[serde(skip)]
    #[schema(ignore)]
    pub added_numbers: Vec<String>,
}

/// How much an import may read and keep.
#[derive(Debug, Clone)]
pub struct Limits<'a> {
    /// The node's places for imports running at once; none free is a 429.
    pub places: &'a tokio::sync::Semaphore,
    /// Bytes of body read at most (413 beyond).
    pub max_bytes: usize,
    /// Added numbers listed in [`ImportReport::added_numbers`], at most.
    pub keep_added: usize,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct DuplicateRow {
    /// The line (CSV, NDJSON) or the 1-based element (JSON array).
    pub line: u64,
    pub phone_number: String,
    pub first_line: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct InvalidRow {
    pub line: u64,
    pub value: String,
    pub reason: String,
}

/// A parsed row before validation.
#[derive(Debug)]
struct Row {
    line: u64,
    phone: Option<String>,
    attributes: Attributes,
    /// A row that could not be read at all (value, reason).
    unreadable: Option<(String, String)>,
}

impl Row {
    fn unreadable(bad: InvalidRow) -> Self {
        Self {
            line: bad.line,
            phone: None,
            attributes: Attributes::new(),
            unreadable: Some((bad.value, bad.reason)),
        }
    }
}

/// Rows, or the reason the whole input is unreadable.
type Parsed = Result<Vec<Row>, ApiError>;

/// Where an import's valid, de-duplicated rows are written, a batch at a time: one flag per row,
/// `true` when it added a record and `false` when it merged into one. A batch runs in a task of
/// its own, so a request abandoned midway cannot cut a write in two.
pub type Sink = Arc<
    dyn Fn(Vec<NewContact>) -> futures::future::BoxFuture<'static, Result<Vec<bool>, ApiError>>
        + Send
        + Sync,
>;

/// Imports a request's body into `sink`: `text/csv`, `application/json` (an array of objects)
/// or `application/x-ndjson`, within the node's import limits.
pub async fn import_request(
    state: &crate::state::AppState,
    sink: Sink,
    numbering: Numbering,
    request: axum::extract::Request,
) -> Result<ImportReport, ApiError> {
    let ct = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = Format::from_content_type(ct).ok_or(ApiError::UnsupportedMediaType(
        "text/csv, application/json or application/x-ndjson",
    ))?;
    import(
        sink,
        numbering,
        request.into_body(),
        format,
        Limits {
            places: &state.imports,
            max_bytes: state.settings.max_import_bytes,
            keep_added: 0,
        },
    )
    .await
}

/// Imports `body` into `sink`.
pub async fn import(
    sink: Sink,
    numbering: Numbering,
    body: Body,
    format: Format,
    limits: Limits<'_>,
) -> Result<ImportReport, ApiError> {
    let max_bytes = limits.max_bytes;
    let _slot = limits
        .places
        .try_acquire()
        .map_err(|_| ApiError::RateLimited {
            retry_after_secs: 5,
        })?;
    let (tx, mut rx) = mpsc::channel::<Parsed>(4);
    // A body that stops sending ends with an error instead of holding the import for ever.
    let body = futures::stream::unfold(body.into_data_stream(), |mut body| async move {
        match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
            Ok(next) => next.map(|chunk| (chunk.map_err(std::io::Error::other), body)),
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no data for {} s", IDLE_TIMEOUT.as_secs()),
                )),
                body,
            )),
        }
    });
    let stream = body.scan(0usize, move |seen, chunk| {
        let chunk = chunk.and_then(|c| {
            *seen += c.len();
            if *seen > max_bytes {
                Err(std::io::Error::new(
                    std::io::ErrorKind::FileTooLarge,
                    "too large",
                ))
            } else {
                Ok(c)
            }
        });
        futures::future::ready(Some(chunk))
    });
    let reader = SyncIoBridge::new(StreamReader::new(Box::pin(stream)));
    let (parsed, parser) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("dialer-import".into())
        .spawn(move || {
            match format {
                Format::Csv => parse::csv_rows(reader, &tx),
                Format::NdJson => parse::ndjson_rows(reader, &tx),
                Format::JsonArray => parse::array_rows(reader, &tx),
            }
            let _ = parsed.send(());
        })
        .map_err(|_| ApiError::Unavailable("cannot start an import thread".into()))?;
    let mut report = ImportReport::default();
    let mut first_seen: HashMap<PhoneNumber, u64> = HashMap::new();
    while let Some(batch) = rx.recv().await {
        let rows = match batch {
            Ok(rows) => rows,
            Err(ApiError::TooLarge(_)) => {
                return Err(partial(ApiError::TooLarge(max_bytes), &report));
            }
            Err(e) => return Err(partial(e, &report)),
        };
        let mut contacts = Vec::with_capacity(rows.len());
        for row in rows {
            report.rows += 1;
            if let Some((value, reason)) = row.unreadable {
                report.invalid += 1;
                push(
                    &mut report.invalid_rows,
                    InvalidRow {
                        line: row.line,
                        value,
                        reason,
                    },
                );
                continue;
            }
            let Some(text) = row.phone.filter(|p| !p.trim().is_empty()) else {
                report.invalid += 1;
                push(
                    &mut report.invalid_rows,
                    InvalidRow {
                        line: row.line,
                        value: String::new(),
                        reason: "no phone number".into(),
                    },
                );
                continue;
            };
            match numbering.parse(&text) {
                Err(e) => {
                    report.invalid += 1;
                    push(
                        &mut report.invalid_rows,
                        InvalidRow {
                            line: row.line,
                            value: text,
                            reason: e.to_string(),
                        },
                    );
                }
                Ok(number) => match first_seen.get(&number) {
                    Some(&first_line) => {
                        report.duplicates += 1;
                        let d = DuplicateRow {
                            line: row.line,
                            phone_number: number.as_str().to_owned(),
                            first_line,
                        };
                        push(&mut report.duplicate_rows, d);
                    }
                    None => {
                        first_seen.insert(number.clone(), row.line);
                        contacts.push(NewContact {
                            phone_number: number,
                            attributes: row.attributes,
                        });
                    }
                },
            }
        }
        for chunk in contacts.chunks(BATCH) {
            let numbers: Vec<String> = chunk
                .iter()
                .map(|c| c.phone_number.as_str().to_owned())
                .collect();
            let written = tokio::spawn(sink(chunk.to_vec()))
                .await
                .map_err(|_| ApiError::Internal)??;
            for (added, number) in written.into_iter().zip(numbers) {
                if added {
                    report.added += 1;
                    if report.added_numbers.len() < limits.keep_added {
                        report.added_numbers.push(number);
                    }
                } else {
                    report.merged += 1;
                }
            }
        }
    }
    parser.await.map_err(|_| ApiError::Internal)?;
    report.accepted = report.added + report.merged;
    Ok(report)
}

/// An import that stopped at `error` after some of its batches were written says so: the error
/// keeps its status and code, and tells how many contacts were written before it.
fn partial(error: ApiError, report: &ImportReport) -> ApiError {
    if report.added + report.merged == 0 {
        return error;
    }
    ApiError::Partial {
        error: Box::new(error),
        rows: report.rows,
        added: report.added,
        merged: report.merged,
    }
}

fn push<T>(list: &mut Vec<T>, item: T) {
    if list.len() < LISTED {
        list.push(item);
    }
}

fn io_error(e: &std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::FileTooLarge {
        ApiError::TooLarge(0)
    } else {
        ApiError::BadRequest(format!("could not read the body: {e}"))
    }
}
