//! Data-set values to SRV results: decimal register values with units, the clock.

use meterlab_iec62056_21::{DataSet, clock};
use meterlab_plugin::pb::{Reading, Unit};

/// A register data set (`001234.567*kWh`) as `value × 10^scaler` in its unit.
pub fn reading(set: &DataSet) -> Result<Reading, String> {
    let unit = match set.unit.as_deref() {
        Some("kWh") => Unit::KilowattHour,
        Some("Wh") => Unit::WattHour,
        Some("W") => Unit::Watt,
        Some("m3") => Unit::CubicMetre,
        other => {
            return Err(format!(
                "{}: unit {other:?} is not one of kWh, Wh, W, m3",
                set.address
            ));
        }
    };
    let (value, scaler) = decimal(&set.value)
        .ok_or_else(|| format!("{}: {:?} is not a decimal number", set.address, set.value))?;
    Ok(Reading {
        value,
        scaler,
        unit: unit.into(),
    })
}

/// `[-]digits[.digits]` as an integer and a negative power of ten.
fn decimal(text: &str) -> Option<(i64, i32)> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut value: i64 = 0;
    for byte in whole.bytes().chain(fraction.bytes()) {
        value = value.checked_mul(10)?.checked_add(i64::from(byte - b'0'))?;
    }
    let scaler = -i32::try_from(fraction.len()).ok()?;
    Some((if negative { -value } else { value }, scaler))
}

/// The device time from the `0.9.2` date and `0.9.1` time data sets.
pub fn device_time_ms(date: &DataSet, time: &DataSet) -> Result<i64, String> {
    clock::unix_ms(&date.value, &time.value).map_err(|error| {
        format!(
            "clock {}({}) {}({}): {error}",
            date.address, date.value, time.address, time.value
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_every_digit() {
        assert_eq!(decimal("001234.567"), Some((1_234_567, -3)));
        assert_eq!(decimal("42"), Some((42, 0)));
        assert_eq!(decimal("-0.5"), Some((-5, -1)));
        assert_eq!(decimal("1.2.3"), None);
        assert_eq!(decimal(""), None);
        assert_eq!(decimal("99999999999999999999"), None);
    }

    #[test]
    fn a_register_needs_a_known_unit() {
        let set = DataSet::new("1.8.0", "001234.567", Some("kWh"));
        let reading = reading(&set).expect("a register");
        assert_eq!((reading.value, reading.scaler), (1_234_567, -3));
        assert_eq!(reading.unit(), Unit::KilowattHour);
        assert!(super::reading(&DataSet::new("1.8.0", "1", Some("kvarh"))).is_err());
        assert!(super::reading(&DataSet::new("1.8.0", "1", None)).is_err());
    }
}
