//! Calendar dates for the test timetable, without a date-time dependency.

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
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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

#[cfg(test)]
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
}
