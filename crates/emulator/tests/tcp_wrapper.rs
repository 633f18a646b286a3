//! The TCP wrapper listener on loopback, driven by the `meterlab-dlms` client.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::association::ClientEvent;
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor};
use meterlab_dlms::obis::Obis;
use meterlab_dlms::wrapper;
use meterlab_dlms_driver::{Driver, lls};
use meterlab_emulator::SimTime;
use meterlab_emulator::faults::FaultOverlay;
use meterlab_emulator::hub::{Emulation, LLS_CLIENT_SAP};
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::tcp::serve_tcp;
use meterlab_emulator::serve::{Emulator, FaultScope};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const START: SimTime = SimTime::from_unix_secs(1_761_955_200);

async fn start(hubs: usize) -> (Emulator, std::net::SocketAddr) {
    let emulation = Emulation::build(&Scenario::generated(hubs), START).unwrap();
    let emulator = Emulator::new(emulation, START);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve_tcp(emulator.clone(), listener));
    (emulator, address)
}

const PATIENCE: Duration = Duration::from_secs(5);

struct Client {
    driver: Driver<TcpStream>,
}

impl Client {
    async fn connect(address: std::net::SocketAddr, wport: u16, sap: u8, password: &str) -> Self {
        let stream = TcpStream::connect(address).await.unwrap();
        Self {
            driver: Driver::wrapper(stream, sap, wport, lls(password.as_bytes())),
        }
    }

    async fn associate(&mut self) -> ClientEvent {
        self.driver.associate(PATIENCE).await.unwrap()
    }

    async fn get(
        &mut self,
        class_id: u16,
        obis: [u8; 6],
        attribute: i8,
    ) -> Result<Data, DataAccessResult> {
        let descriptor = AttributeDescriptor {
            class_id,
            instance: Obis(obis),
            attribute_id: attribute,
        };
        self.driver.get(descriptor, None, PATIENCE).await.unwrap()
    }
}

const LDN: [u8; 6] = [0, 0, 42, 0, 0, 255];

#[tokio::test]
async fn devices_are_reached_by_wport_over_one_port() {
    let (_emulator, address) = start(3).await;
    // Hub 3's ESME is wPort 3*2 + 2 = 8; its GSME 9.
    for (wport, name) in [
        (8u16, b"MLBE000000000003"),
        (9, b"MLBG000000000003"),
        (1, b"MLBH000000000001"),
    ] {
        let mut client = Client::connect(address, wport, LLS_CLIENT_SAP, "00000001").await;
        assert!(matches!(
            client.associate().await,
            ClientEvent::Associated { .. }
        ));
        assert_eq!(
            client.get(1, LDN, 2).await,
            Ok(Data::OctetString(name.to_vec()))
        );
        let energy = if wport == 9 {
            [7, 0, 3, 0, 0, 255]
        } else {
            [1, 0, 1, 8, 0, 255]
        };
        let energy = client.get(3, energy, 2).await;
        if wport == 1 {
            assert_eq!(
                energy,
                Err(DataAccessResult::ObjectUndefined),
                "a hub has no register"
            );
        } else {
            assert!(
                matches!(energy, Ok(Data::DoubleLongUnsigned(_))),
                "{energy:?}"
            );
        }
    }
}

#[tokio::test]
async fn garbage_on_one_connection_does_not_disturb_another() {
    let (_emulator, address) = start(1).await;
    let mut good = Client::connect(address, 2, LLS_CLIENT_SAP, "00000001").await;
    assert!(matches!(
        good.associate().await,
        ClientEvent::Associated { .. }
    ));
    let mut bad = TcpStream::connect(address).await.unwrap();
    // Wrong version, an oversize length, a half PDU, then an APDU that is not one.
    bad.write_all(&[0x00, 0x02, 0x00, 0x01, 0x00, 0x02, 0x00, 0x04, 1, 2, 3, 4])
        .await
        .unwrap();
    bad.write_all(&[0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0xFF, 0xFF, 9, 9])
        .await
        .unwrap();
    bad.write_all(&wrapper::encode(1, 2, &[0xC0, 0x01, 0x00]).unwrap())
        .await
        .unwrap();
    bad.write_all(&[0x00, 0x01, 0x00, 0x01]).await.unwrap();
    assert_eq!(
        good.get(1, LDN, 2).await,
        Ok(Data::OctetString(b"MLBE000000000001".to_vec()))
    );
    drop(bad);
    assert!(good.get(1, LDN, 2).await.is_ok());
}

#[tokio::test]
async fn disconnect_action_over_tcp_and_run_time_faults() {
    let (emulator, address) = start(1).await;
    let mut client = Client::connect(address, 2, LLS_CLIENT_SAP, "00000001").await;
    assert!(matches!(
        client.associate().await,
        ClientEvent::Associated { .. }
    ));
    let method = MethodDescriptor {
        class_id: 70,
        instance: Obis([0, 0, 96, 3, 10, 255]),
        method_id: 1,
    };
    assert!(matches!(
        client
            .driver
            .action(method, Some(Data::Integer(0)), PATIENCE)
            .await
            .unwrap(),
        ClientEvent::ActionCompleted {
            result: DataAccessResult::Success,
            ..
        }
    ));
    assert_eq!(
        client.get(70, [0, 0, 96, 3, 10, 255], 2).await,
        Ok(Data::Boolean(false))
    );

    // Refusing associations at run time affects new associations only.
    let touched = emulator.set_faults(
        &FaultScope::Device("hub-00001.esme".into()),
        &FaultOverlay {
            refuse_associations: Some(true),
            ..FaultOverlay::default()
        },
    );
    assert_eq!(touched, 1);
    let mut refused = Client::connect(address, 2, LLS_CLIENT_SAP, "00000001").await;
    assert!(matches!(
        refused.associate().await,
        ClientEvent::Rejected { .. }
    ));
    let mut gas = Client::connect(address, 3, LLS_CLIENT_SAP, "00000001").await;
    assert!(matches!(
        gas.associate().await,
        ClientEvent::Associated { .. }
    ));
}
