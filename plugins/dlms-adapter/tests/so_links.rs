//! The built `.so` loaded through `meterlab-plugin-host`, against `meterlab_emulator` serving
//! on real links: the DLMS wrapper over a loopback TCP socket, and HDLC over a PTY serial line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use meterlab_dlms::security::wrap_key;
use meterlab_emulator::hub::{Emulation, Endpoints, HLS_CLIENT_SAP, LLS_CLIENT_SAP};
use meterlab_emulator::serve::serial::serve_hdlc;
use meterlab_emulator::serve::tcp::serve_tcp;
use meterlab_emulator::serve::{Emulator, Incident};
use meterlab_plugin::pb::{
    DisableSupply, EnableSupply, KeyKind, KeyUpdate, LinkKind, ReadFirmwareVersion,
    ReadInstantaneousImportRegisters, ReadSupplyStatus, ServiceRequest, ServiceResponse,
    SessionConfig, SupplyState, UpdateSecurityCredentials, service_request::Body,
    service_response::Outcome,
};
use meterlab_plugin_host::{CloseOutcome, HostConfig, Plugin, PluginHost, Session, StreamLink};
use tokio::net::{TcpListener, TcpStream};

/// The adapter's library, built by cargo next to this test (the package is a cdylib + rlib).
fn plugin() -> Arc<Plugin> {
    let exe = std::env::current_exe().expect("test executable");
    let deps: PathBuf = exe.parent().expect("deps directory").to_owned();
    let file = format!(
        "{}meterlab_dlms_adapter{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    assert!(
        deps.join(&file).is_file(),
        "{file} not built in {}",
        deps.display()
    );
    let host = PluginHost::new(HostConfig {
        plugin_dir: deps,
        pins: HashMap::new(),
    })
    .expect("plugin host");
    host.load(&file).expect("the adapter loads")
}

fn request(id: &str, body: Body) -> ServiceRequest {
    ServiceRequest {
        request_id: id.to_owned(),
        body: Some(body),
    }
}

fn outcome(response: ServiceResponse) -> Outcome {
    match response.outcome {
        Some(Outcome::Error(error)) => panic!("request failed: {error:?}"),
        Some(outcome) => outcome,
        None => panic!("empty response"),
    }
}

const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn describe_through_the_so_lists_every_shipped_dmc() {
    let plugin = plugin();
    let ids: Vec<&str> = plugin
        .info()
        .dmcs
        .iter()
        .map(|dmc| dmc.dmc_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "acme-ch1-e470-g4",
            "acme-ch1-e470p-g4",
            "bravo-h2-e2-g2",
            "meterlab-reference"
        ]
    );
    assert!(plugin.info().dmcs.iter().all(|dmc| !dmc.srvs.is_empty()));
}

#[tokio::test]
async fn wrapper_over_tcp_reads_and_controls_supply() {
    let scenario = support::scenario("active");
    let emulation = Emulation::build(&scenario, support::START).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let endpoints = Endpoints {
        tcp_address: Some(address.to_string()),
        serial_paths: HashMap::new(),
    };
    let file = emulation.devices_file(&endpoints, &scenario);
    let emulator = Emulator::new(emulation, support::START);
    tokio::spawn(serve_tcp(emulator.clone(), listener));
    let plugin = plugin();

    for (device, sap) in [
        ("north-active.esme", LLS_CLIENT_SAP),
        ("south-active.esme", HLS_CLIENT_SAP),
    ] {
        let config = support::session_config(file.device(device).unwrap(), sap);
        let stream = TcpStream::connect(address).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut session = Session::open(&plugin, &config, StreamLink::new(stream))
            .await
            .expect("session opens");
        let registers = session
            .execute(
                &request(
                    "r1",
                    Body::ReadInstantaneousImportRegisters(ReadInstantaneousImportRegisters {}),
                ),
                DEADLINE,
            )
            .await
            .expect("4.1.1 answered");
        let Outcome::InstantaneousImportRegisters(registers) = outcome(registers) else {
            panic!("{device}: wrong outcome")
        };
        assert!(registers.total_import.is_some());
        let disabled = session
            .execute(
                &request("r2", Body::DisableSupply(DisableSupply {})),
                DEADLINE,
            )
            .await
            .expect("7.2 answered");
        assert!(
            matches!(outcome(disabled), Outcome::SupplyStatus(s) if s.state() == SupplyState::Disabled)
        );
        let enabled = session
            .execute(
                &request("r3", Body::EnableSupply(EnableSupply {})),
                DEADLINE,
            )
            .await
            .expect("7.1 answered");
        assert!(
            matches!(outcome(enabled), Outcome::SupplyStatus(s) if s.state() == SupplyState::Enabled)
        );
        // A tamper alert pushed by the device on the open association reaches the host as an
        // Alert action (read with the next request's traffic).
        let at = emulator
            .find_device(device)
            .expect("the device is emulated");
        emulator.inject(at, Incident::Tamper);
        let mut alerts = Vec::new();
        for attempt in 0..20 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let status = session
                .execute(
                    &request(
                        &format!("a{attempt}"),
                        Body::ReadSupplyStatus(ReadSupplyStatus {}),
                    ),
                    DEADLINE,
                )
                .await
                .expect("7.4 answered");
            assert!(matches!(outcome(status), Outcome::SupplyStatus(_)));
            alerts.extend(session.take_alerts());
            if !alerts.is_empty() {
                break;
            }
        }
        assert!(
            alerts
                .iter()
                .any(|alert| alert.message.contains("event notification")),
            "{device}: {alerts:?}"
        );
        drop(session.close());
    }
}

#[tokio::test]
async fn hdlc_over_a_pty_serial_line_reads_the_meter() {
    let scenario = support::scenario("active");
    let emulation = Emulation::build(&scenario, support::START).unwrap();
    let (device_end, host_end) = tokio_serial::SerialStream::pair().expect("a PTY pair");
    let endpoints = Endpoints {
        tcp_address: None,
        serial_paths: [("north-active".to_owned(), "/dev/pts/test".to_owned())].into(),
    };
    let file = emulation.devices_file(&endpoints, &scenario);
    let emulator = Emulator::new(emulation, support::START);
    tokio::spawn(async move { serve_hdlc(emulator, 0, device_end, "pty").await });
    let plugin = plugin();

    let device = file.device("north-active.esme").unwrap();
    let mut config: SessionConfig = support::session_config(device, HLS_CLIENT_SAP);
    config.link_kind = LinkKind::Serial.into();
    config.parameters = support::parameters(device, HLS_CLIENT_SAP, "hdlc");
    let master = device.client(HLS_CLIENT_SAP).unwrap().master_key.unwrap().0;
    let mut session = Session::open(&plugin, &config, StreamLink::new(host_end))
        .await
        .expect("session opens");
    let version = session
        .execute(
            &request("v", Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
            DEADLINE,
        )
        .await
        .expect("11.2 answered");
    assert!(matches!(outcome(version), Outcome::FirmwareVersion(v) if v.version == "2.0.1"));
    let status = session
        .execute(
            &request("s", Body::ReadSupplyStatus(ReadSupplyStatus {})),
            DEADLINE,
        )
        .await
        .expect("7.4 answered");
    assert!(
        matches!(outcome(status), Outcome::SupplyStatus(s) if s.state() == SupplyState::Enabled)
    );
    let registers = session
        .execute(
            &request(
                "r",
                Body::ReadInstantaneousImportRegisters(ReadInstantaneousImportRegisters {}),
            ),
            DEADLINE,
        )
        .await
        .expect("4.1.1 answered");
    assert!(matches!(
        outcome(registers),
        Outcome::InstantaneousImportRegisters(_)
    ));

    // A key transfer, then new associations over the same HDLC link: new keys accepted, old
    // keys refused; the session goes on with the new keys.
    let keys = vec![KeyUpdate {
        kind: KeyKind::Authentication.into(),
        wrapped_key: wrap_key(&master, &[0x33; 16]).unwrap().to_vec(),
    }];
    let updated = session
        .execute(
            &request(
                "k",
                Body::UpdateSecurityCredentials(UpdateSecurityCredentials { keys }),
            ),
            DEADLINE,
        )
        .await
        .expect("6.15.1 answered");
    assert!(matches!(
        outcome(updated),
        Outcome::SecurityCredentialsUpdated(_)
    ));
    let version = session
        .execute(
            &request("v2", Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
            DEADLINE,
        )
        .await
        .expect("11.2 answered after the key change");
    assert!(matches!(outcome(version), Outcome::FirmwareVersion(_)));
}

const CLOSE_BUDGET: Duration = Duration::from_secs(5);

async fn read_firmware(session: &mut Session<StreamLink<TcpStream>>, id: &str) {
    let version = session
        .execute(
            &request(id, Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
            DEADLINE,
        )
        .await
        .expect("11.2 answered");
    assert!(matches!(outcome(version), Outcome::FirmwareVersion(_)));
}

#[tokio::test]
async fn a_graceful_close_releases_the_association_over_the_wrapper() {
    let scenario = support::scenario("active");
    let emulation = Emulation::build(&scenario, support::START).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let endpoints = Endpoints {
        tcp_address: Some(address.to_string()),
        serial_paths: HashMap::new(),
    };
    let file = emulation.devices_file(&endpoints, &scenario);
    let emulator = Emulator::new(emulation, support::START);
    tokio::spawn(serve_tcp(emulator.clone(), listener));
    let plugin = plugin();
    let device = "south-active.esme";
    let at = emulator
        .find_device(device)
        .expect("the device is emulated");
    let config = support::session_config(file.device(device).unwrap(), HLS_CLIENT_SAP);

    // Closing without asking the adapter: the device keeps the association as long as the
    // connection lives (until its inactivity time-out).
    let stream = TcpStream::connect(address).await.unwrap();
    let mut session = Session::open(&plugin, &config, StreamLink::new(stream))
        .await
        .expect("session opens");
    read_firmware(&mut session, "v1").await;
    assert_eq!(emulator.open_associations(at), 1);
    let kept = session.close();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(emulator.open_associations(at), 1, "nothing released it");
    drop(kept);

    // A graceful close releases it (RLRQ/RLRE) while the connection is still up.
    let stream = TcpStream::connect(address).await.unwrap();
    let mut session = Session::open(&plugin, &config, StreamLink::new(stream))
        .await
        .expect("session opens");
    read_firmware(&mut session, "v2").await;
    let (link, closed) = session.close_gracefully(CLOSE_BUDGET).await;
    assert_eq!(closed, CloseOutcome::Closed);
    assert_eq!(
        emulator.open_associations(at),
        0,
        "the release reached the device"
    );
    drop(link);

    // Nothing associated: the close finishes at once with nothing sent.
    let stream = TcpStream::connect(address).await.unwrap();
    let session = Session::open(&plugin, &config, StreamLink::new(stream))
        .await
        .expect("session opens");
    let (_link, closed) = session.close_gracefully(CLOSE_BUDGET).await;
    assert_eq!(closed, CloseOutcome::Closed);
}

#[tokio::test]
async fn a_graceful_close_releases_and_disconnects_over_hdlc() {
    let scenario = support::scenario("active");
    let emulation = Emulation::build(&scenario, support::START).unwrap();
    let (device_end, host_end) = tokio_serial::SerialStream::pair().expect("a PTY pair");
    let endpoints = Endpoints {
        tcp_address: None,
        serial_paths: [("north-active".to_owned(), "/dev/pts/test".to_owned())].into(),
    };
    let file = emulation.devices_file(&endpoints, &scenario);
    let emulator = Emulator::new(emulation, support::START);
    let served = emulator.clone();
    tokio::spawn(async move { serve_hdlc(served, 0, device_end, "pty").await });
    let plugin = plugin();

    let device = file.device("north-active.esme").unwrap();
    let at = emulator
        .find_device("north-active.esme")
        .expect("the device is emulated");
    let mut config: SessionConfig = support::session_config(device, HLS_CLIENT_SAP);
    config.link_kind = LinkKind::Serial.into();
    config.parameters = support::parameters(device, HLS_CLIENT_SAP, "hdlc");
    let mut session = Session::open(&plugin, &config, StreamLink::new(host_end))
        .await
        .expect("session opens");
    let version = session
        .execute(
            &request("v", Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
            DEADLINE,
        )
        .await
        .expect("11.2 answered");
    assert!(matches!(outcome(version), Outcome::FirmwareVersion(_)));
    assert_eq!(emulator.open_associations(at), 1);
    let (link, closed) = session.close_gracefully(CLOSE_BUDGET).await;
    assert_eq!(closed, CloseOutcome::Closed);
    assert_eq!(
        emulator.open_associations(at),
        0,
        "RLRQ then DISC reached the meter"
    );

    // The line is free: a new session on the same port connects (SNRM) and reads again.
    let mut session = Session::open(&plugin, &config, link)
        .await
        .expect("session opens");
    let version = session
        .execute(
            &request("v2", Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
            DEADLINE,
        )
        .await
        .expect("11.2 answered on the next session");
    assert!(matches!(outcome(version), Outcome::FirmwareVersion(_)));
}
