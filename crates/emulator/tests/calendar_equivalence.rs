//! Simulated time's calendar on the `time` crate gives exactly what the hand-written calendar
//! arithmetic it replaced gave, over every instant a COSEM date-time can name (years 0 to
//! 65534). The replaced arithmetic (H. Hinnant's `days_from_civil` / `civil_from_days`) is kept
//! here, and only here, as the reference for this comparison.

use meterlab_emulator::SimTime;
use meterlab_emulator::time::Civil;
use proptest::prelude::*;

mod reference {
    pub fn is_leap(year: i32) -> bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    pub fn days_in_month(year: i32, month: u8) -> u8 {
        match month {
            2 if is_leap(year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    pub fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
        let year = i64::from(year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(month);
        let day_of_year =
            (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    pub fn civil_from_days(days: i64) -> (i32, u8, u8) {
        let days = days + 719_468;
        let era = days.div_euclid(146_097);
        let day_of_era = days - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year as i32, month, day)
    }
}

const DAY_MS: i64 = 86_400_000;
/// 0000-01-01T00:00:00Z and 65534-12-31T23:59:59.999Z in milliseconds.
const FIRST: i64 = -719_528 * DAY_MS;
const LAST: i64 = 23_216_639 * DAY_MS - 1;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn civil_matches_the_replaced_arithmetic(millis in FIRST..=LAST) {
        let civil = SimTime(millis).civil();
        let days = millis.div_euclid(DAY_MS);
        prop_assert_eq!(
            (civil.year, civil.month, civil.day),
            reference::civil_from_days(days)
        );
        prop_assert_eq!(i64::from(civil.weekday), (days + 3).rem_euclid(7) + 1);
    }

    #[test]
    fn from_civil_accepts_and_places_dates_as_before(
        year in 0i32..=65_534,
        month in 0u8..=13,
        day in 0u8..=32,
        (hour, minute, second, millis) in (0u8..=24, 0u8..=60, 0u8..=60, 0u16..=1000),
    ) {
        let civil = Civil { year, month, day, hour, minute, second, millis, weekday: 0 };
        let valid = (1..=12).contains(&month)
            && day >= 1
            && day <= reference::days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second < 60
            && millis < 1000;
        let expected = valid.then(|| {
            let secs = reference::days_from_civil(year, month, day) * 86_400
                + i64::from(hour) * 3_600
                + i64::from(minute) * 60
                + i64::from(second);
            SimTime(secs * 1_000 + i64::from(millis))
        });
        prop_assert_eq!(SimTime::from_civil(civil), expected);
    }
}
