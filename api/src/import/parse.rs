//! Reading an import's rows off the body, on the import's own thread: CSV (a header with a
//! phone column, every other column an attribute), newline-delimited JSON, or one JSON array.
//! Rows go to the importer in batches of at most [`BATCH`]; a row that cannot be read is a row
//! of its own with the reason, and only what makes the whole body unreadable is an error.

use std::io::BufRead;

use dialer_storage::Attributes;
use tokio::sync::mpsc;

use super::{
    BATCH, InvalidRow, MAX_COLUMNS, MAX_FIELDS, MAX_VALUE_BYTES, Parsed, Row, io_error, lines,
};
use crate::error::ApiError;

const PHONE_COLUMNS: [&str; 4] = ["phone_number", "phone", "number", "msisdn"];

pub(super) fn csv_rows(reader: impl std::io::Read, tx: &mpsc::Sender<Parsed>) {
    let (reader, starts) = lines::LineTracker::new(reader);
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers = match csv.headers() {
        Ok(h) => {
            starts.borrow_mut().pop_front();
            h.clone()
        }
        Err(e) => {
            let _ = tx.blocking_send(Err(csv_error(&e)));
            return;
        }
    };
    if headers.len() > MAX_COLUMNS {
        let _ = tx.blocking_send(Err(ApiError::invalid(
            "body",
            format!(
                "the CSV header has {} columns; at most {MAX_COLUMNS}",
                headers.len()
            ),
        )));
        return;
    }
    let Some(phone_col) = headers
        .iter()
        .position(|h| PHONE_COLUMNS.contains(&h.to_ascii_lowercase().as_str()))
    else {
        let _ = tx.blocking_send(Err(ApiError::invalid(
            "phone_number",
            "the CSV header has no phone_number column",
        )));
        return;
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut bytes = csv::ByteRecord::new();
    loop {
        // Every row, good or not, counts toward the batch: a batch never outgrows BATCH.
        if batch.len() >= BATCH && tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err() {
            return;
        }
        match csv.read_byte_record(&mut bytes) {
            Ok(false) => break,
            Ok(true) => {
                let line = starts.borrow_mut().pop_front().unwrap_or(0);
                // A row in another encoding is that row's problem, not the file's.
                let record = match csv::StringRecord::from_byte_record(bytes.clone()) {
                    Ok(record) => record,
                    Err(_) => {
                        let value = bytes
                            .get(phone_col)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default();
                        batch.push(Row::unreadable(InvalidRow {
                            line,
                            value,
                            reason: "not valid UTF-8 (save the file as UTF-8)".into(),
                        }));
                        continue;
                    }
                };
                if let Some((i, _)) = record
                    .iter()
                    .enumerate()
                    .find(|(_, v)| v.len() > MAX_VALUE_BYTES)
                {
                    let name = headers.get(i).unwrap_or("");
                    batch.push(Row::unreadable(InvalidRow {
                        line,
                        value: record.get(phone_col).unwrap_or("").to_owned(),
                        reason: format!(
                            "the value of {name:?} is longer than {MAX_VALUE_BYTES} bytes"
                        ),
                    }));
                    continue;
                }
                let mut attributes = Attributes::new();
                for (i, value) in record.iter().enumerate() {
                    if i != phone_col
                        && !value.is_empty()
                        && let Some(name) = headers.get(i).filter(|n| !n.is_empty())
                    {
                        attributes
                            .insert(name.to_owned(), serde_json::Value::String(value.to_owned()));
                    }
                }
                batch.push(Row {
                    line,
                    phone: record.get(phone_col).map(str::to_owned),
                    attributes,
                    unreadable: None,
                });
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(csv_error(&e)));
                return;
            }
        }
    }
    let _ = tx.blocking_send(Ok(batch));
}

fn csv_error(e: &csv::Error) -> ApiError {
    match e.kind() {
        csv::ErrorKind::Io(io) => io_error(io),
        _ => ApiError::invalid("body", format!("malformed CSV: {e}")),
    }
}

fn row_of(line: u64, value: serde_json::Value) -> Result<Row, InvalidRow> {
    let serde_json::Value::Object(mut map) = value else {
        return Err(InvalidRow {
            line,
            value: String::new(),
            reason: "not a JSON object".into(),
        });
    };
    let phone = PHONE_COLUMNS
        .iter()
        .find_map(|k| map.remove(*k))
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        });
    if map.len() > MAX_FIELDS {
        return Err(InvalidRow {
            line,
            value: phone.unwrap_or_default(),
            reason: format!("{} fields; at most {MAX_FIELDS}", map.len()),
        });
    }
    if let Some((name, _)) = map
        .iter()
        .find(|(_, v)| v.to_string().len() > MAX_VALUE_BYTES)
    {
        return Err(InvalidRow {
            line,
            value: phone.unwrap_or_default(),
            reason: format!("the value of {name:?} is longer than {MAX_VALUE_BYTES} bytes"),
        });
    }
    Ok(Row {
        line,
        phone,
        attributes: map,
        unreadable: None,
    })
}

pub(super) fn ndjson_rows(reader: impl std::io::Read, tx: &mpsc::Sender<Parsed>) {
    let mut batch = Vec::with_capacity(BATCH);
    for (i, line) in std::io::BufReader::new(reader).lines().enumerate() {
        let number = i as u64 + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.blocking_send(Err(io_error(&e)));
                return;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let row = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(v) => row_of(number, v),
            Err(e) => Err(InvalidRow {
                line: number,
                value: line.chars().take(80).collect(),
                reason: format!("not JSON: {e}"),
            }),
        };
        batch.push(row.unwrap_or_else(Row::unreadable));
        if batch.len() >= BATCH && tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err() {
            return;
        }
    }
    let _ = tx.blocking_send(Ok(batch));
}

pub(super) fn array_rows(reader: impl std::io::Read, tx: &mpsc::Sender<Parsed>) {
    use serde::de::Deserializer as _;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let rows = ArrayRows {
        tx,
        batch: Vec::with_capacity(BATCH),
        index: 0,
    };
    let result = de
        .deserialize_seq(rows)
        .and_then(|sent| de.end().map(|()| sent));
    match result {
        Ok(batch) => {
            let _ = tx.blocking_send(Ok(batch));
        }
        // The receiver went away (a storage error ended the import): nothing to report.
        Err(_) if tx.is_closed() => {}
        Err(e) => {
            let error = match e.io_error_kind() {
                Some(kind) => io_error(&std::io::Error::new(kind, e.to_string())),
                None => ApiError::Invalid {
                    code: "invalid_json",
                    field: "body".into(),
                    message: e.to_string(),
                },
            };
            let _ = tx.blocking_send(Err(error));
        }
    }
}

/// Reads a JSON array one element at a time, sending rows in batches: the array is never
/// held in memory whole. Yields the last, partial batch.
struct ArrayRows<'a> {
    tx: &'a mpsc::Sender<Parsed>,
    batch: Vec<Row>,
    index: u64,
}

impl<'de> serde::de::Visitor<'de> for ArrayRows<'_> {
    type Value = Vec<Row>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of contact objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<Vec<Row>, A::Error> {
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            self.index += 1;
            self.batch
                .push(row_of(self.index, value).unwrap_or_else(Row::unreadable));
            if self.batch.len() >= BATCH
                && self
                    .tx
                    .blocking_send(Ok(std::mem::take(&mut self.batch)))
                    .is_err()
            {
                return Err(serde::de::Error::custom("the import was abandoned"));
            }
        }
        Ok(self.batch)
    }
}
