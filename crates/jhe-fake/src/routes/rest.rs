//! The REST API under `/api/v1/`: camelCase JSON, DRF page-number pagination, `{"detail"}`
//! errors, and a 500 page for malformed integer parameters.

// Errors are ready-made HTTP responses; their size does not matter here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::config::Generation;
use crate::generate::world::{DataSource, FIRST_OBSERVATION_ID, Organization, Patient, Study, World};
use crate::render::rest::{
    consents_json, data_source_json, envelope, organization_json, patient_json, push_guide_observation,
    push_legacy_observation, push_observation, scope_requests_json, study_json, to_json,
};
use crate::store::ObsQuery;

use super::http::{LimitOffset, Page, STUDY_FORBIDDEN, detail, html_value_error, json, py_int, text_value_error};
use super::log::ObservationPage;
use super::state::{AppState, Ctx};

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

/// A bare array, not a page.
pub(crate) async fn study_scope_requests(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    match visible_study(&state.world, &id) {
        Ok(s) => ok(&scope_requests_json(&state.world, s)),
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

pub(crate) async fn patient_consents(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let w = &state.world;
    match visible_patient(w, &id) {
        Ok(p) => ok(&consents_json(w, p)),
        Err(r) => r,
    }
}

pub(crate) async fn data_sources(State(state): State<Arc<AppState>>, ctx: Ctx) -> Response {
    let mut list: Vec<&DataSource> = state.world.data_sources.iter().collect();
    list.sort_by_key(|d| d.name);
    let items: Vec<_> = list.into_iter().map(data_source_json).collect();
    paged_items(&ctx, &items)
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
        let (rows, obs) = state.store.query(w, &q);
        let push = match ctx.generation {
            Generation::Current => push_observation,
            Generation::Legacy => push_legacy_observation,
            Generation::LegacyGuide => push_guide_observation,
        };
        let mut r = paged(&ctx, rows.len(), |range, out| {
            out.reserve(range.len() * 1200);
            for (n, &i) in rows[range].iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                push(out, w, FIRST_OBSERVATION_ID + i as i64, &obs[i as usize]);
            }
        });
        drop(obs);
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
