//! Simulated time: UTC milliseconds since the Unix epoch, its calendar date (the `time` crate's
//! proleptic Gregorian calendar), and conversion to and from `meterlab-dlms`'s COSEM
//! [`DateTime`]. Nothing here reads a clock; callers pass `now`.

use std::fmt;

use meterlab_dlms::Data;
use meterlab_dlms::axdr::{ClockStatus, DateTime};

use crate::error::{AccessError, EmulatorError};

/// Milliseconds in one second, minute, half hour and day.
pub const SECOND_MS: i64 = 1_000;
/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
/// Milliseconds in a half-hour settlement period.
pub const HALF_HOUR_MS: i64 = 30 * MINUTE_MS;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// An instant in UTC, in milliseconds since 1970-01-01T00:00:00Z. Used both for the simulation's
/// true time and for a device's (possibly wrong) idea of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub i64);

impl SimTime {
    /// From milliseconds since the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// From whole seconds since the epoch.
    pub const fn from_unix_secs(secs: i64) -> Self {
        Self(secs * SECOND_MS)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// This instant moved by `millis` (negative moves back), saturating at the ends of time.
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// The first multiple of `period_ms` strictly after this instant.
    pub fn next_multiple_of(self, period_ms: i64) -> Self {
        Self((self.0.div_euclid(period_ms) + 1) * period_ms)
    }

    /// From a calendar date and time in UTC; `None` when a field is out of range.
    pub fn from_civil(civil: Civil) -> Option<Self> {
        let month = time::Month::try_from(civil.month).ok()?;
        let date = time::Date::from_calendar_date(civil.year, month, civil.day).ok()?;
        if civil.hour >= 24 || civil.minute >= 60 || civil.second >= 60 || civil.millis >= 1000 {
            return None;
        }
        let days = i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY;
        let secs = days * 86_400
            + i64::from(civil.hour) * 3_600
            + i64::from(civil.minute) * 60
            + i64::from(civil.second);
        Some(Self(secs * SECOND_MS + i64::from(civil.millis)))
    }

    /// The calendar date and time in UTC (clamped to the years the calendar library covers,
    /// ±999,999, far beyond any instant a device meets).
    pub fn civil(self) -> Civil {
        let days = self.0.div_euclid(DAY_MS);
        let of_day = self.0.rem_euclid(DAY_MS);
        let date = i32::try_from(days + UNIX_EPOCH_JULIAN_DAY)
            .ok()
            .and_then(|julian| time::Date::from_julian_day(julian).ok())
            .unwrap_or(if days < 0 {
                time::Date::MIN
            } else {
                time::Date::MAX
            });
        Civil {
            year: date.year(),
            month: u8::from(date.month()),
            day: date.day(),
            hour: (of_day / 3_600_000) as u8,
            minute: (of_day / MINUTE_MS % 60) as u8,
            second: (of_day / SECOND_MS % 60) as u8,
            millis: (of_day % SECOND_MS) as u16,
            weekday: date.weekday().number_from_monday(),
        }
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (the form scenarios use).
    pub fn parse_rfc3339_utc(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
            return None;
        }
        if bytes[13] != b':' || bytes[16] != b':' || bytes[19] != b'Z' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = text.get(range)?;
            part.bytes()
                .all(|byte| byte.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        Self::from_civil(Civil {
            year: i32::try_from(number(0..4)?).ok()?,
            month: u8::try_from(number(5..7)?).ok()?,
            day: u8::try_from(number(8..10)?).ok()?,
            hour: u8::try_from(number(11..13)?).ok()?,
            minute: u8::try_from(number(14..16)?).ok()?,
            second: u8::try_from(number(17..19)?).ok()?,
            millis: 0,
            weekday: 0,
        })
    }

    /// This instant as a COSEM `date-time` in UTC: deviation 0, clock status 0 (GB meters keep
    /// UTC), hundredths of a second.
    pub fn to_date_time(self) -> DateTime {
        let mut date_time = DateTime::from_unix(self.0.div_euclid(SECOND_MS), 0, ClockStatus(0));
        date_time.time.hundredths = (self.0.rem_euclid(SECOND_MS) / 10) as u8;
        date_time
    }

    /// This instant as a COSEM `date-time` in local time for a clock whose deviation is
    /// `deviation` minutes (`UTC = local + deviation`; BST is −60), hundredths included.
    pub fn to_local_date_time(self, deviation: i16) -> DateTime {
        let mut date_time =
            DateTime::from_unix(self.0.div_euclid(SECOND_MS), deviation, ClockStatus(0));
        date_time.time.hundredths = (self.0.rem_euclid(SECOND_MS) / 10) as u8;
        date_time
    }

    /// This instant as the 12-octet `octet-string` COSEM attributes carry date-times in.
    pub fn to_data(self) -> Data {
        Data::OctetString(self.to_date_time().to_bytes().to_vec())
    }

    /// A date-time attribute or parameter, given as its 12-octet `octet-string`.
    pub fn from_data(data: &Data) -> Result<Self, AccessError> {
        match data {
            Data::OctetString(octets) => {
                Self::from_cosem(octets).map_err(|_| AccessError::TypeUnmatched)
            }
            _ => Err(AccessError::TypeUnmatched),
        }
    }

    /// Reads a fully specified COSEM `date-time`. Wildcards (0xFF) are refused, except for the day
    /// of week, hundredths (taken as 0) and the clock status; an unspecified deviation (0x8000)
    /// means UTC. A specified deviation follows the Blue Book convention `UTC = local + deviation`.
    pub fn from_cosem(octets: &[u8]) -> Result<Self, EmulatorError> {
        if octets.len() != DateTime::LEN {
            return Err(EmulatorError::InvalidDateTime(format!(
                "expected 12 octets, got {}",
                octets.len()
            )));
        }
        let date_time = DateTime::from_octets(octets)
            .map_err(|error| EmulatorError::InvalidDateTime(error.to_string()))?;
        let (date, time) = (date_time.date, date_time.time);
        if date.year == 0xFFFF || date.month >= 0xFD || date.day >= 0xFD || time.hour == 0xFF {
            return Err(EmulatorError::InvalidDateTime(format!(
                "date-time {} has unspecified fields",
                hex::encode(octets)
            )));
        }
        let field = |byte: u8| if byte == 0xFF { 0 } else { byte };
        let civil = Civil {
            year: i32::from(date.year),
            month: date.month,
            day: date.day,
            hour: time.hour,
            minute: field(time.minute),
            second: field(time.second),
            millis: u16::from(field(time.hundredths)) * 10,
            weekday: 0,
        };
        let local = Self::from_civil(civil).ok_or_else(|| {
            EmulatorError::InvalidDateTime(format!(
                "date-time {} is not a valid calendar instant",
                hex::encode(octets)
            ))
        })?;
        let Some(deviation) = date_time.deviation else {
            return Ok(local);
        };
        if !(-720..=720).contains(&deviation) {
            return Err(EmulatorError::InvalidDateTime(format!(
                "deviation {deviation} minutes is outside -720..=720"
            )));
        }
        Ok(local.plus_millis(i64::from(deviation) * MINUTE_MS))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }
}

/// A calendar date and time of day in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year, e.g. 2026.
    pub year: i32,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// 0..=999.
    pub millis: u16,
    /// ISO weekday, 1 = Monday .. 7 = Sunday (ignored when converting to an instant).
    pub weekday: u8,
}

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants_have_known_calendar_dates() {
        let t = SimTime::parse_rfc3339_utc("2026-11-29T16:47:09Z").unwrap();
        assert_eq!(t.millis(), 1_795_970_829_000);
        assert_eq!(t.civil().weekday, 7, "29 Nov 2026 is a Sunday");
        assert_eq!(t.to_string(), "2026-11-29T16:47:09Z");
        let leap = SimTime::parse_rfc3339_utc("2024-02-29T00:00:00Z").unwrap();
        assert_eq!(leap.civil().day, 29);
        assert!(SimTime::parse_rfc3339_utc("2025-02-29T00:00:00Z").is_none());
        assert!(SimTime::parse_rfc3339_utc("2025-01-01 00:00:00Z").is_none());
    }

    #[test]
    fn cosem_date_time_uses_monday_one_and_big_endian_year() {
        let t = SimTime::parse_rfc3339_utc("2026-11-30T01:02:03Z").unwrap();
        assert_eq!(
            t.to_date_time().to_bytes(),
            [0x07, 0xEA, 11, 30, 1, 1, 2, 3, 0, 0, 0, 0]
        );
    }

    #[test]
    fn cosem_deviation_follows_utc_equals_local_plus_deviation() {
        // 12:00 local at UTC+1 (deviation -60) is 11:00 UTC.
        let mut octets = [0x07, 0xEA, 6, 1, 0xFF, 12, 0, 0, 0, 0xFF, 0xC4, 0x80];
        let t = SimTime::from_cosem(&octets).unwrap();
        assert_eq!(t.to_string(), "2026-06-01T11:00:00Z");
        octets[9..11].copy_from_slice(&[0x80, 0x00]);
        assert_eq!(
            SimTime::from_cosem(&octets).unwrap().to_string(),
            "2026-06-01T12:00:00Z"
        );
        octets[5] = 0xFF;
        assert!(SimTime::from_cosem(&octets).is_err());
        assert!(SimTime::from_cosem(&octets[..11]).is_err());
    }

    proptest! {
        #[test]
        fn calendar_round_trips(millis in -10_000_000_000_000i64..10_000_000_000_000) {
            let t = SimTime(millis);
            prop_assert_eq!(SimTime::from_civil(t.civil()), Some(t));
        }

        #[test]
        fn cosem_round_trips_to_the_hundredth(millis in 0i64..4_000_000_000_000) {
            let t = SimTime(millis - millis % 10);
            prop_assert_eq!(SimTime::from_cosem(&t.to_date_time().to_bytes()).unwrap(), t);
        }

        #[test]
        fn any_octets_give_a_time_or_an_error(octets in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = SimTime::from_cosem(&octets);
        }
    }
}
