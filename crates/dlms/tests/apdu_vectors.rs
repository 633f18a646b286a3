//! Known byte vectors: DLMS UA Green Book examples as reproduced in the public test suite of
//! the `dlms-cosem` Python library (u9n/dlms-cosem, tests/test_asce and tests/test_xdlms).
#![allow(clippy::unwrap_used)]

use meterlab_dlms::apdu::initiate::InitiateError;
use meterlab_dlms::apdu::{
    Aare, Aarq, AcseDiagnostic, ActionRequest, ActionResponse, Apdu, ApplicationContext,
    AssociationResult, ConfirmedServiceError, Conformance, DataAccessResult, GetDataResult,
    GetRequest, GetResponse, InitiateRequest, InitiateResponse, InvokeIdAndPriority, Mechanism,
    Rlrq,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor};
use meterlab_dlms::obis::Obis;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn roundtrip(bytes: &[u8]) -> Apdu {
    let apdu = Apdu::decode(bytes).unwrap();
    assert_eq!(apdu.to_bytes(), bytes, "re-encoding {apdu:?}");
    apdu
}

const INITIATE_REQUEST: &str = "01 00 00 00 06 5F 1F 04 00 00 7E 1F 04 B0";
const INITIATE_RESPONSE: &str = "08 00 06 5F 1F 04 00 00 50 1F 01 F4 00 07";

#[test]
fn initiate_request_and_response() {
    let Apdu::InitiateRequest(req) = roundtrip(&hex(INITIATE_REQUEST)) else {
        panic!()
    };
    assert_eq!(req, InitiateRequest::new(Conformance(0x00_7E_1F), 0x04B0));
    assert!(
        req.conformance
            .has(Conformance::GET | Conformance::SET | Conformance::ACTION)
    );
    assert!(
        req.conformance
            .has(Conformance::BLOCK_TRANSFER_WITH_GET_OR_READ)
    );
    assert!(!req.conformance.has(Conformance::DATA_NOTIFICATION));

    let Apdu::InitiateResponse(resp) = roundtrip(&hex(INITIATE_RESPONSE)) else {
        panic!()
    };
    assert_eq!(
        resp,
        InitiateResponse {
            negotiated_quality_of_service: None,
            dlms_version: 6,
            conformance: Conformance(0x00_50_1F),
            server_max_receive_pdu_size: 500,
            vaa_name: 7,
        }
    );
    assert!(
        resp.conformance
            .has(Conformance::PRIORITY_MGMT_SUPPORTED | Conformance::EVENT_NOTIFICATION)
    );
}

#[test]
fn aarq_without_authentication() {
    let bytes = hex(&format!(
        "60 1D A1 09 06 07 60 85 74 05 08 01 01 BE 10 04 0E {INITIATE_REQUEST}"
    ));
    let Apdu::Aarq(aarq) = roundtrip(&bytes) else {
        panic!()
    };
    assert_eq!(aarq.application_context, ApplicationContext::LogicalName);
    assert_eq!(aarq.mechanism, None);
    assert_eq!(aarq.user_information, Some(hex(INITIATE_REQUEST)));
}

#[test]
fn aarq_with_lls_password() {
    let bytes = hex(&format!(
        "60 36 A1 09 06 07 60 85 74 05 08 01 01 8A 02 07 80 8B 07 60 85 74 05 08 02 01
         AC 0A 80 08 31 32 33 34 35 36 37 38 BE 10 04 0E {INITIATE_REQUEST}"
    ));
    let apdu = roundtrip(&bytes);
    assert_eq!(
        apdu,
        Apdu::Aarq(Aarq {
            application_context: ApplicationContext::LogicalName,
            calling_ap_title: None,
            mechanism: Some(Mechanism::Lls),
            calling_authentication_value: Some(b"12345678".to_vec()),
            user_information: Some(hex(INITIATE_REQUEST)),
        })
    );
}

#[test]
fn aare_accepted_without_security() {
    let bytes = hex(
        "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007",
    );
    let Apdu::Aare(aare) = roundtrip(&bytes) else {
        panic!()
    };
    assert_eq!(aare.result, AssociationResult::Accepted);
    assert_eq!(aare.diagnostic, AcseDiagnostic::User(0));
    assert_eq!(aare.user_information, Some(hex(INITIATE_RESPONSE)));
}

#[test]
fn aare_rejected_application_context() {
    let bytes = hex(
        "6129A109060760857405080101A203020101A305A103020102BE10040E0800065F1F040000501F01F40007",
    );
    let Apdu::Aare(aare) = roundtrip(&bytes) else {
        panic!()
    };
    assert_eq!(aare.result, AssociationResult::RejectedPermanent);
    assert_eq!(
        aare.diagnostic,
        AcseDiagnostic::User(AcseDiagnostic::USER_APPLICATION_CONTEXT_NOT_SUPPORTED)
    );
}

#[test]
fn aare_rejected_dlms_version_too_low() {
    let bytes = hex("611FA109060760857405080101A203020101A305A103020101BE0604040E010601");
    let Apdu::Aare(aare) = roundtrip(&bytes) else {
        panic!()
    };
    assert_eq!(aare.result, AssociationResult::RejectedPermanent);
    let ui = Apdu::decode(&aare.user_information.unwrap()).unwrap();
    assert_eq!(
        ui,
        Apdu::ConfirmedServiceError(ConfirmedServiceError::initiate(
            InitiateError::DlmsVersionTooLow
        ))
    );
}

#[test]
fn aare_hls_gmac_authentication_required() {
    let bytes = hex(
        "6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205
         AA0A8008503677524A323146BE10040E0800065F1F040000501F01F40007",
    );
    let apdu = roundtrip(&bytes);
    assert_eq!(
        apdu,
        Apdu::Aare(Aare {
            application_context: ApplicationContext::LogicalName,
            result: AssociationResult::Accepted,
            diagnostic: AcseDiagnostic::User(AcseDiagnostic::USER_AUTHENTICATION_REQUIRED),
            responding_ap_title: None,
            mechanism: Some(Mechanism::HlsGmac),
            responding_authentication_value: Some(b"P6wRJ21F".to_vec()),
            user_information: Some(hex(INITIATE_RESPONSE)),
        })
    );
}

#[test]
fn release_request() {
    let apdu = roundtrip(&hex("62 03 80 01 00"));
    assert_eq!(
        apdu,
        Apdu::Rlrq(Rlrq {
            reason: Some(0),
            user_information: None
        })
    );
}

#[test]
fn get_requests() {
    let invoke = InvokeIdAndPriority::new(1, true, true);
    assert_eq!(invoke.0, 0xC1);
    let apdu = roundtrip(&hex("C0 01 C1 00 01 00 00 2B 01 00 FF 02 00"));
    assert_eq!(
        apdu,
        Apdu::GetRequest(GetRequest::Normal {
            invoke,
            attribute: AttributeDescriptor::new(1, Obis::new(0, 0, 43, 1, 0, 255), 2),
            access: None,
        })
    );
    let apdu = roundtrip(&hex("C0 02 C1 00 00 00 01"));
    assert_eq!(
        apdu,
        Apdu::GetRequest(GetRequest::Next {
            invoke,
            block_number: 1
        })
    );
    let apdu = roundtrip(&hex(
        "C0 03 C1 02 00 01 00 00 2A 00 00 FF 02 00 00 08 00 00 01 00 00 FF 02 00",
    ));
    let Apdu::GetRequest(GetRequest::WithList { items, .. }) = apdu else {
        panic!()
    };
    assert_eq!(items[1].0, AttributeDescriptor::new(8, Obis::CLOCK, 2));
}

#[test]
fn get_responses() {
    let invoke = InvokeIdAndPriority::new(1, true, true);
    let apdu = roundtrip(&hex("C4 01 C1 00 06 00 00 13 91"));
    assert_eq!(
        apdu,
        Apdu::GetResponse(GetResponse::Normal {
            invoke,
            result: GetDataResult::Data(Data::DoubleLongUnsigned(5009))
        })
    );
    let apdu = roundtrip(&hex("C4 01 C1 01 01"));
    assert_eq!(
        apdu,
        Apdu::GetResponse(GetResponse::Normal {
            invoke,
            result: GetDataResult::Error(DataAccessResult::HardwareFault)
        })
    );
}

#[test]
fn action_request_and_responses() {
    let invoke = InvokeIdAndPriority::new(0, true, true);
    let f_stoc = hex("10 00 00 1A 90 E6 D2 22 1F A2 FD 85 EE D6 1A CC 22");
    let apdu = roundtrip(&hex(
        "C3 01 C0 00 0F 00 00 28 00 00 FF 01 01 09 11 10 00 00 1A 90 E6 D2 22 1F A2 FD 85 EE D6 1A CC 22",
    ));
    assert_eq!(
        apdu,
        Apdu::ActionRequest(ActionRequest {
            invoke,
            method: MethodDescriptor::new(15, Obis::CURRENT_ASSOCIATION, 1),
            parameters: Some(Data::OctetString(f_stoc)),
        })
    );
    roundtrip(&hex("C3 01 C0 00 0F 00 00 28 00 00 FF 01 00"));
    let apdu = roundtrip(&hex("C7 01 C0 00 00"));
    assert_eq!(
        apdu,
        Apdu::ActionResponse(ActionResponse {
            invoke,
            result: DataAccessResult::Success,
            return_parameters: None
        })
    );
    let apdu = roundtrip(&hex("C7 01 C0 00 01 01 FA"));
    let Apdu::ActionResponse(r) = apdu else {
        panic!()
    };
    assert_eq!(
        r.return_parameters,
        Some(GetDataResult::Error(DataAccessResult::OtherReason))
    );
    roundtrip(&hex(
        "C7 01 C0 00 01 00 09 11 10 00 00 1A FD E8 85 7B 72 8A 34 99 10 6A A6 65 D1",
    ));
}

#[test]
fn data_notification() {
    let bytes =
        hex("0f000001db000922125a8591360000000049000000110000000a5a8513d014800000000d0000000a0100");
    let Apdu::DataNotification(n) = roundtrip(&bytes) else {
        panic!()
    };
    assert_eq!(n.long_invoke_id_and_priority, 0x01DB);
    assert_eq!(n.date_time, None);
    assert!(matches!(n.body, Data::OctetString(ref b) if b.len() == 34));
}

#[test]
fn malformed_apdus_are_errors_naming_the_field() {
    let err = Apdu::decode(&hex("C0 01 C1 00 01 00 00")).unwrap_err();
    assert!(err.to_string().contains("attribute descriptor"), "{err}");
    let err = Apdu::decode(&hex("C4 07 C1")).unwrap_err();
    assert!(err.to_string().contains("get-response choice"), "{err}");
    let err = Apdu::decode(&hex("C4 01 C1 00 06 00 00 13 91 FF")).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
    assert!(Apdu::decode(&[]).is_err());
    assert!(Apdu::decode(&hex("99")).is_err());
}
