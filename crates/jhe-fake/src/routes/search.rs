//! FHIR search plumbing shared by the native (OMH) and the imported-record searches:
//! OperationOutcome errors, the authorized location filters (`patient`,
//! `patient.organization`, `patient._has:Group:member:_id`), `date`/`_lastUpdated` bounds,
//! `_sort` keys, `_summary=count` and the paged searchset Bundle. In: the request's
//! parameters; out: checked values or the error response.

// Errors are ready-made HTTP responses; their size does not matter here.
#![allow(clippy::result_large_err)]

use axum::http::StatusCode;
use axum::response::Response;

use crate::generate::time::{MICROS_PER_DAY, parse_date, parse_datetime};
use crate::generate::world::World;
use crate::render::fhir::{bundle, outcome};
use crate::store::{Cmp, SortKey, TimeBound};

use super::http::{Page, Params, json, py_int};
use super::state::Ctx;

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    json(status, outcome(message))
}

pub(crate) fn forbidden(what: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        &format!("Current user is not authorized to access {what}."),
    )
}

/// What the server answers when an id that must be an integer is not one.
pub(crate) fn not_a_number(value: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("Field 'id' expected a number but got '{value}'."),
    )
}

pub(crate) fn int_param(value: &str) -> Result<i64, Response> {
    py_int(value).ok_or_else(|| not_a_number(value))
}

/// A `date` / `_lastUpdated` value: `ge`/`gt`/`le`/`lt`/`eq` prefix (or none), then a
/// `YYYY-MM-DD` day (compared as a UTC day) or a date-time (compared as an instant).
/// `date` decides by length like the server: ten characters or fewer is a day.
pub(crate) fn time_bound(raw: &str, last_updated: bool) -> Option<TimeBound> {
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

pub(crate) fn sort_keys(params: &Params) -> Vec<SortKey> {
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
pub(crate) fn identifier_value(params: &Params) -> Option<String> {
    let raw = params
        .value("identifier")
        .or_else(|| params.value("patient.identifier"))?;
    let (_, value) = raw.split_once('|')?;
    (!value.is_empty()).then(|| value.to_string())
}

/// The study: only `patient._has:Group:member:_id` (any letter case of `Group`), for
/// Patient too, as on the server; `_has:Group:member:_id` alone is ignored there.
pub(crate) fn study_param(params: &Params) -> Option<&str> {
    params.value("patient._has:_group:member:_id")
}

/// The location filters every search shares (native and imported), authorized.
pub(crate) struct Common {
    pub study_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub organization_id: Option<i64>,
}

pub(crate) fn common(world: &World, params: &Params) -> Result<Common, Response> {
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

pub(crate) fn summary_count(params: &Params) -> bool {
    params
        .value("_summary")
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("count"))
}

/// Pages `total` rows; renders the page's entries with `render(range, out)`.
pub(crate) fn paged_bundle(
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

/// Every `_lastUpdated` bound (repeats AND), or the 400 for one that is not a date.
pub(crate) fn last_updated_bounds(params: &Params) -> Result<Vec<TimeBound>, Response> {
    params
        .all("_last_updated")
        .map(|raw| {
            time_bound(raw, true).ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid _lastUpdated value: '{raw}'."),
                )
            })
        })
        .collect()
}
