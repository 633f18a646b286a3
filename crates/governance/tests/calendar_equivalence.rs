//! Plan dates and timestamps on the `time` crate give exactly what the hand-written calendar
//! arithmetic they replaced gave, over every year the types accept. The replaced arithmetic
//! (H. Hinnant's `days_from_civil` / `civil_from_days`) is kept here, and only here, as the
//! reference for this comparison.

use meterlab_governance::date::{PlanDate, Timestamp};
use proptest::prelude::*;

mod reference {
    pub fn days_in_month(year: u16, month: u8) -> u8 {
        match month {
            2 if (year.is_multiple_of(4) && !year.is_multiple_of(100))
                || year.is_multiple_of(400) =>
            {
                29
            }
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        (yoe + era * 400 + i64::from(month <= 2), month, day)
    }

    /// The former `Timestamp` display, seconds part.
    pub fn display(seconds: i64) -> String {
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        let secs = seconds.rem_euclid(86_400);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Seconds of 0001-01-01T00:00:00Z and of 9999-12-31T23:59:59Z.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn plan_dates_are_valid_exactly_when_they_were(
        year in 0u16..=u16::MAX,
        month in 0u8..=13,
        day in 0u8..=32,
    ) {
        let valid = (1..=12).contains(&month)
            && day >= 1
            && day <= reference::days_in_month(year, month);
        prop_assert_eq!(PlanDate::new(year, month, day).is_ok(), valid);
    }

    #[test]
    fn timestamps_print_and_parse_as_they_did(seconds in MIN_SECONDS..=MAX_SECONDS) {
        let timestamp = Timestamp::new(seconds, 0).expect("in range");
        let text = reference::display(seconds);
        prop_assert_eq!(timestamp.to_string(), text.clone());
        prop_assert_eq!(Timestamp::parse(&text), Ok(timestamp));
    }
}
