//! What a change over time writes: the next version of an observation (its measure moved,
//! as a corrected upload is) and new observations modelled on stored ones. In: stored
//! observations, the world and the time they are written; out: [`Obs`] records, whose
//! `last_updated` the store sets.

use std::collections::HashMap;

use super::catalog::Code;
use super::obs::{Frame, Obs};
use super::time::{MICROS_PER_SEC, SECS_PER_DAY};
use super::world::{Patient, World};

/// How far an update moves an observation's two values: a few units of what the payload
/// shows (whole mg/dL and tenths of mmol/L, whole beats, tenths of a degree, ...), so the
/// decoded measure always differs.
fn steps(code: Code, frame: Frame) -> (f32, f32) {
    match code {
        // 1 mmol/L: visible in both units.
        Code::BloodGlucose => (18.0, 0.0),
        Code::BloodPressure => (5.0, 3.0),
        Code::HeartRate => (3.0, 0.0),
        Code::BodyTemperature | Code::BodyWeight => (0.5, 0.0),
        Code::OxygenSaturation | Code::RespiratoryRate => (1.0, 0.0),
        Code::RrInterval => (20.0, 0.0),
        Code::ForcedVitalCapacity | Code::ForcedExpiratoryVolume1Second => (0.2, 0.0),
        // A self-reported activity shows only its kcal (`value2`).
        Code::PhysicalActivity if frame == Frame::PartOfDay => (0.0, 10.0),
        Code::PhysicalActivity => (0.5, 10.0),
        Code::StepCount => (100.0, 0.0),
        Code::SleepEpisode | Code::SleepDuration | Code::SleepStageSummary => (300.0, 0.0),
        Code::FoodEntry => (10.0, 0.0),
        Code::AmbientSound => (2.0, 0.0),
    }
}

/// Down by `step` where that stays well above zero, else up.
fn moved(value: f32, step: f32) -> f32 {
    if step == 0.0 {
        value
    } else if value > 2.0 * step {
        value - step
    } else {
        value + step
    }
}

/// The observation as a corrected upload: its measure moved, its payload whole (damage
/// cleared); the time frame, patient, code and uuid stay.
pub(crate) fn revised(o: Obs) -> Obs {
    let (step, step2) = steps(o.code, o.frame);
    Obs {
        value: moved(o.value, step),
        value2: moved(o.value2, step2),
        damage: None,
        ..o
    }
}

/// `o`'s value in `to`'s units, for a code stored in the patient's own units.
fn in_units_of(o: &Obs, from: &Patient, to: &Patient) -> f32 {
    const LB_PER_KG: f32 = 2.204_62;
    match o.code {
        Code::BodyTemperature if from.units.temperature_f != to.units.temperature_f => {
            if to.units.temperature_f {
                o.value * 9.0 / 5.0 + 32.0
            } else {
                (o.value - 32.0) * 5.0 / 9.0
            }
        }
        Code::BodyWeight if from.units.weight_lb != to.units.weight_lb => {
            if to.units.weight_lb {
                o.value * LB_PER_KG
            } else {
                o.value / LB_PER_KG
            }
        }
        _ => o.value,
    }
}

/// A plausible reading of `code` for `patient`, for a code no stored row has (a day's
/// totals when the data is less than a whole day long): the values in the patient's units,
/// the reading ending an hour before `written_us`.
fn prototype(code: Code, patient: u32, p: &Patient, written_us: i64) -> Obs {
    const NIGHT: u32 = 27_000;
    let (frame, span, value, value2, variant) = match code {
        Code::BloodGlucose => (Frame::Instant, 0, 110.0, 0.0, 0),
        Code::BloodPressure => (Frame::Instant, 0, 122.0, 79.0, 0),
        Code::HeartRate => (Frame::Instant, 0, 68.0, 0.0, 0),
        Code::BodyTemperature if p.units.temperature_f => (Frame::Instant, 0, 98.2, 0.0, 0),
        Code::BodyTemperature => (Frame::Instant, 0, 36.8, 0.0, 0),
        Code::OxygenSaturation => (Frame::StartEnd, NIGHT, 97.0, 0.0, 0),
        Code::RespiratoryRate => (Frame::StartEnd, NIGHT, 14.5, 0.0, 0),
        Code::RrInterval => (Frame::StartDuration, 300, 880.0, 0.0, 0),
        Code::BodyWeight if p.units.weight_lb => (Frame::Instant, 0, 158.7, 0.0, 0),
        Code::BodyWeight => (Frame::Instant, 0, 72.0, 0.0, 0),
        Code::ForcedVitalCapacity => (Frame::Instant, 0, 4.1, 0.0, 0),
        Code::ForcedExpiratoryVolume1Second => (Frame::Instant, 0, 3.3, 0.0, 0),
        Code::PhysicalActivity => (Frame::StartEnd, SECS_PER_DAY as u32, 5_200.0, 310.0, 0),
        Code::StepCount => (Frame::StartEnd, SECS_PER_DAY as u32, 7_400.0, 0.0, 0),
        Code::SleepEpisode | Code::SleepDuration | Code::SleepStageSummary => {
            (Frame::StartEnd, NIGHT, 23_400.0, 900.0, 0)
        }
        Code::FoodEntry => (Frame::Instant, 0, 250.0, 0.0, 0),
        Code::AmbientSound => (Frame::Instant, 0, 55.0, 0.0, 1),
    };
    Obs {
        last_updated_us: written_us,
        start: written_us.div_euclid(MICROS_PER_SEC) - 3_600 - span as i64,
        span,
        patient,
        value,
        value2,
        code,
        frame,
        variant,
        has_identifier: false,
        damage: None,
        uuid_back: 0,
        deleted: false,
    }
}

/// The stored observations new ones are modelled on, newest first: per (patient, code)
/// as many as that pair gets, and per code as many as any pair of it gets (for a pair
/// with none of its own).
struct Templates {
    by_pair: HashMap<(u32, Code), Vec<Obs>>,
    by_code: HashMap<Code, Vec<Obs>>,
}

impl Templates {
    fn find(stored: &[Obs], wanted: &HashMap<(u32, Code), usize>) -> Templates {
        let mut per_code: HashMap<Code, usize> = HashMap::new();
        for (&(_, code), &n) in wanted {
            let m = per_code.entry(code).or_default();
            *m = (*m).max(n);
        }
        let mut t = Templates {
            by_pair: HashMap::new(),
            by_code: HashMap::new(),
        };
        let mut missing: usize = wanted.values().sum::<usize>() + per_code.values().sum::<usize>();
        for o in stored.iter().rev() {
            if missing == 0 {
                break;
            }
            let key = (o.patient, o.code);
            if let Some(&n) = wanted.get(&key) {
                let list = t.by_pair.entry(key).or_default();
                if list.len() < n {
                    list.push(*o);
                    missing -= 1;
                }
            }
            if let Some(&n) = per_code.get(&o.code) {
                let list = t.by_code.entry(o.code).or_default();
                if list.len() < n {
                    list.push(*o);
                    missing -= 1;
                }
            }
        }
        t
    }
}

/// New observations for `targets` (patient index, code), in order, written at
/// `written_us`. The `j`th new row of a pair replays the pair's `j`th newest stored row,
/// moved forward so that the newest lands at the writing time, upload lag kept: its time
/// frame, values and payload shape are those of a generated row, so the payload is as
/// valid. A pair with no row of its own borrows another patient's (in its units), and a
/// code no row has, a [`prototype`]. Fewer stored rows than new ones repeat, a round
/// earlier each time.
pub(crate) fn additions(world: &World, stored: &[Obs], targets: &[(u32, Code)], written_us: i64) -> Vec<Obs> {
    let mut wanted: HashMap<(u32, Code), usize> = HashMap::new();
    for &pair in targets {
        *wanted.entry(pair).or_default() += 1;
    }
    let templates = Templates::find(stored, &wanted);
    let written_s = written_us.div_euclid(MICROS_PER_SEC);
    let mut seen: HashMap<(u32, Code), usize> = HashMap::new();
    let mut out = Vec::with_capacity(targets.len());
    for &(patient, code) in targets {
        let to = &world.patients[patient as usize];
        let made;
        let list: &[Obs] = match templates
            .by_pair
            .get(&(patient, code))
            .filter(|l| !l.is_empty())
            .or_else(|| templates.by_code.get(&code).filter(|l| !l.is_empty()))
        {
            Some(list) => list,
            None => {
                made = [prototype(code, patient, to, written_us)];
                &made
            }
        };
        let j = seen.entry((patient, code)).or_default();
        let (round, t) = (*j / list.len(), list[*j % list.len()]);
        *j += 1;
        let newest_us = list.iter().map(|o| o.last_updated_us).max().unwrap_or(written_us);
        let shift = written_s - newest_us.div_euclid(MICROS_PER_SEC);
        let (first, last) = list
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), o| (a.min(o.start), b.max(o.start)));
        let period = last - first + SECS_PER_DAY;
        let from = &world.patients[t.patient as usize];
        out.push(Obs {
            start: t.start + shift - round as i64 * period,
            patient,
            value: in_units_of(&t, from, to),
            last_updated_us: written_us,
            ..t.clean()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{observations, world};

    #[test]
    fn every_code_moves_both_ways_and_stays_positive() {
        for code in Code::ALL {
            for frame in [Frame::Instant, Frame::PartOfDay] {
                let (step, step2) = steps(code, frame);
                assert!(step > 0.0 || step2 > 0.0, "{code:?}");
                for s in [step, step2].into_iter().filter(|&s| s > 0.0) {
                    let close = |a: f32, b: f32| (a - b).abs() < 1e-3 * s;
                    assert!(close(moved(100.0 * s, s), 99.0 * s), "{code:?}");
                    assert!(close(moved(0.5 * s, s), 1.5 * s), "{code:?}");
                }
            }
        }
    }

    #[test]
    fn additions_replay_the_pairs_newest_rows() {
        let w = world::build(3, 2, 4, false, false);
        let stored = observations::observations(&w);
        let written = stored.last().unwrap().last_updated_us + 5 * MICROS_PER_SEC;
        let glucose: Vec<&Obs> = stored
            .iter()
            .rev()
            .filter(|o| o.patient == 1 && o.code == Code::BloodGlucose)
            .take(3)
            .collect();
        let new = additions(&w, &stored, &[(1, Code::BloodGlucose); 3], written);
        let shift = written / MICROS_PER_SEC - glucose[0].last_updated_us / MICROS_PER_SEC;
        for (n, t) in new.iter().zip(&glucose) {
            assert_eq!((n.patient, n.code, n.value), (1, Code::BloodGlucose, t.value));
            assert_eq!(n.start, t.start + shift);
            assert!(n.start <= written / MICROS_PER_SEC);
        }
        // A code nobody has: a prototype, a day earlier each round.
        let new = additions(&w, &stored, &[(0, Code::AmbientSound); 2], written);
        assert_eq!(new[0].start - new[1].start, SECS_PER_DAY);
        assert!(new[0].start < written / MICROS_PER_SEC);
    }
}
