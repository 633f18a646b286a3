//! `meterlab emulate --optical`: a PTY per meter whose DMC has an optical port, listed in the
//! devices file, answering IEC 62056-21 sign-ons.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

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
        "/../../suites/scenarios/optical.toml"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterlab"))
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
