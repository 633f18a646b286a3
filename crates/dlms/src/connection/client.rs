//! Client side: a transport plus a [`ClientAssociation`].

use std::collections::VecDeque;

use super::ConnectionError;
use super::transport::{ClientTransport, TransportEvent};
use crate::association::{ClientAssociation, ClientEvent};
use crate::axdr::Data;
use crate::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};
use crate::hdlc::DisconnectReason;

/// What a client connection reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientConnectionEvent {
    /// The transport link is up (the AARQ has been sent).
    LinkUp,
    /// The transport link is down.
    LinkDown(DisconnectReason),
    /// An association event (associated, rejected, GET completed, ...).
    Association(ClientEvent),
    /// An error in any layer.
    Error(ConnectionError),
}

/// A DLMS client connection: `connect` brings the link up and then associates.
#[derive(Debug)]
pub struct ClientConnection {
    transport: ClientTransport,
    association: ClientAssociation,
    events: VecDeque<ClientConnectionEvent>,
    /// Associate as soon as the link comes up.
    associate_on_link_up: bool,
    /// The transport reported `Up` and not `Down` since.
    link_up: bool,
}

impl ClientConnection {
    /// Composes a transport and an (idle) association.
    ///
    /// Over HDLC the association's response time-out is raised, if needed, to the link's
    /// give-up time plus one HDLC response time-out
    /// (`response_timeout_ms × (max_retries + 2)`): an association that gave up earlier would
    /// abandon a request the link is still retransmitting. When the link does give up, the
    /// outstanding and queued operations fail at once (see [`ClientAssociation::abort`]).
    pub fn new(transport: ClientTransport, mut association: ClientAssociation) -> Self {
        if let ClientTransport::Hdlc(hdlc) = &transport {
            let link = hdlc.config();
            association.ensure_response_timeout_at_least(
                link.give_up_after_ms()
                    .saturating_add(link.response_timeout_ms),
            );
        }
        Self {
            transport,
            association,
            events: VecDeque::new(),
            associate_on_link_up: false,
            link_up: false,
        }
    }

    /// Whether the transport link is up (HDLC: UA received; wrapper: since `connect`).
    pub fn is_link_up(&self) -> bool {
        self.link_up
    }

    /// Starts a new association with `association` (other credentials, e.g. a new key after a
    /// key transfer) in place of the current one, which must be idle (released, rejected or
    /// aborted): at once when the link is up, after bringing the link up otherwise. Over HDLC
    /// the response time-out is raised as in [`new`](Self::new).
    pub fn associate_with(
        &mut self,
        now_ms: u64,
        mut association: ClientAssociation,
    ) -> Result<(), ConnectionError> {
        if self.association.state() != crate::association::ClientState::Idle {
            return Err(ConnectionError::Association(
                crate::association::AssociationError::InvalidState {
                    operation: "associate_with",
                    state: "not idle",
                },
            ));
        }
        if let ClientTransport::Hdlc(hdlc) = &self.transport {
            let link = hdlc.config();
            association.ensure_response_timeout_at_least(
                link.give_up_after_ms()
                    .saturating_add(link.response_timeout_ms),
            );
        }
        self.association = association;
        self.associate_on_link_up = true;
        if self.link_up {
            self.association.connect(now_ms)?;
        } else {
            self.transport.connect(now_ms)?;
        }
        self.pump(now_ms);
        Ok(())
    }

    /// The association, for its state and counters.
    pub fn association(&self) -> &ClientAssociation {
        &self.association
    }

    /// The transport, for its state and counters.
    pub fn transport(&self) -> &ClientTransport {
        &self.transport
    }

    /// Brings the link up, then sends the AARQ.
    pub fn connect(&mut self, now_ms: u64) -> Result<(), ConnectionError> {
        self.associate_on_link_up = true;
        self.transport.connect(now_ms)?;
        self.pump(now_ms);
        Ok(())
    }

    /// Reads an attribute; returns the invoke id of the eventual `GetCompleted`.
    pub fn get(
        &mut self,
        now_ms: u64,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
    ) -> Result<u8, ConnectionError> {
        let id = self.association.get(now_ms, attribute, access)?;
        self.pump(now_ms);
        Ok(id)
    }

    /// Writes an attribute.
    pub fn set(
        &mut self,
        now_ms: u64,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
        value: Data,
    ) -> Result<u8, ConnectionError> {
        let id = self.association.set(now_ms, attribute, access, value)?;
        self.pump(now_ms);
        Ok(id)
    }

    /// Invokes a method.
    pub fn action(
        &mut self,
        now_ms: u64,
        method: MethodDescriptor,
        parameters: Option<Data>,
    ) -> Result<u8, ConnectionError> {
        let id = self.association.action(now_ms, method, parameters)?;
        self.pump(now_ms);
        Ok(id)
    }

    /// Releases the association (RLRQ).
    pub fn release(&mut self, now_ms: u64) -> Result<(), ConnectionError> {
        self.association.release(now_ms)?;
        self.pump(now_ms);
        Ok(())
    }

    /// Takes the link down (HDLC DISC); release the association first for a clean close.
    pub fn disconnect(&mut self, now_ms: u64) -> Result<(), ConnectionError> {
        self.associate_on_link_up = false;
        self.transport.disconnect(now_ms)?;
        self.pump(now_ms);
        Ok(())
    }

    /// Feeds bytes from the line.
    pub fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64) {
        self.transport.handle_bytes(bytes, now_ms);
        self.pump(now_ms);
    }

    /// Next bytes to put on the line.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transport.poll_transmit()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ClientConnectionEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        [
            self.transport.poll_timeout(),
            self.association.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Acts on expired time-outs of both layers.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.transport.handle_timeout(now_ms);
        self.association.handle_timeout(now_ms);
        self.pump(now_ms);
    }

    /// Moves APDUs and events between the layers until both are quiet.
    fn pump(&mut self, now_ms: u64) {
        loop {
            let mut moved = false;
            while let Some(event) = self.transport.poll_event() {
                moved = true;
                match event {
                    TransportEvent::Up => {
                        self.link_up = true;
                        self.events.push_back(ClientConnectionEvent::LinkUp);
                        if self.associate_on_link_up
                            && let Err(error) = self.association.connect(now_ms)
                        {
                            self.events
                                .push_back(ClientConnectionEvent::Error(error.into()));
                        }
                    }
                    TransportEvent::Apdu(apdu) => {
                        if let Err(error) = self.association.handle_apdu(now_ms, &apdu) {
                            self.events
                                .push_back(ClientConnectionEvent::Error(error.into()));
                        }
                    }
                    TransportEvent::Down(reason) => {
                        self.link_up = false;
                        self.associate_on_link_up = false;
                        self.association
                            .abort(&format!("the transport link went down ({reason:?})"));
                        self.events
                            .push_back(ClientConnectionEvent::LinkDown(reason));
                    }
                    TransportEvent::Error(error) => {
                        self.events.push_back(ClientConnectionEvent::Error(error))
                    }
                }
            }
            while let Some(apdu) = self.association.poll_transmit() {
                moved = true;
                if let Err(error) = self.transport.send_apdu(&apdu, now_ms) {
                    self.events.push_back(ClientConnectionEvent::Error(error));
                }
            }
            while let Some(event) = self.association.poll_event() {
                moved = true;
                self.events
                    .push_back(ClientConnectionEvent::Association(event));
            }
            if !moved {
                return;
            }
        }
    }
}
