//! The REST API's JSON: organizations, studies, data sources and scopes, patients and their
//! consents (camelCase, in the server's key order), the page envelope, and observation rows
//! of each generation. In: the world and stored observations; out: JSON text or
//! serializable values.

use serde::Serialize;

use crate::generate::catalog::Code;
use crate::generate::json::{Style, push_str};
use crate::generate::obs::Obs;
use crate::generate::omh;
use crate::generate::time::{push_utc_micros, utc_micros};
use crate::generate::world::{DataSource, Organization, Patient, Study, World};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrganizationJson {
    id: i64,
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    part_of: Option<i64>,
    current_user_role: Option<&'static str>,
    /// Only the organization tree endpoint fills this in.
    children: Vec<()>,
}

pub(crate) fn organization_json(world: &World, o: &Organization) -> OrganizationJson {
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
pub(crate) struct OrganizationRef {
    id: i64,
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StudyJson {
    id: i64,
    name: &'static str,
    description: &'static str,
    organization: OrganizationRef,
    icon_url: Option<&'static str>,
}

pub(crate) fn organization_ref(world: &World, id: i64) -> OrganizationRef {
    let o = world
        .organization(id)
        .expect("studies belong to known organizations");
    OrganizationRef {
        id: o.id,
        name: o.name,
        kind: o.kind,
    }
}

pub(crate) fn study_json(world: &World, s: &Study) -> StudyJson {
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
pub(crate) struct ScopeJson {
    id: i64,
    coding_system: &'static str,
    coding_code: &'static str,
    text: &'static str,
}

pub(crate) fn scope_json(code: Code) -> ScopeJson {
    let s = code.spec();
    ScopeJson {
        id: code.scope_id(),
        coding_system: s.system,
        coding_code: s.code,
        text: s.display,
    }
}

/// A study as `depth=1` nests it: its organization by id.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StudyRef {
    id: i64,
    name: &'static str,
    description: &'static str,
    organization: i64,
    icon_url: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScopeRequestJson {
    id: i64,
    study: StudyRef,
    scope_code: ScopeJson,
}

/// `GET /api/v1/studies/{id}/scope_requests`: one row per code the study requests, by id.
/// Ids count from 1 over every study's requests, in study order.
pub(crate) fn scope_requests_json(world: &World, s: &Study) -> Vec<ScopeRequestJson> {
    let first: usize = 1 + world
        .studies
        .iter()
        .take_while(|other| other.id != s.id)
        .map(|other| other.codes.len())
        .sum::<usize>();
    s.codes
        .iter()
        .enumerate()
        .map(|(k, &c)| ScopeRequestJson {
            id: (first + k) as i64,
            study: StudyRef {
                id: s.id,
                name: s.name,
                description: s.description,
                organization: s.organization_id,
                icon_url: None,
            },
            scope_code: scope_json(c),
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DataSourceJson {
    id: i64,
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    supported_scopes: Vec<ScopeJson>,
}

pub(crate) fn data_source_json(d: &DataSource) -> DataSourceJson {
    DataSourceJson {
        id: d.id,
        name: d.name,
        kind: d.kind,
        supported_scopes: d.codes.iter().map(|&c| scope_json(c)).collect(),
    }
}

#[derive(Serialize)]
pub(crate) struct IdentifierJson<'a> {
    id: i64,
    system: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PatientJson<'a> {
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

pub(crate) fn patient_json<'a>(world: &World, p: &'a Patient) -> PatientJson<'a> {
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

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `{"count","next","previous","results"}` around already rendered results.
pub(crate) fn envelope(count: usize, next: Option<String>, previous: Option<String>, results: &str) -> String {
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

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScopeConsent {
    code: ScopeJson,
    consented: Option<bool>,
    consented_time: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StudyConsents {
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
pub(crate) struct Consents<'a> {
    patient: PatientJson<'a>,
    consolidated_consented_scopes: Vec<ScopeJson>,
    studies_pending_consent: Vec<StudyConsents>,
    studies: Vec<StudyConsents>,
}

/// `GET /api/v1/patients/{id}/consents`: the patient, every study it is enrolled in with
/// the scopes it consented to (or declined, `consented: false`, or has yet to answer), and
/// the union of the consented scopes.
pub(crate) fn consents_json<'a>(w: &World, p: &'a Patient) -> Consents<'a> {
    let study_consents = |s: &Study, pending: bool| {
        let consents: Vec<ScopeConsent> = s
            .codes
            .iter()
            .map(|&c| {
                let consented = !pending && p.refused_mask & c.bit() == 0;
                ScopeConsent {
                    code: scope_json(c),
                    consented: (!pending).then_some(consented),
                    consented_time: consented.then(|| utc_micros(p.consented_us)),
                }
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
            consented_mask |= s.code_mask & !p.refused_mask;
            studies.push(study_consents(s, false));
        }
    }
    Consents {
        patient: patient_json(w, p),
        consolidated_consented_scopes: Code::ALL
            .into_iter()
            .filter(|c| consented_mask & c.bit() != 0)
            .map(scope_json)
            .collect(),
        studies_pending_consent: pending,
        studies,
    }
}

/// One REST observation row: `omhData` with `jheUserId` (current), or the v0.0.11 row
/// with `valueAttachmentData` and no `jheUserId`.
fn push_row(out: &mut String, world: &World, id: i64, o: &Obs, legacy: bool) {
    let p = &world.patients[o.patient as usize];
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
    push_coding(out, o.code);
    out.push_str(",\"lastUpdated\":\"");
    push_utc_micros(out, o.last_updated_us);
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

/// One REST observation row as the user guide documents it (no released server sends
/// these names): `subjectPatient`, `patientNameDisplay` ("Family, Given"),
/// `codeableConcept`, `dataSource`, `dataSourceName`, `status`, `created`.
pub(crate) fn push_guide_observation(out: &mut String, world: &World, id: i64, o: &Obs) {
    let p = &world.patients[o.patient as usize];
    let source_id = omh::data_source_id(o.code);
    let source_name = world.data_source(source_id).map_or("", |d| d.name);
    out.push_str("{\"id\":");
    out.push_str(&id.to_string());
    out.push_str(",\"subjectPatient\":");
    out.push_str(&p.id.to_string());
    out.push_str(",\"patientNameDisplay\":");
    push_str(
        out,
        &format!("{}, {}", p.name_family, p.name_given),
        Style::Compact,
    );
    out.push_str(",\"codeableConcept\":");
    out.push_str(&o.code.scope_id().to_string());
    push_coding(out, o.code);
    out.push_str(",\"dataSource\":");
    out.push_str(&source_id.to_string());
    out.push_str(",\"dataSourceName\":");
    push_str(out, source_name, Style::Compact);
    out.push_str(",\"status\":\"final\",\"valueAttachmentData\":");
    omh::push_rest_data(out, world, id, o);
    // Generated rows are never modified after they are written.
    out.push_str(",\"created\":\"");
    push_utc_micros(out, o.last_updated_us);
    out.push_str("\",\"lastUpdated\":\"");
    push_utc_micros(out, o.last_updated_us);
    out.push_str("\"}");
}

/// `,"codingSystem":...,"codingCode":...,"codingText":...`: the coding both REST
/// observation shapes carry.
fn push_coding(out: &mut String, code: Code) {
    let spec = code.spec();
    out.push_str(",\"codingSystem\":\"");
    out.push_str(spec.system);
    out.push_str("\",\"codingCode\":\"");
    out.push_str(spec.code);
    out.push_str("\",\"codingText\":\"");
    out.push_str(spec.display);
    out.push('"');
}
