//! The EHR-imported resources as the real Exchange serves them
//! (`FHIRAuxResourceSerializer`: the stored R5 `fhir_data` verbatim, in PostgreSQL JSONB
//! key order, `id` the row's UUID), with the stamp `apply_jhe_extensions` puts on every
//! imported body: `meta.source` naming the FhirSource, and the `patient-id` and
//! `patient-full-name` extensions. No `meta.lastUpdated`: the import time stays outside
//! the body. `subject.reference` is the EHR's patient id, as imported.

use crate::generate::ehr_codes::{
    CONDITION_CATEGORY, CONDITION_CLINICAL, CONDITION_VERIFICATION, Category, Coding, DIASTOLIC,
    ENCOUNTER_IDENTIFIER, INTERPRETATION, LOINC, ObsValue, SYSTOLIC, Timing, UCUM,
};
use crate::generate::imported::{
    EXTENSION_BASE, Imported, ImportedType, condition, condition_abatement, condition_onset_day,
    condition_resolved, date_text, effective_start, encounter, encounter_csn, instant_text,
    medication, medication_status, observation, source_uri, upstream_patient_id, uuid_of,
    uuid_text,
};
use crate::generate::json::{J, Style, obj};
use crate::generate::world::World;

/// One imported resource's JSON text.
pub(crate) fn imported_json(world: &World, t: ImportedType, r: &Imported) -> String {
    let p = &world.patients[r.patient as usize];
    let full_name = format!("{} {}", p.name_given, p.name_family);
    let mut fields = vec![
        ("resourceType", J::S(t.name())),
        (
            "id",
            J::Str(uuid_text(uuid_of(world.seed, r.patient, r.slot))),
        ),
        ("meta", obj(vec![("source", J::Str(source_uri(r.patient)))])),
        (
            "extension",
            J::Arr(vec![
                extension("patient-id", "valueInteger", J::Int(p.id)),
                extension("patient-full-name", "valueString", J::Str(full_name)),
            ]),
        ),
        (
            "subject",
            obj(vec![(
                "reference",
                J::Str(format!(
                    "Patient/{}",
                    upstream_patient_id(world.seed, r.patient)
                )),
            )]),
        ),
    ];
    match t {
        ImportedType::Observation => observation_fields(world.seed, r, &mut fields),
        ImportedType::Condition => condition_fields(world.seed, r, &mut fields),
        ImportedType::MedicationRequest => medication_fields(r, &mut fields),
        ImportedType::Encounter => encounter_fields(world.seed, r, &mut fields),
    }
    obj(fields).to_string(Style::Compact)
}

fn extension(name: &str, key: &'static str, value: J) -> J {
    obj(vec![
        ("url", J::Str(format!("{EXTENSION_BASE}/{name}"))),
        (key, value),
    ])
}

fn coding(c: &Coding) -> J {
    obj(vec![
        ("system", J::S(c.system)),
        ("code", J::S(c.code)),
        ("display", J::S(c.display)),
    ])
}

fn concept(codings: &[Coding], text: Option<&'static str>) -> J {
    let mut fields = vec![("coding", J::Arr(codings.iter().map(coding).collect()))];
    fields.extend(text.map(|t| ("text", J::S(t))));
    obj(fields)
}

fn instant(secs: i64) -> J {
    J::Str(instant_text(secs))
}

fn quantity(value: J, unit: &'static str, ucum: Option<&'static str>) -> J {
    let mut fields = vec![("value", value), ("unit", J::S(unit))];
    if let Some(code) = ucum {
        fields.push(("system", J::S(UCUM)));
        fields.push(("code", J::S(code)));
    }
    obj(fields)
}

fn observation_fields(seed: u64, r: &Imported, fields: &mut Vec<(&'static str, J)>) {
    let o = observation(r);
    let mut codings = vec![Coding {
        system: LOINC,
        code: o.loinc,
        display: o.display,
    }];
    codings.extend(o.local);
    fields.push(("status", J::S(o.status)));
    fields.push((
        "category",
        J::Arr(vec![concept(&[o.category.coding()], None)]),
    ));
    fields.push(("code", concept(&codings, Some(o.text))));
    match o.timing {
        Timing::DateTime => fields.push(("effectiveDateTime", instant(r.time))),
        Timing::Period { minutes } => fields.push((
            "effectivePeriod",
            obj(vec![
                ("start", instant(r.time)),
                ("end", instant(r.time + minutes * 60)),
            ]),
        )),
        Timing::IssuedOnly => {}
    }
    // Labs carry the time the result was issued; an issued-only record has nothing else.
    match (o.category, effective_start(r)) {
        (_, None) => fields.push(("issued", instant(r.time))),
        (Category::Laboratory, Some(t)) => fields.push(("issued", instant(t + 45 * 60))),
        (Category::VitalSigns, Some(_)) => {}
    }
    match o.value {
        ObsValue::Quantity {
            unit,
            ucum,
            low,
            high,
            decimals,
            range,
        } => {
            let scale = 10f64.powi(decimals as i32);
            let drawn = low + (r.draw(seed, 0x7A1) % 10_001) as f64 / 10_000.0 * (high - low);
            let value = (drawn * scale).round() / scale;
            let number = |x: f64| {
                if decimals == 0 {
                    J::Int(x as i64)
                } else {
                    J::Float(x)
                }
            };
            fields.push(("valueQuantity", quantity(number(value), unit, ucum)));
            if let Some((lo, hi)) = range {
                fields.push((
                    "referenceRange",
                    J::Arr(vec![obj(vec![
                        ("low", quantity(number(lo), unit, ucum)),
                        ("high", quantity(number(hi), unit, ucum)),
                    ])]),
                ));
                let (code, display) = if value > hi {
                    ("H", "High")
                } else if value < lo {
                    ("L", "Low")
                } else {
                    ("N", "Normal")
                };
                let c = Coding {
                    system: INTERPRETATION,
                    code,
                    display,
                };
                fields.push(("interpretation", J::Arr(vec![concept(&[c], None)])));
            }
        }
        ObsValue::BloodPressure => {
            let component = |c: &Coding, value: i64| {
                obj(vec![
                    ("code", concept(std::slice::from_ref(c), None)),
                    (
                        "valueQuantity",
                        quantity(J::Int(value), "mmHg", Some("mm[Hg]")),
                    ),
                ])
            };
            fields.push((
                "component",
                J::Arr(vec![
                    component(&SYSTOLIC, r.pick(seed, 0x5A5, 105, 150)),
                    component(&DIASTOLIC, r.pick(seed, 0xD1A, 62, 95)),
                ]),
            ));
        }
        ObsValue::Concept(choices) => {
            let c = &choices[r.draw(seed, 0xC0C) as usize % choices.len()];
            fields.push((
                "valueCodeableConcept",
                concept(std::slice::from_ref(c), Some(c.display)),
            ));
        }
        ObsValue::Text(choices) => {
            let text = choices[r.draw(seed, 0x7E7) as usize % choices.len()];
            fields.push(("valueString", J::S(text)));
        }
        ObsValue::Boolean => fields.push(("valueBoolean", J::Bool(r.draw(seed, 0xB00) % 3 != 0))),
        ObsValue::Integer { low, high } => {
            fields.push(("valueInteger", J::Int(r.pick(seed, 0x1A7, low, high))))
        }
        ObsValue::Period { hours } => {
            let start = r.time - hours * 3600 - r.pick(seed, 0x9E, 0, 90) * 60;
            fields.push((
                "valuePeriod",
                obj(vec![("start", instant(start)), ("end", instant(r.time))]),
            ));
        }
    }
}

fn condition_fields(seed: u64, r: &Imported, fields: &mut Vec<(&'static str, J)>) {
    let c = condition(r);
    let resolved = condition_resolved(r);
    let clinical = if resolved {
        Coding {
            system: CONDITION_CLINICAL,
            code: "resolved",
            display: "Resolved",
        }
    } else {
        Coding {
            system: CONDITION_CLINICAL,
            code: "active",
            display: "Active",
        }
    };
    let category = if resolved {
        Coding {
            system: CONDITION_CATEGORY,
            code: "encounter-diagnosis",
            display: "Encounter Diagnosis",
        }
    } else {
        Coding {
            system: CONDITION_CATEGORY,
            code: "problem-list-item",
            display: "Problem List Item",
        }
    };
    let verified = Coding {
        system: CONDITION_VERIFICATION,
        code: "confirmed",
        display: "Confirmed",
    };
    fields.push(("clinicalStatus", concept(&[clinical], None)));
    fields.push(("verificationStatus", concept(&[verified], None)));
    fields.push(("category", J::Arr(vec![concept(&[category], None)])));
    fields.push(("code", concept(&[c.code], Some(c.text))));
    fields.push((
        "onsetDateTime",
        J::Str(date_text(condition_onset_day(seed, r))),
    ));
    if let Some(t) = condition_abatement(r) {
        fields.push(("abatementDateTime", instant(t)));
    }
    fields.push(("recordedDate", instant(r.time)));
}

fn medication_fields(r: &Imported, fields: &mut Vec<(&'static str, J)>) {
    let m = medication(r);
    fields.push(("status", J::S(medication_status(r))));
    fields.push(("intent", J::S("order")));
    // R5: a CodeableReference, the R4 `medicationCodeableConcept` nested under `concept`.
    fields.push((
        "medication",
        obj(vec![("concept", concept(&[m.code], Some(m.text)))]),
    ));
    fields.push(("authoredOn", instant(r.time)));
    fields.push((
        "dosageInstruction",
        J::Arr(vec![obj(vec![("text", J::S(m.dosage))])]),
    ));
    fields.push((
        "reason",
        J::Arr(vec![obj(vec![(
            "concept",
            concept(&[m.reason], Some(m.reason.display)),
        )])]),
    ));
}

fn encounter_fields(seed: u64, r: &Imported, fields: &mut Vec<(&'static str, J)>) {
    let e = encounter(r);
    fields.push((
        "identifier",
        J::Arr(vec![obj(vec![
            ("use", J::S("usual")),
            ("system", J::S(ENCOUNTER_IDENTIFIER)),
            ("value", J::Str(encounter_csn(seed, r))),
        ])]),
    ));
    fields.push(("status", J::S("completed"))); // R4 `finished`, as the status map turns it
    fields.push(("class", J::Arr(vec![concept(&[e.class], None)])));
    fields.push(("type", J::Arr(vec![concept(&[e.kind], Some(e.text))])));
    // The R4 -> R5 map (StructureMap Encounter4to5) moves `period` to `actualPeriod`.
    fields.push((
        "actualPeriod",
        obj(vec![
            ("start", instant(r.time)),
            ("end", instant(r.time + e.minutes * 60)),
        ]),
    ));
}
