//! Regressions found by the HLS-GMAC interop test against `dlms-cosem-rs` 0.1
//! (`interop_hdlc_our_client.rs`): its server accepts an HLS AARQ with diagnostic null rather
//! than authentication-required, and our client (a) refused that and (b) was then left waiting
//! for an AARE forever, with no deadline and its queued requests never failed.
#![allow(clippy::unwrap_used)]

use meterlab_dlms::apdu::{
    Aare, AcseDiagnostic, Apdu, ApplicationContext, AssociationResult, Conformance,
    InitiateResponse, Mechanism,
};
use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent, ClientState,
    SecurityMaterial,
};
use meterlab_dlms::cosem::{AttributeDescriptor, class_id};
use meterlab_dlms::obis::Obis;
use meterlab_dlms::security::Keys;

fn hls_client() -> ClientAssociation {
    let mut client = ClientAssociation::new(ClientConfig {
        authentication: ClientAuthentication::HlsGmac {
            client_challenge: b"0123456789abcdef".to_vec(),
        },
        security: Some(SecurityMaterial {
            system_title: *b"MLB\x00\x00\x00\x00\x01",
            keys: Keys {
                encryption: [1; 16],
                authentication: [2; 16],
            },
            invocation_counter: 1,
        }),
        ..ClientConfig::default()
    })
    .unwrap();
    client.connect(0).unwrap();
    assert!(client.poll_transmit().is_some(), "the AARQ");
    client
}

fn hls_aare(diagnostic: u8, stoc: Option<Vec<u8>>) -> Vec<u8> {
    let initiate = InitiateResponse {
        negotiated_quality_of_service: None,
        dlms_version: 6,
        conformance: Conformance::LN_DEFAULT,
        server_max_receive_pdu_size: 1024,
        vaa_name: 0x0007,
    };
    Apdu::Aare(Aare {
        application_context: ApplicationContext::LogicalName,
        result: AssociationResult::Accepted,
        diagnostic: AcseDiagnostic::User(diagnostic),
        responding_ap_title: Some(b"LGZ\x00\x12\x34\x56\x78".to_vec()),
        mechanism: Some(Mechanism::HlsGmac),
        responding_authentication_value: stoc,
        user_information: Some(Apdu::InitiateResponse(initiate).to_bytes()),
    })
    .to_bytes()
}

#[test]
fn an_hls_aare_with_diagnostic_null_and_a_challenge_proceeds_to_pass_three() {
    for diagnostic in [
        AcseDiagnostic::USER_NULL,
        AcseDiagnostic::USER_AUTHENTICATION_REQUIRED,
    ] {
        let mut client = hls_client();
        client
            .handle_apdu(1, &hls_aare(diagnostic, Some(vec![0x5A; 16])))
            .unwrap();
        assert_eq!(client.state(), ClientState::AwaitingHlsResult);
        let pass_three = client.poll_transmit().unwrap();
        assert_eq!(pass_three[0], 0xC3, "reply_to_HLS_authentication ACTION");
    }
}

#[test]
fn an_unusable_hls_aare_returns_to_idle_and_fails_queued_requests() {
    for aare in [
        hls_aare(AcseDiagnostic::USER_AUTHENTICATION_REQUIRED, None),
        hls_aare(AcseDiagnostic::USER_NO_REASON_GIVEN, Some(vec![0x5A; 16])),
    ] {
        let mut client = hls_client();
        let queued = client
            .get(
                0,
                AttributeDescriptor::new(class_id::REGISTER, Obis::new(1, 0, 1, 8, 0, 255), 2),
                None,
            )
            .unwrap();
        assert!(client.handle_apdu(1, &aare).is_err());
        assert_eq!(client.state(), ClientState::Idle);
        assert!(
            std::iter::from_fn(|| client.poll_event()).any(|e| matches!(
                e,
                ClientEvent::OperationFailed { invoke_id: Some(id), .. } if id == queued
            )),
            "the queued GET was failed"
        );
        // Idle again: a new association can be attempted.
        client.connect(2).unwrap();
    }
}
