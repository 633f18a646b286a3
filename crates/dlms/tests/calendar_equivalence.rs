//! The COSEM date-time conversions on the `time` crate give exactly what the hand-written
//! calendar arithmetic they replaced gave, over the whole range a COSEM date can carry (years 0 to
//! 65534). The replaced arithmetic (H. Hinnant's `days_from_civil` / `civil_from_days`) is kept
//! here, and only here, as the reference for this comparison.

use meterlab_dlms::axdr::{ClockStatus, Date, DateTime, Time};
use proptest::prelude::*;

mod reference {
    pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
        let m = i64::from(month);
        let y = if m <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }

    /// The former `DateTime::from_unix`, as (year, month, day, day of week, h, m, s).
    pub fn from_unix(unix_seconds: i64, deviation: i16) -> (u16, u8, u8, u8, u8, u8, u8) {
        let local = unix_seconds - i64::from(deviation) * 60;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let dow = ((days_from_civil(y, m, d) + 3).rem_euclid(7) + 1) as u8;
        (
            y.clamp(0, 0xFFFE) as u16,
            m,
            d,
            dow,
            (secs / 3600) as u8,
            (secs / 60 % 60) as u8,
            (secs % 60) as u8,
        )
    }

    /// The former `DateTime::to_unix` for fully specified fields.
    pub fn to_unix(year: u16, month: u8, day: u8, h: u8, m: u8, s: u8, deviation: i16) -> i64 {
        days_from_civil(i64::from(year), month, day) * 86_400
            + i64::from(h) * 3600
            + i64::from(m) * 60
            + i64::from(s)
            + i64::from(deviation) * 60
    }
}

/// Unix seconds of 0000-01-01T00:00:00 and of 65534-12-31T23:59:59 (local time).
const FIRST: i64 = -719_528 * 86_400;
const LAST: i64 = 23_216_639 * 86_400 - 1;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn from_unix_matches_the_replaced_arithmetic(
        local in FIRST..=LAST,
        deviation in -720i16..=720,
    ) {
        let unix = local + i64::from(deviation) * 60;
        let new = DateTime::from_unix(unix, deviation, ClockStatus(0));
        let old = reference::from_unix(unix, deviation);
        prop_assert_eq!(
            (
                new.date.year,
                new.date.month,
                new.date.day,
                new.date.day_of_week,
                new.time.hour,
                new.time.minute,
                new.time.second,
            ),
            old
        );
        prop_assert_eq!(new.to_unix(), Some(unix));
    }

    /// Days 29-31 of any month included: a day past the month's end counts on into the next,
    /// as it always has.
    #[test]
    fn to_unix_matches_the_replaced_arithmetic(
        year in 0u16..=0xFFFE,
        month in 1u8..=12,
        day in 1u8..=31,
        (h, m, s) in (0u8..24, 0u8..60, 0u8..60),
        deviation in -720i16..=720,
    ) {
        let date_time = DateTime {
            date: Date::new(year, month, day),
            time: Time::new(h, m, s),
            deviation: Some(deviation),
            clock_status: Some(ClockStatus(0)),
        };
        prop_assert_eq!(
            date_time.to_unix(),
            Some(reference::to_unix(year, month, day, h, m, s, deviation))
        );
    }
}

#[test]
fn the_ends_of_the_cosem_range_convert() {
    let first = DateTime::from_unix(FIRST, 0, ClockStatus(0));
    assert_eq!(
        (first.date.year, first.date.month, first.date.day),
        (0, 1, 1)
    );
    let last = DateTime::from_unix(LAST, 0, ClockStatus(0));
    assert_eq!(
        (last.date.year, last.date.month, last.date.day),
        (65_534, 12, 31)
    );
    assert_eq!(last.to_unix(), Some(LAST));
}
