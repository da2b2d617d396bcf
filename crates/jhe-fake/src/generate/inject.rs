//! Injecting `FakeConfig::quality_problems` into the generated observations: readings left
//! out (a pending consent, declined codes, device outages), values and times changed in
//! place, and copies of readings uploaded again by a second app. In: the world and the
//! observations in id order (ids final); out: the observations with the problems, still
//! in id order with `last_updated` strictly increasing, and the [`Problems`] record.
//!
//! Which reading gets a problem is chosen by position in the patient's series of that
//! code, ordered by effective start (e.g. the reading a third of the way through), so the
//! choices are the same for every seed; the outage windows move with the seed.

use super::catalog::Code;
use super::obs::{Frame, Obs};
use super::problems::{
    Injected, OUTAGE_PATIENT, Outage, PATIENT_3, PATIENT_4, PATIENT_5, PENDING_PATIENT, Problems, REFUSED,
    REFUSING_PATIENT, Travel,
};
use super::time::{MICROS_PER_SEC, Offset, SECS_PER_DAY, unix};
use super::world::{World, mix2};

const HOUR: i64 = 3600;

/// How far a future reading is moved: ten years (the anchor's 2026-01-01 to 2036-01-01)
/// and the window's `days`, so that it lands in 2036.
fn future_shift(days: u32) -> i64 {
    unix(2036, 1, 1, 0, 0, 0) - unix(2026, 1, 1, 0, 0, 0) + days as i64 * SECS_PER_DAY
}

/// How much later than the home offset the travelling patient's device writes, in minutes
/// (9 hours; 9 hours earlier where later would pass +14:00).
const TRAVEL_MINUTES: i32 = 9 * 60;

/// A copy is uploaded this long after its original.
const COPY_DELAY_US: i64 = HOUR * MICROS_PER_SEC;

pub(crate) fn inject(world: &World, obs: &mut Vec<Obs>) -> Problems {
    let window_start = world.anchor - world.days as i64 * SECS_PER_DAY;
    let at = |day: i64, hour: i64| window_start + day * SECS_PER_DAY + hour * HOUR;
    // Seeded starting hours, within the data window for any `days >= 7`.
    let short_hour = 6 + (mix2(world.seed, 0x0A7A_6E01) % 8) as i64;
    let long_hour = (mix2(world.seed, 0x0A7A_6E02) % 12) as i64;
    let outages = vec![
        Outage {
            patient: OUTAGE_PATIENT,
            code: Code::BloodGlucose,
            from: at(2, short_hour),
            to: at(2, short_hour + 6),
        },
        Outage {
            patient: OUTAGE_PATIENT,
            code: Code::BloodGlucose,
            from: at(5, long_hour),
            to: at(6, long_hour),
        },
        Outage {
            patient: OUTAGE_PATIENT,
            code: Code::HeartRate,
            from: at(3, 0),
            to: at(5, 0),
        },
    ];
    obs.retain(|o| !left_out(o, &outages));
    let mut problems = Problems {
        travel: Some(travel(world, at(4, 0))),
        outages,
        ..Problems::default()
    };
    change_values(world, obs, &mut problems);
    change_times(world, obs, &mut problems);
    copy_readings(obs, &mut problems);
    problems
}

/// Readings that were never generated: all of the pending patient's, the declined codes
/// of the refusing patient, and those inside an outage.
fn left_out(o: &Obs, outages: &[Outage]) -> bool {
    o.patient == PENDING_PATIENT
        || (o.patient == REFUSING_PATIENT && REFUSED.contains(&o.code))
        || outages
            .iter()
            .any(|w| w.patient == o.patient && w.code == o.code && (w.from..w.to).contains(&o.start))
}

fn travel(world: &World, from: i64) -> Travel {
    let home = (world.patients[PATIENT_5 as usize].offset.seconds() / 60) as i32;
    let minutes = if home + TRAVEL_MINUTES <= 14 * 60 {
        home + TRAVEL_MINUTES
    } else {
        home - TRAVEL_MINUTES
    };
    Travel {
        patient: PATIENT_5,
        from,
        offset: Offset::Minutes(minutes),
    }
}

/// The store indices of a patient's readings of a code (instants only, if asked), by
/// effective start.
fn series(obs: &[Obs], patient: u32, code: Code, instants_only: bool) -> Vec<u32> {
    let mut indices: Vec<u32> = (0..obs.len() as u32)
        .filter(|&i| {
            let o = &obs[i as usize];
            o.patient == patient && o.code == code && (!instants_only || o.frame == Frame::Instant)
        })
        .collect();
    indices.sort_by_key(|&i| (obs[i as usize].start, i));
    indices
}

/// The reading `num/den` of the way through a series.
fn nth(series: &[u32], num: usize, den: usize) -> Option<u32> {
    series.get(series.len() * num / den).copied()
}

/// Implausible values and spikes, in the unit each payload reports (glucose is in mg/dL
/// for these patients; 50 °C is 122 °F for a device that reports Fahrenheit).
fn change_values(world: &World, obs: &mut [Obs], problems: &mut Problems) {
    let glucose_3 = series(obs, PATIENT_3, Code::BloodGlucose, false);
    let heart_3 = series(obs, PATIENT_3, Code::HeartRate, true);
    let spo2_4 = series(obs, PATIENT_4, Code::OxygenSaturation, false);
    let temperature_4 = series(obs, PATIENT_4, Code::BodyTemperature, false);
    let glucose_5 = series(obs, PATIENT_5, Code::BloodGlucose, false);
    let heart_5 = series(obs, PATIENT_5, Code::HeartRate, true);
    let hot = if world.patients[PATIENT_4 as usize].units.temperature_f { 122.0 } else { 50.0 };
    let mut set = |list: &mut Vec<Injected>, index: Option<u32>, value: f32| {
        if let Some(index) = index {
            obs[index as usize].value = value;
            list.push(Injected { index, value });
        }
    };
    let implausible = &mut problems.implausible;
    set(implausible, nth(&glucose_3, 4, 12), 5.0);
    set(implausible, nth(&glucose_3, 8, 12), 1500.0);
    set(implausible, nth(&heart_3, 1, 2), 400.0);
    set(implausible, nth(&spo2_4, 1, 2), 30.0);
    set(implausible, nth(&temperature_4, 1, 2), hot);
    let spikes = &mut problems.spikes;
    for k in 1..=3 {
        set(spikes, nth(&glucose_5, k, 4), 400.0);
    }
    set(spikes, nth(&heart_5, 1, 2), 220.0);
    problems.implausible.sort_by_key(|x| x.index);
    problems.spikes.sort_by_key(|x| x.index);
}

/// Two of patient 3's temperatures in 2036 (their upload, and so the header's creation
/// time, stays), and one of patient 4's spot heart rates at the epoch.
fn change_times(world: &World, obs: &mut [Obs], problems: &mut Problems) {
    let temperature_3 = series(obs, PATIENT_3, Code::BodyTemperature, false);
    for index in [nth(&temperature_3, 1, 4), nth(&temperature_3, 3, 4)].into_iter().flatten() {
        obs[index as usize].start += future_shift(world.days);
        problems.future.push(index);
    }
    let heart_4 = series(obs, PATIENT_4, Code::HeartRate, true);
    if let Some(index) = nth(&heart_4, 1, 2) {
        obs[index as usize].start = 0;
        problems.clock_reset.push(index);
    }
    problems.future.sort_unstable();
}

/// Five of patient 3's glucose readings uploaded again an hour later (by a second app): a
/// new id (so a new uuid), the same patient, code, time frame and value. Inserted in
/// `last_updated` order; the indices already recorded move past each insertion.
fn copy_readings(obs: &mut Vec<Obs>, problems: &mut Problems) {
    let glucose_3 = series(obs, PATIENT_3, Code::BloodGlucose, false);
    // 1/12, 3/12, ... 9/12 of the way: apart from the implausible 4/12 and 8/12.
    let mut originals: Vec<u32> = (0..5).filter_map(|k| nth(&glucose_3, 2 * k + 1, 12)).collect();
    let mut copies: Vec<Obs> = originals
        .iter()
        .map(|&i| {
            let o = obs[i as usize];
            Obs {
                last_updated_us: o.last_updated_us + COPY_DELAY_US,
                ..o.clean()
            }
        })
        .collect();
    for k in 0..copies.len() {
        let mut written = copies[k].last_updated_us;
        let position = loop {
            let p = obs.partition_point(|x| x.last_updated_us < written);
            if obs.get(p).is_some_and(|x| x.last_updated_us == written) {
                written += 1;
            } else {
                break p;
            }
        };
        copies[k].last_updated_us = written;
        obs.insert(position, copies[k]);
        let moved = |i: &mut u32| {
            if *i as usize >= position {
                *i += 1;
            }
        };
        problems.implausible.iter_mut().for_each(|x| moved(&mut x.index));
        problems.spikes.iter_mut().for_each(|x| moved(&mut x.index));
        problems.future.iter_mut().for_each(moved);
        problems.clock_reset.iter_mut().for_each(moved);
        originals.iter_mut().for_each(moved);
        for (original, copy) in problems.copies.iter_mut() {
            moved(original);
            moved(copy);
        }
        problems.copies.push((originals[k], position as u32));
    }
}
