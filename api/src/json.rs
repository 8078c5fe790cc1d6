//! JSON body and query-string extractors whose rejections name the field: a type mismatch at
//! `settings.max_concurrent` is reported with that path, a missing field with its name.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
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
        parse(&bytes, "").map(Body)
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
}
