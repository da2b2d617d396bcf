//! One day of a patient's observations, in the patient's local day: sleep, meals and
//! glucose, vitals, spirometry, activity. In: the patient's generator and profile, and what
//! carries over from the day before; out: the day's observations pushed in a fixed order
//! (the order of the RNG draws is part of the seed's data).

use rand::RngExt;

use super::body::{FOODS, WORKOUTS};
use super::catalog::Code;
use super::obs::Frame;
use super::patient::{Gen, HOUR, MINUTE, Profile};
use super::time::SECS_PER_DAY;

/// A local day: its number since the epoch and the UTC instant of its midnight.
pub(super) struct Day {
    pub number: i64,
    pub midnight: i64,
}

impl Day {
    /// The UTC instant of a local second of the day.
    fn at(&self, secs_of_day: i64) -> i64 {
        self.midnight + secs_of_day
    }
}

/// What carries over from one day to the next.
pub(super) struct Trend {
    pub weight: f32,
    pub glucose_noise: f32,
}

/// The day's main meals (local seconds of day) and every meal as (time, meal, size).
struct Meals {
    breakfast: i64,
    lunch: i64,
    dinner: i64,
    list: Vec<(i64, u8, f32)>,
}

/// Every reading of one day, in the order the generator has always drawn them.
pub(super) fn readings(g: &mut Gen, pr: &Profile, d: &Day, trend: &mut Trend) {
    let wake = sleep(g, pr, d);
    let meals = meals(g, d);
    glucose(g, pr, d, wake, &meals, &mut trend.glucose_noise);
    blood_pressure(g, pr, d, wake);
    spot_heart_rate(g, pr, d);
    temperature(g, pr, wake);
    rr_intervals(g, pr, d, wake);
    body_weight(g, wake, &mut trend.weight);
    spirometry(g, pr, d);
    daily_totals(g, pr, d);
    workout(g, d, trend.weight);
    self_reported_activity(g, d);
}

/// Last night's sleep, from the previous local evening to this morning, and the night's
/// averages. Returns the wake time.
fn sleep(g: &mut Gen, pr: &Profile, d: &Day) -> i64 {
    let onset = d.at(g.secs(-2 * HOUR, HOUR / 2));
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
    wake
}

/// Meals (local seconds of day) drive glucose, food entries and meal relations.
fn meals(g: &mut Gen, d: &Day) -> Meals {
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
        let logged = d.at(t) + g.secs(MINUTE, 2 * HOUR);
        g.push(
            Code::FoodEntry,
            Frame::Instant,
            d.at(t),
            0,
            grams.round(),
            0.0,
            food | (meal << 4),
            logged,
        );
    }
    Meals {
        breakfast,
        lunch,
        dinner,
        list: meals,
    }
}

/// CGM every 15 minutes; the readings around meals carry a meal relation. `noise` carries
/// over from one reading (and day) to the next.
fn glucose(g: &mut Gen, pr: &Profile, d: &Day, wake: i64, meals: &Meals, noise: &mut f32) {
    let (breakfast, lunch, dinner) = (meals.breakfast, meals.lunch, meals.dinner);
    let wake_local = wake - d.midnight;
    for k in 0..96i64 {
        let t = pr.cgm_phase + k * 15 * MINUTE;
        let mut level = pr.glucose_base;
        if (4 * HOUR..8 * HOUR).contains(&t) {
            level += 8.0; // dawn phenomenon
        }
        for &(m, _, size) in &meals.list {
            let dt = (t - m - 50 * MINUTE) as f32 / (35.0 * 60.0);
            level += pr.meal_rise * size * (-0.5 * dt * dt).exp();
        }
        *noise = 0.8 * *noise + g.noise(4.0);
        let value = (level + *noise).clamp(70.0, 250.0).round();
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
        let uploaded = d.at(t) + g.secs(MINUTE, 5 * MINUTE);
        g.push(
            Code::BloodGlucose,
            Frame::Instant,
            d.at(t),
            0,
            value,
            0.0,
            relation,
            uploaded,
        );
    }
}

/// Blood pressure: every morning, some evenings.
fn blood_pressure(g: &mut Gen, pr: &Profile, d: &Day, wake: i64) {
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
        let when = d.at(g.secs(20 * HOUR, 22 * HOUR));
        bp(g, when, 3.0);
    }
}

/// Spot heart rate through the day.
fn spot_heart_rate(g: &mut Gen, pr: &Profile, d: &Day) {
    for _ in 0..4 {
        let when = d.at(g.secs(8 * HOUR, 21 * HOUR));
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
}

/// Temperature on waking.
fn temperature(g: &mut Gen, pr: &Profile, wake: i64) {
    let when = wake + g.secs(5 * MINUTE, 30 * MINUTE);
    let c = pr.temperature_c + g.noise(0.2);
    let value = if g.p.units.temperature_f {
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
}

/// Five-minute RR-interval recordings, morning and evening (start + duration).
fn rr_intervals(g: &mut Gen, pr: &Profile, d: &Day, wake: i64) {
    for start in [
        wake + g.secs(10 * MINUTE, 40 * MINUTE),
        d.at(g.secs(21 * HOUR, 22 * HOUR)),
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
}

/// Morning weight, most days; some typed in by hand. `weight` drifts from day to day.
fn body_weight(g: &mut Gen, wake: i64, weight: &mut f32) {
    *weight += g.noise(0.15);
    if g.chance(0.85) {
        let when = wake + g.secs(15 * MINUTE, 45 * MINUTE);
        let value = if g.p.units.weight_lb {
            *weight * 2.204_62
        } else {
            *weight
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
}

/// Spirometry every other day: FVC and FEV1 from the same blow.
fn spirometry(g: &mut Gen, pr: &Profile, d: &Day) {
    if (d.number + g.patient as i64) % 2 == 0 {
        let when = d.at(g.secs(9 * HOUR, 10 * HOUR));
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
}

/// Daily totals for the local day, synced the next morning.
fn daily_totals(g: &mut Gen, pr: &Profile, d: &Day) {
    let steps = (pr.steps * g.r(0.5, 1.5)).round();
    let distance = steps * g.r(0.7, 0.82);
    let kcal = 80.0 + steps * g.r(0.035, 0.05);
    let synced = d.at(SECS_PER_DAY + 8 * HOUR) + g.secs(0, HOUR);
    let whole_day = SECS_PER_DAY - 1;
    g.push(
        Code::StepCount,
        Frame::StartEnd,
        d.midnight,
        whole_day,
        steps,
        0.0,
        0,
        synced,
    );
    g.push(
        Code::PhysicalActivity,
        Frame::StartEnd,
        d.midnight,
        whole_day,
        distance,
        kcal,
        0,
        synced,
    );
}

/// Workouts (end + duration) on some days.
fn workout(g: &mut Gen, d: &Day, weight: f32) {
    if g.chance(0.35) {
        let kind = g.rng.random_range(0..WORKOUTS.len());
        let (_, met) = WORKOUTS[kind];
        let span = g.secs(20, 76) * MINUTE;
        let end = d.at(g.secs(17 * HOUR, 20 * HOUR));
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
}

/// Self-reported activity on a date + part of day (the server reads it as a UTC day).
fn self_reported_activity(g: &mut Gen, d: &Day) {
    if g.chance(0.12) {
        let part = g.secs(1, 4);
        let start = d.number * SECS_PER_DAY + part * 6 * HOUR;
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
