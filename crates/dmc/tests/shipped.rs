//! The shipped descriptions under `suites/dmcs/` load, and say what the emulator serves.

use std::path::PathBuf;

use meterlab_dlms::obis::Obis;
use meterlab_dmc::{DeviceRole, DmcDescription, ObjectRole, VariationKind};
use meterlab_plugin::pb::Srv;

fn dmcs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../suites/dmcs")
}

fn shipped(id: &str) -> DmcDescription {
    DmcDescription::load(dmcs_dir().join(format!("{id}.toml")))
        .unwrap_or_else(|errors| panic!("{id} must load:\n{errors}"))
}

#[test]
fn every_file_in_suites_dmcs_loads_and_its_id_is_its_stem() {
    let all = DmcDescription::load_dir(dmcs_dir())
        .unwrap_or_else(|errors| panic!("suites/dmcs must load:\n{errors}"));
    let ids: Vec<&str> = all.iter().map(|dmc| dmc.id.as_str()).collect();
    assert!(ids.contains(&"acme-ch1-e470-g4"), "{ids:?}");
    assert!(ids.contains(&"bravo-h2-e2-g2"), "{ids:?}");
}

#[test]
fn acme_is_the_reference_and_supports_every_srv_on_the_meters() {
    let acme = shipped("acme-ch1-e470-g4");
    assert!(acme.variations.is_empty());
    for srv in meterlab_dmc::all_srvs() {
        assert!(acme.supports(srv, DeviceRole::Esme), "{}", srv.number());
    }
    assert!(!acme.supports(Srv::Srv72DisableSupply, DeviceRole::Hub));
    assert!(acme.supports(Srv::Srv111UpdateFirmware, DeviceRole::Hub));
    let register = acme
        .object(DeviceRole::Gsme, ObjectRole::ImportRegister)
        .expect("the gsme has an import register");
    assert_eq!(register.obis, Obis::new(7, 0, 3, 0, 0, 255));
    assert_eq!((register.scaler, register.unit), (Some(-3), Some(13)));
    let clock = acme
        .object(DeviceRole::Hub, ObjectRole::Clock)
        .expect("the hub has a clock");
    assert!(clock.public);
    assert_eq!(
        acme.device(DeviceRole::Gsme).map(|d| d.logical_address),
        Some(3)
    );
}

#[test]
fn bravo_declares_the_relocated_register_and_the_missing_gas_daily_log() {
    let bravo = shipped("bravo-h2-e2-g2");
    let register = bravo
        .object(DeviceRole::Esme, ObjectRole::ImportRegister)
        .expect("the esme has an import register");
    assert_eq!(register.obis, Obis::new(1, 0, 1, 8, 1, 255));
    assert!(
        bravo
            .object(DeviceRole::Gsme, ObjectRole::DailyLog)
            .is_none()
    );
    assert!(!bravo.supports(Srv::Srv461RetrieveImportDailyReadLog, DeviceRole::Gsme));
    assert!(bravo.supports(Srv::Srv461RetrieveImportDailyReadLog, DeviceRole::Esme));
    let kinds: Vec<VariationKind> = bravo
        .variations_for(Srv::Srv411ReadInstantaneousImportRegisters)
        .map(|variation| variation.kind)
        .collect();
    assert_eq!(kinds, [VariationKind::Relocated(register.obis)]);
    assert_eq!(bravo.variations_of(DeviceRole::Gsme).count(), 1);
}

#[test]
fn a_rendered_shipped_description_parses_back_equal() {
    for id in ["acme-ch1-e470-g4", "bravo-h2-e2-g2"] {
        let description = shipped(id);
        let again = DmcDescription::parse("rendered", &description.to_toml())
            .unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(again, description);
    }
}

#[test]
fn load_refuses_a_file_whose_stem_is_not_its_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(dmcs_dir().join("acme-ch1-e470-g4.toml")).expect("read");
    let path = dir.path().join("other-name.toml");
    std::fs::write(&path, text).expect("write");
    let errors = DmcDescription::load(&path).expect_err("stem differs");
    let message = errors.to_string();
    assert!(message.contains("other-name"), "{message}");
    assert_eq!(errors.errors()[0].field(), Some("id"));
}

#[test]
fn load_names_a_missing_file() {
    let errors = DmcDescription::load("/nonexistent/x.toml").expect_err("missing");
    assert!(
        errors.to_string().contains("/nonexistent/x.toml"),
        "{errors}"
    );
}

#[test]
fn every_shipped_device_with_an_image_transfer_has_its_activation_schedule() {
    for id in ["acme-ch1-e470-g4", "acme-ch1-e470p-g4", "bravo-h2-e2-g2"] {
        let dmc = shipped(id);
        for device in &dmc.devices {
            if device.object(ObjectRole::ImageTransfer).is_none() {
                continue;
            }
            let schedule = device
                .object(ObjectRole::ImageActivationSchedule)
                .unwrap_or_else(|| panic!("{id} {} has no schedule", device.device_type));
            assert_eq!(schedule.class_id, 22, "{id}");
            assert_eq!(schedule.obis, Obis::new(0, 0, 15, 0, 2, 255), "{id}");
        }
    }
}
