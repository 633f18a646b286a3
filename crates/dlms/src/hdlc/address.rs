//! HDLC addresses (IEC 62056-46 clause 6.4.2): 7 address bits per byte, the least significant bit
//! set only on the last byte of the field.

use super::frame_error::FrameError;

/// Largest value of a one-byte address field or of one half of a two-byte server address.
pub const MAX_7_BIT: u8 = 0x7F;
/// Largest value of one half of a four-byte server address.
pub const MAX_14_BIT: u16 = 0x3FFF;

/// An HDLC address field. Client addresses are always one byte (the client SAP); server addresses
/// are one byte (upper HDLC address only), two bytes or four bytes (upper and lower HDLC address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HdlcAddress {
    /// One byte: a client SAP, or a server upper HDLC address without a lower address.
    One(u8),
    /// Two bytes: a 7-bit upper and a 7-bit lower HDLC address.
    Two {
        /// Upper HDLC address (logical device).
        upper: u8,
        /// Lower HDLC address (physical device).
        lower: u8,
    },
    /// Four bytes: a 14-bit upper and a 14-bit lower HDLC address.
    Four {
        /// Upper HDLC address (logical device).
        upper: u16,
        /// Lower HDLC address (physical device).
        lower: u16,
    },
}

impl HdlcAddress {
    /// A client address from its SAP (e.g. 0x10 public client, 0x01 management client).
    pub fn client(sap: u8) -> Result<Self, FrameError> {
        Self::one(sap)
    }

    /// A one-byte address, rejected when it does not fit in 7 bits.
    pub fn one(value: u8) -> Result<Self, FrameError> {
        if value > MAX_7_BIT {
            return Err(FrameError::AddressOutOfRange {
                value: u32::from(value),
                bits: 7,
            });
        }
        Ok(Self::One(value))
    }

    /// A server address in the smallest field that holds both halves: one byte when there is no
    /// lower address, two bytes when both fit in 7 bits, four bytes when both fit in 14 bits.
    pub fn server(upper: u16, lower: Option<u16>) -> Result<Self, FrameError> {
        let seven = |v: u16| u8::try_from(v).ok().filter(|b| *b <= MAX_7_BIT);
        match lower {
            None => {
                let value = seven(upper).ok_or(FrameError::AddressOutOfRange {
                    value: u32::from(upper),
                    bits: 7,
                })?;
                Ok(Self::One(value))
            }
            Some(lower) => match (seven(upper), seven(lower)) {
                (Some(upper), Some(lower)) => Ok(Self::Two { upper, lower }),
                _ => Self::four(upper, lower),
            },
        }
    }

    /// A four-byte server address even when the halves would fit in fewer bytes.
    pub fn four(upper: u16, lower: u16) -> Result<Self, FrameError> {
        for value in [upper, lower] {
            if value > MAX_14_BIT {
                return Err(FrameError::AddressOutOfRange {
                    value: u32::from(value),
                    bits: 14,
                });
            }
        }
        Ok(Self::Four { upper, lower })
    }

    /// Number of bytes of the encoded field.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Two { .. } => 2,
            Self::Four { .. } => 4,
        }
    }

    /// Upper HDLC address (the whole address for one-byte fields).
    pub fn upper(&self) -> u16 {
        match *self {
            Self::One(v) => u16::from(v),
            Self::Two { upper, .. } => u16::from(upper),
            Self::Four { upper, .. } => upper,
        }
    }

    /// Lower HDLC address, absent for one-byte fields.
    pub fn lower(&self) -> Option<u16> {
        match *self {
            Self::One(_) => None,
            Self::Two { lower, .. } => Some(u16::from(lower)),
            Self::Four { lower, .. } => Some(lower),
        }
    }

    /// Whether this is the all-station broadcast address for its field size.
    pub fn is_broadcast(&self) -> bool {
        match *self {
            Self::One(v) => v == MAX_7_BIT,
            Self::Two { upper, .. } => upper == MAX_7_BIT,
            Self::Four { upper, .. } => upper == MAX_14_BIT,
        }
    }

    /// Appends the encoded field to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Values are validated at construction, but encoding masks anyway so a hand-built
        // out-of-range variant can never produce a spurious extension bit.
        let byte = |v: u16| ((v & 0x7F) as u8) << 1;
        match *self {
            Self::One(v) => out.push(byte(u16::from(v)) | 1),
            Self::Two { upper, lower } => {
                out.push(byte(u16::from(upper)));
                out.push(byte(u16::from(lower)) | 1);
            }
            Self::Four { upper, lower } => {
                out.push(byte(upper >> 7));
                out.push(byte(upper));
                out.push(byte(lower >> 7));
                out.push(byte(lower) | 1);
            }
        }
    }

    /// Decodes an address field at the start of `data`, returning it and the bytes it used.
    pub fn decode(data: &[u8]) -> Result<(Self, usize), FrameError> {
        let len = data
            .iter()
            .take(4)
            .position(|b| b & 1 == 1)
            .map(|i| i + 1)
            .ok_or(FrameError::UnterminatedAddress)?;
        let v = |i: usize| u16::from(data[i] >> 1);
        let address = match len {
            1 => Self::One(data[0] >> 1),
            2 => Self::Two {
                upper: data[0] >> 1,
                lower: data[1] >> 1,
            },
            4 => Self::Four {
                upper: (v(0) << 7) | v(1),
                lower: (v(2) << 7) | v(3),
            },
            _ => return Err(FrameError::BadAddressLength(len)),
        };
        Ok((address, len))
    }
}

impl std::fmt::Display for HdlcAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.lower() {
            None => write!(f, "0x{:02X}", self.upper()),
            Some(lower) => write!(f, "0x{:X}/0x{:X}", self.upper(), lower),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kmethy_example_server_address() {
        // Upper 0x0001, lower 0x0011 in a four-byte field, as in the SNRM example of the
        // DLMS UA "examples for information exchange".
        let mut out = Vec::new();
        HdlcAddress::four(1, 0x11).unwrap().encode(&mut out);
        assert_eq!(out, [0x00, 0x02, 0x00, 0x23]);
        assert_eq!(
            HdlcAddress::decode(&out).unwrap(),
            (
                HdlcAddress::Four {
                    upper: 1,
                    lower: 0x11
                },
                4
            )
        );
    }

    #[test]
    fn client_sap_16_is_0x21() {
        let mut out = Vec::new();
        HdlcAddress::client(0x10).unwrap().encode(&mut out);
        assert_eq!(out, [0x21]);
    }

    #[test]
    fn three_byte_field_is_rejected() {
        assert_eq!(
            HdlcAddress::decode(&[0x00, 0x02, 0x03]),
            Err(FrameError::BadAddressLength(3))
        );
        assert_eq!(
            HdlcAddress::decode(&[0x00, 0x02]),
            Err(FrameError::UnterminatedAddress)
        );
    }
}
