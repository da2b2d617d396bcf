//! FHIR R5 JSON: Observation resources (the current generation's and v0.0.11's minimal
//! ones), Patient resources, the searchset Bundle around them, and the OperationOutcome of
//! an error. In: the world and stored observations; out: JSON text in the server's key
//! order.

use serde::Serialize;

use crate::generate::json::{Style, push_str};
use crate::generate::obs::{Frame, Obs};
use crate::generate::omh;
use crate::generate::time::{Offset, push_local, push_utc_micros, utc_micros};
use crate::generate::world::World;

pub(crate) const SOURCE: &str = "https://jupyterhealth.org/jhe";
pub(crate) const JHE_USER_ID_SYSTEM: &str = "https://jupyterhealth.org/fhir/identifier/jhe-user-id";
pub(crate) const OBSERVATION_IDENTIFIER_SYSTEM: &str = "https://ihealthlabs.com/fhir/record-id";

/// `{"resourceType":"OperationOutcome","issue":[...]}` with one error issue.
pub(crate) fn outcome(message: &str) -> String {
    let mut s = String::from(
        r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"#,
    );
    push_str(&mut s, message, Style::Compact);
    s.push_str("}]}");
    s
}

/// The Bundle envelope around already rendered entries.
pub(crate) fn bundle(total: usize, entries: &str, links: &[(&str, String)]) -> String {
    let mut s = String::with_capacity(entries.len() + 512);
    s.push_str(r#"{"resourceType":"Bundle","type":"searchset","total":"#);
    s.push_str(&total.to_string());
    s.push_str(r#","entry":["#);
    s.push_str(entries);
    s.push_str(r#"],"link":["#);
    for (i, (relation, url)) in links.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(r#"{"relation":""#);
        s.push_str(relation);
        s.push_str(r#"","url":"#);
        push_str(&mut s, url, Style::Compact);
        s.push('}');
    }
    s.push_str(r#"],"meta":{}}"#);
    s
}

#[derive(Serialize)]
struct FhirIdentifier<'a> {
    system: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct Meta {
    #[serde(rename = "lastUpdated")]
    last_updated: String,
    source: &'static str,
}

#[derive(Serialize)]
struct HumanName<'a> {
    family: &'a str,
    given: [&'a str; 1],
}

#[derive(Serialize)]
struct Telecom<'a> {
    system: &'static str,
    value: &'a str,
    #[serde(rename = "use")]
    use_: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PatientResource<'a> {
    id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identifier: Vec<FhirIdentifier<'a>>,
    meta: Meta,
    name: [HumanName<'a>; 1],
    birth_date: &'a str,
    telecom: [Telecom<'a>; 2],
    resource_type: &'static str,
}

pub(crate) fn patient_json(world: &World, index: usize) -> String {
    let p = &world.patients[index];
    let resource = PatientResource {
        id: p.id.to_string(),
        identifier: p
            .identifiers
            .iter()
            .map(|i| FhirIdentifier {
                system: i.system,
                value: &i.value,
            })
            .collect(),
        meta: Meta {
            last_updated: utc_micros(p.last_updated_us),
            source: SOURCE,
        },
        name: [HumanName {
            family: &p.name_family,
            given: [&p.name_given],
        }],
        birth_date: &p.birth_date,
        telecom: [
            Telecom {
                system: "phone",
                value: &p.phone,
                use_: "mobile",
            },
            Telecom {
                system: "email",
                value: &p.email,
                use_: "home",
            },
        ],
        resource_type: "Patient",
    };
    serde_json::to_string(&resource).unwrap_or_default()
}

fn push_utc_secs(out: &mut String, secs: i64) {
    out.push('"');
    push_local(out, secs, Offset::Zulu);
    out.push('"');
}

/// One Observation resource, keys in the order the server writes them.
pub(crate) fn push_observation(out: &mut String, world: &World, id: i64, o: &Obs) {
    let p = &world.patients[o.patient as usize];
    let spec = o.code.spec();
    out.push_str(r#"{"meta":{"lastUpdated":""#);
    push_utc_micros(out, o.last_updated_us);
    out.push_str(r#"","source":""#);
    out.push_str(SOURCE);
    out.push_str(r#""},"id":""#);
    out.push_str(&id.to_string());
    out.push('"');
    if o.has_identifier {
        out.push_str(r#","identifier":[{"system":""#);
        out.push_str(OBSERVATION_IDENTIFIER_SYSTEM);
        out.push_str(r#"","value":"ih-"#);
        out.push_str(&id.to_string());
        out.push_str(r#""}]"#);
    }
    out.push_str(r#","status":"final","code":{"coding":[{"system":""#);
    out.push_str(spec.system);
    out.push_str(r#"","code":""#);
    out.push_str(spec.code);
    out.push_str(r#"","display":""#);
    out.push_str(spec.display);
    out.push_str(r#""}]},"#);
    if o.frame == Frame::Instant {
        out.push_str(r#""effectiveDateTime":"#);
        push_utc_secs(out, o.start);
    } else {
        out.push_str(r#""effectivePeriod":{"start":"#);
        push_utc_secs(out, o.start);
        out.push_str(r#","end":"#);
        push_utc_secs(out, o.end());
        out.push('}');
    }
    out.push_str(r#","subject":{"reference":"Patient/"#);
    out.push_str(&p.id.to_string());
    out.push_str(r#"","identifier":{"system":""#);
    out.push_str(JHE_USER_ID_SYSTEM);
    out.push_str(r#"","value":""#);
    out.push_str(&p.jhe_user_id.to_string());
    out.push_str(r#""}},"valueAttachment":{"contentType":"application/json","data":"#);
    omh::push_fhir_data(out, world, id, o, false);
    out.push_str(r#"},"resourceType":"Observation"}"#);
}

/// Python's `isoformat()` of an aware UTC datetime: `...+00:00`.
fn push_utc_plus(out: &mut String, us: i64) {
    push_utc_micros(out, us);
    out.pop(); // the `Z`
    out.push_str("+00:00");
}

/// One v0.0.11 Observation resource, keys in the order that server writes them.
pub(crate) fn push_legacy_observation(out: &mut String, world: &World, id: i64, o: &Obs) {
    let p = &world.patients[o.patient as usize];
    let spec = o.code.spec();
    out.push_str(r#"{"resourceType":"Observation","id":""#);
    out.push_str(&id.to_string());
    out.push_str(r#"","meta":{"lastUpdated":""#);
    push_utc_plus(out, o.last_updated_us);
    out.push_str(r#""},"status":"final","subject":{"reference":"Patient/"#);
    out.push_str(&p.id.to_string());
    out.push_str(r#""},"code":{"coding":[{"code":""#);
    out.push_str(spec.code);
    out.push_str(r#"","system":""#);
    out.push_str(spec.system);
    out.push_str(r#""}]},"valueAttachment":{"data":"#);
    omh::push_fhir_data(out, world, id, o, true);
    out.push_str(r#","contentType":"application/json"}}"#);
}
