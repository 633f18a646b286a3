//! The exchange engine: one [`ClientConnection`] per session, driven one operation at a time
//! (associate, GET, SET, ACTION, release) from host events, with the connection's time-out
//! armed as the host timer.

use meterlab_dlms::apdu::notification::StateError;
use meterlab_dlms::apdu::{AcseDiagnostic, DataAccessResult, ServiceError};
use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent, ClientState,
    SecurityMaterial,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::connection::{
    ClientConnection, ClientConnectionEvent, ClientTransport, WrapperLink,
};
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};
use meterlab_dlms::hdlc::{HdlcAddress, HdlcClient, HdlcConfig};
use meterlab_dlms::security::{Key, Keys, SecurityControl, SystemTitle};
use meterlab_plugin::pb::{Alert, AlertSeverity};
use sha2::{Digest, Sha256};

use crate::params::{SessionParams, TransportParams};

/// The host timer carrying the connection's next time-out.
pub const EXCHANGE_TIMER: u64 = 1;

/// How a client authenticates (the HLS challenge is drawn per association).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// Public client.
    None,
    /// LLS password.
    Lls(Vec<u8>),
    /// HLS-GMAC.
    HlsGmac,
}

/// Who associates: client SAP, mechanism and keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Client SAP.
    pub sap: u8,
    /// Mechanism.
    pub mechanism: Mechanism,
    /// System title and EK/AK, for HLS-GMAC or ciphering.
    pub keys: Option<(SystemTitle, Key, Key)>,
    /// Glo-cipher xDLMS APDUs.
    pub ciphered: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("sap", &self.sap)
            .field("ciphered", &self.ciphered)
            .finish_non_exhaustive()
    }
}

/// One DLMS operation of an SRV's equivalent steps.
#[derive(Debug, Clone)]
pub enum Op {
    /// A new association with these credentials (the current one must be released first).
    Associate(Credentials),
    /// A-RELEASE.
    Release,
    /// GET, with optional selective access.
    Get(AttributeDescriptor, Option<SelectiveAccess>),
    /// SET.
    Set(AttributeDescriptor, Data),
    /// ACTION.
    Action(MethodDescriptor, Option<Data>),
}

impl Op {
    /// What the operation is, for errors and logs.
    pub fn describe(&self) -> String {
        match self {
            Op::Associate(credentials) => format!("association as client {}", credentials.sap),
            Op::Release => "release".to_owned(),
            Op::Get(attribute, _) => format!(
                "GET {}/{} attribute {}",
                attribute.class_id, attribute.instance, attribute.attribute_id
            ),
            Op::Set(attribute, _) => format!(
                "SET {}/{} attribute {}",
                attribute.class_id, attribute.instance, attribute.attribute_id
            ),
            Op::Action(method, _) => format!(
                "ACTION {}/{} method {}",
                method.class_id, method.instance, method.method_id
            ),
        }
    }
}

/// What the device answered to one operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The association is established.
    Associated,
    /// A GET's value.
    Value(Data),
    /// A SET, ACTION or release succeeded.
    Done,
    /// The device refused: `code` is the Data-Access-Result, the ACSE diagnostic or 0.
    Refused {
        /// Protocol-level code.
        code: u32,
        /// What was refused and why.
        reason: String,
    },
}

/// Why an operation produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No (complete) answer in time.
    Timeout {
        /// How long the operation waited.
        elapsed_ms: u64,
        /// What it waited for.
        waiting_for: String,
    },
    /// The link went down or could not carry the exchange.
    Link(String),
    /// The device answered that no association is open (it dropped the association).
    NotAssociated(String),
}

/// What the engine reports from one host event.
#[derive(Debug, Default)]
pub struct Progress {
    /// The outstanding operation finished.
    pub finished: Option<Result<Outcome, Failure>>,
    /// Device alerts seen.
    pub alerts: Vec<Alert>,
    /// Diagnostics for the host log.
    pub logs: Vec<String>,
}

#[derive(Debug)]
struct Pending {
    op: Op,
    invoke_id: Option<u8>,
    started_ms: u64,
}

/// One session's connection and its outstanding operation.
#[derive(Debug)]
pub struct Engine {
    transport: TransportParams,
    response_timeout_ms: Option<u64>,
    max_pdu_size: u16,
    seed: Vec<u8>,
    /// The connection and the client SAP it was made for.
    connection: Option<(u8, ClientConnection)>,
    associated_as: Option<Credentials>,
    pending: Option<Pending>,
    invocation_counter: u32,
    challenges: u64,
}

impl Engine {
    /// An engine for the session's transport; no connection yet.
    pub fn new(params: &SessionParams) -> Self {
        Self {
            transport: params.transport,
            response_timeout_ms: params.response_timeout_ms,
            max_pdu_size: params.dmc.dlms.max_pdu_size,
            seed: format!("{}/{}", params.session_id, params.dmc.id).into_bytes(),
            connection: None,
            associated_as: None,
            pending: None,
            invocation_counter: params.invocation_counter,
            challenges: 0,
        }
    }

    /// The credentials of the current association, when associated.
    pub fn associated_as(&self) -> Option<&Credentials> {
        self.associated_as.as_ref()
    }

    fn current_counter(&self) -> u32 {
        self.connection
            .as_ref()
            .and_then(|(_, connection)| connection.association().invocation_counter())
            .map_or(self.invocation_counter, |counter| {
                counter.max(self.invocation_counter)
            })
    }

    /// A fresh HLS challenge: the host gives an adapter no randomness, so it is derived from
    /// the session, a counter and the time; unique per association, which is what the CtoS
    /// challenge needs against replay of the server's answer.
    fn challenge(&mut self, now_ms: u64) -> Vec<u8> {
        self.challenges += 1;
        let mut hasher = Sha256::new();
        hasher.update(&self.seed);
        hasher.update(self.challenges.to_be_bytes());
        hasher.update(now_ms.to_be_bytes());
        hasher.finalize()[..16].to_vec()
    }

    fn association(
        &mut self,
        credentials: &Credentials,
        now_ms: u64,
    ) -> Result<ClientAssociation, String> {
        let authentication = match &credentials.mechanism {
            Mechanism::None => ClientAuthentication::None,
            Mechanism::Lls(password) => ClientAuthentication::Lls {
                password: password.clone(),
            },
            Mechanism::HlsGmac => ClientAuthentication::HlsGmac {
                client_challenge: self.challenge(now_ms),
            },
        };
        self.invocation_counter = self.current_counter();
        let security =
            credentials.keys.map(
                |(system_title, encryption, authentication)| SecurityMaterial {
                    system_title,
                    keys: Keys {
                        encryption,
                        authentication,
                    },
                    invocation_counter: self.invocation_counter,
                },
            );
        let mut config = ClientConfig {
            authentication,
            security,
            cipher: credentials
                .ciphered
                .then_some(SecurityControl::AUTHENTICATED_ENCRYPTED),
            max_receive_pdu_size: self.max_pdu_size,
            ..ClientConfig::default()
        };
        if let Some(timeout) = self.response_timeout_ms {
            config.response_timeout_ms = timeout;
        }
        ClientAssociation::new(config).map_err(|error| error.to_string())
    }

    fn transport(&self, client_sap: u8) -> Result<ClientTransport, String> {
        match self.transport {
            TransportParams::Wrapper { wport } => Ok(ClientTransport::Wrapper(WrapperLink::new(
                u16::from(client_sap),
                wport,
                self.max_pdu_size.max(2048),
            ))),
            TransportParams::Hdlc {
                logical,
                physical,
                size,
            } => {
                let server = match size {
                    1 => HdlcAddress::server(logical, None),
                    2 => HdlcAddress::server(logical, Some(physical)),
                    _ => HdlcAddress::four(logical, physical),
                }
                .map_err(|error| format!("HDLC server address: {error}"))?;
                let client = HdlcAddress::client(client_sap)
                    .map_err(|error| format!("HDLC client address: {error}"))?;
                let mut config = HdlcConfig::default();
                if let Some(timeout) = self.response_timeout_ms {
                    // The link retries within the exchange budget the session asked for.
                    config.response_timeout_ms = (timeout / 4).max(200);
                }
                Ok(ClientTransport::Hdlc(HdlcClient::new(
                    config, client, server,
                )))
            }
        }
    }

    /// Starts `op`; its outcome arrives in a later [`Progress`] (or at once, for a start that
    /// fails locally).
    pub fn start(&mut self, op: Op, now_ms: u64) -> Progress {
        let mut progress = Progress::default();
        let started = match &op {
            Op::Associate(credentials) => self.start_association(credentials, now_ms),
            Op::Release => match self.connection.as_mut() {
                Some((_, connection))
                    if connection.association().state() == ClientState::Associated =>
                {
                    connection
                        .release(now_ms)
                        .map(|()| None)
                        .map_err(|e| e.to_string())
                }
                // Nothing to release.
                _ => {
                    self.associated_as = None;
                    progress.finished = Some(Ok(Outcome::Done));
                    return progress;
                }
            },
            Op::Get(attribute, access) => self
                .associated_connection()
                .and_then(|c| {
                    c.get(now_ms, *attribute, access.clone())
                        .map_err(|e| e.to_string())
                })
                .map(Some),
            Op::Set(attribute, value) => self
                .associated_connection()
                .and_then(|c| {
                    c.set(now_ms, *attribute, None, value.clone())
                        .map_err(|e| e.to_string())
                })
                .map(Some),
            Op::Action(method, parameters) => self
                .associated_connection()
                .and_then(|c| {
                    c.action(now_ms, *method, parameters.clone())
                        .map_err(|e| e.to_string())
                })
                .map(Some),
        };
        match started {
            Ok(invoke_id) => {
                self.pending = Some(Pending {
                    op,
                    invoke_id,
                    started_ms: now_ms,
                });
                self.collect(now_ms, false, &mut progress);
            }
            Err(reason) => {
                progress.finished = Some(Err(Failure::Link(format!(
                    "{} could not start: {reason}",
                    op.describe()
                ))));
            }
        }
        progress
    }

    fn associated_connection(&mut self) -> Result<&mut ClientConnection, String> {
        match self.connection.as_mut() {
            Some((_, connection))
                if connection.association().state() == ClientState::Associated =>
            {
                Ok(connection)
            }
            _ => Err("not associated".to_owned()),
        }
    }

    fn start_association(
        &mut self,
        credentials: &Credentials,
        now_ms: u64,
    ) -> Result<Option<u8>, String> {
        let association = self.association(credentials, now_ms)?;
        self.associated_as = None;
        match self.connection.as_mut() {
            Some((sap, connection))
                if *sap == credentials.sap
                    && connection.association().state() == ClientState::Idle =>
            {
                connection
                    .associate_with(now_ms, association)
                    .map_err(|error| error.to_string())?;
            }
            _ => {
                // Another client SAP is another HDLC client address or wrapper source wPort:
                // a connection of its own.
                let mut connection =
                    ClientConnection::new(self.transport(credentials.sap)?, association);
                connection
                    .connect(now_ms)
                    .map_err(|error| error.to_string())?;
                self.connection = Some((credentials.sap, connection));
            }
        }
        Ok(None)
    }

    /// Bytes from the link.
    pub fn handle_bytes(&mut self, bytes: &[u8], now_ms: u64) -> Progress {
        let mut progress = Progress::default();
        match self.connection.as_mut() {
            Some((_, connection)) => {
                connection.handle_bytes(bytes, now_ms);
                self.collect(now_ms, false, &mut progress);
            }
            None => progress.logs.push(format!(
                "{} bytes received with no connection open: dropped",
                bytes.len()
            )),
        }
        progress
    }

    /// The exchange timer fired.
    pub fn handle_timer(&mut self, now_ms: u64) -> Progress {
        let mut progress = Progress::default();
        if let Some((_, connection)) = self.connection.as_mut() {
            connection.handle_timeout(now_ms);
            self.collect(now_ms, true, &mut progress);
        }
        progress
    }

    /// The host closed the link: the outstanding operation fails and the connection is gone.
    pub fn link_closed(&mut self, reason: &str) -> Progress {
        let mut progress = Progress::default();
        self.invocation_counter = self.current_counter();
        self.connection = None;
        self.associated_as = None;
        if self.pending.take().is_some() {
            progress.finished = Some(Err(Failure::Link(format!("the link closed: {reason}"))));
        }
        progress
    }

    /// Forgets the connection after a failure whose exchange state is unknown (time-out):
    /// the next operation starts a fresh one.
    pub fn reset(&mut self) {
        self.invocation_counter = self.current_counter();
        self.connection = None;
        self.associated_as = None;
        self.pending = None;
    }

    /// When the exchange timer should fire next, relative to `now_ms`.
    pub fn timer_delay(&self, now_ms: u64) -> Option<u64> {
        let (_, connection) = self.connection.as_ref()?;
        connection
            .poll_timeout()
            .map(|at| at.saturating_sub(now_ms))
    }

    /// Bytes to put on the link.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.connection.as_mut()?.1.poll_transmit()
    }

    fn collect(&mut self, now_ms: u64, in_timeout: bool, progress: &mut Progress) {
        let Some((_, connection)) = self.connection.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        while let Some(event) = connection.poll_event() {
            events.push(event);
        }
        let mut link_down = None;
        for event in events {
            match event {
                ClientConnectionEvent::LinkUp => {}
                ClientConnectionEvent::LinkDown(reason) => {
                    self.associated_as = None;
                    link_down = Some(format!("{reason:?}"));
                    progress
                        .logs
                        .push(format!("transport link down: {reason:?}"));
                }
                ClientConnectionEvent::Error(error) => {
                    progress.logs.push(format!("connection error: {error}"));
                }
                ClientConnectionEvent::Association(event) => {
                    self.association_event(
                        event,
                        now_ms,
                        in_timeout,
                        link_down.as_deref(),
                        progress,
                    );
                }
            }
        }
    }

    fn finish(&mut self, progress: &mut Progress, result: Result<Outcome, Failure>) {
        if let Some(pending) = self.pending.take() {
            if let (Ok(Outcome::Associated), Op::Associate(credentials)) = (&result, &pending.op) {
                self.associated_as = Some(credentials.clone());
            }
            if let (Ok(Outcome::Done), Op::Release) = (&result, &pending.op) {
                self.associated_as = None;
            }
            progress.finished = Some(result);
        }
    }

    fn pending_invoke(&self) -> Option<u8> {
        self.pending.as_ref().and_then(|pending| pending.invoke_id)
    }

    fn refused(&self, code: u32, why: String) -> Outcome {
        let what = self
            .pending
            .as_ref()
            .map_or_else(|| "the request".to_owned(), |pending| pending.op.describe());
        Outcome::Refused {
            code,
            reason: format!("{what}: {why}"),
        }
    }

    fn association_event(
        &mut self,
        event: ClientEvent,
        now_ms: u64,
        in_timeout: bool,
        link_down: Option<&str>,
        progress: &mut Progress,
    ) {
        match event {
            ClientEvent::Associated { .. } => self.finish(progress, Ok(Outcome::Associated)),
            ClientEvent::Rejected {
                result, diagnostic, ..
            } => {
                let code = match diagnostic {
                    AcseDiagnostic::User(code) | AcseDiagnostic::Provider(code) => u32::from(code),
                };
                let outcome =
                    self.refused(code, format!("association {result:?} ({diagnostic:?})"));
                self.finish(progress, Ok(outcome));
            }
            ClientEvent::AuthenticationFailed { reason } => {
                let outcome = self.refused(0, format!("HLS authentication failed: {reason}"));
                self.finish(progress, Ok(outcome));
            }
            ClientEvent::GetCompleted { invoke_id, result } => {
                if Some(invoke_id) == self.pending_invoke() {
                    let outcome = match result {
                        Ok(value) => Outcome::Value(value),
                        Err(code) => self.refused(u32::from(code.code()), format!("{code:?}")),
                    };
                    self.finish(progress, Ok(outcome));
                }
            }
            ClientEvent::SetCompleted { invoke_id, result }
            | ClientEvent::ActionCompleted {
                invoke_id, result, ..
            } => {
                if Some(invoke_id) == self.pending_invoke() {
                    let outcome = if result == DataAccessResult::Success {
                        Outcome::Done
                    } else {
                        self.refused(u32::from(result.code()), format!("{result:?}"))
                    };
                    self.finish(progress, Ok(outcome));
                }
            }
            ClientEvent::GetListCompleted { .. } => {
                progress
                    .logs
                    .push("unexpected GET-with-list response ignored".to_owned());
            }
            ClientEvent::Released => {
                if matches!(self.pending.as_ref().map(|p| &p.op), Some(Op::Release)) {
                    self.finish(progress, Ok(Outcome::Done));
                }
            }
            ClientEvent::EventNotification(notification) => {
                let value = notification_value(&notification.value);
                progress.alerts.push(Alert {
                    severity: AlertSeverity::Warning.into(),
                    code: value.clone(),
                    message: format!(
                        "event notification from {}/{} attribute {}: {value}",
                        notification.attribute.class_id,
                        notification.attribute.instance,
                        notification.attribute.attribute_id
                    ),
                });
            }
            ClientEvent::DataNotification(notification) => {
                progress.alerts.push(Alert {
                    severity: AlertSeverity::Info.into(),
                    code: format!(
                        "data-notification-{}",
                        notification.long_invoke_id_and_priority & 0x00FF_FFFF
                    ),
                    message: format!("data notification: {:?}", notification.body),
                });
            }
            ClientEvent::Exception { response, .. }
                if response.state_error == StateError::ServiceNotAllowed
                    && response.service_error == ServiceError::OperationNotPossible =>
            {
                let what = self
                    .pending
                    .as_ref()
                    .map_or_else(|| "the request".to_owned(), |pending| pending.op.describe());
                self.finish(
                    progress,
                    Err(Failure::NotAssociated(format!(
                        "{what}: the device answered that no association is open"
                    ))),
                );
            }
            ClientEvent::Exception { response, .. } => {
                let outcome = self.refused(
                    u32::from(response.state_error.code()),
                    format!(
                        "exception {:?} / {:?}",
                        response.state_error, response.service_error
                    ),
                );
                self.finish(progress, Ok(outcome));
            }
            ClientEvent::OperationFailed { reason, .. } => {
                let Some(pending) = self.pending.as_ref() else {
                    progress
                        .logs
                        .push(format!("operation failed with none outstanding: {reason}"));
                    return;
                };
                let failure = if in_timeout {
                    Failure::Timeout {
                        elapsed_ms: now_ms.saturating_sub(pending.started_ms),
                        waiting_for: format!("the answer to {}", pending.op.describe()),
                    }
                } else if let Some(link) = link_down {
                    Failure::Link(format!("the transport link went down ({link}): {reason}"))
                } else {
                    Failure::Link(format!("{} failed: {reason}", pending.op.describe()))
                };
                self.finish(progress, Err(failure));
            }
        }
    }
}

/// An alert code from a notified value: the event code number when it is one.
fn notification_value(value: &Data) -> String {
    match value.as_integer() {
        Some(number) => number.to_string(),
        None => format!("{value:?}"),
    }
}
