//! The router: every route with its OpenAPI description, the layers around them, and the
//! error answers for what no route matches.
//!
//! Paths answer with and without a trailing slash (`/api/v1/initiate-call/` is the seed's
//! spelling): a `NormalizePath` service trims the slash before routing. Swagger UI and the
//! console sit outside it, because they redirect `/docs` to `/docs/` and `/console` to
//! `/console/`.

pub mod archive;
pub mod audience;
pub mod calls;
pub mod campaigns;
pub mod contacts;
pub mod dnc;
mod doc;
pub mod events;
pub mod explain;
pub mod messages;
pub mod ops;
pub mod reference;
pub mod seed;
pub mod segments;
pub mod sending;
pub mod templates;
pub mod triggers;
pub mod twilio;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::state::AppState;

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
pub const DOCS_PATH: &str = "/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dialer",
        description = "Outbound call campaigns: the control API, provider callbacks and operations endpoints. \
                       Every route but /healthz, /readyz, /metrics and the provider webhooks needs an X-Auth-Token.",
        license(name = "Apache-2.0")
    ),
    modifiers(&TokenScheme),
    tags(
        (name = "calls", description = "Placing, scheduling and following calls"),
        (name = "campaigns", description = "Campaigns, their settings, lifecycle and statistics"),
        (name = "contacts", description = "A campaign's contact list"),
        (name = "dnc", description = "Do-not-call list and opt-outs"),
        (name = "providers", description = "Webhooks telephony providers call"),
        (name = "ops", description = "Health, readiness and metrics"),
        (name = "messaging", description = "The messaging audience: recipients, consent, topic subscriptions, segments and templates"),
        (name = "reference", description = "The seed-004 reference implementation's routes, for its clients"),
    )
)]
struct ApiDoc;

struct TokenScheme;

impl utoipa::Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
        );
    }
}

/// The API's routes and their OpenAPI document.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    // Routes that answer quickly get the request timeout; streams and imports do not.
    let timed = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .routes(routes!(seed::initiate_call))
        .routes(routes!(seed::initiate_bulk))
        .routes(routes!(seed::callback))
        .routes(routes!(reference::phone_numbers))
        .routes(routes!(reference::bulk_initiate_calls))
        .routes(routes!(campaigns::create, campaigns::list))
        .routes(routes!(campaigns::get, campaigns::update, archive::delete))
        .routes(routes!(archive::archive))
        .routes(routes!(archive::unarchive))
        .routes(routes!(campaigns::start))
        .routes(routes!(campaigns::pause))
        .routes(routes!(campaigns::resume))
        .routes(routes!(campaigns::stop))
        .routes(routes!(campaigns::stats))
        .routes(routes!(explain::explain))
        .routes(routes!(explain::me))
        .routes(routes!(audience::add, audience::list))
        .routes(routes!(audience::get))
        .routes(routes!(audience::subscribe))
        .routes(routes!(audience::unsubscribe))
        .routes(routes!(segments::list))
        .routes(routes!(segments::get, segments::put, segments::delete))
        .routes(routes!(segments::preview))
        .routes(routes!(templates::list))
        .routes(routes!(templates::get, templates::put, templates::delete))
        .routes(routes!(templates::preview))
        .routes(routes!(triggers::preview))
        .routes(routes!(sending::trigger))
        .routes(routes!(messages::campaign_messages))
        .routes(routes!(messages::recipient_messages))
        .routes(routes!(messages::get))
        .routes(routes!(messages::stats))
        .routes(routes!(messages::events))
        .routes(routes!(messages::reply))
        .routes(routes!(messages::callback))
        .routes(routes!(contacts::phone_numbers))
        .routes(routes!(contacts::list_contacts))
        .routes(routes!(calls::schedule, calls::list))
        .routes(routes!(calls::get))
        .routes(routes!(calls::cancel))
        .routes(routes!(dnc::add, dnc::list))
        .routes(routes!(dnc::add_bulk))
        .routes(routes!(dnc::check, dnc::remove))
        .routes(routes!(twilio::status))
        .routes(routes!(twilio::inbound))
        .routes(routes!(twilio::twiml))
        .routes(routes!(twilio::message_status))
        .routes(routes!(ops::summary))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .layer(middleware::from_fn(timeout));
    let streaming = OpenApiRouter::<AppState>::new()
        .routes(routes!(contacts::import_contacts))
        .routes(routes!(audience::import))
        .routes(routes!(events::events));
    let (router, mut doc) = timed.merge(streaming).split_for_parts();
    utoipa::Modify::modify(&doc::Complete, &mut doc);
    (router, doc)
}

/// The OpenAPI document alone (for `dialer openapi` and the tests).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The whole application as one router with its state.
pub fn router(state: AppState) -> Router {
    let (api, mut doc) = api();
    doc::configure(&mut doc, state.settings.phone_validation);
    let timeout_after = Duration::from_millis(state.settings.request_timeout_ms);
    let api = api
        .fallback(|| async {
            ApiError::NotFound {
                what: "route",
                id: "for this path".into(),
            }
        })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::Extension(RequestTimeout(timeout_after)))
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The route template, never the concrete path: paths may hold phone numbers.
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("http", method = %req.method(), route, request_id = id)
        }))
        .with_state(state);
    let api = NormalizePathLayer::trim_trailing_slash().layer(api);
    let api = PropagateRequestIdLayer::x_request_id()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid).layer(api));
    Router::new()
        .merge(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, doc))
        .merge(crate::console::router())
        .fallback_service(api)
}

#[derive(Debug, Clone, Copy)]
struct RequestTimeout(Duration);

/// Answers 503 `timeout` when a handler takes longer than the configured request timeout.
async fn timeout(req: Request, next: Next) -> Response {
    let limit = req
        .extensions()
        .get::<RequestTimeout>()
        .map_or(Duration::from_secs(30), |t| t.0);
    tokio::time::timeout(limit, next.run(req))
        .await
        .unwrap_or_else(|_| {
            ApiError::Unavailable(format!(
                "the request took longer than {} ms",
                limit.as_millis()
            ))
            .into_response()
        })
}
