//! Link failures (from the station state machines), which may carry a frame error or the
//! peer's FRMR.

use super::frame::FrameReject;
use super::frame_error::FrameError;

/// Why a link failed or an operation could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HdlcError {
    /// The operation needs a connected link.
    #[error("HDLC link is not connected")]
    NotConnected,
    /// `connect` was called while connecting or connected.
    #[error("HDLC link is already connected or connecting")]
    AlreadyConnected,
    /// The peer did not answer after all retransmissions.
    #[error("no response from the peer after {attempts} attempt(s) of {timeout_ms} ms")]
    NoResponse {
        /// Transmissions made, the first one included.
        attempts: u32,
        /// Response timeout per attempt.
        timeout_ms: u64,
    },
    /// The server answered SNRM with DM.
    #[error("connection refused: the server answered SNRM with DM")]
    ConnectionRefused,
    /// The peer rejected one of our frames.
    #[error("peer rejected a frame: {0}")]
    FrameRejected(FrameReject),
    /// The peer broke the protocol (e.g. acknowledged frames never sent).
    #[error("HDLC protocol violation by the peer: {0}")]
    ProtocolViolation(String),
    /// A received APDU did not start with the LLC header expected for its direction.
    #[error("received APDU without the LLC header {expected:02X?}")]
    MissingLlc {
        /// The header that was expected.
        expected: [u8; 3],
    },
    /// A received APDU grew past the configured limit during reassembly.
    #[error("reassembled APDU exceeds the limit of {limit} bytes")]
    ApduTooLarge {
        /// Configured limit.
        limit: usize,
    },
    /// A received frame could not be decoded.
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
}
