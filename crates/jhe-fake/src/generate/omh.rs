//! OMH / IEEE 1752 payloads, rendered on demand from a stored observation: the header,
//! the body ([`super::body`]), the damage if any, and the two ways the APIs carry them
//! (base64 in FHIR, a JSON object in REST). Everything not stored (uuid, secondary fields)
//! is derived from (seed, id) so a payload is identical on every request.

use base64::Engine as _;

use super::body::{body, local};
use super::catalog::Code;
use super::damage::{Damage, NOT_JSON, damage_payload};
use super::json::{J, Style, obj, push_str};
use super::obs::{Frame, Obs};
use super::time::MICROS_PER_SEC;
use super::problems::SECOND_APP;
use super::world::{FIRST_OBSERVATION_ID, Patient, World, mix, mix2};

/// A deterministic RFC 4122 version-4 UUID for an observation.
pub(crate) fn uuid(seed: u64, id: i64) -> String {
    let a = mix2(seed ^ 0x0A11_CE00, id as u64);
    let b = mix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// The data source (by id) that reports a code, consistent with [`source_name`].
pub(crate) fn data_source_id(code: Code) -> i64 {
    use super::world::{DEXCOM_ID, FOOD_APP_ID, IHEALTH_ID, OURA_ID, SOUNDSCAPE_ID, SPIROMETER_ID};
    match code {
        Code::AmbientSound => SOUNDSCAPE_ID,
        Code::BloodGlucose => DEXCOM_ID,
        Code::BloodPressure | Code::BodyTemperature | Code::BodyWeight => IHEALTH_ID,
        Code::ForcedVitalCapacity | Code::ForcedExpiratoryVolume1Second => SPIROMETER_ID,
        Code::FoodEntry => FOOD_APP_ID,
        _ => OURA_ID,
    }
}

/// The device or app that uploaded it: a copy of `quality_problems` names a second app.
fn source_name(world: &World, id: i64, code: Code) -> &'static str {
    if world.problems.is_copy(id - FIRST_OBSERVATION_ID) {
        return SECOND_APP;
    }
    match code {
        Code::BloodGlucose => "Dexcom G7",
        Code::BloodPressure | Code::BodyTemperature | Code::BodyWeight => "iHealth",
        Code::ForcedVitalCapacity | Code::ForcedExpiratoryVolume1Second => "SpiroHome",
        Code::FoodEntry => "Food Diary",
        Code::AmbientSound => "Soundscape Noise Monitor",
        _ => "Oura Ring Gen3",
    }
}

fn header(world: &World, id: i64, o: &Obs, p: &Patient) -> J {
    let spec = o.code.spec();
    let self_reported = o.code == Code::FoodEntry
        || (o.code == Code::PhysicalActivity && o.frame == Frame::PartOfDay)
        || (o.code == Code::BodyWeight && o.variant == 1);
    // Created at the source a little before it reached the server.
    let lag = 1 + (mix2(world.seed ^ 0xC4EA7E, id as u64) % 30) as i64;
    let created = o.last_updated_us.div_euclid(MICROS_PER_SEC) - lag;
    let mut e = vec![
        ("uuid", J::Str(uuid(world.seed, id - o.uuid_back as i64))),
        (
            "modality",
            J::S(if self_reported {
                "self-reported"
            } else {
                "sensed"
            }),
        ),
        (
            "schema_id",
            obj(vec![
                ("name", J::S(spec.name)),
                ("version", J::S(spec.version)),
                ("namespace", J::S(spec.namespace)),
            ]),
        ),
        ("source_creation_date_time", local(created, world.offset_at(o.patient, o.start))),
    ];
    let provenance = match o.code {
        Code::BloodPressure => p.cuff_reports_provenance,
        Code::PhysicalActivity => o.frame != Frame::PartOfDay,
        Code::BodyWeight => o.variant != 1,
        _ => true,
    };
    if provenance {
        e.push((
            "acquisition_provenance",
            J::Obj(vec![("source_name", J::S(source_name(world, id, o.code)))]),
        ));
    }
    if o.code == Code::BodyTemperature {
        e.push((
            "external_datasheets",
            J::Arr(vec![obj(vec![
                ("datasheet_type", J::S("manufacturer")),
                ("datasheet_reference", J::S("https://ihealthlabs.com")),
            ])]),
        ));
    }
    obj(e)
}

/// `{"body": .., "header": ..}` for the observation with this id.
pub(crate) fn payload(world: &World, id: i64, o: &Obs) -> J {
    let p = &world.patients[o.patient as usize];
    J::Obj(vec![
        ("body", body(world, id, o, p)),
        ("header", header(world, id, o, p)),
    ])
}

/// The payload as served: JSON (damaged or not), or text that is not JSON.
pub(crate) enum Served {
    Json(J),
    /// [`Damage::NotBase64`] (FHIR serves it unencoded) or [`Damage::NotJson`].
    Text(String),
}

/// The payload with the observation's damage, if any.
pub(crate) fn served(world: &World, id: i64, o: &Obs) -> Served {
    let mut p = payload(world, id, o);
    match o.damage {
        None => Served::Json(p),
        Some(Damage::NotJson) => Served::Text(NOT_JSON.to_string()),
        Some(Damage::NotBase64) => {
            // The JSON text cut off halfway (ASCII: non-ASCII is escaped).
            let mut text = p.to_string(Style::Python);
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            Served::Text(text)
        }
        Some(d) => {
            damage_payload(&mut p, o.code, d);
            Served::Json(p)
        }
    }
}

/// The text FHIR `valueAttachment.data` holds, and whether it is base64-encoded there:
/// the OMH JSON (`json.dumps` style) encoded, or a damaged payload's text.
pub(crate) fn fhir_text(world: &World, id: i64, o: &Obs) -> (String, bool) {
    match served(world, id, o) {
        Served::Json(j) => (j.to_string(Style::Python), true),
        Served::Text(t) => (t, o.damage != Some(Damage::NotBase64)),
    }
}

/// The OMH JSON exactly as the FHIR `valueAttachment.data` base64 encodes it (or, for a
/// damaged payload, the text it holds).
pub(crate) fn payload_json(world: &World, id: i64, o: &Obs) -> String {
    fhir_text(world, id, o).0
}

/// `valueAttachment.data` as a JSON string: standard base64 (wrapped every 76
/// characters with `\n` for v0.0.11), or the unencoded text of a [`Damage::NotBase64`].
pub(crate) fn push_fhir_data(out: &mut String, world: &World, id: i64, o: &Obs, wrap: bool) {
    let (text, encode) = fhir_text(world, id, o);
    if !encode {
        push_str(out, &text, Style::Compact);
        return;
    }
    out.push('"');
    if wrap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        for (i, line) in encoded.as_bytes().chunks(76).enumerate() {
            if i > 0 {
                out.push_str("\\n");
            }
            // Base64 is ASCII.
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
        }
    } else {
        base64::engine::general_purpose::STANDARD.encode_string(text.as_bytes(), out);
    }
    out.push('"');
}

/// REST `omhData` / `valueAttachmentData`: the payload object, or a damaged payload's
/// text as a JSON string.
pub(crate) fn push_rest_data(out: &mut String, world: &World, id: i64, o: &Obs) {
    match served(world, id, o) {
        Served::Json(j) => j.write(out, Style::Compact),
        Served::Text(t) => push_str(out, &t, Style::Compact),
    }
}
