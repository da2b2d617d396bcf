//! The FHIR R5 API under `/FHIR/R5/`: searches and reads of the native (OMH) Observation
//! and Patient store and of the EHR-imported records (which store a search reads is
//! `_source`'s choice, [`super::imported::target`]), the CapabilityStatement and SMART
//! configuration. Errors are OperationOutcomes.

// Errors are ready-made HTTP responses; their size does not matter here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::generate::catalog::Code;
use crate::generate::world::{FIRST_OBSERVATION_ID, World};
use crate::imported::SUPPORTED_TYPES;
use crate::render::fhir::{patient_json, push_observation};
use crate::store::ObsQuery;

use super::http::{Params, json, py_int};
use super::imported::{self, Target};
use super::log::ObservationPage;
use super::search::{
    common, error, identifier_value, not_a_number, paged_bundle, sort_keys, summary_count,
    time_bound,
};
use super::state::{AppState, Ctx};

const CAPABILITY_STATEMENT: &str = include_str!("capability_statement.json");
/// The base URL inside the vendored CapabilityStatement, replaced by the request's.
const CAPABILITY_BASE: &str = "http://localhost:8000";

/// The `_source` search parameter, as the vendored CapabilityStatement lists it for every
/// resource type: a server without `_source` (`FakeConfig::source_search` off) lists none.
const SOURCE_PARAM: &str = concat!(
    r#",{"name":"_source","type":"uri","documentation":"Selects the backing store: omit (or pass "#,
    r#"the JHE-native source URI) for JHE-native records; pass an imported FhirSource URI (or "#,
    r#"_source:below) for imported records.","extension":[{"url":"#,
    r#""http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation","valueCode":"SHALL"}]}"#,
);

pub(crate) async fn metadata(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    json(
        StatusCode::OK,
        capability_statement(&ctx.base, state.config.source_search),
    )
}

fn capability_statement(base: &str, source_search: bool) -> String {
    let statement = CAPABILITY_STATEMENT.replace(CAPABILITY_BASE, base);
    if source_search {
        statement
    } else {
        statement.replace(SOURCE_PARAM, "")
    }
}

pub(crate) async fn smart_configuration(ctx: Ctx) -> Response {
    let base = &ctx.base;
    json(
        StatusCode::OK,
        serde_json::json!({
            "authorization_endpoint": format!("{base}/o/authorize/"),
            "token_endpoint": format!("{base}/o/token/"),
            "grant_types_supported": ["authorization_code"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": ["launch-standalone", "client-public", "client-confidential-symmetric"],
        })
        .to_string(),
    )
}

pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    Path(resource): Path<String>,
    ctx: Ctx,
) -> Response {
    run_search(state, resource, ctx).await
}

/// `POST {base}/{type}/_search` with a form body: the form's parameters join the URL's.
/// (The real server builds links from the URL alone; here they are the equivalent GET.)
pub(crate) async fn post(
    State(state): State<Arc<AppState>>,
    Path((resource, id)): Path<(String, String)>,
    mut ctx: Ctx,
    body: Bytes,
) -> Response {
    if id != "_search" {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method \"POST\" not allowed.",
        );
    }
    let form = String::from_utf8_lossy(&body);
    let merged = match (ctx.params.raw.is_empty(), form.trim().is_empty()) {
        (_, true) => ctx.params.raw.clone(),
        (true, false) => form.trim().to_string(),
        (false, false) => format!("{}&{}", ctx.params.raw, form.trim()),
    };
    // Links describe the search as the equivalent GET, so following `next` works.
    ctx.params = Params::parse(&merged);
    ctx.raw_query = merged;
    if let Some(type_path) = ctx.path.strip_suffix("/_search") {
        ctx.path = type_path.to_string();
    }
    run_search(state, resource, ctx).await
}

async fn run_search(state: Arc<AppState>, resource: String, ctx: Ctx) -> Response {
    // Queries over a million rows take tens of milliseconds: keep them off the I/O threads.
    tokio::task::spawn_blocking(move || {
        let r = resource.as_str();
        if !SUPPORTED_TYPES.contains(&r) {
            return error(
                StatusCode::NOT_FOUND,
                &format!("Unsupported FHIR resource type: {r}."),
            );
        }
        match (imported::target(&ctx, r, state.config.source_search), r) {
            (Target::Native, "Observation") => observation_search(&state, &ctx),
            (Target::Native, "Patient") => patient_search(&state, &ctx),
            // Native types with no native rows here (Device, Group, ...).
            (Target::Native, _) => paged_bundle(&ctx, 0, |_, _| {}),
            (Target::Imported { source_id }, _) => {
                imported::imported_search(&state, &ctx, r, source_id)
            }
            (Target::Empty, _) => imported::empty_search(&ctx),
        }
    })
    .await
    .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "The search failed."))
}

pub(crate) async fn read(
    State(state): State<Arc<AppState>>,
    Path((resource, id)): Path<(String, String)>,
    _ctx: Ctx,
) -> Response {
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            &format!("{resource}/{id} not found."),
        )
    };
    let world = &state.world;
    if SUPPORTED_TYPES.contains(&resource.as_str()) {
        // A UUID is an imported record's id, whatever the type.
        if let Some(r) = imported::read(&state, &resource, &id) {
            return r;
        }
    }
    match resource.as_str() {
        "Observation" => {
            let Some(n) = py_int(&id) else {
                return not_a_number(&id);
            };
            match state.store.get(n) {
                Some(o) if world.patients[o.patient as usize].visible => {
                    let mut s = String::with_capacity(2048);
                    push_observation(&mut s, world, n, &o);
                    json(StatusCode::OK, s)
                }
                _ => not_found(),
            }
        }
        "Patient" => {
            let Some(n) = py_int(&id) else {
                return not_a_number(&id);
            };
            match world.visible_patient(n) {
                Some(i) => json(StatusCode::OK, patient_json(world, i)),
                None => not_found(),
            }
        }
        "Device" | "Group" | "Organization" | "Practitioner" => not_found(),
        // Not a UUID, so a native id, and the type has no native store.
        other if SUPPORTED_TYPES.contains(&other) => error(
            StatusCode::NOT_FOUND,
            &format!("Unsupported FHIR resource type: {other}."),
        ),
        other => error(
            StatusCode::NOT_FOUND,
            &format!("Unsupported FHIR resource type: {other}."),
        ),
    }
}

/// Observation search parameters -> an authorized query, or the error response.
pub(crate) fn observation_query(world: &World, params: &Params) -> Result<ObsQuery, Response> {
    let c = common(world, params)?;
    let mut q = ObsQuery {
        study_id: c.study_id,
        patient_id: c.patient_id,
        organization_id: c.organization_id,
        identifier_value: identifier_value(params),
        sort: sort_keys(params),
        ..ObsQuery::default()
    };
    // Repeated `code` params AND; commas inside one OR; only exact `system|code` matches.
    for raw in params.all("code") {
        let mut mask = 0;
        for piece in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some((system, code)) = piece.split_once('|') {
                if let Some(code) = Code::from_system_code(system, code) {
                    mask |= code.bit();
                }
            }
        }
        q.code_mask = Some(q.code_mask.unwrap_or(u32::MAX) & mask);
    }
    for raw in params.all("date") {
        let bound = time_bound(raw, false).ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid date value: '{raw}'."),
            )
        })?;
        q.date.push(bound);
    }
    for raw in params.all("_last_updated") {
        let bound = time_bound(raw, true).ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid _lastUpdated value: '{raw}'."),
            )
        })?;
        q.last_updated.push(bound);
    }
    if let Some(id) = params.value("_id") {
        match py_int(id) {
            Some(n) => q.observation_id = Some(n),
            None => q.nothing = true,
        }
    }
    if let Some(status) = params.value("status") {
        let wanted = status
            .split(',')
            .any(|s| s.trim().rsplit('|').next() == Some("final"));
        q.nothing |= !wanted;
    }
    Ok(q)
}

fn observation_search(state: &AppState, ctx: &Ctx) -> Response {
    let world = &state.world;
    let q = match observation_query(world, &ctx.params) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let (rows, obs) = state.store.query(world, &q);
    let count_only = summary_count(&ctx.params);
    let mut r = paged_bundle(ctx, rows.len(), |range, out| {
        out.reserve(range.len() * 1600);
        for (n, &i) in rows[range].iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(r#"{"resource":"#);
            let id = FIRST_OBSERVATION_ID + i as i64;
            let o = &obs[i as usize];
            state.render_cache.push(out, i as usize, o.last_updated_us, obs.len(), |out| {
                push_observation(out, world, id, o)
            });
            out.push('}');
        }
    });
    drop(obs);
    if !count_only {
        r.extensions_mut().insert(ObservationPage);
    }
    r
}

fn patient_search(state: &AppState, ctx: &Ctx) -> Response {
    let world = &state.world;
    let params = &ctx.params;
    let c = match common(world, params) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let identifier = identifier_value(params);
    let id = match params.value("_id").map(py_int) {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => Some(-1), // matches nothing
    };
    let mut updated = Vec::new();
    for raw in params.all("_last_updated") {
        match time_bound(raw, true) {
            Some(b) => updated.push(b),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid _lastUpdated value: '{raw}'."),
                );
            }
        }
    }
    // Newest first (patients' last_updated increases with id).
    let rows: Vec<usize> = (0..world.patients.len())
        .rev()
        .filter(|&i| {
            let p = &world.patients[i];
            p.visible
                && c.study_id.is_none_or(|s| p.in_study(s))
                && c.patient_id.is_none_or(|x| p.id == x)
                && id.is_none_or(|x| p.id == x)
                && updated.iter().all(|b| b.holds(p.last_updated_us))
                && c.organization_id
                    .is_none_or(|o| p.organization_ids.contains(&o))
                && identifier
                    .as_deref()
                    .is_none_or(|v| p.identifiers.iter().any(|i| i.value == v))
        })
        .collect();
    paged_bundle(ctx, rows.len(), |range, out| {
        for (n, &i) in rows[range].iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(r#"{"resource":"#);
            out.push_str(&patient_json(world, i));
            out.push('}');
        }
    })
}
