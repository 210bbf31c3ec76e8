//! Text forms of dates, times, timestamps and UUIDs, shared by every endpoint
//! that stores them as text (SQLite, JSON) or parses them (promotions).
//!
//! Formats are ISO 8601 / RFC 3339, the forms SQLite's date functions,
//! PostgreSQL and MySQL all read back:
//!
//! | logical | written | also read |
//! | --- | --- | --- |
//! | date | `2024-01-31` | — |
//! | time | `13:45:00` or `13:45:00.123456` | `13:45` |
//! | timestamp | `2024-01-31 13:45:00[.ffffff]` | `T` separator, `HH:MM` |
//! | timestamptz | `2024-01-31T13:45:00[.ffffff]Z` (always UTC) | any `±HH:MM`/`±HHMM`/`Z` offset, space separator |
//! | uuid | `123e4567-e89b-12d3-a456-426614174000` | upper case, no hyphens |
//!
//! Parsing is strict: a value that does not match (a day 32, trailing text,
//! more than 6 fraction digits) is `None`, and the caller quarantines the row
//! rather than guessing.

const MICROS_PER_SEC: i64 = 1_000_000;

/// Microseconds since the Unix epoch (negative before it).
pub fn micros_since_epoch(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// Now, as RFC 3339 UTC text with microseconds (how the ledger stamps rows).
pub fn now_rfc3339() -> String {
    format_timestamptz(micros_since_epoch(std::time::SystemTime::now()))
}
/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |a, &c| {
        a.checked_mul(10)?.checked_add((c - b'0') as u32)
    })
}

/// `YYYY-MM-DD` → days since the epoch. Years 0001–9999.
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if y == 0 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y as i64, m) {
        return None;
    }
    i32::try_from(days_from_civil(y as i64, m, d)).ok()
}

/// `HH:MM[:SS[.ffffff]]` → microseconds since midnight.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let (h, mi) = (digits(&b[0..2])?, digits(&b[3..5])?);
    let (mut sec, mut frac) = (0u32, 0i64);
    if b.len() > 5 {
        if b[5] != b':' || b.len() < 8 {
            return None;
        }
        sec = digits(&b[6..8])?;
        if b.len() > 8 {
            let f = &b[8..];
            if f[0] != b'.' || f.len() < 2 || f.len() > 7 {
                return None;
            }
            let n = digits(&f[1..])? as i64;
            frac = n * 10i64.pow(7 - f.len() as u32);
        }
    }
    // 24:00:00 is the end of the day (ISO 8601; PostgreSQL's `time` holds it).
    let end_of_day = h == 24 && mi == 0 && sec == 0 && frac == 0;
    if (h > 23 && !end_of_day) || mi > 59 || sec > 59 {
        return None;
    }
    Some(((h as i64 * 60 + mi as i64) * 60 + sec as i64) * MICROS_PER_SEC + frac)
}

/// `YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]` → microseconds since the epoch, no zone.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    // ASCII only: the slicing below is by byte, and no valid form has
    // anything else (`Antal Doráti` must be "not a timestamp", not a panic).
    if s.len() < 16 || !s.is_ascii() {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let sep = rest.as_bytes()[0];
    if sep != b' ' && sep != b'T' {
        return None;
    }
    let days = parse_date(date)? as i64;
    let t = parse_time(&rest[1..])?;
    Some(days * MICROS_PER_DAY + t)
}

/// A timestamp with a zone (`Z`, `±HH:MM`, `±HHMM`, `±HH`) → UTC microseconds.
/// Without a zone it is `None`: ferry does not assume one.
pub fn parse_timestamptz(s: &str) -> Option<i64> {
    if !s.is_ascii() {
        return None;
    }
    if let Some(local) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return parse_timestamp(local);
    }
    let b = s.as_bytes();
    // The offset starts at the last '+' or '-' after the date part.
    let pos = b
        .iter()
        .enumerate()
        .skip(11)
        .rev()
        .find(|(_, c)| **c == b'+' || **c == b'-')?
        .0;
    let (local, off) = s.split_at(pos);
    let local = local.trim_end();
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let o = &off.as_bytes()[1..];
    let (oh, om) = match o.len() {
        2 => (digits(o)?, 0),
        4 => (digits(&o[0..2])?, digits(&o[2..4])?),
        5 if o[2] == b':' => (digits(&o[0..2])?, digits(&o[3..5])?),
        _ => return None,
    };
    // Real zone offsets run from -12:00 to +14:00; 15 allows the
    // historical local-mean-time offsets, anything larger is not a zone.
    if oh > 15 || om > 59 {
        return None;
    }
    let offset = sign * (oh as i64 * 3600 + om as i64 * 60) * MICROS_PER_SEC;
    Some(parse_timestamp(local)? - offset)
}

pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn format_time(micros: i64) -> String {
    let secs = micros.div_euclid(MICROS_PER_SEC);
    let frac = micros.rem_euclid(MICROS_PER_SEC);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{h:02}:{mi:02}:{s:02}")
    } else {
        format!("{h:02}:{mi:02}:{s:02}.{frac:06}")
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`.
pub fn format_timestamp(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let t = micros.rem_euclid(MICROS_PER_DAY);
    format!("{} {}", format_date(days as i32), format_time(t))
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
pub fn format_timestamptz(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let t = micros.rem_euclid(MICROS_PER_DAY);
    format!("{}T{}Z", format_date(days as i32), format_time(t))
}

pub fn format_uuid(u: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*u).hyphenated().to_string()
}

pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    uuid::Uuid::try_parse(s).ok().map(|u| *u.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for d in [
            "1970-01-01",
            "2000-02-29",
            "1969-12-31",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert_eq!(format_date(parse_date(d).unwrap()), d);
        }
        for t in [
            "2009-01-01 00:00:00",
            "2024-02-29 23:59:59.000001",
            "1900-03-01 12:00:00.5",
        ] {
            let want = if t.ends_with(".5") {
                "1900-03-01 12:00:00.500000"
            } else {
                t
            };
            assert_eq!(format_timestamp(parse_timestamp(t).unwrap()), want);
        }
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01"), Some(1_000_000));
        assert_eq!(
            parse_timestamptz("2024-01-01T10:00:00+02:00"),
            parse_timestamp("2024-01-01 08:00:00")
        );
        assert_eq!(
            parse_timestamptz("2024-01-01 10:00:00-0130"),
            parse_timestamp("2024-01-01 11:30:00")
        );
        assert_eq!(
            format_timestamptz(parse_timestamptz("2024-01-05T10:00:00Z").unwrap()),
            "2024-01-05T10:00:00Z"
        );
    }

    #[test]
    fn strict() {
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-01-32",
            "2024-1-01",
            "20240101",
            "",
            "2024-01-01x",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for bad in [
            "2024-01-01",
            "2024-01-01 25:00:00",
            "2024-01-01 10:00:00.1234567",
            "2024-01-01 10:00:00 ",
            "2024-01-01 10:00:00Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(parse_timestamptz("2024-01-01 10:00:00"), None);
        for text in [
            "Antal Doráti & London",
            "2024-01-01 10:00:0é",
            "2024-01-01T10:00:00+0é:00",
            "ü",
        ] {
            assert_eq!(parse_timestamp(text), None);
            assert_eq!(parse_timestamptz(text), None);
            assert_eq!(parse_date(text), None);
            assert_eq!(parse_time(text), None);
        }
        assert_eq!(parse_time("24:00:00"), Some(86_400_000_000));
        assert_eq!(parse_time("24:00:01"), None);
    }
}
