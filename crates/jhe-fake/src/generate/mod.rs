//! The generator: the fake's data, decided once from the seed before anything is served.
//! In: patients, days, seed and the data-quality options. Out: a [`world::World`] (the
//! practitioner, organizations, studies, data sources, patients), the observations as
//! compact [`obs::Obs`] records in id order, and their OMH payloads rendered on demand
//! ([`omh`]).
//!
//! Modules, lowest first; each uses only the ones before it: `catalog` (the codes), `time`
//! (formatting and parsing timestamps), `json` (the payload writer), `problems` (the record
//! of the injected data-quality problems), `world`, `damage`
//! (how a payload is broken), `obs` (the stored record), `body` and `omh` (payloads),
//! `patient`, `day` and `observations` (generation), `inject` (the data-quality problems of
//! `quality_problems`: readings left out, values and times changed, copies), `quality`
//! (which observations are
//! damaged or repeat a uuid), `change` (an observation's next version, and new ones
//! modelled on stored ones, for changes over time); `ehr_codes` and `imported` (the
//! EHR-imported records: their clinical catalogue, and the compact records, UUIDs and
//! FhirSources).

pub(crate) mod catalog;
pub(crate) mod time;
pub(crate) mod json;
pub(crate) mod problems;
pub(crate) mod world;
pub(crate) mod damage;
pub(crate) mod obs;
pub(crate) mod body;
pub(crate) mod omh;
pub(crate) mod patient;
pub(crate) mod day;
pub(crate) mod observations;
pub(crate) mod inject;
pub(crate) mod quality;
pub(crate) mod change;
pub(crate) mod ehr_codes;
pub(crate) mod imported;
