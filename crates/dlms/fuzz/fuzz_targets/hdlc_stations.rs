//! Arbitrary bytes and time-outs into a connected HDLC server and client: no panic, whatever
//! a misbehaving peer sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::hdlc::{HdlcAddress, HdlcClient, HdlcConfig, HdlcServer};

fuzz_target!(|data: &[u8]| {
    let server_address = HdlcAddress::One(1);
    let client_address = HdlcAddress::One(0x10);
    let mut server = HdlcServer::new(HdlcConfig::server(), server_address);
    let mut client = HdlcClient::new(HdlcConfig::default(), client_address, server_address);
    // Connect them properly first so the fuzz input reaches the connected-state code.
    client.connect(0).expect("fresh client connects");
    while let Some(bytes) = client.poll_transmit() {
        server.handle_bytes(&bytes, 0);
    }
    while let Some(bytes) = server.poll_transmit() {
        client.handle_bytes(&bytes, 0);
    }
    let mut now = 0;
    for (index, piece) in data.split(|b| *b == 0x00).enumerate() {
        now += 500;
        server.handle_bytes(piece, now);
        client.handle_bytes(piece, now);
        if index % 3 == 0 {
            let _ = client.send_apdu(piece, now);
            let _ = server.send_apdu(piece, now);
        }
        if index % 5 == 0 {
            server.handle_timeout(now);
            client.handle_timeout(now);
        }
        while server.poll_transmit().is_some() || server.poll_event().is_some() {}
        while client.poll_transmit().is_some() || client.poll_event().is_some() {}
    }
});
