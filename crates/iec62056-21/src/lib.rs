//! Sans-IO IEC 62056-21 (the optical/serial "FLAG" protocol), mode C: the framing and message
//! vocabulary both ends of an optical port speak, and the tariff device's side as a state
//! machine ([`meter::Meter`]) driven by decoded messages.
//!
//! - [`message`]: sign-on `/?<address>!CR LF`, identification `/XXXZ<ident>CR LF`, option
//!   select `ACK 0 Z Y CR LF`, the data readout block `STX <data lines> ! CR LF ETX BCC`,
//!   programming-mode commands `SOH C D STX (data) ETX BCC` (P0/P1 password, R1 read, W1 write),
//!   data messages `STX <data sets> ETX BCC`, break `SOH B0 ETX BCC`, ACK and NAK.
//! - [`decode`]: incremental decoders for each direction, checking the BCC and resynchronising
//!   on garbage without losing a later good frame.
//! - [`DataSet`]: one `address(value*unit)` item.
//! - [`BaudRate`]: the mode C baud-rate characters `0`..`6` (300 to 19200 baud).
//! - [`clock`]: the `0.9.1` time and `0.9.2` date values, to and from Unix milliseconds.
//!
//! # Parity
//! The line is 7E1: 7 data bits, even parity, one stop bit. **The link applies parity**: a UART
//! (or the emulator's PTY end) is configured 7E1 and hands this crate 7-bit characters. The
//! codec works on 7-bit ASCII and refuses a byte with the eighth bit set
//! ([`FrameError::EighthBitSet`]), which is what a line misconfigured as 8N1 would deliver.
//! A transport that can only carry 8-bit bytes uses [`parity::with_even_parity`] and
//! [`parity::strip_even_parity`] around the codec.
//!
//! Must never depend on tokio or anything doing I/O, on the plugin ABI, or on the emulator: the
//! adapter plugin and the emulator both build on it.
#![forbid(unsafe_code)]

mod baud;
pub mod clock;
mod dataset;
pub mod decode;
mod error;
pub mod message;
pub mod meter;
pub mod parity;

pub use baud::BaudRate;
pub use dataset::DataSet;
pub use error::{EncodeError, FrameError};

/// Start of header: opens a programming-mode command.
pub const SOH: u8 = 0x01;
/// Start of text: opens a data block or data message.
pub const STX: u8 = 0x02;
/// End of text: closes a block; the BCC follows it.
pub const ETX: u8 = 0x03;
/// Acknowledge: the first character of an option select, or a positive answer.
pub const ACK: u8 = 0x06;
/// Negative acknowledge.
pub const NAK: u8 = 0x15;
/// Carriage return.
pub const CR: u8 = b'\r';
/// Line feed.
pub const LF: u8 = b'\n';

/// The block check character: XOR of every byte after the opening SOH or STX, up to and
/// including ETX (`bytes` is exactly that span).
pub fn bcc(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, byte| acc ^ byte)
}
