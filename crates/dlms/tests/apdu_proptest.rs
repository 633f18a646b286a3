//! Every APDU round-trips through its encoding, and the APDU decoder never panics.
#![allow(clippy::unwrap_used)]

mod axdr_strategy;

use axdr_strategy::{data, date_time};
use meterlab_dlms::apdu::get::AttributeSelection;
use meterlab_dlms::apdu::initiate::InitiateError;
use meterlab_dlms::apdu::notification::StateError;
use meterlab_dlms::apdu::set::DataBlock;
use meterlab_dlms::apdu::*;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};
use meterlab_dlms::obis::Obis;
use proptest::prelude::*;

fn invoke() -> impl Strategy<Value = InvokeIdAndPriority> {
    any::<u8>().prop_map(InvokeIdAndPriority)
}

fn attribute() -> impl Strategy<Value = AttributeDescriptor> {
    (any::<u16>(), any::<[u8; 6]>(), any::<i8>())
        .prop_map(|(c, o, a)| AttributeDescriptor::new(c, Obis(o), a))
}

fn method() -> impl Strategy<Value = MethodDescriptor> {
    (any::<u16>(), any::<[u8; 6]>(), any::<i8>())
        .prop_map(|(c, o, m)| MethodDescriptor::new(c, Obis(o), m))
}

fn access() -> impl Strategy<Value = Option<SelectiveAccess>> {
    prop::option::of(
        (any::<u8>(), data()).prop_map(|(selector, parameters)| SelectiveAccess {
            selector,
            parameters,
        }),
    )
}

fn selection() -> impl Strategy<Value = AttributeSelection> {
    (attribute(), access())
}

fn dar() -> impl Strategy<Value = DataAccessResult> {
    prop::sample::select(DataAccessResult::ALL.to_vec())
}

fn get_data_result() -> impl Strategy<Value = GetDataResult> {
    prop_oneof![
        data().prop_map(GetDataResult::Data),
        dar().prop_map(GetDataResult::Error)
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn block() -> impl Strategy<Value = DataBlock> {
    (any::<bool>(), any::<u32>(), bytes(300)).prop_map(|(last_block, block_number, raw)| {
        DataBlock {
            last_block,
            block_number,
            raw,
        }
    })
}

fn conformance() -> impl Strategy<Value = Conformance> {
    (0u32..1 << 24).prop_map(Conformance)
}

fn acse() -> impl Strategy<Value = Apdu> {
    let ctx = prop::sample::select(ApplicationContext::ALL.to_vec());
    let mech = prop::option::of(prop::sample::select(Mechanism::ALL.to_vec()));
    prop_oneof![
        (
            ctx.clone(),
            prop::option::of(bytes(9)),
            mech.clone(),
            prop::option::of(bytes(70)),
            prop::option::of(bytes(200))
        )
            .prop_map(
                |(
                    application_context,
                    calling_ap_title,
                    mechanism,
                    calling_authentication_value,
                    user_information,
                )| {
                    Apdu::Aarq(Aarq {
                        application_context,
                        calling_ap_title,
                        mechanism,
                        calling_authentication_value,
                        user_information,
                    })
                }
            ),
        (
            ctx,
            prop::sample::select(AssociationResult::ALL.to_vec()),
            prop_oneof![
                any::<u8>().prop_map(AcseDiagnostic::User),
                any::<u8>().prop_map(AcseDiagnostic::Provider)
            ],
            prop::option::of(bytes(9)),
            mech,
            prop::option::of(bytes(70)),
            prop::option::of(bytes(200)),
        )
            .prop_map(
                |(
                    application_context,
                    result,
                    diagnostic,
                    responding_ap_title,
                    mechanism,
                    v,
                    user_information,
                )| {
                    Apdu::Aare(Aare {
                        application_context,
                        result,
                        diagnostic,
                        responding_ap_title,
                        mechanism,
                        responding_authentication_value: v,
                        user_information,
                    })
                }
            ),
        (prop::option::of(any::<u8>()), prop::option::of(bytes(50))).prop_map(
            |(reason, user_information)| Apdu::Rlrq(Rlrq {
                reason,
                user_information
            })
        ),
        (prop::option::of(any::<u8>()), prop::option::of(bytes(50))).prop_map(
            |(reason, user_information)| Apdu::Rlre(Rlre {
                reason,
                user_information
            })
        ),
    ]
}

fn xdlms() -> impl Strategy<Value = Apdu> {
    prop_oneof![
        (
            prop::option::of(bytes(17)),
            any::<bool>(),
            prop::option::of(any::<i8>()),
            any::<u8>(),
            conformance(),
            any::<u16>()
        )
            .prop_map(
                |(
                    dedicated_key,
                    response_allowed,
                    q,
                    dlms_version,
                    conformance,
                    client_max_receive_pdu_size,
                )| {
                    Apdu::InitiateRequest(InitiateRequest {
                        dedicated_key,
                        response_allowed,
                        proposed_quality_of_service: q,
                        dlms_version,
                        conformance,
                        client_max_receive_pdu_size,
                    })
                }
            ),
        (
            prop::option::of(any::<i8>()),
            any::<u8>(),
            conformance(),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(
                |(q, dlms_version, conformance, server_max_receive_pdu_size, vaa_name)| {
                    Apdu::InitiateResponse(InitiateResponse {
                        negotiated_quality_of_service: q,
                        dlms_version,
                        conformance,
                        server_max_receive_pdu_size,
                        vaa_name,
                    })
                }
            ),
        prop::sample::select(InitiateError::ALL.to_vec())
            .prop_map(|e| Apdu::ConfirmedServiceError(ConfirmedServiceError::initiate(e))),
        (
            prop::sample::select(StateError::ALL.to_vec()),
            prop_oneof![
                Just(ServiceError::OperationNotPossible),
                Just(ServiceError::ServiceNotSupported),
                Just(ServiceError::OtherReason),
                Just(ServiceError::PduTooLong),
                Just(ServiceError::DecipheringError),
                any::<u32>().prop_map(ServiceError::InvocationCounterError),
            ]
        )
            .prop_map(|(state_error, service_error)| Apdu::ExceptionResponse(
                ExceptionResponse {
                    state_error,
                    service_error
                }
            )),
        (
            prop::sample::select(vec![0x21u8, 0x28, 0xC8, 0xCC, 0xC9, 0xCB, 0xCF]),
            any::<u8>(),
            any::<u32>(),
            bytes(300)
        )
            .prop_map(|(tag, security_control, invocation_counter, payload)| {
                Apdu::Ciphered(CipheredApdu {
                    tag,
                    security_control,
                    invocation_counter,
                    payload,
                })
            }),
        (bytes(10), any::<u8>(), any::<u32>(), bytes(300)).prop_map(
            |(system_title, security_control, invocation_counter, payload)| {
                Apdu::GeneralGloCiphered(GeneralGloCiphered {
                    system_title,
                    security_control,
                    invocation_counter,
                    payload,
                })
            }
        ),
    ]
}

fn services() -> impl Strategy<Value = Apdu> {
    prop_oneof![
        (invoke(), attribute(), access()).prop_map(|(invoke, attribute, access)| Apdu::GetRequest(
            GetRequest::Normal {
                invoke,
                attribute,
                access
            }
        )),
        (invoke(), any::<u32>()).prop_map(|(invoke, block_number)| Apdu::GetRequest(
            GetRequest::Next {
                invoke,
                block_number
            }
        )),
        (invoke(), prop::collection::vec(selection(), 0..4))
            .prop_map(|(invoke, items)| Apdu::GetRequest(GetRequest::WithList { invoke, items })),
        (invoke(), get_data_result())
            .prop_map(|(invoke, result)| Apdu::GetResponse(GetResponse::Normal { invoke, result })),
        (
            invoke(),
            any::<bool>(),
            any::<u32>(),
            prop_oneof![bytes(300).prop_map(Ok), dar().prop_map(Err)]
        )
            .prop_map(|(invoke, last_block, block_number, raw)| Apdu::GetResponse(
                GetResponse::WithDataBlock {
                    invoke,
                    last_block,
                    block_number,
                    raw
                }
            )),
        (invoke(), prop::collection::vec(get_data_result(), 0..4)).prop_map(|(invoke, results)| {
            Apdu::GetResponse(GetResponse::WithList { invoke, results })
        }),
        (invoke(), attribute(), access(), data()).prop_map(|(invoke, attribute, access, value)| {
            Apdu::SetRequest(SetRequest::Normal {
                invoke,
                attribute,
                access,
                value,
            })
        }),
        (invoke(), attribute(), access(), block()).prop_map(
            |(invoke, attribute, access, block)| Apdu::SetRequest(SetRequest::WithFirstDataBlock {
                invoke,
                attribute,
                access,
                block
            })
        ),
        (invoke(), block()).prop_map(|(invoke, block)| Apdu::SetRequest(
            SetRequest::WithDataBlock { invoke, block }
        )),
        (
            invoke(),
            prop::collection::vec(selection(), 0..3),
            prop::collection::vec(data(), 0..3)
        )
            .prop_map(
                |(invoke, items, values)| Apdu::SetRequest(SetRequest::WithList {
                    invoke,
                    items,
                    values
                })
            ),
        (invoke(), dar())
            .prop_map(|(invoke, result)| Apdu::SetResponse(SetResponse::Normal { invoke, result })),
        (invoke(), any::<u32>()).prop_map(|(invoke, block_number)| Apdu::SetResponse(
            SetResponse::DataBlock {
                invoke,
                block_number
            }
        )),
        (invoke(), dar(), any::<u32>()).prop_map(|(invoke, result, block_number)| {
            Apdu::SetResponse(SetResponse::LastDataBlock {
                invoke,
                result,
                block_number,
            })
        }),
        (invoke(), prop::collection::vec(dar(), 0..5)).prop_map(|(invoke, results)| {
            Apdu::SetResponse(SetResponse::WithList { invoke, results })
        }),
        (invoke(), method(), prop::option::of(data())).prop_map(|(invoke, method, parameters)| {
            Apdu::ActionRequest(ActionRequest {
                invoke,
                method,
                parameters,
            })
        }),
        (invoke(), dar(), prop::option::of(get_data_result())).prop_map(
            |(invoke, result, return_parameters)| Apdu::ActionResponse(ActionResponse {
                invoke,
                result,
                return_parameters
            })
        ),
        (prop::option::of(bytes(13)), attribute(), data()).prop_map(|(time, attribute, value)| {
            Apdu::EventNotification(EventNotification {
                time,
                attribute,
                value,
            })
        }),
        (any::<u32>(), prop::option::of(date_time()), data()).prop_map(
            |(long_invoke_id_and_priority, date_time, body)| {
                Apdu::DataNotification(DataNotification {
                    long_invoke_id_and_priority,
                    date_time,
                    body,
                })
            }
        ),
    ]
}

fn apdu() -> impl Strategy<Value = Apdu> {
    prop_oneof![acse(), xdlms(), services()]
}

proptest! {
    #[test]
    fn every_apdu_round_trips(a in apdu()) {
        let bytes = a.to_bytes();
        let back = Apdu::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Apdu::decode(&bytes);
    }

    /// The borrowed view reads every APDU as the owned decoder does and encodes the same bytes.
    #[test]
    fn borrowed_view_agrees_with_owned_decoder(a in apdu()) {
        let bytes = a.to_bytes();
        let view = ApduRef::decode(&bytes).unwrap();
        prop_assert_eq!(view.to_apdu(), a);
        let mut out = Vec::new();
        view.encode(&mut out);
        prop_assert_eq!(out, bytes);
    }

    /// On damaged GET.responses the view fails exactly when, and with the error, the owned
    /// decoder fails (values compared by encoding: a damaged float may be NaN).
    #[test]
    fn borrowed_view_fails_like_owned_decoder(
        (invoke, result) in (invoke(), get_data_result()),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = Apdu::GetResponse(GetResponse::Normal { invoke, result }).to_bytes();
        let i = pos.index(bytes.len());
        prop_assert_eq!(
            ApduRef::decode(&bytes[..i]).map(|v| v.to_apdu().to_bytes()),
            Apdu::decode(&bytes[..i]).map(|a| a.to_bytes())
        );
        bytes[i] = byte;
        prop_assert_eq!(
            ApduRef::decode(&bytes).map(|v| v.to_apdu().to_bytes()),
            Apdu::decode(&bytes).map(|a| a.to_bytes())
        );
    }

    #[test]
    fn decoder_never_panics_on_truncated_or_mutated_apdus(a in apdu(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = a.to_bytes();
        let i = pos.index(bytes.len());
        prop_assert!(Apdu::decode(&bytes[..i]).is_err() || i == bytes.len());
        bytes[i] = byte;
        let _ = Apdu::decode(&bytes);
    }
}
