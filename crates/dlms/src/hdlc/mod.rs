//! HDLC link layer of IEC 62056-46 (DLMS/COSEM three-layer connection-oriented profile).
//!
//! * [`Frame`]: frame format type 3 with the 11-bit length field and segmentation bit, no byte
//!   stuffing; 1-, 2- and 4-byte server addresses and one-byte client SAP addresses
//!   ([`HdlcAddress`]); HCS/FCS (CRC-16/X-25); [`Control`] for I, RR, RNR, SNRM, UA, DISC, DM,
//!   FRMR and UI with N(S)/N(R) and P/F.
//! * [`Deframer`]: byte stream to frames, resynchronising on noise; one value or error per frame.
//! * [`HdlcParameters`]: SNRM/UA negotiation of information field lengths and window sizes.
//! * [`HdlcClient`] (primary) and [`HdlcServer`] (secondary): sans-IO stations with segmentation
//!   and reassembly, the LLC header on the first segment, windows up to 7, go-back-N
//!   retransmission on time-out and an inactivity time-out.
//!
//! * Unsolicited APDUs (event notifications): the server sends them only in answer to a poll
//!   with nothing outstanding, never ahead of a response, in UI frames
//!   ([`HdlcServer::send_unsolicited`]); the client delivers them from UI or I-frames without
//!   taking them for a response, and can poll when idle ([`HdlcConfig::idle_poll_ms`]).
//!
//! Not implemented: modulo-128 numbering, REJ/SREJ (answered with FRMR by the server, ignored by
//! the client, which recovers by time-out), XID/TEST,
//! and the client sending UI frames with data (received UI frames are delivered as APDUs).

mod address;
mod client;
mod config;
mod control;
mod deframer;
mod error;
mod frame;
mod frame_error;
mod link;
mod params;
mod server;

pub use address::{HdlcAddress, MAX_7_BIT, MAX_14_BIT};
pub use client::HdlcClient;
pub use config::{DisconnectReason, HdlcConfig, HdlcEvent, HdlcStats};
pub use control::Control;
pub use deframer::Deframer;
pub use error::HdlcError;
pub use frame::{FLAG, Frame, FrameReject, MAX_FRAME_LENGTH};
pub use frame_error::FrameError;
pub use link::{LLC_REQUEST, LLC_RESPONSE};
pub use params::{
    DEFAULT_MAX_INFO, DEFAULT_WINDOW, HdlcParameters, MAX_INFO_LIMIT, MAX_WINDOW, MIN_INFO,
};
pub use server::HdlcServer;
