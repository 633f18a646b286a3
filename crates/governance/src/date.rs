//! Calendar dates for the test timetable and UTC instants for what happened when (a regression
//! run's start and finish). Calendar arithmetic is the `time` crate's (pure: no clock is read).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// A calendar date (proleptic Gregorian), serialised as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlanDate {
    year: u16,
    month: u8,
    day: u8,
}

impl PlanDate {
    pub fn new(year: u16, month: u8, day: u8) -> Result<PlanDate, DomainError> {
        let bad = || DomainError::BadDate(format!("{year:04}-{month:02}-{day:02}"));
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(bad());
        }
        Ok(PlanDate { year, month, day })
    }

    pub fn parse(text: &str) -> Result<PlanDate, DomainError> {
        let bad = || DomainError::BadDate(text.to_string());
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let num = |range: std::ops::Range<usize>| -> Result<u16, DomainError> {
            let part = text.get(range).ok_or_else(bad)?;
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u16>().map_err(|_| bad())
        };
        let year = num(0..4)?;
        let month = u8::try_from(num(5..7)?).map_err(|_| bad())?;
        let day = u8::try_from(num(8..10)?).map_err(|_| bad())?;
        PlanDate::new(year, month, day).map_err(|_| bad())
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    time::Month::try_from(month).map_or(0, |month| month.length(i32::from(year)))
}

impl fmt::Display for PlanDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl TryFrom<String> for PlanDate {
    type Error = DomainError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        PlanDate::parse(&text)
    }
}

impl From<PlanDate> for String {
    fn from(d: PlanDate) -> String {
        d.to_string()
    }
}

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Days since 1970-01-01 of a date (valid by construction of [`PlanDate`]).
fn unix_day_of(date: PlanDate) -> i64 {
    time::Month::try_from(date.month)
        .and_then(|month| time::Date::from_calendar_date(i32::from(date.year), month, date.day))
        .map_or(0, |date| {
            i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY
        })
}

/// The date of a day count since 1970-01-01, for days of years 1 to 9999 (the range of
/// [`Timestamp`]).
fn date_of_unix_day(days: i64) -> (i32, u8, u8) {
    i32::try_from(days + UNIX_EPOCH_JULIAN_DAY)
        .ok()
        .and_then(|julian| time::Date::from_julian_day(julian).ok())
        .map_or((1970, 1, 1), |date| {
            (date.year(), u8::from(date.month()), date.day())
        })
}

/// Seconds of 0001-01-01T00:00:00Z and of 9999-12-31T23:59:59Z, the range of RFC 3339 (and of
/// protobuf's `Timestamp`).
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

/// A UTC instant with nanosecond precision, serialised as RFC 3339 (`2025-11-29T20:25:48.5Z`).
/// Events carry it where the real-world time of what they record matters (a regression run's
/// start and finish), as reported by the client, never read from a clock here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp {
    seconds: i64,
    nanos: u32,
}

impl Timestamp {
    /// An instant from seconds and nanoseconds since the Unix epoch (the protobuf form); years
    /// 1 to 9999 only, nanos below one second.
    pub fn new(seconds: i64, nanos: u32) -> Result<Timestamp, DomainError> {
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) || nanos >= 1_000_000_000 {
            return Err(DomainError::BadTimestamp(format!(
                "{seconds} s {nanos} ns since the Unix epoch is outside 0001-01-01..=9999-12-31 \
                 or has nanos of a second or more"
            )));
        }
        Ok(Timestamp { seconds, nanos })
    }

    pub fn seconds(self) -> i64 {
        self.seconds
    }

    pub fn nanos(self) -> u32 {
        self.nanos
    }

    /// Parses RFC 3339 in UTC: `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (`t`, `z` and a space for `T`
    /// accepted; offsets other than `Z` are not).
    pub fn parse(text: &str) -> Result<Timestamp, DomainError> {
        let bad = || DomainError::BadTimestamp(format!("{text:?} is not RFC 3339 UTC"));
        let bytes = text.as_bytes();
        if bytes.len() < 20
            || !matches!(bytes[10], b'T' | b't' | b' ')
            || bytes[13] != b':'
            || bytes[16] != b':'
            || !matches!(bytes[bytes.len() - 1], b'Z' | b'z')
        {
            return Err(bad());
        }
        let date = PlanDate::parse(text.get(..10).ok_or_else(bad)?).map_err(|_| bad())?;
        let num = |range: std::ops::Range<usize>, max: i64| -> Result<i64, DomainError> {
            let part = text.get(range).ok_or_else(bad)?;
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: i64 = part.parse().map_err(|_| bad())?;
            if n > max {
                return Err(bad());
            }
            Ok(n)
        };
        let (hour, minute, second) = (num(11..13, 23)?, num(14..16, 59)?, num(17..19, 59)?);
        let rest = text.get(19..text.len() - 1).ok_or_else(bad)?;
        let nanos = match rest.strip_prefix('.') {
            None if rest.is_empty() => 0,
            None => return Err(bad()),
            Some(digits) => {
                if digits.is_empty()
                    || digits.len() > 9
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(bad());
                }
                let value: u32 = digits.parse().map_err(|_| bad())?;
                value * 10u32.pow(9 - digits.len() as u32)
            }
        };
        let days = unix_day_of(date);
        Timestamp::new(days * 86_400 + hour * 3600 + minute * 60 + second, nanos).map_err(|_| bad())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.seconds.div_euclid(86_400);
        let secs = self.seconds.rem_euclid(86_400);
        let (year, month, day) = date_of_unix_day(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )?;
        match self.nanos {
            0 => {}
            n if n % 1_000_000 == 0 => write!(f, ".{:03}", n / 1_000_000)?,
            n if n % 1_000 == 0 => write!(f, ".{:06}", n / 1_000)?,
            n => write!(f, ".{n:09}")?,
        }
        f.write_str("Z")
    }
}

impl TryFrom<String> for Timestamp {
    type Error = DomainError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Timestamp::parse(&text)
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            PlanDate::parse("2024-02-29").map(|d| d.to_string()),
            Ok("2024-02-29".to_string())
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "20x4-01-01",
            "2024-04-31",
            "",
        ] {
            assert!(PlanDate::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn timestamps_round_trip_through_rfc3339() {
        for (seconds, nanos, text) in [
            (0, 0, "1970-01-01T00:00:00Z"),
            (1_764_400_000, 0, "2025-11-29T07:06:40Z"),
            (1_764_400_000, 500_000_000, "2025-11-29T07:06:40.500Z"),
            (951_782_400, 1_000, "2000-02-29T00:00:00.000001Z"),
            (-1, 7, "1969-12-31T23:59:59.000000007Z"),
            (MIN_SECONDS, 0, "0001-01-01T00:00:00Z"),
            (MAX_SECONDS, 999_999_999, "9999-12-31T23:59:59.999999999Z"),
        ] {
            let t = Timestamp::new(seconds, nanos).unwrap();
            assert_eq!(t.to_string(), text);
            assert_eq!(Timestamp::parse(text), Ok(t));
        }
        assert_eq!(
            Timestamp::parse("2025-11-29 07:06:40.5z").map(|t| (t.seconds(), t.nanos())),
            Ok((1_764_400_000, 500_000_000))
        );
    }

    #[test]
    fn timestamps_out_of_range_or_malformed_are_refused() {
        assert!(Timestamp::new(MAX_SECONDS + 1, 0).is_err());
        assert!(Timestamp::new(MIN_SECONDS - 1, 0).is_err());
        assert!(Timestamp::new(0, 1_000_000_000).is_err());
        for bad in [
            "",
            "2025-11-29",
            "2025-11-29T07:06:40",
            "2025-11-29T07:06:40+01:00",
            "2025-11-29T24:00:00Z",
            "2025-11-29T07:60:00Z",
            "2025-02-30T07:06:40Z",
            "2025-11-29T07:06:40.Z",
            "2025-11-29T07:06:40.1234567890Z",
            "2025-11-29T07:06:4xZ",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
