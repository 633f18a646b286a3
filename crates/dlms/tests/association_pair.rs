//! Client and server association state machines driven against each other in memory.
#![allow(clippy::unwrap_used)]

mod association_support;

use association_support::*;

#[test]
fn public_client_get_set_action_release() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    assert!(is_associated(&p.associate()));
    assert_eq!(p.server.state(), ServerState::Associated);

    let energy = AttributeDescriptor::new(class_id::REGISTER, ENERGY, 2);
    let id = p.client.get(0, energy, None).unwrap();
    p.drive();
    assert_eq!(
        p.client_events(),
        vec![ClientEvent::GetCompleted {
            invoke_id: id,
            result: Ok(Data::DoubleLongUnsigned(123_456))
        }]
    );

    let missing = AttributeDescriptor::new(class_id::REGISTER, Obis::new(1, 0, 2, 8, 0, 255), 2);
    let id = p.client.get(0, missing, None).unwrap();
    p.drive();
    assert_eq!(
        p.client_events(),
        vec![ClientEvent::GetCompleted {
            invoke_id: id,
            result: Err(DataAccessResult::ObjectUndefined)
        }]
    );

    let name = AttributeDescriptor::new(class_id::DATA, NAME, 2);
    let id = p
        .client
        .set(0, name, None, Data::OctetString(b"RENAMED".to_vec()))
        .unwrap();
    p.drive();
    assert_eq!(
        p.client_events(),
        vec![ClientEvent::SetCompleted {
            invoke_id: id,
            result: DataAccessResult::Success
        }]
    );
    assert_eq!(
        p.model.attributes[&(class_id::DATA, NAME, 2)],
        Data::OctetString(b"RENAMED".to_vec())
    );

    let reset = MethodDescriptor::new(class_id::REGISTER, ENERGY, 1);
    let id = p.client.action(0, reset, Some(Data::Integer(0))).unwrap();
    p.drive();
    match p.client_events().as_slice() {
        [
            ClientEvent::ActionCompleted {
                invoke_id,
                result: DataAccessResult::Success,
                return_parameters: Some(_),
            },
        ] => {
            assert_eq!(*invoke_id, id)
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(p.model.actions, vec![(reset, Some(Data::Integer(0)))]);

    p.client.release(0).unwrap();
    p.drive();
    assert_eq!(p.client_events(), vec![ClientEvent::Released]);
    assert_eq!(p.client.state(), ClientState::Idle);
    assert_eq!(p.server.state(), ServerState::Idle);
}

#[test]
fn lls_password_accepted_and_wrong_password_rejected_with_diagnostic_13() {
    let server = ServerConfig {
        authentication: ServerAuthentication::Lls {
            password: b"12345678".to_vec(),
        },
        ..ServerConfig::default()
    };
    let good = ClientConfig {
        authentication: ClientAuthentication::Lls {
            password: b"12345678".to_vec(),
        },
        ..ClientConfig::default()
    };
    let mut p = Pair::new(good, server.clone());
    assert!(is_associated(&p.associate()));

    let bad = ClientConfig {
        authentication: ClientAuthentication::Lls {
            password: b"87654321".to_vec(),
        },
        ..ClientConfig::default()
    };
    let mut p = Pair::new(bad, server.clone());
    assert_eq!(
        p.associate(),
        vec![ClientEvent::Rejected {
            result: AssociationResult::RejectedPermanent,
            diagnostic: AcseDiagnostic::User(13),
            initiate_error: None,
        }]
    );
    assert_eq!(p.server.state(), ServerState::Idle);
    assert_eq!(
        p.server_events(),
        vec![ServerEvent::Rejected {
            diagnostic: AcseDiagnostic::User(13)
        }]
    );
    // A rejected client cannot issue requests.
    assert!(
        p.client
            .get(0, AttributeDescriptor::new(1, NAME, 2), None)
            .is_err()
    );

    let mut p = Pair::new(ClientConfig::default(), server);
    match p.associate().as_slice() {
        [
            ClientEvent::Rejected {
                diagnostic: AcseDiagnostic::User(12),
                ..
            },
        ] => {}
        other => panic!("mechanism-name-required expected, got {other:?}"),
    }
}

#[test]
fn hls_gmac_four_pass_authentication() {
    let (c, s) = hls_configs(None, keys());
    let mut p = Pair::new(c, s);
    assert!(is_associated(&p.associate()));
    assert_eq!(p.server.state(), ServerState::Associated);
    // Pass 3 went as an ACTION on the current association, method 1.
    let pass3 = Apdu::decode(&p.to_server[1]).unwrap();
    let Apdu::ActionRequest(req) = pass3 else {
        panic!("pass 3 is an ACTION")
    };
    assert_eq!(
        req.method,
        MethodDescriptor::new(15, Obis::CURRENT_ASSOCIATION, 1)
    );
    match req.parameters {
        Some(Data::OctetString(f)) => assert_eq!((f.len(), f[0]), (17, 0x10)),
        other => panic!("f(StoC) expected, got {other:?}"),
    }
}

#[test]
fn hls_gmac_with_wrong_key_fails_authentication() {
    let mut wrong = keys();
    wrong.authentication[0] ^= 1;
    let (c, s) = hls_configs(None, wrong);
    let mut p = Pair::new(c, s);
    let events = p.associate();
    assert!(
        matches!(
            events.as_slice(),
            [ClientEvent::AuthenticationFailed { .. }]
        ),
        "got {events:?}"
    );
    assert_eq!(p.server_events(), vec![ServerEvent::AuthenticationFailed]);
    assert_eq!(p.server.state(), ServerState::Idle);
    assert_eq!(p.client.state(), ClientState::Idle);
}

#[test]
fn ciphered_get_and_replayed_counter_rejected() {
    let (c, s) = hls_configs(Some(SecurityControl::AUTHENTICATED_ENCRYPTED), keys());
    let mut p = Pair::new(c, s);
    assert!(is_associated(&p.associate()));
    // The initiate request inside the AARQ was ciphered (glo-initiateRequest).
    let Apdu::Aarq(aarq) = Apdu::decode(&p.to_server[0]).unwrap() else {
        panic!()
    };
    assert_eq!(aarq.user_information.unwrap()[0], 0x21);

    let energy = AttributeDescriptor::new(class_id::REGISTER, ENERGY, 2);
    let id = p.client.get(0, energy, None).unwrap();
    p.drive();
    assert_eq!(
        p.client_events(),
        vec![ClientEvent::GetCompleted {
            invoke_id: id,
            result: Ok(Data::DoubleLongUnsigned(123_456))
        }]
    );
    let request = p.to_server.last().unwrap().clone();
    assert_eq!(request[0], 0xC8, "glo-get-request on the wire");
    assert_eq!(
        p.to_client.last().unwrap()[0],
        0xCC,
        "glo-get-response on the wire"
    );
    assert_eq!(p.model.seen_ciphered.last(), Some(&true));

    // Replaying the captured request is refused and answered with an exception.
    let err = p.server.handle_apdu(0, &request, &mut p.model).unwrap_err();
    assert!(
        matches!(
            err,
            AssociationError::Security(SecurityError::Replay { .. })
        ),
        "{err}"
    );
    let answer = p.server.poll_transmit().unwrap();
    match Apdu::decode(&answer).unwrap() {
        Apdu::ExceptionResponse(ExceptionResponse {
            service_error: ServiceError::InvocationCounterError(next),
            ..
        }) => assert!(next > 1),
        other => panic!("exception expected, got {other:?}"),
    }

    // A tampered ciphertext fails authentication.
    let mut tampered = request.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xFF;
    tampered[3..7].copy_from_slice(&u32::MAX.to_be_bytes()); // fresh counter, bad tag
    assert!(p.server.handle_apdu(0, &tampered, &mut p.model).is_err());

    // Unciphered requests are refused in a ciphered association.
    let plain = Apdu::decode(&request);
    assert!(plain.is_ok());
    let mut clear = Vec::new();
    meterlab_dlms::apdu::GetRequest::Normal {
        invoke: meterlab_dlms::apdu::InvokeIdAndPriority::new(3, true, true),
        attribute: energy,
        access: None,
    }
    .encode(&mut clear);
    assert!(p.server.handle_apdu(0, &clear, &mut p.model).is_err());
}

#[test]
fn get_with_block_transfer_reassembles_load_profile() {
    let client = ClientConfig {
        max_receive_pdu_size: 256,
        ..ClientConfig::default()
    };
    let mut p = Pair::new(client, ServerConfig::default());
    assert!(is_associated(&p.associate()));
    let profile = AttributeDescriptor::new(class_id::PROFILE_GENERIC, PROFILE, 2);
    let id = p.client.get(0, profile, None).unwrap();
    p.drive();
    assert_eq!(
        p.client_events(),
        vec![ClientEvent::GetCompleted {
            invoke_id: id,
            result: Ok(load_profile(100))
        }]
    );
    let blocks = p
        .to_client
        .iter()
        .filter(|a| a.starts_with(&[0xC4, 0x02]))
        .count();
    assert!(
        blocks >= 9,
        "100 rows of ~22 bytes need ~10 blocks of 256, got {blocks}"
    );
    assert!(p.to_client.iter().all(|a| a.len() <= 256));
    assert_eq!(
        p.to_server
            .iter()
            .filter(|a| a.starts_with(&[0xC0, 0x02]))
            .count(),
        blocks - 1
    );
}

#[test]
fn ciphered_block_transfer_and_set_with_datablocks() {
    let (mut c, mut s) = hls_configs(Some(SecurityControl::AUTHENTICATED_ENCRYPTED), keys());
    c.max_receive_pdu_size = 200;
    s.max_receive_pdu_size = 96;
    let mut p = Pair::new(c, s);
    assert!(is_associated(&p.associate()));
    let profile = AttributeDescriptor::new(class_id::PROFILE_GENERIC, PROFILE, 2);
    let id = p.client.get(0, profile, None).unwrap();
    p.drive();
    assert_eq!(
        p.client_events(),
        vec![ClientEvent::GetCompleted {
            invoke_id: id,
            result: Ok(load_profile(100))
        }]
    );
    assert!(p.to_client.iter().all(|a| a.len() <= 200));

    let big = Data::OctetString((0..=255u8).cycle().take(1000).collect());
    let name = AttributeDescriptor::new(class_id::DATA, NAME, 2);
    let id = p.client.set(0, name, None, big.clone()).unwrap();
    p.drive();
    assert_eq!(
        p.client_events(),
        vec![ClientEvent::SetCompleted {
            invoke_id: id,
            result: DataAccessResult::Success
        }]
    );
    assert_eq!(p.model.attributes[&(class_id::DATA, NAME, 2)], big);
    assert!(p.to_server.iter().all(|a| a.len() <= 96));
    assert!(p.to_server.len() > 10, "the value went in several blocks");
}

#[test]
fn get_with_list_and_timeouts() {
    let mut p = Pair::new(ClientConfig::default(), ServerConfig::default());
    assert!(is_associated(&p.associate()));
    let items = vec![
        (
            AttributeDescriptor::new(class_id::REGISTER, ENERGY, 2),
            None,
        ),
        (
            AttributeDescriptor::new(class_id::DATA, Obis::new(9, 9, 9, 9, 9, 9), 2),
            None,
        ),
    ];
    let id = p.client.get_with_list(0, items).unwrap();
    p.drive();
    match p.client_events().as_slice() {
        [ClientEvent::GetListCompleted { invoke_id, results }] => {
            assert_eq!(*invoke_id, id);
            assert_eq!(results.len(), 2);
        }
        other => panic!("unexpected {other:?}"),
    }

    // The server never answers: the request fails at the deadline, not before.
    let id = p
        .client
        .get(1_000, AttributeDescriptor::new(1, NAME, 2), None)
        .unwrap();
    assert!(p.client.poll_transmit().is_some());
    let deadline = p.client.poll_timeout().unwrap();
    assert_eq!(deadline, 1_000 + DEFAULT_RESPONSE_TIMEOUT_MS);
    p.client.handle_timeout(deadline - 1);
    assert!(p.client.poll_event().is_none());
    p.client.handle_timeout(deadline);
    assert!(matches!(
        p.client.poll_event(),
        Some(ClientEvent::OperationFailed { invoke_id: Some(i), .. }) if i == id
    ));
}

#[test]
fn requests_before_association_get_an_exception() {
    let mut server = ServerAssociation::new(ServerConfig::default()).unwrap();
    let mut model = Model::meter();
    let get = [
        0xC0, 0x01, 0xC1, 0x00, 0x03, 0x01, 0x00, 0x01, 0x08, 0x00, 0xFF, 0x02, 0x00,
    ];
    assert!(server.handle_apdu(0, &get, &mut model).is_err());
    assert_eq!(server.poll_transmit().unwrap(), vec![0xD8, 0x01, 0x01]);
    // Garbage never panics and is answered service-unknown / service-not-supported.
    assert!(server.handle_apdu(0, &[0xC0, 0x09], &mut model).is_err());
    assert_eq!(server.poll_transmit().unwrap(), vec![0xD8, 0x02, 0x02]);
}

#[test]
fn services_outside_the_negotiated_conformance_are_refused() {
    use meterlab_dlms::apdu::notification::StateError;
    let client = ClientConfig {
        conformance: Conformance(Conformance::GET),
        ..ClientConfig::default()
    };
    let mut p = Pair::new(client, ServerConfig::default());
    assert!(is_associated(&p.associate()));
    let name = AttributeDescriptor::new(class_id::DATA, NAME, 2);
    let id = p
        .client
        .set(0, name, None, Data::OctetString(b"X".to_vec()))
        .unwrap();
    p.drive();
    assert_eq!(
        p.client_events(),
        vec![ClientEvent::Exception {
            invoke_id: Some(id),
            response: ExceptionResponse {
                state_error: StateError::ServiceNotAllowed,
                service_error: ServiceError::ServiceNotSupported,
            },
        }]
    );
    assert!(
        matches!(
            p.take_server_errors().as_slice(),
            [AssociationError::Unexpected(
                "service not in the negotiated conformance"
            )]
        ),
        "the server reports the refused SET"
    );
    assert_eq!(
        p.model.attributes[&(class_id::DATA, NAME, 2)],
        Data::OctetString(b"METER-1".to_vec())
    );
}

#[test]
fn requests_queued_before_a_rejection_fail_with_their_invoke_id() {
    let server = ServerConfig {
        authentication: ServerAuthentication::Lls {
            password: b"secret".to_vec(),
        },
        ..ServerConfig::default()
    };
    let client = ClientConfig {
        authentication: ClientAuthentication::Lls {
            password: b"wrong".to_vec(),
        },
        ..ClientConfig::default()
    };
    let mut p = Pair::new(client, server);
    p.client.connect(0).unwrap();
    let id = p
        .client
        .get(0, AttributeDescriptor::new(class_id::DATA, NAME, 2), None)
        .unwrap();
    p.drive();
    let events = p.client_events();
    assert!(
        matches!(events[0], ClientEvent::Rejected { .. }),
        "{events:?}"
    );
    assert!(
        matches!(events[1], ClientEvent::OperationFailed { invoke_id: Some(i), .. } if i == id),
        "{events:?}"
    );
    assert!(
        p.model.seen_ciphered.is_empty(),
        "nothing reached the object model"
    );
}

#[test]
fn restored_client_counter_refuses_replays_across_connections() {
    let (c, s) = hls_configs(Some(SecurityControl::AUTHENTICATED_ENCRYPTED), keys());
    let mut p = Pair::new(c, s);
    p.server.require_client_counter_above(100);
    match p.associate().as_slice() {
        [
            ClientEvent::Rejected {
                result: AssociationResult::RejectedPermanent,
                ..
            },
        ] => {}
        other => panic!("a stale glo-initiateRequest must be rejected, got {other:?}"),
    }
    assert!(matches!(
        p.server_events().first(),
        Some(ServerEvent::SecurityFailure { .. })
    ));

    let (mut c, s) = hls_configs(Some(SecurityControl::AUTHENTICATED_ENCRYPTED), keys());
    c.security.as_mut().unwrap().invocation_counter = 101;
    let mut p = Pair::new(c, s);
    p.server.require_client_counter_above(100);
    assert!(is_associated(&p.associate()));
    assert!(p.server.client_invocation_counter().unwrap() > 101);
}

#[test]
fn notifications_reach_the_client_ciphered_in_a_ciphered_association() {
    let (mut c, s) = hls_configs(Some(SecurityControl::AUTHENTICATED_ENCRYPTED), keys());
    // A ciphered DataNotification travels general-glo-ciphered, which the client must agree to.
    c.conformance = Conformance(Conformance::LN_DEFAULT.0 | Conformance::GENERAL_PROTECTION);
    let mut p = Pair::new(c, s);
    assert!(is_associated(&p.associate()));
    let at = DateTime::from_unix(
        1_719_835_200,
        -60,
        ClockStatus(ClockStatus::DAYLIGHT_SAVING_ACTIVE),
    );
    let alarm = AttributeDescriptor::new(class_id::DATA, Obis::new(0, 0, 97, 98, 0, 255), 2);
    p.server
        .event_notification(Some(at), alarm, Data::DoubleLongUnsigned(0x0100))
        .unwrap();
    p.server
        .data_notification(7, Some(at), Data::Structure(vec![Data::Unsigned(1)]))
        .unwrap();
    p.drive();
    let wire: Vec<u8> = p.to_client.iter().rev().take(2).map(|a| a[0]).collect();
    assert_eq!(
        wire,
        vec![0xDB, 0xCA],
        "general-glo and glo-event-notification on the wire"
    );
    match p.client_events().as_slice() {
        [
            ClientEvent::EventNotification(e),
            ClientEvent::DataNotification(d),
        ] => {
            assert_eq!(e.attribute, alarm);
            assert_eq!(e.value, Data::DoubleLongUnsigned(0x0100));
            assert_eq!(d.date_time, Some(at));
            assert_eq!(d.body, Data::Structure(vec![Data::Unsigned(1)]));
        }
        other => panic!("unexpected {other:?}"),
    }
}
