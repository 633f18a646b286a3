//! Errors of the IEC 62056-21 codec.

/// A received frame that could not be decoded. The decoder has already skipped it: the next
/// frame decodes normally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("block check character {received:#04x} does not match the computed {computed:#04x}")]
    BadBcc { received: u8, computed: u8 },
    #[error(
        "byte {byte:#04x} has the eighth bit set: the line must be 7E1 with parity stripped by the link"
    )]
    EighthBitSet { byte: u8 },
    #[error("{count} byte(s) outside any frame skipped (first {first:#04x})")]
    Garbage { count: usize, first: u8 },
    #[error("frame longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
}

impl FrameError {
    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            reason: reason.into(),
        }
    }
}

/// A message that cannot be put on the line as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error(
        "{field} {value:?} contains {character:?}, which the protocol reserves or cannot carry"
    )]
    ReservedCharacter {
        field: &'static str,
        value: String,
        character: char,
    },
    #[error("{field} {value:?} is longer than {limit} characters")]
    TooLong {
        field: &'static str,
        value: String,
        limit: usize,
    },
    #[error("{field} {value:?} is invalid: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}
