//! The FHIR R5 API under `/FHIR/R5/`: Observation and Patient search and read, the
//! CapabilityStatement and SMART configuration. Errors are OperationOutcomes.

// Errors are ready-made HTTP responses; their size does not matter here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::generate::catalog::Code;
use crate::generate::time::{MICROS_PER_DAY, parse_date, parse_datetime};
use crate::generate::world::{FIRST_OBSERVATION_ID, World};
use crate::render::fhir::{bundle, outcome, patient_json, push_observation};
use crate::store::{Cmp, ObsQuery, SortKey, TimeBound};

use super::http::{Page, Params, json, py_int};
use super::log::ObservationPage;
use super::state::{AppState, Ctx};

const CAPABILITY_STATEMENT: &str = include_str!("capability_statement.json");
/// The base URL inside the vendored CapabilityStatement, replaced by the request's.
const CAPABILITY_BASE: &str = "http://localhost:8000";

/// Resource types the CapabilityStatement lists besides Observation and Patient: a search
/// finds none of them here (no imported records), a read is 404.
const OTHER_TYPES: [&str; 24] = [
    "AllergyIntolerance",
    "CarePlan",
    "CareTeam",
    "Condition",
    "Coverage",
    "Device",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "Goal",
    "Group",
    "Immunization",
    "Location",
    "Medication",
    "MedicationDispense",
    "MedicationRequest",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "QuestionnaireResponse",
    "RelatedPerson",
    "ServiceRequest",
];

fn error(status: StatusCode, message: &str) -> Response {
    json(status, outcome(message))
}

fn forbidden(what: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        &format!("Current user is not authorized to access {what}."),
    )
}

/// What the server answers when an id that must be an integer is not one.
fn not_a_number(value: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("Field 'id' expected a number but got '{value}'."),
    )
}

fn int_param(value: &str) -> Result<i64, Response> {
    py_int(value).ok_or_else(|| not_a_number(value))
}

pub(crate) async fn metadata(ctx: Ctx) -> Response {
    json(
        StatusCode::OK,
        CAPABILITY_STATEMENT.replace(CAPABILITY_BASE, &ctx.base),
    )
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
    tokio::task::spawn_blocking(move || match resource.as_str() {
        "Observation" => observation_search(&state, &ctx),
        "Patient" => patient_search(&state, &ctx),
        other if OTHER_TYPES.contains(&other) => empty_search(&ctx),
        other => error(
            StatusCode::NOT_FOUND,
            &format!("Unsupported FHIR resource type: {other}."),
        ),
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
        other if OTHER_TYPES.contains(&other) => not_found(),
        other => error(
            StatusCode::NOT_FOUND,
            &format!("Unsupported FHIR resource type: {other}."),
        ),
    }
}

/// A `date` / `_lastUpdated` value: `ge`/`gt`/`le`/`lt`/`eq` prefix (or none), then a
/// `YYYY-MM-DD` day (compared as a UTC day) or a date-time (compared as an instant).
/// `date` decides by length like the server: ten characters or fewer is a day.
fn time_bound(raw: &str, last_updated: bool) -> Option<TimeBound> {
    let (cmp, value) = match raw.get(..2) {
        Some("ge") => (Cmp::Ge, &raw[2..]),
        Some("gt") => (Cmp::Gt, &raw[2..]),
        Some("le") => (Cmp::Le, &raw[2..]),
        Some("lt") => (Cmp::Lt, &raw[2..]),
        Some("eq") => (Cmp::Eq, &raw[2..]),
        _ => (Cmp::Eq, raw),
    };
    if last_updated {
        match parse_datetime(value) {
            // A bare date-time on _lastUpdated means its whole day, as on the server.
            Some(us) if cmp == Cmp::Eq && !raw.starts_with("eq") => {
                Some(TimeBound::Day(Cmp::Eq, us.div_euclid(MICROS_PER_DAY)))
            }
            Some(us) => Some(TimeBound::Instant(cmp, us)),
            None => parse_date(value).map(|d| TimeBound::Day(cmp, d)),
        }
    } else if value.len() <= 10 {
        parse_date(value).map(|d| TimeBound::Day(cmp, d))
    } else {
        parse_datetime(value).map(|us| TimeBound::Instant(cmp, us))
    }
}

fn sort_keys(params: &Params) -> Vec<SortKey> {
    let Some(raw) = params.value("_sort") else {
        return vec![];
    };
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .filter_map(|t| {
            let descending = t.starts_with('-');
            let name: String = t
                .trim_start_matches('-')
                .chars()
                .filter(|c| *c != '_' && *c != '-')
                .collect();
            match name.to_ascii_lowercase().as_str() {
                "date" => Some(SortKey::Date { descending }),
                "lastupdated" => Some(SortKey::LastUpdated { descending }),
                _ => None, // unknown sort keys are ignored
            }
        })
        .collect()
}

/// `system|value` -> the value; a bare value (no `|`) is ignored, as on the server.
fn identifier_value(params: &Params) -> Option<String> {
    let raw = params
        .value("identifier")
        .or_else(|| params.value("patient.identifier"))?;
    let (_, value) = raw.split_once('|')?;
    (!value.is_empty()).then(|| value.to_string())
}

/// The study: only `patient._has:Group:member:_id` (any letter case of `Group`), for
/// Patient too, as on the server; `_has:Group:member:_id` alone is ignored there.
fn study_param(params: &Params) -> Option<&str> {
    params.value("patient._has:_group:member:_id")
}

/// The search parameters shared by Observation and Patient, authorized.
struct Common {
    study_id: Option<i64>,
    patient_id: Option<i64>,
    organization_id: Option<i64>,
}

fn common(world: &World, params: &Params) -> Result<Common, Response> {
    let study_id = study_param(params).map(int_param).transpose()?;
    if let Some(s) = study_id {
        if world.visible_study(s).is_none() {
            return Err(forbidden(&format!("Group/{s}")));
        }
    }
    let patient_id = params.value("patient").map(int_param).transpose()?;
    if let Some(p) = patient_id {
        let Some(i) = world.visible_patient(p) else {
            return Err(forbidden(&format!("Patient/{p}")));
        };
        if study_id.is_some_and(|s| !world.patients[i].in_study(s)) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "The requested Patient is not part of the specified Study.",
            ));
        }
    }
    let organization_id = params
        .value("patient.organization")
        .map(int_param)
        .transpose()?;
    if let Some(o) = organization_id {
        if !world.is_member(o) {
            return Err(forbidden(&format!("Organization/{o}")));
        }
    }
    Ok(Common {
        study_id,
        patient_id,
        organization_id,
    })
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

fn summary_count(params: &Params) -> bool {
    params
        .value("_summary")
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("count"))
}

/// Pages `total` rows; renders the page's entries with `render(range, out)`.
fn paged_bundle(
    ctx: &Ctx,
    total: usize,
    render: impl FnOnce(std::ops::Range<usize>, &mut String),
) -> Response {
    let self_link = ctx.self_url();
    if summary_count(&ctx.params) {
        return json(StatusCode::OK, bundle(total, "", &[("self", self_link)]));
    }
    let Ok(page) = Page::select(total, ctx.params.last("_page"), ctx.params.last("_count")) else {
        return error(StatusCode::NOT_FOUND, "Invalid page.");
    };
    let mut entries = String::new();
    render(page.range(), &mut entries);
    let (next, previous) = page.links(
        &format!("{}{}", ctx.base, ctx.path),
        &ctx.params.raw,
        "_page",
    );
    let mut links = vec![("self", self_link)];
    links.extend(previous.map(|u| ("previous", u)));
    links.extend(next.map(|u| ("next", u)));
    json(StatusCode::OK, bundle(total, &entries, &links))
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

fn empty_search(ctx: &Ctx) -> Response {
    paged_bundle(ctx, 0, |_, _| {})
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
