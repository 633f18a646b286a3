//! COSEM attribute and method values, shaped like A-XDR `Data` so the server layer can encode them
//! one-to-one, and OBIS codes.

use std::fmt;
use std::str::FromStr;

use crate::error::{AccessError, EmulatorError};
use crate::time::SimTime;

/// A COSEM data value (the A-XDR `Data` choice, restricted to the types meters use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// null-data.
    Null,
    /// boolean.
    Boolean(bool),
    /// bit-string, first bit first.
    BitString(Vec<bool>),
    /// double-long (i32).
    DoubleLong(i32),
    /// double-long-unsigned (u32).
    DoubleLongUnsigned(u32),
    /// octet-string.
    OctetString(Vec<u8>),
    /// visible-string.
    VisibleString(Vec<u8>),
    /// integer (i8).
    Integer(i8),
    /// long (i16).
    Long(i16),
    /// unsigned (u8).
    Unsigned(u8),
    /// long-unsigned (u16).
    LongUnsigned(u16),
    /// long64 (i64).
    Long64(i64),
    /// long64-unsigned (u64).
    Long64Unsigned(u64),
    /// enum.
    Enum(u8),
    /// array.
    Array(Vec<Value>),
    /// structure.
    Structure(Vec<Value>),
}

impl Value {
    /// A COSEM date-time octet string.
    pub fn date_time(at: SimTime) -> Self {
        Self::OctetString(at.to_cosem().to_vec())
    }

    /// Any unsigned integer type as u64 (clients differ in the width they send).
    pub fn as_unsigned(&self) -> Result<u64, AccessError> {
        match *self {
            Self::Unsigned(value) | Self::Enum(value) => Ok(u64::from(value)),
            Self::LongUnsigned(value) => Ok(u64::from(value)),
            Self::DoubleLongUnsigned(value) => Ok(u64::from(value)),
            Self::Long64Unsigned(value) => Ok(value),
            Self::Integer(value) => u64::try_from(value).map_err(|_| AccessError::TypeUnmatched),
            Self::Long(value) => u64::try_from(value).map_err(|_| AccessError::TypeUnmatched),
            Self::DoubleLong(value) => u64::try_from(value).map_err(|_| AccessError::TypeUnmatched),
            Self::Long64(value) => u64::try_from(value).map_err(|_| AccessError::TypeUnmatched),
            _ => Err(AccessError::TypeUnmatched),
        }
    }

    /// An octet string's bytes.
    pub fn as_octets(&self) -> Result<&[u8], AccessError> {
        match self {
            Self::OctetString(bytes) => Ok(bytes),
            _ => Err(AccessError::TypeUnmatched),
        }
    }

    /// A structure's or array's elements.
    pub fn as_elements(&self) -> Result<&[Value], AccessError> {
        match self {
            Self::Structure(items) | Self::Array(items) => Ok(items),
            _ => Err(AccessError::TypeUnmatched),
        }
    }

    /// A date-time, given as a 12-byte octet string.
    pub fn as_date_time(&self) -> Result<SimTime, AccessError> {
        SimTime::from_cosem(self.as_octets()?).map_err(|_| AccessError::TypeUnmatched)
    }
}

/// An OBIS code: the six-number logical name of a COSEM object.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Obis(pub [u8; 6]);

impl Obis {
    /// From its six numbers.
    pub const fn new(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8) -> Self {
        Self([a, b, c, d, e, f])
    }
}

impl FromStr for Obis {
    type Err = EmulatorError;

    /// Reads `1.0.1.8.0.255` or `1-0:1.8.0*255`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || EmulatorError::InvalidObis {
            text: text.to_owned(),
        };
        let mut numbers = [0u8; 6];
        let mut count = 0;
        for part in text.split(['.', '-', ':', '*']) {
            let slot = numbers.get_mut(count).ok_or_else(invalid)?;
            if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(invalid());
            }
            *slot = part.parse().map_err(|_| invalid())?;
            count += 1;
        }
        let dotted = text.matches('.').count() == 5;
        let separators: String = text.chars().filter(|c| !c.is_ascii_digit()).collect();
        if count != 6 || !(dotted || separators == "-:..*") {
            return Err(invalid());
        }
        Ok(Self(numbers))
    }
}

impl fmt::Display for Obis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a}.{b}.{c}.{d}.{e}.{g}")
    }
}

impl fmt::Debug for Obis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Obis({self})")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn both_obis_notations_parse() {
        let dotted: Obis = "1.0.1.8.0.255".parse().unwrap();
        let reduced: Obis = "1-0:1.8.0*255".parse().unwrap();
        assert_eq!(dotted, reduced);
        assert_eq!(dotted, Obis::new(1, 0, 1, 8, 0, 255));
        for bad in [
            "1.0.1.8.0",
            "1.0.1.8.0.256",
            "1.0.1.8.0.255.1",
            "a.b.c.d.e.f",
            "1-0:1.8.0.255",
            "",
        ] {
            assert!(bad.parse::<Obis>().is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn obis_display_round_trips(bytes in any::<[u8; 6]>()) {
            let obis = Obis(bytes);
            prop_assert_eq!(obis.to_string().parse::<Obis>().unwrap(), obis);
        }
    }
}
