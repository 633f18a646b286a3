//! The `[optical]` table: the shipped optical-port DMC, round trip, and its errors.

use meterlab_dmc::{DeviceRole, DmcDescription, ObjectRole, optical_address, shipped};
use meterlab_plugin::pb::Srv;

fn optical_dmc() -> (String, DmcDescription) {
    let text = meterlab_dmc::SHIPPED
        .iter()
        .find(|(id, _)| *id == "acme-ch1-e470p-g4")
        .map(|(_, text)| (*text).to_owned())
        .expect("the optical DMC is shipped");
    let description = shipped("acme-ch1-e470p-g4")
        .expect("listed")
        .unwrap_or_else(|errors| panic!("does not parse:\n{errors}"));
    (text, description)
}

#[test]
fn the_shipped_optical_dmc_declares_its_esme_port_and_round_trips() {
    let (_, dmc) = optical_dmc();
    let optical = dmc.optical.clone().expect("has an optical port");
    assert_eq!(optical.device, DeviceRole::Esme);
    assert_eq!(optical.manufacturer, "ACM");
    assert_eq!(optical.max_baud, 9600);
    assert!(optical.programming);
    assert_eq!(
        optical.srvs,
        vec![
            Srv::Srv411ReadInstantaneousImportRegisters,
            Srv::Srv627ReadDeviceConfigurationMpxn,
            Srv::Srv611SynchroniseClock,
            Srv::Srv112ReadFirmwareVersion
        ]
    );
    let register = dmc
        .object(DeviceRole::Esme, ObjectRole::ImportRegister)
        .expect("register");
    assert_eq!(optical_address(register), "1.8.0");
    let again = DmcDescription::parse("rendered", &dmc.to_toml()).expect("rendered text parses");
    assert_eq!(again, dmc);
}

#[test]
fn optical_port_errors_name_the_field_and_position() {
    let (text, _) = optical_dmc();
    let bad = text
        .replace(
            "device = \"esme\"\nmanufacturer = \"ACM\"",
            "device = \"esme\"\nmanufacturer = \"AC1\"",
        )
        .replace("max_baud = 9600", "max_baud = 9601")
        .replace(
            "srvs = [\"4.1.1\", \"6.2.7\", \"6.11\", \"11.2\"]",
            "srvs = [\"4.1.1\", \"7.1\", \"4.1.1\"]",
        );
    let errors = DmcDescription::parse("bad.toml", &bad).expect_err("must be refused");
    let shown = errors.to_string();
    for expected in [
        "optical.manufacturer: \"AC1\" is not a three-letter manufacturer flag",
        "optical.max_baud: 9601 is not a mode C rate",
        "optical.srvs[1]: SRV 7.1 cannot be carried by an optical port",
        "optical.srvs[2]: SRV 4.1.1 is listed twice",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }
    assert!(shown.contains("bad.toml:"), "{shown}");
}

#[test]
fn an_optical_port_srv_needs_the_objects_on_its_device() {
    let (text, _) = optical_dmc();
    let on_hub = text.replace(
        "[optical]\ndevice = \"esme\"",
        "[optical]\ndevice = \"hub\"",
    );
    let shown = DmcDescription::parse("hub.toml", &on_hub)
        .expect_err("the hub has no import register")
        .to_string();
    assert!(
        shown.contains(
            "optical.srvs[0]: SRV 4.1.1 needs the import_register object, which the hub does not have"
        ),
        "{shown}"
    );
}
