//! The route table: which handler answers which path, for the generation being spoken.
//! In: the shared state; out: the axum [`Router`].
//!
//! Routes a client never uses are absent and fall through to Django's HTML 404 (a trailing
//! slash included). Auth is a route layer, so an unknown path is 404 before it is 401.
//! The generation picks the FHIR routes (`/FHIR/R5/` or the legacy `/fhir/r5/`); the
//! fault and request-log middleware wraps everything.

use std::sync::Arc;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{any, get, post};

use crate::config::Generation;
use crate::routes::auth::{self, require_fhir_token, require_rest_token};
use crate::routes::http::html_not_found;
use crate::routes::state::AppState;
use crate::routes::{faults, fhir, legacy, rest};

async fn not_found() -> Response {
    html_not_found()
}

/// Compress (when the client accepts gzip) only if the fake was started with `gzip`.
#[derive(Clone, Copy)]
struct GzipWhenConfigured(bool);

impl tower_http::compression::Predicate for GzipWhenConfigured {
    fn should_compress<B: axum::body::HttpBody>(&self, _response: &axum::http::Response<B>) -> bool {
        self.0
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let generation = state.config.generation;
    let mut rest = Router::new()
        .route("/api/v1/users/profile", get(rest::profile))
        .route("/api/v1/users/organizations", get(rest::user_organizations))
        .route("/api/v1/organizations", get(rest::organizations))
        .route("/api/v1/organizations/{id}", get(rest::organization))
        .route("/api/v1/studies", get(rest::studies))
        .route("/api/v1/studies/{id}", get(rest::study))
        .route("/api/v1/studies/{id}/patients", get(rest::study_patients))
        .route(
            "/api/v1/studies/{id}/scope_requests",
            get(rest::study_scope_requests),
        )
        .route("/api/v1/patients", get(rest::patients))
        .route("/api/v1/patients/{id}", get(rest::patient))
        .route(
            "/api/v1/patients/{id}/consents",
            get(rest::patient_consents),
        )
        .route("/api/v1/data_sources", get(rest::data_sources))
        .route("/api/v1/observations", get(rest::observations))
        .route("/api/v1/observations/{id}", get(rest::observation))
        .route_layer(from_fn_with_state(state.clone(), require_rest_token));
    let app = match generation {
        Generation::Current => {
            let fhir = Router::new()
                .route("/FHIR/R5/{resource}", get(fhir::search))
                .route("/FHIR/R5/{resource}/{id}", get(fhir::read).post(fhir::post))
                .route_layer(from_fn_with_state(state.clone(), require_fhir_token));
            let open = Router::new()
                .route("/FHIR/R5/metadata", get(fhir::metadata))
                .route(
                    "/FHIR/R5/.well-known/smart-configuration",
                    get(fhir::smart_configuration),
                );
            Router::new().merge(rest).merge(fhir).merge(open)
        }
        Generation::Legacy | Generation::LegacyGuide => {
            // DRF negotiates the content type before it authenticates: 406 comes first.
            rest = rest.route_layer(from_fn(legacy::negotiate));
            let fhir = Router::new()
                .route("/fhir/r5/", any(legacy::method_not_allowed))
                .route("/fhir/r5/Observation", any(legacy::observation_search))
                .route("/fhir/r5/Observation/{id}", any(legacy::observation_read))
                .route("/fhir/r5/Patient", any(legacy::patient_search))
                .route("/fhir/r5/Patient/{id}", any(legacy::patient_read))
                .route_layer(from_fn_with_state(state.clone(), require_rest_token))
                .route_layer(from_fn(legacy::negotiate));
            let open = Router::new().route("/health", get(legacy::health));
            Router::new().merge(rest).merge(fhir).merge(open)
        }
    };
    app.route(
        "/o/.well-known/openid-configuration",
        get(auth::openid_configuration),
    )
    .route("/o/token/", post(auth::token))
    .fallback(not_found)
    // Only when asked for: compressing costs the fake's CPU, which benchmarks share.
    .layer(tower_http::compression::CompressionLayer::new().gzip(true).compress_when(GzipWhenConfigured(state.config.gzip)))
    .layer(from_fn_with_state(state.clone(), faults::layer))
    .with_state(state)
}
