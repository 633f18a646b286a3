//! `meterlab emulate --optical`: a PTY per meter whose DMC has an optical port, listed in the
//! devices file, answering IEC 62056-21 sign-ons; and the shipped SIT case that reads the same
//! register over DLMS and over that port, run by the real binary with no manual step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod run_support;

use std::process::Stdio;
use std::time::Duration;

use run_support::{meterlab_run, path, start_emulator_from, stderr, workspace};

use meterlab_iec62056_21::decode::MeterDecoder;
use meterlab_iec62056_21::message::{ClientMessage, MeterMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

#[tokio::test]
async fn the_optical_port_is_in_the_devices_file_and_answers_a_sign_on() {
    let dir = tempfile::tempdir().unwrap();
    let devices_out = dir.path().join("devices.toml");
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../suites/scenarios/optical.toml"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args([
            "emulate",
            "--scenario",
            scenario,
            "--optical",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--devices-out")
        .arg(&devices_out)
        .env_remove("METERLAB_LOG")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let devices = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(devices) = meterlab_devices::DevicesFile::load(&devices_out) {
                return devices;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the devices file is written");
    let with_port: Vec<_> = devices
        .devices
        .iter()
        .filter(|d| d.optical.is_some())
        .collect();
    assert_eq!(with_port.len(), 1, "{devices:?}");
    assert_eq!(with_port[0].name, "north-optical.esme");
    let optical = with_port[0].optical.clone().unwrap();
    assert_eq!(optical.password.as_deref(), Some("north-lls-0001"));

    let mut port =
        tokio_serial::SerialStream::open(&tokio_serial::new(&optical.path, 300)).unwrap();
    let sign_on = ClientMessage::SignOn {
        address: optical.address.clone(),
    };
    port.write_all(&sign_on.encode().unwrap()).await.unwrap();
    let mut decoder = MeterDecoder::new();
    let identification = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 64];
        loop {
            if let Some(message) = decoder.next_message() {
                return message.unwrap();
            }
            let read = port.read(&mut buffer).await.unwrap();
            decoder.push(&buffer[..read]);
        }
    })
    .await
    .expect("the meter answers");
    assert!(
        matches!(&identification, MeterMessage::Identification(id) if id.manufacturer == "ACM"),
        "{identification:?}"
    );
    child.kill().await.unwrap();
}

fn run_json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", stderr(output)))
}

/// SIT-OPT-001 against `emulate --optical`: DLMS over the TCP wrapper, then the optical PTY
/// through the IEC 62056-21 adapter (found beside the DLMS adapter), then DLMS again; it passes,
/// and the optical session's traffic is in the evidence. With the optical port taken out of the
/// devices file the case is skipped with the reason while the rest of the run passes.
#[tokio::test]
async fn the_shipped_sit_case_reads_the_register_over_dlms_and_over_the_optical_port() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = workspace().join("suites/scenarios/optical.toml");
    let emulator =
        start_emulator_from(dir.path(), &["--scenario", path(&scenario), "--optical"]).await;
    let sit = workspace().join("suites/sit");
    let evidence = dir.path().join("evidence");
    let args = |devices: &std::path::Path| {
        vec![
            "--devices".to_owned(),
            path(devices).to_owned(),
            "--suite".to_owned(),
            path(&sit).to_owned(),
            "--phase".to_owned(),
            "SIT".to_owned(),
            "--mode".to_owned(),
            "active".to_owned(),
            "--case".to_owned(),
            "SIT-OPT-001".to_owned(),
            "--case".to_owned(),
            "SIT-RD-001".to_owned(),
            "--output".to_owned(),
            "json".to_owned(),
        ]
    };
    let mut with_port = args(&emulator.devices);
    with_port.extend(["--evidence-dir".to_owned(), path(&evidence).to_owned()]);
    let with_port: Vec<&str> = with_port.iter().map(String::as_str).collect();
    let output = meterlab_run(&with_port).await;
    let document = run_json(&output);
    assert_eq!(output.status.code(), Some(0), "{document:#}");
    assert_eq!(
        document["summary"]["passed"].as_u64(),
        Some(2),
        "{document:#}"
    );
    assert_eq!(document["skipped"].as_array().map(Vec::len), Some(0));
    let attempt = document["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|attempt| attempt["case_id"] == "SIT-OPT-001")
        .expect("SIT-OPT-001 ran");
    assert_eq!(attempt["device_id"], "north-optical.esme");
    let steps = attempt["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{attempt:#}");
    // The optical readout is in kWh with three decimals (unit 4, scaler -3), DLMS in Wh.
    let optical_response = steps[1]["response"].as_str().unwrap();
    assert!(
        optical_response.contains("scaler: -3"),
        "{optical_response}"
    );
    assert!(steps[0]["response"].as_str().unwrap().contains("scaler: 0"));
    for step in &steps[1..] {
        let check = &step["checks"][1];
        assert_eq!(check["ok"], true, "{step:#}");
        assert!(
            check["expectation"]
                .as_str()
                .unwrap()
                .contains("total_import.normalised >="),
            "{check:#}"
        );
    }
    let evidence_file = evidence
        .join("north-optical.esme")
        .join("SIT-OPT-001.attempt-1.json");
    let evidence_text = std::fs::read_to_string(&evidence_file).unwrap();
    assert!(
        evidence_text.contains("optical port of north-optical.esme"),
        "the optical session's traffic is in the evidence"
    );

    let mut devices = meterlab_devices::DevicesFile::load(&emulator.devices).unwrap();
    for device in &mut devices.devices {
        device.optical = None;
    }
    let no_port = dir.path().join("no-optical.toml");
    devices.save(&no_port).unwrap();
    let without_port = args(&no_port);
    let without_port: Vec<&str> = without_port.iter().map(String::as_str).collect();
    let output = meterlab_run(&without_port).await;
    let document = run_json(&output);
    assert_eq!(output.status.code(), Some(0), "{document:#}");
    assert_eq!(
        document["summary"]["passed"].as_u64(),
        Some(1),
        "{document:#}"
    );
    assert_eq!(document["summary"]["failed"].as_u64(), Some(0));
    let skipped = document["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{document:#}");
    assert_eq!(skipped[0]["case_id"], "SIT-OPT-001");
    assert_eq!(skipped[0]["device_id"], "north-optical.esme");
    let reason = skipped[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("has no optical port in the devices file"),
        "{reason}"
    );
}
