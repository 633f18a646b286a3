//! The client (head-end / DLMS adapter) side of an application association.

mod receive;

use std::collections::VecDeque;

use super::{AssociationError, CIPHER_OVERHEAD, SecurityMaterial, context_for, pdu_limit};
use crate::apdu::get::AttributeSelection;
use crate::apdu::set::DataBlock;
use crate::apdu::{
    Aarq, AcseDiagnostic, ActionRequest, Apdu, AssociationResult, ConfirmedServiceError,
    Conformance, DataAccessResult, DataNotification, EventNotification, ExceptionResponse,
    GetDataResult, GetRequest, InitiateRequest, InvokeIdAndPriority, Mechanism, Rlrq, SetRequest,
};
use crate::axdr::Data;
use crate::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};
use crate::security::{self, ReplayGuard, SecurityControl, SystemTitle};

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// Lowest security: no authentication (public client).
    None,
    /// Low level security: a password in the AARQ.
    Lls {
        /// The password (secret).
        password: Vec<u8>,
    },
    /// HLS with GMAC (mechanism 5); needs [`ClientConfig::security`].
    HlsGmac {
        /// CtoS: 8..=64 random bytes chosen by the caller for this association.
        client_challenge: Vec<u8>,
    },
}

/// Client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Authentication mechanism.
    pub authentication: ClientAuthentication,
    /// Keys, system title and invocation counter (needed for HLS-GMAC and ciphering).
    pub security: Option<SecurityMaterial>,
    /// When set, use the ciphering context and protect every xDLMS APDU with this control byte.
    pub cipher: Option<SecurityControl>,
    /// Proposed conformance.
    pub conformance: Conformance,
    /// client-max-receive-pdu-size.
    pub max_receive_pdu_size: u16,
    /// How long to wait for each response before failing the operation. Over HDLC it must
    /// exceed the link's own give-up time (`HdlcConfig::give_up_after_ms`), or the association
    /// abandons requests the link is still retransmitting; `ClientConnection` raises it when
    /// it does not.
    pub response_timeout_ms: u64,
}

/// Default [`ClientConfig::response_timeout_ms`]: 15 s, one HDLC response time-out (3 s) above
/// the default HDLC give-up time of 3 s × (3 retries + 1) = 12 s, so a default-configured
/// client over HDLC fails a dead link at the link layer first.
pub const DEFAULT_RESPONSE_TIMEOUT_MS: u64 = 15_000;

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            authentication: ClientAuthentication::None,
            security: None,
            cipher: None,
            conformance: Conformance::LN_DEFAULT,
            max_receive_pdu_size: 1024,
            response_timeout_ms: DEFAULT_RESPONSE_TIMEOUT_MS,
        }
    }
}

/// Where the client is in the association life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Not associated.
    Idle,
    /// AARQ sent.
    AwaitingAare,
    /// HLS pass 3 sent, waiting for f(CtoS).
    AwaitingHlsResult,
    /// Associated: requests may be issued.
    Associated,
    /// RLRQ sent.
    AwaitingRlre,
}

/// Something that completed or arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The association is established (and, for HLS, mutually authenticated).
    Associated {
        /// Negotiated conformance.
        conformance: Conformance,
        /// The server's max receive PDU size.
        server_max_receive_pdu_size: u16,
    },
    /// The server rejected the AARQ.
    Rejected {
        /// Result.
        result: AssociationResult,
        /// Diagnostic (e.g. `User(13)` for a wrong password).
        diagnostic: AcseDiagnostic,
        /// The initiate error carried in user-information, if any.
        initiate_error: Option<ConfirmedServiceError>,
    },
    /// HLS pass 3 or 4 failed: the association is not usable.
    AuthenticationFailed {
        /// Why.
        reason: String,
    },
    /// A GET (possibly reassembled from blocks) completed.
    GetCompleted {
        /// Invoke id.
        invoke_id: u8,
        /// The value or the server's Data-Access-Result.
        result: Result<Data, DataAccessResult>,
    },
    /// A GET-with-list completed.
    GetListCompleted {
        /// Invoke id.
        invoke_id: u8,
        /// One result per attribute.
        results: Vec<GetDataResult>,
    },
    /// A SET completed.
    SetCompleted {
        /// Invoke id.
        invoke_id: u8,
        /// Result.
        result: DataAccessResult,
    },
    /// An ACTION completed.
    ActionCompleted {
        /// Invoke id.
        invoke_id: u8,
        /// Action-Result.
        result: DataAccessResult,
        /// Return parameters.
        return_parameters: Option<GetDataResult>,
    },
    /// The server pushed an EventNotification.
    EventNotification(EventNotification),
    /// The server pushed a DataNotification.
    DataNotification(DataNotification),
    /// The server answered the outstanding request with an ExceptionResponse.
    Exception {
        /// Invoke id of the request it answered, if one was outstanding.
        invoke_id: Option<u8>,
        /// The exception.
        response: ExceptionResponse,
    },
    /// An operation failed locally (timeout, malformed or unverifiable response).
    OperationFailed {
        /// Invoke id (None for association-level failures).
        invoke_id: Option<u8>,
        /// Why.
        reason: String,
    },
    /// The association was released (RLRE received).
    Released,
}

#[derive(Debug)]
enum Request {
    Get(AttributeDescriptor, Option<SelectiveAccess>),
    GetList(Vec<AttributeSelection>),
    Set(AttributeDescriptor, Option<SelectiveAccess>, Data),
    Action(MethodDescriptor, Option<Data>),
    Release,
}

#[derive(Debug)]
enum Waiting {
    Aare,
    HlsResult,
    Get {
        list: bool,
        buffer: Vec<u8>,
        last_block: u32,
    },
    Set {
        blocks: VecDeque<Vec<u8>>,
        next_block: u32,
    },
    Action,
    Release,
}

#[derive(Debug)]
struct Outstanding {
    invoke_id: u8,
    waiting: Waiting,
    deadline: u64,
}

/// The client state machine.
#[derive(Debug)]
pub struct ClientAssociation {
    config: ClientConfig,
    state: ClientState,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    queue: VecDeque<(u8, Request)>,
    outstanding: Option<Outstanding>,
    next_invoke: u8,
    server_title: Option<SystemTitle>,
    server_guard: ReplayGuard,
    server_max_pdu: u16,
    conformance: Conformance,
}

impl ClientAssociation {
    /// A client that has not yet associated.
    pub fn new(config: ClientConfig) -> Result<Self, AssociationError> {
        let needs_keys = config.cipher.is_some()
            || matches!(config.authentication, ClientAuthentication::HlsGmac { .. });
        if needs_keys && config.security.is_none() {
            return Err(AssociationError::Config(
                "HLS-GMAC and ciphering need security material",
            ));
        }
        if let ClientAuthentication::HlsGmac { client_challenge } = &config.authentication
            && !(8..=64).contains(&client_challenge.len())
        {
            return Err(AssociationError::Config(
                "the HLS challenge must be 8 to 64 bytes",
            ));
        }
        Ok(Self {
            config,
            state: ClientState::Idle,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            queue: VecDeque::new(),
            outstanding: None,
            next_invoke: 1,
            server_title: None,
            server_guard: ReplayGuard::new(),
            server_max_pdu: 0,
            conformance: Conformance::default(),
        })
    }

    /// Current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The server's system title (from the AARE).
    pub fn server_system_title(&self) -> Option<SystemTitle> {
        self.server_title
    }

    /// The next invocation counter this client will use (persist it between associations).
    pub fn invocation_counter(&self) -> Option<u32> {
        self.config.security.as_ref().map(|s| s.invocation_counter)
    }

    /// How long each response is waited for.
    pub fn response_timeout_ms(&self) -> u64 {
        self.config.response_timeout_ms
    }

    /// Raises the response time-out to at least `min_ms` (requests already sent keep their
    /// deadline).
    pub(crate) fn ensure_response_timeout_at_least(&mut self, min_ms: u64) {
        if self.config.response_timeout_ms < min_ms {
            self.config.response_timeout_ms = min_ms;
        }
    }

    /// The transport under the association is gone: the outstanding operation and every
    /// queued one fail at once with `reason` (rather than at their response time-out), and the
    /// association returns to [`ClientState::Idle`]. A no-op when idle with nothing pending.
    pub fn abort(&mut self, reason: &str) {
        if let Some(o) = self.outstanding.take() {
            let invoke_id = match o.waiting {
                Waiting::Aare | Waiting::HlsResult | Waiting::Release => None,
                _ => Some(o.invoke_id),
            };
            self.events.push_back(ClientEvent::OperationFailed {
                invoke_id,
                reason: reason.to_owned(),
            });
        }
        self.fail_queued(reason);
        self.transmit.clear();
        self.state = ClientState::Idle;
    }

    /// Supplies a fresh CtoS challenge for the next HLS association.
    pub fn set_client_challenge(&mut self, challenge: Vec<u8>) {
        if let ClientAuthentication::HlsGmac { client_challenge } = &mut self.config.authentication
        {
            *client_challenge = challenge;
        }
    }

    /// Starts the association: queues the AARQ.
    pub fn connect(&mut self, now_ms: u64) -> Result<(), AssociationError> {
        if self.state != ClientState::Idle {
            return Err(self.invalid("connect"));
        }
        let initiate =
            InitiateRequest::new(self.config.conformance, self.config.max_receive_pdu_size)
                .to_bytes();
        let (mechanism, auth_value) = match &self.config.authentication {
            ClientAuthentication::None => (None, None),
            ClientAuthentication::Lls { password } => {
                (Some(Mechanism::Lls), Some(password.clone()))
            }
            ClientAuthentication::HlsGmac { client_challenge } => {
                (Some(Mechanism::HlsGmac), Some(client_challenge.clone()))
            }
        };
        let user_information = match self.config.cipher {
            Some(sc) => self.protect(&initiate, sc)?,
            None => initiate,
        };
        let aarq = Aarq {
            application_context: context_for(self.config.cipher),
            calling_ap_title: self
                .config
                .security
                .as_ref()
                .map(|s| s.system_title.to_vec()),
            mechanism,
            calling_authentication_value: auth_value,
            user_information: Some(user_information),
        };
        self.server_guard = ReplayGuard::new();
        self.transmit.push_back(Apdu::Aarq(aarq).to_bytes());
        self.state = ClientState::AwaitingAare;
        self.outstanding = Some(Outstanding {
            invoke_id: 0,
            waiting: Waiting::Aare,
            deadline: now_ms.saturating_add(self.config.response_timeout_ms),
        });
        Ok(())
    }

    /// Reads an attribute; completes with [`ClientEvent::GetCompleted`]. Returns the invoke id.
    pub fn get(
        &mut self,
        now_ms: u64,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
    ) -> Result<u8, AssociationError> {
        self.enqueue(now_ms, "get", Request::Get(attribute, access))
    }

    /// Reads several attributes in one request; completes with [`ClientEvent::GetListCompleted`].
    pub fn get_with_list(
        &mut self,
        now_ms: u64,
        items: Vec<AttributeSelection>,
    ) -> Result<u8, AssociationError> {
        self.enqueue(now_ms, "get_with_list", Request::GetList(items))
    }

    /// Writes an attribute, in datablocks when it does not fit the server's PDU size.
    pub fn set(
        &mut self,
        now_ms: u64,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
        value: Data,
    ) -> Result<u8, AssociationError> {
        self.enqueue(now_ms, "set", Request::Set(attribute, access, value))
    }

    /// Invokes a method.
    pub fn action(
        &mut self,
        now_ms: u64,
        method: MethodDescriptor,
        parameters: Option<Data>,
    ) -> Result<u8, AssociationError> {
        self.enqueue(now_ms, "action", Request::Action(method, parameters))
    }

    /// Releases the association once queued requests have completed.
    pub fn release(&mut self, now_ms: u64) -> Result<(), AssociationError> {
        self.enqueue(now_ms, "release", Request::Release)
            .map(|_| ())
    }

    /// The next APDU to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`ClientAssociation::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.outstanding.as_ref().map(|o| o.deadline)
    }

    /// Fails the outstanding operation if its response is overdue.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let Some(o) = self.outstanding.take_if(|o| now_ms >= o.deadline) else {
            return;
        };
        let reason = format!("no response within {} ms", self.config.response_timeout_ms);
        match o.waiting {
            Waiting::Aare | Waiting::HlsResult | Waiting::Release => {
                self.state = ClientState::Idle;
                self.events.push_back(ClientEvent::OperationFailed {
                    invoke_id: None,
                    reason,
                });
                self.fail_queued("the association ended before the request was sent");
            }
            _ => {
                self.events.push_back(ClientEvent::OperationFailed {
                    invoke_id: Some(o.invoke_id),
                    reason,
                });
                self.pump(now_ms);
            }
        }
    }

    /// Fails every request still waiting to be sent, so each invoke id gets an event.
    fn fail_queued(&mut self, reason: &str) {
        for (id, _) in std::mem::take(&mut self.queue) {
            self.events.push_back(ClientEvent::OperationFailed {
                invoke_id: Some(id),
                reason: reason.to_owned(),
            });
        }
    }

    fn invalid(&self, operation: &'static str) -> AssociationError {
        AssociationError::InvalidState {
            operation,
            state: match self.state {
                ClientState::Idle => "idle",
                ClientState::AwaitingAare => "awaiting AARE",
                ClientState::AwaitingHlsResult => "awaiting HLS result",
                ClientState::Associated => "associated",
                ClientState::AwaitingRlre => "awaiting RLRE",
            },
        }
    }

    fn enqueue(
        &mut self,
        now_ms: u64,
        op: &'static str,
        req: Request,
    ) -> Result<u8, AssociationError> {
        if !matches!(
            self.state,
            ClientState::Associated | ClientState::AwaitingHlsResult | ClientState::AwaitingAare
        ) {
            return Err(self.invalid(op));
        }
        let id = self.next_invoke;
        self.next_invoke = (self.next_invoke + 1) & 0x0F;
        self.queue.push_back((id, req));
        self.pump(now_ms);
        Ok(id)
    }

    fn protect(&mut self, plain: &[u8], sc: SecurityControl) -> Result<Vec<u8>, AssociationError> {
        let sec = self
            .config
            .security
            .as_mut()
            .ok_or(AssociationError::Config(
                "ciphering needs security material",
            ))?;
        let ic = sec.invocation_counter;
        sec.invocation_counter = ic
            .checked_add(1)
            .ok_or(security::SecurityError::CounterExhausted)?;
        match security::protect(plain, sc, &sec.keys, &sec.system_title, ic)? {
            Some(c) => Ok(c.to_bytes()),
            None => Err(AssociationError::Unexpected("APDU type has no glo- form")),
        }
    }

    fn send_xdlms(&mut self, plain: Vec<u8>) -> Result<(), AssociationError> {
        let bytes = match self.config.cipher {
            Some(sc) => self.protect(&plain, sc)?,
            None => plain,
        };
        self.transmit.push_back(bytes);
        Ok(())
    }

    fn invoke(&self, id: u8) -> InvokeIdAndPriority {
        InvokeIdAndPriority::new(id, true, true)
    }

    fn max_send(&self) -> usize {
        let overhead = if self.config.cipher.is_some() {
            CIPHER_OVERHEAD
        } else {
            0
        };
        pdu_limit(self.server_max_pdu).saturating_sub(overhead)
    }

    /// Sends the next queued request when nothing is outstanding.
    fn pump(&mut self, now_ms: u64) {
        while self.outstanding.is_none() && self.state == ClientState::Associated {
            let Some((id, req)) = self.queue.pop_front() else {
                return;
            };
            if let Err(e) = self.start(now_ms, id, req) {
                self.events.push_back(ClientEvent::OperationFailed {
                    invoke_id: Some(id),
                    reason: e.to_string(),
                });
            }
        }
    }

    fn start(&mut self, now_ms: u64, id: u8, req: Request) -> Result<(), AssociationError> {
        let invoke = self.invoke(id);
        let (apdu, waiting) = match req {
            Request::Get(attribute, access) => (
                Apdu::GetRequest(GetRequest::Normal {
                    invoke,
                    attribute,
                    access,
                }),
                Waiting::Get {
                    list: false,
                    buffer: Vec::new(),
                    last_block: 0,
                },
            ),
            Request::GetList(items) => (
                Apdu::GetRequest(GetRequest::WithList { invoke, items }),
                Waiting::Get {
                    list: true,
                    buffer: Vec::new(),
                    last_block: 0,
                },
            ),
            Request::Set(attribute, access, value) => {
                let encoded = value.to_bytes();
                let mut access_bytes = Vec::new();
                SelectiveAccess::encode_optional(access.as_ref(), &mut access_bytes);
                // tag, choice, invoke, descriptor, access, then the value (normal) or
                // last-block, block-number and a length of up to 5 bytes (datablock).
                let header = 3 + 9 + access_bytes.len();
                if header + encoded.len() <= self.max_send() {
                    let req = SetRequest::Normal {
                        invoke,
                        attribute,
                        access,
                        value,
                    };
                    (
                        Apdu::SetRequest(req),
                        Waiting::Set {
                            blocks: VecDeque::new(),
                            next_block: 1,
                        },
                    )
                } else {
                    let chunk = self.max_send().saturating_sub(header + 1 + 4 + 5).max(1);
                    let mut blocks: VecDeque<Vec<u8>> =
                        encoded.chunks(chunk).map(<[u8]>::to_vec).collect();
                    let first = blocks.pop_front().unwrap_or_default();
                    let block = DataBlock {
                        last_block: blocks.is_empty(),
                        block_number: 1,
                        raw: first,
                    };
                    (
                        Apdu::SetRequest(SetRequest::WithFirstDataBlock {
                            invoke,
                            attribute,
                            access,
                            block,
                        }),
                        Waiting::Set {
                            blocks,
                            next_block: 2,
                        },
                    )
                }
            }
            Request::Action(method, parameters) => (
                Apdu::ActionRequest(ActionRequest {
                    invoke,
                    method,
                    parameters,
                }),
                Waiting::Action,
            ),
            Request::Release => {
                self.transmit.push_back(
                    Apdu::Rlrq(Rlrq {
                        reason: Some(0),
                        user_information: None,
                    })
                    .to_bytes(),
                );
                self.state = ClientState::AwaitingRlre;
                self.outstanding = Some(Outstanding {
                    invoke_id: id,
                    waiting: Waiting::Release,
                    deadline: now_ms.saturating_add(self.config.response_timeout_ms),
                });
                return Ok(());
            }
        };
        self.send_xdlms(apdu.to_bytes())?;
        self.outstanding = Some(Outstanding {
            invoke_id: id,
            waiting,
            deadline: now_ms.saturating_add(self.config.response_timeout_ms),
        });
        Ok(())
    }
}
