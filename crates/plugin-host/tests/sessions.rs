//! Driving real plugin sessions over in-memory links against a toy device, on paused time.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{fixture_dir, fixture_file};
use meterlab_plugin::pb::{
    LinkKind, Parity, ReadFirmwareVersion, ReadSupplyStatus, ServiceRequest, ServiceResponse,
    SessionConfig, StopBits, SupplyState, UpdateFirmware, service_error, service_request::Body,
    service_response::Outcome,
};
use meterlab_plugin_host::{
    Fault, HostConfig, Plugin, PluginHost, Session, SessionError, StreamLink,
};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};

const DEADLINE: Duration = Duration::from_secs(30);

fn plugin(name: &str) -> Arc<Plugin> {
    let host = PluginHost::new(HostConfig {
        plugin_dir: fixture_dir().to_owned(),
        pins: HashMap::new(),
    })
    .unwrap();
    host.load(fixture_file(name)).unwrap()
}

fn config(link_kind: LinkKind, parameters: &[(&str, &str)]) -> SessionConfig {
    SessionConfig {
        session_id: "s1".to_owned(),
        smso_id: "TOY-SMSO".to_owned(),
        dmc_id: fixture_echo::DMC_ID.to_owned(),
        device_id: "00-11-22-33-44-55-66-77".to_owned(),
        link_kind: link_kind.into(),
        line: None,
        parameters: parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn request(id: &str, body: Body) -> ServiceRequest {
    ServiceRequest {
        request_id: id.to_owned(),
        body: Some(body),
    }
}

fn read_firmware(id: &str) -> ServiceRequest {
    request(id, Body::ReadFirmwareVersion(ReadFirmwareVersion {}))
}

#[derive(Clone, Copy)]
enum Device {
    Answering,
    Silent,
    HangsUp,
}

/// The toy device the echo adapter talks to, on the far end of a duplex pipe.
fn spawn_device(behaviour: Device) -> StreamLink<DuplexStream> {
    let (near, far) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        let (read, mut write) = tokio::io::split(far);
        let mut lines = BufReader::new(read).lines();
        let mut supply = "ON";
        while let Ok(Some(line)) = lines.next_line().await {
            let answer = match (behaviour, line.as_str()) {
                (Device::Silent, _) => continue,
                (Device::HangsUp, _) => return,
                (_, "FW?") => "ALERT 0x8F0C supply tamper\nFW=2.3.4".to_owned(),
                (_, "SUPPLY?") => format!("SUPPLY={supply}"),
                (_, "SUPPLY=OFF") => {
                    supply = "OFF";
                    "SUPPLY=OFF".to_owned()
                }
                (_, "SUPPLY=ARMED") => "ERR 3 interlock open".to_owned(),
                (_, other) => format!("ERR 1 unknown command {other}"),
            };
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

fn error_kind(response: &ServiceResponse) -> &service_error::Kind {
    match &response.outcome {
        Some(Outcome::Error(error)) => error.kind.as_ref().unwrap(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn echo_session_round_trips_requests_over_the_link() {
    let link = spawn_device(Device::Answering);
    let mut session = Session::open(&plugin("fixture-echo"), &config(LinkKind::Tcp, &[]), link)
        .await
        .unwrap();

    let response = session
        .execute(&read_firmware("r1"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(response.request_id, "r1");
    match response.outcome {
        Some(Outcome::FirmwareVersion(fw)) => assert_eq!(fw.version, "2.3.4"),
        other => panic!("unexpected {other:?}"),
    }
    let alerts = session.take_alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].code.as_str(), alerts[0].message.as_str()),
        ("0x8F0C", "supply tamper")
    );
    assert!(session.take_alerts().is_empty());

    let response = session
        .execute(
            &request("r2", Body::DisableSupply(Default::default())),
            DEADLINE,
        )
        .await
        .unwrap();
    match response.outcome {
        Some(Outcome::SupplyStatus(status)) => assert_eq!(status.state(), SupplyState::Disabled),
        other => panic!("unexpected {other:?}"),
    }
    let response = session
        .execute(
            &request("r3", Body::ReadSupplyStatus(ReadSupplyStatus {})),
            DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(
        response.outcome,
        Some(Outcome::SupplyStatus(meterlab_plugin::pb::SupplyStatus {
            state: SupplyState::Disabled.into()
        }))
    );
    assert!(session.is_open());
}

#[tokio::test(start_paused = true)]
async fn device_rejection_and_unsupported_srv_are_typed_errors() {
    let link = spawn_device(Device::Answering);
    let mut session = Session::open(&plugin("fixture-echo"), &config(LinkKind::Tcp, &[]), link)
        .await
        .unwrap();
    let response = session
        .execute(
            &request("arm", Body::ArmSupply(Default::default())),
            DEADLINE,
        )
        .await
        .unwrap();
    match error_kind(&response) {
        service_error::Kind::DeviceRejected(rejected) => {
            assert_eq!(rejected.device_code, 3);
            assert_eq!(rejected.reason, "interlock open");
        }
        other => panic!("unexpected {other:?}"),
    }
    let response = session
        .execute(
            &request("fw", Body::UpdateFirmware(UpdateFirmware::default())),
            DEADLINE,
        )
        .await
        .unwrap();
    assert!(matches!(
        error_kind(&response),
        service_error::Kind::NotSupportedOnDmc(_)
    ));
    assert!(session.is_open());
}

#[tokio::test(start_paused = true)]
async fn serial_sessions_apply_the_adapters_line_settings() {
    let link = spawn_device(Device::Answering);
    let session = Session::open(
        &plugin("fixture-echo"),
        &config(LinkKind::Serial, &[]),
        link,
    )
    .await
    .unwrap();
    let settings = session.link().line_settings().unwrap();
    assert_eq!(settings.baud, 9600);
    assert_eq!(settings.parity(), Parity::None);
    assert_eq!(settings.data_bits, 8);
    assert_eq!(settings.stop_bits(), StopBits::One);
}

#[tokio::test(start_paused = true)]
async fn adapter_timer_turns_silence_into_a_timeout_at_the_right_time() {
    let link = spawn_device(Device::Silent);
    let config = config(LinkKind::Tcp, &[("response_timeout_ms", "1500")]);
    let mut session = Session::open(&plugin("fixture-echo"), &config, link)
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let response = session
        .execute(&read_firmware("r1"), DEADLINE)
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
    match error_kind(&response) {
        service_error::Kind::Timeout(timeout) => assert_eq!(timeout.elapsed_ms, 1500),
        other => panic!("unexpected {other:?}"),
    }
    assert!(session.is_open());
}

#[tokio::test(start_paused = true)]
async fn host_deadline_ends_a_request_the_adapter_does_not_bound() {
    let link = spawn_device(Device::Silent);
    let config = config(LinkKind::Tcp, &[("response_timeout_ms", "600000")]);
    let mut session = Session::open(&plugin("fixture-echo"), &config, link)
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = session
        .execute(&read_firmware("r1"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(
        matches!(
            error,
            SessionError::DeadlineExceeded {
                deadline_ms: 5000,
                ..
            }
        ),
        "{error}"
    );
    assert!(matches!(
        error.to_service_error(),
        service_error::Kind::Timeout(_)
    ));
    assert!(!session.is_open());
    let again = session
        .execute(&read_firmware("r2"), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(again, SessionError::Ended));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_link_completes_the_request_with_a_link_failure() {
    let link = spawn_device(Device::HangsUp);
    let mut session = Session::open(&plugin("fixture-echo"), &config(LinkKind::Tcp, &[]), link)
        .await
        .unwrap();
    let response = session
        .execute(&read_firmware("r1"), DEADLINE)
        .await
        .unwrap();
    assert!(matches!(
        error_kind(&response),
        service_error::Kind::LinkFailure(_)
    ));
    assert!(!session.is_open());
    let again = session
        .execute(&read_firmware("r2"), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(again, SessionError::LinkClosed { .. }), "{again}");
}

#[tokio::test(start_paused = true)]
async fn open_refusal_carries_the_adapters_reason() {
    let link = spawn_device(Device::Answering);
    let config = config(LinkKind::Tcp, &[("response_timeout_ms", "soon")]);
    let error = Session::open(&plugin("fixture-echo"), &config, link)
        .await
        .unwrap_err();
    assert!(matches!(error, SessionError::OpenRefused { .. }), "{error}");
    assert!(
        error.to_string().contains("\"soon\" is not a number"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_faults_only_its_own_session() {
    let echo = plugin("fixture-echo");
    let mut healthy = Session::open(
        &echo,
        &config(LinkKind::Tcp, &[]),
        spawn_device(Device::Answering),
    )
    .await
    .unwrap();
    let mut doomed = Session::open(
        &plugin("fixture-panic"),
        &config(LinkKind::Tcp, &[]),
        spawn_device(Device::Answering),
    )
    .await
    .unwrap();

    let (p1, h1) = (read_firmware("p1"), read_firmware("h1"));
    let (doomed_result, healthy_result) = tokio::join!(
        doomed.execute(&p1, DEADLINE),
        healthy.execute(&h1, DEADLINE),
    );
    let error = doomed_result.unwrap_err();
    match &error {
        SessionError::AdapterFault {
            plugin,
            fault: Fault::Panicked { message },
        } => {
            assert_eq!(plugin, "fixture-panic");
            assert!(message.contains("deliberate panic in handle"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        error.to_service_error(),
        service_error::Kind::AdapterFault(_)
    ));
    assert!(!doomed.is_open());
    assert!(healthy_result.is_ok());
    assert!(
        healthy
            .execute(&read_firmware("h2"), DEADLINE)
            .await
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_open_is_an_adapter_fault() {
    let config = config(LinkKind::Tcp, &[("panic_in", "open")]);
    let error = Session::open(
        &plugin("fixture-panic"),
        &config,
        spawn_device(Device::Answering),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, SessionError::AdapterFault { fault: Fault::Panicked { message }, .. }
            if message.contains("deliberate panic in open")),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn undecodable_output_and_bad_status_are_adapter_faults() {
    let garbage = plugin("fixture-garbage");
    let mut session = Session::open(
        &garbage,
        &config(LinkKind::Tcp, &[]),
        spawn_device(Device::Answering),
    )
    .await
    .unwrap();
    let error = session
        .execute(&read_firmware("g1"), DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            SessionError::AdapterFault {
                fault: Fault::Undecodable {
                    message: "AdapterActions",
                    len: 7,
                    ..
                },
                ..
            }
        ),
        "{error}"
    );
    assert!(!session.is_open());

    let mut session = Session::open(
        &garbage,
        &config(LinkKind::Tcp, &[]),
        spawn_device(Device::Answering),
    )
    .await
    .unwrap();
    let error = session
        .execute(&read_firmware("bad-status"), DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            SessionError::AdapterFault {
                fault: Fault::Status { status: 42, .. },
                ..
            }
        ),
        "{error}"
    );
}
