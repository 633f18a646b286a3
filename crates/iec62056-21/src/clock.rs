//! The clock as an optical port shows it: time `0.9.1(hh:mm:ss)` and date `0.9.2(YY-MM-DD)`,
//! UTC, years 2000-2099.

use crate::FrameError;

/// Address of the time data set.
pub const TIME_ADDRESS: &str = "0.9.1";
/// Address of the date data set.
pub const DATE_ADDRESS: &str = "0.9.2";

const DAY_MS: i64 = 86_400_000;

/// `hh:mm:ss` of `unix_ms`.
pub fn time_value(unix_ms: i64) -> String {
    let seconds = unix_ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `YY-MM-DD` of `unix_ms`; `None` outside 2000-2099.
pub fn date_value(unix_ms: i64) -> Option<String> {
    let (year, month, day) = civil_from_days(unix_ms.div_euclid(DAY_MS));
    (2000..=2099)
        .contains(&year)
        .then(|| format!("{:02}-{month:02}-{day:02}", year - 2000))
}

/// Unix milliseconds of a `YY-MM-DD` date and `hh:mm:ss` time.
pub fn unix_ms(date: &str, time: &str) -> Result<i64, FrameError> {
    let [year, month, day] = numbers::<3>(date, '-', "date")?;
    let [hour, minute, second] = numbers::<3>(time, ':', "time")?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(2000 + year, month) {
        return Err(FrameError::malformed(
            "date",
            format!("{date:?} is not a calendar date"),
        ));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(FrameError::malformed(
            "time",
            format!("{time:?} is not a time of day"),
        ));
    }
    let days = days_from_civil(2000 + year, month, day);
    Ok(days * DAY_MS + (hour * 3600 + minute * 60 + second) * 1000)
}

fn numbers<const N: usize>(
    text: &str,
    separator: char,
    what: &'static str,
) -> Result<[i64; N], FrameError> {
    let bad = || {
        FrameError::malformed(
            what,
            format!("{text:?} is not NN{separator}NN{separator}NN"),
        )
    };
    let mut out = [0; N];
    let mut parts = text.split(separator);
    for slot in &mut out {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(bad());
        }
        *slot = part.parse().map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_instant_reads_as_its_calendar_date_and_back() {
        // 2026-12-07T02:38:05Z
        let at = 1_796_611_085_000;
        assert_eq!(date_value(at).as_deref(), Some("26-12-07"));
        assert_eq!(time_value(at), "02:38:05");
        assert_eq!(unix_ms("26-12-07", "02:38:05"), Ok(at));
        assert_eq!(
            unix_ms("24-02-29", "00:00:00").map(date_value),
            Ok(Some("24-02-29".to_owned()))
        );
    }

    #[test]
    fn impossible_dates_and_times_are_refused() {
        for (date, time) in [
            ("25-02-29", "00:00:00"),
            ("26-13-01", "00:00:00"),
            ("26-12-07", "24:00:00"),
            ("26-12-7", "00:00:00"),
            ("26-12-07", "00:00"),
        ] {
            assert!(unix_ms(date, time).is_err(), "{date} {time} was accepted");
        }
    }
}
