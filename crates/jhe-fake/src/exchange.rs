//! The running fake: [`FakeExchange::start`] generates the data, binds 127.0.0.1 and serves
//! the routes; the handle gives the URL, the credentials, the ids of the generated data
//! ([`Directory`]), the ground truth of a search ([`ExpectedObservation`]) and the request
//! log. In: a [`FakeConfig`]. Out: a server on the current tokio runtime.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::changes::{self, Addition, ChangeError, parse_code};
use crate::config::FakeConfig;
use crate::generate::catalog::ALL_CODES_MASK;
use crate::generate::world::{self, FIRST_OBSERVATION_ID, HIDDEN_ORG_ID, HIDDEN_STUDY_ID, MAIN_STUDY_ID, World};
use crate::generate::damage::Damage;
use crate::generate::{inject, observations, omh, quality, time};
use crate::render::cache::RenderCache;
use crate::routes::log::{FaultState, RequestRecord};
use crate::routes::state::AppState;
use crate::routes::tokens::{self, Tokens};
use crate::server;
use crate::store::{ObsQuery, Store};

#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("invalid fake Exchange configuration: {0}")]
    Config(String),
    #[error("could not listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    #[error("generating the fake Exchange's data failed: {0}")]
    Generate(String),
    /// A code that is neither an OMH code nor `system|code` the fake knows.
    #[error("unknown code {0:?}")]
    UnknownCode(String),
    /// A FHIR resource type the Exchange does not support.
    #[error("unsupported FHIR resource type {0:?}")]
    UnknownResourceType(String),
    /// An addition, update or deletion was refused; nothing changed.
    #[error(transparent)]
    Change(#[from] ChangeError),
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
    /// Exactly the JSON the FHIR `valueAttachment.data` base64 encodes (the damaged JSON
    /// for a damaged payload), or the text that is not JSON (`not_json`) or not base64
    /// (`not_base64`) that it holds.
    pub omh_json: String,
    /// How the payload is damaged ([`FakeExchange::damaged`]'s kind names), if it is.
    pub damage: Option<&'static str>,
}

/// A running fake Exchange. Stops when dropped.
pub struct FakeExchange {
    url: String,
    /// Reached by the crate's tests (the store's size at scale).
    pub(crate) state: Arc<AppState>,
    directory: Directory,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

const MAX_OBSERVATIONS: u64 = changes::MAX_STORED;

fn check(config: &FakeConfig) -> Result<(), FakeError> {
    let f = &config.faults;
    for (name, rate) in [
        ("error_rate", f.error_rate),
        ("drop_connection_rate", f.drop_connection_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(FakeError::Config(format!(
                "{name} = {rate} (must be between 0 and 1)"
            )));
        }
    }
    if !(400..=599).contains(&f.error_status) {
        return Err(FakeError::Config(format!(
            "error_status = {} (must be a 4xx or 5xx status)",
            f.error_status
        )));
    }
    if let Some(ttl) = f.token_ttl_s {
        if !(ttl > 0.0 && ttl <= tokens::MAX_TTL_S) {
            return Err(FakeError::Config(format!(
                "token_ttl_s = {ttl} (must be positive and at most {} s)",
                tokens::MAX_TTL_S
            )));
        }
    }
    for (name, every) in [
        ("damaged_every", config.damaged_every),
        ("duplicate_uuid_every", config.duplicate_uuid_every),
    ] {
        if every == 1 {
            return Err(FakeError::Config(format!(
                "{name} = 1 (0 = off, or at least 2)"
            )));
        }
    }
    if config.quality_problems && (config.patients < 6 || config.days < 7) {
        return Err(FakeError::Config(format!(
            "quality_problems needs at least 6 patients and 7 days (got {} patients, {} days)",
            config.patients, config.days
        )));
    }
    if config.days > 36_500 {
        return Err(FakeError::Config(format!(
            "days = {} (at most 36500)",
            config.days
        )));
    }
    let estimate = (config.patients as u64 + world::HIDDEN_PATIENTS as u64)
        * config.days as u64
        * observations::PER_PATIENT_DAY;
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
pub(crate) fn build(config: FakeConfig) -> (World, Store) {
    let mut w = world::build(
        config.patients,
        config.days,
        config.seed,
        config.unknown_codes,
        config.quality_problems,
    );
    let mut generated = observations::observations(&w);
    if config.quality_problems {
        w.problems = inject::inject(&w, &mut generated);
    }
    quality::mark(
        &w,
        &mut generated,
        config.damaged_every,
        config.duplicate_uuid_every,
    );
    (w, Store::new(generated))
}

impl FakeExchange {
    /// Generate the data and serve it on 127.0.0.1 (`config.port`, or a free port), spawning the
    /// server onto the current tokio runtime. Returns once the listener is bound.
    pub async fn start(config: FakeConfig) -> Result<FakeExchange, FakeError> {
        check(&config)?;
        let (world, store) = tokio::task::spawn_blocking(move || build(config))
            .await
            .map_err(|e| FakeError::Generate(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
            .await
            .map_err(FakeError::Bind)?;
        let port = listener.local_addr().map_err(FakeError::Bind)?.port();
        let host = format!("127.0.0.1:{port}");
        let directory = directory(&world);
        let tokens = Tokens::new(&world, config.faults.token_ttl_s);
        let state = Arc::new(AppState {
            world,
            store,
            tokens,
            host: host.clone(),
            render_cache: RenderCache::new(config.render_cache),
            config,
            faults: FaultState::default(),
            imported: std::sync::OnceLock::new(),
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

    /// A Bearer access token for the practitioner (derived from the seed), valid for
    /// `faults.token_ttl_s` (default 14 days) from start, until [`FakeExchange::refresh_token`]
    /// is used.
    pub fn token(&self) -> &str {
        &self.state.world.token
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &FakeConfig {
        &self.state.config
    }

    /// The OAuth client id of the practitioner's key (`POST /o/token/`).
    pub fn client_id(&self) -> &str {
        &self.state.tokens.client.id
    }

    pub fn client_secret(&self) -> &str {
        &self.state.tokens.client.secret
    }

    /// `base64(client_id:client_secret)`, the `key` JHE's `practitioner_clients` hands
    /// out: send it as `Authorization: Basic <key>` with `grant_type=client_credentials`.
    pub fn client_key(&self) -> &str {
        &self.state.tokens.client.key
    }

    /// The refresh token issued with [`FakeExchange::token`]. Using it (once) mints a new
    /// access and refresh token and revokes `token()`.
    pub fn refresh_token(&self) -> &str {
        &self.state.tokens.initial_refresh
    }

    /// Every request served so far, oldest first (completion order), without credentials.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.faults.requests()
    }

    pub fn clear_requests(&self) {
        self.state.faults.clear_requests()
    }

    /// The most API requests (REST and FHIR) that were in flight at once, since the start
    /// or [`FakeExchange::reset_max_in_flight`].
    pub fn max_in_flight(&self) -> u32 {
        self.state.faults.max_in_flight()
    }

    /// Count the most in flight afresh, from the requests in flight now.
    pub fn reset_max_in_flight(&self) {
        self.state.faults.reset_max_in_flight()
    }

    /// The generator's ground truth for an FHIR Observation search with these filters,
    /// newest first, with the server's visibility and study rules: a study or patient the
    /// user may not see (or a patient outside the study) gives nothing. `code` is the OMH
    /// code (`omh:heart-rate:2.0`) or `system|code`. It reads the store as it is now
    /// (observations added, updated or deleted since the start, by `insert_during_fetch`
    /// or the change methods, included), whatever the generation and faults; it sends no
    /// request.
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
        let code_mask = code.map(|c| parse_code(c).map_or(0, |c| c.bit() & ALL_CODES_MASK));
        let q = ObsQuery {
            study_id,
            patient_id,
            code_mask,
            nothing: study_hidden || patient_hidden,
            ..ObsQuery::default()
        };
        let (rows, obs) = self.state.store.query(w, &q);
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
                    damage: o.damage.map(Damage::name),
                }
            })
            .collect()
    }

    /// The damaged observations (`damaged_every`), by id ascending: `(id, kind)`, the kind
    /// one of `not_base64` (FHIR `valueAttachment.data` is the payload's JSON text,
    /// unencoded and cut off halfway; REST `omhData` is that text as a JSON string),
    /// `not_json` (`data` is the base64 of `not json`; REST `omhData` is `"not json"`),
    /// `missing_measure` (the body lacks its required measure, e.g. `blood_glucose`),
    /// `bad_unit` (a unit the schema does not allow: `g/L` for glucose, `stone` for
    /// weight, ...), `no_time_frame` (no `effective_time_frame`) and `bad_date_time`
    /// (every date and date-time in `effective_time_frame` is `"yesterday"`). The Nth
    /// damaged observation gets the Nth kind in that order, or the next kind that breaks
    /// its code's schema (sleep-episode requires no measure; rr-interval and
    /// physical-activity no time frame; the unknown code has no schema). Deleted
    /// observations, and updated ones (an update makes the payload whole), are not listed.
    pub fn damaged(&self) -> Vec<(i64, &'static str)> {
        let obs = self.state.store.read();
        obs.iter()
            .enumerate()
            .filter(|(_, o)| !o.deleted)
            .filter_map(|(i, o)| {
                o.damage
                    .map(|d| (FIRST_OBSERVATION_ID + i as i64, d.name()))
            })
            .collect()
    }

    /// Add `count` observations written "now" while the server runs, and return their
    /// ids (new ones, ascending; ids are never reused). They are of `patient_id` (any
    /// patient, hidden ones too), or spread round robin over the main study's visible
    /// patients who consented to it; and of `code` (an OMH code or `system|code`), or
    /// spread over the codes the main study requests (skipping, for each patient, a code it
    /// declined: `quality_problems`). Each replays one of the newest stored rows of its patient and
    /// code (or another patient's, or a typical reading for a code no row has), moved
    /// forward in time (a new uuid; its payload as valid as a generated one).
    ///
    /// Their `last_updated` is "now" (one second after the newest row ever stored, a
    /// microsecond apart) plus `last_updated_offset_us`: 0 puts them after every stored
    /// row; a negative offset dates them earlier than rows already visible, as when a
    /// server commits transactions out of order (e.g. -3_000_000: three seconds before
    /// "now", two before the newest row ever stored).
    pub fn add_observations(
        &self,
        count: u32,
        patient_id: Option<i64>,
        code: Option<&str>,
        last_updated_offset_us: i64,
    ) -> Result<Vec<i64>, FakeError> {
        let addition = Addition {
            count,
            patient_id,
            code,
            offset_us: last_updated_offset_us,
        };
        Ok(changes::add(&self.state.world, &self.state.store, &addition)?)
    }

    /// Change each observation's value (the decoded measure differs; a damaged payload is
    /// whole again) and move its `last_updated` to "now", after every stored row, so it
    /// sorts as the newest. Each id once, in the order given; an id that is unknown or
    /// deleted refuses them all.
    pub fn update_observations(&self, ids: &[i64]) -> Result<(), FakeError> {
        Ok(changes::update(&self.state.store, ids)?)
    }

    /// Delete observations: every search, count, read and list loses them, in every
    /// generation and API. An id that is unknown or already deleted refuses them all.
    pub fn delete_observations(&self, ids: &[i64]) -> Result<(), FakeError> {
        Ok(changes::delete(&self.state.store, ids)?)
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

