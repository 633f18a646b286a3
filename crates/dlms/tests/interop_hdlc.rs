//! HDLC interoperability with `dlms-cosem-rs` (an implementation we did not write): our
//! server against its client link, and our client against its server link, in memory.
#![allow(clippy::unwrap_used)]

use dlms_cosem_rs::transport::hdlc::{
    Address, Connection, Event, LLC_REQUEST, LLC_RESPONSE, Parameters, Reassembler, Role,
    decode_frame,
};
use meterlab_dlms::hdlc::{
    HdlcAddress, HdlcClient, HdlcConfig, HdlcEvent, HdlcParameters, HdlcServer,
};

const CLIENT_SAP: u8 = 0x10;

/// Feeds one encoded frame to their station; returns the event and, for LSDUs, the data.
fn their_handle(conn: &mut Connection, bytes: &[u8], rx: &mut Vec<u8>) -> Event {
    let (frame, used) = decode_frame(bytes).unwrap();
    assert_eq!(used, bytes.len());
    let mut buffer = [0u8; 4096];
    let mut reassembler = Reassembler::new(&mut buffer);
    let event = conn.handle(&frame, &mut reassembler).unwrap();
    if event == Event::Lsdu {
        rx.clear();
        rx.extend_from_slice(reassembler.lsdu());
    }
    event
}

fn their_lsdu_frames(conn: &mut Connection, lsdu: &[u8]) -> Vec<Vec<u8>> {
    let mut segmenter = conn.segmenter(lsdu).unwrap();
    let mut frames = Vec::new();
    let mut out = [0u8; 2048];
    while let Some(len) = conn.next_frame(&mut segmenter, &mut out).unwrap() {
        frames.push(out[..len].to_vec());
    }
    frames
}

#[test]
fn their_client_against_our_server() {
    let mut server = HdlcServer::new(
        HdlcConfig::server(),
        HdlcAddress::server(1, Some(0x11)).unwrap(),
    );
    let mut theirs = Connection::new(
        Role::Client,
        Address::client(CLIENT_SAP),
        Address::server(1, 0x11),
        Parameters::default(),
    );
    let mut out = [0u8; 256];
    let len = theirs.connect(&mut out).unwrap();
    server.handle_bytes(&out[..len], 0);
    assert_eq!(
        server.poll_event(),
        Some(HdlcEvent::Connected(HdlcParameters::default()))
    );
    let ua = server.poll_transmit().unwrap();
    let mut rx = Vec::new();
    assert_eq!(their_handle(&mut theirs, &ua, &mut rx), Event::Connected);

    let request = [
        0xC0, 0x01, 0xC1, 0x00, 0x03, 0x01, 0x00, 0x01, 0x08, 0x00, 0xFF, 0x02, 0x00,
    ];
    let lsdu = [&LLC_REQUEST[..], &request].concat();
    for frame in their_lsdu_frames(&mut theirs, &lsdu) {
        server.handle_bytes(&frame, 1);
    }
    assert_eq!(server.poll_event(), Some(HdlcEvent::Apdu(request.to_vec())));
    let response = [0xC4, 0x01, 0xC1, 0x00, 0x06, 0x00, 0x01, 0xE2, 0x40];
    server.send_apdu(&response, 2).unwrap();
    let reply = server.poll_transmit().unwrap();
    assert_eq!(their_handle(&mut theirs, &reply, &mut rx), Event::Lsdu);
    assert_eq!(rx, [&LLC_RESPONSE[..], &response].concat());

    let len = theirs.disconnect(&mut out).unwrap();
    server.handle_bytes(&out[..len], 3);
    let ua = server.poll_transmit().unwrap();
    assert_eq!(their_handle(&mut theirs, &ua, &mut rx), Event::Disconnected);
    assert!(!server.is_connected());
}

#[test]
fn our_client_against_their_server() {
    let server_address = HdlcAddress::server(1, Some(0x11)).unwrap();
    let mut client = HdlcClient::new(
        HdlcConfig::default(),
        HdlcAddress::client(CLIENT_SAP).unwrap(),
        server_address,
    );
    let mut theirs = Connection::new(
        Role::Server,
        Address::server(1, 0x11),
        Address::client(CLIENT_SAP),
        Parameters::default(),
    );
    let mut rx = Vec::new();
    client.connect(0).unwrap();
    let snrm = client.poll_transmit().unwrap();
    assert_eq!(
        their_handle(&mut theirs, &snrm, &mut rx),
        Event::AcknowledgeRequired
    );
    let mut out = [0u8; 256];
    let len = theirs.acknowledge(&mut out).unwrap();
    client.handle_bytes(&out[..len], 1);
    assert!(matches!(client.poll_event(), Some(HdlcEvent::Connected(_))));

    let request = [
        0xC0, 0x01, 0xC1, 0x00, 0x03, 0x01, 0x00, 0x01, 0x08, 0x00, 0xFF, 0x02, 0x00,
    ];
    client.send_apdu(&request, 2).unwrap();
    let frame = client.poll_transmit().unwrap();
    assert_eq!(their_handle(&mut theirs, &frame, &mut rx), Event::Lsdu);
    assert_eq!(rx, [&LLC_REQUEST[..], &request].concat());
    let response = [0xC4, 0x01, 0xC1, 0x00, 0x06, 0x00, 0x01, 0xE2, 0x40];
    for frame in their_lsdu_frames(&mut theirs, &[&LLC_RESPONSE[..], &response].concat()) {
        client.handle_bytes(&frame, 3);
    }
    assert_eq!(
        client.poll_event(),
        Some(HdlcEvent::Apdu(response.to_vec()))
    );
}
