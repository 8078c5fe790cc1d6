//! The operators' web console at `/console/`: static files compiled into the binary (no Node
//! toolchain to build or run the engine), talking to the same API as every other client with
//! the operator's token.
//!
//! Every file is served with its content type, an ETag (a hash of its bytes) for revalidation,
//! and a Content-Security-Policy that allows only the console's own scripts, styles and API.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::error::ApiError;

pub const PATH: &str = "/console/";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

macro_rules! assets {
    ($($name:literal => $mime:literal),* $(,)?) => {
        const ASSETS: &[(&str, &str, &[u8])] = &[
            $(($name, $mime, include_bytes!(concat!("../console/", $name)))),*
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "ui.js" => "text/javascript; charset=utf-8",
    "campaigns.js" => "text/javascript; charset=utf-8",
    "campaign.js" => "text/javascript; charset=utf-8",
    "form.js" => "text/javascript; charset=utf-8",
    "calls.js" => "text/javascript; charset=utf-8",
    "dnc.js" => "text/javascript; charset=utf-8",
    "chart.js" => "text/javascript; charset=utf-8",
    "messaging.js" => "text/javascript; charset=utf-8",
    "inbox.js" => "text/javascript; charset=utf-8",
    "sends.js" => "text/javascript; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
}

/// FNV-1a: a stable tag for a file's bytes (not a security measure).
const fn fnv(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `/console` (redirected), `/console/` and its files; `/` leads to the console.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to(PATH) }))
        .route("/console", get(|| async { Redirect::permanent(PATH) }))
        .route(
            "/console/",
            get(|h: HeaderMap| async move { serve("index.html", &h) }),
        )
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>, h: HeaderMap| async move { serve(&file, &h) }),
        )
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(&(_, mime, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::NotFound {
            what: "console file",
            id: name.chars().take(64).collect(),
        }
        .into_response();
    };
    let etag = format!("\"{:016x}\"", fnv(bytes));
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, mime)], bytes).into_response()
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(tag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, tag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_the_page_loads_is_embedded() {
        let index = std::str::from_utf8(ASSETS[0].2).unwrap();
        let scripts: Vec<&str> = ASSETS
            .iter()
            .filter(|(n, _, _)| n.ends_with(".js"))
            .map(|(n, _, _)| *n)
            .collect();
        assert!(index.contains("src=\"app.js\""));
        // Each module is imported by name from another one (or is the entry point).
        for name in scripts {
            let imported = ASSETS
                .iter()
                .filter_map(|(_, _, b)| std::str::from_utf8(b).ok())
                .any(|text| text.contains(&format!("'./{name}'")));
            assert!(
                name == "app.js" || imported,
                "{name} is embedded but never imported"
            );
        }
    }

    #[test]
    fn an_unchanged_file_is_not_sent_again() {
        let first = serve("style.css", &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(
            serve("style.css", &again).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            serve("../Cargo.toml", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }
}
