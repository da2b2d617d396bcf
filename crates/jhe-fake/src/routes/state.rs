//! The state every handler shares ([`AppState`]: the world, the store, the imported
//! records, the tokens, the request log, the configuration) and what every handler reads from its request
//! ([`Ctx`]). In: a request's parts; out: the base URL, path and parsed query.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::config::{FakeConfig, Generation};
use crate::generate::world::World;
use crate::imported::ImportedStore;
use crate::render::cache::RenderCache;
use crate::store::Store;

use super::http::{Params, absolute, base_url};
use super::log::FaultState;
use super::tokens::Tokens;

pub(crate) struct AppState {
    pub world: World,
    pub store: Store,
    pub tokens: Tokens,
    /// `127.0.0.1:PORT`, for a request without a `Host` header.
    pub host: String,
    pub config: FakeConfig,
    pub faults: FaultState,
    pub render_cache: RenderCache,
    /// The EHR-imported records, made on first use (most fakes never serve one).
    pub imported: OnceLock<ImportedStore>,
}

impl AppState {
    pub fn imported(&self) -> &ImportedStore {
        self.imported
            .get_or_init(|| ImportedStore::new(&self.world))
    }
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
