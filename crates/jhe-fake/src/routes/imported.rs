//! EHR-imported records under `/FHIR/R5/<Type>`: which store a search reads, chosen by
//! `_source` exactly as `FHIRResourceView._resolve_source_target` (`core/views/fhir.py`)
//! chooses it, the search of the imported store, and the read of a record by UUID.
//!
//! - `_source:below` (it wins over `_source`): `https://jupyterhealth.org/fhir/fhir-source`,
//!   trailing slashes optional, is every imported record; any other value is nothing;
//! - `_source=https://jupyterhealth.org/fhir/fhir-source/<digits>` is that FhirSource's
//!   records; `_source=https://jupyterhealth.org/jhe` the native (OMH) store; any other
//!   `_source` nothing (`total: 0`);
//! - no `_source`: the native store for the types the server maps to its own models
//!   (Observation, Patient, Device, Group, Organization, Practitioner), every imported
//!   record for the others (Condition, MedicationRequest, Encounter, ...).
//!
//! A search of nothing is not authorized and has no filters but `_id`/`_lastUpdated`
//! (the server's empty queryset). With `FakeConfig::source_search` off the server knows no
//! `_source` and routes every search as if none were sent.

// Errors are ready-made HTTP responses; their size does not matter here.
#![allow(clippy::result_large_err)]

use axum::http::StatusCode;
use axum::response::Response;

use crate::generate::imported::{FHIR_SOURCE_BASE, ImportedType, parse_uuid};
use crate::imported::{ImportedQuery, search};
use crate::render::fhir::SOURCE as NATIVE_SOURCE;
use crate::render::imported::imported_json;

use super::http::json;
use super::search::{common, error, last_updated_bounds, paged_bundle, sort_keys};
use super::state::{AppState, Ctx};

/// The types the server maps to its own models (`mapped_resources`).
const MAPPED_TYPES: [&str; 6] = [
    "Observation",
    "Patient",
    "Device",
    "Group",
    "Organization",
    "Practitioner",
];

/// The store one search reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Native,
    /// Imported records: of one FhirSource, or of all.
    Imported {
        source_id: Option<i64>,
    },
    Empty,
}

pub(crate) fn target(ctx: &Ctx, resource: &str, source_search: bool) -> Target {
    let mapped = MAPPED_TYPES.contains(&resource);
    let default = if mapped {
        Target::Native
    } else {
        Target::Imported { source_id: None }
    };
    if !source_search {
        return default;
    }
    // `request.GET.get`: the last value, even an empty one.
    if let Some(below) = ctx.params.last("_source:below") {
        return if below.trim_end_matches('/') == FHIR_SOURCE_BASE {
            Target::Imported { source_id: None }
        } else {
            Target::Empty
        };
    }
    let Some(source) = ctx.params.last("_source") else {
        return default;
    };
    if source == NATIVE_SOURCE {
        // The native store of a type without one is nothing.
        return if mapped {
            Target::Native
        } else {
            Target::Empty
        };
    }
    match parse_source_id(source) {
        // `if fhir_source_id:` on the server: source 0 filters nothing.
        Some(id) => Target::Imported {
            source_id: (id != 0).then_some(id),
        },
        None => Target::Empty,
    }
}

/// `parse_fhir_source_id`: exactly `<base>/<digits>`.
fn parse_source_id(uri: &str) -> Option<i64> {
    let tail = uri.strip_prefix(FHIR_SOURCE_BASE)?.strip_prefix('/')?;
    if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A pk too large for any row is a source that does not exist.
    Some(tail.parse().unwrap_or(i64::MAX))
}

/// A search of nothing: only `_lastUpdated` is still checked.
pub(crate) fn empty_search(ctx: &Ctx) -> Response {
    match last_updated_bounds(&ctx.params) {
        Ok(_) => paged_bundle(ctx, 0, |_, _| {}),
        Err(r) => r,
    }
}

/// A search of the imported store: authorized like a native one (403 for a patient,
/// study or organization the user may not see), then filtered and paged.
pub(crate) fn imported_search(
    state: &AppState,
    ctx: &Ctx,
    resource: &str,
    source_id: Option<i64>,
) -> Response {
    let world = &state.world;
    let params = &ctx.params;
    let c = match common(world, params) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let last_updated = match last_updated_bounds(params) {
        Ok(b) => b,
        Err(r) => return r,
    };
    // A type the fake has no imported records of (AllergyIntolerance, ...) finds none.
    let Some(t) = ImportedType::from_name(resource) else {
        return paged_bundle(ctx, 0, |_, _| {});
    };
    let id = params.value("_id").map(parse_uuid);
    let q = ImportedQuery {
        study_id: c.study_id,
        patient_id: c.patient_id,
        organization_id: c.organization_id,
        source_id,
        id: id.flatten(),
        // An `_id` that is no UUID matches no imported record.
        nothing: id.is_some_and(|u| u.is_none()),
        last_updated,
        filters: search::filters(t, params.pairs()),
        sort: sort_keys(params),
    };
    let store = state.imported();
    let found = store.query(world, t, &q);
    let rows = store.rows(t);
    paged_bundle(ctx, found.len(), |range, out| {
        for (n, &i) in found[range].iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(r#"{"resource":"#);
            out.push_str(&imported_json(world, t, &rows[i as usize]));
            out.push('}');
        }
    })
}

/// `GET <Type>/<id>` when the id is a UUID (the server routes reads by id shape): the
/// imported record of that type, if the user may see its patient; `None` for an id that
/// is not a UUID.
pub(crate) fn read(state: &AppState, resource: &str, id: &str) -> Option<Response> {
    let uuid = parse_uuid(id)?;
    let world = &state.world;
    let found = ImportedType::from_name(resource)
        .and_then(|t| Some((t, state.imported().find(world, t, uuid)?)))
        .filter(|(_, r)| world.patients[r.patient as usize].visible);
    Some(match found {
        Some((t, r)) => json(StatusCode::OK, imported_json(world, t, r)),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("{resource}/{id} not found."),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Generation;
    use crate::routes::http::Params;

    fn ctx(query: &str) -> Ctx {
        Ctx {
            base: String::new(),
            path: String::new(),
            params: Params::parse(query),
            raw_query: query.to_string(),
            generation: Generation::Current,
        }
    }

    #[test]
    fn routes_like_resolve_source_target() {
        let base = "https://jupyterhealth.org/fhir/fhir-source";
        let all = Target::Imported { source_id: None };
        let cases = [
            ("", "Observation", Target::Native),
            ("", "Condition", all),
            (
                &format!("_source:below={base}/") as &str,
                "Observation",
                all,
            ),
            (&format!("_source:below={base}//"), "Observation", all),
            (&format!("_source:below={base}"), "Condition", all),
            (
                &format!("_source:below={base}/90001"),
                "Observation",
                Target::Empty,
            ),
            (
                "_source:below=https://jupyterhealth.org/",
                "Observation",
                Target::Empty,
            ),
            ("_source:below=", "Observation", Target::Empty),
            (
                &format!("_source:below={base}/&_source=https://jupyterhealth.org/jhe"),
                "Observation",
                all,
            ),
            (
                &format!("_source={base}/90002"),
                "Observation",
                Target::Imported {
                    source_id: Some(90002),
                },
            ),
            (
                &format!("_source={base}/090002"),
                "Encounter",
                Target::Imported {
                    source_id: Some(90002),
                },
            ),
            (&format!("_source={base}/0"), "Observation", all),
            (&format!("_source={base}/x1"), "Observation", Target::Empty),
            (&format!("_source={base}/"), "Observation", Target::Empty),
            (&format!("_source={base}/-1"), "Observation", Target::Empty),
            (
                "_source=https://jupyterhealth.org/jhe",
                "Observation",
                Target::Native,
            ),
            (
                "_source=https://jupyterhealth.org/jhe",
                "Condition",
                Target::Empty,
            ),
            (
                "_source=https://fhir.epic.com/api/FHIR/R4",
                "Observation",
                Target::Empty,
            ),
            ("_source=", "Condition", Target::Empty),
        ];
        for (query, resource, expected) in cases {
            assert_eq!(
                target(&ctx(query), resource, true),
                expected,
                "{query} {resource}"
            );
        }
        let q = ctx(&format!("_source:below={base}/"));
        assert_eq!(target(&q, "Observation", false), Target::Native);
        assert_eq!(target(&q, "Condition", false), all);
    }
}
