//! `jhe::fake`: a deterministic fake JupyterHealth Exchange, served in-process on
//! 127.0.0.1, speaking either API generation ([`Generation`]: v0.0.13 by default, see the
//! vendored samples in `tests/reference/samples`, or v0.0.11 as in
//! `tests/reference/samples-v0.0.11`), with optional injected faults ([`Faults`]) and a
//! log of the requests it served ([`FakeExchange::requests`]).
//!
//! The data is generated from a seed and ends at a fixed anchor (2026-01-01T00:00:00Z), so
//! the same config serves byte-identical responses on every run. [`FakeExchange::
//! expected_observations`] is the generator's ground truth for what a FHIR Observation
//! search returns.
//!
//! Layout: `world` (users, organizations, studies, patients), `generate` (observations),
//! `store` (compact storage, queries, cache), `omh` (payloads), `quality` (damaged
//! payloads and repeated uuids, off by default), `rest` and `fhir`
//! (endpoints), `legacy` (the v0.0.11 FHIR API and REST rows), `auth` (tokens, `/o/token/`),
//! `faults` (fault injection and the request log), `http` (Django/DRF behaviours),
//! `server` (routes).

mod auth;
mod catalog;
mod faults;
mod fhir;
mod generate;
mod http;
mod json;
mod legacy;
mod omh;
mod quality;
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

pub use faults::RequestRecord;

/// What to generate and how to serve it. Defaults: 20 visible patients, 14 days, seed 0
/// (about 33,000 visible observations), the current API, no faults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FakeConfig {
    /// Visible patients (all in the main study; about half also in the BP study). Two
    /// hidden patients are always added.
    pub patients: u32,
    /// Days of data ending at the anchor.
    pub days: u32,
    /// Seeds the data, the tokens and the fault decisions.
    pub seed: u64,
    /// Which API generation to speak.
    pub generation: Generation,
    /// Injected faults; all off by default.
    pub faults: Faults,
    /// Gzip responses for clients that accept it (off by default: it costs server CPU).
    pub gzip: bool,
    /// Every Nth generated visible observation (by id; N >= 2; 0 = off) is served with a
    /// damaged payload, the kinds in rotation (see [`FakeExchange::damaged`]): FHIR data
    /// that is not base64, base64 of text that is not JSON, a body missing its required
    /// measure, a unit its schema does not allow, no `effective_time_frame`, a time frame
    /// whose date-time is `"yesterday"`. The same in every generation and both APIs.
    pub damaged_every: u32,
    /// Add `omh:ambient-sound:1.0`, a code no client catalogue knows: requested by the
    /// main study (scope 50017, consents, data source "Soundscape"), two to four readings
    /// per patient per day.
    pub unknown_codes: bool,
    /// Every Nth generated visible observation (by id; N >= 2; 0 = off) reuses the OMH
    /// header `uuid` of the visible observation before it, as when a device re-uploads.
    pub duplicate_uuid_every: u32,
    /// Keep every FHIR Observation resource once rendered and serve it from memory after
    /// (off by default: about 1.1 KB per observation served). Benchmarks turn it on so the
    /// server's CPU, shared with the client being measured, is small and the same for
    /// every client.
    pub render_cache: bool,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            patients: 20,
            days: 14,
            seed: 0,
            generation: Generation::Current,
            faults: Faults::default(),
            gzip: false,
            damaged_every: 0,
            unknown_codes: false,
            duplicate_uuid_every: 0,
            render_cache: false,
        }
    }
}

/// The API generation the fake speaks (see "Two generations of the API" in API.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Generation {
    /// v0.0.12+ (v0.0.13 samples): FHIR under `/FHIR/R5/`, OperationOutcome errors,
    /// every search parameter honoured, `client_credentials` keys.
    #[default]
    Current,
    /// v0.0.11 as real servers behave: FHIR only under `/fhir/r5/`, no `metadata`, a
    /// required patient/study filter, `date`/`_lastUpdated`/`_sort`/`_summary`/`_id`
    /// silently ignored, `code` matched with SQL LIKE, 406 for `application/fhir+json`,
    /// minimal Observation resources with base64 wrapped at 76 characters, DRF error
    /// bodies, REST rows with `valueAttachmentData`, no `client_credentials`.
    Legacy,
    /// [`Generation::Legacy`] plus what the user guide documents and no released server
    /// does: REST observation rows with the guide's field names (`subjectPatient`,
    /// `patientNameDisplay`, `codeableConcept`, `dataSource`, `dataSourceName`, `status`,
    /// `created`) and REST lists paged by `limit`/`offset`.
    LegacyGuide,
}

impl Generation {
    pub fn is_legacy(self) -> bool {
        self != Generation::Current
    }

    /// `current`, `legacy` or `guide`.
    pub fn name(self) -> &'static str {
        match self {
            Generation::Current => "current",
            Generation::Legacy => "legacy",
            Generation::LegacyGuide => "guide",
        }
    }

    /// The FHIR base path: `/FHIR/R5` or `/fhir/r5`.
    pub fn fhir_base(self) -> &'static str {
        if self.is_legacy() {
            "/fhir/r5"
        } else {
            "/FHIR/R5"
        }
    }
}

/// Faults injected into the API routes (REST and FHIR; latency and errors also hit
/// `/o/token/`). All off by default. Random choices are a function of `seed` and the
/// request's arrival number, so a sequential client sees the same faults on every run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Every API response is delayed this long (an async sleep).
    pub latency_ms: u64,
    /// Share (0..=1) of API requests answered with `error_status` and a proxy's short
    /// HTML page.
    pub error_rate: f64,
    /// 4xx or 5xx; default 503.
    pub error_status: u16,
    /// Every Nth API request is 429 with `Retry-After`; 0 = off.
    pub rate_limit_every: u64,
    /// The `Retry-After` seconds of a 429; default 1.
    pub retry_after_s: u64,
    /// Lifetime of the initial token and of every minted token, in seconds; `None` =
    /// 14 days (1209600 s, as on v0.0.13). An expired token is 401 like a missing one.
    pub token_ttl_s: Option<f64>,
    /// Share (0..=1) of API requests whose connection is dropped mid-response: the
    /// status line, headers and part of the body are sent, then the connection closes.
    pub drop_connection_rate: f64,
    /// Once, right after the first observation search or list page (FHIR or REST, not
    /// `_summary=count`) is served, append this many new observations; 0 = off.
    pub insert_during_fetch: u32,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            rate_limit_every: 0,
            retry_after_s: 1,
            token_ttl_s: None,
            drop_connection_rate: 0.0,
            insert_during_fetch: 0,
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
    state: Arc<AppState>,
    directory: Directory,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

const MAX_OBSERVATIONS: u64 = 200_000_000;

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
        if !(ttl > 0.0 && ttl <= auth::MAX_TTL_S) {
            return Err(FakeError::Config(format!(
                "token_ttl_s = {ttl} (must be positive and at most {} s)",
                auth::MAX_TTL_S
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
    let w = world::build(
        config.patients,
        config.days,
        config.seed,
        config.unknown_codes,
    );
    let mut observations = generate::observations(&w);
    quality::mark(
        &w,
        &mut observations,
        config.damaged_every,
        config.duplicate_uuid_every,
    );
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
        let tokens = auth::Tokens::new(&world, config.faults.token_ttl_s);
        let state = Arc::new(AppState {
            world,
            store,
            tokens,
            host: host.clone(),
            render_cache: fhir::RenderCache::new(config.render_cache),
            config,
            faults: faults::FaultState::default(),
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

    /// The generator's ground truth for an FHIR Observation search with these filters,
    /// newest first, with the server's visibility and study rules: a study or patient the
    /// user may not see (or a patient outside the study) gives nothing. `code` is the OMH
    /// code (`omh:heart-rate:2.0`) or `system|code`. It reads the store as it is now
    /// (observations appended by `insert_during_fetch` included), whatever the generation
    /// and faults; it sends no request.
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
                    damage: o.damage.map(quality::Damage::name),
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
    /// physical-activity no time frame; the unknown code has no schema).
    pub fn damaged(&self) -> Vec<(i64, &'static str)> {
        let obs = self.state.store.read();
        obs.iter()
            .enumerate()
            .filter_map(|(i, o)| {
                o.damage
                    .map(|d| (FIRST_OBSERVATION_ID + i as i64, d.name()))
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
