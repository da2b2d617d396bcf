//! The older API generation (v0.0.11, `tests/reference/samples-v0.0.11`): the FHIR API
//! under `/fhir/r5/` as real servers of that generation answer. (Its REST observation rows,
//! and the rows the user guide documents for [`crate::config::Generation::LegacyGuide`],
//! are served by the REST handlers.)
//!
//! What differs from the current generation: a search needs a study, `patient` or
//! `patient.identifier`; `date`, `_lastUpdated`, `_sort`, `_summary` and `_id` are
//! silently ignored; `code` is matched with SQL LIKE; `Accept: application/fhir+json` is
//! 406; errors are DRF bodies (a bare list of strings for 400, `{"detail"}` otherwise, a
//! plain-text 500 for a malformed integer); resources are minimal and their base64 is
//! wrapped every 76 characters; reads, `POST _search`, `metadata` and Patient searches do
//! not work.

// Errors are ready-made HTTP responses; their size does not matter here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::generate::catalog::Code;
use crate::generate::world::{FIRST_OBSERVATION_ID, World};
use crate::render::fhir::{bundle, push_legacy_observation};
use crate::store::ObsQuery;

use super::http::{
    Page, Params, STUDY_FORBIDDEN, accepts_json, detail, json, py_int, respond, text_value_error,
};
use super::log::ObservationPage;
use super::state::{AppState, Ctx};

pub(crate) const OBSERVATION_FILTER_REQUIRED: &str = "Request parameter patient._has:Group:member:_id=<study_id> or patient=<patient_id> or patient.identifier=<system>|<value> must be provided.";
pub(crate) const PATIENT_FILTER_REQUIRED: &str = "Request parameter _has:Group:member:_id=<study_id> or patient.identifier=<system>|<value> must be provided.";
pub(crate) const NOT_IN_STUDY: &str = "The requested Patient is not part of the specified Study.";
pub(crate) const PATIENT_FORBIDDEN: &str =
    "Current User does not have authorization to access this Patient.";
pub(crate) const NOT_ACCEPTABLE: &str = "Could not satisfy the request Accept header.";
/// `GET /health` of the older servers.
const HEALTH: &str = r#"{"status": "ok", "version": "v0.0.11"}"#;

/// DRF's 400 for a `ValidationError` raised with a message: a bare JSON list.
fn bad_request(message: &str) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        serde_json::json!([message]).to_string(),
    )
}

fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not found.")
}

/// DRF's content negotiation, before authentication: 406 when no JSON renderer fits.
pub(crate) async fn negotiate(request: Request, next: Next) -> Response {
    if accepts_json(request.headers()) {
        next.run(request).await
    } else {
        detail(StatusCode::NOT_ACCEPTABLE, NOT_ACCEPTABLE)
    }
}

fn not_allowed(method: &Method) -> Response {
    detail(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method \"{method}\" not allowed."),
    )
}

fn is_get(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// `{base}/` itself.
pub(crate) async fn method_not_allowed(method: Method) -> Response {
    not_allowed(&method)
}

pub(crate) async fn health() -> Response {
    json(StatusCode::OK, HEALTH)
}

/// SQL `LIKE` as PostgreSQL applies it: `%` any run, `_` any one character, `\` escapes
/// the next character; case-sensitive; the whole string must match.
pub(crate) fn like(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '%' => Tok::Any,
            '_' => Tok::One,
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // The last `%` seen and the text position it is currently assumed to stop at.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|&t| t == Tok::Any)
}

/// The codes a `code=system|code` value selects, LIKE on both halves; a value without
/// `|` selects none.
fn code_mask(raw: &str) -> u32 {
    let Some((system, code)) = raw.split_once('|') else {
        return 0;
    };
    Code::ALL
        .into_iter()
        .filter(|c| like(system, c.spec().system) && like(code, c.spec().code))
        .fold(0, |m, c| m | c.bit())
}

fn study_param(params: &Params) -> Option<&str> {
    params.value("patient._has:_group:member:_id")
}

fn has_observation_filter(params: &Params) -> bool {
    study_param(params).is_some()
        || params.value("patient").is_some()
        || params.value("patient.identifier").is_some()
}

/// An integer parameter; a malformed one is the plain-text 500.
fn int_param(ctx: &Ctx, value: Option<&str>) -> Result<Option<i64>, Response> {
    value
        .map(|v| py_int(v).ok_or_else(|| text_value_error(&ctx.path, v)))
        .transpose()
}

/// Observation search parameters -> an authorized query (only what v0.0.11 reads).
pub(crate) fn observation_query(world: &World, ctx: &Ctx) -> Result<ObsQuery, Response> {
    let params = &ctx.params;
    if !has_observation_filter(params) {
        return Err(bad_request(OBSERVATION_FILTER_REQUIRED));
    }
    let study_id = int_param(ctx, study_param(params))?;
    let patient_id = int_param(ctx, params.value("patient"))?;
    if let Some(s) = study_id {
        if world.visible_study(s).is_none() {
            return Err(detail(StatusCode::FORBIDDEN, STUDY_FORBIDDEN));
        }
    }
    if let Some(p) = patient_id {
        let Some(i) = world.visible_patient(p) else {
            return Err(detail(StatusCode::FORBIDDEN, PATIENT_FORBIDDEN));
        };
        if study_id.is_some_and(|s| !world.patients[i].in_study(s)) {
            return Err(bad_request(NOT_IN_STUDY));
        }
    }
    // `system|value`: only the value is matched; a bare value is ignored.
    let identifier_value = params
        .value("patient.identifier")
        .and_then(|v| v.split_once('|'))
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty());
    Ok(ObsQuery {
        study_id,
        patient_id,
        identifier_value,
        code_mask: params.value("code").map(code_mask),
        ..ObsQuery::default()
    })
}

fn observation_bundle(state: &AppState, ctx: &Ctx) -> Response {
    let world = &state.world;
    let q = match observation_query(world, ctx) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let (rows, obs) = state.store.query(world, &q);
    let total = rows.len();
    let Ok(page) = Page::select(total, ctx.params.last("_page"), ctx.params.last("_count")) else {
        return detail(StatusCode::NOT_FOUND, "Invalid page.");
    };
    let range = page.range();
    let mut entries = String::with_capacity(range.len() * 1700);
    for (n, &i) in rows[range].iter().enumerate() {
        if n > 0 {
            entries.push(',');
        }
        entries.push_str(r#"{"resource":"#);
        push_legacy_observation(
            &mut entries,
            world,
            FIRST_OBSERVATION_ID + i as i64,
            &obs[i as usize],
        );
        entries.push('}');
    }
    drop(obs);
    let (next, previous) = page.links(
        &format!("{}{}", ctx.base, ctx.path),
        &ctx.params.raw,
        "_page",
    );
    let mut links = vec![("self", ctx.self_url())];
    links.extend(previous.map(|u| ("previous", u)));
    links.extend(next.map(|u| ("next", u)));
    let mut r = json(StatusCode::OK, bundle(total, &entries, &links));
    r.extensions_mut().insert(ObservationPage);
    r
}

/// `GET {base}/Observation`.
pub(crate) async fn observation_search(
    State(state): State<Arc<AppState>>,
    method: Method,
    ctx: Ctx,
) -> Response {
    if !is_get(&method) {
        return not_allowed(&method);
    }
    tokio::task::spawn_blocking(move || observation_bundle(&state, &ctx))
        .await
        .unwrap_or_else(|_| {
            detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "A server error occurred.",
            )
        })
}

/// `GET {base}/Observation/{id}`: the list's filter is still required, and then nothing
/// is found. `POST .../_search` is 405.
pub(crate) async fn observation_read(method: Method, ctx: Ctx) -> Response {
    if !is_get(&method) {
        not_allowed(&method)
    } else if has_observation_filter(&ctx.params) {
        not_found()
    } else {
        bad_request(OBSERVATION_FILTER_REQUIRED)
    }
}

fn has_patient_filter(params: &Params) -> bool {
    params.value("_has:_group:member:_id").is_some() || params.value("patient.identifier").is_some()
}

/// `GET {base}/Patient`: 400 without a filter, and a 400 validation crash with one (the
/// v0.0.11 server cannot build its Patient resources).
pub(crate) async fn patient_search(method: Method, ctx: Ctx) -> Response {
    if !is_get(&method) {
        return not_allowed(&method);
    }
    if !has_patient_filter(&ctx.params) {
        return bad_request(PATIENT_FILTER_REQUIRED);
    }
    respond(
        StatusCode::BAD_REQUEST,
        "text/plain; charset=utf-8",
        format!(
            "BadRequest at {}\n1 validation error for Patient\nidentifier -> 0 -> system\n  \
             none is not an allowed value (type=type_error.none.not_allowed)\n",
            ctx.path
        ),
    )
}

pub(crate) async fn patient_read(method: Method, ctx: Ctx) -> Response {
    if !is_get(&method) {
        not_allowed(&method)
    } else if has_patient_filter(&ctx.params) {
        not_found()
    } else {
        bad_request(PATIENT_FILTER_REQUIRED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_as_postgres_does() {
        assert!(like("omh:heart%", "omh:heart-rate:2.0"));
        assert!(like("omh:heart_rate:2.0", "omh:heart-rate:2.0"));
        assert!(like("%", ""));
        assert!(like("%rate%", "omh:heart-rate:2.0"));
        assert!(like("a%b%c", "axxbyyc"));
        assert!(!like("a%b%c", "axxbyy"));
        assert!(!like("omh:heart", "omh:heart-rate:2.0"));
        assert!(!like("OMH:%", "omh:heart-rate:2.0"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(!like("_", ""));
        assert!(like("%%_", "x"));
    }

    #[test]
    fn codes_are_selected_with_like() {
        let omh = "https://w3id.org/openmhealth";
        assert_eq!(
            code_mask(&format!("{omh}|omh:heart-rate:2.0")),
            Code::HeartRate.bit()
        );
        assert_eq!(
            code_mask(&format!("{omh}|omh:heart%")),
            Code::HeartRate.bit()
        );
        assert_eq!(code_mask("omh:heart-rate:2.0"), 0);
        assert_eq!(
            code_mask("%|omh:blood-%"),
            Code::BloodGlucose.bit() | Code::BloodPressure.bit()
        );
        assert_eq!(code_mask(&format!("{omh}|ieee:%")), 0);
        assert_ne!(code_mask("https://w3id.org/ieee1752|ieee:%"), 0);
    }

}
