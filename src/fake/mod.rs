//! `jhe::fake`: a deterministic fake JupyterHealth Exchange, served in-process on
//! 127.0.0.1, speaking the current API generation (v0.0.13, see the vendored samples in
//! `tests/reference/samples`).
//!
//! The data is generated from a seed and ends at a fixed anchor (2026-01-01T00:00:00Z), so
//! the same config serves byte-identical responses on every run. [`FakeExchange::
//! expected_observations`] is the generator's ground truth for what a FHIR Observation
//! search returns.
//!
//! Layout: `world` (users, organizations, studies, patients), `generate` (observations),
//! `store` (compact storage, queries, cache), `omh` (payloads), `rest` and `fhir`
//! (endpoints), `auth`, `http` (Django/DRF behaviours), `server` (routes).

mod auth;
mod catalog;
mod fhir;
mod generate;
mod http;
mod json;
mod omh;
mod rest;
mod server;
mod store;
mod time;
mod world;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use catalog::{ALL_CODES_MASK, Code};
use server::AppState;
use store::{ObsQuery, Store};
use world::{FIRST_OBSERVATION_ID, HIDDEN_ORG_ID, HIDDEN_STUDY_ID, MAIN_STUDY_ID, World};

/// What to generate. Defaults: 20 visible patients, 14 days, seed 0 (about 33,000
/// visible observations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeConfig {
    /// Visible patients (all in the main study; about half also in the BP study). Two
    /// hidden patients are always added.
    pub patients: u32,
    /// Days of data ending at the anchor.
    pub days: u32,
    pub seed: u64,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            patients: 20,
            days: 14,
            seed: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("invalid fake Exchange configuration: {0}")]
    Config(String),
    #[error("could not listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    #[error("generating the fake Exchange's data failed: {0}")]
    Generate(String),
}

/// Ids a test needs to talk about the fake's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    /// The token's user (a practitioner).
    pub user_id: i64,
    /// Every organization, by id.
    pub organization_ids: Vec<i64>,
    /// The organizations the user belongs to.
    pub member_organization_ids: Vec<i64>,
    /// The organization that owns the hidden study; the user is not a member.
    pub hidden_organization_id: i64,
    /// The study that requests every code.
    pub main_study_id: i64,
    pub visible_study_ids: Vec<i64>,
    /// A study in an organization the user is not in: 403 everywhere.
    pub hidden_study_id: i64,
    /// Enrolled patient ids per study (the hidden study included), ascending.
    pub patients_by_study: BTreeMap<i64, Vec<i64>>,
    pub visible_patient_ids: Vec<i64>,
    pub hidden_patient_ids: Vec<i64>,
    /// The codes (e.g. `omh:blood-glucose:4.0`) each study requests.
    pub codes_by_study: BTreeMap<i64, Vec<String>>,
    /// `(system, value)` identifiers per visible patient (some have none).
    pub patient_identifiers: BTreeMap<i64, Vec<(String, String)>>,
    /// The end of the generated data, `2026-01-01T00:00:00Z`.
    pub anchor: String,
}

/// One observation as the fake serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedObservation {
    pub id: i64,
    pub patient_id: i64,
    /// The OMH code, e.g. `omh:heart-rate:2.0`.
    pub code: String,
    /// `meta.lastUpdated` / `lastUpdated` exactly as served.
    pub last_updated: String,
    /// Exactly the JSON the FHIR `valueAttachment.data` base64 encodes.
    pub omh_json: String,
}

/// A running fake Exchange. Stops when dropped.
pub struct FakeExchange {
    url: String,
    state: Arc<AppState>,
    directory: Directory,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

const MAX_OBSERVATIONS: u64 = 200_000_000;

fn check(config: &FakeConfig) -> Result<(), FakeError> {
    if config.days > 36_500 {
        return Err(FakeError::Config(format!(
            "days = {} (at most 36500)",
            config.days
        )));
    }
    let estimate = (config.patients as u64 + world::HIDDEN_PATIENTS as u64)
        * config.days as u64
        * generate::PER_PATIENT_DAY;
    if estimate > MAX_OBSERVATIONS {
        return Err(FakeError::Config(format!(
            "{} patients x {} days is about {estimate} observations (at most {MAX_OBSERVATIONS})",
            config.patients, config.days
        )));
    }
    Ok(())
}

fn directory(w: &World) -> Directory {
    let mut patients_by_study = BTreeMap::new();
    for s in &w.studies {
        let ids: Vec<i64> = w
            .patients
            .iter()
            .filter(|p| p.in_study(s.id))
            .map(|p| p.id)
            .collect();
        patients_by_study.insert(s.id, ids);
    }
    Directory {
        user_id: w.user.id,
        organization_ids: w.organizations.iter().map(|o| o.id).collect(),
        member_organization_ids: w.user.roles.iter().map(|(id, _)| *id).collect(),
        hidden_organization_id: HIDDEN_ORG_ID,
        main_study_id: MAIN_STUDY_ID,
        visible_study_ids: w
            .studies
            .iter()
            .filter(|s| w.is_member(s.organization_id))
            .map(|s| s.id)
            .collect(),
        hidden_study_id: HIDDEN_STUDY_ID,
        patients_by_study,
        visible_patient_ids: w
            .patients
            .iter()
            .filter(|p| p.visible)
            .map(|p| p.id)
            .collect(),
        hidden_patient_ids: w
            .patients
            .iter()
            .filter(|p| !p.visible)
            .map(|p| p.id)
            .collect(),
        codes_by_study: w
            .studies
            .iter()
            .map(|s| {
                (
                    s.id,
                    s.codes.iter().map(|c| c.spec().code.to_string()).collect(),
                )
            })
            .collect(),
        patient_identifiers: w
            .patients
            .iter()
            .filter(|p| p.visible)
            .map(|p| {
                (
                    p.id,
                    p.identifiers
                        .iter()
                        .map(|i| (i.system.to_string(), i.value.clone()))
                        .collect(),
                )
            })
            .collect(),
        anchor: time::utc_micros(w.anchor * time::MICROS_PER_SEC),
    }
}

/// Build the world and its observations (CPU-bound; seconds for millions of rows).
fn build(config: FakeConfig) -> (World, Store) {
    let w = world::build(config.patients, config.days, config.seed);
    let observations = generate::observations(&w);
    (w, Store::new(observations))
}

impl FakeExchange {
    /// Generate the data and serve it on 127.0.0.1 with an ephemeral port, spawning the
    /// server onto the current tokio runtime. Returns once the listener is bound.
    pub async fn start(config: FakeConfig) -> Result<FakeExchange, FakeError> {
        check(&config)?;
        let (world, store) = tokio::task::spawn_blocking(move || build(config))
            .await
            .map_err(|e| FakeError::Generate(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(FakeError::Bind)?;
        let port = listener.local_addr().map_err(FakeError::Bind)?.port();
        let host = format!("127.0.0.1:{port}");
        let directory = directory(&world);
        let tokens = auth::Tokens::new(&world.token, world.user.id);
        let state = Arc::new(AppState {
            world,
            store,
            tokens,
            host: host.clone(),
        });
        let app = server::router(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(FakeExchange {
            url: format!("http://{host}"),
            state,
            directory,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A valid Bearer access token for the practitioner (derived from the seed).
    pub fn token(&self) -> &str {
        &self.state.world.token
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The generator's ground truth for an FHIR Observation search with these filters,
    /// newest first, with the server's visibility and study rules: a study or patient the
    /// user may not see (or a patient outside the study) gives nothing. `code` is the OMH
    /// code (`omh:heart-rate:2.0`) or `system|code`.
    pub fn expected_observations(
        &self,
        study_id: Option<i64>,
        patient_id: Option<i64>,
        code: Option<&str>,
    ) -> Vec<ExpectedObservation> {
        let w = &self.state.world;
        let study_hidden = study_id.is_some_and(|s| w.visible_study(s).is_none());
        let patient_hidden = patient_id.is_some_and(|p| match w.visible_patient(p) {
            None => true,
            Some(i) => study_id.is_some_and(|s| !w.patients[i].in_study(s)),
        });
        let code_mask = code.map(|c| {
            let found = match c.split_once('|') {
                Some((system, code)) => Code::from_system_code(system, code),
                None => Code::from_code(c),
            };
            found.map_or(0, |c| c.bit() & ALL_CODES_MASK)
        });
        let q = ObsQuery {
            study_id,
            patient_id,
            code_mask,
            nothing: study_hidden || patient_hidden,
            ..ObsQuery::default()
        };
        let rows = self.state.store.query(w, &q);
        let obs = self.state.store.read();
        rows.iter()
            .map(|&i| {
                let o = &obs[i as usize];
                let id = FIRST_OBSERVATION_ID + i as i64;
                ExpectedObservation {
                    id,
                    patient_id: w.patients[o.patient as usize].id,
                    code: o.code.spec().code.to_string(),
                    last_updated: time::utc_micros(o.last_updated_us),
                    omh_json: omh::payload_json(w, id, o),
                }
            })
            .collect()
    }

    /// Graceful shutdown; idempotent. Dropping the exchange stops it too.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for FakeExchange {
    fn drop(&mut self) {
        self.stop();
    }
}
