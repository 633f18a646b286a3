//! How the server answers malformed or unexpected input: as a meter would, with FRMR, DM or
//! silence.
#![allow(clippy::unwrap_used)]

use meterlab_dlms::hdlc::{
    Control, DisconnectReason, Frame, FrameReject, HdlcAddress, HdlcConfig, HdlcEvent,
    HdlcParameters, HdlcServer,
};

fn server_address() -> HdlcAddress {
    HdlcAddress::One(1)
}

fn client_address() -> HdlcAddress {
    HdlcAddress::One(0x10)
}

fn command(control: Control, info: &[u8]) -> Vec<u8> {
    Frame {
        segmented: false,
        destination: server_address(),
        source: client_address(),
        control,
        info: info.to_vec(),
    }
    .encode()
    .unwrap()
}

fn replies(server: &mut HdlcServer) -> Vec<Frame> {
    std::iter::from_fn(|| server.poll_transmit())
        .map(|b| Frame::decode(&b).unwrap())
        .collect()
}

fn connected_server() -> HdlcServer {
    let mut server = HdlcServer::new(HdlcConfig::server(), server_address());
    server.handle_bytes(&command(Control::Snrm { pf: true }, &[]), 0);
    let ua = replies(&mut server);
    assert_eq!(ua.len(), 1);
    assert_eq!(ua[0].control, Control::Ua { pf: true });
    assert_eq!(ua[0].destination, client_address());
    assert_eq!(
        server.poll_event(),
        Some(HdlcEvent::Connected(HdlcParameters::default()))
    );
    server
}

fn single_reject(server: &mut HdlcServer) -> FrameReject {
    let replies = replies(server);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].control, Control::Frmr { pf: true });
    FrameReject::decode(&replies[0].info).unwrap()
}

#[test]
fn poll_in_disconnected_mode_gets_dm() {
    let mut server = HdlcServer::new(HdlcConfig::server(), server_address());
    for control in [
        Control::I {
            ns: 0,
            nr: 0,
            pf: true,
        },
        Control::Rr { nr: 0, pf: true },
        Control::Disc { pf: true },
    ] {
        let info: &[u8] = if matches!(control, Control::I { .. }) {
            &[0xE6, 0xE6, 0x00, 0xC0]
        } else {
            &[]
        };
        server.handle_bytes(&command(control, info), 0);
        let reply = replies(&mut server);
        assert_eq!(reply.len(), 1);
        assert_eq!(reply[0].control, Control::Dm { pf: true });
    }
    assert_eq!(server.poll_event(), None);
}

#[test]
fn no_poll_no_answer_in_disconnected_mode() {
    let mut server = HdlcServer::new(HdlcConfig::server(), server_address());
    server.handle_bytes(&command(Control::Rr { nr: 0, pf: false }, &[]), 0);
    assert!(replies(&mut server).is_empty());
}

#[test]
fn bad_checksums_and_foreign_addresses_get_silence() {
    let mut server = connected_server();
    let mut bad_fcs = command(Control::Rr { nr: 0, pf: true }, &[]);
    let fcs_at = bad_fcs.len() - 2;
    bad_fcs[fcs_at] ^= 0xFF;
    server.handle_bytes(&bad_fcs, 1);
    let mut bad_hcs = command(
        Control::I {
            ns: 0,
            nr: 0,
            pf: true,
        },
        &[0xE6, 0xE6, 0x00, 0xC0],
    );
    bad_hcs[6] ^= 0x10;
    server.handle_bytes(&bad_hcs, 1);
    let other = Frame::new(
        HdlcAddress::One(2),
        client_address(),
        Control::Rr { nr: 0, pf: true },
    );
    server.handle_bytes(&other.encode().unwrap(), 1);
    server.handle_bytes(&[0x00, 0x7E, 0x7E, 0xA0, 0xFF, 0x12, 0x7E], 1);
    assert!(replies(&mut server).is_empty());
    assert_eq!(
        server.stats().frames_received,
        1,
        "only the SNRM was for us"
    );
    assert!(server.stats().frame_errors >= 3);
}

#[test]
fn undefined_control_gets_frmr_w() {
    let mut server = connected_server();
    // 0x19 is REJ with P set, which this profile does not use.
    server.handle_bytes(&command(Control::from_byte(0x19), &[]), 1);
    let reject = single_reject(&mut server);
    assert!(reject.undefined_control);
    assert_eq!(reject.rejected_control, 0x19);
}

#[test]
fn information_on_rr_gets_frmr_x() {
    let mut server = connected_server();
    server.handle_bytes(&command(Control::Rr { nr: 0, pf: true }, &[1, 2, 3]), 1);
    assert!(single_reject(&mut server).information_not_permitted);
}

#[test]
fn oversized_information_gets_frmr_y() {
    let mut server = connected_server();
    let info = vec![0xAA; 129];
    server.handle_bytes(
        &command(
            Control::I {
                ns: 0,
                nr: 0,
                pf: true,
            },
            &info,
        ),
        1,
    );
    assert!(single_reject(&mut server).information_too_long);
}

#[test]
fn invalid_nr_gets_frmr_z_and_the_reject_persists_until_snrm() {
    let mut server = connected_server();
    server.handle_bytes(&command(Control::Rr { nr: 3, pf: true }, &[]), 1);
    let reject = single_reject(&mut server);
    assert!(reject.invalid_nr);
    assert_eq!((reject.vs, reject.vr), (0, 0));
    // Every further poll gets the same FRMR ...
    server.handle_bytes(&command(Control::Rr { nr: 0, pf: true }, &[]), 2);
    assert_eq!(single_reject(&mut server), reject);
    // ... until SNRM resets the link.
    server.handle_bytes(&command(Control::Snrm { pf: true }, &[]), 3);
    assert_eq!(replies(&mut server)[0].control, Control::Ua { pf: true });
    server.handle_bytes(&command(Control::Rr { nr: 0, pf: true }, &[]), 4);
    assert_eq!(
        replies(&mut server)[0].control,
        Control::Rr { nr: 0, pf: true }
    );
}

#[test]
fn missing_llc_is_reported_and_not_delivered() {
    let mut server = connected_server();
    server.handle_bytes(
        &command(
            Control::I {
                ns: 0,
                nr: 0,
                pf: true,
            },
            &[0xC0, 0x01],
        ),
        1,
    );
    assert!(matches!(server.poll_event(), Some(HdlcEvent::Error(_))));
    assert_eq!(server.poll_event(), None);
    // Nothing is owed, so the poll is answered at once.
    assert_eq!(
        replies(&mut server)[0].control,
        Control::Rr { nr: 1, pf: true }
    );
}

#[test]
fn another_client_gets_dm_while_connected() {
    let mut server = connected_server();
    let intruder = Frame::new(
        server_address(),
        HdlcAddress::One(0x30),
        Control::Snrm { pf: true },
    );
    server.handle_bytes(&intruder.encode().unwrap(), 1);
    let reply = replies(&mut server);
    assert_eq!(reply[0].control, Control::Dm { pf: true });
    assert_eq!(reply[0].destination, HdlcAddress::One(0x30));
    assert!(server.is_connected());
    assert_eq!(server.client_address(), client_address());
}

#[test]
fn malformed_snrm_parameters_get_dm_when_disconnected() {
    let mut server = HdlcServer::new(HdlcConfig::server(), server_address());
    server.handle_bytes(
        &command(Control::Snrm { pf: true }, &[0x81, 0x80, 0x05, 0x05, 0x02]),
        0,
    );
    assert_eq!(replies(&mut server)[0].control, Control::Dm { pf: true });
    assert!(!server.is_connected());
}

#[test]
fn disc_gets_ua_and_disconnects() {
    let mut server = connected_server();
    server.handle_bytes(&command(Control::Disc { pf: true }, &[]), 1);
    assert_eq!(replies(&mut server)[0].control, Control::Ua { pf: true });
    assert_eq!(
        server.poll_event(),
        Some(HdlcEvent::Disconnected(DisconnectReason::Remote))
    );
    assert!(!server.is_connected());
}

#[test]
fn broadcast_ui_is_delivered() {
    let mut server = connected_server();
    let ui = Frame {
        segmented: false,
        destination: HdlcAddress::One(0x7F),
        source: client_address(),
        control: Control::Ui { pf: false },
        info: vec![0xE6, 0xE6, 0x00, 0xC2, 0x00],
    };
    server.handle_bytes(&ui.encode().unwrap(), 1);
    assert_eq!(server.poll_event(), Some(HdlcEvent::Apdu(vec![0xC2, 0x00])));
    assert!(replies(&mut server).is_empty());
}
