//! Typed views of Data (1), Register (3), Extended Register (4) and Clock (8).
//!
//! | class | attributes | methods |
//! |---|---|---|
//! | Data 1 | 2 value | – |
//! | Register 3 | 2 value, 3 scaler_unit | 1 reset |
//! | Extended Register 4 | 2 value, 3 scaler_unit, 4 status, 5 capture_time | 1 reset |
//! | Clock 8 | 2 time, 3 time_zone, 4 status, 5 dst_begin, 6 dst_end, 7 dst_deviation, 8 dst_enabled, 9 clock_base | 1–6 adjust/preset/shift |

use crate::axdr::{ClockStatus, Data, DateTime};

/// Register attribute indices.
pub mod register {
    #![allow(missing_docs)]
    pub const VALUE: i8 = 2;
    pub const SCALER_UNIT: i8 = 3;
    pub const STATUS: i8 = 4;
    pub const CAPTURE_TIME: i8 = 5;
    pub const RESET: i8 = 1;
}

/// Clock attribute and method indices.
pub mod clock {
    #![allow(missing_docs)]
    pub const TIME: i8 = 2;
    pub const TIME_ZONE: i8 = 3;
    pub const STATUS: i8 = 4;
    pub const DAYLIGHT_SAVINGS_BEGIN: i8 = 5;
    pub const DAYLIGHT_SAVINGS_END: i8 = 6;
    pub const DAYLIGHT_SAVINGS_DEVIATION: i8 = 7;
    pub const DAYLIGHT_SAVINGS_ENABLED: i8 = 8;
    pub const CLOCK_BASE: i8 = 9;
    pub const ADJUST_TO_QUARTER: i8 = 1;
    pub const ADJUST_TO_MEASURING_PERIOD: i8 = 2;
    pub const ADJUST_TO_MINUTE: i8 = 3;
    pub const ADJUST_TO_PRESET_TIME: i8 = 4;
    pub const PRESET_ADJUSTING_TIME: i8 = 5;
    pub const SHIFT_TIME: i8 = 6;
}

/// Common units (enum values of the `unit` table).
pub mod unit {
    #![allow(missing_docs)]
    pub const SECOND: u8 = 7;
    pub const WATT: u8 = 27;
    pub const VOLT_AMPERE: u8 = 28;
    pub const VAR: u8 = 29;
    pub const WATT_HOUR: u8 = 30;
    pub const VOLT_AMPERE_HOUR: u8 = 31;
    pub const VAR_HOUR: u8 = 32;
    pub const AMPERE: u8 = 33;
    pub const VOLT: u8 = 35;
    pub const HERTZ: u8 = 44;
    pub const CUBIC_METRE: u8 = 13;
    pub const NO_UNIT: u8 = 255;
}

/// `scaler_unit`: value × 10^scaler in `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScalerUnit {
    /// Power-of-ten scaler.
    pub scaler: i8,
    /// Unit enum.
    pub unit: u8,
}

impl ScalerUnit {
    /// `structure { integer scaler, enum unit }`.
    pub fn to_data(self) -> Data {
        Data::Structure(vec![Data::Integer(self.scaler), Data::Enum(self.unit)])
    }

    /// Parses the structure.
    pub fn from_data(d: &Data) -> Option<Self> {
        match d.as_items()? {
            [Data::Integer(scaler), Data::Enum(unit)] => Some(Self {
                scaler: *scaler,
                unit: *unit,
            }),
            _ => None,
        }
    }

    /// Applies the scaler to a raw integer value.
    pub fn scale(self, raw: i128) -> f64 {
        raw as f64 * 10f64.powi(i32::from(self.scaler))
    }
}

/// A Register (or Extended Register) reading with its scaler and unit.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterReading {
    /// Attribute 2.
    pub value: Data,
    /// Attribute 3.
    pub scaler_unit: ScalerUnit,
    /// Attribute 4 (Extended Register only).
    pub status: Option<Data>,
    /// Attribute 5 (Extended Register only).
    pub capture_time: Option<DateTime>,
}

impl RegisterReading {
    /// The value in physical units, when attribute 2 is an integer.
    pub fn scaled(&self) -> Option<f64> {
        self.value.as_integer().map(|v| self.scaler_unit.scale(v))
    }

    /// Attribute `index` of this register as Data (2..=5).
    pub fn attribute(&self, index: i8) -> Option<Data> {
        match index {
            register::VALUE => Some(self.value.clone()),
            register::SCALER_UNIT => Some(self.scaler_unit.to_data()),
            register::STATUS => self.status.clone(),
            register::CAPTURE_TIME => self
                .capture_time
                .map(|t| Data::OctetString(t.to_bytes().to_vec())),
            _ => None,
        }
    }
}

/// Clock attributes a test needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockView {
    /// Attribute 2: local date-time.
    pub time: DateTime,
    /// Attribute 3: deviation of local time to UTC in minutes (`long`).
    pub time_zone: i16,
    /// Attribute 4.
    pub status: ClockStatus,
    /// Attribute 8.
    pub daylight_savings_enabled: bool,
}

impl ClockView {
    /// Attribute `index` as Data (2, 3, 4, 8).
    pub fn attribute(&self, index: i8) -> Option<Data> {
        match index {
            clock::TIME => Some(Data::OctetString(self.time.to_bytes().to_vec())),
            clock::TIME_ZONE => Some(Data::Long(self.time_zone)),
            clock::STATUS => Some(Data::Unsigned(self.status.0)),
            clock::DAYLIGHT_SAVINGS_ENABLED => Some(Data::Boolean(self.daylight_savings_enabled)),
            _ => None,
        }
    }

    /// Parses Clock.time as returned by a GET (octet-string or date-time).
    pub fn parse_time(d: &Data) -> Option<DateTime> {
        d.as_date_time()
    }

    /// The clock at `unix_seconds` (UTC) for a meter with `time_zone` deviation and DST state.
    pub fn at(unix_seconds: i64, time_zone: i16, dst_active: bool) -> Self {
        let deviation = if dst_active {
            time_zone - 60
        } else {
            time_zone
        };
        let status = if dst_active {
            ClockStatus(ClockStatus::DAYLIGHT_SAVING_ACTIVE)
        } else {
            ClockStatus(0)
        };
        Self {
            time: DateTime::from_unix(unix_seconds, deviation, status),
            time_zone,
            status,
            daylight_savings_enabled: true,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scaler_unit_round_trip_and_scaling() {
        let su = ScalerUnit {
            scaler: -3,
            unit: unit::WATT_HOUR,
        };
        assert_eq!(
            su.to_data().to_bytes(),
            [0x02, 0x02, 0x0F, 0xFD, 0x16, 0x1E]
        );
        assert_eq!(ScalerUnit::from_data(&su.to_data()), Some(su));
        let r = RegisterReading {
            value: Data::DoubleLongUnsigned(123_456),
            scaler_unit: su,
            status: None,
            capture_time: None,
        };
        assert_eq!(r.scaled(), Some(123.456));
        assert_eq!(r.attribute(3), Some(su.to_data()));
    }

    #[test]
    fn clock_in_bst_has_deviation_minus_60() {
        let c = ClockView::at(1_719_835_200, 0, true);
        assert_eq!(c.time.deviation, Some(-60));
        assert_eq!((c.time.time.hour, c.time.time.minute), (13, 0));
        assert_eq!(
            ClockView::parse_time(&c.attribute(clock::TIME).unwrap())
                .unwrap()
                .to_unix(),
            Some(1_719_835_200)
        );
    }
}
