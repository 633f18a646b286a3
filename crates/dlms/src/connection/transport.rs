//! The two transports behind one interface: whole APDUs in and out, bytes on the line.

use std::collections::VecDeque;

use super::ConnectionError;
use crate::hdlc::{DisconnectReason, HdlcClient, HdlcEvent, HdlcServer};
use crate::wrapper::{self, Reassembler};

/// What a transport reports upwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// The link is up; APDUs may flow.
    Up,
    /// A complete APDU arrived.
    Apdu(Vec<u8>),
    /// The link went down.
    Down(DisconnectReason),
    /// A transport error (malformed input, failed link).
    Error(ConnectionError),
}

impl From<HdlcEvent> for TransportEvent {
    fn from(event: HdlcEvent) -> Self {
        match event {
            HdlcEvent::Connected(_) => Self::Up,
            HdlcEvent::Apdu(apdu) => Self::Apdu(apdu),
            HdlcEvent::Disconnected(reason) => Self::Down(reason),
            HdlcEvent::Error(error) => Self::Error(error.into()),
        }
    }
}

/// One end of an IEC 62056-47 wrapper link over a byte stream (TCP) the caller owns.
#[derive(Debug)]
pub struct WrapperLink {
    local_wport: u16,
    remote_wport: u16,
    reassembler: Reassembler,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<TransportEvent>,
}

impl WrapperLink {
    /// A link from `local_wport` to `remote_wport` accepting APDUs up to `max_apdu` bytes.
    pub fn new(local_wport: u16, remote_wport: u16, max_apdu: u16) -> Self {
        Self {
            local_wport,
            remote_wport,
            reassembler: Reassembler::new(max_apdu),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn send_apdu(&mut self, apdu: &[u8]) -> Result<(), ConnectionError> {
        self.transmit
            .push_back(wrapper::encode(self.local_wport, self.remote_wport, apdu)?);
        Ok(())
    }

    fn handle_bytes(&mut self, bytes: &[u8]) {
        self.reassembler.push(bytes);
        while let Some(result) = self.reassembler.next_pdu() {
            match result {
                // APDUs for another wPort pair belong to another association on the same stream.
                Ok(pdu)
                    if pdu.destination == self.local_wport && pdu.source == self.remote_wport =>
                {
                    self.events.push_back(TransportEvent::Apdu(pdu.apdu));
                }
                Ok(_) => {}
                Err(error) => self.events.push_back(TransportEvent::Error(error.into())),
            }
        }
    }
}

/// The client's transport.
// One transport per connection, never stored in bulk: boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ClientTransport {
    /// HDLC primary station.
    Hdlc(HdlcClient),
    /// TCP wrapper.
    Wrapper(WrapperLink),
}

/// The server's transport.
// One transport per connection, never stored in bulk: boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ServerTransport {
    /// HDLC secondary station.
    Hdlc(HdlcServer),
    /// TCP wrapper.
    Wrapper(WrapperLink),
}

impl ClientTransport {
    pub(crate) fn connect(&mut self, now_ms: u64) -> Result<(), ConnectionError> {
        match self {
            Self::Hdlc(hdlc) => Ok(hdlc.connect(now_ms)?),
            Self::Wrapper(link) => {
                link.events.push_back(TransportEvent::Up);
                Ok(())
            }
        }
    }

    pub(crate) fn disconnect(&mut self, now_ms: u64) -> Result<(), ConnectionError> {
        match self {
            Self::Hdlc(hdlc) => Ok(hdlc.disconnect(now_ms)?),
            Self::Wrapper(link) => {
                link.events
                    .push_back(TransportEvent::Down(DisconnectReason::Local));
                Ok(())
            }
        }
    }

    pub(crate) fn send_apdu(&mut self, apdu: &[u8], now_ms: u64) -> Result<(), ConnectionError> {
        match self {
            Self::Hdlc(hdlc) => Ok(hdlc.send_apdu(apdu, now_ms)?),
            Self::Wrapper(link) => link.send_apdu(apdu),
        }
    }

    pub(crate) fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64) {
        match self {
            Self::Hdlc(hdlc) => hdlc.handle_bytes(bytes, now_ms),
            Self::Wrapper(link) => link.handle_bytes(bytes),
        }
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match self {
            Self::Hdlc(hdlc) => hdlc.poll_transmit(),
            Self::Wrapper(link) => link.transmit.pop_front(),
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<TransportEvent> {
        match self {
            Self::Hdlc(hdlc) => hdlc.poll_event().map(Into::into),
            Self::Wrapper(link) => link.events.pop_front(),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        match self {
            Self::Hdlc(hdlc) => hdlc.poll_timeout(),
            Self::Wrapper(_) => None,
        }
    }

    pub(crate) fn handle_timeout(&mut self, now_ms: u64) {
        if let Self::Hdlc(hdlc) = self {
            hdlc.handle_timeout(now_ms);
        }
    }
}

impl ServerTransport {
    pub(crate) fn send_apdu(&mut self, apdu: &[u8], now_ms: u64) -> Result<(), ConnectionError> {
        match self {
            Self::Hdlc(hdlc) => Ok(hdlc.send_apdu(apdu, now_ms)?),
            Self::Wrapper(link) => link.send_apdu(apdu),
        }
    }

    pub(crate) fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64) {
        match self {
            Self::Hdlc(hdlc) => hdlc.handle_bytes(bytes, now_ms),
            Self::Wrapper(link) => link.handle_bytes(bytes),
        }
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match self {
            Self::Hdlc(hdlc) => hdlc.poll_transmit(),
            Self::Wrapper(link) => link.transmit.pop_front(),
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<TransportEvent> {
        match self {
            Self::Hdlc(hdlc) => hdlc.poll_event().map(Into::into),
            Self::Wrapper(link) => link.events.pop_front(),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        match self {
            Self::Hdlc(hdlc) => hdlc.poll_timeout(),
            Self::Wrapper(_) => None,
        }
    }

    pub(crate) fn handle_timeout(&mut self, now_ms: u64) {
        if let Self::Hdlc(hdlc) = self {
            hdlc.handle_timeout(now_ms);
        }
    }
}
