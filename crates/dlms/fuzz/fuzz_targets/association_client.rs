//! A client association reading arbitrary meter bytes never panics: the first byte picks the
//! client (public, LLS, or HLS-GMAC with glo- ciphering, using the keys and challenges of the
//! seed corpus), the rest is APDUs split on a one-byte length prefix. Whenever the client is
//! associated and idle it issues the next request, so responses are matched against GETs
//! (including block transfer), SETs, ACTIONs and a release.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::apdu::Conformance;
use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientState, SecurityMaterial,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor};
use meterlab_dlms::obis::Obis;
use meterlab_dlms::security::{Keys, SecurityControl};

/// The seeds' client: these values must match the generator of `fuzz/seeds/association_client`.
pub const CLIENT_TITLE: [u8; 8] = *b"MMM\x00\x00\x00\x00\x01";
pub const CLIENT_CHALLENGE: &[u8] = b"K56iVagY";

fn keys() -> Keys {
    Keys {
        encryption: *b"0123456789ABCDEF",
        authentication: *b"AUTHENTICATIONKY",
    }
}

fn config(mode: u8) -> ClientConfig {
    let conformance = Conformance(Conformance::LN_DEFAULT.0 | Conformance::GENERAL_PROTECTION);
    match mode % 3 {
        0 => ClientConfig {
            conformance,
            max_receive_pdu_size: 64,
            ..ClientConfig::default()
        },
        1 => ClientConfig {
            authentication: ClientAuthentication::Lls {
                password: b"12345678".to_vec(),
            },
            conformance,
            max_receive_pdu_size: 64,
            ..ClientConfig::default()
        },
        _ => ClientConfig {
            authentication: ClientAuthentication::HlsGmac {
                client_challenge: CLIENT_CHALLENGE.to_vec(),
            },
            security: Some(SecurityMaterial {
                system_title: CLIENT_TITLE,
                keys: keys(),
                invocation_counter: 1,
            }),
            cipher: Some(SecurityControl::AUTHENTICATED_ENCRYPTED),
            conformance,
            max_receive_pdu_size: 64,
            ..ClientConfig::default()
        },
    }
}

const REGISTER: Obis = Obis::new(1, 0, 1, 8, 0, 255);
const PROFILE: Obis = Obis::new(1, 0, 99, 1, 0, 255);

fn next_request(client: &mut ClientAssociation, step: u8, now: u64) {
    let _ = match step % 5 {
        0 => client.get(now, AttributeDescriptor::new(3, REGISTER, 2), None),
        1 => client.get(now, AttributeDescriptor::new(7, PROFILE, 2), None),
        2 => client.set(
            now,
            AttributeDescriptor::new(1, Obis::new(0, 0, 96, 1, 0, 255), 2),
            None,
            Data::OctetString(vec![0x55; 80]),
        ),
        3 => client.action(
            now,
            MethodDescriptor::new(70, Obis::new(0, 0, 96, 3, 10, 255), 1),
            Some(Data::Integer(0)),
        ),
        _ => client.release(now).map(|()| 0),
    };
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let Ok(mut client) = ClientAssociation::new(config(mode)) else {
        return;
    };
    let mut now = 0u64;
    if client.connect(now).is_err() {
        return;
    }
    let mut step = 0u8;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        now += 10;
        let _ = client.handle_apdu(now, &tail[..n]);
        while client.poll_transmit().is_some() {}
        while client.poll_event().is_some() {}
        if client.state() == ClientState::Associated && client.poll_timeout().is_none() {
            next_request(&mut client, step, now);
            step = step.wrapping_add(1);
            while client.poll_transmit().is_some() {}
        }
        if let Some(deadline) = client.poll_timeout()
            && len == 0
        {
            // An empty APDU slot stands for silence until the next deadline.
            client.handle_timeout(deadline);
        }
        rest = &tail[n..];
    }
});
