//! ClientConnection against ServerConnection in memory: association and a full GET over HDLC
//! (clean and lossy) and over the TCP wrapper.
#![allow(clippy::unwrap_used)]

mod pair_support;

use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::association::{
    ClientAssociation, ClientConfig, ClientEvent, CosemObjectModel, RequestContext,
    ServerAssociation, ServerConfig,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::connection::{
    ClientConnection, ClientConnectionEvent, ClientTransport, ServerConnection,
    ServerConnectionEvent, ServerTransport, WrapperLink,
};
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess, class_id};
use meterlab_dlms::hdlc::{HdlcClient, HdlcConfig, HdlcParameters, HdlcServer};
use meterlab_dlms::obis::Obis;
use pair_support::{Channel, client_address, server_address};

const ENERGY: Obis = Obis::new(1, 0, 1, 8, 0, 255);
const NAME: Obis = Obis::new(0, 0, 96, 1, 0, 255);

struct Meter;

impl CosemObjectModel for Meter {
    fn get(
        &mut self,
        _: &RequestContext,
        a: &AttributeDescriptor,
        _: Option<&SelectiveAccess>,
    ) -> Result<Data, DataAccessResult> {
        match (a.class_id, a.instance, a.attribute_id) {
            (class_id::REGISTER, ENERGY, 2) => Ok(Data::DoubleLongUnsigned(123_456)),
            // Long enough to need several HDLC segments.
            (class_id::DATA, NAME, 2) => {
                Ok(Data::OctetString((0..600u32).map(|i| i as u8).collect()))
            }
            _ => Err(DataAccessResult::ObjectUndefined),
        }
    }

    fn set(
        &mut self,
        _: &RequestContext,
        _: &AttributeDescriptor,
        _: Option<&SelectiveAccess>,
        _: Data,
    ) -> Result<(), DataAccessResult> {
        Err(DataAccessResult::ReadWriteDenied)
    }

    fn action(
        &mut self,
        _: &RequestContext,
        _: &MethodDescriptor,
        _: Option<&Data>,
    ) -> Result<Option<Data>, DataAccessResult> {
        Err(DataAccessResult::ReadWriteDenied)
    }
}

struct ConnectionPair {
    client: ClientConnection,
    server: ServerConnection,
    model: Meter,
    now: u64,
    to_server: Channel,
    to_client: Channel,
    client_events: Vec<ClientConnectionEvent>,
    server_events: Vec<ServerConnectionEvent>,
}

impl ConnectionPair {
    fn new(client: ClientTransport, server: ServerTransport) -> Self {
        Self {
            client: ClientConnection::new(
                client,
                ClientAssociation::new(ClientConfig::default()).unwrap(),
            ),
            server: ServerConnection::new(
                server,
                ServerAssociation::new(ServerConfig::default()).unwrap(),
            ),
            model: Meter,
            now: 0,
            to_server: Channel::perfect(),
            to_client: Channel::perfect(),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    fn hdlc(params: HdlcParameters) -> Self {
        let config = HdlcConfig {
            parameters: params,
            ..HdlcConfig::default()
        };
        Self::new(
            ClientTransport::Hdlc(HdlcClient::new(
                config.clone(),
                client_address(),
                server_address(),
            )),
            ServerTransport::Hdlc(HdlcServer::new(
                HdlcConfig {
                    parameters: params,
                    ..HdlcConfig::server()
                },
                server_address(),
            )),
        )
    }

    fn wrapper() -> Self {
        Self::new(
            ClientTransport::Wrapper(WrapperLink::new(0x10, 0x01, 4096)),
            ServerTransport::Wrapper(WrapperLink::new(0x01, 0x10, 4096)),
        )
    }

    fn drive_until(&mut self, deadline: u64, done: impl Fn(&Self) -> bool) -> bool {
        loop {
            let mut moved = true;
            while moved {
                moved = false;
                while let Some(bytes) = self.client.poll_transmit() {
                    moved = true;
                    self.now += 1;
                    for read in self.to_server.carry(bytes) {
                        self.server.handle_bytes(&read, self.now, &mut self.model);
                    }
                }
                while let Some(bytes) = self.server.poll_transmit() {
                    moved = true;
                    self.now += 1;
                    for read in self.to_client.carry(bytes) {
                        self.client.handle_bytes(&read, self.now);
                    }
                }
                self.client_events
                    .extend(std::iter::from_fn(|| self.client.poll_event()));
                self.server_events
                    .extend(std::iter::from_fn(|| self.server.poll_event()));
                if done(self) {
                    return true;
                }
            }
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= deadline => {
                    self.now = self.now.max(at);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now, &mut self.model);
                }
                _ => return false,
            }
        }
    }

    fn associated(&self) -> bool {
        self.client_events.iter().any(|e| {
            matches!(
                e,
                ClientConnectionEvent::Association(ClientEvent::Associated { .. })
            )
        })
    }

    fn get(&mut self, attribute: AttributeDescriptor) -> Result<Data, DataAccessResult> {
        let id = self.client.get(self.now, attribute, None).unwrap();
        let done = self.drive_until(self.now + 600_000, |p| p.completed(id).is_some());
        assert!(done, "GET {id} never completed: {:?}", self.client_events);
        self.completed(id).unwrap()
    }

    fn completed(&self, id: u8) -> Option<Result<Data, DataAccessResult>> {
        self.client_events.iter().rev().find_map(|e| match e {
            ClientConnectionEvent::Association(ClientEvent::GetCompleted { invoke_id, result })
                if *invoke_id == id =>
            {
                Some(result.clone())
            }
            _ => None,
        })
    }
}

fn full_get(pair: &mut ConnectionPair) {
    pair.client.connect(pair.now).unwrap();
    assert!(
        pair.drive_until(pair.now + 60_000, ConnectionPair::associated),
        "{:?}",
        pair.client_events
    );
    assert_eq!(pair.client_events[0], ClientConnectionEvent::LinkUp);
    let energy = AttributeDescriptor::new(class_id::REGISTER, ENERGY, 2);
    assert_eq!(pair.get(energy), Ok(Data::DoubleLongUnsigned(123_456)));
    let name = AttributeDescriptor::new(class_id::DATA, NAME, 2);
    assert_eq!(
        pair.get(name),
        Ok(Data::OctetString((0..600u32).map(|i| i as u8).collect()))
    );
    let missing = AttributeDescriptor::new(class_id::DATA, Obis::new(9, 9, 9, 9, 9, 9), 2);
    assert_eq!(pair.get(missing), Err(DataAccessResult::ObjectUndefined));
}

#[test]
fn full_get_over_hdlc() {
    let mut pair = ConnectionPair::hdlc(HdlcParameters::default());
    full_get(&mut pair);
    pair.client.release(pair.now).unwrap();
    pair.drive_until(pair.now + 10_000, |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, ClientConnectionEvent::Association(ClientEvent::Released)))
    });
    pair.client.disconnect(pair.now).unwrap();
    assert!(pair.drive_until(pair.now + 10_000, |p| {
        p.server_events
            .iter()
            .any(|e| matches!(e, ServerConnectionEvent::LinkDown(_)))
    }));
    assert!(
        pair.client_events
            .iter()
            .any(|e| matches!(e, ClientConnectionEvent::LinkDown(_)))
    );
}

#[test]
fn full_get_over_hdlc_with_small_frames_and_a_window() {
    let params = HdlcParameters {
        max_info_tx: 40,
        max_info_rx: 40,
        window_tx: 3,
        window_rx: 3,
    };
    full_get(&mut ConnectionPair::hdlc(params));
}

#[test]
fn full_get_over_a_lossy_hdlc_link() {
    for seed in 0..8 {
        let mut pair = ConnectionPair::hdlc(HdlcParameters::default());
        // The association's response time-out must outlast HDLC's whole retry budget
        // (response_timeout_ms x (max_retries + 1)), or it gives up while HDLC is still recovering.
        let hdlc = HdlcConfig {
            response_timeout_ms: 1_000,
            max_retries: 8,
            ..HdlcConfig::default()
        };
        let association = ClientConfig {
            response_timeout_ms: 30_000,
            ..ClientConfig::default()
        };
        pair.client = ClientConnection::new(
            ClientTransport::Hdlc(HdlcClient::new(hdlc, client_address(), server_address())),
            ClientAssociation::new(association).unwrap(),
        );
        pair.to_server = Channel::lossy(seed, 100, 50);
        pair.to_client = Channel::lossy(seed + 100, 100, 50);
        full_get(&mut pair);
        assert!(
            pair.to_server.dropped + pair.to_client.dropped > 0,
            "seed {seed} lost nothing"
        );
    }
}

#[test]
fn full_get_over_the_wrapper() {
    full_get(&mut ConnectionPair::wrapper());
}
