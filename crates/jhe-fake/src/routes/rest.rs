//! The REST API under `/api/v1/`: camelCase JSON, DRF page-number pagination, `{"detail"}`
//! errors, and a 500 page for malformed integer parameters.

// Errors are ready-made HTTP responses; their size does not matter here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::Generation;
use super::catalog::Code;
use super::faults::ObservationPage;
use super::http::{LimitOffset, Page, detail, html_value_error, json, py_int, text_value_error};
use super::json::{Style, push_str};
use super::omh;
use super::server::{AppState, Ctx};
use super::store::{Obs, ObsQuery};
use super::time::utc_micros;
use super::world::{DataSource, FIRST_OBSERVATION_ID, Organization, Patient, Study, World};

pub(crate) const STUDY_FORBIDDEN: &str =
    "Current User does not have authorization to access this Study.";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrganizationJson {
    id: i64,
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    part_of: Option<i64>,
    current_user_role: Option<&'static str>,
    /// Only the organization tree endpoint fills this in.
    children: Vec<()>,
}

fn organization_json(world: &World, o: &Organization) -> OrganizationJson {
    OrganizationJson {
        id: o.id,
        name: o.name,
        kind: o.kind,
        part_of: o.part_of,
        current_user_role: world.role_in(o.id),
        children: vec![],
    }
}

#[derive(Serialize)]
struct OrganizationRef {
    id: i64,
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StudyJson {
    id: i64,
    name: &'static str,
    description: &'static str,
    organization: OrganizationRef,
    icon_url: Option<&'static str>,
}

fn organization_ref(world: &World, id: i64) -> OrganizationRef {
    let o = world
        .organization(id)
        .expect("studies belong to known organizations");
    OrganizationRef {
        id: o.id,
        name: o.name,
        kind: o.kind,
    }
}

fn study_json(world: &World, s: &Study) -> StudyJson {
    StudyJson {
        id: s.id,
        name: s.name,
        description: s.description,
        organization: organization_ref(world, s.organization_id),
        icon_url: None,
    }
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeJson {
    id: i64,
    coding_system: &'static str,
    coding_code: &'static str,
    text: &'static str,
}

fn scope_json(code: Code) -> ScopeJson {
    let s = code.spec();
    ScopeJson {
        id: code.scope_id(),
        coding_system: s.system,
        coding_code: s.code,
        text: s.display,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DataSourceJson {
    id: i64,
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    supported_scopes: Vec<ScopeJson>,
}

fn data_source_json(d: &DataSource) -> DataSourceJson {
    DataSourceJson {
        id: d.id,
        name: d.name,
        kind: d.kind,
        supported_scopes: d.codes.iter().map(|&c| scope_json(c)).collect(),
    }
}

#[derive(Serialize)]
struct IdentifierJson<'a> {
    id: i64,
    system: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PatientJson<'a> {
    id: i64,
    jhe_user_id: i64,
    identifiers: Vec<IdentifierJson<'a>>,
    name_family: &'a str,
    name_given: &'a str,
    birth_date: &'a str,
    telecom_phone: &'a str,
    telecom_email: &'a str,
    organizations: Vec<OrganizationJson>,
}

fn patient_json<'a>(world: &World, p: &'a Patient) -> PatientJson<'a> {
    PatientJson {
        id: p.id,
        jhe_user_id: p.jhe_user_id,
        identifiers: p
            .identifiers
            .iter()
            .map(|i| IdentifierJson {
                id: i.id,
                system: i.system,
                value: &i.value,
            })
            .collect(),
        name_family: &p.name_family,
        name_given: &p.name_given,
        birth_date: &p.birth_date,
        telecom_phone: &p.phone,
        telecom_email: &p.email,
        organizations: p
            .organization_ids
            .iter()
            .filter_map(|&id| world.organization(id))
            .map(|o| organization_json(world, o))
            .collect(),
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn ok<T: Serialize>(value: &T) -> Response {
    json(StatusCode::OK, to_json(value))
}

fn not_found(model: &str) -> Response {
    detail(
        StatusCode::NOT_FOUND,
        &format!("No {model} matches the given query."),
    )
}

/// An integer query parameter; a malformed one is the server's 500 page.
fn int_query(ctx: &Ctx, key: &str) -> Result<Option<i64>, Response> {
    match ctx.params.value(key) {
        None => Ok(None),
        Some(v) => py_int(v).map(Some).ok_or_else(|| {
            if ctx.generation.is_legacy() {
                text_value_error(&ctx.path, v)
            } else {
                html_value_error(&ctx.path, v)
            }
        }),
    }
}

macro_rules! int_query {
    ($ctx:expr, $key:expr) => {
        match int_query($ctx, $key) {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

/// `{"count","next","previous","results"}` around already rendered results.
fn envelope(count: usize, next: Option<String>, previous: Option<String>, results: &str) -> String {
    let mut s = String::with_capacity(results.len() + 256);
    s.push_str("{\"count\":");
    s.push_str(&count.to_string());
    for (key, link) in [("next", next), ("previous", previous)] {
        s.push_str(",\"");
        s.push_str(key);
        s.push_str("\":");
        match link {
            Some(url) => push_str(&mut s, &url, Style::Compact),
            None => s.push_str("null"),
        }
    }
    s.push_str(",\"results\":[");
    s.push_str(results);
    s.push_str("]}");
    s
}

/// Pages `total` items and renders the page's slice with `render(range, out)`: by
/// `page`/`page_size`, or by `limit`/`offset` for [`Generation::LegacyGuide`].
fn paged(
    ctx: &Ctx,
    total: usize,
    render: impl FnOnce(std::ops::Range<usize>, &mut String),
) -> Response {
    if ctx.generation == Generation::LegacyGuide {
        let page = LimitOffset::select(total, ctx.params.last("limit"), ctx.params.last("offset"));
        let mut results = String::new();
        render(page.range(), &mut results);
        let (next, previous) = page.links(&format!("{}{}", ctx.base, ctx.path), &ctx.params.raw);
        return json(StatusCode::OK, envelope(total, next, previous, &results));
    }
    let Ok(page) = Page::select(total, ctx.params.last("page"), ctx.params.last("page_size"))
    else {
        return detail(StatusCode::NOT_FOUND, "Invalid page.");
    };
    let mut results = String::new();
    render(page.range(), &mut results);
    let (next, previous) = page.links(
        &format!("{}{}", ctx.base, ctx.path),
        &ctx.params.raw,
        "page",
    );
    json(StatusCode::OK, envelope(total, next, previous, &results))
}

fn paged_items<T: Serialize>(ctx: &Ctx, items: &[T]) -> Response {
    paged(ctx, items.len(), |range, out| {
        for (n, item) in items[range].iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(&to_json(item));
        }
    })
}

pub(crate) async fn profile(State(state): State<Arc<AppState>>) -> Response {
    let u = &state.world.user;
    ok(&serde_json::json!({
        "id": u.id,
        "email": u.email,
        "firstName": u.first_name,
        "lastName": u.last_name,
        "patient": null,
        "userType": "practitioner",
        "isSuperuser": false,
        "settings": {"currentStudyId": u.current_study_id, "currentOrganizationId": u.current_organization_id},
    }))
}

/// A bare array: the organizations the user belongs to.
pub(crate) async fn user_organizations(State(state): State<Arc<AppState>>) -> Response {
    let w = &state.world;
    let list: Vec<_> = w
        .user
        .roles
        .iter()
        .filter_map(|(id, _)| w.organization(*id))
        .map(|o| organization_json(w, o))
        .collect();
    ok(&list)
}

pub(crate) async fn organizations(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let w = &state.world;
    let part_of = int_query!(&ctx, "part_of");
    let mut list: Vec<&Organization> = w
        .organizations
        .iter()
        .filter(|o| part_of.is_none_or(|p| o.part_of == Some(p)))
        .collect();
    list.sort_by_key(|o| o.name);
    let items: Vec<_> = list.into_iter().map(|o| organization_json(w, o)).collect();
    paged_items(&ctx, &items)
}

pub(crate) async fn organization(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let w = &state.world;
    match py_int(&id).and_then(|id| w.organization(id)) {
        Some(o) => ok(&organization_json(w, o)),
        None => not_found("Organization"),
    }
}

pub(crate) async fn studies(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let w = &state.world;
    let organization_id = int_query!(&ctx, "organization_id");
    let mut list: Vec<&Study> = w
        .studies
        .iter()
        .filter(|s| {
            w.is_member(s.organization_id) && organization_id.is_none_or(|o| s.organization_id == o)
        })
        .collect();
    list.sort_by_key(|s| s.name);
    let items: Vec<_> = list.into_iter().map(|s| study_json(w, s)).collect();
    paged_items(&ctx, &items)
}

/// A study the user may not see (or that does not exist) is 403.
fn visible_study<'w>(w: &'w World, id: &str) -> Result<&'w Study, Response> {
    py_int(id)
        .and_then(|id| w.visible_study(id))
        .ok_or_else(|| detail(StatusCode::FORBIDDEN, STUDY_FORBIDDEN))
}

pub(crate) async fn study(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match visible_study(&state.world, &id) {
        Ok(s) => ok(&study_json(&state.world, s)),
        Err(r) => r,
    }
}

pub(crate) async fn study_patients(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ctx: Ctx,
) -> Response {
    let w = &state.world;
    let s = match visible_study(w, &id) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let items: Vec<_> = w
        .patients
        .iter()
        .filter(|p| p.visible && p.in_study(s.id))
        .map(|p| patient_json(w, p))
        .collect();
    paged_items(&ctx, &items)
}

pub(crate) async fn patients(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let w = &state.world;
    let organization_id = int_query!(&ctx, "organization_id");
    let study_id = int_query!(&ctx, "study_id");
    let patient_id = int_query!(&ctx, "patient_id");
    let identifier = ctx.params.value("patient_identifier_value");
    let items: Vec<_> = w
        .patients
        .iter()
        .filter(|p| {
            p.visible
                && organization_id.is_none_or(|o| w.is_member(o) && p.organization_ids.contains(&o))
                && study_id.is_none_or(|s| w.visible_study(s).is_some() && p.in_study(s))
                && patient_id.is_none_or(|id| p.id == id)
                && identifier.is_none_or(|v| p.identifiers.iter().any(|i| i.value == v))
        })
        .map(|p| patient_json(w, p))
        .collect();
    paged_items(&ctx, &items)
}

fn visible_patient<'w>(w: &'w World, id: &str) -> Result<&'w Patient, Response> {
    py_int(id)
        .and_then(|id| w.visible_patient(id))
        .map(|i| &w.patients[i])
        .ok_or_else(|| not_found("Patient"))
}

pub(crate) async fn patient(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    match visible_patient(&state.world, &id) {
        Ok(p) => ok(&patient_json(&state.world, p)),
        Err(r) => r,
    }
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeConsent {
    code: ScopeJson,
    consented: Option<bool>,
    consented_time: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StudyConsents {
    id: i64,
    name: &'static str,
    description: &'static str,
    organization: OrganizationRef,
    data_sources: Vec<DataSourceJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_scope_consents: Option<Vec<ScopeConsent>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope_consents: Option<Vec<ScopeConsent>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Consents<'a> {
    patient: PatientJson<'a>,
    consolidated_consented_scopes: Vec<ScopeJson>,
    studies_pending_consent: Vec<StudyConsents>,
    studies: Vec<StudyConsents>,
}

pub(crate) async fn patient_consents(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let w = &state.world;
    let p = match visible_patient(w, &id) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let study_consents = |s: &Study, pending: bool| {
        let consents: Vec<ScopeConsent> = s
            .codes
            .iter()
            .map(|&c| ScopeConsent {
                code: scope_json(c),
                consented: (!pending).then_some(true),
                consented_time: (!pending).then(|| utc_micros(p.consented_us)),
            })
            .collect();
        StudyConsents {
            id: s.id,
            name: s.name,
            description: s.description,
            organization: organization_ref(w, s.organization_id),
            data_sources: s
                .data_source_ids
                .iter()
                .filter_map(|&d| w.data_source(d))
                .map(data_source_json)
                .collect(),
            scope_consents: (!pending).then_some(consents.clone()),
            pending_scope_consents: pending.then_some(consents),
        }
    };
    let mut consented_mask = 0u32;
    let mut studies = Vec::new();
    let mut pending = Vec::new();
    for s in p.study_ids.iter().filter_map(|&id| w.study(id)) {
        if p.pending_study_ids.contains(&s.id) {
            pending.push(study_consents(s, true));
        } else {
            consented_mask |= s.code_mask;
            studies.push(study_consents(s, false));
        }
    }
    ok(&Consents {
        patient: patient_json(w, p),
        consolidated_consented_scopes: Code::ALL
            .into_iter()
            .filter(|c| consented_mask & c.bit() != 0)
            .map(scope_json)
            .collect(),
        studies_pending_consent: pending,
        studies,
    })
}

pub(crate) async fn data_sources(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let mut list: Vec<&DataSource> = state.world.data_sources.iter().collect();
    list.sort_by_key(|d| d.name);
    let items: Vec<_> = list.into_iter().map(data_source_json).collect();
    paged_items(&ctx, &items)
}

/// One REST observation row: `omhData` with `jheUserId` (current), or the v0.0.11 row
/// with `valueAttachmentData` and no `jheUserId`.
fn push_row(out: &mut String, world: &World, id: i64, o: &Obs, legacy: bool) {
    let p = &world.patients[o.patient as usize];
    let spec = o.code.spec();
    out.push_str("{\"id\":");
    out.push_str(&id.to_string());
    out.push_str(",\"subjectPatientId\":");
    out.push_str(&p.id.to_string());
    out.push_str(",\"patientNameFamily\":");
    push_str(out, &p.name_family, Style::Compact);
    out.push_str(",\"patientNameGiven\":");
    push_str(out, &p.name_given, Style::Compact);
    if !legacy {
        out.push_str(",\"jheUserId\":");
        out.push_str(&p.jhe_user_id.to_string());
    }
    out.push_str(",\"codeableConceptId\":");
    out.push_str(&o.code.scope_id().to_string());
    out.push_str(",\"codingSystem\":\"");
    out.push_str(spec.system);
    out.push_str("\",\"codingCode\":\"");
    out.push_str(spec.code);
    out.push_str("\",\"codingText\":\"");
    out.push_str(spec.display);
    out.push_str("\",\"lastUpdated\":\"");
    super::time::push_utc_micros(out, o.last_updated_us);
    out.push_str(if legacy { "\",\"valueAttachmentData\":" } else { "\",\"omhData\":" });
    omh::push_rest_data(out, world, id, o);
    out.push('}');
}

/// One current REST observation row; `omhData` is the payload as a JSON object.
pub(crate) fn push_observation(out: &mut String, world: &World, id: i64, o: &Obs) {
    push_row(out, world, id, o, false);
}

/// One v0.0.11 REST observation row.
pub(crate) fn push_legacy_observation(out: &mut String, world: &World, id: i64, o: &Obs) {
    push_row(out, world, id, o, true);
}

pub(crate) async fn observations(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let organization_id = int_query!(&ctx, "organization_id");
    let study_id = int_query!(&ctx, "study_id");
    let patient_id = int_query!(&ctx, "patient_id");
    let observation_id = int_query!(&ctx, "observation_id");
    tokio::task::spawn_blocking(move || {
        let w = &state.world;
        // A study the user cannot see is an empty list here, not 403.
        let q = ObsQuery {
            study_id,
            patient_id,
            organization_id,
            observation_id,
            nothing: study_id.is_some_and(|s| w.visible_study(s).is_none()),
            ..ObsQuery::default()
        };
        let rows = state.store.query(w, &q);
        let push = match ctx.generation {
            Generation::Current => push_observation,
            Generation::Legacy => push_legacy_observation,
            Generation::LegacyGuide => super::legacy::push_guide_observation,
        };
        let mut r = paged(&ctx, rows.len(), |range, out| {
            out.reserve(range.len() * 1200);
            let obs = state.store.read();
            for (n, &i) in rows[range].iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                push(out, w, FIRST_OBSERVATION_ID + i as i64, &obs[i as usize]);
            }
        });
        r.extensions_mut().insert(ObservationPage);
        r
    })
    .await
    .unwrap_or_else(|_| {
        detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "A server error occurred.",
        )
    })
}

pub(crate) async fn observation(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ctx: Ctx,
) -> Response {
    if ctx.generation.is_legacy() {
        // The older servers route it but never find anything: use `?observation_id=`.
        return detail(StatusCode::NOT_FOUND, "Not found.");
    }
    let w = &state.world;
    match py_int(&id).and_then(|id| state.store.get(id).map(|o| (id, o))) {
        Some((id, o)) if w.patients[o.patient as usize].visible => {
            let mut s = String::with_capacity(1500);
            push_observation(&mut s, w, id, &o);
            json(StatusCode::OK, s)
        }
        _ => not_found("Observation"),
    }
}
