//! Timestamps: fast formatting for the hot rendering path (no format-string parsing per
//! row) and Django-like parsing of search values.

pub(crate) const SECS_PER_DAY: i64 = 86_400;
pub(crate) const MICROS_PER_SEC: i64 = 1_000_000;
pub(crate) const MICROS_PER_DAY: i64 = SECS_PER_DAY * MICROS_PER_SEC;

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// Days since 1970-01-01 of a proleptic Gregorian date. Callers pass valid dates.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    use chrono::Datelike as _;
    let date = chrono::NaiveDate::from_ymd_opt(y as i32, m, d).expect("a valid calendar date");
    i64::from(date.num_days_from_ce()) - UNIX_EPOCH_DAYS_FROM_CE
}

/// Inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    use chrono::Datelike as _;
    let date = chrono::NaiveDate::from_num_days_from_ce_opt((z + UNIX_EPOCH_DAYS_FROM_CE) as i32)
        .expect("a day number within chrono's range");
    (i64::from(date.year()), date.month(), date.day())
}

/// How a patient's device writes its UTC offset: `Z`, or `±HH:MM` (`+00:00` included,
/// because real payloads carry both spellings of UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offset {
    Zulu,
    Minutes(i32),
}

impl Offset {
    pub fn seconds(self) -> i64 {
        match self {
            Offset::Zulu => 0,
            Offset::Minutes(m) => m as i64 * 60,
        }
    }
}

fn push2(out: &mut String, n: u32) {
    out.push((b'0' + (n / 10 % 10) as u8) as char);
    out.push((b'0' + (n % 10) as u8) as char);
}

fn push4(out: &mut String, n: i64) {
    let n = n.clamp(0, 9999) as u32;
    push2(out, n / 100);
    push2(out, n % 100);
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn push_date(out: &mut String, day: i64) {
    let (y, m, d) = civil_from_days(day);
    push4(out, y);
    out.push('-');
    push2(out, m);
    out.push('-');
    push2(out, d);
}

fn push_clock(out: &mut String, secs_of_day: i64) {
    push2(out, (secs_of_day / 3600) as u32);
    out.push(':');
    push2(out, (secs_of_day / 60 % 60) as u32);
    out.push(':');
    push2(out, (secs_of_day % 60) as u32);
}

/// An instant (unix seconds) written in a patient's local offset, e.g.
/// `2025-12-20T08:15:07-07:00`.
pub(crate) fn push_local(out: &mut String, unix_secs: i64, offset: Offset) {
    let local = unix_secs + offset.seconds();
    push_date(out, local.div_euclid(SECS_PER_DAY));
    out.push('T');
    push_clock(out, local.rem_euclid(SECS_PER_DAY));
    match offset {
        Offset::Zulu => out.push('Z'),
        Offset::Minutes(m) => {
            out.push(if m < 0 { '-' } else { '+' });
            let a = m.unsigned_abs();
            push2(out, a / 60);
            out.push(':');
            push2(out, a % 60);
        }
    }
}

/// An instant in microseconds as Django REST Framework writes it: UTC with `Z`, six
/// fraction digits, and no fraction at all when it is zero (Python's `isoformat`).
pub(crate) fn push_utc_micros(out: &mut String, us: i64) {
    let secs = us.div_euclid(MICROS_PER_SEC);
    let frac = us.rem_euclid(MICROS_PER_SEC);
    push_date(out, secs.div_euclid(SECS_PER_DAY));
    out.push('T');
    push_clock(out, secs.rem_euclid(SECS_PER_DAY));
    if frac != 0 {
        out.push('.');
        let f = frac as u32;
        push2(out, f / 10_000);
        push2(out, f / 100 % 100);
        push2(out, f % 100);
    }
    out.push('Z');
}

pub(crate) fn utc_micros(us: i64) -> String {
    let mut s = String::with_capacity(27);
    push_utc_micros(&mut s, us);
    s
}

/// Unix seconds of a UTC civil date-time (for fixed anchors).
pub(crate) fn unix(y: i64, m: u32, d: u32, hh: i64, mm: i64, ss: i64) -> i64 {
    days_from_civil(y, m, d) * SECS_PER_DAY + hh * 3600 + mm * 60 + ss
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Django's `parse_date`: `YYYY-MM-DD` (month and day may be one digit). Day number.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || m.len() > 2 || d.len() > 2 {
        return None;
    }
    let (y, m, d) = (digits(y)?, digits(m)?, digits(d)?);
    chrono::NaiveDate::from_ymd_opt(y as i32, m, d)?;
    Some(days_from_civil(y as i64, m, d))
}

/// Django's `parse_datetime`: `YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]][Z|±HH[:MM]|±HHMM]`.
/// No offset means UTC (the server's time zone). Microseconds since the epoch.
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let sep = s.find(['T', 't', ' '])?;
    let day = parse_date(&s[..sep])?;
    let rest = &s[sep + 1..];
    // Split off the offset: a trailing Z, or the last + / - in the time part.
    let (clock, offset_secs) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c.trim_end(), 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, tz) = rest.split_at(i);
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        let tz = &tz[1..];
        let (h, m) = match tz.len() {
            2 => (digits(tz)?, 0),
            4 => (digits(&tz[..2])?, digits(&tz[2..])?),
            5 if &tz[2..3] == ":" => (digits(&tz[..2])?, digits(&tz[3..])?),
            _ => return None,
        };
        if h > 23 || m > 59 {
            return None;
        }
        (c.trim_end(), sign * (h as i64 * 3600 + m as i64 * 60))
    } else {
        (rest, 0)
    };
    let mut parts = clock.split(':');
    let hh = parts.next()?;
    let mm = parts.next()?;
    let ss = parts.next();
    if parts.next().is_some() || hh.is_empty() || hh.len() > 2 || mm.is_empty() || mm.len() > 2 {
        return None;
    }
    let (hh, mm) = (digits(hh)?, digits(mm)?);
    let (sec, micros) = match ss {
        None => (0, 0),
        Some(ss) => {
            let (whole, frac) = match ss.find(['.', ',']) {
                Some(i) => (&ss[..i], Some(&ss[i + 1..])),
                None => (ss, None),
            };
            if whole.is_empty() || whole.len() > 2 {
                return None;
            }
            let sec = digits(whole)?;
            let micros = match frac {
                None => 0,
                Some(f) if f.is_empty() || f.len() > 12 => return None,
                Some(f) => {
                    digits(f)?;
                    let six: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
                    six.parse::<i64>().ok()?
                }
            };
            (sec, micros)
        }
    };
    if hh > 23 || mm > 59 || sec > 59 {
        return None;
    }
    let local = day * SECS_PER_DAY + hh as i64 * 3600 + mm as i64 * 60 + sec as i64;
    Some((local - offset_secs) * MICROS_PER_SEC + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-1000, -1, 0, 1, 10_957, 20_454, 20_819, 100_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(2026, 1, 1), 20_454);
    }

    #[test]
    fn formats_like_the_server() {
        let t = unix(2025, 12, 20, 15, 15, 7);
        let mut s = String::new();
        push_local(&mut s, t, Offset::Minutes(-420));
        assert_eq!(s, "2025-12-20T08:15:07-07:00");
        s.clear();
        push_local(&mut s, t, Offset::Minutes(330));
        assert_eq!(s, "2025-12-20T20:45:07+05:30");
        s.clear();
        push_local(&mut s, t, Offset::Minutes(0));
        assert_eq!(s, "2025-12-20T15:15:07+00:00");
        s.clear();
        push_local(&mut s, t, Offset::Zulu);
        assert_eq!(s, "2025-12-20T15:15:07Z");
        assert_eq!(
            utc_micros(t * 1_000_000 + 169_870),
            "2025-12-20T15:15:07.169870Z"
        );
        assert_eq!(utc_micros(t * 1_000_000), "2025-12-20T15:15:07Z");
    }

    #[test]
    fn parses_like_django() {
        let t = unix(2025, 6, 1, 9, 59, 0) * 1_000_000;
        assert_eq!(parse_datetime("2025-06-01T09:59:00Z"), Some(t));
        assert_eq!(parse_datetime("2025-06-01T09:59"), Some(t));
        assert_eq!(parse_datetime("2025-06-01 11:59:00+02:00"), Some(t));
        assert_eq!(parse_datetime("2025-06-01T02:59:00-0700"), Some(t));
        assert_eq!(parse_datetime("2025-06-01T09:59:00.5Z"), Some(t + 500_000));
        assert_eq!(parse_datetime("2025-06-01"), None);
        assert_eq!(parse_datetime("2025-06-01T25:00"), None);
        assert_eq!(parse_datetime("notadate"), None);
        assert_eq!(parse_date("2025-06-01"), Some(days_from_civil(2025, 6, 1)));
        assert_eq!(parse_date("2025-6-1"), Some(days_from_civil(2025, 6, 1)));
        assert_eq!(parse_date("2025-02-30"), None);
        assert_eq!(parse_date("2025-06"), None);
    }
}
