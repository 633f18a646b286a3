//! Application-level interoperability over the IEC 62056-47 wrapper: the `dlms-cosem-rs`
//! client session (an implementation we did not write) associates with our
//! `ServerConnection` and reads a register.
#![allow(clippy::unwrap_used)]

use dlms_cosem_rs::client::{
    AssociationStep, ClientConfig as TheirClientConfig, ClientSession, Response,
};
use dlms_cosem_rs::security::{KeyRing, RandomSource, RustCryptoProvider};
use dlms_cosem_rs::transport::wrapper::StreamReassembler;
use dlms_cosem_rs::xdlms::AttributeDescriptor as TheirAttribute;
use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::association::{
    CosemObjectModel, RequestContext, ServerAssociation, ServerConfig,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::connection::{ServerConnection, ServerTransport, WrapperLink};
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess, class_id};
use meterlab_dlms::obis::Obis;
use meterlab_dlms::wrapper;

const ENERGY: Obis = Obis::new(1, 0, 1, 8, 0, 255);
const CLIENT_WPORT: u16 = 0x10;
const SERVER_WPORT: u16 = 0x01;

struct FixedRng;

impl RandomSource for FixedRng {
    fn fill(&self, out: &mut [u8]) -> dlms_cosem_rs::codec::Result<()> {
        out.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = 0x40 ^ i as u8);
        Ok(())
    }
}

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

/// Sends one of their APDUs through our server and returns the APDU our server answered with,
/// unwrapped by their wrapper reassembler.
fn exchange(server: &mut ServerConnection, apdu: &[u8], now: u64) -> Vec<u8> {
    let wpdu = wrapper::encode(CLIENT_WPORT, SERVER_WPORT, apdu).unwrap();
    server.handle_bytes(&wpdu, now, &mut Meter);
    let reply = server.poll_transmit().expect("our server answered");
    let (pdu, used) = StreamReassembler::default()
        .next_pdu(&reply)
        .unwrap()
        .expect("one whole WPDU");
    assert_eq!(used, reply.len());
    assert_eq!(
        (pdu.header.source, pdu.header.destination),
        (SERVER_WPORT, CLIENT_WPORT)
    );
    pdu.apdu.to_vec()
}

#[test]
fn their_client_reads_a_register_from_our_server() {
    let mut server = ServerConnection::new(
        ServerTransport::Wrapper(WrapperLink::new(SERVER_WPORT, CLIENT_WPORT, 4096)),
        ServerAssociation::new(ServerConfig::default()).unwrap(),
    );
    let mut client: ClientSession<_> = ClientSession::new(
        TheirClientConfig {
            client_sap: 0x10,
            ..Default::default()
        },
        RustCryptoProvider::with_rng(KeyRing::new([0; 16], [0; 16]), FixedRng),
    );
    let mut out = [0u8; 1024];
    let n = client.associate_request(&mut out).unwrap();
    let aare = exchange(&mut server, &out[..n], 0);
    assert_eq!(
        client.handle_associate_response(&aare).unwrap(),
        AssociationStep::Established
    );

    let n = client
        .get_request(
            TheirAttribute::new(3, dlms_cosem_rs::obis::Obis::new(1, 0, 1, 8, 0, 255), 2),
            None,
            &mut out,
        )
        .unwrap();
    let response = exchange(&mut server, &out[..n], 1);
    let mut plain = [0u8; 1024];
    match client.handle_response(&response, &mut plain).unwrap() {
        Response::Data(value) => assert_eq!(value.as_u64(), Some(123_456)),
        other => panic!("unexpected response {other:?}"),
    }
}

/// Their meter model: one register.
struct TheirMeter;

impl dlms_cosem_rs::server::ObjectStore for TheirMeter {
    fn get_attribute(
        &self,
        class_id: u16,
        logical_name: dlms_cosem_rs::obis::Obis,
        attribute_id: i8,
        _: Option<dlms_cosem_rs::xdlms::SelectiveAccess<'_>>,
        w: &mut dyn dlms_cosem_rs::codec::Writer,
    ) -> dlms_cosem_rs::server::StoreResult<()> {
        use dlms_cosem_rs::codec::Encode;
        use dlms_cosem_rs::xdlms::DataAccessResult as TheirResult;
        if (class_id, logical_name.as_bytes(), attribute_id) == (3, &[1, 0, 1, 8, 0, 255], 2) {
            dlms_cosem_rs::axdr::Data::DoubleLongUnsigned(654_321)
                .encode(w)
                .map_err(|_| TheirResult::OtherReason)
        } else {
            Err(TheirResult::ObjectUndefined)
        }
    }

    fn attribute_access(
        &self,
        _: u16,
        _: dlms_cosem_rs::obis::Obis,
        _: i8,
    ) -> dlms_cosem_rs::cosem::AttributeAccess {
        dlms_cosem_rs::cosem::AttributeAccess::READ
    }
}

#[test]
fn our_client_reads_a_register_from_their_server() {
    use meterlab_dlms::association::{ClientAssociation, ClientConfig, ClientEvent};
    use meterlab_dlms::connection::{ClientConnection, ClientConnectionEvent, ClientTransport};

    let mut theirs: dlms_cosem_rs::server::Server<_, _> = dlms_cosem_rs::server::Server::new(
        dlms_cosem_rs::server::ServerConfig::default(),
        TheirMeter,
        RustCryptoProvider::with_rng(KeyRing::new([0; 16], [0; 16]), FixedRng),
    );
    let mut client = ClientConnection::new(
        ClientTransport::Wrapper(WrapperLink::new(CLIENT_WPORT, SERVER_WPORT, 4096)),
        ClientAssociation::new(ClientConfig::default()).unwrap(),
    );
    let mut events = Vec::new();
    let mut pump =
        |client: &mut ClientConnection, events: &mut Vec<ClientConnectionEvent>, now: u64| {
            while let Some(bytes) = client.poll_transmit() {
                let (pdu, _) = StreamReassembler::default()
                    .next_pdu(&bytes)
                    .unwrap()
                    .unwrap();
                let mut out = [0u8; 2048];
                let n = theirs.handle(pdu.apdu, &mut out).unwrap();
                client.handle_bytes(
                    &wrapper::encode(SERVER_WPORT, CLIENT_WPORT, &out[..n]).unwrap(),
                    now,
                );
            }
            events.extend(std::iter::from_fn(|| client.poll_event()));
        };
    client.connect(0).unwrap();
    pump(&mut client, &mut events, 0);
    assert!(
        events.iter().any(|e| matches!(
            e,
            ClientConnectionEvent::Association(ClientEvent::Associated { .. })
        )),
        "{events:?}"
    );
    let id = client
        .get(
            1,
            AttributeDescriptor::new(class_id::REGISTER, ENERGY, 2),
            None,
        )
        .unwrap();
    pump(&mut client, &mut events, 1);
    let result = events.iter().find_map(|e| match e {
        ClientConnectionEvent::Association(ClientEvent::GetCompleted { invoke_id, result })
            if *invoke_id == id =>
        {
            Some(result.clone())
        }
        _ => None,
    });
    assert_eq!(
        result,
        Some(Ok(Data::DoubleLongUnsigned(654_321))),
        "{events:?}"
    );
}
