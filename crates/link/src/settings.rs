//! Line settings of a serial link (baud, data bits, parity, stop bits) and how long a byte takes.

use std::fmt;
use std::time::Duration;

use crate::error::LinkError;

/// Parity bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    None,
    Odd,
    Even,
}

/// Stop bits per character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopBits {
    One,
    Two,
}

/// Everything a `ReconfigureLink` action can change on a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LineSettings {
    pub baud_rate: u32,
    /// 5 to 8.
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: StopBits,
}

impl LineSettings {
    /// 8 data bits, no parity, 1 stop bit.
    pub const fn eight_n_one(baud_rate: u32) -> Self {
        Self {
            baud_rate,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: StopBits::One,
        }
    }

    /// 7 data bits, even parity, 1 stop bit: the IEC 62056-21 optical-port default.
    pub const fn seven_e_one(baud_rate: u32) -> Self {
        Self {
            baud_rate,
            data_bits: 7,
            parity: Parity::Even,
            stop_bits: StopBits::One,
        }
    }

    /// Checks the settings can be applied to a UART.
    pub fn validate(&self) -> Result<(), LinkError> {
        if self.baud_rate == 0 {
            return Err(LinkError::InvalidSettings {
                reason: "baud rate must be greater than 0".into(),
            });
        }
        if !(5..=8).contains(&self.data_bits) {
            return Err(LinkError::InvalidSettings {
                reason: format!("data bits must be 5 to 8, got {}", self.data_bits),
            });
        }
        Ok(())
    }

    /// Bits on the wire per character: start bit, data bits, parity bit if any, stop bits.
    pub fn bits_per_char(&self) -> u32 {
        let parity = match self.parity {
            Parity::None => 0,
            Parity::Odd | Parity::Even => 1,
        };
        let stop = match self.stop_bits {
            StopBits::One => 1,
            StopBits::Two => 2,
        };
        1 + u32::from(self.data_bits) + parity + stop
    }

    /// Time the line needs to carry `bytes` characters back to back.
    pub fn transmit_time(&self, bytes: usize) -> Duration {
        let baud = u128::from(self.baud_rate.max(1));
        let bits = (bytes as u128).saturating_mul(u128::from(self.bits_per_char()));
        // Round up so pacing never runs faster than the line.
        let nanos = (bits * 1_000_000_000).div_ceil(baud);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    pub(crate) fn to_serial(self) -> Result<SerialParts, LinkError> {
        self.validate()?;
        let data_bits = match self.data_bits {
            5 => tokio_serial::DataBits::Five,
            6 => tokio_serial::DataBits::Six,
            7 => tokio_serial::DataBits::Seven,
            _ => tokio_serial::DataBits::Eight,
        };
        let parity = match self.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Odd => tokio_serial::Parity::Odd,
            Parity::Even => tokio_serial::Parity::Even,
        };
        let stop_bits = match self.stop_bits {
            StopBits::One => tokio_serial::StopBits::One,
            StopBits::Two => tokio_serial::StopBits::Two,
        };
        Ok(SerialParts {
            data_bits,
            parity,
            stop_bits,
        })
    }
}

pub(crate) struct SerialParts {
    pub data_bits: tokio_serial::DataBits,
    pub parity: tokio_serial::Parity,
    pub stop_bits: tokio_serial::StopBits,
}

impl fmt::Display for LineSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parity = match self.parity {
            Parity::None => 'N',
            Parity::Odd => 'O',
            Parity::Even => 'E',
        };
        let stop = match self.stop_bits {
            StopBits::One => 1,
            StopBits::Two => 2,
        };
        write!(f, "{} {}{}{}", self.baud_rate, self.data_bits, parity, stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_n_one_takes_ten_bits_and_seven_e_one_takes_ten_too() {
        assert_eq!(LineSettings::eight_n_one(9600).bits_per_char(), 10);
        assert_eq!(LineSettings::seven_e_one(300).bits_per_char(), 10);
        let eight_e_two = LineSettings {
            baud_rate: 9600,
            data_bits: 8,
            parity: Parity::Even,
            stop_bits: StopBits::Two,
        };
        assert_eq!(eight_e_two.bits_per_char(), 12);
    }

    #[test]
    fn transmit_time_follows_the_baud_rate() {
        // 960 bytes at 9600 8N1 = 9600 bits = exactly one second.
        assert_eq!(
            LineSettings::eight_n_one(9600).transmit_time(960),
            Duration::from_secs(1)
        );
        // One byte at 300 7E1 = 10 bits / 300 = 33.333.. ms, rounded up.
        assert_eq!(
            LineSettings::seven_e_one(300).transmit_time(1),
            Duration::from_nanos(33_333_334)
        );
        assert_eq!(
            LineSettings::eight_n_one(9600).transmit_time(0),
            Duration::ZERO
        );
    }

    #[test]
    fn invalid_settings_are_named() {
        let err = LineSettings {
            data_bits: 9,
            ..LineSettings::eight_n_one(9600)
        }
        .validate()
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("invalid line settings: data bits must be 5 to 8, got 9")
        );
        assert!(LineSettings::eight_n_one(0).validate().is_err());
    }

    #[test]
    fn display_is_conventional() {
        assert_eq!(LineSettings::seven_e_one(300).to_string(), "300 7E1");
    }
}
