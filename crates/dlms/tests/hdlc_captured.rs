//! Byte sequences published as DLMS/COSEM examples (the DLMS UA "Examples for DLMS/COSEM
//! information exchange" by Gyozo Kmethy, and a GET request frame posted on the Gurux forum),
//! checked against our codec and both stations.
#![allow(clippy::unwrap_used)]

use meterlab_dlms::crc::crc16;
use meterlab_dlms::hdlc::{
    Control, Frame, HdlcAddress, HdlcClient, HdlcConfig, HdlcEvent, HdlcParameters, HdlcServer,
};

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

const SNRM: &str = "7EA00A00020023219318717E";
const UA: &str = "7EA023210002002373F6C58180140502008006020080070400000001080400000001CE6A7E";
const AARQ_FRAME: &str = "7EA02E0002002321107ECBE6E600601DA109060760857405080101BE10040E01000000065F1F040000301DFFFFD4C57E";
const AARQ: &str = "601DA109060760857405080101BE10040E01000000065F1F040000301DFFFF";
const GURUX_GET: &str = "7EA0190341B23239E6E600C001C1000F0000280000FF0100F9797E";

fn server_address() -> HdlcAddress {
    HdlcAddress::four(1, 0x11).unwrap()
}

/// The example's comment calls it "0x01", but 0x21 on the wire is SAP 0x10, the public client.
fn client_address() -> HdlcAddress {
    HdlcAddress::client(0x10).unwrap()
}

#[test]
fn crc_catalogue_check_value() {
    assert_eq!(crc16(b"123456789"), 0x906E);
}

#[test]
fn snrm_decodes_and_reencodes() {
    let bytes = hex(SNRM);
    let frame = Frame::decode(&bytes).unwrap();
    assert_eq!(frame.destination, server_address());
    assert_eq!(frame.source, client_address());
    assert_eq!(frame.control, Control::Snrm { pf: true });
    assert!(frame.info.is_empty());
    assert_eq!(frame.encode().unwrap(), bytes);
}

#[test]
fn ua_decodes_with_default_parameters() {
    let bytes = hex(UA);
    let frame = Frame::decode(&bytes).unwrap();
    assert_eq!(frame.control, Control::Ua { pf: true });
    assert_eq!(
        HdlcParameters::decode(&frame.info).unwrap(),
        HdlcParameters::default()
    );
    assert_eq!(frame.encode().unwrap(), bytes);
}

#[test]
fn aarq_i_frame_decodes() {
    let bytes = hex(AARQ_FRAME);
    let frame = Frame::decode(&bytes).unwrap();
    assert_eq!(
        frame.control,
        Control::I {
            ns: 0,
            nr: 0,
            pf: true
        }
    );
    assert!(!frame.segmented);
    assert_eq!(frame.info[..3], [0xE6, 0xE6, 0x00]);
    assert_eq!(frame.info[3..], hex(AARQ)[..]);
    assert_eq!(frame.encode().unwrap(), bytes);
}

#[test]
fn gurux_get_request_frame_decodes() {
    let bytes = hex(GURUX_GET);
    let frame = Frame::decode(&bytes).unwrap();
    assert_eq!(frame.destination, HdlcAddress::One(1));
    assert_eq!(frame.source, HdlcAddress::client(0x20).unwrap());
    assert_eq!(
        frame.control,
        Control::I {
            ns: 1,
            nr: 5,
            pf: true
        }
    );
    assert_eq!(frame.info, hex("E6E600C001C1000F0000280000FF0100"));
    assert_eq!(frame.encode().unwrap(), bytes);
}

#[test]
fn corrupting_any_byte_of_a_captured_frame_is_detected() {
    let bytes = hex(AARQ_FRAME);
    for index in 1..bytes.len() - 1 {
        let mut corrupted = bytes.clone();
        corrupted[index] ^= 0x01;
        assert!(
            Frame::decode(&corrupted).is_err(),
            "flip at {index} went unnoticed"
        );
    }
}

#[test]
fn client_sends_the_published_snrm_and_aarq() {
    let mut client = HdlcClient::new(HdlcConfig::default(), client_address(), server_address());
    client.connect(0).unwrap();
    assert_eq!(client.poll_transmit().unwrap(), hex(SNRM));
    client.handle_bytes(&hex(UA), 10);
    assert_eq!(
        client.poll_event(),
        Some(HdlcEvent::Connected(HdlcParameters::default()))
    );
    client.send_apdu(&hex(AARQ), 20).unwrap();
    assert_eq!(client.poll_transmit().unwrap(), hex(AARQ_FRAME));
    assert_eq!(client.poll_transmit(), None);
}

#[test]
fn server_answers_the_published_snrm_with_the_published_ua() {
    let mut server = HdlcServer::new(HdlcConfig::server(), server_address());
    server.handle_bytes(&hex(SNRM), 0);
    assert_eq!(server.poll_transmit().unwrap(), hex(UA));
    assert_eq!(
        server.poll_event(),
        Some(HdlcEvent::Connected(HdlcParameters::default()))
    );
    server.handle_bytes(&hex(AARQ_FRAME), 10);
    assert_eq!(server.poll_event(), Some(HdlcEvent::Apdu(hex(AARQ))));
    // The poll is held for the application's AARE.
    assert_eq!(server.poll_transmit(), None);
    server.send_apdu(&[0x61, 0x00], 20).unwrap();
    let reply = Frame::decode(&server.poll_transmit().unwrap()).unwrap();
    assert_eq!(
        reply.control,
        Control::I {
            ns: 0,
            nr: 1,
            pf: true
        }
    );
    assert_eq!(reply.info, [0xE6, 0xE7, 0x00, 0x61, 0x00]);
}
