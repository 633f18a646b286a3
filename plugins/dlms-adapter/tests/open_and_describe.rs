//! `open` refuses bad session parameters naming the key; `describe` lists every shipped DMC
//! with its SRVs and declared variations.
#![allow(clippy::unwrap_used)]

mod support;

use meterlab_dlms_adapter::{DlmsAdapter, ID, shipped_dmcs};
use meterlab_dmc::SHIPPED as SHIPPED_DMCS;
use meterlab_emulator::hub::{HLS_CLIENT_SAP, LLS_CLIENT_SAP};
use meterlab_plugin::Adapter;
use meterlab_plugin::pb::{LinkKind, SessionConfig, Srv};

fn config(sap: u8) -> SessionConfig {
    let scenario = support::scenario("active");
    let emulation = meterlab_emulator::hub::Emulation::build(&scenario, support::START).unwrap();
    let endpoints = meterlab_emulator::hub::Endpoints {
        tcp_address: Some("127.0.0.1:4059".into()),
        serial_paths: [("north-active".to_owned(), "/dev/pts/9".to_owned())].into(),
    };
    let file = emulation.devices_file(&endpoints, &scenario);
    support::session_config(file.device("north-active.esme").unwrap(), sap)
}

fn refusal(config: SessionConfig) -> String {
    match DlmsAdapter::open(config) {
        Ok(_) => panic!("open accepted a bad configuration"),
        Err(error) => error.reason().to_owned(),
    }
}

#[test]
fn good_parameters_open_over_tcp_and_serial() {
    assert!(DlmsAdapter::open(config(LLS_CLIENT_SAP)).is_ok());
    assert!(DlmsAdapter::open(config(HLS_CLIENT_SAP)).is_ok());
    let mut serial = config(LLS_CLIENT_SAP);
    serial.link_kind = LinkKind::Serial.into();
    serial.parameters.insert("transport".into(), "hdlc".into());
    assert!(DlmsAdapter::open(serial).is_ok());
}

#[test]
fn each_missing_or_bad_parameter_is_named() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("dmc", None, "dmc is missing"),
        ("device_role", Some("meter"), "device_role = \"meter\""),
        ("transport", Some("udp"), "transport = \"udp\""),
        ("wport", None, "wport is missing"),
        ("wport", Some("70000"), "wport = \"70000\""),
        ("client_sap", Some("200"), "client_sap = 200"),
        (
            "authentication",
            Some("hls-md5"),
            "authentication = \"hls-md5\"",
        ),
        ("password", None, "password is missing"),
        ("ciphered", Some("yes"), "ciphered = \"yes\""),
        (
            "association_timeout_ms",
            Some("soon"),
            "association_timeout_ms",
        ),
        ("invocation_counter", Some("-1"), "invocation_counter"),
    ];
    for (key, value, expected) in cases {
        let mut config = config(LLS_CLIENT_SAP);
        match value {
            Some(value) => config.parameters.insert((*key).into(), (*value).into()),
            None => config.parameters.remove(*key),
        };
        let reason = refusal(config);
        assert!(reason.contains(expected), "{key}: {reason}");
    }
    let mut keys = config(HLS_CLIENT_SAP);
    keys.parameters.insert("encryption_key".into(), "00".into());
    assert!(refusal(keys).contains("encryption_key must be 32 hex digits"));
    let mut keys = config(HLS_CLIENT_SAP);
    keys.parameters.remove("authentication_key");
    assert!(refusal(keys).contains("authentication_key"));
    let mut serial = config(LLS_CLIENT_SAP);
    serial.link_kind = LinkKind::Serial.into();
    assert!(refusal(serial).contains("transport = wrapper, but the link is serial"));
}

#[test]
fn a_bad_dmc_text_is_refused_with_the_parser_errors() {
    let mut config = config(LLS_CLIENT_SAP);
    let text = config.parameters["dmc"].replacen("class = 8", "class = 9", 1);
    config.parameters.insert("dmc".into(), text);
    let reason = refusal(config);
    assert!(reason.contains("session parameter dmc"), "{reason}");
    assert!(
        reason.contains("dmc:") && reason.contains(".class: a clock object is interface class 8"),
        "{reason}"
    );

    let mut config = self::config(LLS_CLIENT_SAP);
    config.dmc_id = "another-dmc".into();
    assert!(refusal(config).contains("another-dmc"));
}

#[test]
fn describe_lists_every_shipped_dmc_with_its_srvs_and_variations() {
    let info = DlmsAdapter::describe();
    assert_eq!(info.id, ID);
    assert_eq!(info.dmcs.len(), SHIPPED_DMCS.len());
    assert_eq!(
        shipped_dmcs().len(),
        SHIPPED_DMCS.len(),
        "every shipped DMC parses"
    );
    // smso-default operates the DMC of `meterlab emulate --meters N`.
    assert_eq!(info.smso_ids, ["smso-default", "smso-north", "smso-south"]);
    let acme = info
        .dmcs
        .iter()
        .find(|dmc| dmc.dmc_id == "acme-ch1-e470-g4")
        .unwrap();
    assert_eq!(acme.srvs.len(), 15, "every SRV of the vocabulary");
    let bravo = info
        .dmcs
        .iter()
        .find(|dmc| dmc.dmc_id == "bravo-h2-e2-g2")
        .unwrap();
    let registers = bravo
        .srvs
        .iter()
        .find(|support| support.srv() == Srv::Srv411ReadInstantaneousImportRegisters)
        .unwrap();
    assert_eq!(registers.variations.len(), 1);
    assert!(
        registers.variations[0].contains("relocated to 1.0.1.8.1.255"),
        "{registers:?}"
    );
    let daily = bravo
        .srvs
        .iter()
        .find(|support| support.srv() == Srv::Srv461RetrieveImportDailyReadLog)
        .unwrap();
    assert!(
        daily.variations[0].contains("gsme daily_log not present"),
        "{daily:?}"
    );
}
