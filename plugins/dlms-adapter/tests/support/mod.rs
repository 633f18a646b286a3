//! An in-memory rig: the adapter (called in-process through the `Adapter` trait, sans-IO)
//! against the emulator's devices served by `DeviceSessions`, over the DLMS TCP wrapper
//! framing, on a simulated clock. Host timers fire only when nothing else is in flight, as on
//! a real host with a silent device.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use meterlab_devices::{Authentication, Device};
use meterlab_dlms::wrapper::{self, Reassembler};
use meterlab_dlms_adapter::DlmsAdapter;
use meterlab_emulator::SimTime;
use meterlab_emulator::faults::FaultConfig;
use meterlab_emulator::hub::{Emulation, Endpoints};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::session::DeviceSessions;
use meterlab_plugin::Adapter;
use meterlab_plugin::pb::{
    AdapterActions, Alert, BytesReceived, CloseSession, Execute, HostEvent, LinkClosed, LinkKind,
    ServiceRequest, ServiceResponse, SessionConfig, SupplyState, TimerFired, action, host_event,
    service_error, service_request::Body, service_response,
};

pub const START: SimTime = SimTime::from_unix_secs(1_761_955_200);
/// `START` in Unix milliseconds.
pub const START_MS: i64 = 1_761_955_200_000;

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

pub fn scenario(name: &str) -> Scenario {
    Scenario::load(&repo_path(&format!("suites/scenarios/{name}.toml"))).unwrap()
}

pub fn dmc_text(id: &str) -> String {
    std::fs::read_to_string(repo_path(&format!("suites/dmcs/{id}.toml"))).unwrap()
}

/// The session parameters the runner builds for `device`, as client `sap`, over `transport`.
pub fn parameters(device: &Device, sap: u8, transport: &str) -> HashMap<String, String> {
    let client = device.client(sap).unwrap();
    let mut map = HashMap::new();
    let mut put = |key: &str, value: String| {
        map.insert(key.to_owned(), value);
    };
    put("dmc", dmc_text(&device.dmc));
    put("device_role", device.role.as_str().to_owned());
    put("transport", transport.to_owned());
    if let Some(tcp) = &device.tcp {
        put("wport", tcp.wport.to_string());
    }
    if let Some(serial) = &device.serial {
        put("hdlc_logical_address", serial.logical_address.to_string());
        put("hdlc_physical_address", serial.physical_address.to_string());
        put("hdlc_address_size", serial.address_size.to_string());
    }
    put("client_sap", sap.to_string());
    put(
        "authentication",
        match client.authentication {
            Authentication::None => "none",
            Authentication::Lls => "lls",
            Authentication::HlsGmac => "hls-gmac",
        }
        .to_owned(),
    );
    if let Some(password) = &client.password {
        put("password", password.clone());
    }
    put("ciphered", client.ciphered.to_string());
    if let Some(title) = &client.system_title {
        put("client_system_title", title.to_hex());
    }
    if let Some(title) = &device.system_title {
        put("server_system_title", title.to_hex());
    }
    if let Some(key) = &client.encryption_key {
        put("encryption_key", key.to_hex());
    }
    if let Some(key) = &client.authentication_key {
        put("authentication_key", key.to_hex());
    }
    if let Some(key) = &client.master_key {
        put("master_key", key.to_hex());
    }
    map
}

pub fn session_config(device: &Device, sap: u8) -> SessionConfig {
    SessionConfig {
        session_id: format!("test-{}", device.name),
        smso_id: device.smso.clone(),
        dmc_id: device.dmc.clone(),
        device_id: device.name.clone(),
        link_kind: LinkKind::Tcp.into(),
        line: None,
        parameters: parameters(device, sap, "wrapper"),
    }
}

/// What one request did.
#[derive(Debug)]
pub struct Run {
    pub response: ServiceResponse,
    /// Milliseconds of simulated time the request took.
    pub elapsed_ms: u64,
    pub alerts: Vec<Alert>,
    pub logs: Vec<String>,
}

/// Calls the adapter: in process, or through a loaded library.
pub type Handler = Box<dyn FnMut(HostEvent) -> AdapterActions>;

pub struct Rig {
    pub scenario: Scenario,
    pub emulation: Emulation,
    handler: Handler,
    pub device_name: String,
    sessions: HashMap<u16, DeviceSessions>,
    uplink: Reassembler,
    inbox: VecDeque<Vec<u8>>,
    timers: HashMap<u64, u64>,
    pub now_ms: u64,
    /// The device side drops everything (a dead device).
    pub mute: bool,
    /// The device serves requests but its answers are lost on the way back.
    pub lose_answers: bool,
    pub faults: FaultConfig,
    pub alerts: Vec<Alert>,
    pub logs: Vec<String>,
    /// The adapter answered `SessionClosed`.
    pub session_closed: bool,
}

impl Rig {
    /// `device` (e.g. `north-active.esme`) of scenario `scenario`, as client `sap`.
    pub fn new(scenario_name: &str, device: &str, sap: u8) -> Self {
        Self::with_config(scenario_name, device, |device| session_config(device, sap))
    }

    pub fn with_config(
        scenario_name: &str,
        device: &str,
        config: impl FnOnce(&Device) -> SessionConfig,
    ) -> Self {
        Self::with_handler(scenario_name, device, |record| {
            let mut adapter = DlmsAdapter::open(config(record)).unwrap();
            Box::new(move |event| adapter.handle(event))
        })
    }

    /// A rig whose adapter is made by `open` from the device's record.
    pub fn with_handler(
        scenario_name: &str,
        device: &str,
        open: impl FnOnce(&Device) -> Handler,
    ) -> Self {
        Self::with_scenario(scenario(scenario_name), device, open)
    }

    /// A rig on a scenario built by the test, whose adapter is made by `open`.
    pub fn with_scenario(
        scenario: Scenario,
        device: &str,
        open: impl FnOnce(&Device) -> Handler,
    ) -> Self {
        let emulation = Emulation::build(&scenario, START).unwrap();
        let endpoints = Endpoints {
            tcp_address: Some("127.0.0.1:4059".to_owned()),
            serial_paths: HashMap::new(),
        };
        let file = emulation.devices_file(&endpoints, &scenario);
        let record = file.device(device).unwrap().clone();
        let handler = open(&record);
        Self {
            scenario,
            emulation,
            handler,
            device_name: device.to_owned(),
            sessions: HashMap::new(),
            uplink: Reassembler::new(8192),
            inbox: VecDeque::new(),
            timers: HashMap::new(),
            now_ms: 1_000,
            mute: false,
            lose_answers: false,
            faults: FaultConfig::NONE,
            alerts: Vec::new(),
            logs: Vec::new(),
            session_closed: false,
        }
    }

    /// The emulated device this rig talks to.
    pub fn device(&mut self) -> &mut meterlab_emulator::LogicalDevice {
        let name = self.device_name.clone();
        let (hub, index) = self
            .emulation
            .hubs
            .iter()
            .enumerate()
            .find_map(|(hub, h)| {
                h.devices
                    .iter()
                    .position(|d| d.name == name)
                    .map(|index| (hub, index))
            })
            .unwrap();
        &mut self.emulation.hubs[hub].devices[index].device
    }

    pub fn sim_now(&self) -> SimTime {
        START.plus_millis(i64::try_from(self.now_ms).unwrap())
    }

    /// Moves the clock on (the device's consumption, logs and clock advance with it).
    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    fn serve(&mut self, bytes: &[u8]) {
        if self.mute {
            return;
        }
        self.uplink.push(bytes);
        while let Some(pdu) = self.uplink.next_pdu() {
            let pdu = pdu.unwrap();
            let Some((hub, index)) = self.emulation.locate_wport(pdu.destination) else {
                continue;
            };
            let now = self.sim_now();
            let emulated = &mut self.emulation.hubs[hub].devices[index];
            let sessions = self.sessions.entry(pdu.destination).or_default();
            let served = sessions.handle(
                &mut emulated.device,
                &self.faults,
                u8::try_from(pdu.source).unwrap(),
                pdu.destination,
                &pdu.apdu,
                self.now_ms,
                now,
            );
            if self.lose_answers {
                continue;
            }
            for response in served.responses {
                self.inbox
                    .push_back(wrapper::encode(pdu.destination, pdu.source, &response).unwrap());
            }
        }
    }

    /// Feeds one event and performs the actions; returns a completion if there was one.
    pub fn feed(&mut self, event: host_event::Event) -> Option<ServiceResponse> {
        let actions = (self.handler)(HostEvent::new(self.now_ms, event));
        let mut completed = None;
        for action in actions.actions.into_iter().filter_map(|a| a.action) {
            match action {
                action::Action::Transmit(transmit) => self.serve(&transmit.data),
                action::Action::SetTimer(timer) => {
                    self.timers
                        .insert(timer.timer_id, self.now_ms + timer.delay_ms);
                }
                action::Action::CancelTimer(timer) => {
                    self.timers.remove(&timer.timer_id);
                }
                action::Action::Complete(complete) => {
                    assert!(completed.is_none(), "completed twice");
                    completed = complete.response;
                }
                action::Action::Alert(alert) => self.alerts.push(alert),
                action::Action::Log(log) => self.logs.push(log.message),
                action::Action::SessionClosed(_) => self.session_closed = true,
                action::Action::ReconfigureLink(_) | action::Action::FlushInput(_) => {}
            }
        }
        completed
    }

    /// Executes `body` to completion (a few ms of simulated time per exchange).
    pub fn run(&mut self, body: Body) -> Run {
        let started = self.now_ms;
        let alerts_before = self.alerts.len();
        let logs_before = self.logs.len();
        let request = ServiceRequest {
            request_id: format!("r{}", self.now_ms),
            body: Some(body),
        };
        let mut response = self.feed(host_event::Event::Execute(Execute {
            request: Some(request),
        }));
        let mut events = 0;
        while response.is_none() {
            events += 1;
            assert!(events < 100_000, "the request never completed");
            if let Some(bytes) = self.inbox.pop_front() {
                self.now_ms += 2;
                response = self.feed(host_event::Event::BytesReceived(BytesReceived {
                    data: bytes,
                }));
                continue;
            }
            let Some((timer_id, at)) = self
                .timers
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, at)| (*id, *at))
            else {
                panic!(
                    "no bytes in flight and no timer armed: the request is stuck; last logs: {:#?}",
                    &self.logs[self.logs.len().saturating_sub(6)..]
                );
            };
            self.timers.remove(&timer_id);
            self.now_ms = self.now_ms.max(at);
            response = self.feed(host_event::Event::TimerFired(TimerFired { timer_id }));
        }
        Run {
            response: response.unwrap(),
            elapsed_ms: self.now_ms - started,
            alerts: self.alerts[alerts_before..].to_vec(),
            logs: self.logs[logs_before..].to_vec(),
        }
    }

    /// Delivers whatever the device pushed while no request was outstanding.
    pub fn deliver_idle(&mut self) {
        while let Some(bytes) = self.inbox.pop_front() {
            assert!(
                self.feed(host_event::Event::BytesReceived(BytesReceived {
                    data: bytes
                }))
                .is_none()
            );
        }
    }

    /// Starts a request and returns without running it.
    pub fn start(&mut self, body: Body) -> Option<ServiceResponse> {
        self.feed(host_event::Event::Execute(Execute {
            request: Some(ServiceRequest {
                request_id: "started".to_owned(),
                body: Some(body),
            }),
        }))
    }

    pub fn close_link(&mut self, reason: &str) -> Option<ServiceResponse> {
        self.feed(host_event::Event::LinkClosed(LinkClosed {
            reason: reason.to_owned(),
        }))
    }

    /// Sends `CloseSession` and performs the adapter's actions until it answers
    /// `SessionClosed`; returns the simulated milliseconds it took.
    pub fn close_session(&mut self) -> u64 {
        let started = self.now_ms;
        self.session_closed = false;
        assert!(
            self.feed(host_event::Event::CloseSession(CloseSession {}))
                .is_none()
        );
        let mut events = 0;
        while !self.session_closed {
            events += 1;
            assert!(events < 100_000, "the close never finished");
            if let Some(bytes) = self.inbox.pop_front() {
                self.now_ms += 2;
                assert!(
                    self.feed(host_event::Event::BytesReceived(BytesReceived {
                        data: bytes
                    }))
                    .is_none()
                );
                continue;
            }
            let (timer_id, at) = self
                .timers
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, at)| (*id, *at))
                .expect("no bytes in flight and no timer armed: the close is stuck");
            self.timers.remove(&timer_id);
            self.now_ms = self.now_ms.max(at);
            assert!(
                self.feed(host_event::Event::TimerFired(TimerFired { timer_id }))
                    .is_none()
            );
        }
        self.now_ms - started
    }

    /// Whether the device holds an association for any client of this rig's connection.
    pub fn device_associated(&self) -> bool {
        self.sessions.values().any(DeviceSessions::any_associated)
    }

    pub fn timers_armed(&self) -> usize {
        self.timers.len()
    }
}

impl Rig {
    /// The device pushes `alert` on its open associations (as the emulator does when a device
    /// raises one), to be delivered with [`Rig::deliver_idle`].
    pub fn push_alert(&mut self, alert: meterlab_emulator::events::Alert) {
        let wports: Vec<u16> = self.sessions.keys().copied().collect();
        for wport in wports {
            let Some((hub, index)) = self.emulation.locate_wport(wport) else {
                continue;
            };
            let device = &mut self.emulation.hubs[hub].devices[index].device;
            let Some(sessions) = self.sessions.get_mut(&wport) else {
                continue;
            };
            for (client_sap, apdu) in sessions.push_alert(device, &alert) {
                self.inbox
                    .push_back(wrapper::encode(wport, u16::from(client_sap), &apdu).unwrap());
            }
        }
    }
}

impl Rig {
    /// Calls the adapter with `event` without performing its actions.
    pub fn handle(&mut self, event: HostEvent) -> AdapterActions {
        (self.handler)(event)
    }

    /// Takes the bytes waiting for the adapter.
    pub fn take_inbox(&mut self) -> Vec<Vec<u8>> {
        self.inbox.drain(..).collect()
    }
}

impl Rig {
    /// The device drops every association without telling the client.
    pub fn forget_associations(&mut self) {
        self.sessions.clear();
    }
}

impl Rig {
    /// A new session (a new adapter and a new connection to the same emulated devices), as a
    /// runner opens for a later run.
    pub fn reopen(&mut self, config: SessionConfig) {
        let mut adapter = DlmsAdapter::open(config).unwrap();
        self.handler = Box::new(move |event| adapter.handle(event));
        self.sessions.clear();
        self.timers.clear();
        self.inbox.clear();
    }

    /// The devices file of the emulation as it is now.
    pub fn record(&self) -> Device {
        let endpoints = Endpoints {
            tcp_address: Some("127.0.0.1:4059".to_owned()),
            serial_paths: HashMap::new(),
        };
        let file = self.emulation.devices_file(&endpoints, &self.scenario);
        file.device(&self.device_name).unwrap().clone()
    }
}

/// The typed result of a response that must have succeeded.
pub fn outcome(response: &ServiceResponse) -> &service_response::Outcome {
    match &response.outcome {
        Some(service_response::Outcome::Error(error)) => panic!("request failed: {error:?}"),
        Some(outcome) => outcome,
        None => panic!("empty response"),
    }
}

/// The error kind of a response that must have failed.
pub fn error(response: &ServiceResponse) -> &service_error::Kind {
    match &response.outcome {
        Some(service_response::Outcome::Error(error)) => {
            error.kind.as_ref().expect("an error kind")
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Runs a supply SRV and returns the supply state it answers.
pub fn supply(rig: &mut Rig, body: Body) -> SupplyState {
    match outcome(&rig.run(body).response) {
        service_response::Outcome::SupplyStatus(status) => status.state(),
        other => panic!("{other:?}"),
    }
}
