//! Time in OMH payloads: RFC 3339 date-times (an absent offset means UTC), durations, and
//! the two `effective_time_frame` forms resolved to a UTC start and optional end.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::Value;
use serde_json::value::RawValue;

use super::raw::{self, RawObject};

const MICROS_PER_SECOND: f64 = 1_000_000.0;

/// A point in time as UTC microseconds, with the offset the payload wrote it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    pub utc_micros: i64,
    /// Seconds east of UTC as written; `None` when the text had no offset (read as UTC).
    pub offset_seconds: Option<i32>,
}

/// Where an observation sits in time: a point (`end` is `None`) or an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeFrame {
    pub start: i64,
    pub end: Option<i64>,
    pub offset_seconds: Option<i32>,
}

pub fn parse_date_time(text: &str) -> Result<Instant, String> {
    let text = text.trim();
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Ok(Instant {
            utc_micros: parsed.timestamp_micros(),
            offset_seconds: Some(parsed.offset().local_minus_utc()),
        });
    }
    // No offset: the Exchange's rule is that such timestamps are UTC.
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Instant {
                utc_micros: naive.and_utc().timestamp_micros(),
                offset_seconds: None,
            });
        }
    }
    Err(format!("{text:?} is not an ISO 8601 date-time"))
}

/// A duration `{value, unit}` in microseconds. Months and years use their mean length.
pub fn parse_duration(value: &Value) -> Result<i64, String> {
    let amount = value
        .get("value")
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("duration {value} has no numeric value"))?;
    let unit = value
        .get("unit")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("duration {value} has no unit"))?;
    let seconds_per_unit = match unit {
        "ps" => 1e-12,
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "sec" | "s" => 1.0,
        "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "wk" => 604_800.0,
        "Mo" => 2_629_746.0,  // 365.2425 / 12 days
        "yr" => 31_556_952.0, // 365.2425 days
        other => return Err(format!("unknown duration unit {other:?}")),
    };
    let micros = (amount * seconds_per_unit * MICROS_PER_SECOND).round();
    // Beyond about ±290,000 years nothing is a real observation, and the arithmetic below
    // must not overflow.
    if !micros.is_finite() || micros.abs() >= 9.0e18 {
        return Err(format!("duration {value} is out of range"));
    }
    Ok(micros as i64)
}

/// `part_of_day` hours as the Exchange documents them.
fn part_of_day_hours(part: &str) -> Result<(u32, u32), String> {
    match part {
        "morning" => Ok((6, 12)),
        "afternoon" => Ok((12, 18)),
        "evening" => Ok((18, 24)),
        "night" => Ok((0, 6)),
        other => Err(format!("unknown part_of_day {other:?}")),
    }
}

/// Resolve `effective_time_frame` as the body wrote it. The common form, a point
/// `{date_time}`, is read straight from the text; any other goes to [`parse_time_frame`].
pub fn read_time_frame(frame: &RawValue) -> Result<TimeFrame, String> {
    if let Some(object) = RawObject::of(frame) {
        // `full_date` wins over `date_time` in `parse_time_frame`, even when null.
        let has_full_date = object.members().any(|(name, _)| name == "full_date");
        if let (false, Some(text)) = (has_full_date, object.get("date_time").and_then(raw::text)) {
            let instant = parse_date_time(&text)?;
            return Ok(TimeFrame { start: instant.utc_micros, end: None, offset_seconds: instant.offset_seconds });
        }
    }
    let value: Value = serde_json::from_str(frame.get()).map_err(|e| format!("is not readable JSON: {e}"))?;
    parse_time_frame(&value)
}

/// Resolve `effective_time_frame`: `{date_time}`, `{time_interval: start+end |
/// start+duration | end+duration | date+part_of_day}`, or IEEE food entries' `{full_date}`
/// (that whole UTC day).
pub fn parse_time_frame(frame: &Value) -> Result<TimeFrame, String> {
    if let Some(full_date) = frame.get("full_date") {
        let text = full_date.as_str().ok_or("full_date is not a string")?;
        let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("{text:?} is not a YYYY-MM-DD date"))?;
        let start = day.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
        return Ok(TimeFrame {
            start,
            end: Some(start + 86_400_000_000),
            offset_seconds: None,
        });
    }
    if let Some(date_time) = frame.get("date_time") {
        let instant = parse_date_time(date_time.as_str().ok_or("date_time is not a string")?)?;
        return Ok(TimeFrame {
            start: instant.utc_micros,
            end: None,
            offset_seconds: instant.offset_seconds,
        });
    }
    let interval = frame
        .get("time_interval")
        .ok_or("effective_time_frame has neither date_time nor time_interval")?;
    let text_field = |name: &str| -> Result<Option<Instant>, String> {
        match interval.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_date_time(s).map(Some),
            Some(other) => Err(format!("{name} is not a string: {other}")),
        }
    };
    let start = text_field("start_date_time")?;
    let end = text_field("end_date_time")?;
    let duration = interval.get("duration").map(parse_duration).transpose()?;
    let (start_us, end_us, offset) = match (start, end, duration) {
        (Some(s), Some(e), _) => (s.utc_micros, e.utc_micros, s.offset_seconds),
        (Some(s), None, Some(d)) => {
            let end = s.utc_micros.checked_add(d).ok_or("start_date_time + duration is out of range")?;
            (s.utc_micros, end, s.offset_seconds)
        }
        (None, Some(e), Some(d)) => {
            let start = e.utc_micros.checked_sub(d).ok_or("end_date_time - duration is out of range")?;
            (start, e.utc_micros, e.offset_seconds)
        }
        (None, None, _) => {
            let date = interval.get("date").and_then(Value::as_str);
            let part = interval.get("part_of_day").and_then(Value::as_str);
            let (Some(date), Some(part)) = (date, part) else {
                return Err("time_interval needs start/end date-times, a duration, or date and part_of_day".into());
            };
            let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map_err(|_| format!("{date:?} is not a YYYY-MM-DD date"))?;
            let (from, to) = part_of_day_hours(part)?;
            let at = |hour: u32| {
                day.and_time(NaiveTime::MIN).and_utc().timestamp_micros()
                    + i64::from(hour) * 3_600_000_000
            };
            (at(from), at(to), None)
        }
        _ => return Err("time_interval has only one bound and no duration".into()),
    };
    if end_us < start_us {
        return Err("time_interval ends before it starts".into());
    }
    Ok(TimeFrame {
        start: start_us,
        end: Some(end_us),
        offset_seconds: offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: i64 = 1_714_663_800_000_000; // 2024-05-02T15:30:00Z

    #[test]
    fn date_times_with_and_without_offsets() {
        let local = parse_date_time("2024-05-02T08:30:00-07:00").unwrap();
        assert_eq!(local.utc_micros, T0);
        assert_eq!(local.offset_seconds, Some(-7 * 3600));
        assert_eq!(parse_date_time("2024-05-02T15:30:00Z").unwrap().utc_micros, T0);
        let naive = parse_date_time("2024-05-02T15:30:00.25").unwrap();
        assert_eq!(naive.utc_micros, T0 + 250_000);
        assert_eq!(naive.offset_seconds, None);
        assert!(parse_date_time("yesterday").is_err());
    }

    #[test]
    fn the_raw_reader_agrees_with_the_general_one() {
        for frame in [
            json!({"date_time": "2024-05-02T08:30:00-07:00"}),
            json!({"date_time": "2024-05-02T15:30:00"}),
            json!({"date_time": "not a time"}),
            json!({"date_time": 5}),
            json!({"full_date": null, "date_time": "2024-05-02T15:30:00Z"}),
            json!({"full_date": "2024-05-02", "date_time": "2024-05-02T15:30:00Z"}),
            json!({"time_interval": {"start_date_time": "2024-05-02T15:30:00Z", "duration": {"value": 90, "unit": "min"}}}),
            json!("2024-05-02T15:30:00Z"),
            json!({}),
        ] {
            let raw = serde_json::value::to_raw_value(&frame).unwrap();
            assert_eq!(read_time_frame(&raw), parse_time_frame(&frame), "{frame}");
        }
    }

    #[test]
    fn every_interval_form() {
        let hour = 3_600_000_000;
        let point = parse_time_frame(&json!({"date_time": "2024-05-02T15:30:00Z"})).unwrap();
        assert_eq!((point.start, point.end), (T0, None));
        let both = json!({"time_interval": {"start_date_time": "2024-05-02T15:30:00Z", "end_date_time": "2024-05-02T16:30:00Z"}});
        assert_eq!(parse_time_frame(&both).unwrap().end, Some(T0 + hour));
        let start_dur = json!({"time_interval": {"start_date_time": "2024-05-02T15:30:00Z", "duration": {"value": 90, "unit": "min"}}});
        assert_eq!(parse_time_frame(&start_dur).unwrap().end, Some(T0 + hour * 3 / 2));
        let end_dur = json!({"time_interval": {"end_date_time": "2024-05-02T15:30:00Z", "duration": {"value": 2, "unit": "h"}}});
        let f = parse_time_frame(&end_dur).unwrap();
        assert_eq!((f.start, f.end), (T0 - 2 * hour, Some(T0)));
        let part = json!({"time_interval": {"date": "2024-05-02", "part_of_day": "evening"}});
        let f = parse_time_frame(&part).unwrap();
        let midnight = T0 - 15 * hour - 30 * 60_000_000;
        assert_eq!((f.start, f.end), (midnight + 18 * hour, Some(midnight + 24 * hour)));
        assert!(parse_time_frame(&json!({"time_interval": {"start_date_time": "2024-05-02T15:30:00Z"}})).is_err());
        assert!(parse_time_frame(&json!({})).is_err());
        let huge = json!({"time_interval": {"start_date_time": "2024-05-02T15:30:00Z", "duration": {"value": -1e300, "unit": "yr"}}});
        assert!(parse_time_frame(&huge).unwrap_err().contains("out of range"));
        let day = parse_time_frame(&json!({"full_date": "2024-05-02"})).unwrap();
        assert_eq!((day.start, day.end), (midnight, Some(midnight + 24 * hour)));
        assert!(parse_time_frame(&json!({"time_interval": {"date": "2024-05-02", "part_of_day": "teatime"}})).is_err());
    }
}
