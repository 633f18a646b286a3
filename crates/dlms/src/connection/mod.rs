//! Whole DLMS/COSEM connections: a transport (HDLC or the TCP wrapper) composed with the
//! client or server association state machine, with the same sans-IO verbs as both parts:
//! feed bytes and time-outs in, poll bytes to send, events and the next time-out out.
//!
//! For HDLC the association starts once the link is up (UA received) and a dropped link resets
//! it; for the wrapper the caller's TCP connection is the link, so the association starts at once.

mod client;
mod server;
mod transport;

pub use client::{ClientConnection, ClientConnectionEvent};
pub use server::{ServerConnection, ServerConnectionEvent};
pub use transport::{ClientTransport, ServerTransport, TransportEvent, WrapperLink};

use crate::association::AssociationError;
use crate::hdlc::HdlcError;
use crate::wrapper::WrapperError;

/// Errors surfaced by a connection, naming the layer they come from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// HDLC link layer.
    #[error("HDLC: {0}")]
    Hdlc(#[from] HdlcError),
    /// TCP wrapper.
    #[error("wrapper: {0}")]
    Wrapper(#[from] WrapperError),
    /// Association (ACSE/xDLMS) layer.
    #[error("association: {0}")]
    Association(#[from] AssociationError),
}
