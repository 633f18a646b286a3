//! The exchange engine: one [`ClientConnection`] per session, driven one operation at a time
//! (associate, GET, SET, ACTION, release) from host events, with the connection's time-out
//! armed as the host timer.

mod answers;

use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientState, SecurityMaterial,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::connection::{
    ClientConnection, ClientConnectionEvent, ClientTransport, WrapperLink,
};
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};
use meterlab_dlms::hdlc::{HdlcAddress, HdlcClient, HdlcConfig};
use meterlab_dlms::security::{Key, Keys, SecurityControl, SystemTitle};
use meterlab_plugin::pb::Alert;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::params::{SessionParams, TransportParams};

/// The host timer carrying the connection's next time-out.
pub const EXCHANGE_TIMER: u64 = 1;

/// The frame counters of each (device, transport, client system title) used by any session of
/// this loaded plugin. A device keeps the last counter it accepted from a client and refuses
/// replays, so a later session to the same device (a runner opens one per case after a
/// blocked step, or per retry) must go on from where the earlier one stopped; the plugin is
/// never unloaded, so this outlives sessions. Across processes the adapter reads the device's
/// public `invocation_counter` object once ([`Engine::needs_counter_sync`]); the host may also
/// pass `invocation_counter`.
#[derive(Debug, Default, Clone, Copy)]
struct SharedCounter {
    /// The next counter to use.
    next: u32,
    /// The device's own record was read in this process.
    synced: bool,
}

fn frame_counters() -> &'static Mutex<HashMap<String, SharedCounter>> {
    static COUNTERS: OnceLock<Mutex<HashMap<String, SharedCounter>>> = OnceLock::new();
    COUNTERS.get_or_init(|| Mutex::new(HashMap::new()))
}

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
    /// Takes the link of the current client down (HDLC DISC), so another client address can
    /// connect: an HDLC server serves one client at a time.
    Disconnect,
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
            Op::Disconnect => "disconnect".to_owned(),
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
    /// Key of this session's client in [`frame_counters`], when it uses keys.
    counter_key: Option<String>,
    /// The counter last written there.
    counter_saved: u32,
    challenges: u64,
    /// When an outstanding operation the connection keeps no time-out for gives up.
    watchdog_at: Option<u64>,
    /// The connection's events of one host event, gathered here before they are handled (the
    /// handling needs `&mut self`); kept so that gathering allocates once per session, not per
    /// host event.
    events: Vec<ClientConnectionEvent>,
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
            counter_key: None,
            counter_saved: 0,
            challenges: 0,
            watchdog_at: None,
            events: Vec::new(),
        }
        .with_shared_counter(params)
    }

    fn with_shared_counter(mut self, params: &SessionParams) -> Self {
        let Some(keys) = params.keys.as_ref() else {
            return self;
        };
        let title: String = keys
            .client_system_title
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let key = format!("{}|{:?}|{title}", params.device_id, self.transport);
        if let Ok(counters) = frame_counters().lock()
            && let Some(shared) = counters.get(&key)
        {
            self.invocation_counter = self.invocation_counter.max(shared.next);
        }
        self.counter_saved = self.invocation_counter;
        self.counter_key = Some(key);
        self
    }

    /// Publishes this session's next frame counter for later sessions.
    fn save_counter(&mut self) {
        let next = self.current_counter();
        if next <= self.counter_saved {
            return;
        }
        if let (Some(key), Ok(mut counters)) = (&self.counter_key, frame_counters().lock()) {
            let slot = counters.entry(key.clone()).or_default();
            slot.next = slot.next.max(next);
            self.counter_saved = next;
        }
    }

    /// Whether this session uses keys and no session of this process has read the device's
    /// own record of the counters it accepted.
    pub fn needs_counter_sync(&self) -> bool {
        let Some(key) = &self.counter_key else {
            return false;
        };
        frame_counters()
            .lock()
            .map(|counters| !counters.get(key).is_some_and(|shared| shared.synced))
            .unwrap_or(true)
    }

    /// The device answered its `invocation_counter` object (the last counter it accepted, or
    /// `None` when it would not say): later associations start above it, and no later session
    /// of this process reads it again.
    pub fn counter_synced(&mut self, last_accepted: Option<u32>) {
        if let Some(last) = last_accepted {
            self.invocation_counter = self.current_counter().max(last.saturating_add(1));
        }
        self.save_counter();
        if let (Some(key), Ok(mut counters)) = (&self.counter_key, frame_counters().lock()) {
            let slot = counters.entry(key.clone()).or_default();
            slot.next = slot.next.max(self.invocation_counter);
            slot.synced = true;
        }
    }

    /// A keyed association was refused: the device's record may be ahead of this process's
    /// (another tool or process used the client), so the next association reads it again.
    pub fn counter_in_doubt(&mut self) {
        if let (Some(key), Ok(mut counters)) = (&self.counter_key, frame_counters().lock())
            && let Some(slot) = counters.get_mut(key)
        {
            slot.synced = false;
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
            Op::Disconnect => match self.connection.as_mut() {
                Some((_, connection)) if connection.is_link_up() => connection
                    .disconnect(now_ms)
                    .map(|()| None)
                    .map_err(|e| e.to_string()),
                _ => {
                    self.connection = None;
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
        if let (Some(at), Some(pending)) = (self.watchdog_at, self.pending.as_ref())
            && now_ms >= at
        {
            let failure = Failure::Timeout {
                elapsed_ms: now_ms.saturating_sub(pending.started_ms),
                waiting_for: format!(
                    "a readable answer to {} (what came could not be decoded)",
                    pending.op.describe()
                ),
            };
            self.watchdog_at = None;
            self.finish(&mut progress, Err(failure));
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

    /// When the exchange timer should fire next, relative to `now_ms`. An outstanding
    /// operation always has one: when the connection keeps no time-out of its own (a garbled
    /// answer can leave it waiting with none), the engine's watchdog gives the operation one
    /// response time-out more from then.
    pub fn timer_delay(&mut self, now_ms: u64) -> Option<u64> {
        let connection_at = self
            .connection
            .as_ref()
            .and_then(|(_, connection)| connection.poll_timeout());
        if self.pending.is_none() || connection_at.is_some() {
            self.watchdog_at = None;
            return connection_at.map(|at| at.saturating_sub(now_ms));
        }
        let budget = self
            .response_timeout_ms
            .unwrap_or(ClientConfig::default().response_timeout_ms);
        let at = *self
            .watchdog_at
            .get_or_insert(now_ms.saturating_add(budget));
        Some(at.saturating_sub(now_ms))
    }

    /// Bytes to put on the link.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.connection.as_mut()?.1.poll_transmit()
    }

    fn collect(&mut self, now_ms: u64, in_timeout: bool, progress: &mut Progress) {
        self.save_counter();
        let Some((_, connection)) = self.connection.as_mut() else {
            return;
        };
        let mut events = std::mem::take(&mut self.events);
        while let Some(event) = connection.poll_event() {
            events.push(event);
        }
        let mut link_down = None;
        for event in events.drain(..) {
            match event {
                ClientConnectionEvent::LinkUp => {}
                ClientConnectionEvent::LinkDown(reason) => {
                    self.associated_as = None;
                    if matches!(self.pending.as_ref().map(|p| &p.op), Some(Op::Disconnect)) {
                        // Asked for: the link is down whether the device answered the DISC
                        // or not.
                        self.finish(progress, Ok(Outcome::Done));
                        continue;
                    }
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
        self.events = events;
        // A link that never came up (HDLC: no UA to SNRM) leaves the association idle, with
        // nothing of its own to fail: the pending operation fails with the link.
        if let (Some(link), Some(pending)) = (link_down, self.pending.as_ref()) {
            let failure = if in_timeout {
                Failure::Timeout {
                    elapsed_ms: now_ms.saturating_sub(pending.started_ms),
                    waiting_for: format!("the link to come up for {}", pending.op.describe()),
                }
            } else {
                Failure::Link(format!("the transport link went down ({link})"))
            };
            self.finish(progress, Err(failure));
        }
    }
}
