//! A real plugin session over a real serial line: the echo adapter drives a `meterlab-link`
//! serial link opened on a pseudo-terminal, whose far end plays the device.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{fixture_dir, fixture_file};
use meterlab_link::{Direction, LineSettings, Link, Parity, SerialConfig, SerialLink, StopBits};
use meterlab_plugin::pb::{
    self, LinkKind, ReadFirmwareVersion, ReconfigureLink, ServiceRequest, SessionConfig,
    service_error, service_request::Body, service_response::Outcome,
};
use meterlab_plugin_host::{DeviceLink, HostConfig, PluginHost, Session, merge_settings};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio_serial::{SerialPort as _, SerialStream};

const DEADLINE: Duration = Duration::from_secs(10);

fn config() -> SessionConfig {
    SessionConfig {
        session_id: "pty-1".to_owned(),
        smso_id: "TOY-SMSO".to_owned(),
        dmc_id: fixture_echo::DMC_ID.to_owned(),
        device_id: "00-11-22-33-44-55-66-77".to_owned(),
        link_kind: LinkKind::Serial.into(),
        line: None,
        parameters: HashMap::new(),
    }
}

fn read_firmware(id: &str) -> ServiceRequest {
    ServiceRequest {
        request_id: id.to_owned(),
        body: Some(Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
    }
}

/// Opens a PTY pair: the slave as a `meterlab-link` serial link, the master as the device that
/// answers `FW?` once and hangs up when `hang_up` fires (not before: closing a PTY master
/// discards what the slave has not read yet).
fn serial_device(
    hang_up: tokio::sync::oneshot::Receiver<()>,
) -> (SerialLink, tokio::task::JoinHandle<()>) {
    let (master, slave) = SerialStream::pair().unwrap();
    let path = slave.name().unwrap();
    // The link opens the slave by path, as it would a real port; keep our handle closed.
    drop(slave);
    let link = SerialLink::open(SerialConfig::new(path, LineSettings::eight_n_one(2400))).unwrap();
    let device = tokio::spawn(async move {
        let (read, mut write) = tokio::io::split(master);
        let mut lines = BufReader::new(read).lines();
        let line = lines.next_line().await.unwrap().unwrap();
        assert_eq!(line, "FW?");
        write.write_all(b"FW=9.8.7\n").await.unwrap();
        write.flush().await.unwrap();
        let _ = hang_up.await;
        // Dropping both halves closes the master: the link sees the line drop.
    });
    (link, device)
}

#[tokio::test]
async fn echo_adapter_runs_over_a_real_serial_line_and_sees_it_drop() {
    let host = PluginHost::new(HostConfig {
        plugin_dir: fixture_dir().to_owned(),
        pins: HashMap::new(),
    })
    .unwrap();
    let plugin = host.load(fixture_file("fixture-echo")).unwrap();
    let (hang_up, on_hang_up) = tokio::sync::oneshot::channel();
    let (serial, device) = serial_device(on_hang_up);
    let initial = serial.settings();
    let link = DeviceLink::new(serial, Some(initial));
    let mut session = Session::open(&plugin, &config(), link).await.unwrap();

    // The echo adapter asks for 9600 8N1 on serial links: the real line now runs at that rate.
    let applied = session.link().line_settings().unwrap();
    assert_eq!(applied, LineSettings::eight_n_one(9600));
    assert_eq!(session.link().link().settings().baud_rate, 9600);

    let response = session
        .execute(&read_firmware("fw-1"), DEADLINE)
        .await
        .unwrap();
    match response.outcome {
        Some(Outcome::FirmwareVersion(fw)) => assert_eq!(fw.version, "9.8.7"),
        other => panic!("unexpected {other:?}"),
    }
    // Both directions are in the link's capture, as evidence.
    let records = session.link().link().capture().records();
    assert!(
        records
            .iter()
            .any(|r| r.direction == Direction::Tx && r.bytes == b"FW?\n")
    );
    assert!(records.iter().any(|r| r.direction == Direction::Rx));

    hang_up.send(()).unwrap();
    device.await.unwrap();
    let response = session
        .execute(&read_firmware("fw-2"), DEADLINE)
        .await
        .unwrap();
    match response.outcome {
        Some(Outcome::Error(error)) => assert!(
            matches!(error.kind, Some(service_error::Kind::LinkFailure(_))),
            "{error:?}"
        ),
        other => panic!("expected a link failure, got {other:?}"),
    }
}

#[test]
fn partial_reconfigure_requests_merge_into_the_current_settings() {
    let current = Some(LineSettings::eight_n_one(9600));
    let only_parity = ReconfigureLink {
        baud: 0,
        parity: pb::Parity::Even.into(),
        data_bits: 7,
        stop_bits: pb::StopBits::Unspecified.into(),
    };
    let merged = merge_settings(current, &only_parity).unwrap();
    assert_eq!(
        merged,
        LineSettings {
            baud_rate: 9600,
            data_bits: 7,
            parity: Parity::Even,
            stop_bits: StopBits::One,
        }
    );
    // With nothing to merge into, a baud rate is required.
    assert!(merge_settings(None, &only_parity).is_err());
    let with_baud = ReconfigureLink {
        baud: 300,
        ..only_parity
    };
    assert_eq!(merge_settings(None, &with_baud).unwrap().baud_rate, 300);
}
