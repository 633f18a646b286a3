//! The shipped DMC descriptions say what the emulator serves: every DMC a scenario names has a
//! file under `suites/dmcs/` with the same id, models and firmware, and each device's object
//! list (role, class, version, OBIS after variations) is the emulator's directory.
#![allow(clippy::unwrap_used)]

mod support;

use meterlab_dmc::{DEVICE_TYPES, DmcDescription};
use meterlab_emulator::objects::ObjectDirectory;
use meterlab_emulator::scenario::Scenario;

#[test]
fn every_scenario_dmc_has_a_matching_shipped_description() {
    let mut checked = 0;
    let mut scenarios: Vec<(std::path::PathBuf, Scenario)> = Vec::new();
    for entry in std::fs::read_dir(support::repo_path("suites/scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "toml") {
            continue;
        }
        let scenario = Scenario::load(&path).unwrap();
        scenarios.push((path, scenario));
    }
    // What `meterlab emulate --meters N` serves: `meterlab run` needs its description too.
    scenarios.push(("emulate --meters".into(), Scenario::generated_meters(2)));
    for (path, scenario) in &scenarios {
        for dmc in &scenario.dmcs {
            let file = support::repo_path(&format!("suites/dmcs/{}.toml", dmc.id));
            let description = DmcDescription::load(&file)
                .unwrap_or_else(|errors| panic!("{}: DMC {}: {errors}", path.display(), dmc.id));
            assert_eq!(description.smso, dmc.smso, "{}", dmc.id);
            for role in DEVICE_TYPES {
                let spec = dmc.model(role);
                let device = description.device(role).unwrap();
                assert_eq!(
                    (&device.model, &device.firmware, &device.dormant_firmware),
                    (&spec.model, &spec.firmware, &spec.dormant_firmware),
                    "{} {role}",
                    dmc.id
                );
                // The directory the emulator builds for this device: from the description a
                // scenario names, or the reference map plus an inline DMC's variations.
                let served = match &dmc.description {
                    Some(named) => ObjectDirectory::from_description(
                        named.device(role).unwrap(),
                        &dmc.variations_for(role),
                    ),
                    None => ObjectDirectory::new(role, &dmc.variations_for(role)),
                };
                let served: Vec<(String, u16, u8, [u8; 6])> = served
                    .entries()
                    .iter()
                    .map(|entry| {
                        (
                            entry.role.name().to_owned(),
                            entry.class_id,
                            entry.version,
                            entry.obis.0,
                        )
                    })
                    .collect();
                let described: Vec<(String, u16, u8, [u8; 6])> = device
                    .objects
                    .iter()
                    .map(|object| {
                        (
                            object.role.name().to_owned(),
                            object.class_id,
                            object.version,
                            object.obis.0,
                        )
                    })
                    .collect();
                assert_eq!(described, served, "{} {role}", dmc.id);
                checked += 1;
            }
        }
    }
    assert!(checked >= 9, "checked {checked} devices");
}
