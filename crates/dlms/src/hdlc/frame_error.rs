//! Malformed frames (per frame, from the decoder and deframer). A leaf: the frame, address and
//! parameter codecs depend on it, it depends on nothing of theirs.

/// Why a frame (or the bytes where a frame was expected) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Bytes before the next opening flag that belong to no frame.
    #[error("{0} byte(s) of line noise before the next frame flag")]
    Garbage(usize),
    /// The frame format field does not say "type 3" (0xA in its top nibble).
    #[error("frame format field 0x{0:04X} is not frame format type 3")]
    BadFormat(u16),
    /// The length field is smaller than the smallest possible frame.
    #[error("length field {length} is below the minimum of {minimum} for this header")]
    LengthTooShort {
        /// Value of the length field.
        length: usize,
        /// Smallest length a frame with this header can have.
        minimum: usize,
    },
    /// The buffer passed to the decoder is not exactly one frame.
    #[error("frame is {actual} bytes but its length field says {declared}")]
    LengthMismatch {
        /// Bytes between the flags according to the length field.
        declared: usize,
        /// Bytes actually present.
        actual: usize,
    },
    /// A flag was expected at a frame boundary.
    #[error("expected 0x7E flag at {position}, found 0x{found:02X}")]
    MissingFlag {
        /// Offset in the frame.
        position: usize,
        /// Byte found instead.
        found: u8,
    },
    /// No address byte with the extension bit set within four bytes.
    #[error("address field not terminated within 4 bytes")]
    UnterminatedAddress,
    /// Address fields are 1, 2 or 4 bytes long.
    #[error("address field of {0} bytes (must be 1, 2 or 4)")]
    BadAddressLength(usize),
    /// An address value does not fit the field it is meant for.
    #[error("address value 0x{value:X} does not fit in {bits} bits")]
    AddressOutOfRange {
        /// The value given.
        value: u32,
        /// Bits available.
        bits: u8,
    },
    /// Header check sequence mismatch.
    #[error("header check sequence 0x{found:04X}, expected 0x{expected:04X}")]
    BadHcs {
        /// CRC computed over the header.
        expected: u16,
        /// CRC carried by the frame.
        found: u16,
    },
    /// Frame check sequence mismatch.
    #[error("frame check sequence 0x{found:04X}, expected 0x{expected:04X}")]
    BadFcs {
        /// CRC computed over the frame.
        expected: u16,
        /// CRC carried by the frame.
        found: u16,
    },
    /// A header check sequence followed by an empty information field.
    #[error("frame has a header check sequence but an empty information field")]
    EmptyInformation,
    /// The information field does not fit the 11-bit length field.
    #[error("information field of {0} bytes does not fit an HDLC frame")]
    InformationTooLong(usize),
    /// Malformed SNRM/UA parameter negotiation field.
    #[error("bad HDLC parameter field: {0}")]
    BadParameters(&'static str),
    /// Malformed FRMR information field.
    #[error("FRMR information field of {0} bytes (expected 3)")]
    BadFrameReject(usize),
}
