//! The catalogue read against the shipped DMC descriptions: every shipped step can run on some
//! DMC, a step no DMC offers is flagged, and declared variations are put next to failing checks.

use std::path::PathBuf;

use meterlab_catalog::{Catalog, DeviceRole, InstallationState, StepContext, StepVerdict, dmc};
use meterlab_devices::Device;
use meterlab_dmc::DmcDescription;
use meterlab_plugin::pb;

fn suites() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../suites")
}

fn shipped_dmcs() -> Vec<DmcDescription> {
    ["acme-ch1-e470-g4", "bravo-h2-e2-g2"]
        .iter()
        .map(|id| {
            DmcDescription::load(suites().join("dmcs").join(format!("{id}.toml")))
                .unwrap_or_else(|errors| panic!("{errors}"))
        })
        .collect()
}

#[test]
fn every_shipped_step_is_offered_by_some_dmc() {
    let catalog = Catalog::load(&[suites().join("mt"), suites().join("sit")]).expect("loads");
    let warnings = dmc::unsupported_steps(catalog.cases(), &shipped_dmcs());
    assert!(warnings.is_empty(), "{warnings:#?}");
}

#[test]
fn a_step_no_dmc_offers_is_flagged_unless_it_expects_exactly_that() {
    let text = "format = 1\n[[case]]\nid = \"X-1\"\ntitle = \"t\"\nphase = \"SIT\"\nmodes = [\"active\"]\ndevices = [\"hub\"]\ndnb = \"D\"\nseverity = 3\n\
                [[case.step]]\nsrv = \"7.2\"\n\
                [[case.step]]\nsrv = \"7.4\"\n[case.step.expect]\noutcome = \"not_supported_on_dmc\"\n";
    let catalog = Catalog::parse_str("x.toml", text).expect("valid");
    let warnings = dmc::unsupported_steps(catalog.cases(), &shipped_dmcs());
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0].location.to_string(), "x.toml:10:1");
    assert!(
        warnings[0]
            .message
            .contains("SRV 7.2 Disable Supply is offered on hub by none")
    );
}

#[test]
fn declared_variations_annotate_failing_checks_only() {
    let text = "format = 1\n[[case]]\nid = \"X-2\"\ntitle = \"t\"\nphase = \"SIT\"\nmodes = [\"active\"]\ndevices = [\"esme\"]\ndnb = \"D\"\nseverity = 3\n\
                [[case.step]]\nsrv = \"4.1.1\"\n[case.step.expect]\ncheck = [{ field = \"total_import.value\", op = \">\", value = 100 }, { field = \"total_import.unit\", op = \"==\", value = \"watt_hour\" }]\n";
    let catalog = Catalog::parse_str("x.toml", text).expect("valid");
    let step = &catalog.cases()[0].steps[0];
    let dmcs = shipped_dmcs();
    let bravo = dmcs
        .iter()
        .find(|dmc| dmc.id == "bravo-h2-e2-g2")
        .expect("bravo");
    let acme = dmcs
        .iter()
        .find(|dmc| dmc.id == "acme-ch1-e470-g4")
        .expect("acme");
    assert!(dmc::variations(step, DeviceRole::Esme, acme).is_empty());
    let notes = dmc::variations(step, DeviceRole::Esme, bravo);
    assert!(
        notes.iter().any(|note| note.contains("relocated to")),
        "{notes:?}"
    );

    let device = Device {
        name: "south.esme".to_owned(),
        hub: "south".to_owned(),
        role: DeviceRole::Esme,
        dmc: bravo.id.clone(),
        smso: "smso-south".to_owned(),
        state: InstallationState::Active,
        model: "BRAVO E2".to_owned(),
        firmware: "7.3.0".to_owned(),
        mpxn: None,
        system_title: None,
        tcp: None,
        serial: None,
        optical: None,
        clients: vec![],
    };
    let mut context = StepContext::new(device, 0);
    let response = pb::ServiceResponse::result(
        "X-2/1",
        pb::service_response::Outcome::InstantaneousImportRegisters(
            pb::InstantaneousImportRegisters {
                device_time_ms: 0,
                total_import: Some(pb::Reading {
                    value: 0,
                    scaler: 0,
                    unit: pb::Unit::WattHour.into(),
                }),
                tou_registers: vec![],
                block_registers: vec![],
            },
        ),
    );
    let StepVerdict::Judged(mut judgement) = step.judge(&response, &mut context) else {
        panic!("judged");
    };
    dmc::annotate(&mut judgement, step, DeviceRole::Esme, bravo);
    let [outcome, value, unit] = judgement.checks.as_slice() else {
        panic!("{judgement:?}");
    };
    assert!(outcome.ok && outcome.note.is_none());
    assert!(!value.ok);
    assert!(
        value
            .note
            .as_deref()
            .is_some_and(|note| note.contains("bravo-h2-e2-g2"))
    );
    assert!(unit.ok && unit.note.is_none());
}
