//! Station configuration and what the stations report to their caller.

use super::error::HdlcError;
use super::params::HdlcParameters;

/// Settings of an [`HdlcClient`](super::HdlcClient) or [`HdlcServer`](super::HdlcServer).
/// All times are in the caller's milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HdlcConfig {
    /// Limits this station proposes (client) or accepts (server); the link uses the minimum of
    /// both sides'.
    pub parameters: HdlcParameters,
    /// Client: how long to wait for the frame with the final bit before retransmitting.
    pub response_timeout_ms: u64,
    /// Client: retransmissions of one exchange before giving up with
    /// [`HdlcError::NoResponse`].
    pub max_retries: u32,
    /// Drop the link after this long without a frame from the peer (server: the IEC 62056-46
    /// inactivity time-out; client: sends DISC). `None` disables it.
    pub inactivity_timeout_ms: Option<u64>,
    /// Largest reassembled APDU accepted; larger ones are discarded with
    /// [`HdlcError::ApduTooLarge`].
    pub max_apdu_size: usize,
    /// Server: how long a poll that delivered an APDU is held waiting for the application's
    /// answer before it is answered with RR.
    pub response_hold_ms: u64,
    /// Client: delay before polling again when the server answered with RR or RNR while a
    /// response is still expected.
    pub poll_interval_ms: u64,
    /// Client: while connected with nothing to send and no response expected, poll (RR with
    /// P=1) after this long without a turn, so the server can send what it holds unsolicited
    /// (event notifications); it also keeps the server's inactivity time-out from expiring.
    /// `None` (the default) never polls when idle, as most clients.
    pub idle_poll_ms: Option<u64>,
}

impl Default for HdlcConfig {
    fn default() -> Self {
        Self {
            parameters: HdlcParameters::default(),
            response_timeout_ms: 3_000,
            max_retries: 3,
            inactivity_timeout_ms: None,
            max_apdu_size: 65_535,
            response_hold_ms: 2_000,
            poll_interval_ms: 200,
            idle_poll_ms: None,
        }
    }
}

impl HdlcConfig {
    /// Defaults for a server: as [`Default`] plus the customary 120 s inactivity time-out.
    pub fn server() -> Self {
        Self {
            inactivity_timeout_ms: Some(120_000),
            ..Self::default()
        }
    }

    /// Client: how long one unanswered exchange is retried before the link fails with
    /// [`HdlcError::NoResponse`]: the first wait plus one per retry,
    /// `response_timeout_ms × (max_retries + 1)` (12 s with the defaults).
    ///
    /// An application-layer response time-out above this lets the link give up first, with
    /// the more precise error; [`ClientConnection`](crate::connection::ClientConnection)
    /// enforces that.
    pub fn give_up_after_ms(&self) -> u64 {
        self.response_timeout_ms
            .saturating_mul(u64::from(self.max_retries).saturating_add(1))
    }
}

/// Something a station tells its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HdlcEvent {
    /// The link is up with these parameters (this station's view: `max_info_tx` is what it sends).
    Connected(HdlcParameters),
    /// A complete APDU from the peer, LLC header removed.
    Apdu(Vec<u8>),
    /// The link is down.
    Disconnected(DisconnectReason),
    /// Something went wrong; `Disconnected` follows when the link could not survive it.
    Error(HdlcError),
}

/// Why a link went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// This station asked for it.
    Local,
    /// The peer asked for it (DISC received) or reported it (DM received).
    Remote,
    /// The server refused SNRM.
    Refused,
    /// Nothing was received for the inactivity time-out.
    InactivityTimeout,
    /// The peer stopped answering.
    NoResponse,
    /// The peer rejected a frame (FRMR).
    FrameRejected,
    /// The peer broke the protocol.
    ProtocolError,
}

/// Counters for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HdlcStats {
    /// Frames decoded and addressed to this station.
    pub frames_received: u64,
    /// Frames queued for transmission.
    pub frames_sent: u64,
    /// Deframer errors (line noise, bad HCS/FCS, ...).
    pub frame_errors: u64,
    /// Frames sent again after a time-out or a go-back.
    pub retransmissions: u64,
    /// Time-outs waiting for the peer.
    pub timeouts: u64,
}
