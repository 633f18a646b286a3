//! Server side: a transport plus a [`ServerAssociation`] answering through a [`CosemObjectModel`].

use std::collections::VecDeque;

use super::ConnectionError;
use super::transport::{ServerTransport, TransportEvent};
use crate::association::{CosemObjectModel, ServerAssociation, ServerEvent};
use crate::hdlc::DisconnectReason;

/// What a server connection reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerConnectionEvent {
    /// A client brought the link up.
    LinkUp,
    /// The link went down; the association has been reset.
    LinkDown(DisconnectReason),
    /// An association event.
    Association(ServerEvent),
    /// An error in any layer (the peer has been answered as the standard requires).
    Error(ConnectionError),
}

/// A DLMS server connection (one client at a time, as on a meter's port).
#[derive(Debug)]
pub struct ServerConnection {
    transport: ServerTransport,
    association: ServerAssociation,
    events: VecDeque<ServerConnectionEvent>,
}

impl ServerConnection {
    /// Composes a transport and an association.
    pub fn new(transport: ServerTransport, association: ServerAssociation) -> Self {
        Self {
            transport,
            association,
            events: VecDeque::new(),
        }
    }

    /// The association, for its state and counters.
    pub fn association(&self) -> &ServerAssociation {
        &self.association
    }

    /// The transport, for its state and counters.
    pub fn transport(&self) -> &ServerTransport {
        &self.transport
    }

    /// Feeds bytes from the line; requests are served from `model`.
    pub fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64, model: &mut dyn CosemObjectModel) {
        self.transport.handle_bytes(bytes, now_ms);
        self.pump(now_ms, model);
    }

    /// Next bytes to put on the line.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transport.poll_transmit()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ServerConnectionEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.transport.poll_timeout()
    }

    /// Acts on expired time-outs.
    pub fn handle_timeout(&mut self, now_ms: u64, model: &mut dyn CosemObjectModel) {
        self.transport.handle_timeout(now_ms);
        self.pump(now_ms, model);
    }

    fn pump(&mut self, now_ms: u64, model: &mut dyn CosemObjectModel) {
        loop {
            let mut moved = false;
            while let Some(event) = self.transport.poll_event() {
                moved = true;
                match event {
                    TransportEvent::Up => {
                        // A new link (or an SNRM resetting the old one) starts a new association.
                        self.association.reset();
                        self.events.push_back(ServerConnectionEvent::LinkUp);
                    }
                    TransportEvent::Apdu(apdu) => {
                        if let Err(error) = self.association.handle_apdu(now_ms, &apdu, model) {
                            self.events
                                .push_back(ServerConnectionEvent::Error(error.into()));
                        }
                    }
                    TransportEvent::Down(reason) => {
                        self.association.reset();
                        self.events
                            .push_back(ServerConnectionEvent::LinkDown(reason));
                    }
                    TransportEvent::Error(error) => {
                        self.events.push_back(ServerConnectionEvent::Error(error))
                    }
                }
            }
            while let Some(apdu) = self.association.poll_transmit() {
                moved = true;
                if let Err(error) = self.transport.send_apdu(&apdu, now_ms) {
                    self.events.push_back(ServerConnectionEvent::Error(error));
                }
            }
            while let Some(event) = self.association.poll_event() {
                moved = true;
                self.events
                    .push_back(ServerConnectionEvent::Association(event));
            }
            if !moved {
                return;
            }
        }
    }
}
