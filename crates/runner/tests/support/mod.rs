//! Test support: the fixture plugins, a toy device on an in-memory pipe (the fixture-echo line
//! protocol) behind a connector, and toy cases.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meterlab_devices::{ClientAccess, Device, DeviceRole, InstallationState};
use meterlab_link::{Capture, Direction};
use meterlab_plugin::pb::{
    DisableSupply, EnableSupply, LinkKind, ReadFirmwareVersion, ReadSupplyStatus, ReconfigureLink,
    ServiceRequest, ServiceResponse, SessionConfig, SupplyState, service_error,
    service_request::Body, service_response::Outcome,
};
use meterlab_plugin_host::{
    HostConfig, LinkIo, LoadOptions, Plugin, PluginHost, ProcessOptions, StreamLink,
};
use meterlab_runner::{
    CaseAttempt, Check, ConnectError, Connected, Connector, DeviceTarget, DeviceUnit, Judgement,
    OpticalRoute, PlannedCase, RunEvent, RunEventKind, RunPlan, TestCase, Transport,
};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};

#[path = "../../../plugin-host/tests/common/mod.rs"]
mod host_common;

/// A fixture plugin built as a dev-dependency, run out of process (`isolation = "process"`,
/// one worker per plugin) by the worker the plugin-host test harness builds.
pub fn isolated_plugin(name: &str) -> Arc<Plugin> {
    let plugin = plugin(name);
    let host = PluginHost::new(HostConfig {
        plugin_dir: plugin.path().parent().expect("plugin directory").to_owned(),
        pins: HashMap::new(),
    })
    .expect("plugin host");
    let options = LoadOptions {
        process: ProcessOptions {
            worker: Some(host_common::worker_path().to_owned()),
            ..ProcessOptions::default()
        },
        ..LoadOptions::process()
    };
    let file = plugin.path().file_name().expect("plugin file name");
    host.load_with(file, &options)
        .expect("load fixture plugin out of process")
}

/// A fixture plugin built as a dev-dependency, from `<profile>/deps`.
pub fn plugin(name: &str) -> Arc<Plugin> {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("test executable directory").to_owned();
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let dir: PathBuf = deps;
    assert!(
        dir.join(&file).is_file(),
        "{file} not built next to the test (it is a dev-dependency)"
    );
    let host = PluginHost::new(HostConfig {
        plugin_dir: dir,
        pins: HashMap::new(),
    })
    .expect("plugin host");
    host.load(&file).expect("load fixture plugin")
}

/// How the toy device behaves on each connection (indexed by connection number from 0; the
/// last entry repeats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Answering,
    /// Reads requests and never answers.
    Silent,
    /// Loses the answer to its first request (a frame lost on the line), then answers.
    LosesFirstAnswer,
    /// Closes the connection on the first request.
    HangsUp,
    /// Serves this many requests, then closes the connection on the next one.
    HangsUpAfter(u32),
    /// Answers after a delay.
    Slow(Duration),
    /// Refuses the connection.
    Unreachable,
    /// Answers requests but never the adapter's close.
    IgnoresClose,
}

/// Connects each device to its own toy device; counts connections.
#[derive(Debug, Default)]
pub struct ToyConnector {
    behaviours: Mutex<HashMap<String, Vec<Behaviour>>>,
    pub connections: Mutex<HashMap<String, u32>>,
    pub total: AtomicU32,
    /// Each toy device's supply state, kept across its connections.
    supplies: Mutex<HashMap<String, Arc<Mutex<&'static str>>>>,
    /// Every line each toy device received, in order: (device, line).
    pub heard: Arc<Mutex<Vec<(String, String)>>>,
}

impl ToyConnector {
    pub fn with(device: &str, behaviours: &[Behaviour]) -> Self {
        let connector = Self::default();
        connector.set(device, behaviours);
        connector
    }

    pub fn set(&self, device: &str, behaviours: &[Behaviour]) {
        self.behaviours
            .lock()
            .unwrap()
            .insert(device.to_owned(), behaviours.to_vec());
    }
}

impl Connector for ToyConnector {
    type Link = Recording;

    async fn connect(&self, target: &DeviceTarget) -> Result<Connected<Recording>, ConnectError> {
        let device = target.id().to_owned();
        let index = {
            let mut connections = self.connections.lock().unwrap();
            let count = connections.entry(device.clone()).or_insert(0);
            *count += 1;
            *count - 1
        };
        self.total.fetch_add(1, Ordering::SeqCst);
        let behaviour = {
            let behaviours = self.behaviours.lock().unwrap();
            let list = behaviours.get(&device).cloned().unwrap_or_default();
            list.get(index as usize)
                .or(list.last())
                .copied()
                .unwrap_or(Behaviour::Answering)
        };
        if behaviour == Behaviour::Unreachable {
            return Err(ConnectError {
                device,
                link: "toy".to_owned(),
                cause: "connection refused".to_owned(),
            });
        }
        let supply = Arc::clone(
            self.supplies
                .lock()
                .unwrap()
                .entry(device.clone())
                .or_insert_with(|| Arc::new(Mutex::new("ON"))),
        );
        let capture = Capture::new(format!("toy:{device}"));
        capture.note("opened");
        Ok(Connected {
            link: Recording {
                inner: spawn_device(behaviour, supply, &device, Arc::clone(&self.heard)),
                capture: capture.clone(),
            },
            capture,
        })
    }
}

/// A link that records its traffic into a capture, as `meterlab-link`'s links do.
#[derive(Debug)]
pub struct Recording {
    inner: StreamLink<DuplexStream>,
    capture: Capture,
}

impl LinkIo for Recording {
    async fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.capture.record(Direction::Tx, data);
        self.inner.send(data).await
    }

    async fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.recv(buf).await?;
        self.capture.record(Direction::Rx, &buf[..read]);
        Ok(read)
    }

    async fn reconfigure(&mut self, settings: &ReconfigureLink) -> std::io::Result<()> {
        self.inner.reconfigure(settings).await
    }

    async fn flush_input(&mut self) -> std::io::Result<()> {
        self.inner.flush_input().await
    }
}

fn spawn_device(
    behaviour: Behaviour,
    supply: Arc<Mutex<&'static str>>,
    device: &str,
    heard: Arc<Mutex<Vec<(String, String)>>>,
) -> StreamLink<DuplexStream> {
    let (near, far) = tokio::io::duplex(1024);
    let device = device.to_owned();
    tokio::spawn(async move {
        let (read, mut write) = tokio::io::split(far);
        let mut lines = BufReader::new(read).lines();
        let mut requests = 0u32;
        while let Ok(Some(line)) = lines.next_line().await {
            heard.lock().unwrap().push((device.clone(), line.clone()));
            if line == "BYE" {
                // The adapter's graceful close: answered at once by a device that answers at
                // all (a slow device is slow at its requests).
                if !matches!(behaviour, Behaviour::Silent | Behaviour::IgnoresClose)
                    && write.write_all(b"BYE\n").await.is_err()
                {
                    return;
                }
                continue;
            }
            requests += 1;
            if matches!(behaviour, Behaviour::HangsUpAfter(served) if requests > served) {
                return;
            }
            let answer = match line.as_str() {
                "FW?" => "FW=2.0.1".to_owned(),
                "SUPPLY?" => format!("SUPPLY={}", supply.lock().unwrap()),
                "SUPPLY=OFF" | "SUPPLY=ON" => {
                    let state = if line.ends_with("ON") { "ON" } else { "OFF" };
                    *supply.lock().unwrap() = state;
                    format!("SUPPLY={state}")
                }
                other => format!("ERR 1 unknown command {other}"),
            };
            match behaviour {
                Behaviour::Silent => continue,
                Behaviour::LosesFirstAnswer if requests == 1 => continue,
                Behaviour::LosesFirstAnswer => {}
                Behaviour::HangsUp | Behaviour::Unreachable => return,
                Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
                Behaviour::Answering | Behaviour::HangsUpAfter(_) | Behaviour::IgnoresClose => {}
            }
            if write
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    StreamLink::new(near)
}

/// One step of a toy case: a request, and the value the response must carry.
#[derive(Debug, Clone)]
pub enum ToyStep {
    /// Read the firmware; expect this version.
    Firmware(&'static str),
    /// Disable the supply; expect it disabled.
    Disable,
    /// Enable the supply; expect it enabled.
    Enable,
    /// Read the supply; expect this state.
    Supply(SupplyState),
}

#[derive(Debug)]
pub struct ToyCase {
    pub id: String,
    pub steps: Vec<ToyStep>,
    /// Restore steps, run after every attempt.
    pub restore: Vec<ToyStep>,
}

impl ToyCase {
    pub fn shared(id: &str, steps: &[ToyStep]) -> Arc<dyn TestCase> {
        Self::restoring(id, steps, &[])
    }

    pub fn restoring(id: &str, steps: &[ToyStep], restore: &[ToyStep]) -> Arc<dyn TestCase> {
        Arc::new(Self {
            id: id.to_owned(),
            steps: steps.to_vec(),
            restore: restore.to_vec(),
        })
    }
}

impl TestCase for ToyCase {
    fn id(&self) -> &str {
        &self.id
    }

    fn content_sha256(&self) -> [u8; 32] {
        let mut hash = [0u8; 32];
        for (slot, byte) in hash.iter_mut().zip(self.id.bytes()) {
            *slot = byte;
        }
        hash
    }

    fn srv(&self) -> String {
        "11.2".to_owned()
    }

    fn start(self: Arc<Self>, _device: &Device, _reference_utc_ms: i64) -> Box<dyn CaseAttempt> {
        Box::new(ToyAttempt {
            case: self.id.clone(),
            steps: self.steps.clone(),
            restore: self.restore.clone(),
            next: 0,
        })
    }
}

struct ToyAttempt {
    case: String,
    steps: Vec<ToyStep>,
    restore: Vec<ToyStep>,
    next: usize,
}

fn toy_request(step: &ToyStep, request_id: String) -> (String, ServiceRequest) {
    let (srv, body) = match step {
        ToyStep::Firmware(_) => ("11.2", Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
        ToyStep::Disable => ("7.2", Body::DisableSupply(DisableSupply {})),
        ToyStep::Enable => ("7.1", Body::EnableSupply(EnableSupply {})),
        ToyStep::Supply(_) => ("7.4", Body::ReadSupplyStatus(ReadSupplyStatus {})),
    };
    (
        srv.to_owned(),
        ServiceRequest {
            request_id,
            body: Some(body),
        },
    )
}

impl CaseAttempt for ToyAttempt {
    fn next_request(&mut self, _now: i64) -> Option<Result<(String, ServiceRequest), String>> {
        let step = self.steps.get(self.next)?;
        self.next += 1;
        Some(Ok(toy_request(
            step,
            format!("{}/{}", self.case, self.next),
        )))
    }

    fn restore_request(
        &mut self,
        index: usize,
        _now: i64,
    ) -> Option<Result<(String, ServiceRequest), String>> {
        let step = self.restore.get(index)?;
        Some(Ok(toy_request(
            step,
            format!("{}/restore-{}", self.case, index + 1),
        )))
    }

    fn judge_restore(&mut self, index: usize, response: &ServiceResponse) -> Judgement {
        toy_judge(&self.restore[index], response)
    }

    fn judge(&mut self, response: &ServiceResponse) -> Judgement {
        toy_judge(&self.steps[self.next - 1], response)
    }
}

fn toy_judge(step: &ToyStep, response: &ServiceResponse) -> Judgement {
    let (expectation, expected, actual) = match (&response.outcome, step) {
        (Some(Outcome::Error(error)), _) => match &error.kind {
            Some(
                service_error::Kind::Timeout(_)
                | service_error::Kind::LinkFailure(_)
                | service_error::Kind::AdapterFault(_),
            ) => {
                return Judgement::Blocked {
                    reason: format!("{error:?}"),
                };
            }
            _ => (
                "success".to_owned(),
                "a result".to_owned(),
                format!("{error:?}"),
            ),
        },
        (Some(Outcome::FirmwareVersion(firmware)), ToyStep::Firmware(expected)) => (
            "firmware_version.version ==".to_owned(),
            (*expected).to_owned(),
            firmware.version.clone(),
        ),
        (Some(Outcome::SupplyStatus(status)), ToyStep::Disable) => (
            "supply_status.state ==".to_owned(),
            format!("{:?}", SupplyState::Disabled),
            format!("{:?}", status.state()),
        ),
        (Some(Outcome::SupplyStatus(status)), ToyStep::Enable) => (
            "supply_status.state ==".to_owned(),
            format!("{:?}", SupplyState::Enabled),
            format!("{:?}", status.state()),
        ),
        (Some(Outcome::SupplyStatus(status)), ToyStep::Supply(expected)) => (
            "supply_status.state ==".to_owned(),
            format!("{expected:?}"),
            format!("{:?}", status.state()),
        ),
        (other, _) => {
            return Judgement::Blocked {
                reason: format!("malformed response {other:?}"),
            };
        }
    };
    let ok = expected == actual;
    let checks = vec![Check {
        expectation,
        expected: expected.clone(),
        actual: actual.clone(),
        ok,
        note: None,
    }];
    if ok {
        Judgement::Passed { checks }
    } else {
        Judgement::Failed {
            checks,
            detail: format!("expected {expected}, found {actual}"),
        }
    }
}

/// A toy device record.
pub fn device(name: &str) -> Device {
    Device {
        name: name.to_owned(),
        hub: "toy-hub".to_owned(),
        role: DeviceRole::Esme,
        dmc: fixture_echo::DMC_ID.to_owned(),
        smso: "TOY-SMSO".to_owned(),
        state: InstallationState::Active,
        model: "TOY".to_owned(),
        firmware: "2.0.1".to_owned(),
        mpxn: None,
        system_title: None,
        tcp: None,
        serial: None,
        optical: None,
        clients: vec![ClientAccess::public(16)],
    }
}

/// A target for the echo adapter; the adapter answers `Timeout` after `response_timeout_ms`.
pub fn target(name: &str, response_timeout_ms: u64) -> DeviceTarget {
    DeviceTarget {
        device: device(name),
        transport: Transport::Tcp,
        session: SessionConfig {
            session_id: String::new(),
            smso_id: "TOY-SMSO".to_owned(),
            dmc_id: fixture_echo::DMC_ID.to_owned(),
            device_id: name.to_owned(),
            link_kind: LinkKind::Tcp.into(),
            line: None,
            parameters: [(
                "response_timeout_ms".to_owned(),
                response_timeout_ms.to_string(),
            )]
            .into_iter()
            .collect(),
        },
        optical: OpticalRoute::Unavailable("the toy device has no optical port".to_owned()),
    }
}

pub fn plan(units: Vec<(DeviceTarget, Vec<Arc<dyn TestCase>>)>) -> RunPlan {
    RunPlan {
        run_id: "run-1".to_owned(),
        units: units
            .into_iter()
            .map(|(target, cases)| DeviceUnit {
                target,
                cases: cases
                    .into_iter()
                    .map(|case| PlannedCase {
                        case,
                        attempts_before: 0,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Collects every event of a finished run.
pub fn drain(mut events: tokio::sync::mpsc::UnboundedReceiver<RunEvent>) -> Vec<RunEvent> {
    let mut all = Vec::new();
    while let Ok(event) = events.try_recv() {
        all.push(event);
    }
    all
}

/// The case results (every attempt) among `events`.
pub fn results(events: &[RunEvent]) -> Vec<meterlab_runner::CaseResult> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            RunEventKind::CaseFinished(result) => Some((**result).clone()),
            _ => None,
        })
        .collect()
}
