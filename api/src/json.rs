//! JSON body and query-string extractors whose rejections name the field: a type mismatch at
//! `settings.max_concurrent` is reported with that path, a missing field with its name.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// `Json<T>` with field-naming errors.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

/// Parses JSON bytes into `T`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], prefix: &str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return broken_json(prefix, &inner);
        }
        field_error(prefix, &path, &inner.to_string())
    })
}

/// A body (or the part of one under `prefix`) that is not JSON: what serde_json says, without
/// its position, which is given as the line and column.
pub(crate) fn broken_json(prefix: &str, e: &serde_json::Error) -> ApiError {
    let field = match prefix.trim_end_matches('.') {
        "" => "body".to_owned(),
        p => p.to_owned(),
    };
    let text = e.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m)
        .to_owned();
    ApiError::BrokenJson {
        field,
        message,
        line: e.line(),
        column: e.column(),
    }
}

/// The error for a value that deserialized badly at `path` with serde's `message`.
fn field_error(prefix: &str, path: &str, message: &str) -> ApiError {
    let here = if path == "." { "" } else { path };
    let join = |name: &str| {
        [prefix.trim_end_matches('.'), here, name]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(".")
    };
    let quoted = |lead: &str| {
        message
            .strip_prefix(lead)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    // serde reports a missing field at its parent's path; the name is in the message.
    if let Some(name) = quoted("missing field `") {
        return ApiError::Invalid {
            code: "missing_field",
            field: join(&name),
            message: "is required".into(),
        };
    }
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    // An unknown field's path already ends with its name.
    if let Some(name) = quoted("unknown field `").filter(|name| !here.ends_with(name.as_str())) {
        return ApiError::Invalid {
            code: "invalid_field",
            field: join(&name),
            message,
        };
    }
    // A type's own validation names the member at fault as `member: rule`.
    match message
        .split_once(": ")
        .filter(|(member, _)| is_member_path(member))
    {
        Some((member, rule)) => ApiError::Invalid {
            code: "invalid_field",
            field: join(member),
            message: rule.to_owned(),
        },
        None => ApiError::Invalid {
            code: "invalid_field",
            field: join(""),
            message,
        },
    }
}

/// Query-string parameters with field-naming errors (`Query<T>` answers in plain text).
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| field_error("", &e.path().to_string(), &e.into_inner().to_string()))
    }
}

/// `max_attempts`, `rules[2].start_time`: a path into the value, not prose.
fn is_member_path(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.[]".contains(c))
}

impl<T> FromRequest<AppState> for Body<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.ends_with("+json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(state.settings.max_body_bytes)
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        // serde reads a struct from an array of its fields in order too; a body is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::invalid(
                "body",
                "must be a JSON object, not an array",
            ));
        }
        parse(&bytes, "").map(Body)
    }
}

/// Whole numbers as JSON Schema's `integer` has them: `160` and `160.0` alike (serde's integers
/// refuse the second). `#[serde(deserialize_with = "whole")]`, or `whole_or_null` for an
/// `Option` (with `#[serde(default)]`).
pub fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    let n = d.deserialize_any(Whole)?;
    T::try_from(n).map_err(|_| {
        serde::de::Error::invalid_value(serde::de::Unexpected::Signed(n), &"a number in range")
    })
}

pub fn whole_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(serde::Deserialize)]
    struct Wrap<T: TryFrom<i64>>(#[serde(deserialize_with = "whole")] T);
    Ok(Option::<Wrap<T>>::deserialize(d)?.map(|Wrap(n)| n))
}

/// Any whole number, however large: a field that is accepted and ignored.
pub fn any_whole_or_null<'de, D>(d: D) -> Result<Option<serde_json::Number>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let n = Option::<serde_json::Number>::deserialize(d)?;
    match n.as_ref().and_then(serde_json::Number::as_f64) {
        Some(x) if n.as_ref().is_some_and(serde_json::Number::is_f64) && x.fract() != 0.0 => Err(
            serde::de::Error::invalid_value(serde::de::Unexpected::Float(x), &"an integer"),
        ),
        _ => Ok(n),
    }
}

struct Whole;

impl serde::de::Visitor<'_> for Whole {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<i64, E> {
        Ok(n)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<i64, E> {
        i64::try_from(n).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
    }

    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<i64, E> {
        // Exactly representable and in range: i64::MAX as f64 rounds up to 2^63, hence `<`.
        if x.fract() == 0.0 && x >= i64::MIN as f64 && x < i64::MAX as f64 {
            Ok(x as i64)
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Float(x), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        phone_number: String,
        campaign_id: i64,
        settings: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        max_concurrent: u32,
    }

    fn field_of(json: &str) -> (String, String) {
        match parse::<Req>(json.as_bytes(), "") {
            Err(ApiError::Invalid { code, field, .. }) => (code.to_owned(), field),
            Err(e @ ApiError::BrokenJson { .. }) => (e.code().to_owned(), e.field().unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        assert_eq!(
            field_of(r#"{"phone_number": "+1"}"#),
            ("missing_field".into(), "campaign_id".into())
        );
        assert_eq!(
            field_of(r#"{"phone_number": "+1", "campaign_id": "x"}"#),
            ("invalid_field".into(), "campaign_id".into())
        );
        assert_eq!(
            field_of(
                r#"{"phone_number": "+1", "campaign_id": 1, "settings": {"max_concurrent": -3}}"#
            ),
            ("invalid_field".into(), "settings.max_concurrent".into())
        );
        assert_eq!(
            field_of(r#"{"phone_number": "+1", "campaign_id": 1, "extra": 1}"#),
            ("invalid_field".into(), "extra".into())
        );
        assert_eq!(
            field_of(r#"{"phone_number": "#),
            ("invalid_json".into(), "body".into())
        );
        let broken =
            parse::<serde_json::Value>(b"{\"name\": \"x\",\n \"settings\": [}}", "").unwrap_err();
        assert_eq!(
            broken,
            ApiError::BrokenJson {
                field: "body".into(),
                message: "expected value".into(),
                line: 2,
                column: 15,
            }
        );
        assert_eq!(
            broken.to_string(),
            "body is not valid JSON: expected value (line 2, column 15)"
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Ids {
        #[serde(deserialize_with = "whole")]
        id: i64,
        #[serde(default, deserialize_with = "whole_or_null")]
        seconds: Option<u32>,
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let ids = |json: &str| parse::<Ids>(json.as_bytes(), "");
        assert_eq!(
            ids(r#"{"id": 160.0, "seconds": 45.0}"#).unwrap(),
            Ids {
                id: 160,
                seconds: Some(45)
            }
        );
        assert_eq!(
            ids(r#"{"id": 7, "seconds": null}"#).unwrap(),
            Ids {
                id: 7,
                seconds: None
            }
        );
        assert_eq!(ids(r#"{"id": 7}"#).unwrap().seconds, None);
        for bad in [
            r#"{"id": 1.5}"#,
            r#"{"id": "1"}"#,
            r#"{"id": 1e300}"#,
            r#"{"id": 9223372036854775808}"#,
            r#"{"id": 1, "seconds": -1}"#,
            r#"{"id": 1, "seconds": 4294967296.0}"#,
        ] {
            match ids(bad) {
                Err(ApiError::Invalid { field, .. }) => {
                    assert!(field == "id" || field == "seconds", "{bad}: {field}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
