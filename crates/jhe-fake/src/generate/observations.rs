//! Observation generation: every code in the table, at realistic daily rates, in each
//! patient's local day, over `days` days ending at the fixed anchor.
//!
//! Each patient has its own RNG stream (seeded from the seed and the patient id), so the
//! data for a patient does not depend on how many other patients there are.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::catalog::Code;
use super::omh::{FOODS, SOUND_ENVIRONMENTS, WORKOUTS};
use super::store::{Frame, Obs};
use super::time::{MICROS_PER_SEC, SECS_PER_DAY};
use super::world::{Patient, World, mix2};

const HOUR: i64 = 3600;
const MINUTE: i64 = 60;

/// Roughly how many observations a patient produces per day (for capacity and limits).
pub(crate) const PER_PATIENT_DAY: u64 = 120;

/// A patient's physiology and habits.
struct Profile {
    glucose_base: f32,
    meal_rise: f32,
    systolic: f32,
    diastolic: f32,
    resting_hr: f32,
    temperature_c: f32,
    spo2: f32,
    respiration: f32,
    weight_kg: f32,
    fvc: f32,
    fev1_ratio: f32,
    steps: f32,
    cgm_phase: i64,
}

struct Gen<'a> {
    rng: Pcg64,
    patient: u32,
    p: &'a Patient,
    window_start: i64,
    anchor: i64,
    out: &'a mut Vec<Obs>,
}

impl Gen<'_> {
    fn r(&mut self, lo: f32, hi: f32) -> f32 {
        self.rng.random_range(lo..hi)
    }

    fn secs(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.random_range(lo..hi)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// Roughly normal noise (sum of uniforms; `rand_distr` is not needed for this).
    fn noise(&mut self, sd: f32) -> f32 {
        let s: f32 = (0..4).map(|_| self.rng.random_range(-1.0f32..1.0)).sum();
        s * sd * 0.866
    }

    /// Keep an observation when its effective time lies inside the window.
    #[allow(clippy::too_many_arguments)]
    fn push(
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
        });
        true
    }

    /// Give the observation just pushed an FHIR `identifier` (device record id).
    fn mark_identifier(&mut self) {
        if let Some(o) = self.out.last_mut() {
            o.has_identifier = true;
        }
    }
}

fn profile(g: &mut Gen) -> Profile {
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

pub(crate) fn observations(world: &World) -> Vec<Obs> {
    let window_start = world.anchor - world.days as i64 * SECS_PER_DAY;
    let estimate = world.patients.len() as u64 * world.days as u64 * PER_PATIENT_DAY;
    let mut out = Vec::with_capacity(estimate.min(1 << 28) as usize);
    for (i, p) in world.patients.iter().enumerate() {
        let mut g = Gen {
            rng: Pcg64::seed_from_u64(mix2(world.seed, p.id as u64)),
            patient: i as u32,
            p,
            window_start,
            anchor: world.anchor,
            out: &mut out,
        };
        patient_observations(&mut g);
        if world.unknown_codes {
            // Its own stream, so the other codes' data does not change.
            let mut g = Gen {
                rng: Pcg64::seed_from_u64(mix2(world.seed ^ 0xA3B1_E175, p.id as u64)),
                patient: i as u32,
                p,
                window_start,
                anchor: world.anchor,
                out: &mut out,
            };
            ambient_sound(&mut g);
        }
    }
    // Ids follow upload order; make last_updated strictly increasing so the default
    // order (-last_updated) is total and ids increase with it.
    out.sort_unstable_by_key(|o| (o.last_updated_us, o.patient, o.code, o.start));
    let mut previous = i64::MIN;
    for o in &mut out {
        if o.last_updated_us <= previous {
            o.last_updated_us = previous + 1;
        }
        previous = o.last_updated_us;
    }
    out
}

/// The unknown code: two to four sound-level readings a day, in the patient's waking hours.
fn ambient_sound(g: &mut Gen) {
    let offset = g.p.offset.seconds();
    let first_day = (g.window_start + offset).div_euclid(SECS_PER_DAY) - 1;
    let last_day = (g.anchor + offset).div_euclid(SECS_PER_DAY);
    for day in first_day..=last_day {
        let midnight = day * SECS_PER_DAY - offset;
        let readings = g.rng.random_range(2..=4);
        for _ in 0..readings {
            let when = midnight + g.secs(8 * HOUR, 22 * HOUR);
            let environment = g.rng.random_range(0..SOUND_ENVIRONMENTS.len());
            let level = (SOUND_ENVIRONMENTS[environment].2 + g.noise(4.0)).clamp(30.0, 95.0);
            let uploaded = when + g.secs(MINUTE, HOUR);
            g.push(
                Code::AmbientSound,
                Frame::Instant,
                when,
                0,
                level,
                0.0,
                environment as u8,
                uploaded,
            );
        }
    }
}

fn patient_observations(g: &mut Gen) {
    let pr = profile(g);
    let offset = g.p.offset.seconds();
    let units = g.p.units;
    let first_day = (g.window_start + offset).div_euclid(SECS_PER_DAY) - 1;
    let last_day = (g.anchor + offset).div_euclid(SECS_PER_DAY);
    let mut weight = pr.weight_kg;
    let mut glucose_noise = 0.0f32;
    for day in first_day..=last_day {
        // UTC instant of the patient's local midnight.
        let midnight = day * SECS_PER_DAY - offset;
        let at = |secs_of_day: i64| midnight + secs_of_day;

        // Last night's sleep, from the previous local evening to this morning.
        let onset = at(g.secs(-2 * HOUR, HOUR / 2));
        let sleep_span = g.secs(6 * HOUR, 8 * HOUR + 30 * MINUTE);
        let wake = onset + sleep_span;
        let efficiency = g.r(0.82, 0.93);
        let asleep = (sleep_span as f32 * efficiency).round();
        let latency = g
            .r(300.0, 1_800.0)
            .min((sleep_span as f32 - asleep) * 0.6)
            .round();
        let synced = wake + g.secs(10 * MINUTE, HOUR);
        for code in [
            Code::SleepEpisode,
            Code::SleepDuration,
            Code::SleepStageSummary,
        ] {
            g.push(
                code,
                Frame::StartEnd,
                onset,
                sleep_span,
                asleep,
                latency,
                0,
                synced,
            );
        }
        let night_hr = pr.resting_hr - 6.0 + g.noise(1.5);
        g.push(
            Code::HeartRate,
            Frame::StartEnd,
            onset,
            sleep_span,
            night_hr,
            0.0,
            0,
            synced,
        );
        let spo2 = (pr.spo2 + g.noise(0.8)).min(100.0);
        g.push(
            Code::OxygenSaturation,
            Frame::StartEnd,
            onset,
            sleep_span,
            spo2,
            0.0,
            0,
            synced,
        );
        let resp = pr.respiration + g.noise(0.7);
        g.push(
            Code::RespiratoryRate,
            Frame::StartEnd,
            onset,
            sleep_span,
            resp,
            0.0,
            0,
            synced,
        );

        // Meals (local seconds of day) drive glucose, food entries and meal relations.
        let breakfast = g.secs(7 * HOUR, 8 * HOUR + 30 * MINUTE);
        let lunch = g.secs(12 * HOUR, 13 * HOUR + 30 * MINUTE);
        let dinner = g.secs(18 * HOUR + 30 * MINUTE, 20 * HOUR);
        let snack = g
            .chance(0.3)
            .then(|| g.secs(15 * HOUR + 30 * MINUTE, 16 * HOUR + 30 * MINUTE));
        let mut meals = vec![(breakfast, 0u8, 1.0f32), (lunch, 1, 0.9), (dinner, 2, 1.0)];
        if let Some(s) = snack {
            meals.push((s, 3, 0.35));
        }
        for &(t, meal, size) in &meals {
            let food = g.rng.random_range(0..FOODS.len()) as u8;
            let grams = if meal == 3 {
                g.r(80.0, 200.0)
            } else {
                g.r(150.0, 450.0) * size
            };
            let logged = at(t) + g.secs(MINUTE, 2 * HOUR);
            g.push(
                Code::FoodEntry,
                Frame::Instant,
                at(t),
                0,
                grams.round(),
                0.0,
                food | (meal << 4),
                logged,
            );
        }

        // CGM every 15 minutes; the readings around meals carry a meal relation.
        let wake_local = wake - midnight;
        for k in 0..96i64 {
            let t = pr.cgm_phase + k * 15 * MINUTE;
            let mut level = pr.glucose_base;
            if (4 * HOUR..8 * HOUR).contains(&t) {
                level += 8.0; // dawn phenomenon
            }
            for &(m, _, size) in &meals {
                let dt = (t - m - 50 * MINUTE) as f32 / (35.0 * 60.0);
                level += pr.meal_rise * size * (-0.5 * dt * dt).exp();
            }
            glucose_noise = 0.8 * glucose_noise + g.noise(4.0);
            let value = (level + glucose_noise).clamp(70.0, 250.0).round();
            let near = |target: i64| (t - target).abs() < 450;
            let relation = if near(breakfast - 15 * MINUTE) {
                2 // before breakfast
            } else if near(breakfast + 2 * HOUR) {
                3
            } else if near(lunch - 15 * MINUTE) {
                4
            } else if near(lunch + 2 * HOUR) {
                5
            } else if near(dinner - 15 * MINUTE) {
                6
            } else if near(dinner + 2 * HOUR) {
                7
            } else if near(wake_local + 15 * MINUTE)
                && wake_local + 15 * MINUTE < breakfast - 30 * MINUTE
            {
                1 // fasting, just after waking
            } else {
                0
            };
            let uploaded = at(t) + g.secs(MINUTE, 5 * MINUTE);
            g.push(
                Code::BloodGlucose,
                Frame::Instant,
                at(t),
                0,
                value,
                0.0,
                relation,
                uploaded,
            );
        }

        // Blood pressure: every morning, some evenings.
        let bp = |g: &mut Gen, when: i64, drop: f32| {
            let sys = (pr.systolic - drop + g.noise(7.0))
                .clamp(90.0, 160.0)
                .round();
            let dia = (pr.diastolic - drop / 2.0 + g.noise(5.0))
                .clamp(60.0, 100.0)
                .min(sys - 25.0)
                .round();
            let posture = g.chance(0.6) as u8;
            let uploaded = when + g.secs(MINUTE, 30 * MINUTE);
            let kept = g.push(
                Code::BloodPressure,
                Frame::Instant,
                when,
                0,
                sys,
                dia,
                posture,
                uploaded,
            );
            if kept && g.p.cuff_reports_provenance {
                g.mark_identifier();
            }
        };
        if g.chance(0.9) {
            let when = wake + g.secs(20 * MINUTE, HOUR);
            bp(g, when, 0.0);
        }
        if g.chance(0.5) {
            let when = at(g.secs(20 * HOUR, 22 * HOUR));
            bp(g, when, 3.0);
        }

        // Spot heart rate through the day.
        for _ in 0..4 {
            let when = at(g.secs(8 * HOUR, 21 * HOUR));
            let hr = (pr.resting_hr + g.r(0.0, 30.0) + g.noise(3.0))
                .clamp(50.0, 120.0)
                .round();
            let at_rest = (hr < pr.resting_hr + 8.0) as u8;
            let uploaded = when + g.secs(MINUTE, 30 * MINUTE);
            g.push(
                Code::HeartRate,
                Frame::Instant,
                when,
                0,
                hr,
                0.0,
                at_rest,
                uploaded,
            );
        }

        // Temperature on waking.
        let when = wake + g.secs(5 * MINUTE, 30 * MINUTE);
        let c = pr.temperature_c + g.noise(0.2);
        let value = if units.temperature_f {
            c * 9.0 / 5.0 + 32.0
        } else {
            c
        };
        let variant = (g.chance(0.3) as u8) | ((g.chance(0.7) as u8) << 1);
        let uploaded = when + g.secs(MINUTE, 30 * MINUTE);
        if g.push(
            Code::BodyTemperature,
            Frame::Instant,
            when,
            0,
            value,
            0.0,
            variant,
            uploaded,
        ) {
            g.mark_identifier();
        }

        // Five-minute RR-interval recordings, morning and evening (start + duration).
        for start in [
            wake + g.secs(10 * MINUTE, 40 * MINUTE),
            at(g.secs(21 * HOUR, 22 * HOUR)),
        ] {
            let rr = 60_000.0 / (pr.resting_hr + g.noise(3.0)) + g.noise(25.0);
            let uploaded = start + 5 * MINUTE + g.secs(MINUTE, 30 * MINUTE);
            g.push(
                Code::RrInterval,
                Frame::StartDuration,
                start,
                5 * MINUTE,
                rr.round(),
                0.0,
                0,
                uploaded,
            );
        }

        // Morning weight, most days; some typed in by hand.
        weight += g.noise(0.15);
        if g.chance(0.85) {
            let when = wake + g.secs(15 * MINUTE, 45 * MINUTE);
            let value = if units.weight_lb {
                weight * 2.204_62
            } else {
                weight
            };
            let self_reported = g.chance(0.2) as u8;
            let uploaded = when + g.secs(MINUTE, 2 * HOUR);
            g.push(
                Code::BodyWeight,
                Frame::Instant,
                when,
                0,
                value,
                0.0,
                self_reported,
                uploaded,
            );
        }

        // Spirometry every other day: FVC and FEV1 from the same blow.
        if (day + g.patient as i64) % 2 == 0 {
            let when = at(g.secs(9 * HOUR, 10 * HOUR));
            let fvc = pr.fvc + g.noise(0.12);
            let fev1 = fvc * pr.fev1_ratio + g.noise(0.04);
            let quality = g.chance(0.15) as u8;
            let uploaded = when + g.secs(MINUTE, 20 * MINUTE);
            g.push(
                Code::ForcedVitalCapacity,
                Frame::Instant,
                when,
                0,
                fvc,
                0.0,
                quality,
                uploaded,
            );
            g.push(
                Code::ForcedExpiratoryVolume1Second,
                Frame::Instant,
                when,
                0,
                fev1,
                0.0,
                quality,
                uploaded,
            );
        }

        // Daily totals for the local day, synced the next morning.
        let steps = (pr.steps * g.r(0.5, 1.5)).round();
        let distance = steps * g.r(0.7, 0.82);
        let kcal = 80.0 + steps * g.r(0.035, 0.05);
        let synced = at(SECS_PER_DAY + 8 * HOUR) + g.secs(0, HOUR);
        let whole_day = SECS_PER_DAY - 1;
        g.push(
            Code::StepCount,
            Frame::StartEnd,
            midnight,
            whole_day,
            steps,
            0.0,
            0,
            synced,
        );
        g.push(
            Code::PhysicalActivity,
            Frame::StartEnd,
            midnight,
            whole_day,
            distance,
            kcal,
            0,
            synced,
        );

        // Workouts (end + duration) on some days.
        if g.chance(0.35) {
            let kind = g.rng.random_range(0..WORKOUTS.len());
            let (_, met) = WORKOUTS[kind];
            let span = g.secs(20, 76) * MINUTE;
            let end = at(g.secs(17 * HOUR, 20 * HOUR));
            let speed = [
                g.r(8.5, 11.5),
                g.r(17.0, 25.0),
                g.r(4.3, 5.6),
                g.r(2.0, 3.2),
            ][kind];
            let hours = span as f32 / 3600.0;
            let kcal = met * weight * hours;
            let uploaded = end + g.secs(5 * MINUTE, HOUR);
            g.push(
                Code::PhysicalActivity,
                Frame::EndDuration,
                end - span,
                span,
                speed * hours,
                kcal,
                kind as u8,
                uploaded,
            );
        }

        // Self-reported activity on a date + part of day (the server reads it as a UTC day).
        if g.chance(0.12) {
            let part = g.secs(1, 4);
            let start = day * SECS_PER_DAY + part * 6 * HOUR;
            let kind = g.rng.random_range(0..3u8);
            let kcal = g.r(60.0, 200.0);
            let uploaded = start + 6 * HOUR + g.secs(MINUTE, 2 * HOUR);
            g.push(
                Code::PhysicalActivity,
                Frame::PartOfDay,
                start,
                6 * HOUR,
                0.0,
                kcal,
                kind,
                uploaded,
            );
        }
    }
}
