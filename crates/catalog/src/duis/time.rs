//! DUIS date-times (`xs:dateTime`, e.g. `2026-12-01T00:00:00.00Z`) as UTC milliseconds.

use crate::error::DateTimeError;

/// Parses `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`; a date-time without a zone is taken as
/// UTC, as DUIS requires UTC.
pub fn parse_utc_ms(text: &str) -> Result<i64, DateTimeError> {
    let bad = || DateTimeError {
        text: text.to_owned(),
    };
    let text = text.trim();
    let (date, time) = text.split_once('T').ok_or_else(bad)?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = number(date_parts.next(), 4).ok_or_else(bad)?;
    let month: i64 = number(date_parts.next(), 2).ok_or_else(bad)?;
    let day: i64 = number(date_parts.next(), 2).ok_or_else(bad)?;
    let (clock, offset_minutes) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else if let Some(split) = time.rfind(['+', '-']).filter(|index| *index >= 8) {
        let (clock, zone) = time.split_at(split);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = zone[1..].split_once(':').ok_or_else(bad)?;
        let hours: i64 = number(Some(hours), 2).ok_or_else(bad)?;
        let minutes: i64 = number(Some(minutes), 2).ok_or_else(bad)?;
        (clock, sign * (hours * 60 + minutes))
    } else {
        (time, 0)
    };
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut clock_parts = whole.splitn(3, ':');
    let hour: i64 = number(clock_parts.next(), 2).ok_or_else(bad)?;
    let minute: i64 = number(clock_parts.next(), 2).ok_or_else(bad)?;
    let second: i64 = number(clock_parts.next(), 2).ok_or_else(bad)?;
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().map_err(|_| bad())?;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1000 + millis)
}

fn number(part: Option<&str>, digits: usize) -> Option<i64> {
    let part = part?;
    (part.len() == digits && part.chars().all(|c| c.is_ascii_digit()))
        .then(|| part.parse().ok())
        .flatten()
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

#[cfg(test)]
mod tests {
    use super::parse_utc_ms;

    #[test]
    fn utc_date_times_become_epoch_milliseconds() {
        assert_eq!(parse_utc_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_utc_ms("2014-12-31T00:00:00.00Z"),
            Ok(1_419_984_000_000)
        );
        assert_eq!(
            parse_utc_ms("2026-12-06T23:50:00.5Z"),
            Ok(1_796_601_000_500)
        );
        assert_eq!(
            parse_utc_ms("2000-02-29T12:00:00+01:00"),
            Ok(951_822_000_000)
        );
        assert_eq!(parse_utc_ms("1969-12-31T23:59:59Z"), Ok(-1000));
    }

    #[test]
    fn malformed_date_times_are_refused() {
        for text in [
            "",
            "2026-12-01",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "26-12-01T00:00:00Z",
            "2026-12-01T00:00:00.x1Z",
            "2026-12-01T00:00:00+0100",
        ] {
            assert!(parse_utc_ms(text).is_err(), "{text:?} was accepted");
        }
    }
}
