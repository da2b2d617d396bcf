//! Shared server state, the request context every handler reads, and the route table.
//!
//! Routes a client never uses are absent and fall through to Django's HTML 404 (a trailing
//! slash included). Auth is a route layer, so an unknown path is 404 before it is 401.
//! The generation picks the FHIR routes (`/FHIR/R5/` or the legacy `/fhir/r5/`); the
//! fault and request-log middleware wraps everything.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{any, get, post};

use super::auth::{Tokens, require_fhir_token, require_rest_token};
use super::faults::FaultState;
use super::http::{Params, absolute, base_url, html_not_found, json};
use super::store::Store;
use super::world::World;
use super::{FakeConfig, Generation, auth, faults, fhir, legacy, rest};

pub(crate) struct AppState {
    pub world: World,
    pub store: Store,
    pub tokens: Tokens,
    /// `127.0.0.1:PORT`, for a request without a `Host` header.
    pub host: String,
    pub config: FakeConfig,
    pub faults: FaultState,
    pub render_cache: fhir::RenderCache,
}

/// What every handler needs from the request: the absolute base the client used, the
/// path, and the query.
pub(crate) struct Ctx {
    pub base: String,
    pub path: String,
    pub params: Params,
    pub raw_query: String,
    pub generation: Generation,
}

impl Ctx {
    /// The request's own URL, as Django's `build_absolute_uri` gives it.
    pub fn self_url(&self) -> String {
        absolute(&self.base, &self.path, &self.raw_query)
    }
}

impl FromRequestParts<Arc<AppState>> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Ctx, Infallible> {
        let raw_query = parts.uri.query().unwrap_or("").to_string();
        Ok(Ctx {
            base: base_url(&parts.headers, &state.host),
            path: parts.uri.path().to_string(),
            params: Params::parse(&raw_query),
            raw_query,
            generation: state.config.generation,
        })
    }
}

async fn openid_configuration(ctx: Ctx) -> Response {
    let o = format!("{}/o", ctx.base);
    let mut doc = serde_json::json!({
            "issuer": o,
            "authorization_endpoint": format!("{o}/authorize/"),
            "token_endpoint": format!("{o}/token/"),
            "userinfo_endpoint": format!("{o}/userinfo/"),
            "jwks_uri": format!("{o}/.well-known/jwks.json"),
            "scopes_supported": ["openid", "email"],
            "response_types_supported": [
                "code", "token", "id_token", "id_token token", "code token", "code id_token", "code id_token token"
            ],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "HS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "claims_supported": ["sub"],
    });
    // Added by the django-oauth-toolkit of v0.0.12+.
    if !ctx.generation.is_legacy() {
        doc["prompt_values_supported"] = serde_json::json!(["none", "login"]);
        doc["client_id_metadata_document_supported"] = false.into();
    }
    json(StatusCode::OK, doc.to_string())
}

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
        get(openid_configuration),
    )
    .route("/o/token/", post(auth::token))
    .fallback(not_found)
    // Only when asked for: compressing costs the fake's CPU, which benchmarks share.
    .layer(tower_http::compression::CompressionLayer::new().gzip(true).compress_when(GzipWhenConfigured(state.config.gzip)))
    .layer(from_fn_with_state(state.clone(), faults::layer))
    .with_state(state)
}
