//! One HDLC frame of frame format type 3 (IEC 62056-46 clause 6.4), without byte stuffing:
//!
//! ```text
//! 7E | format+length (2) | dest addr (1,2,4) | src addr (1,2,4) | control | [HCS (2) | info] | FCS (2) | 7E
//! ```
//!
//! The 11-bit length counts every byte between the flags. HCS and FCS are CRC-16/X-25, least
//! significant byte first. A frame without information field has no HCS.

use super::address::HdlcAddress;
use super::control::Control;
use super::frame_error::FrameError;
use crate::crc::{crc16, fcs_bytes};

/// Opening and closing flag.
pub const FLAG: u8 = 0x7E;
/// Largest value of the 11-bit length field.
pub const MAX_FRAME_LENGTH: usize = 0x7FF;
const FORMAT_TYPE_3: u16 = 0xA000;
const FORMAT_TYPE_MASK: u16 = 0xF000;
const SEGMENTATION_BIT: u16 = 0x0800;
const LENGTH_MASK: u16 = 0x07FF;

/// A decoded (or to-be-encoded) HDLC frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Segmentation bit of the frame format field: more segments of the same APDU follow.
    pub segmented: bool,
    /// Destination address.
    pub destination: HdlcAddress,
    /// Source address.
    pub source: HdlcAddress,
    /// Control field.
    pub control: Control,
    /// Information field (possibly empty).
    pub info: Vec<u8>,
}

impl Frame {
    /// A frame without information field that is not segmented.
    pub fn new(destination: HdlcAddress, source: HdlcAddress, control: Control) -> Self {
        Self {
            segmented: false,
            destination,
            source,
            control,
            info: Vec::new(),
        }
    }

    /// Bytes between the flags (the value of the length field).
    pub fn length_field(&self) -> usize {
        let header = 2 + self.destination.encoded_len() + self.source.encoded_len() + 1;
        let info = if self.info.is_empty() {
            0
        } else {
            2 + self.info.len()
        };
        header + info + 2
    }

    /// Encodes the frame with opening and closing flags.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(self.length_field() + 2);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoded frame (with both flags) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let length = self.length_field();
        if length > MAX_FRAME_LENGTH {
            return Err(FrameError::InformationTooLong(self.info.len()));
        }
        out.push(FLAG);
        let start = out.len();
        // `length` is at most 0x7FF here, so the cast is lossless.
        let mut format = FORMAT_TYPE_3 | length as u16;
        if self.segmented {
            format |= SEGMENTATION_BIT;
        }
        out.extend_from_slice(&format.to_be_bytes());
        self.destination.encode(out);
        self.source.encode(out);
        out.push(self.control.to_byte());
        if !self.info.is_empty() {
            let hcs = fcs_bytes(&out[start..]);
            out.extend_from_slice(&hcs);
            out.extend_from_slice(&self.info);
        }
        let fcs = fcs_bytes(&out[start..]);
        out.extend_from_slice(&fcs);
        out.push(FLAG);
        Ok(())
    }

    /// Decodes exactly one frame, flags included.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let first = *bytes.first().ok_or(FrameError::LengthMismatch {
            declared: 0,
            actual: 0,
        })?;
        if first != FLAG {
            return Err(FrameError::MissingFlag {
                position: 0,
                found: first,
            });
        }
        let last = bytes.len() - 1;
        if last == 0 || bytes[last] != FLAG {
            return Err(FrameError::MissingFlag {
                position: last,
                found: bytes[last],
            });
        }
        let body = &bytes[1..last];
        let header = parse_header(body)?;
        if header.length != body.len() {
            return Err(FrameError::LengthMismatch {
                declared: header.length,
                actual: body.len(),
            });
        }
        decode_body(body, &header)
    }
}

/// What the first bytes of a frame body say, before the whole frame has arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub segmented: bool,
    /// Value of the length field: bytes between the flags.
    pub length: usize,
    pub destination: HdlcAddress,
    pub source: HdlcAddress,
    pub control: Control,
    /// Bytes of format, addresses and control (what the HCS covers).
    pub header_len: usize,
}

impl Header {
    /// Whether the frame carries an information field (and therefore an HCS).
    pub fn has_information(&self) -> bool {
        self.length > self.header_len + 2
    }
}

/// Parses format, addresses and control from the start of a frame body (no opening flag).
/// Returns `Err(FrameError::LengthMismatch)` with `actual < declared` only when `body` is too short
/// to hold even the header; the deframer treats that as "need more bytes".
pub(crate) fn parse_header(body: &[u8]) -> Result<Header, FrameError> {
    let need_more = |declared: usize| FrameError::LengthMismatch {
        declared,
        actual: body.len(),
    };
    if body.len() < 2 {
        return Err(need_more(2));
    }
    let format = u16::from_be_bytes([body[0], body[1]]);
    if format & FORMAT_TYPE_MASK != FORMAT_TYPE_3 {
        return Err(FrameError::BadFormat(format));
    }
    let length = usize::from(format & LENGTH_MASK);
    let segmented = format & SEGMENTATION_BIT != 0;
    // Smallest frame: format (2) + one-byte addresses (2) + control + FCS (2).
    if length < 7 {
        return Err(FrameError::LengthTooShort { length, minimum: 7 });
    }
    let limit = body.len().min(length);
    let addresses = &body[2..limit];
    let (destination, dest_len) = HdlcAddress::decode(addresses)
        .map_err(|e| incomplete_or(e, addresses.len() < 4 && limit < length, need_more(length)))?;
    let rest = &addresses[dest_len..];
    let (source, src_len) = HdlcAddress::decode(rest)
        .map_err(|e| incomplete_or(e, rest.len() < 4 && limit < length, need_more(length)))?;
    let control_at = 2 + dest_len + src_len;
    let header_len = control_at + 1;
    if length < header_len + 2 {
        return Err(FrameError::LengthTooShort {
            length,
            minimum: header_len + 2,
        });
    }
    let control = match body.get(control_at) {
        Some(byte) => Control::from_byte(*byte),
        None => return Err(need_more(length)),
    };
    Ok(Header {
        segmented,
        length,
        destination,
        source,
        control,
        header_len,
    })
}

/// An unterminated address in a truncated buffer is not an error yet: more bytes may complete it.
fn incomplete_or(error: FrameError, truncated: bool, need_more: FrameError) -> FrameError {
    if truncated && error == FrameError::UnterminatedAddress {
        need_more
    } else {
        error
    }
}

/// Checks the HCS of a frame body whose header has been parsed. `body` must hold at least
/// `header_len + 2` bytes.
pub(crate) fn check_hcs(body: &[u8], header: &Header) -> Result<(), FrameError> {
    let expected = crc16(&body[..header.header_len]);
    let found = u16::from_le_bytes([body[header.header_len], body[header.header_len + 1]]);
    if expected != found {
        return Err(FrameError::BadHcs { expected, found });
    }
    Ok(())
}

/// Decodes a complete frame body (exactly `header.length` bytes, flags excluded).
pub(crate) fn decode_body(body: &[u8], header: &Header) -> Result<Frame, FrameError> {
    let fcs_at = header.length - 2;
    let expected = crc16(&body[..fcs_at]);
    let found = u16::from_le_bytes([body[fcs_at], body[fcs_at + 1]]);
    let info = if header.has_information() {
        check_hcs(body, header)?;
        let info = &body[header.header_len + 2..fcs_at];
        if info.is_empty() {
            return Err(FrameError::EmptyInformation);
        }
        info.to_vec()
    } else {
        Vec::new()
    };
    if expected != found {
        return Err(FrameError::BadFcs { expected, found });
    }
    Ok(Frame {
        segmented: header.segmented,
        destination: header.destination,
        source: header.source,
        control: header.control,
        info,
    })
}

/// Information field of an FRMR frame (ISO/IEC 13239, modulo 8): which control byte was
/// rejected, the rejecting station's V(S)/V(R), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameReject {
    /// Control byte of the rejected frame.
    pub rejected_control: u8,
    /// V(S) of the rejecting station.
    pub vs: u8,
    /// V(R) of the rejecting station.
    pub vr: u8,
    /// The rejected frame was a response (C/R bit).
    pub rejected_was_response: bool,
    /// W: control field undefined or not implemented.
    pub undefined_control: bool,
    /// X: information field not permitted with this frame type.
    pub information_not_permitted: bool,
    /// Y: information field longer than the station accepts.
    pub information_too_long: bool,
    /// Z: invalid N(R).
    pub invalid_nr: bool,
}

impl FrameReject {
    /// The three-byte information field.
    pub fn encode(&self) -> [u8; 3] {
        let bit = |b: bool, n: u8| u8::from(b) << n;
        [
            self.rejected_control,
            ((self.vs & 7) << 1) | bit(self.rejected_was_response, 4) | ((self.vr & 7) << 5),
            bit(self.undefined_control, 0)
                | bit(self.information_not_permitted, 1)
                | bit(self.information_too_long, 2)
                | bit(self.invalid_nr, 3),
        ]
    }

    /// Parses the information field of a received FRMR.
    pub fn decode(info: &[u8]) -> Result<Self, FrameError> {
        let [control, counters, flags] = info else {
            return Err(FrameError::BadFrameReject(info.len()));
        };
        Ok(Self {
            rejected_control: *control,
            vs: (counters >> 1) & 7,
            vr: counters >> 5,
            rejected_was_response: counters & 0x10 != 0,
            undefined_control: flags & 1 != 0,
            information_not_permitted: flags & 2 != 0,
            information_too_long: flags & 4 != 0,
            invalid_nr: flags & 8 != 0,
        })
    }
}

impl std::fmt::Display for FrameReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut reasons = Vec::new();
        if self.undefined_control {
            reasons.push("undefined control field");
        }
        if self.information_not_permitted {
            reasons.push("information field not permitted");
        }
        if self.information_too_long {
            reasons.push("information field too long");
        }
        if self.invalid_nr {
            reasons.push("invalid N(R)");
        }
        if reasons.is_empty() {
            reasons.push("no reason given");
        }
        write!(
            f,
            "control 0x{:02X} rejected ({}), peer V(S)={} V(R)={}",
            self.rejected_control,
            reasons.join(", "),
            self.vs,
            self.vr
        )
    }
}
