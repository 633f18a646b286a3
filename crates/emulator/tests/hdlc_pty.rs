//! HDLC on a pseudo-terminal: the `meterlab-dlms` HDLC client and association read an emulated
//! meter through the PTY path, garbage on the line is survived, and writes are paced.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor};
use meterlab_dlms::hdlc::{HdlcAddress, HdlcClient, HdlcConfig, HdlcEvent};
use meterlab_dlms::obis::Obis;
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, LLS_CLIENT_SAP};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::Emulator;
use meterlab_emulator::serve::serial::{open_hub_line, serve_hub_line, write_paced};
use meterlab_link::{LineSettings, Pacer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::SerialPortBuilderExt;

const START: SimTime = SimTime::from_unix_secs(1_761_955_200);

struct SerialClient {
    port: tokio_serial::SerialStream,
    hdlc: HdlcClient,
    association: ClientAssociation,
    started: tokio::time::Instant,
}

impl SerialClient {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn flush(&mut self) {
        while let Some(frame) = self.hdlc.poll_transmit() {
            self.port.write_all(&frame).await.unwrap();
        }
    }

    /// Runs until the association reports an event.
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
            let read =
                tokio::time::timeout(Duration::from_millis(500), self.port.read(&mut buffer)).await;
            let now = self.now();
            match read {
                Ok(read) => self.hdlc.handle_bytes(&buffer[..read.unwrap()], now),
                Err(_) => self.hdlc.handle_timeout(now),
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

async fn start() -> (Emulator, String) {
    let emulation = Emulation::build(&Scenario::generated(1), START).unwrap();
    let emulator = Emulator::new(emulation, START);
    let line = open_hub_line().unwrap();
    let path = line.path.clone();
    tokio::spawn(serve_hub_line(emulator.clone(), 0, line));
    (emulator, path)
}

async fn connect(path: &str, logical: u16) -> SerialClient {
    let port = tokio_serial::new(path, 9600).open_native_async().unwrap();
    let mut client = SerialClient {
        port,
        hdlc: HdlcClient::new(
            HdlcConfig::default(),
            HdlcAddress::client(LLS_CLIENT_SAP).unwrap(),
            HdlcAddress::four(logical, 17).unwrap(),
        ),
        association: ClientAssociation::new(ClientConfig {
            authentication: ClientAuthentication::Lls {
                password: b"00000001".to_vec(),
            },
            ..ClientConfig::default()
        })
        .unwrap(),
        started: tokio::time::Instant::now(),
    };
    client.hdlc.connect(0).unwrap();
    client.flush().await;
    let mut buffer = [0u8; 256];
    while !client.hdlc.is_connected() {
        let read = tokio::time::timeout(Duration::from_secs(3), client.port.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        let now = client.now();
        client.hdlc.handle_bytes(&buffer[..read], now);
    }
    while client.hdlc.poll_event().is_some() {}
    client
}

#[tokio::test]
async fn an_hdlc_client_reads_and_disconnects_through_the_pty() {
    let (_emulator, path) = start().await;
    assert!(path.starts_with("/dev/"), "{path}");
    let mut client = connect(&path, 2).await;
    client.association.connect(client.now()).unwrap();
    assert!(matches!(
        client.next_event().await,
        ClientEvent::Associated { .. }
    ));
    let name = AttributeDescriptor {
        class_id: 1,
        instance: Obis([0, 0, 42, 0, 0, 255]),
        attribute_id: 2,
    };
    client.association.get(client.now(), name, None).unwrap();
    match client.next_event().await {
        ClientEvent::GetCompleted { result, .. } => {
            assert_eq!(result, Ok(Data::OctetString(b"MLBE000000000001".to_vec())))
        }
        other => panic!("{other:?}"),
    }
    // A load profile read is long enough to need HDLC segmentation at 128-byte frames.
    let profile = AttributeDescriptor {
        class_id: 7,
        instance: Obis([1, 0, 99, 1, 0, 255]),
        attribute_id: 2,
    };
    client.association.get(client.now(), profile, None).unwrap();
    match client.next_event().await {
        ClientEvent::GetCompleted {
            result: Ok(Data::Array(rows)),
            ..
        } => assert_eq!(rows.len(), 48),
        other => panic!("{other:?}"),
    }
    let disconnect = MethodDescriptor {
        class_id: 70,
        instance: Obis([0, 0, 96, 3, 10, 255]),
        method_id: 1,
    };
    client
        .association
        .action(client.now(), disconnect, Some(Data::Integer(0)))
        .unwrap();
    assert!(matches!(
        client.next_event().await,
        ClientEvent::ActionCompleted { .. }
    ));
}

#[tokio::test]
async fn line_noise_and_half_frames_do_not_stop_the_line() {
    let (_emulator, path) = start().await;
    let mut noise = tokio_serial::new(&path, 9600).open_native_async().unwrap();
    // Garbage, a frame with a bad FCS, and half a frame followed by silence.
    noise
        .write_all(&[0x00, 0xFF, 0x7E, 0x7E, 0x42])
        .await
        .unwrap();
    noise
        .write_all(&[
            0x7E, 0xA0, 0x0A, 0x00, 0x02, 0x00, 0x23, 0x03, 0x93, 0x00, 0x00, 0x7E,
        ])
        .await
        .unwrap();
    noise.write_all(&[0x7E, 0xA0, 0x20, 0x00]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(noise);
    // The deframer resynchronises on the next flag: a proper client then connects.
    let mut client = connect(&path, 3).await;
    client.association.connect(client.now()).unwrap();
    assert!(matches!(
        client.next_event().await,
        ClientEvent::Associated { .. }
    ));
}

/// Pacing accuracy on a real PTY: 1200 bytes at 9600 baud 8N1 is 1.25 s of line time.
#[tokio::test]
#[allow(
    clippy::disallowed_methods,
    reason = "pacing on a real PTY is measured in real time"
)]
async fn paced_writes_take_the_wire_time_within_two_percent() {
    let (mut master, slave) = tokio_serial::SerialStream::pair().unwrap();
    let mut reader = slave;
    let mut pacer = Pacer::new(LineSettings::eight_n_one(9600));
    let payload = vec![0x55u8; 1200];
    let wire = LineSettings::eight_n_one(9600).transmit_time(payload.len());
    let started = std::time::Instant::now();
    let writer = tokio::spawn(async move {
        write_paced(&mut master, &mut pacer, &payload)
            .await
            .unwrap();
        master
    });
    let mut received = 0;
    let mut buffer = [0u8; 512];
    while received < 1200 {
        received += reader.read(&mut buffer).await.unwrap();
    }
    let _master = writer.await.unwrap();
    let elapsed = started.elapsed();
    let error = (elapsed.as_secs_f64() - wire.as_secs_f64()).abs() / wire.as_secs_f64();
    eprintln!(
        "paced 1200 bytes at 9600 baud: {elapsed:?} for {wire:?} of line time ({:.2} %)",
        error * 100.0
    );
    assert!(error < 0.02, "{elapsed:?} vs {wire:?}");
}
