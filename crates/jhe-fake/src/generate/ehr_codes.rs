//! The clinical catalogue of the EHR-imported records: what an EHR's FHIR API (Epic's
//! patient-access pull, converted R4 -> R5 by the Exchange) hands over. Plain static data:
//! Observation templates (LOINC codes, value forms, reference ranges, times), conditions
//! (SNOMED), medications (RxNorm) and encounter kinds.

pub(crate) const LOINC: &str = "http://loinc.org";
pub(crate) const SNOMED: &str = "http://snomed.info/sct";
pub(crate) const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub(crate) const UCUM: &str = "http://unitsofmeasure.org";
pub(crate) const OBSERVATION_CATEGORY: &str =
    "http://terminology.hl7.org/CodeSystem/observation-category";
pub(crate) const INTERPRETATION: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
pub(crate) const CONDITION_CLINICAL: &str =
    "http://terminology.hl7.org/CodeSystem/condition-clinical";
pub(crate) const CONDITION_VERIFICATION: &str =
    "http://terminology.hl7.org/CodeSystem/condition-ver-status";
pub(crate) const CONDITION_CATEGORY: &str =
    "http://terminology.hl7.org/CodeSystem/condition-category";
pub(crate) const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// The EHR's own lab code system (an Epic-style OID), carried beside LOINC on one template.
pub(crate) const LOCAL_LAB: &str = "urn:oid:1.2.840.114350.1.13.861.1.7.2.768282";
/// The EHR's encounter identifiers (Epic-style CSNs).
pub(crate) const ENCOUNTER_IDENTIFIER: &str = "urn:oid:1.2.840.114350.1.13.861.1.7.3.698084.8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Coding {
    pub system: &'static str,
    pub code: &'static str,
    pub display: &'static str,
}

const fn coding(system: &'static str, code: &'static str, display: &'static str) -> Coding {
    Coding {
        system,
        code,
        display,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Category {
    Laboratory,
    VitalSigns,
}

impl Category {
    pub fn coding(self) -> Coding {
        match self {
            Category::Laboratory => coding(OBSERVATION_CATEGORY, "laboratory", "Laboratory"),
            Category::VitalSigns => coding(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs"),
        }
    }
}

/// Which effective time an Observation carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timing {
    DateTime,
    /// `effectivePeriod` of this many minutes from the record's time.
    Period {
        minutes: i64,
    },
    /// No effective time at all, only `issued` (the EHR dropped the collection time).
    IssuedOnly,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ObsValue {
    /// `valueQuantity` drawn from `low..high`, written with `decimals` digits (0: an
    /// integer). `ucum`: the UCUM code (with the UCUM system), or none at all, as some
    /// EHRs send only `unit`. `range`: the reference range, which also sets the
    /// interpretation (H, L or N).
    Quantity {
        unit: &'static str,
        ucum: Option<&'static str>,
        low: f64,
        high: f64,
        decimals: u32,
        range: Option<(f64, f64)>,
    },
    /// No top-level value: systolic and diastolic `component[]`s in mm[Hg].
    BloodPressure,
    /// `valueCodeableConcept`: one of these codings, its display as the text.
    Concept(&'static [Coding]),
    /// `valueString`: one of these.
    Text(&'static [&'static str]),
    Boolean,
    Integer {
        low: i64,
        high: i64,
    },
    /// `valuePeriod` of about this many hours, ending at the record's time.
    Period {
        hours: i64,
    },
}

pub(crate) struct ObsTemplate {
    pub loinc: &'static str,
    pub display: &'static str,
    pub text: &'static str,
    /// A second coding in the EHR's own system, as Epic sends beside LOINC.
    pub local: Option<Coding>,
    pub category: Category,
    pub status: &'static str,
    pub timing: Timing,
    pub value: ObsValue,
}

pub(crate) const SYSTOLIC: Coding = coding(LOINC, "8480-6", "Systolic blood pressure");
pub(crate) const DIASTOLIC: Coding = coding(LOINC, "8462-4", "Diastolic blood pressure");

const SMOKING: [Coding; 3] = [
    coding(SNOMED, "266919005", "Never smoked tobacco"),
    coding(SNOMED, "8517006", "Ex-smoker"),
    coding(SNOMED, "77176002", "Smoker"),
];

const fn quantity(
    unit: &'static str,
    ucum: Option<&'static str>,
    (low, high): (f64, f64),
    decimals: u32,
    range: Option<(f64, f64)>,
) -> ObsValue {
    ObsValue::Quantity {
        unit,
        ucum,
        low,
        high,
        decimals,
        range,
    }
}

/// Index into [`OBSERVATIONS`] of the templates repeated monthly in longer worlds.
pub(crate) const GLUCOSE: u8 = 2;
pub(crate) const BLOOD_PRESSURE: u8 = 6;

/// Every patient has one Observation of each, in this order (so every form occurs for every
/// patient); longer worlds add [`GLUCOSE`] and [`BLOOD_PRESSURE`] readings each month.
pub(crate) const OBSERVATIONS: [ObsTemplate; 15] = [
    ObsTemplate {
        loinc: "4548-4",
        display: "Hemoglobin A1c/Hemoglobin.total in Blood",
        text: "Hemoglobin A1c",
        local: None,
        category: Category::Laboratory,
        status: "final",
        timing: Timing::DateTime,
        value: quantity("%", Some("%"), (4.8, 5.6), 1, Some((4.0, 5.6))),
    },
    ObsTemplate {
        loinc: "4548-4",
        display: "Hemoglobin A1c/Hemoglobin.total in Blood",
        text: "Hemoglobin A1c",
        local: None,
        category: Category::Laboratory,
        status: "final",
        timing: Timing::IssuedOnly,
        value: quantity("%", Some("%"), (6.5, 8.9), 1, Some((4.0, 5.6))),
    },
    ObsTemplate {
        loinc: "2345-7",
        display: "Glucose [Mass/volume] in Serum or Plasma",
        text: "Glucose",
        local: Some(coding(LOCAL_LAB, "GLU", "GLUCOSE")),
        category: Category::Laboratory,
        status: "final",
        timing: Timing::DateTime,
        value: quantity("mg/dL", Some("mg/dL"), (72.0, 160.0), 0, Some((70.0, 99.0))),
    },
    ObsTemplate {
        loinc: "2339-0",
        display: "Glucose [Mass/volume] in Blood",
        text: "Glucose, blood",
        local: None,
        category: Category::Laboratory,
        status: "amended",
        timing: Timing::Period { minutes: 120 },
        value: quantity("mg/dL", Some("mg/dL"), (70.0, 140.0), 0, None),
    },
    ObsTemplate {
        loinc: "8867-4",
        display: "Heart rate",
        text: "Pulse",
        local: None,
        category: Category::VitalSigns,
        status: "final",
        timing: Timing::DateTime,
        value: quantity("beats/minute", Some("/min"), (55.0, 95.0), 0, None),
    },
    // As in the Exchange's import test: a unit and no UCUM system or code.
    ObsTemplate {
        loinc: "8867-4",
        display: "Heart rate",
        text: "Pulse",
        local: None,
        category: Category::VitalSigns,
        status: "final",
        timing: Timing::DateTime,
        value: quantity("beats/min", None, (55.0, 95.0), 0, None),
    },
    ObsTemplate {
        loinc: "85354-9",
        display: "Blood pressure panel with all children optional",
        text: "Blood pressure",
        local: None,
        category: Category::VitalSigns,
        status: "final",
        timing: Timing::DateTime,
        value: ObsValue::BloodPressure,
    },
    ObsTemplate {
        loinc: "29463-7",
        display: "Body weight",
        text: "Weight",
        local: None,
        category: Category::VitalSigns,
        status: "final",
        timing: Timing::DateTime,
        value: quantity("kg", Some("kg"), (55.0, 110.0), 1, None),
    },
    ObsTemplate {
        loinc: "29463-7",
        display: "Body weight",
        text: "Weight",
        local: None,
        category: Category::VitalSigns,
        status: "final",
        timing: Timing::DateTime,
        value: quantity("lb", Some("[lb_av]"), (120.0, 240.0), 1, None),
    },
    ObsTemplate {
        loinc: "2160-0",
        display: "Creatinine [Mass/volume] in Serum or Plasma",
        text: "Creatinine",
        local: None,
        category: Category::Laboratory,
        status: "preliminary",
        timing: Timing::DateTime,
        value: quantity("mg/dL", Some("mg/dL"), (0.6, 1.5), 2, Some((0.6, 1.3))),
    },
    ObsTemplate {
        loinc: "72166-2",
        display: "Tobacco smoking status",
        text: "Smoking status",
        local: None,
        category: Category::VitalSigns,
        status: "final",
        timing: Timing::DateTime,
        value: ObsValue::Concept(&SMOKING),
    },
    ObsTemplate {
        loinc: "5778-6",
        display: "Color of Urine",
        text: "Urine color",
        local: None,
        category: Category::Laboratory,
        status: "final",
        timing: Timing::DateTime,
        value: ObsValue::Text(&["Yellow", "Straw", "Amber"]),
    },
    ObsTemplate {
        loinc: "49541-6",
        display: "Fasting status - Reported",
        text: "Fasting",
        local: None,
        category: Category::Laboratory,
        status: "final",
        timing: Timing::DateTime,
        value: ObsValue::Boolean,
    },
    ObsTemplate {
        loinc: "72514-3",
        display: "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        text: "Pain score",
        local: None,
        category: Category::VitalSigns,
        status: "final",
        timing: Timing::DateTime,
        value: ObsValue::Integer { low: 0, high: 6 },
    },
    ObsTemplate {
        loinc: "93832-4",
        display: "Sleep duration",
        text: "Sleep",
        local: None,
        category: Category::VitalSigns,
        status: "final",
        timing: Timing::DateTime,
        value: ObsValue::Period { hours: 7 },
    },
];

pub(crate) struct ConditionTemplate {
    pub code: Coding,
    pub text: &'static str,
}

pub(crate) const CONDITIONS: [ConditionTemplate; 6] = [
    ConditionTemplate {
        code: coding(SNOMED, "44054006", "Diabetes mellitus type 2"),
        text: "Type 2 diabetes",
    },
    ConditionTemplate {
        code: coding(
            SNOMED,
            "38341003",
            "Hypertensive disorder, systemic arterial",
        ),
        text: "Hypertension",
    },
    ConditionTemplate {
        code: coding(SNOMED, "195967001", "Asthma"),
        text: "Asthma",
    },
    ConditionTemplate {
        code: coding(SNOMED, "55822004", "Hyperlipidemia"),
        text: "High cholesterol",
    },
    ConditionTemplate {
        code: coding(SNOMED, "414916001", "Obesity"),
        text: "Obesity",
    },
    ConditionTemplate {
        code: coding(SNOMED, "73430006", "Sleep apnea"),
        text: "Sleep apnea",
    },
];

pub(crate) struct MedicationTemplate {
    pub code: Coding,
    pub text: &'static str,
    pub dosage: &'static str,
    /// Why it is prescribed (`reason[].concept`).
    pub reason: Coding,
}

pub(crate) const MEDICATIONS: [MedicationTemplate; 5] = [
    MedicationTemplate {
        code: coding(
            RXNORM,
            "860975",
            "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
        ),
        text: "metformin ER 500 mg tablet",
        dosage: "Take 1 tablet by mouth daily with the evening meal",
        reason: coding(SNOMED, "44054006", "Diabetes mellitus type 2"),
    },
    MedicationTemplate {
        code: coding(RXNORM, "314076", "lisinopril 10 MG Oral Tablet"),
        text: "lisinopril 10 mg tablet",
        dosage: "Take 1 tablet by mouth daily",
        reason: coding(
            SNOMED,
            "38341003",
            "Hypertensive disorder, systemic arterial",
        ),
    },
    MedicationTemplate {
        code: coding(RXNORM, "617310", "atorvastatin 20 MG Oral Tablet"),
        text: "atorvastatin 20 mg tablet",
        dosage: "Take 1 tablet by mouth at bedtime",
        reason: coding(SNOMED, "55822004", "Hyperlipidemia"),
    },
    MedicationTemplate {
        code: coding(
            RXNORM,
            "745679",
            "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
        ),
        text: "albuterol HFA inhaler",
        dosage: "Inhale 2 puffs every 4 hours as needed for wheezing",
        reason: coding(SNOMED, "195967001", "Asthma"),
    },
    MedicationTemplate {
        code: coding(RXNORM, "197361", "amlodipine 5 MG Oral Tablet"),
        text: "amlodipine 5 mg tablet",
        dosage: "Take 1 tablet by mouth daily",
        reason: coding(
            SNOMED,
            "38341003",
            "Hypertensive disorder, systemic arterial",
        ),
    },
];

pub(crate) struct EncounterTemplate {
    pub class: Coding,
    pub kind: Coding,
    pub text: &'static str,
    pub minutes: i64,
}

/// A patient's first encounter is an office visit, its second a telephone visit.
pub(crate) const ENCOUNTERS: [EncounterTemplate; 2] = [
    EncounterTemplate {
        class: coding(ACT_CODE, "AMB", "ambulatory"),
        kind: coding(SNOMED, "185349003", "Encounter for check up"),
        text: "Office Visit",
        minutes: 30,
    },
    EncounterTemplate {
        class: coding(ACT_CODE, "VR", "virtual"),
        kind: coding(SNOMED, "185317003", "Telephone encounter"),
        text: "Telephone Visit",
        minutes: 15,
    },
];
