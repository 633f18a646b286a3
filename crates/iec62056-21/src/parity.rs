//! Even parity in the eighth bit, for transports that carry 8-bit bytes on a 7E1 line.
//!
//! The codec itself works on 7-bit characters (the UART applies parity); these helpers are for
//! the rare link that cannot: an 8N1 port reading a 7E1 line sees the parity bit as bit 7.

use crate::FrameError;

/// `character` (7 bits) with the even-parity bit in bit 7; bit 7 of the input is ignored.
pub fn with_even_parity(character: u8) -> u8 {
    let data = character & 0x7f;
    if data.count_ones() % 2 == 1 {
        data | 0x80
    } else {
        data
    }
}

/// The 7-bit character of an 8-bit byte carrying even parity in bit 7; a parity error is
/// refused.
pub fn strip_even_parity(byte: u8) -> Result<u8, FrameError> {
    if byte.count_ones().is_multiple_of(2) {
        Ok(byte & 0x7f)
    } else {
        Err(FrameError::malformed(
            "character",
            format!("{byte:#04x} fails the even parity check"),
        ))
    }
}
