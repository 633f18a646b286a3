//! The control protocol over a stream: one JSON request per line, one response per line, with
//! errors that name the field; changes land on the running emulator.
#![allow(clippy::unwrap_used)]

use meterlab_emulator::SimTime;
use meterlab_emulator::hub::Emulation;
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::Emulator;
use meterlab_emulator::serve::control::{MAX_REQUEST_LINE, Response, serve_control_stream};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

const START: SimTime = SimTime::from_unix_secs(1_761_955_200);

struct Control {
    writer: tokio::io::WriteHalf<DuplexStream>,
    reader: BufReader<tokio::io::ReadHalf<DuplexStream>>,
}

impl Control {
    fn start(emulator: &Emulator) -> Self {
        let (ours, theirs) = tokio::io::duplex(256 * 1024);
        let emulator = emulator.clone();
        tokio::spawn(async move { serve_control_stream(&emulator, theirs).await });
        let (reader, writer) = tokio::io::split(ours);
        Self {
            writer,
            reader: BufReader::new(reader),
        }
    }

    async fn send(&mut self, line: &str) -> Response {
        self.writer.write_all(line.as_bytes()).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
        let mut answer = String::new();
        self.reader.read_line(&mut answer).await.unwrap();
        assert!(answer.ends_with('\n'), "one response per line: {answer:?}");
        serde_json::from_str(&answer).unwrap()
    }
}

fn emulator(hubs: usize) -> Emulator {
    Emulator::new(
        Emulation::build(&Scenario::generated(hubs), START).unwrap(),
        START,
    )
}

#[tokio::test]
async fn faults_change_by_scope_and_clear() {
    let emulator = emulator(3);
    let mut control = Control::start(&emulator);
    let set = control
        .send(
            r#"{"command":"set_faults","scope":{"hub":2},"faults":{"drop":0.2,"latency_ms":150}}"#,
        )
        .await;
    assert_eq!((set.ok, set.touched), (true, Some(3)), "{set:?}");
    {
        let hub = emulator.hub(1).unwrap();
        assert!(hub.devices.iter().all(|device| device.faults.drop == 0.2));
        assert_eq!(hub.faults.latency_ms, 150);
        assert_eq!(emulator.hub(0).unwrap().devices[1].faults.drop, 0.0);
    }
    let device = control
        .send(r#"{"command":"set_faults","scope":{"device":"hub-00001.esme"},"faults":{"refuse_associations":true}}"#)
        .await;
    assert_eq!(device.touched, Some(1));
    assert!(
        emulator.hub(0).unwrap().devices[1]
            .faults
            .refuse_associations
    );
    let link = control
        .send(
            r#"{"command":"set_faults","scope":{"link":"hub-00003"},"faults":{"serial_baud":300}}"#,
        )
        .await;
    assert_eq!(link.touched, Some(1));
    {
        let hub = emulator.hub(2).unwrap();
        assert_eq!(hub.faults.serial_baud, Some(300));
        assert!(
            hub.devices
                .iter()
                .all(|device| device.faults.serial_baud.is_none())
        );
    }
    let listed = control.send(r#"{"command":"list"}"#).await;
    let devices = listed.devices.unwrap();
    assert_eq!(devices.len(), 9);
    assert_eq!(devices[1].name, "hub-00001.esme");
    assert_eq!(devices[1].faults.refuse_associations, Some(true));
    assert_eq!(devices[6].link_faults.serial_baud, Some(300));
    let cleared = control
        .send(r#"{"command":"clear_faults","scope":"all"}"#)
        .await;
    assert_eq!(cleared.touched, Some(9));
    for hub in 0..3 {
        let hub = emulator.hub(hub).unwrap();
        assert!(hub.faults.is_none());
        assert!(hub.devices.iter().all(|device| device.faults.is_none()));
    }
}

#[tokio::test]
async fn bad_requests_get_errors_and_the_connection_goes_on() {
    let emulator = emulator(1);
    let mut control = Control::start(&emulator);
    for (line, expected) in [
        ("{not json", "key must be a string"),
        (
            r#"{"command":"set_faults","scope":"all","faults":{"dorp":0.1}}"#,
            "unknown field `dorp`",
        ),
        (
            r#"{"command":"set_faults","scope":"all","faults":{"drop":2}}"#,
            "faults.drop 2 must be a fraction",
        ),
        (
            r#"{"command":"set_faults","scope":{"hub":7},"faults":{"silent":true}}"#,
            "scope.hub: no hub 7 (hubs are numbered 1-1)",
        ),
        (
            r#"{"command":"reboot","scope":{"device":"nope.esme"}}"#,
            "scope.device: no device named \"nope.esme\"",
        ),
        (
            r#"{"command":"raise_alert","device":"hub-00001.esme","kind":"tamper","outage_s":3}"#,
            "outage_s applies to kind supply_interruption only",
        ),
        (
            r#"{"command":"raise_alert","kind":"tamper"}"#,
            "missing field `device`",
        ),
    ] {
        let response = control.send(line).await;
        assert!(!response.ok, "{line}");
        let error = response.error.unwrap();
        assert!(error.contains(expected), "{line}: {error}");
    }
    let raised = control
        .send(r#"{"command":"raise_alert","device":"hub-00001.esme","kind":"tamper"}"#)
        .await;
    assert!(raised.ok, "{raised:?}");
    assert_eq!(
        emulator.hub(0).unwrap().devices[1].device.pending_alerts(),
        1
    );
    let too_long = format!(
        "{{\"command\":\"list\",\"pad\":\"{}\"}}",
        "x".repeat(MAX_REQUEST_LINE)
    );
    let response = control.send(&too_long).await;
    assert!(response.error.unwrap().starts_with("request longer than"));
}
