//! The server (meter / emulator) side of an application association.

mod aarq;
mod request;

use std::collections::VecDeque;

use super::{AssociationError, CosemObjectModel, RequestContext, SecurityMaterial};
use crate::apdu::notification::StateError;
use crate::apdu::{
    AcseDiagnostic, Apdu, Conformance, DataNotification, EventNotification, ExceptionResponse,
    Mechanism, Rlre, ServiceError,
};
use crate::axdr::{Data, DateTime};
use crate::cosem::{AttributeDescriptor, SelectiveAccess};
use crate::security::{self, ReplayGuard, SecurityControl, SecurityError, SystemTitle};

/// How clients of this association must authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAuthentication {
    /// No authentication (public client).
    None,
    /// LLS: the AARQ must carry this password.
    Lls {
        /// The expected password.
        password: Vec<u8>,
    },
    /// HLS-GMAC (mechanism 5) with the keys of [`ServerConfig::security`].
    HlsGmac,
}

/// Server configuration (one per association object / client SAP).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Required authentication.
    pub authentication: ServerAuthentication,
    /// Server system title, keys and invocation counter (needed for HLS-GMAC and ciphering).
    pub security: Option<SecurityMaterial>,
    /// When set, the ciphering context is required and responses are protected with this byte.
    pub cipher: Option<SecurityControl>,
    /// Conformance the server offers. With [`security`](Self::security) material the server
    /// also offers general-protection, since it can then decipher general-glo-ciphering.
    pub conformance: Conformance,
    /// server-max-receive-pdu-size.
    pub max_receive_pdu_size: u16,
    /// StoC challenge for the next HLS association (8..=64 random bytes from the caller).
    pub hls_challenge: Vec<u8>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            authentication: ServerAuthentication::None,
            security: None,
            cipher: None,
            conformance: Conformance::LN_DEFAULT,
            max_receive_pdu_size: 1024,
            hls_challenge: Vec::new(),
        }
    }
}

/// Where the server is in the association life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// No association.
    Idle,
    /// AARE sent with authentication-required; waiting for reply_to_HLS_authentication.
    AwaitingHlsReply,
    /// Associated.
    Associated,
}

/// Something that happened on the server side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A client associated (after HLS pass 4 for HLS).
    Associated {
        /// Mechanism used.
        mechanism: Mechanism,
        /// The client's system title, when it sent one.
        client_system_title: Option<SystemTitle>,
    },
    /// An AARQ was rejected with this diagnostic.
    Rejected {
        /// Diagnostic sent in the AARE.
        diagnostic: AcseDiagnostic,
    },
    /// The client's f(StoC) did not verify.
    AuthenticationFailed,
    /// A ciphered APDU was rejected (replay, bad tag, unciphered request in a ciphered context).
    SecurityFailure {
        /// Why.
        reason: String,
    },
    /// The client released the association.
    Released,
}

/// How a request arrived, so its response is protected the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protection {
    /// In clear.
    Plain,
    /// glo- ciphered (dedicated tag per service).
    Glo,
    /// general-glo-ciphering, with this security control byte.
    General(SecurityControl),
}

impl Protection {
    pub(super) fn ciphered(self) -> bool {
        self != Protection::Plain
    }
}

#[derive(Debug)]
pub(super) struct PendingGet {
    invoke: crate::apdu::InvokeIdAndPriority,
    encoded: Vec<u8>,
    offset: usize,
    block_number: u32,
}

#[derive(Debug)]
pub(super) struct PendingSet {
    invoke: crate::apdu::InvokeIdAndPriority,
    attribute: AttributeDescriptor,
    access: Option<SelectiveAccess>,
    buffer: Vec<u8>,
    block_number: u32,
}

/// The server state machine.
#[derive(Debug)]
pub struct ServerAssociation {
    config: ServerConfig,
    state: ServerState,
    mechanism: Mechanism,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<ServerEvent>,
    client_title: Option<SystemTitle>,
    client_guard: ReplayGuard,
    client_challenge: Vec<u8>,
    client_max_pdu: u16,
    conformance: Conformance,
    pending_get: Option<PendingGet>,
    pending_set: Option<PendingSet>,
}

impl ServerAssociation {
    /// A server with no association yet.
    pub fn new(config: ServerConfig) -> Result<Self, AssociationError> {
        let needs_keys =
            config.cipher.is_some() || config.authentication == ServerAuthentication::HlsGmac;
        if needs_keys && config.security.is_none() {
            return Err(AssociationError::Config(
                "HLS-GMAC and ciphering need security material",
            ));
        }
        Ok(Self {
            config,
            state: ServerState::Idle,
            mechanism: Mechanism::None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            client_title: None,
            client_guard: ReplayGuard::new(),
            client_challenge: Vec::new(),
            client_max_pdu: 0,
            conformance: Conformance::default(),
            pending_get: None,
            pending_set: None,
        })
    }

    /// Current state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// Negotiated conformance of the current association.
    pub fn conformance(&self) -> Conformance {
        self.conformance
    }

    /// What the server proposes in an AARE: the configured conformance, plus general-protection
    /// when it holds security material.
    pub fn offered_conformance(&self) -> Conformance {
        let general = if self.config.security.is_some() {
            Conformance::GENERAL_PROTECTION
        } else {
            0
        };
        Conformance(self.config.conformance.0 | general)
    }

    /// The next invocation counter the server will use (persist it).
    pub fn invocation_counter(&self) -> Option<u32> {
        self.config.security.as_ref().map(|s| s.invocation_counter)
    }

    /// The last client invocation counter accepted.
    pub fn client_invocation_counter(&self) -> Option<u32> {
        self.client_guard.last()
    }

    /// Requires client invocation counters above `last` (restore it from storage so replays
    /// across connections are refused too). Call before the AARQ arrives.
    pub fn require_client_counter_above(&mut self, last: u32) {
        self.client_guard = ReplayGuard::after(last);
    }

    /// Supplies the StoC challenge for the next HLS association (fresh random bytes).
    pub fn set_hls_challenge(&mut self, challenge: Vec<u8>) {
        self.config.hls_challenge = challenge;
    }

    /// Replaces the suite-0 keys (e.g. after a Security Setup key_transfer).
    pub fn set_keys(&mut self, keys: security::Keys) {
        if let Some(s) = self.config.security.as_mut() {
            s.keys = keys;
        }
    }

    /// The next APDU to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Drops the association without an RLRQ (e.g. the HDLC link was disconnected).
    pub fn reset(&mut self) {
        self.state = ServerState::Idle;
        self.pending_get = None;
        self.pending_set = None;
    }

    /// Queues an EventNotification.request (glo- ciphered in a ciphered association).
    pub fn event_notification(
        &mut self,
        time: Option<DateTime>,
        attribute: AttributeDescriptor,
        value: Data,
    ) -> Result<(), AssociationError> {
        let apdu = Apdu::EventNotification(EventNotification {
            time: time.map(|t| t.to_bytes().to_vec()),
            attribute,
            value,
        });
        let protection = if self.config.cipher.is_some() {
            Protection::Glo
        } else {
            Protection::Plain
        };
        self.respond(apdu.to_bytes(), protection)
    }

    /// Queues a DataNotification; in a ciphered association it is protected with
    /// general-glo-ciphering (DataNotification has no glo- tag), which the client must have
    /// agreed to: without general-protection in the negotiated conformance nothing is queued
    /// and [`AssociationError::NotNegotiated`] is returned.
    pub fn data_notification(
        &mut self,
        long_invoke_id: u32,
        date_time: Option<DateTime>,
        body: Data,
    ) -> Result<(), AssociationError> {
        let plain = Apdu::DataNotification(DataNotification {
            long_invoke_id_and_priority: long_invoke_id,
            date_time,
            body,
        })
        .to_bytes();
        let general_agreed = self.conformance.has(Conformance::GENERAL_PROTECTION);
        let bytes = match (self.config.cipher, self.config.security.as_mut()) {
            (Some(_), Some(_)) if !general_agreed => {
                return Err(AssociationError::NotNegotiated(
                    "general-protection (needed for a ciphered DataNotification)",
                ));
            }
            (Some(sc), Some(sec)) => {
                let ic = sec.invocation_counter;
                sec.invocation_counter =
                    ic.checked_add(1).ok_or(SecurityError::CounterExhausted)?;
                let apdu = security::protect_general(&plain, sc, &sec.keys, &sec.system_title, ic)?;
                Apdu::GeneralGloCiphered(apdu).to_bytes()
            }
            _ => plain,
        };
        self.transmit.push_back(bytes);
        Ok(())
    }

    /// Processes one received APDU, queueing the response.
    ///
    /// Errors describe input that was rejected; a response (e.g. an ExceptionResponse) has been
    /// queued whenever the standard calls for one.
    pub fn handle_apdu(
        &mut self,
        now_ms: u64,
        bytes: &[u8],
        model: &mut dyn CosemObjectModel,
    ) -> Result<(), AssociationError> {
        let apdu = match Apdu::decode(bytes) {
            Ok(a) => a,
            Err(e) => {
                self.exception(
                    StateError::ServiceUnknown,
                    ServiceError::ServiceNotSupported,
                );
                return Err(e.into());
            }
        };
        let (apdu, protection) = match apdu {
            Apdu::Ciphered(c) => match self.decipher(&c) {
                Ok(a) => (a, Protection::Glo),
                Err(e) => return Err(self.deciphering_failed(e)),
            },
            Apdu::GeneralGloCiphered(g) => {
                if self.state == ServerState::Idle {
                    self.exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::OperationNotPossible,
                    );
                    return Err(AssociationError::InvalidState {
                        operation: "general-glo-ciphering",
                        state: "idle",
                    });
                }
                if !self.conformance.has(Conformance::GENERAL_PROTECTION) {
                    self.exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::ServiceNotSupported,
                    );
                    return Err(AssociationError::NotNegotiated(
                        "general-protection (general-glo-ciphering)",
                    ));
                }
                match self.decipher_general(&g) {
                    Ok(a) => (a, Protection::General(SecurityControl(g.security_control))),
                    Err(e) => return Err(self.deciphering_failed(e)),
                }
            }
            other => (other, Protection::Plain),
        };
        let ciphered = protection.ciphered();
        match apdu {
            Apdu::Aarq(aarq) => self.handle_aarq(aarq),
            Apdu::Rlrq(_) => {
                self.reset();
                self.transmit.push_back(
                    Apdu::Rlre(Rlre {
                        reason: Some(0),
                        user_information: None,
                    })
                    .to_bytes(),
                );
                self.events.push_back(ServerEvent::Released);
                Ok(())
            }
            Apdu::GetRequest(_) | Apdu::SetRequest(_) | Apdu::ActionRequest(_) => {
                if self.state == ServerState::Idle {
                    self.exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::OperationNotPossible,
                    );
                    return Err(AssociationError::InvalidState {
                        operation: "xDLMS request",
                        state: "idle",
                    });
                }
                if self.config.cipher.is_some() && !ciphered {
                    self.events.push_back(ServerEvent::SecurityFailure {
                        reason: "unciphered request in a ciphered association".to_owned(),
                    });
                    self.exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::OperationNotPossible,
                    );
                    return Err(AssociationError::Unexpected(
                        "unciphered request in a ciphered association",
                    ));
                }
                let needed = match &apdu {
                    Apdu::GetRequest(_) => Conformance::GET,
                    Apdu::SetRequest(_) => Conformance::SET,
                    _ => Conformance::ACTION,
                };
                let hls_reply =
                    matches!(&apdu, Apdu::ActionRequest(a) if super::is_hls_reply(&a.method));
                if !self.conformance.has(needed) && !hls_reply {
                    self.exception(
                        StateError::ServiceNotAllowed,
                        ServiceError::ServiceNotSupported,
                    );
                    return Err(AssociationError::Unexpected(
                        "service not in the negotiated conformance",
                    ));
                }
                let ctx = RequestContext {
                    now_ms,
                    mechanism: self.mechanism,
                    ciphered,
                    conformance: self.conformance,
                    server_max_receive_pdu: self.config.max_receive_pdu_size,
                    client_max_receive_pdu: self.client_max_pdu,
                };
                let response = self.serve(&ctx, apdu, protection, model)?;
                self.respond(response, protection)
            }
            _ => {
                self.exception(
                    StateError::ServiceUnknown,
                    ServiceError::ServiceNotSupported,
                );
                Err(AssociationError::Unexpected("APDU a client does not send"))
            }
        }
    }

    fn decipher(&mut self, c: &crate::apdu::CipheredApdu) -> Result<Apdu, AssociationError> {
        let (Some(sec), Some(title)) = (self.config.security.as_ref(), self.client_title) else {
            return Err(AssociationError::Unexpected(
                "ciphered APDU without keys or client system title",
            ));
        };
        self.client_guard.check(c.invocation_counter)?;
        let plain = security::unprotect(c, &sec.keys, &title)?;
        self.client_guard.accept(c.invocation_counter);
        Ok(Apdu::decode(&plain)?)
    }

    /// A general-glo-ciphered APDU from the client this association was made with.
    fn decipher_general(
        &mut self,
        g: &crate::apdu::GeneralGloCiphered,
    ) -> Result<Apdu, AssociationError> {
        let (Some(sec), Some(title)) = (self.config.security.as_ref(), self.client_title) else {
            return Err(AssociationError::Unexpected(
                "ciphered APDU without keys or client system title",
            ));
        };
        if g.system_title.as_slice() != title.as_slice() {
            return Err(AssociationError::Unexpected(
                "general-glo-ciphering from another system title than the AARQ's",
            ));
        }
        self.client_guard.check(g.invocation_counter)?;
        let plain = security::unprotect_general(g, &sec.keys)?;
        self.client_guard.accept(g.invocation_counter);
        Ok(Apdu::decode(&plain)?)
    }

    /// Answers a ciphered APDU that could not be deciphered, and returns why.
    fn deciphering_failed(&mut self, error: AssociationError) -> AssociationError {
        let service_error = match &error {
            AssociationError::Security(SecurityError::Replay { last, .. }) => {
                ServiceError::InvocationCounterError(last.saturating_add(1))
            }
            _ => ServiceError::DecipheringError,
        };
        self.events.push_back(ServerEvent::SecurityFailure {
            reason: error.to_string(),
        });
        self.exception(StateError::ServiceNotAllowed, service_error);
        error
    }

    fn exception(&mut self, state_error: StateError, service_error: ServiceError) {
        let apdu = Apdu::ExceptionResponse(ExceptionResponse {
            state_error,
            service_error,
        });
        self.transmit.push_back(apdu.to_bytes());
    }

    /// Glo- protects `plain` with the server's next invocation counter.
    fn protect(&mut self, plain: &[u8], sc: SecurityControl) -> Result<Vec<u8>, AssociationError> {
        let sec = self
            .config
            .security
            .as_mut()
            .ok_or(AssociationError::Config(
                "ciphering needs security material",
            ))?;
        let ic = sec.invocation_counter;
        sec.invocation_counter = ic.checked_add(1).ok_or(SecurityError::CounterExhausted)?;
        match security::protect(plain, sc, &sec.keys, &sec.system_title, ic)? {
            Some(c) => Ok(c.to_bytes()),
            None => Ok(plain.to_vec()),
        }
    }

    /// general-glo-ciphers `plain` with the server's system title and next invocation counter.
    fn protect_general(
        &mut self,
        plain: &[u8],
        sc: SecurityControl,
    ) -> Result<Vec<u8>, AssociationError> {
        let sec = self
            .config
            .security
            .as_mut()
            .ok_or(AssociationError::Config(
                "ciphering needs security material",
            ))?;
        let ic = sec.invocation_counter;
        sec.invocation_counter = ic.checked_add(1).ok_or(SecurityError::CounterExhausted)?;
        let apdu = security::protect_general(plain, sc, &sec.keys, &sec.system_title, ic)?;
        Ok(Apdu::GeneralGloCiphered(apdu).to_bytes())
    }

    /// Sends a response protected as its request was: glo- in a ciphered context, and
    /// general-glo-ciphering (the association's security control, else the request's) for a
    /// general-glo-ciphered request.
    fn respond(&mut self, plain: Vec<u8>, protection: Protection) -> Result<(), AssociationError> {
        let bytes = match (protection, self.config.cipher) {
            (Protection::Glo, Some(sc)) => self.protect(&plain, sc)?,
            (Protection::General(requested), configured) => {
                self.protect_general(&plain, configured.unwrap_or(requested))?
            }
            _ => plain,
        };
        self.transmit.push_back(bytes);
        Ok(())
    }
}
