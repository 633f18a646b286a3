//! Any text given to the case-file loader yields a catalogue or problems, never a panic; every
//! loaded step builds its request and judges an empty and an error response without panicking,
//! and a case's hash is stable across a reload of the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_catalog::{Catalog, StepContext};
use meterlab_devices::{ClientAccess, Device, DeviceRole, InstallationState};
use meterlab_plugin::pb;

fn device() -> Device {
    Device {
        name: "fuzz.esme".to_owned(),
        hub: "fuzz".to_owned(),
        role: DeviceRole::Esme,
        dmc: "acme-ch1-e470-g4".to_owned(),
        smso: "smso-north".to_owned(),
        state: InstallationState::Dormant,
        model: "ACME E470".to_owned(),
        firmware: "1.2.0".to_owned(),
        mpxn: None,
        system_title: None,
        tcp: None,
        serial: None,
        optical: None,
        clients: vec![ClientAccess::public(16)],
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(catalog) = Catalog::parse_str("fuzz.toml", text) else {
        return;
    };
    let again = Catalog::parse_str("fuzz.toml", text).expect("the same text loads again");
    for (case, reloaded) in catalog.cases().iter().zip(again.cases()) {
        assert_eq!(case.content_hash, reloaded.content_hash);
        let mut context = StepContext::new(device(), i64::from(u32::MAX));
        for step in &case.steps {
            let _ = step.request(&context);
            let _ = step.judge(&pb::ServiceResponse::default(), &mut context);
            let rejected = pb::ServiceResponse::error(
                "fuzz",
                pb::service_error::Kind::DeviceRejected(pb::DeviceRejected {
                    device_code: 3,
                    reason: String::new(),
                }),
            );
            let _ = step.judge(&rejected, &mut context);
        }
    }
});
