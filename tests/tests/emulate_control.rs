//! `meterlab emulate --control` driven by `meterlab emulate-ctl`, end to end with the real
//! binary: a DLMS client over the TCP wrapper sees associations refused and accepted, a silent
//! meter, and an alert pushed on its open association, as the faults change at run time.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use meterlab_dlms::association::ClientEvent;
use meterlab_dlms::axdr::Data;
use meterlab_dlms_driver::{Driver, DriverError, lls};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const LLS_CLIENT_SAP: u8 = 1;

struct Emulator {
    _child: Child,
    tcp: String,
    control: String,
}

/// Starts `meterlab emulate` on ephemeral ports (plus `extra` flags) and reads its JSON start-up
/// document.
async fn start_emulator(extra: &[&str]) -> Emulator {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args([
            "emulate",
            "--meters",
            "2",
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--output",
            "json",
        ])
        .args(extra)
        .env_remove("METERLAB_LOG")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    let document: serde_json::Value = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("start-up document");
            text.push_str(&line);
            text.push('\n');
            if let Ok(document) = serde_json::from_str(&text) {
                return document;
            }
        }
    })
    .await
    .expect("the emulator starts");
    assert_eq!(document["device"].as_array().unwrap().len(), 3);
    Emulator {
        _child: child,
        tcp: document["tcp_address"].as_str().unwrap().to_owned(),
        control: document["control_address"].as_str().unwrap().to_owned(),
    }
}

/// Runs `meterlab emulate-ctl --control ADDR ARGS...`; returns success, stdout and stderr.
async fn ctl(emulator: &Emulator, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(["emulate-ctl", "--control", &emulator.control])
        .args(args)
        .env_remove("METERLAB_LOG")
        .env_remove("METERLAB_CONTROL")
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

struct Client {
    driver: Driver<TcpStream>,
}

impl Client {
    async fn connect(emulator: &Emulator, wport: u16) -> Self {
        let stream = TcpStream::connect(&emulator.tcp).await.unwrap();
        Self {
            driver: Driver::wrapper(stream, LLS_CLIENT_SAP, wport, lls(b"00000001")),
        }
    }

    /// Sends what is queued, then waits up to `patience` for the next event.
    async fn next_event(&mut self, patience: Duration) -> Option<ClientEvent> {
        match self.driver.next_association_event(patience).await {
            Ok(event) => Some(event),
            Err(DriverError::Silent(_)) => None,
            Err(other) => panic!("{other}"),
        }
    }

    async fn associate(&mut self, patience: Duration) -> Option<ClientEvent> {
        match self.driver.associate(patience).await {
            Ok(event) => Some(event),
            Err(DriverError::Silent(_)) => None,
            Err(other) => panic!("{other}"),
        }
    }
}

async fn associates(emulator: &Emulator, wport: u16) -> bool {
    let mut client = Client::connect(emulator, wport).await;
    match client.associate(Duration::from_secs(10)).await {
        Some(ClientEvent::Associated { .. }) => true,
        Some(ClientEvent::Rejected { .. }) => false,
        other => panic!("AARQ answered with {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_alerts_change_at_run_time_through_the_control_endpoint() {
    let emulator = start_emulator(&[]).await;
    const ESME: u16 = 2;
    const GSME: u16 = 3;
    assert!(associates(&emulator, ESME).await);

    let (ok, out, err) = ctl(
        &emulator,
        &[
            "faults",
            "--device",
            "hub-00001.esme",
            "--refuse-associations",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "done: 1 device(s)");
    assert!(
        !associates(&emulator, ESME).await,
        "refused while the fault is set"
    );
    assert!(
        associates(&emulator, GSME).await,
        "other devices are untouched"
    );

    let (ok, _, err) = ctl(&emulator, &["clear-faults", "--device", "hub-00001.esme"]).await;
    assert!(ok, "{err}");
    assert!(associates(&emulator, ESME).await, "accepted once cleared");

    let (ok, _, err) = ctl(&emulator, &["faults", "--hub", "1", "--silent"]).await;
    assert!(ok, "{err}");
    let mut silent = Client::connect(&emulator, ESME).await;
    assert_eq!(silent.associate(Duration::from_millis(1500)).await, None);
    let (ok, out, err) = ctl(&emulator, &["--output", "json", "list"]).await;
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let esme = &listed["devices"][1];
    assert_eq!(esme["name"], "hub-00001.esme");
    assert_eq!(esme["faults"]["silent"], true);
    let (ok, _, err) = ctl(&emulator, &["faults", "--all", "--silent", "false"]).await;
    assert!(ok, "{err}");

    // An alert reaches an association that holds still.
    let mut gas = Client::connect(&emulator, GSME).await;
    assert!(matches!(
        gas.associate(Duration::from_secs(10)).await,
        Some(ClientEvent::Associated { .. })
    ));
    let (ok, _, err) = ctl(
        &emulator,
        &["alert", "--device", "hub-00001.gsme", "--kind", "tamper"],
    )
    .await;
    assert!(ok, "{err}");
    match gas.next_event(Duration::from_secs(10)).await {
        Some(ClientEvent::EventNotification(notification)) => {
            assert_eq!(notification.value, Data::Unsigned(40));
        }
        other => panic!("expected the tamper EventNotification, got {other:?}"),
    }

    // Bad requests are refused with the reason.
    let (ok, _, err) = ctl(&emulator, &["faults", "--hub", "9", "--drop", "0.1"]).await;
    assert!(!ok);
    assert!(err.contains("scope.hub: no hub 9"), "{err}");
    let (ok, _, err) = ctl(&emulator, &["faults", "--all", "--drop", "1.5"]).await;
    assert!(!ok);
    assert!(err.contains("faults.drop 1.5 must be a fraction"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_started_silent_answers_nothing_until_the_fault_is_lifted() {
    let emulator = start_emulator(&["--silent"]).await;
    const ESME: u16 = 2;
    let mut silent = Client::connect(&emulator, ESME).await;
    assert_eq!(silent.associate(Duration::from_millis(1500)).await, None);
    let (ok, out, err) = ctl(&emulator, &["--output", "json", "list"]).await;
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["devices"][1]["faults"]["silent"], true);

    let (ok, _, err) = ctl(&emulator, &["faults", "--all", "--silent", "false"]).await;
    assert!(ok, "{err}");
    assert!(
        associates(&emulator, ESME).await,
        "answers once the fault is lifted"
    );
}
