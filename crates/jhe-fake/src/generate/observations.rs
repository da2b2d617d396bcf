//! Observation generation: every code, at realistic daily rates, in each patient's local
//! day, over `days` days ending at the fixed anchor. In: the world; out: every
//! observation in id order (upload order), `last_updated` strictly increasing.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::body::SOUND_ENVIRONMENTS;
use super::catalog::Code;
use super::day::{self, Day, Trend};
use super::obs::{Frame, Obs};
use super::patient::{Gen, HOUR, MINUTE, profile};
use super::time::SECS_PER_DAY;
use super::world::{World, mix2};

/// Roughly how many observations a patient produces per day (for capacity and limits).
pub(crate) const PER_PATIENT_DAY: u64 = 120;

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
    let first_day = (g.window_start + offset).div_euclid(SECS_PER_DAY) - 1;
    let last_day = (g.anchor + offset).div_euclid(SECS_PER_DAY);
    let mut trend = Trend {
        weight: pr.weight_kg,
        glucose_noise: 0.0,
    };
    for number in first_day..=last_day {
        // UTC instant of the patient's local midnight.
        let midnight = number * SECS_PER_DAY - offset;
        day::readings(g, &pr, &Day { number, midnight }, &mut trend);
    }
}
