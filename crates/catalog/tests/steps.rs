//! Steps build the requests a runner sends and judge the responses it gets back: references are
//! resolved from the context, expectations are chosen by installation state, infrastructure
//! failures are `Blocked`, never failed.

use meterlab_catalog::{BlockedKind, Catalog, InstallationState, StepContext, StepVerdict, Value};
use meterlab_devices::{Authentication, ClientAccess, Device, DeviceRole, Key128};
use meterlab_plugin::pb::{
    self, service_error::Kind, service_request::Body, service_response::Outcome,
};

const NOW: i64 = 1_796_000_000_000;

fn device(state: InstallationState) -> Device {
    Device {
        name: "hub-0001.esme".to_owned(),
        hub: "hub-0001".to_owned(),
        role: DeviceRole::Esme,
        dmc: "acme-ch1-e470-g4".to_owned(),
        smso: "smso-north".to_owned(),
        state,
        model: "ACME E470".to_owned(),
        firmware: "2.0.1".to_owned(),
        mpxn: Some("1200012345678".to_owned()),
        system_title: None,
        tcp: None,
        serial: None,
        optical: None,
        clients: vec![ClientAccess {
            sap: 48,
            authentication: Authentication::HlsGmac,
            password: None,
            ciphered: false,
            system_title: None,
            encryption_key: Some(Key128([0x11; 16])),
            authentication_key: Some(Key128([0x22; 16])),
            master_key: Some(Key128([0x33; 16])),
        }],
    }
}

fn catalog(steps: &str) -> Catalog {
    let text = format!(
        "format = 1\n[[case]]\nid = \"C-1\"\ntitle = \"t\"\nphase = \"SIT\"\nmodes = [\"active\", \"dormant\"]\ndevices = [\"esme\"]\ndnb = \"D\"\nseverity = 2\n{steps}"
    );
    Catalog::parse_str("case.toml", &text).unwrap_or_else(|errors| panic!("{errors}"))
}

fn respond(outcome: Outcome) -> pb::ServiceResponse {
    pb::ServiceResponse {
        request_id: "C-1/1".to_owned(),
        outcome: Some(outcome),
    }
}

fn supply(state: pb::SupplyState) -> pb::ServiceResponse {
    respond(Outcome::SupplyStatus(pb::SupplyStatus {
        state: state.into(),
    }))
}

fn rejected(code: u32) -> pb::ServiceResponse {
    pb::ServiceResponse::error(
        "C-1/1",
        Kind::DeviceRejected(pb::DeviceRejected {
            device_code: code,
            reason: "read-write-denied".to_owned(),
        }),
    )
}

const DISABLE: &str = "[[case.step]]\nsrv = \"7.2\"\n[case.step.expect]\ncheck = [{ field = \"state\", op = \"==\", value = \"disabled\" }]\n[case.step.expect.dormant]\noutcome = \"device_rejected\"\ncode = 3\n";

#[test]
fn requests_carry_the_srv_and_a_request_id_naming_case_and_step() {
    let catalog = catalog(DISABLE);
    let step = &catalog.cases()[0].steps[0];
    let request = step
        .request(&StepContext::new(device(InstallationState::Active), NOW))
        .expect("request");
    assert_eq!(request.request_id, "C-1/1");
    assert_eq!(request.srv(), pb::Srv::Srv72DisableSupply);
}

#[test]
fn the_expectation_follows_the_installation_state() {
    let catalog = catalog(DISABLE);
    let step = &catalog.cases()[0].steps[0];
    let mut active = StepContext::new(device(InstallationState::Active), NOW);
    let mut dormant = StepContext::new(device(InstallationState::Dormant), NOW);

    assert!(
        step.judge(&supply(pb::SupplyState::Disabled), &mut active)
            .passed()
    );
    assert!(!step.judge(&rejected(3), &mut active).passed());
    assert!(step.judge(&rejected(3), &mut dormant).passed());
    // A dormant meter that obeys is a defect; so is a refusal for another reason.
    assert!(
        !step
            .judge(&supply(pb::SupplyState::Disabled), &mut dormant)
            .passed()
    );
    assert!(!step.judge(&rejected(4), &mut dormant).passed());

    dormant.set_installation_state(InstallationState::Active);
    assert!(
        step.judge(&supply(pb::SupplyState::Disabled), &mut dormant)
            .passed()
    );
}

#[test]
fn a_failed_check_records_expectation_expected_and_actual() {
    let catalog = catalog(DISABLE);
    let step = &catalog.cases()[0].steps[0];
    let mut context = StepContext::new(device(InstallationState::Active), NOW);
    let StepVerdict::Judged(judgement) = step.judge(&supply(pb::SupplyState::Armed), &mut context)
    else {
        panic!("a device answer is judged");
    };
    assert!(!judgement.passed);
    assert_eq!(judgement.checks.len(), 2);
    assert!(judgement.checks[0].ok, "the outcome was right");
    let check = &judgement.checks[1];
    assert_eq!(check.expectation, "state == disabled");
    assert_eq!(check.expected, "disabled");
    assert_eq!(check.actual, "armed");
    assert!(!check.ok);
}

#[test]
fn infrastructure_errors_are_blocked_and_device_errors_are_judged() {
    let catalog = catalog(DISABLE);
    let step = &catalog.cases()[0].steps[0];
    let mut context = StepContext::new(device(InstallationState::Active), NOW);
    let cases = [
        (
            Kind::Timeout(pb::Timeout {
                elapsed_ms: 5000,
                waiting_for: "AARE".to_owned(),
            }),
            Some(BlockedKind::Timeout),
        ),
        (
            Kind::LinkFailure(pb::LinkFailure {
                detail: "EOF".to_owned(),
            }),
            Some(BlockedKind::LinkFailure),
        ),
        (
            Kind::AdapterFault(pb::AdapterFault {
                detail: "panic".to_owned(),
            }),
            Some(BlockedKind::AdapterFault),
        ),
        (
            Kind::NotSupportedOnDmc(pb::NotSupportedOnDmc {
                dmc_id: "x".to_owned(),
                srv: pb::Srv::Srv72DisableSupply.into(),
                reason: String::new(),
            }),
            None,
        ),
    ];
    for (kind, blocked) in cases {
        let verdict = step.judge(&pb::ServiceResponse::error("C-1/1", kind), &mut context);
        match (verdict, blocked) {
            (StepVerdict::Blocked(actual), Some(expected)) => assert_eq!(actual.kind, expected),
            (StepVerdict::Judged(judgement), None) => assert!(!judgement.passed),
            (verdict, expected) => panic!("{verdict:?} where {expected:?} was due"),
        }
    }
    let empty = pb::ServiceResponse::default();
    assert!(matches!(
        step.judge(&empty, &mut context),
        StepVerdict::Blocked(blocked) if blocked.kind == BlockedKind::MalformedResponse
    ));
    let other_srv = respond(Outcome::FirmwareVersion(pb::FirmwareVersion {
        version: "1".to_owned(),
    }));
    assert!(matches!(
        step.judge(&other_srv, &mut context),
        StepVerdict::Blocked(blocked) if blocked.kind == BlockedKind::MalformedResponse
    ));
}

#[test]
fn captures_feed_later_steps_and_now_comes_from_the_context() {
    let catalog = catalog(
        "[[case.step]]\nsrv = \"4.1.1\"\ncapture = { before = \"total_import.value\" }\n\
         [[case.step]]\nsrv = \"4.1.1\"\n[case.step.expect]\ncheck = [\
         { field = \"total_import.value\", op = \">=\", value = { capture = \"before\" } },\
         { field = \"device_time_ms\", op = \"within\", value = { now = 0 }, tolerance = 1000 }]\n\
         [[case.step]]\nsrv = \"4.8.1\"\nparams = { from_ms = { now = -3600000 } }\n",
    );
    let case = &catalog.cases()[0];
    let registers = |value: i64, time: i64| {
        respond(Outcome::InstantaneousImportRegisters(
            pb::InstantaneousImportRegisters {
                device_time_ms: time,
                total_import: Some(pb::Reading {
                    value,
                    scaler: 0,
                    unit: pb::Unit::WattHour.into(),
                }),
                tou_registers: vec![],
                block_registers: vec![],
            },
        ))
    };
    let mut context = StepContext::new(device(InstallationState::Active), NOW);
    let StepVerdict::Judged(first) = case.steps[0].judge(&registers(1500, NOW), &mut context)
    else {
        panic!("judged");
    };
    assert_eq!(
        first.captures,
        vec![("before".to_owned(), Value::Int(1500))]
    );
    assert_eq!(context.captures().get("before"), Some(&Value::Int(1500)));

    assert!(
        case.steps[1]
            .judge(&registers(1500, NOW + 999), &mut context)
            .passed()
    );
    assert!(
        !case.steps[1]
            .judge(&registers(1499, NOW), &mut context)
            .passed()
    );
    assert!(
        !case.steps[1]
            .judge(&registers(1600, NOW + 1001), &mut context)
            .passed()
    );
    context.set_now_ms(NOW + 1001);
    assert!(
        case.steps[1]
            .judge(&registers(1600, NOW + 1001), &mut context)
            .passed()
    );

    let request = case.steps[2].request(&context).expect("request");
    let Some(Body::ReadActiveImportProfileData(range)) = request.body else {
        panic!("4.8.1 body");
    };
    assert_eq!(range.from_ms, NOW + 1001 - 3_600_000);
    assert_eq!(range.to_ms, NOW + 1001, "to_ms defaults to now");
}

#[test]
fn a_missing_capture_fails_the_check_instead_of_passing() {
    let catalog = catalog(
        "[[case.step]]\nsrv = \"11.2\"\ncapture = { v = \"version\" }\n\
         [[case.step]]\nsrv = \"11.2\"\n[case.step.expect]\ncheck = [{ field = \"version\", op = \"==\", value = { capture = \"v\" } }]\n",
    );
    let case = &catalog.cases()[0];
    let mut context = StepContext::new(device(InstallationState::Active), NOW);
    // The first step was refused, so nothing was captured.
    assert!(!case.steps[0].judge(&rejected(3), &mut context).passed());
    let answer = respond(Outcome::FirmwareVersion(pb::FirmwareVersion {
        version: "2.0.1".to_owned(),
    }));
    let StepVerdict::Judged(judgement) = case.steps[1].judge(&answer, &mut context) else {
        panic!("judged");
    };
    assert!(!judgement.passed);
    assert!(judgement.checks[1].expected.contains("not available"));
}

#[test]
fn device_record_references_resolve_and_a_missing_field_is_a_step_error() {
    let catalog = catalog(
        "[[case.step]]\nsrv = \"6.2.7\"\n[case.step.expect]\ncheck = [{ field = \"mpxn\", op = \"==\", value = { device = \"mpxn\" } }]\n\
         [[case.step]]\nsrv = \"6.15.1\"\nparams = { keys = [{ kind = \"global_unicast_encryption\", key = { device = \"encryption_key\" } }] }\n",
    );
    let case = &catalog.cases()[0];
    let mut context = StepContext::new(device(InstallationState::Active), NOW);
    let answer = |mpxn: &str| {
        respond(Outcome::DeviceConfigurationMpxn(
            pb::DeviceConfigurationMpxn {
                mpxn: mpxn.to_owned(),
            },
        ))
    };
    assert!(
        case.steps[0]
            .judge(&answer("1200012345678"), &mut context)
            .passed()
    );
    assert!(
        !case.steps[0]
            .judge(&answer("1200012345679"), &mut context)
            .passed()
    );

    let request = case.steps[1].request(&context).expect("keys wrap");
    let Some(Body::UpdateSecurityCredentials(update)) = request.body else {
        panic!("6.15.1 body");
    };
    assert_eq!(update.keys.len(), 1);
    assert_eq!(
        update.keys[0].wrapped_key.len(),
        24,
        "RFC 3394 adds 8 bytes"
    );
    let kek = aes_kw::KekAes128::from([0x33; 16]);
    let mut unwrapped = [0u8; 16];
    kek.unwrap(&update.keys[0].wrapped_key, &mut unwrapped)
        .expect("wrapped under the master key");
    assert_eq!(unwrapped, [0x11; 16]);

    let mut keyless = device(InstallationState::Active);
    keyless.clients[0].master_key = None;
    let keyless_name = keyless.name.clone();
    let error = case.steps[1]
        .request(&StepContext::new(keyless, NOW))
        .expect_err("no master key");
    assert!(error.to_string().starts_with("C-1/2: "), "{error}");
    assert!(
        matches!(
            &error.cause,
            meterlab_catalog::StepCause::NoMasterKey { device } if device == &keyless_name
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("master key"), "{error}");
}

#[test]
fn firmware_images_are_built_for_the_device_model_with_their_digest() {
    let catalog = catalog(
        "[[case.step]]\nsrv = \"11.1\"\nparams = { image_identifier = \"img\", image = { model = { device = \"model\" }, version = \"3.0.0\", payload_bytes = 100 } }\n\
         [[case.step]]\nsrv = \"11.1\"\nparams = { image_identifier = \"bad\", image = { model = { device = \"model\" }, version = \"3.0.0\", payload_bytes = 100, corrupt = true } }\n",
    );
    let case = &catalog.cases()[0];
    let context = StepContext::new(device(InstallationState::Active), NOW);
    let image = |index: usize| {
        let request = case.steps[index].request(&context).expect("request");
        let Some(Body::UpdateFirmware(update)) = request.body else {
            panic!("11.1 body");
        };
        update
    };
    let good = image(0);
    let bad = image(1);
    assert_eq!(good.image_identifier, "img");
    for update in [&good, &bad] {
        use sha2::Digest as _;
        assert_eq!(
            update.image_sha256,
            sha2::Sha256::digest(&update.image).to_vec()
        );
    }
    meterlab_emulator::firmware::FirmwareImage::parse(&good.image)
        .map(|parsed| {
            assert_eq!(parsed.model, "ACME E470");
            assert_eq!(parsed.version, "3.0.0");
        })
        .expect("the emulator accepts the image");
    assert!(meterlab_emulator::firmware::FirmwareImage::parse(&bad.image).is_err());
}

#[test]
fn a_per_dmc_expectation_replaces_the_others_for_that_dmc_only() {
    let catalog = catalog(
        "[[case.step]]\nsrv = \"4.6.1\"\n[case.step.expect]\ncheck = [{ field = \"entries.count\", op = \">=\", value = 1 }]\n\
         [case.step.expect.dmc.bravo-h2-e2-g2]\noutcome = \"not_supported_on_dmc\"\n",
    );
    let step = &catalog.cases()[0].steps[0];
    let unsupported = pb::ServiceResponse::error(
        "C-1/1",
        Kind::NotSupportedOnDmc(pb::NotSupportedOnDmc {
            dmc_id: "bravo-h2-e2-g2".to_owned(),
            srv: pb::Srv::Srv461RetrieveImportDailyReadLog.into(),
            reason: String::new(),
        }),
    );
    let mut acme = StepContext::new(device(InstallationState::Active), NOW);
    let mut bravo_device = device(InstallationState::Dormant);
    bravo_device.dmc = "bravo-h2-e2-g2".to_owned();
    let mut bravo = StepContext::new(bravo_device, NOW);
    assert!(!step.judge(&unsupported, &mut acme).passed());
    assert!(step.judge(&unsupported, &mut bravo).passed());
}

#[test]
fn an_expected_alert_must_have_been_recorded_during_the_case() {
    let catalog = catalog(
        "[[case.step]]\nsrv = \"11.2\"\n[case.step.expect]\nalerts = [\"18\"]\n[case.step.expect.dormant]\noutcome = \"device_rejected\"\nalerts = [\"232\"]\n",
    );
    let step = &catalog.cases()[0].steps[0];
    let version = respond(Outcome::FirmwareVersion(pb::FirmwareVersion {
        version: "3.0.0".to_owned(),
    }));
    let mut context = StepContext::new(device(InstallationState::Active), NOW);
    let StepVerdict::Judged(judgement) = step.judge(&version, &mut context) else {
        panic!("judged");
    };
    assert!(!judgement.passed);
    assert_eq!(judgement.checks[1].expectation, "alert 18 raised");
    assert_eq!(judgement.checks[1].actual, "no alert");

    context.record_alert("4");
    context.record_alert("18");
    assert!(step.judge(&version, &mut context).passed());

    let mut dormant = StepContext::new(device(InstallationState::Dormant), NOW);
    dormant.record_alert("18");
    assert!(!step.judge(&rejected(3), &mut dormant).passed());
    dormant.record_alert("232");
    assert!(step.judge(&rejected(3), &mut dormant).passed());
}
