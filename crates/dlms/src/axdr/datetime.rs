//! COSEM `date`, `time` and `date-time` (IEC 62056-6-2 §4.1.6.1).
//!
//! Fields are kept as they appear on the wire (including the "not specified" and wildcard values
//! such as 0xFF, 0xFE "last day", 0xFD "second last day") so any received value re-encodes
//! byte-for-byte. The **deviation** is the number of minutes from local time to UTC, i.e.
//! `UTC = local + deviation`: British Summer Time (UTC+1) is −60 and GMT is 0. 0x8000 on the wire
//! means "not specified" and is represented as `None`.

use super::{DecodeError, reader::Reader};

/// Wire value of a deviation that is not specified.
pub const DEVIATION_NOT_SPECIFIED: i16 = i16::MIN;
/// Wire value of a byte field that is not specified.
pub const NOT_SPECIFIED: u8 = 0xFF;

/// A COSEM date (5 octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Date {
    /// 0xFFFF = not specified.
    pub year: u16,
    /// 1..=12, 0xFD daylight-savings end, 0xFE daylight-savings begin, 0xFF not specified.
    pub month: u8,
    /// 1..=31, 0xFD second-last day of month, 0xFE last day of month, 0xFF not specified.
    pub day: u8,
    /// 1..=7 with Monday = 1, 0xFF not specified.
    pub day_of_week: u8,
}

/// A COSEM time (4 octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Time {
    /// 0..=23, 0xFF not specified.
    pub hour: u8,
    /// 0..=59, 0xFF not specified.
    pub minute: u8,
    /// 0..=59, 0xFF not specified.
    pub second: u8,
    /// 0..=99, 0xFF not specified.
    pub hundredths: u8,
}

/// COSEM clock status bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClockStatus(pub u8);

impl ClockStatus {
    /// Time could not be recovered after an incident.
    pub const INVALID_VALUE: u8 = 0x01;
    /// Time could be recovered but its value is not ensured.
    pub const DOUBTFUL_VALUE: u8 = 0x02;
    /// The clock is running on a different clock base.
    pub const DIFFERENT_CLOCK_BASE: u8 = 0x04;
    /// The clock status itself is invalid.
    pub const INVALID_CLOCK_STATUS: u8 = 0x08;
    /// Daylight saving is in effect.
    pub const DAYLIGHT_SAVING_ACTIVE: u8 = 0x80;

    /// True when every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// A COSEM date-time (12 octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// Date part.
    pub date: Date,
    /// Time part.
    pub time: Time,
    /// Minutes from local time to UTC (`UTC = local + deviation`); BST is −60.
    pub deviation: Option<i16>,
    /// `None` when the status byte is 0xFF (not specified).
    pub clock_status: Option<ClockStatus>,
}

impl Date {
    /// Encoded length in bytes.
    pub const LEN: usize = 5;

    /// A fully specified date; the day of week is computed.
    pub fn new(year: u16, month: u8, day: u8) -> Self {
        Self {
            year,
            month,
            day,
            day_of_week: day_of_week(i64::from(year), month, day),
        }
    }

    /// Appends the 5 octets.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.year.to_be_bytes());
        out.extend_from_slice(&[self.month, self.day, self.day_of_week]);
    }

    /// Reads 5 octets.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            year: r.u16("date year")?,
            month: r.u8("date month")?,
            day: r.u8("date day")?,
            day_of_week: r.u8("date day-of-week")?,
        })
    }
}

impl Time {
    /// Encoded length in bytes.
    pub const LEN: usize = 4;

    /// A fully specified time with zero hundredths.
    pub fn new(hour: u8, minute: u8, second: u8) -> Self {
        Self {
            hour,
            minute,
            second,
            hundredths: 0,
        }
    }

    /// Appends the 4 octets.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.hour, self.minute, self.second, self.hundredths]);
    }

    /// Reads 4 octets.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            hour: r.u8("time hour")?,
            minute: r.u8("time minute")?,
            second: r.u8("time second")?,
            hundredths: r.u8("time hundredths")?,
        })
    }
}

impl DateTime {
    /// Encoded length in bytes.
    pub const LEN: usize = 12;

    /// Appends the 12 octets.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.date.encode(out);
        self.time.encode(out);
        let dev = self.deviation.unwrap_or(DEVIATION_NOT_SPECIFIED);
        out.extend_from_slice(&dev.to_be_bytes());
        out.push(self.clock_status.map_or(NOT_SPECIFIED, |s| s.0));
    }

    /// The 12 octets as an array (the form carried in `octet-string` attributes such as Clock.time).
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut v = Vec::with_capacity(12);
        self.encode(&mut v);
        let mut out = [0u8; 12];
        out.copy_from_slice(&v);
        out
    }

    /// Reads 12 octets.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let date = Date::decode(r)?;
        let time = Time::decode(r)?;
        let dev = r.u16("date-time deviation")? as i16;
        let status = r.u8("date-time clock status")?;
        Ok(Self {
            date,
            time,
            deviation: (dev != DEVIATION_NOT_SPECIFIED).then_some(dev),
            clock_status: (status != NOT_SPECIFIED).then_some(ClockStatus(status)),
        })
    }

    /// Decodes a date-time carried as the 12 bytes of an octet-string.
    pub fn from_octets(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let dt = Self::decode(&mut r)?;
        r.finish("date-time octet-string")?;
        Ok(dt)
    }

    /// The local date-time corresponding to `unix_seconds` (UTC) for a meter whose deviation is
    /// `deviation` minutes (local → UTC, so BST is −60). Hundredths are zero.
    pub fn from_unix(unix_seconds: i64, deviation: i16, clock_status: ClockStatus) -> Self {
        let local = unix_seconds - i64::from(deviation) * 60;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (y, m, d) = date_of_unix_day(days);
        Self {
            date: Date {
                year: y.clamp(0, 0xFFFE) as u16,
                month: m,
                day: d,
                day_of_week: day_of_week(y, m, d),
            },
            time: Time::new(
                (secs / 3600) as u8,
                (secs / 60 % 60) as u8,
                (secs % 60) as u8,
            ),
            deviation: Some(deviation),
            clock_status: Some(clock_status),
        }
    }

    /// Seconds since the Unix epoch (UTC), when the date, time and deviation are fully specified
    /// (a missing deviation is treated as 0, i.e. the value is taken as UTC). Hundredths are
    /// truncated.
    pub fn to_unix(&self) -> Option<i64> {
        let d = self.date;
        let t = self.time;
        if d.year == 0xFFFF
            || !(1..=12).contains(&d.month)
            || !(1..=31).contains(&d.day)
            || t.hour > 23
            || t.minute > 59
            || t.second > 59
        {
            return None;
        }
        let days = unix_day_of(i64::from(d.year), d.month, d.day)?;
        let local = days * 86_400
            + i64::from(t.hour) * 3600
            + i64::from(t.minute) * 60
            + i64::from(t.second);
        Some(local + i64::from(self.deviation.unwrap_or(0)) * 60)
    }
}

/// Day of week, Monday = 1 … Sunday = 7.
fn day_of_week(year: i64, month: u8, day: u8) -> u8 {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return NOT_SPECIFIED;
    }
    unix_day_of(year, month, day).map_or(NOT_SPECIFIED, |days| {
        // 1970-01-01 was a Thursday (4).
        ((days + 3).rem_euclid(7) + 1) as u8
    })
}

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
/// Days since 1970-01-01 of 0000-01-01 and of 65534-12-31, the dates a COSEM date can carry.
const FIRST_COSEM_DAY: i64 = -719_528;
const LAST_COSEM_DAY: i64 = 23_216_638;

/// Days since 1970-01-01 of a proleptic Gregorian date. `day` may run past the end of the month
/// (up to 31, as wildcard-free COSEM dates can say) and counts on into the next.
fn unix_day_of(year: i64, month: u8, day: u8) -> Option<i64> {
    let month = time::Month::try_from(month).ok()?;
    let first = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, 1).ok()?;
    Some(i64::from(first.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY + i64::from(day) - 1)
}

/// The proleptic Gregorian date of a day count since 1970-01-01, clamped to the dates a COSEM
/// date can carry (years 0 to 65534).
fn date_of_unix_day(days: i64) -> (i64, u8, u8) {
    let julian = days.clamp(FIRST_COSEM_DAY, LAST_COSEM_DAY) + UNIX_EPOCH_JULIAN_DAY;
    let date = i32::try_from(julian)
        .ok()
        .and_then(|julian| time::Date::from_julian_day(julian).ok());
    date.map_or((0, 1, 1), |date| {
        (i64::from(date.year()), u8::from(date.month()), date.day())
    })
}
