//! Alerts on the HDLC line: the serving loop wakes up when a device raises one and takes it for
//! the open association at once; HDLC being normal response mode, the notification goes out
//! when the client next polls (here with a request, which the notification answers first).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::AttributeDescriptor;
use meterlab_dlms::hdlc::{HdlcAddress, HdlcClient, HdlcConfig, HdlcEvent};
use meterlab_dlms::obis::Obis;
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, LLS_CLIENT_SAP};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::serial::serve_hdlc;
use meterlab_emulator::serve::{DeviceIndex, Emulator, Incident};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

const START: SimTime = SimTime::from_unix_secs(1_761_955_200);

struct LineClient {
    line: DuplexStream,
    hdlc: HdlcClient,
    association: ClientAssociation,
    started: Instant,
}

impl LineClient {
    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap()
    }

    async fn flush(&mut self) {
        while let Some(frame) = self.hdlc.poll_transmit() {
            self.line.write_all(&frame).await.unwrap();
        }
    }

    async fn next_event(&mut self) -> ClientEvent {
        let mut buffer = [0u8; 1024];
        loop {
            let now = self.now();
            while let Some(apdu) = self.association.poll_transmit() {
                self.hdlc.send_apdu(&apdu, now).unwrap();
            }
            self.flush().await;
            if let Some(event) = self.association.poll_event() {
                return event;
            }
            // A client polls again (RR) when an answer is overdue, as a real one does.
            let read =
                tokio::time::timeout(Duration::from_millis(500), self.line.read(&mut buffer)).await;
            let now = self.now();
            match read {
                Ok(read) => self.hdlc.handle_bytes(&buffer[..read.unwrap()], now),
                Err(_) => {
                    assert!(now < 10_000, "the meter answers");
                    self.hdlc.handle_timeout(now);
                }
            }
            while let Some(event) = self.hdlc.poll_event() {
                match event {
                    HdlcEvent::Apdu(apdu) => self.association.handle_apdu(now, &apdu).unwrap(),
                    HdlcEvent::Connected(_) => {}
                    other => panic!("HDLC: {other:?}"),
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_alert_is_taken_at_once_and_delivered_at_the_next_poll() {
    let emulator = Emulator::new(
        Emulation::build(&Scenario::generated(1), START).unwrap(),
        START,
    );
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(serve_hdlc(emulator.clone(), 0, theirs, "duplex"));
    let mut client = LineClient {
        line: ours,
        hdlc: HdlcClient::new(
            HdlcConfig::default(),
            HdlcAddress::client(LLS_CLIENT_SAP).unwrap(),
            HdlcAddress::four(2, 17).unwrap(),
        ),
        association: ClientAssociation::new(ClientConfig {
            authentication: ClientAuthentication::Lls {
                password: b"00000001".to_vec(),
            },
            ..ClientConfig::default()
        })
        .unwrap(),
        started: Instant::now(),
    };
    client.hdlc.connect(0).unwrap();
    client.flush().await;
    let mut buffer = [0u8; 256];
    while !client.hdlc.is_connected() {
        let read = client.line.read(&mut buffer).await.unwrap();
        let now = client.now();
        client.hdlc.handle_bytes(&buffer[..read], now);
    }
    while client.hdlc.poll_event().is_some() {}
    let now = client.now();
    client.association.connect(now).unwrap();
    assert!(matches!(
        client.next_event().await,
        ClientEvent::Associated { .. }
    ));

    let esme = DeviceIndex { hub: 0, device: 1 };
    emulator.inject(esme, Incident::Tamper);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        emulator.hub(0).unwrap().devices[1].device.pending_alerts(),
        0,
        "the line took the alert for its open association without a request"
    );

    let name = AttributeDescriptor {
        class_id: 1,
        instance: Obis([0, 0, 42, 0, 0, 255]),
        attribute_id: 2,
    };
    let now = client.now();
    client.association.get(now, name, None).unwrap();
    match client.next_event().await {
        ClientEvent::EventNotification(notification) => {
            assert_eq!(notification.value, Data::Unsigned(40));
        }
        other => panic!("expected the tamper notification first, got {other:?}"),
    }
    // The GET's response is queued behind the notification: in normal response mode the
    // secondary sends what it holds when polled, so the client's next poll (RR) collects it.
}
