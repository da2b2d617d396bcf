//! Everything but the observations: the token's practitioner, organizations, studies,
//! data sources and patients. Built deterministically from the seed.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::catalog::{Code, mask_of};
use super::problems::{self, Problems};
use super::time::{MICROS_PER_SEC, Offset, SECS_PER_DAY, days_from_civil, push_date, unix};

pub(crate) const FIRST_USER_ID: i64 = 10001;
pub(crate) const FIRST_PATIENT_ID: i64 = 40001;
pub(crate) const FIRST_OBSERVATION_ID: i64 = 60001;

pub(crate) const INSTITUTE_ID: i64 = 20001;
pub(crate) const LAB_ID: i64 = 20002;
pub(crate) const HIDDEN_ORG_ID: i64 = 20003;
pub(crate) const MAIN_STUDY_ID: i64 = 30001;
pub(crate) const BP_STUDY_ID: i64 = 30002;
pub(crate) const HIDDEN_STUDY_ID: i64 = 30003;

pub(crate) const DEXCOM_ID: i64 = 70001;
pub(crate) const OURA_ID: i64 = 70002;
pub(crate) const IHEALTH_ID: i64 = 70003;
pub(crate) const SPIROMETER_ID: i64 = 70004;
pub(crate) const FOOD_APP_ID: i64 = 70005;
/// Reports [`Code::AmbientSound`]; exists only with `unknown_codes`.
pub(crate) const SOUNDSCAPE_ID: i64 = 70006;

/// Hidden patients: enrolled only in the hidden study, in the organization the user is
/// not a member of. Their observations must never be served.
pub(crate) const HIDDEN_PATIENTS: u32 = 2;

/// The fixed end of the generated data: never "now", so runs are reproducible.
pub(crate) fn anchor() -> i64 {
    unix(2026, 1, 1, 0, 0, 0)
}

/// SplitMix64: a cheap, well-mixed hash for per-observation values rendered on demand.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub(crate) fn mix2(a: u64, b: u64) -> u64 {
    mix(a ^ mix(b))
}

pub(crate) struct Practitioner {
    pub id: i64,
    pub email: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
    /// (organization id, role) for each organization the user belongs to.
    pub roles: Vec<(i64, &'static str)>,
    pub current_study_id: i64,
    pub current_organization_id: i64,
}

pub(crate) struct Organization {
    pub id: i64,
    pub name: &'static str,
    pub kind: &'static str,
    pub part_of: Option<i64>,
}

pub(crate) struct Study {
    pub id: i64,
    pub name: &'static str,
    pub description: &'static str,
    pub organization_id: i64,
    pub codes: Vec<Code>,
    pub code_mask: u32,
    pub data_source_ids: Vec<i64>,
}

pub(crate) struct DataSource {
    pub id: i64,
    pub name: &'static str,
    pub kind: &'static str,
    pub codes: Vec<Code>,
}

pub(crate) struct Identifier {
    pub id: i64,
    pub system: &'static str,
    pub value: String,
}

/// Units a patient's devices report in, to exercise unit handling.
#[derive(Clone, Copy)]
pub(crate) struct Units {
    pub glucose_mmol: bool,
    pub temperature_f: bool,
    pub weight_lb: bool,
}

pub(crate) struct Patient {
    pub id: i64,
    pub jhe_user_id: i64,
    pub name_family: String,
    pub name_given: String,
    pub birth_date: String,
    pub phone: String,
    pub email: String,
    pub identifiers: Vec<Identifier>,
    pub organization_ids: Vec<i64>,
    /// Studies the patient is enrolled in (consented or not).
    pub study_ids: Vec<i64>,
    /// Enrolled studies whose consent is still pending.
    pub pending_study_ids: Vec<i64>,
    /// Codes (bit mask) the patient declined in every study it consented to: its scope
    /// consents say `consented: false`, and it has no observations of them.
    pub refused_mask: u32,
    pub consented_us: i64,
    pub last_updated_us: i64,
    pub visible: bool,
    pub offset: Offset,
    pub units: Units,
    /// Whether the blood-pressure cuff reports `acquisition_provenance` (some do not).
    pub cuff_reports_provenance: bool,
}

impl Patient {
    pub fn in_study(&self, study_id: i64) -> bool {
        self.study_ids.contains(&study_id)
    }
}

pub(crate) struct World {
    pub seed: u64,
    /// Whether [`Code::AmbientSound`] is generated, requested by the main study and
    /// reported by its data source.
    pub unknown_codes: bool,
    pub anchor: i64,
    pub days: u32,
    pub token: String,
    pub user: Practitioner,
    pub organizations: Vec<Organization>,
    pub studies: Vec<Study>,
    pub data_sources: Vec<DataSource>,
    /// Index = id - FIRST_PATIENT_ID; visible patients first, hidden ones last.
    pub patients: Vec<Patient>,
    /// What `quality_problems` injected (set once the observations are generated).
    pub problems: Problems,
}

impl World {
    pub fn organization(&self, id: i64) -> Option<&Organization> {
        self.organizations.iter().find(|o| o.id == id)
    }

    pub fn role_in(&self, organization_id: i64) -> Option<&'static str> {
        self.user
            .roles
            .iter()
            .find(|(id, _)| *id == organization_id)
            .map(|(_, r)| *r)
    }

    pub fn is_member(&self, organization_id: i64) -> bool {
        self.role_in(organization_id).is_some()
    }

    pub fn study(&self, id: i64) -> Option<&Study> {
        self.studies.iter().find(|s| s.id == id)
    }

    /// A study is visible when it belongs to one of the user's organizations.
    pub fn visible_study(&self, id: i64) -> Option<&Study> {
        self.study(id).filter(|s| self.is_member(s.organization_id))
    }

    pub fn data_source(&self, id: i64) -> Option<&DataSource> {
        self.data_sources.iter().find(|d| d.id == id)
    }

    pub fn patient_index(&self, id: i64) -> Option<usize> {
        let i = usize::try_from(id.checked_sub(FIRST_PATIENT_ID)?).ok()?;
        (i < self.patients.len()).then_some(i)
    }

    /// A patient the user may see (shares an organization with the user).
    pub fn visible_patient(&self, id: i64) -> Option<usize> {
        self.patient_index(id).filter(|&i| self.patients[i].visible)
    }

    /// The UTC offset a patient's device writes for a reading that starts at `start`:
    /// its home offset, unless it has travelled by then.
    pub fn offset_at(&self, patient: u32, start: i64) -> Offset {
        match self.problems.travel {
            Some(t) if t.patient == patient && start >= t.from => t.offset,
            _ => self.patients[patient as usize].offset,
        }
    }
}

const GIVEN: [&str; 24] = [
    "Zara", "Peter", "Pamela", "Amir", "Lucia", "Kenji", "Fatima", "Oliver", "Maya", "Diego",
    "Ingrid", "Kwame", "Sofia", "Ravi", "Elena", "Tomas", "Aisha", "Noah", "Mei", "Lars", "Nadia",
    "Jorge", "Chloe", "Ibrahim",
];
const FAMILY: [&str; 24] = [
    "Ali",
    "Phillips",
    "Miranda",
    "Nakamura",
    "Okafor",
    "Schmidt",
    "Garcia",
    "Novak",
    "Haddad",
    "Kowalski",
    "Johansson",
    "Mensah",
    "Rossi",
    "Iyer",
    "Petrov",
    "Silva",
    "Chen",
    "Dubois",
    "Larsen",
    "Mbeki",
    "Hughes",
    "Moreau",
    "Tanaka",
    "Quispe",
];
/// Home offsets (minutes); `None` is UTC written as `Z`.
const OFFSETS: [Option<i32>; 6] = [Some(-420), Some(-300), None, Some(0), Some(60), Some(330)];

/// The organizations, studies and data sources are fixed (but for `unknown_codes`, which
/// adds [`Code::AmbientSound`] to the main study and its data source); patients vary with
/// the seed.
pub(crate) fn build(patients: u32, days: u32, seed: u64, unknown_codes: bool, quality_problems: bool) -> World {
    let mut rng = Pcg64::seed_from_u64(mix2(seed, 0x5EED_0001));
    let token: String = (0..30)
        .map(|_| {
            const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            ALNUM[rng.random_range(0..ALNUM.len())] as char
        })
        .collect();
    let anchor = anchor();
    let mut patients = patient_list(&mut rng, patients, days, anchor);
    if quality_problems {
        problem_enrollment(&mut patients);
    }
    World {
        seed,
        unknown_codes,
        anchor,
        days,
        token,
        user: practitioner(),
        organizations: organizations(),
        studies: studies(unknown_codes),
        data_sources: data_sources(unknown_codes),
        patients,
        problems: Problems::default(),
    }
}

/// `quality_problems`' consents, after every draw so that the other patients stay as
/// they are: one patient enrolled in the main study alone with consent pending, one that
/// consented to the main study alone except [`problems::REFUSED`]; glucose in mg/dL for the
/// two whose glucose values are injected (so the values are exact), and a birth date after
/// 1970 for the one whose clock resets.
fn problem_enrollment(patients: &mut [Patient]) {
    for (index, pending) in [(problems::PENDING_PATIENT, true), (problems::REFUSING_PATIENT, false)] {
        let p = &mut patients[index as usize];
        p.organization_ids = vec![INSTITUTE_ID];
        p.study_ids = vec![MAIN_STUDY_ID];
        p.pending_study_ids = if pending { vec![MAIN_STUDY_ID] } else { vec![] };
    }
    patients[problems::REFUSING_PATIENT as usize].refused_mask = mask_of(&problems::REFUSED);
    for index in [problems::PATIENT_3, problems::PATIENT_5] {
        patients[index as usize].units.glucose_mmol = false;
    }
    patients[problems::PATIENT_4 as usize].birth_date = problems::PATIENT_4_BIRTH_DATE.to_string();
}

fn practitioner() -> Practitioner {
    Practitioner {
        id: FIRST_USER_ID,
        email: "pi_paula@example.com",
        first_name: "PaulaPI",
        last_name: "Investigator",
        roles: vec![(INSTITUTE_ID, "manager"), (LAB_ID, "member")],
        current_study_id: MAIN_STUDY_ID,
        current_organization_id: INSTITUTE_ID,
    }
}

fn organizations() -> Vec<Organization> {
    vec![
        Organization {
            id: INSTITUTE_ID,
            name: "Planetary Research Institute",
            kind: "edu",
            part_of: None,
        },
        Organization {
            id: LAB_ID,
            name: "Cosmic Cardio Lab",
            kind: "laboratory",
            part_of: Some(INSTITUTE_ID),
        },
        Organization {
            id: HIDDEN_ORG_ID,
            name: "Restricted Sleep Clinic",
            kind: "prov",
            part_of: None,
        },
    ]
}

/// The data sources; the unknown code's only with `unknown_codes`.
fn data_sources(unknown_codes: bool) -> Vec<DataSource> {
    let mut data_sources = vec![
        DataSource {
            id: DEXCOM_ID,
            name: "Dexcom",
            kind: "personal_device",
            codes: vec![Code::BloodGlucose],
        },
        DataSource {
            id: OURA_ID,
            name: "Oura",
            kind: "personal_device",
            codes: vec![
                Code::HeartRate,
                Code::OxygenSaturation,
                Code::RespiratoryRate,
                Code::RrInterval,
                Code::PhysicalActivity,
                Code::StepCount,
                Code::SleepEpisode,
                Code::SleepDuration,
                Code::SleepStageSummary,
            ],
        },
        DataSource {
            id: IHEALTH_ID,
            name: "iHealth",
            kind: "personal_device",
            codes: vec![
                Code::BloodPressure,
                Code::HeartRate,
                Code::BodyTemperature,
                Code::BodyWeight,
            ],
        },
        DataSource {
            id: SPIROMETER_ID,
            name: "SpiroHome",
            kind: "medical_device",
            codes: vec![
                Code::ForcedVitalCapacity,
                Code::ForcedExpiratoryVolume1Second,
            ],
        },
        DataSource {
            id: FOOD_APP_ID,
            name: "Food Diary",
            kind: "patient_app",
            codes: vec![Code::FoodEntry],
        },
    ];
    if unknown_codes {
        data_sources.push(DataSource {
            id: SOUNDSCAPE_ID,
            name: "Soundscape",
            kind: "personal_device",
            codes: vec![Code::AmbientSound],
        });
    }
    data_sources
}

/// The main study requests every code (the unknown one too with `unknown_codes`), the BP
/// study two, the hidden study the sleep codes.
fn studies(unknown_codes: bool) -> Vec<Study> {
    let mut all = Code::STANDARD.to_vec();
    let mut main_sources = vec![DEXCOM_ID, OURA_ID, IHEALTH_ID, SPIROMETER_ID, FOOD_APP_ID];
    if unknown_codes {
        all.push(Code::AmbientSound);
        main_sources.push(SOUNDSCAPE_ID);
    }
    let bp = vec![Code::BloodPressure, Code::HeartRate];
    let sleep = vec![
        Code::HeartRate,
        Code::SleepEpisode,
        Code::SleepDuration,
        Code::SleepStageSummary,
        Code::OxygenSaturation,
    ];
    vec![
        Study {
            id: MAIN_STUDY_ID,
            name: "CGM & Wearables Study",
            description: "Continuous glucose monitoring with wearables, vitals, spirometry and food diary.",
            organization_id: INSTITUTE_ID,
            code_mask: mask_of(&all),
            codes: all,
            data_source_ids: main_sources,
        },
        Study {
            id: BP_STUDY_ID,
            name: "BP & Heart Rate Study",
            description: "Blood pressure and heart rate at home.",
            organization_id: LAB_ID,
            code_mask: mask_of(&bp),
            codes: bp,
            data_source_ids: vec![IHEALTH_ID],
        },
        Study {
            id: HIDDEN_STUDY_ID,
            name: "Restricted Sleep Study",
            description: "Sleep and overnight vitals (not shared with the Institute).",
            organization_id: HIDDEN_ORG_ID,
            code_mask: mask_of(&sleep),
            codes: sleep,
            data_source_ids: vec![OURA_ID],
        },
    ]
}

/// The visible patients, then [`HIDDEN_PATIENTS`] hidden ones, drawn from `rng` in id order.
fn patient_list(rng: &mut Pcg64, patients: u32, days: u32, anchor: i64) -> Vec<Patient> {
    // Patients joined before the data window starts; their records were last touched then.
    let joined = (anchor - (days as i64 + 3) * SECS_PER_DAY) * MICROS_PER_SEC;
    let mut identifiers = Identifiers::default();
    let total = patients + HIDDEN_PATIENTS;
    let mut list = Vec::with_capacity(total as usize);
    for i in 0..total {
        list.push(patient(rng, i, i < patients, joined, &mut identifiers));
    }
    list
}

/// Identifier ids and medical record numbers handed out so far (both unique).
#[derive(Default)]
struct Identifiers {
    last_id: i64,
    mrns: std::collections::BTreeSet<u32>,
}

fn patient(rng: &mut Pcg64, i: u32, visible: bool, joined: i64, ids: &mut Identifiers) -> Patient {
    let id = FIRST_PATIENT_ID + i as i64;
    let given = GIVEN[rng.random_range(0..GIVEN.len())];
    let family = FAMILY[rng.random_range(0..FAMILY.len())];
    let year = rng.random_range(1945..2004i64);
    let birth_day = days_from_civil(year, rng.random_range(1..=12), rng.random_range(1..=28));
    let mut birth_date = String::new();
    push_date(&mut birth_date, birth_day);
    let phone = format!(
        "+1-{}-{}-{:04}",
        rng.random_range(201..990),
        rng.random_range(200..990),
        rng.random_range(0..10_000)
    );
    let email = format!(
        "{}.{}{}@example.com",
        given.to_lowercase(),
        family.to_lowercase(),
        i + 1
    );
    let identifiers = identifiers(rng, id, ids);
    let (organization_ids, study_ids, pending) = enrollment(rng, i, visible);
    let offset = match OFFSETS[rng.random_range(0..OFFSETS.len())] {
        None => Offset::Zulu,
        Some(m) => Offset::Minutes(m),
    };
    let units = Units {
        glucose_mmol: rng.random_range(0..4) == 0,
        temperature_f: rng.random_range(0..3) == 0,
        weight_lb: rng.random_range(0..3) == 0,
    };
    Patient {
        id,
        jhe_user_id: FIRST_USER_ID + 2 + i as i64,
        name_family: family.to_string(),
        name_given: given.to_string(),
        birth_date,
        phone,
        email,
        identifiers,
        organization_ids,
        pending_study_ids: if pending { vec![BP_STUDY_ID] } else { vec![] },
        refused_mask: 0,
        study_ids,
        consented_us: joined + i as i64 * 7_919_113,
        last_updated_us: joined + i as i64 * 7_919_113 + 482_907,
        visible,
        offset,
        units,
        cuff_reports_provenance: rng.random_bool(0.5),
    }
}

/// About one patient in five has no identifiers at all.
fn identifiers(rng: &mut Pcg64, id: i64, ids: &mut Identifiers) -> Vec<Identifier> {
    let mut identifiers = Vec::new();
    if rng.random_range(0..5) != 0 {
        let mrn = loop {
            let n = rng.random_range(100_000..1_000_000u32);
            if ids.mrns.insert(n) {
                break n;
            }
        };
        ids.last_id += 1;
        identifiers.push(Identifier {
            id: ids.last_id,
            system: "https://example.org/mrn",
            value: format!("MRN-{mrn}"),
        });
        if rng.random_bool(0.4) {
            ids.last_id += 1;
            identifiers.push(Identifier {
                id: ids.last_id,
                system: "urn:oid:1.2.3.4",
                value: format!("E{}", id),
            });
        }
    }
    identifiers
}

/// (organizations, studies, consent pending for the BP study).
fn enrollment(rng: &mut Pcg64, i: u32, visible: bool) -> (Vec<i64>, Vec<i64>, bool) {
    if visible {
        // About half join the BP study; one in five of those has not consented yet.
        let in_bp = rng.random_bool(0.5) || (i == 0);
        let pending = in_bp && i != 0 && rng.random_range(0..5) == 0;
        if in_bp {
            (
                vec![INSTITUTE_ID, LAB_ID],
                vec![MAIN_STUDY_ID, BP_STUDY_ID],
                pending,
            )
        } else {
            (vec![INSTITUTE_ID], vec![MAIN_STUDY_ID], false)
        }
    } else {
        (vec![HIDDEN_ORG_ID], vec![HIDDEN_STUDY_ID], false)
    }
}
