//! A patient's generator: its own RNG stream (seeded from the seed and the patient id, so
//! the data for a patient does not depend on how many other patients there are), its
//! physiology and habits ([`Profile`]), and the push that keeps an observation inside the
//! window. In: a patient of the world; out: observations appended to a vector.

use rand::RngExt;
use rand_pcg::Pcg64;

use super::catalog::Code;
use super::obs::{Frame, Obs};
use super::time::MICROS_PER_SEC;
use super::world::Patient;

pub(super) const HOUR: i64 = 3600;
pub(super) const MINUTE: i64 = 60;

/// A patient's physiology and habits.
pub(super) struct Profile {
    pub(super) glucose_base: f32,
    pub(super) meal_rise: f32,
    pub(super) systolic: f32,
    pub(super) diastolic: f32,
    pub(super) resting_hr: f32,
    pub(super) temperature_c: f32,
    pub(super) spo2: f32,
    pub(super) respiration: f32,
    pub(super) weight_kg: f32,
    pub(super) fvc: f32,
    pub(super) fev1_ratio: f32,
    pub(super) steps: f32,
    pub(super) cgm_phase: i64,
}

pub(super) struct Gen<'a> {
    pub(super) rng: Pcg64,
    pub(super) patient: u32,
    pub(super) p: &'a Patient,
    pub(super) window_start: i64,
    pub(super) anchor: i64,
    pub(super) out: &'a mut Vec<Obs>,
}

impl Gen<'_> {
    pub(super) fn r(&mut self, lo: f32, hi: f32) -> f32 {
        self.rng.random_range(lo..hi)
    }

    pub(super) fn secs(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.random_range(lo..hi)
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// Roughly normal noise (sum of uniforms; `rand_distr` is not needed for this).
    pub(super) fn noise(&mut self, sd: f32) -> f32 {
        let s: f32 = (0..4).map(|_| self.rng.random_range(-1.0f32..1.0)).sum();
        s * sd * 0.866
    }

    /// Keep an observation when its effective time lies inside the window.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push(
        &mut self,
        code: Code,
        frame: Frame,
        start: i64,
        span: i64,
        value: f32,
        value2: f32,
        variant: u8,
        uploaded: i64,
    ) -> bool {
        if start < self.window_start || start + span > self.anchor {
            return false;
        }
        let micros = self.rng.random_range(0..MICROS_PER_SEC);
        self.out.push(Obs {
            last_updated_us: uploaded * MICROS_PER_SEC + micros,
            start,
            span: span as u32,
            patient: self.patient,
            value,
            value2,
            code,
            frame,
            variant,
            has_identifier: false,
            damage: None,
            uuid_back: 0,
            deleted: false,
        });
        true
    }

    /// Give the observation just pushed an FHIR `identifier` (device record id).
    pub(super) fn mark_identifier(&mut self) {
        if let Some(o) = self.out.last_mut() {
            o.has_identifier = true;
        }
    }
}

pub(super) fn profile(g: &mut Gen) -> Profile {
    Profile {
        glucose_base: g.r(85.0, 145.0),
        meal_rise: g.r(30.0, 85.0),
        systolic: g.r(108.0, 148.0),
        diastolic: g.r(66.0, 90.0),
        resting_hr: g.r(56.0, 82.0),
        temperature_c: g.r(36.5, 36.9),
        spo2: g.r(95.0, 98.5),
        respiration: g.r(12.0, 17.0),
        weight_kg: g.r(55.0, 110.0),
        fvc: g.r(3.0, 5.2),
        fev1_ratio: g.r(0.72, 0.85),
        steps: g.r(3_000.0, 12_000.0),
        cgm_phase: g.secs(0, 900),
    }
}
