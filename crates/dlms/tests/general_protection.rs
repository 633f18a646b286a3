//! general-glo-ciphering (tag 0xDB) is negotiated, not assumed (issue 15): the server offers the
//! general-protection conformance bit when it holds keys, accepts a client's general-glo-ciphered
//! request only when the bit was agreed (answering in kind), refuses it with service-not-supported
//! otherwise, and never sends a general-glo-ciphered DataNotification the client did not agree to.
#![allow(clippy::unwrap_used)]

mod association_support;

use association_support::*;
use meterlab_dlms::apdu::InvokeIdAndPriority;
use meterlab_dlms::apdu::notification::StateError;
use meterlab_dlms::apdu::{GeneralGloCiphered, GetDataResult, GetRequest, GetResponse};
use meterlab_dlms::security;

const CLIENT_TITLE: [u8; 8] = *b"MMM\x00\x00\x00\x00\x01";
const SERVER_TITLE: [u8; 8] = *b"MMM\x00\x00\xBCaN";

fn with_general_protection(c: &mut ClientConfig) {
    c.conformance = Conformance(Conformance::LN_DEFAULT.0 | Conformance::GENERAL_PROTECTION);
}

/// A GET of the energy register, general-glo-ciphered by the client with counter `ic`.
fn general_get(ic: u32) -> Vec<u8> {
    let plain = Apdu::GetRequest(GetRequest::Normal {
        invoke: InvokeIdAndPriority::new(5, true, true),
        attribute: AttributeDescriptor::new(class_id::REGISTER, ENERGY, 2),
        access: None,
    })
    .to_bytes();
    let apdu = security::protect_general(
        &plain,
        SecurityControl::AUTHENTICATED_ENCRYPTED,
        &keys(),
        &CLIENT_TITLE,
        ic,
    )
    .unwrap();
    Apdu::GeneralGloCiphered(apdu).to_bytes()
}

fn ciphered_pair(agree: bool) -> Pair {
    let (mut c, s) = hls_configs(Some(SecurityControl::AUTHENTICATED_ENCRYPTED), keys());
    if agree {
        with_general_protection(&mut c);
    }
    let mut p = Pair::new(c, s);
    let events = p.associate();
    let agreed = events.iter().find_map(|e| match e {
        ClientEvent::Associated { conformance, .. } => {
            Some(conformance.has(Conformance::GENERAL_PROTECTION))
        }
        _ => None,
    });
    assert_eq!(agreed, Some(agree), "{events:?}");
    p
}

#[test]
fn the_server_offers_general_protection_when_it_holds_keys() {
    let p = ciphered_pair(true);
    assert!(
        p.server
            .offered_conformance()
            .has(Conformance::GENERAL_PROTECTION)
    );
    assert!(p.server.conformance().has(Conformance::GENERAL_PROTECTION));

    // Without keys there is nothing to decipher it with: not offered.
    let keyless = ServerAssociation::new(ServerConfig::default()).unwrap();
    assert!(
        !keyless
            .offered_conformance()
            .has(Conformance::GENERAL_PROTECTION)
    );
}

#[test]
fn an_agreed_general_glo_request_is_served_and_answered_in_kind() {
    let mut p = ciphered_pair(true);
    let next = p.server.client_invocation_counter().unwrap() + 1;
    p.server
        .handle_apdu(0, &general_get(next), &mut p.model)
        .unwrap();
    assert_eq!(p.model.seen_ciphered.last(), Some(&true));
    let answer = p.server.poll_transmit().unwrap();
    let Apdu::GeneralGloCiphered(g) = Apdu::decode(&answer).unwrap() else {
        panic!("general-glo-ciphered answer expected, got {answer:02x?}");
    };
    assert_eq!(g.system_title, SERVER_TITLE);
    let plain = security::unprotect_general(&g, &keys()).unwrap();
    assert_eq!(
        Apdu::decode(&plain).unwrap(),
        Apdu::GetResponse(GetResponse::Normal {
            invoke: InvokeIdAndPriority::new(5, true, true),
            result: GetDataResult::Data(Data::DoubleLongUnsigned(123_456)),
        })
    );

    // The same counter again is a replay.
    let err = p
        .server
        .handle_apdu(0, &general_get(next), &mut p.model)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AssociationError::Security(SecurityError::Replay { .. })
        ),
        "{err}"
    );
    assert_eq!(
        Apdu::decode(&p.server.poll_transmit().unwrap()).unwrap(),
        Apdu::ExceptionResponse(ExceptionResponse {
            state_error: StateError::ServiceNotAllowed,
            service_error: ServiceError::InvocationCounterError(next + 1),
        })
    );
}

#[test]
fn a_general_glo_request_from_another_system_title_is_a_deciphering_error() {
    let mut p = ciphered_pair(true);
    let next = p.server.client_invocation_counter().unwrap() + 1;
    let Apdu::GeneralGloCiphered(mut g) = Apdu::decode(&general_get(next)).unwrap() else {
        panic!()
    };
    g.system_title = b"OTHERSYS".to_vec();
    let bytes = Apdu::GeneralGloCiphered(GeneralGloCiphered { ..g }).to_bytes();
    assert!(p.server.handle_apdu(0, &bytes, &mut p.model).is_err());
    assert_eq!(
        p.server.poll_transmit().unwrap(),
        vec![0xD8, 0x01, 0x05],
        "service-not-allowed, deciphering-error"
    );
}

#[test]
fn an_unagreed_general_glo_request_is_refused_service_not_supported() {
    let mut p = ciphered_pair(false);
    assert!(!p.server.conformance().has(Conformance::GENERAL_PROTECTION));
    let next = p.server.client_invocation_counter().unwrap() + 1;
    let err = p
        .server
        .handle_apdu(0, &general_get(next), &mut p.model)
        .unwrap_err();
    assert!(matches!(err, AssociationError::NotNegotiated(_)), "{err}");
    assert_eq!(
        p.server.poll_transmit().unwrap(),
        vec![0xD8, 0x01, 0x02],
        "service-not-allowed, service-not-supported"
    );
    assert!(p.model.seen_ciphered.is_empty(), "nothing was served");
}

#[test]
fn a_general_glo_request_before_any_association_is_operation_not_possible() {
    let (_, s) = hls_configs(Some(SecurityControl::AUTHENTICATED_ENCRYPTED), keys());
    let mut server = ServerAssociation::new(s).unwrap();
    let mut model = Model::meter();
    assert!(server.handle_apdu(0, &general_get(2), &mut model).is_err());
    assert_eq!(server.poll_transmit().unwrap(), vec![0xD8, 0x01, 0x01]);
}

#[test]
fn no_general_glo_data_notification_is_sent_unagreed() {
    let mut p = ciphered_pair(false);
    let err = p
        .server
        .data_notification(7, None, Data::Structure(vec![Data::Unsigned(1)]))
        .unwrap_err();
    assert!(matches!(err, AssociationError::NotNegotiated(_)), "{err}");
    assert!(p.server.poll_transmit().is_none(), "nothing queued");

    let mut agreed = ciphered_pair(true);
    agreed
        .server
        .data_notification(7, None, Data::Structure(vec![Data::Unsigned(1)]))
        .unwrap();
    assert_eq!(agreed.server.poll_transmit().unwrap()[0], 0xDB);
}
